package workload

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
)

// fund is the generator's model of one fund's book: just enough to keep
// every good event good.
type fund struct {
	id, short, label string
	city             bool
	cash, payable    int64 // cents
	caps             map[string]int64
	usage            map[string]int64 // program|beneficiary|year -> approved less cancelled
	benPool          int              // beneficiaries of single grants
	pensioners       []int64          // monthly pension rate of each pension beneficiary
	conscripts       int
	spouses          int
	opened           dFundOpened
	recent           []*grant // last single grants approved, newest last
	cancelled        []*grant // last grants cancelled
	n                map[string]int
}

func (f *fund) available() int64 { return f.cash - f.payable }

// next returns the fund's next number in a series of ids.
func (f *fund) next(series string) int {
	f.n[series]++
	return f.n[series]
}

func (f *fund) remember(list *[]*grant, g *grant) {
	*list = append(*list, g)
	if len(*list) > 64 {
		*list = (*list)[len(*list)-64:]
	}
}

func usageKey(program, ben string, year int) string {
	return program + "|" + ben + "|" + fmt.Sprint(year)
}

// grant is one single grant being generated.
type grant struct {
	f                          *fund
	id, program, ben, category string
	year                       int
	approved, paid, returned   int64
	cancelled, recovered       int64
	closed, applied            bool
	data                       dGrant
	payments                   []*payment
	requestedBy, approvedBy    string
}

func (g *grant) outstanding() int64 { return g.approved - g.cancelled - g.paid + g.returned }

type payment struct {
	id               string
	amount, returned int64
}

// action is one scheduled step of a month; t is minutes from the month's
// start and orders the steps across funds.
type action struct {
	t, seq int
	fn     func(t int) error
}

type gen struct {
	cfg    Config
	r      *rand.Rand
	emit   func(Msg) error
	exp    Expected
	funds  []*fund // city first
	city   *fund
	dists  []*fund
	grants []*fund // funds that approve single grants

	month   int // index from the first month
	start   time.Time
	acts    []action
	inExtra bool                 // emitting a duplicate or bad event: no more extras
	late    []latePayment        // periods.go
	banks   map[string]*bankSide // statements.go
}

func newGen(cfg Config, emit func(Msg) error) *gen {
	g := &gen{cfg: cfg, r: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x66756e646c6564)), emit: emit}
	g.exp.Rejections = map[events.Code]int{}
	mk := func(id, short, label string) *fund {
		f := &fund{id: id, short: short, label: label, caps: map[string]int64{}, usage: map[string]int64{}, n: map[string]int{}}
		for _, p := range programCaps {
			f.caps[p.code] = p.cap
		}
		return f
	}
	g.city = mk(CityFundID, "cq", "重庆市")
	g.city.city = true
	g.funds = append(g.funds, g.city)
	for _, d := range Districts[:cfg.Funds] {
		suffix := "区"
		if d.County {
			suffix = "县"
		}
		f := mk(d.FundID(), d.Short, d.Chinese+suffix)
		g.funds = append(g.funds, f)
		g.dists = append(g.dists, f)
	}
	g.grants = g.dists
	if cfg.CityGrants || len(g.dists) == 0 {
		g.grants = append([]*fund{g.city}, g.dists...)
	}
	for _, f := range g.funds {
		f.benPool = max(200, cfg.GrantsPerMonth*min(cfg.Months, 12))
		if !f.city && cfg.BatchLines > 0 {
			f.pensioners = make([]int64, cfg.BatchLines)
			for i := range f.pensioners {
				// 1,200 to 4,800 yuan a month, mostly whole yuan.
				f.pensioners[i] = yuan(1200+int64(g.r.IntN(3601))) + int64(g.r.IntN(2))*50
			}
			f.conscripts = max(1, cfg.BatchLines/10)
			f.spouses = max(1, cfg.BatchLines/30)
		}
	}
	return g
}

func (g *gen) expected() Expected {
	e := g.exp
	e.Funds = map[string]FundTotals{}
	for _, f := range g.funds {
		e.Funds[f.id] = FundTotals{Cash: money(f.cash), GrantsPayable: money(f.payable), Available: money(f.available())}
		e.FundIDs = append(e.FundIDs, f.id)
	}
	return e
}

// at is the wall-clock time of minute t of the current month.
func (g *gen) at(t int) time.Time { return g.start.Add(time.Duration(t) * time.Minute) }

func (g *gen) date(t int) string { return g.at(t).Format(time.DateOnly) }

// officeTime is a minute of the month inside office hours of day.
func (g *gen) officeTime(day int) int { return day*1440 + 8*60 + 30 + g.r.IntN(9*60) }

func (g *gen) uuid() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], g.r.Uint64())
	binary.BigEndian.PutUint64(b[8:], g.r.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) bankRef() string { return fmt.Sprintf("BR%012d", g.r.Int64N(1e12)) }

func (g *gen) people(f *fund) (requestedBy, approvedBy string) {
	return fmt.Sprintf("caseworker-%s-%02d", f.short, 1+g.r.IntN(24)), fmt.Sprintf("officer-%s-%02d", f.short, 1+g.r.IntN(6))
}

func (g *gen) yyyymm() string { return g.start.Format("200601") }

// envelope builds the message of one event.
func (g *gen) envelope(fundID, typ, source string, data any, t int) (Msg, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Msg{}, err
	}
	return g.envelopeRaw(fundID, typ, source, raw, t)
}

func (g *gen) envelopeRaw(fundID, typ, source string, raw json.RawMessage, t int) (Msg, error) {
	id := g.uuid()
	body, err := json.Marshal(envelope{SpecVersion: "1.0", ID: id, Source: source, Type: typ,
		Time: g.at(t).Format(time.RFC3339), DataContentType: "application/json", Data: raw})
	if err != nil {
		return Msg{}, err
	}
	return Msg{Subject: events.InboundSubject(fundID, typ), ID: id, Data: body, Kind: typ}, nil
}

func (g *gen) send(m Msg) error {
	g.exp.Messages++
	g.noteBank(m) // statements.go
	return g.emit(m)
}

// good emits an event meant to be applied, then perhaps a duplicate of it
// and perhaps a bad event. bizID tells whether the type has a business id
// (a new-envelope duplicate is then a no-op rather than a second effect).
func (g *gen) good(f *fund, typ, source string, data any, t int, bizID bool) error {
	m, err := g.envelope(f.id, typ, source, data, t)
	if err != nil {
		return err
	}
	g.exp.Good++
	if err := g.send(m); err != nil {
		return err
	}
	return g.extras(f, m, t, bizID)
}

func (g *gen) extras(f *fund, m Msg, t int, bizID bool) error {
	if g.inExtra {
		return nil
	}
	g.inExtra = true
	defer func() { g.inExtra = false }()
	if g.cfg.DupRate > 0 && g.r.Float64() < g.cfg.DupRate {
		if bizID && g.r.IntN(2) == 0 {
			var env envelope
			if err := json.Unmarshal(m.Data, &env); err != nil {
				return err
			}
			d, err := g.envelopeRaw(f.id, env.Type, env.Source, env.Data, t)
			if err != nil {
				return err
			}
			d.Kind = "duplicate"
			g.exp.Duplicates++
			if err := g.send(d); err != nil {
				return err
			}
		} else {
			m.Kind = "resend"
			g.exp.Resent++
			if err := g.send(m); err != nil {
				return err
			}
		}
	}
	if g.cfg.BadRate > 0 && g.r.Float64() < g.cfg.BadRate {
		return g.bad(f, t)
	}
	return nil
}

func (g *gen) schedule(t int, fn func(t int) error) {
	g.acts = append(g.acts, action{t: t, seq: len(g.acts), fn: fn})
}

func (g *gen) run() error {
	for m := 0; m < g.cfg.Months; m++ {
		g.month = m
		g.start = time.Date(g.cfg.Year, time.Month(1+m), 1, 0, 0, 0, 0, cst)
		if err := g.runMonth(); err != nil {
			return err
		}
	}
	return nil
}

// monthPlan is what a fund will approve this month, rolled before the
// month starts so the money can be there first.
type monthPlan struct {
	singles []plannedGrant
	batches []*plannedBatch
	need    int64
}

type plannedGrant struct {
	program, category string
	amount            int64
}

type plannedBatch struct {
	program, category string
	bens              []string
	amounts           []int64
	total             int64
	day               int
}

func (g *gen) runMonth() error {
	m := g.month
	year := g.start.Year()
	if m == 0 {
		for _, f := range g.funds {
			if err := g.openFund(f); err != nil {
				return err
			}
		}
	}
	if g.cfg.ProgramChanges && g.start.Month() == time.July {
		for _, f := range g.dists {
			// Care-fund hardship caps are raised mid-year.
			c := f.caps["care_fund"] + yuan(5000)
			s := money(c)
			f.caps["care_fund"] = c
			if err := g.good(f, events.TypeProgramSet, "finance/"+f.short, dProgramSet{Program: "care_fund", Cap: &s}, g.officeTime(0), false); err != nil {
				return err
			}
		}
	}

	plans := map[*fund]*monthPlan{}
	for _, f := range g.funds {
		plans[f] = &monthPlan{}
	}
	for _, f := range g.grants {
		p := plans[f]
		for i := 0; i < g.cfg.GrantsPerMonth; i++ {
			pg := g.rollSingle()
			p.singles = append(p.singles, pg)
			p.need += pg.amount
		}
	}
	if g.cfg.BatchLines > 0 {
		for _, f := range g.dists {
			p := plans[f]
			p.batches = g.rollBatches(f, year)
			for _, b := range p.batches {
				p.need += b.total
			}
		}
	}

	// The month opens with the money: the districts' own appropriations,
	// then the city budget, then the city's allocations.
	t := 8*60 + 30
	for _, f := range g.dists {
		if m%6 == 0 {
			if err := g.contribution(f, "fiscal", f.label+"财政局 (district finance bureau)", yuan(1000000), t); err != nil {
				return err
			}
			t++
		}
	}
	var allocs []int64
	var cityNeed int64
	for _, f := range g.dists {
		a := max(0, plans[f].need+plans[f].need/20+yuan(1000)-f.available())
		a = (a + yuan(10000) - 1) / yuan(10000) * yuan(10000) // whole 10,000s
		allocs = append(allocs, a)
		cityNeed += a
	}
	cityNeed += plans[g.city].need + plans[g.city].need/20
	if approp := cityNeed + yuan(100000) - g.city.available(); approp > 0 || m == 0 {
		approp = (max(approp, 0) + yuan(100000) - 1) / yuan(100000) * yuan(100000)
		if approp > 0 {
			if err := g.contribution(g.city, "fiscal", "重庆市财政局 (Chongqing municipal finance bureau)", approp, t); err != nil {
				return err
			}
			t++
		}
	}
	for i, f := range g.dists {
		if allocs[i] == 0 {
			continue
		}
		if err := g.allocation(g.city, f, allocs[i], t); err != nil {
			return err
		}
		t++
	}

	if err := g.bankStatements(t); err != nil { // statements.go
		return err
	}
	// After the bank's statement: the closed month's report names its
	// reconciliation.
	if err := g.closePrevious(t); err != nil { // periods.go
		return err
	}

	// The month's business, interleaved across funds by time.
	g.acts = g.acts[:0]
	for _, f := range g.funds {
		p := plans[f]
		for _, pg := range p.singles {
			g.planSingle(f, pg)
		}
		for _, b := range p.batches {
			g.planBatch(f, b)
		}
		if !f.city {
			g.planDonations(f)
		}
	}
	if g.cfg.BadRate > 0 && g.cfg.BatchLines > 0 && len(g.dists) > 0 && m%6 == 1 {
		f := g.dists[0]
		g.schedule(g.officeTime(4), func(t int) error { return g.tooLarge(f, t) })
	}
	sort.SliceStable(g.acts, func(i, j int) bool { return g.acts[i].t < g.acts[j].t })
	for _, a := range g.acts {
		if err := a.fn(a.t); err != nil {
			return err
		}
	}
	g.acts = g.acts[:0]

	if g.cfg.MonthEndSnapshots {
		end := 28*1440 + 17*60
		label := g.start.Format("2006-01")
		for _, f := range g.funds {
			if err := g.good(f, events.TypeSnapshotRequested, "finance/"+f.short,
				dSnapshot{RequestedBy: "finance-office-" + f.short, Label: label}, end, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *gen) openFund(f *fund) error {
	kind := "Veterans Care Fund"
	name := f.label + "退役军人关爱基金 (" + strings.ToUpper(f.short[:1]) + f.short[1:] + " " + kind + ")"
	if f.city {
		name = "重庆市退役军人关爱基金 (Chongqing Veterans Care Fund)"
	}
	d := dFundOpened{FundID: f.id, Name: name, Currency: "CNY"}
	for _, p := range programCaps {
		dp := dProgram{Code: p.code}
		if p.cap > 0 {
			dp.Cap = money(p.cap)
		}
		d.Programs = append(d.Programs, dp)
	}
	f.opened = d
	return g.good(f, events.TypeFundOpened, "registry/"+f.short, d, 8*60, false)
}

func (g *gen) contribution(f *fund, kind, payer string, amount int64, t int) error {
	d := dContribution{ContributionID: fmt.Sprintf("%s-c-%s-%03d", f.short, g.yyyymm(), f.next("c"+g.yyyymm())),
		SourceKind: kind, Payer: payer, Amount: money(amount), BankRef: g.bankRef(), ReceivedOn: g.date(t)}
	f.cash += amount
	g.exp.Txns++
	return g.good(f, events.TypeContributionReceived, "finance/"+f.short, d, t, true)
}

func (g *gen) allocation(from, to *fund, amount int64, t int) error {
	if from.available() < amount {
		g.exp.Skipped++
		return nil
	}
	d := dAllocation{AllocationID: fmt.Sprintf("%s-a-%s-%03d", from.short, g.yyyymm(), from.next("a"+g.yyyymm())),
		ToFundID: to.id, Amount: money(amount), ApprovedBy: fmt.Sprintf("officer-%s-%02d", from.short, 1+g.r.IntN(6)),
		ApprovedOn: g.date(t)}
	from.cash -= amount
	to.cash += amount
	g.exp.Txns += 2
	return g.good(from, events.TypeAllocationApproved, "approvals/"+from.short, d, t, true)
}

func (g *gen) planDonations(f *fund) {
	for i, n := 0, g.r.IntN(5); i < n; i++ {
		// About 800,000 yuan a year in gifts of 1,000 to 60,000.
		amount := yuan(1000 + int64(g.r.IntN(59))*1000)
		payer := g.pick(donors)
		g.schedule(g.officeTime(g.r.IntN(28)), func(t int) error { return g.contribution(f, "donation", payer, amount, t) })
	}
	if g.r.IntN(3) == 0 {
		// Bank interest, now and then.
		amount := yuan(int64(100+g.r.IntN(2000))) + int64(g.r.IntN(100))
		g.schedule(g.officeTime(27), func(t int) error { return g.contribution(f, "other", "bank interest", amount, t) })
	}
}

// rollSingle draws a single grant's program and amount.
func (g *gen) rollSingle() plannedGrant {
	u := g.r.IntN(100)
	cat := g.pick(categories)
	switch {
	case u < 70: // care_fund: about 2,400 yuan on average (1,010,000 to 427 people)
		var a int64
		switch v := g.r.IntN(100); {
		case v < 70:
			a = 300 + int64(g.r.IntN(23))*100
		case v < 95:
			a = 2500 + int64(g.r.IntN(36))*100
		default:
			a = 6000 + int64(g.r.IntN(61))*100
		}
		return plannedGrant{"care_fund", cat, yuan(a)}
	case u < 82:
		return plannedGrant{"three_difficulties", g.pick([]string{"medical", "living", "housing"}), yuan(1000 + int64(g.r.IntN(90))*100)}
	case u < 94:
		return plannedGrant{"medical_aid", "medical", yuan(200+int64(g.r.IntN(8000))) + int64(g.r.IntN(100))}
	case u < 98:
		return plannedGrant{"martyr_family", cat, yuan(1000 + int64(g.r.IntN(20))*100)}
	default:
		return plannedGrant{"self_employment", "other", yuan(20000 + int64(g.r.IntN(41))*1000)}
	}
}

// planSingle schedules one single grant: its approval and, by chance, its
// payments, a returned payment, a cancellation or a recovery.
func (g *gen) planSingle(f *fund, pg plannedGrant) {
	gr := &grant{f: f, program: pg.program, category: pg.category, approved: pg.amount, year: g.start.Year()}
	gr.id = fmt.Sprintf("%s-%s-%s-%05d", f.short, abbrev(pg.program), g.yyyymm(), f.next("g"+g.yyyymm()))
	day := g.r.IntN(21)
	tA := g.officeTime(day)
	tP := g.officeTime(day + 1 + g.r.IntN(5))
	if g.r.Float64() < g.cfg.EarlyRate {
		// The payment system publishes first; the approval follows at once.
		g.schedule(tA, func(t int) error { return g.approveEarly(gr, t) })
		return
	}
	g.schedule(tA, func(t int) error { return g.approve(gr, t) })
	if !g.cfg.Lifecycle {
		g.schedule(tP, func(t int) error { return g.pay(gr, gr.approved, t) })
		return
	}
	switch u := g.r.IntN(1000); {
	case u < 20: // cancelled before any payment
		g.schedule(tP, func(t int) error { return g.cancel(gr, t) })
	case u < 30: // half paid, then the rest cancelled
		g.schedule(tP, func(t int) error { return g.pay(gr, gr.approved/2, t) })
		g.schedule(tP+1440, func(t int) error { return g.cancel(gr, t) })
	case u < 60: // paid in two parts
		g.schedule(tP, func(t int) error { return g.pay(gr, gr.approved/2, t) })
		g.schedule(tP+2*1440, func(t int) error { return g.pay(gr, gr.outstanding(), t) })
	default:
		if g.deferLate(gr, tP) { // periods.go
			return
		}
		g.schedule(tP, func(t int) error { return g.pay(gr, gr.approved, t) })
		switch v := g.r.IntN(1000); {
		case v < 10: // the bank returns the payment; it is paid again
			g.schedule(tP+1440, func(t int) error { return g.returnPayment(gr, t) })
			g.schedule(tP+3*1440, func(t int) error { return g.pay(gr, gr.outstanding(), t) })
		case v < 20: // paid wrongly; part or all of it is paid back
			g.schedule(tP+2*1440, func(t int) error { return g.recover(gr, t) })
		}
	}
}

func abbrev(program string) string {
	switch program {
	case "care_fund":
		return "cf"
	case "pension_subsidy":
		return "ps"
	case "conscript_family":
		return "cj"
	case "three_difficulties":
		return "sn"
	case "medical_aid":
		return "ma"
	case "self_employment":
		return "se"
	case "placement_living":
		return "pl"
	case "spouse_living":
		return "sl"
	case "holiday_condolence":
		return "hc"
	case "martyr_family":
		return "mf"
	}
	return "xx"
}

// pickBeneficiary finds a beneficiary of the fund's pool whose yearly
// usage of the program leaves room for amount under its cap.
func (g *gen) pickBeneficiary(f *fund, program string, year int, amount int64) (string, bool) {
	limit := f.caps[program]
	for try := 0; try < 16; try++ {
		ben := fmt.Sprintf("%s-b-%06d", f.short, g.r.IntN(f.benPool))
		if limit == 0 || f.usage[usageKey(program, ben, year)]+amount <= limit {
			return ben, true
		}
	}
	return "", false
}

// admit runs the checks the ledger runs on an approval and books it in the
// model; false means the approval would be refused and is not sent.
func (g *gen) admit(gr *grant, t int) bool {
	f := gr.f
	ben, ok := g.pickBeneficiary(f, gr.program, gr.year, gr.approved)
	if !ok || f.available() < gr.approved {
		g.exp.Skipped++
		return false
	}
	gr.ben = ben
	gr.requestedBy, gr.approvedBy = g.people(f)
	gr.data = dGrant{GrantID: gr.id, BeneficiaryRef: ben, Program: gr.program, Category: gr.category, Amount: money(gr.approved),
		RequestedBy: gr.requestedBy, ApprovedBy: gr.approvedBy, ApprovedOn: g.date(t)}
	f.payable += gr.approved
	f.usage[usageKey(gr.program, ben, gr.year)] += gr.approved
	gr.applied = true
	g.exp.Txns++
	g.exp.Grants++
	return true
}

func (g *gen) approve(gr *grant, t int) error {
	if !g.admit(gr, t) {
		return nil
	}
	gr.f.remember(&gr.f.recent, gr)
	return g.good(gr.f, events.TypeGrantApproved, "approvals/"+gr.f.short, gr.data, t, true)
}

// approveEarly publishes the payment, then the approval it pays: the
// ledger holds the payment and posts it when the approval arrives.
func (g *gen) approveEarly(gr *grant, t int) error {
	if !g.admit(gr, t) {
		return nil
	}
	f := gr.f
	p := &payment{id: fmt.Sprintf("%s-pay-%s-%06d", f.short, g.yyyymm(), f.next("p"+g.yyyymm())), amount: gr.approved}
	d := dDisbursed{GrantID: gr.id, PaymentID: p.id, Amount: money(p.amount), BankRef: g.bankRef(), PaidOn: g.date(t)}
	m, err := g.envelope(f.id, events.TypeGrantDisbursed, "payments/"+f.short, d, t-1)
	if err != nil {
		return err
	}
	m.Kind = "early"
	g.exp.Good++
	g.exp.Early++
	if err := g.send(m); err != nil {
		return err
	}
	gr.paid += p.amount
	f.payable -= p.amount
	f.cash -= p.amount
	gr.payments = append(gr.payments, p)
	g.exp.Txns++
	f.remember(&f.recent, gr)
	return g.good(f, events.TypeGrantApproved, "approvals/"+f.short, gr.data, t, true)
}

func (g *gen) pay(gr *grant, amount int64, t int) error {
	if !gr.applied || gr.closed || amount <= 0 || amount > gr.outstanding() {
		return nil
	}
	f := gr.f
	p := &payment{id: fmt.Sprintf("%s-pay-%s-%06d", f.short, g.yyyymm(), f.next("p"+g.yyyymm())), amount: amount}
	gr.payments = append(gr.payments, p)
	gr.paid += amount
	f.payable -= amount
	f.cash -= amount
	g.exp.Txns++
	d := dDisbursed{GrantID: gr.id, PaymentID: p.id, Amount: money(amount), BankRef: g.bankRef(), PaidOn: g.date(t)}
	return g.good(f, events.TypeGrantDisbursed, "payments/"+f.short, d, t, true)
}

func (g *gen) returnPayment(gr *grant, t int) error {
	if !gr.applied || gr.closed || len(gr.payments) == 0 {
		return nil
	}
	p := gr.payments[len(gr.payments)-1]
	amount := p.amount - p.returned
	if amount <= 0 {
		return nil
	}
	f := gr.f
	p.returned += amount
	gr.returned += amount
	f.cash += amount
	f.payable += amount
	g.exp.Txns++
	d := dReturned{GrantID: gr.id, PaymentID: p.id, Amount: money(amount), Reason: g.pick(returnReasons), ReturnedOn: g.date(t)}
	return g.good(f, events.TypePaymentReturned, "payments/"+f.short, d, t, false)
}

func (g *gen) cancel(gr *grant, t int) error {
	if !gr.applied || gr.closed {
		return nil
	}
	f := gr.f
	out := gr.outstanding()
	if out > 0 {
		g.exp.Txns++
		f.payable -= out
		f.usage[usageKey(gr.program, gr.ben, gr.year)] -= out
	}
	gr.cancelled += out
	gr.closed = true
	f.remember(&f.cancelled, gr)
	d := dCancelled{GrantID: gr.id, CancelledBy: fmt.Sprintf("officer-%s-%02d", f.short, 1+g.r.IntN(6)), Reason: g.pick(cancelReasons),
		CancelledOn: g.date(t)}
	return g.good(f, events.TypeGrantCancelled, "approvals/"+f.short, d, t, false)
}

func (g *gen) recover(gr *grant, t int) error {
	net := gr.paid - gr.returned - gr.recovered
	if !gr.applied || net <= 0 {
		return nil
	}
	amount := net
	if g.r.IntN(2) == 0 {
		amount = max(1, net/2)
	}
	f := gr.f
	gr.recovered += amount
	f.cash += amount
	g.exp.Txns++
	d := dRecovered{GrantID: gr.id, RecoveryID: fmt.Sprintf("%s-r-%s-%04d", f.short, g.yyyymm(), f.next("r"+g.yyyymm())),
		Amount: money(amount), BankRef: g.bankRef(), Reason: g.pick(recoverReasons), RecoveredOn: g.date(t)}
	return g.good(f, events.TypeGrantRecovered, "payments/"+f.short, d, t, true)
}

// rollBatches draws a district's batches of the month: the pension
// batch, and the allowances when they are due.
func (g *gen) rollBatches(f *fund, year int) []*plannedBatch {
	var out []*plannedBatch
	pension := &plannedBatch{program: "pension_subsidy", category: "living", day: 2 + g.r.IntN(3)}
	for i, rate := range f.pensioners {
		pension.bens = append(pension.bens, fmt.Sprintf("%s-p-%06d", f.short, i))
		pension.amounts = append(pension.amounts, rate)
		pension.total += rate
	}
	out = append(out, pension)
	if !g.cfg.Allowances {
		return out
	}
	month := g.start.Month()
	add := func(program, category, prefix string, n int, amount func() int64) {
		b := &plannedBatch{program: program, category: category, day: 5 + g.r.IntN(10)}
		limit := f.caps[program]
		for i := 0; i < n; i++ {
			ben := fmt.Sprintf("%s-%s-%06d", f.short, prefix, i)
			a := amount()
			if limit > 0 && f.usage[usageKey(program, ben, year)]+a > limit {
				continue // the cap is reached for this year: the office leaves the line out
			}
			b.bens = append(b.bens, ben)
			b.amounts = append(b.amounts, a)
			b.total += a
		}
		if len(b.bens) > 0 {
			out = append(out, b)
		}
	}
	if month == time.January || month == time.July {
		add("conscript_family", "living", "c", f.conscripts, func() int64 { return yuan(5000 + int64(g.r.IntN(71))*100) })
	}
	add("spouse_living", "living", "s", f.spouses, func() int64 { return yuan(1500 + int64(g.r.IntN(11))*50) })
	if month == time.January || month == time.August || month == time.September {
		// Spring Festival, Army Day, Mid-Autumn: condolence money to the
		// entitled households.
		add("holiday_condolence", "other", "p", max(1, len(f.pensioners)/4), func() int64 { return yuan(200 + int64(g.r.IntN(9))*100) })
	}
	return out
}

func (g *gen) planBatch(f *fund, b *plannedBatch) {
	var lines []*payment
	var ids []string
	g.schedule(g.officeTime(b.day), func(t int) error {
		var err error
		ids, lines, err = g.approveBatch(f, b, t)
		return err
	})
	if g.cfg.PayBatches {
		g.schedule(g.officeTime(b.day+3+g.r.IntN(3)), func(t int) error { return g.payBatch(f, ids, lines, t) })
	}
}

func (g *gen) approveBatch(f *fund, b *plannedBatch, t int) ([]string, []*payment, error) {
	year := g.start.Year()
	if f.available() < b.total {
		g.exp.Skipped++
		return nil, nil, nil
	}
	seq := f.next("b" + g.yyyymm())
	d := dBatch{BatchID: fmt.Sprintf("%s-%s-%s-b%02d", f.short, abbrev(b.program), g.yyyymm(), seq), Program: b.program, ApprovedOn: g.date(t)}
	d.RequestedBy, d.ApprovedBy = g.people(f)
	ids := make([]string, len(b.bens))
	lines := make([]*payment, len(b.bens))
	for i, ben := range b.bens {
		ids[i] = fmt.Sprintf("%s-%s-%s-%05d", f.short, abbrev(b.program), g.yyyymm(), i+1)
		if seq > 1 {
			ids[i] = fmt.Sprintf("%s-%s-%s-%d-%05d", f.short, abbrev(b.program), g.yyyymm(), seq, i+1)
		}
		d.Lines = append(d.Lines, dLine{GrantID: ids[i], BeneficiaryRef: ben, Category: b.category, Amount: money(b.amounts[i])})
		lines[i] = &payment{amount: b.amounts[i]}
		f.usage[usageKey(b.program, ben, year)] += b.amounts[i]
	}
	f.payable += b.total
	g.exp.Txns += int64(len(b.bens))
	g.exp.Grants += int64(len(b.bens))
	g.exp.Batches++
	g.exp.BatchLines += int64(len(b.bens))
	return ids, lines, g.good(f, events.TypeGrantBatchApproved, "approvals/"+f.short, d, t, true)
}

// payBatch pays each line of an approved batch with its own payment, as
// the bank's payment file reports them; now and then a payment comes back.
func (g *gen) payBatch(f *fund, ids []string, lines []*payment, t int) error {
	var bulkRef string // statements.go
	for i, p := range lines {
		p.id = fmt.Sprintf("%s-pay-%s-%06d", f.short, g.yyyymm(), f.next("p"+g.yyyymm()))
		f.payable -= p.amount
		f.cash -= p.amount
		g.exp.Txns++
		d := dDisbursed{GrantID: ids[i], PaymentID: p.id, Amount: money(p.amount), BankRef: g.batchRef(&bulkRef, g.bankRef()), PaidOn: g.date(t)}
		if err := g.good(f, events.TypeGrantDisbursed, "payments/"+f.short, d, t, true); err != nil {
			return err
		}
		if g.cfg.Lifecycle && g.r.IntN(500) == 0 {
			f.payable += p.amount
			f.cash += p.amount
			g.exp.Txns++
			r := dReturned{GrantID: ids[i], PaymentID: p.id, Amount: money(p.amount), Reason: g.pick(returnReasons), ReturnedOn: g.date(t)}
			if err := g.good(f, events.TypePaymentReturned, "payments/"+f.short, r, t, false); err != nil {
				return err
			}
		}
	}
	return nil
}
