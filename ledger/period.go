package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // FUNDLEDGER_TZ must resolve on hosts without a zoneinfo database

	"github.com/fundledger/fundledger/events"
	"github.com/shopspring/decimal"
)

// This file is the period close of CONTRACT.md section 11: every journal
// transaction gets a reporting period when it is posted, running figures
// per fund and reporting period are kept as transactions are written, and
// period.closed turns them into a signed period report. docs/periods.md
// tells the choices, docs/audit.md how to recompute every figure.

// DefaultZone is the time zone of business dates when FUNDLEDGER_TZ is not
// set (CONTRACT.md section 8).
const DefaultZone = "Asia/Shanghai"

var defaultLoc = func() *time.Location {
	loc, err := time.LoadLocation(DefaultZone)
	if err != nil { // time/tzdata is linked in
		panic("ledger: " + err.Error())
	}
	return loc
}()

// zone is the books' FUNDLEDGER_TZ.
func (b *Books) zone() *time.Location {
	if b.settings.Zone != nil {
		return b.settings.Zone
	}
	return defaultLoc
}

// NextPeriod is the month after p (YYYY-MM).
func NextPeriod(p string) string {
	t, err := time.Parse(events.PeriodLayout, p)
	if err != nil {
		panic("ledger: not a period: " + p)
	}
	return t.AddDate(0, 1, 0).Format(events.PeriodLayout)
}

// PeriodEnd is the first instant after month p in loc: when p has ended.
func PeriodEnd(p string, loc *time.Location) time.Time {
	t, err := time.Parse(events.PeriodLayout, p)
	if err != nil {
		panic("ledger: not a period: " + p)
	}
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
}

// PeriodState is what a fund's closes left: the last month closed (that
// month and every month before it are closed) and how many period reports
// it has.
type PeriodState struct {
	LastClosed string // YYYY-MM; "" when nothing was closed
	Reports    int64
	// LastReportHash is SHA-256 of the latest report's signing input, hex
	// (the next report's prev_report_hash); "" before the first. A string
	// keeps PeriodState comparable.
	LastReportHash string
}

// ReportingPeriod is the reporting period of a transaction whose business
// period is bp, posted while the fund's last closed month was lastClosed:
// bp itself while that month is open, else the month after lastClosed (a
// prior-period adjustment).
func ReportingPeriod(bp, lastClosed string) (period string, adjustment bool) {
	if lastClosed != "" && bp <= lastClosed {
		return NextPeriod(lastClosed), true
	}
	return bp, false
}

// FigureKind names one running figure of a reporting period.
type FigureKind uint8

// The figures kept per fund and reporting period: debits and credits per
// account (Name is the account), and per program (Name is the program) what
// was approved, cancelled, paid, returned and recovered.
const (
	FigDebits FigureKind = iota + 1
	FigCredits
	FigApproved
	FigCancelled
	FigPaid
	FigReturned
	FigRecovered
	// FigBeneficiaries is kept by the store alone: the number of distinct
	// beneficiaries approved per program in the reporting period (rows of
	// its beneficiary set), so a close need not count them.
	FigBeneficiaries
)

var figureNames = [...]string{"", "debits", "credits", "approved", "cancelled", "paid", "returned", "recovered", "beneficiaries"}

// String is the kind as stored (period_figures.kind).
func (k FigureKind) String() string {
	if int(k) < len(figureNames) {
		return figureNames[k]
	}
	return "figure" + strconv.Itoa(int(k))
}

// ParseFigureKind reads a kind as stored.
func ParseFigureKind(s string) (FigureKind, bool) {
	for i, n := range figureNames {
		if i > 0 && n == s {
			return FigureKind(i), true
		}
	}
	return 0, false
}

// FigureKey names one running figure.
type FigureKey struct {
	FundID, Period string
	Kind           FigureKind
	Name           string
}

// Figure is a running figure with its amount.
type Figure struct {
	FigureKey
	Amount decimal.Decimal
}

// BeneficiaryKey records that a beneficiary had a grant approved in a
// program in a reporting period.
type BeneficiaryKey struct {
	FundID, Period, Program, Beneficiary string
}

// PeriodAdjustment is a transaction posted to a later reporting period
// than its business period.
type PeriodAdjustment struct {
	FundID         string
	JournalSeq     int64
	Period         string // reporting period
	BusinessPeriod string
	Type           string
	Amount         decimal.Decimal // the transaction's total debits
}

// PeriodAllocation is one side of an allocation between two funds, for
// the city-wide view's net totals.
type PeriodAllocation struct {
	FundID       string
	JournalSeq   int64
	Period       string // reporting period
	AllocationID string
	Direction    string // "out" of FundID to OtherFund, or "in" from it
	OtherFund    string
	Amount       decimal.Decimal
}

// PeriodLoader reads what a close needs from the store, inside the unit of
// work's transaction. Each returns only what is stored (earlier batches);
// the books add what this unit of work did.
type PeriodLoader interface {
	// PeriodFigures returns the fund's running figures of every reporting
	// period up to and including upTo.
	PeriodFigures(ctx context.Context, fundID, upTo string) ([]Figure, error)
	// PeriodBeneficiaries counts, per program, the distinct beneficiaries
	// approved in the reporting periods from..to (from "" is from the
	// start), stored or in extra.
	PeriodBeneficiaries(ctx context.Context, fundID, from, to string, extra []BeneficiaryKey) (map[string]int64, error)
	// PeriodAdjustments returns the adjustments posted to the reporting
	// periods from..to, in journal order.
	PeriodAdjustments(ctx context.Context, fundID, from, to string) ([]PeriodAdjustment, error)
}

// latestReconciliation is the seq of the fund's latest bank reconciliation
// report, this unit of work's included; nil when it has none (or the store
// keeps no bank statements).
func (b *Books) latestReconciliation(fundID string) (*int64, error) {
	if _, ok := b.load.(ReconLoader); !ok {
		return nil, nil
	}
	st, err := b.reconState(fundID)
	if err != nil || st == nil || st.ReconSeq == 0 {
		return nil, err
	}
	seq := st.ReconSeq
	return &seq, nil
}

// TxnAmount is a transaction's total debits: the amount an adjustment is
// listed with.
func TxnAmount(t *Txn) decimal.Decimal {
	var s decimal.Decimal
	for _, p := range t.Postings {
		if p.Side == Debit {
			s = s.Add(p.Amount)
		}
	}
	return s
}

// ProgramFigure is the program figure a transaction adds to (FigApproved
// ... FigRecovered) by its type, and the program from its refs; ok false
// for a transaction that adds to none.
func ProgramFigure(t *Txn) (kind FigureKind, program string, ok bool) {
	switch t.Type {
	case events.TypeGrantApproved, events.TypeGrantBatchApproved:
		kind = FigApproved
	case events.TypeGrantCancelled:
		kind = FigCancelled
	case events.TypeGrantDisbursed:
		kind = FigPaid
	case events.TypePaymentReturned:
		kind = FigReturned
	case events.TypeGrantRecovered:
		kind = FigRecovered
	default:
		return 0, "", false
	}
	program = refValue(t.Refs, "program")
	return kind, program, program != ""
}

func refValue(refs []Ref, key string) string {
	for _, r := range refs {
		if r.Key == key {
			return r.Value
		}
	}
	return ""
}

// periodWork is what the unit of work did to the period records.
type periodWork struct {
	figures     map[FigureKey]decimal.Decimal
	bens        map[BeneficiaryKey]bool
	benList     []BeneficiaryKey
	adjustments []*PeriodAdjustment
	allocations []*PeriodAllocation
	reports     []*PeriodReport
	closed      []*Fund
}

// notePeriod adds a transaction just posted to the running figures of its
// reporting period.
func (b *Books) notePeriod(f *Fund, t *Txn) {
	w := &b.periods
	if w.figures == nil {
		w.figures, w.bens = map[FigureKey]decimal.Decimal{}, map[BeneficiaryKey]bool{}
	}
	bp := b.businessPeriod(t)
	rp, adj := ReportingPeriod(bp, f.Close.LastClosed)
	amount := TxnAmount(t)
	if adj {
		w.adjustments = append(w.adjustments, &PeriodAdjustment{FundID: f.ID, JournalSeq: t.Seq, Period: rp,
			BusinessPeriod: bp, Type: t.Type, Amount: amount})
	}
	for _, p := range t.Postings {
		k := FigureKey{FundID: f.ID, Period: rp, Kind: FigCredits, Name: p.Account}
		if p.Side == Debit {
			k.Kind = FigDebits
		}
		w.figures[k] = w.figures[k].Add(p.Amount)
	}
	if kind, program, ok := ProgramFigure(t); ok {
		k := FigureKey{FundID: f.ID, Period: rp, Kind: kind, Name: program}
		w.figures[k] = w.figures[k].Add(amount)
		if kind == FigApproved {
			if ben := refValue(t.Refs, "beneficiary_ref"); ben != "" {
				bk := BeneficiaryKey{FundID: f.ID, Period: rp, Program: program, Beneficiary: ben}
				if !w.bens[bk] {
					w.bens[bk] = true
					w.benList = append(w.benList, bk)
				}
			}
		}
	}
	if t.Type == events.TypeAllocationApproved {
		a := &PeriodAllocation{FundID: f.ID, JournalSeq: t.Seq, Period: rp, AllocationID: refValue(t.Refs, "allocation_id"),
			Amount: amount}
		if to := refValue(t.Refs, "to_fund_id"); to != "" {
			a.Direction, a.OtherFund = "out", to
		} else {
			a.Direction, a.OtherFund = "in", refValue(t.Refs, "from_fund_id")
		}
		w.allocations = append(w.allocations, a)
	}
}

// businessPeriod is BusinessPeriod(t, zone) without parsing a date the
// transaction carries: its first seven characters are the month (dates in
// refs are validated YYYY-MM-DD).
func (b *Books) businessPeriod(t *Txn) string {
	for _, r := range t.Refs {
		if len(r.Value) == len(time.DateOnly) && isDateRef(r.Key) {
			return r.Value[:7]
		}
	}
	return BusinessPeriod(t, b.zone())
}

// closePeriod applies a period.closed after the fund was found, in the
// contract's order: the maker-checker, a month already closed, then the
// order of months and the month having ended.
func (b *Books) closePeriod(in Input, f *Fund, e events.PeriodClosed) (Outcome, error) {
	p := e.PeriodText()
	if e.ClosedBy == e.ApprovedBy {
		return rejected(events.SameMakerChecker, "closed_by and approved_by are both %q: a close needs two people", e.ApprovedBy)
	}
	lc := f.Close.LastClosed
	if lc != "" && p <= lc {
		return rejected(events.PeriodAlreadyClosed, "month %s of fund %q is closed already: the fund is closed up to %s", p, f.ID, lc)
	}
	if lc != "" && p != NextPeriod(lc) {
		return rejected(events.InvalidField, "data.period %s is not the month after %s, the fund's last closed month: close %s first",
			p, lc, NextPeriod(lc))
	}
	loc := b.zone()
	if end := PeriodEnd(p, loc); in.Time.Before(end) {
		return rejected(events.InvalidField, "data.period %s has not ended yet in %s: it ends at %s", p, loc, end.Format(time.RFC3339))
	}
	r, err := b.periodReport(f, e, p, lc == "")
	if err != nil {
		return Outcome{}, err
	}
	f.Close.LastClosed = p
	f.Close.Reports++
	f.Close.LastReportHash = hex.EncodeToString(PeriodReportHash(r))
	w := &b.periods
	w.reports = append(w.reports, r)
	listed := false
	for _, c := range w.closed {
		listed = listed || c == f
	}
	if !listed {
		w.closed = append(w.closed, f)
	}
	return Outcome{Kind: Applied}, nil
}

// periodReport makes and signs the report of month p of fund f: the
// figures of its reporting period (every reporting period up to p when
// first), the stored ones and those of this unit of work.
func (b *Books) periodReport(f *Fund, e events.PeriodClosed, p string, first bool) (*PeriodReport, error) {
	stored, err := b.load.PeriodFigures(b.ctx, f.ID, p)
	if err != nil {
		return nil, err
	}
	figs := append([]Figure(nil), stored...)
	for k, v := range b.periods.figures {
		if k.FundID == f.ID && k.Period <= p {
			figs = append(figs, Figure{k, v})
		}
	}
	from := p
	if first {
		from = ""
	}
	type sums struct{ openDr, openCr, dr, cr decimal.Decimal }
	accounts := map[string]*sums{}
	programs := map[string]*PeriodProgram{}
	progAmounts := map[string]*[5]decimal.Decimal{}
	for code := range f.Programs {
		progAmounts[code] = &[5]decimal.Decimal{}
	}
	for _, fg := range figs {
		in := fg.Period >= from // every figure is up to p
		switch fg.Kind {
		case FigDebits, FigCredits:
			s := accounts[fg.Name]
			if s == nil {
				s = &sums{}
				accounts[fg.Name] = s
			}
			switch {
			case fg.Kind == FigDebits && in:
				s.dr = s.dr.Add(fg.Amount)
			case fg.Kind == FigDebits:
				s.openDr = s.openDr.Add(fg.Amount)
			case in:
				s.cr = s.cr.Add(fg.Amount)
			default:
				s.openCr = s.openCr.Add(fg.Amount)
			}
		case FigBeneficiaries: // counted by PeriodBeneficiaries
		default:
			if !in {
				continue
			}
			a := progAmounts[fg.Name]
			if a == nil {
				a = &[5]decimal.Decimal{}
				progAmounts[fg.Name] = a
			}
			i := int(fg.Kind - FigApproved)
			a[i] = a[i].Add(fg.Amount)
		}
	}
	var extra []BeneficiaryKey
	for _, k := range b.periods.benList {
		if k.FundID == f.ID && k.Period >= from && k.Period <= p {
			extra = append(extra, k)
		}
	}
	bens, err := b.load.PeriodBeneficiaries(b.ctx, f.ID, from, p, extra)
	if err != nil {
		return nil, err
	}
	adjs, err := b.load.PeriodAdjustments(b.ctx, f.ID, from, p)
	if err != nil {
		return nil, err
	}
	for _, a := range b.periods.adjustments {
		if a.FundID == f.ID && a.Period >= from && a.Period <= p {
			adjs = append(adjs, *a)
		}
	}
	sort.Slice(adjs, func(i, j int) bool { return adjs[i].JournalSeq < adjs[j].JournalSeq })

	r := &PeriodReport{
		FundID: f.ID, Period: p, ClosedBy: e.ClosedBy, ApprovedBy: e.ApprovedBy, First: first,
		AsOfJournalSeq: f.HeadSeq, ChainHead: hex.EncodeToString(f.HeadHash),
		Accounts: []PeriodAccount{}, Programs: []PeriodProgram{}, Adjustments: []PeriodAdjustmentLine{},
	}
	names := make([]string, 0, len(accounts))
	for n := range accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := accounts[n]
		open, move := s.openDr.Sub(s.openCr), s.dr.Sub(s.cr)
		if !DebitNormal(n) {
			open, move = open.Neg(), move.Neg()
		}
		r.Accounts = append(r.Accounts, PeriodAccount{Account: n, Opening: Money(open), Debits: Money(s.dr),
			Credits: Money(s.cr), Closing: Money(open.Add(move))})
		switch {
		case strings.HasPrefix(n, contributionsPrefix):
			v := Money(s.cr.Sub(s.dr))
			switch strings.TrimPrefix(n, contributionsPrefix) {
			case "fiscal":
				r.Contributions.Fiscal = v
			case "donation":
				r.Contributions.Donation = v
			case "other":
				r.Contributions.Other = v
			}
		case n == AccountAllocIn:
			r.Allocations.In = Money(s.cr.Sub(s.dr))
		case n == AccountAllocOut:
			r.Allocations.Out = Money(s.dr.Sub(s.cr))
		}
	}
	r.Contributions.fill()
	r.Allocations.fill()
	codes := make([]string, 0, len(progAmounts))
	for c := range progAmounts {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		a := progAmounts[c]
		programs[c] = &PeriodProgram{Program: c, Approved: Money(a[0]), Cancelled: Money(a[1]), Paid: Money(a[2]),
			Returned: Money(a[3]), Recovered: Money(a[4]), Beneficiaries: bens[c]}
		r.Programs = append(r.Programs, *programs[c])
	}
	for _, a := range adjs {
		r.Adjustments = append(r.Adjustments, PeriodAdjustmentLine{JournalSeq: a.JournalSeq, Type: a.Type,
			BusinessPeriod: a.BusinessPeriod, Amount: Money(a.Amount)})
	}
	if r.ReconciliationSeq, err = b.latestReconciliation(f.ID); err != nil {
		return nil, err
	}
	size, root := f.TreeHead()
	r.TreeSize, r.TreeRoot, r.PrevReportHash = &size, root, ZeroHash
	if f.Close.LastReportHash != "" {
		r.PrevReportHash = f.Close.LastReportHash
	}
	if s := b.settings.Signer; s != nil {
		r.KeyID = s.KeyID()
		r.Signature = encodeSig(s.Sign(PeriodSigningInput(r)))
	}
	return r, nil
}

// PeriodAccount is one account of a period report.
type PeriodAccount struct {
	Account string `json:"account"`
	Opening string `json:"opening"`
	Debits  string `json:"debits"`
	Credits string `json:"credits"`
	Closing string `json:"closing"`
}

// PeriodProgram is one program of a period report.
type PeriodProgram struct {
	Program       string `json:"program"`
	Approved      string `json:"approved"`
	Cancelled     string `json:"cancelled"`
	Paid          string `json:"paid"`
	Returned      string `json:"returned"`
	Recovered     string `json:"recovered"`
	Beneficiaries int64  `json:"beneficiaries"`
}

// PeriodContributions is what came in, per source kind.
type PeriodContributions struct {
	Fiscal   string `json:"fiscal"`
	Donation string `json:"donation"`
	Other    string `json:"other"`
}

func (c *PeriodContributions) fill() {
	for _, s := range []*string{&c.Fiscal, &c.Donation, &c.Other} {
		if *s == "" {
			*s = Money(zero)
		}
	}
}

// PeriodAllocations is what was allocated in from and out to other funds.
type PeriodAllocations struct {
	In  string `json:"in"`
	Out string `json:"out"`
}

func (a *PeriodAllocations) fill() {
	for _, s := range []*string{&a.In, &a.Out} {
		if *s == "" {
			*s = Money(zero)
		}
	}
}

// PeriodAdjustmentLine is one prior-period adjustment of a report.
type PeriodAdjustmentLine struct {
	JournalSeq     int64  `json:"journal_seq"`
	Type           string `json:"type"`
	BusinessPeriod string `json:"business_period"`
	Amount         string `json:"amount"`
}

// PeriodReport is the report of one closed month of one fund (CONTRACT.md
// section 11). Field order here is the published field order.
type PeriodReport struct {
	FundID            string                 `json:"fund_id"`
	Period            string                 `json:"period"`
	ClosedBy          string                 `json:"closed_by"`
	ApprovedBy        string                 `json:"approved_by"`
	First             bool                   `json:"first"`
	AsOfJournalSeq    int64                  `json:"as_of_journal_seq"`
	ChainHead         string                 `json:"chain_head"`
	Accounts          []PeriodAccount        `json:"accounts"`
	Programs          []PeriodProgram        `json:"programs"`
	Contributions     PeriodContributions    `json:"contributions"`
	Allocations       PeriodAllocations      `json:"allocations"`
	Adjustments       []PeriodAdjustmentLine `json:"adjustments"`
	ReconciliationSeq *int64                 `json:"reconciliation_seq"`
	// TreeSize, TreeRoot and PrevReportHash (CONTRACT.md section 12) are
	// in every report signed as fundledger-period-v2 and absent from the
	// v1 reports made before; a nil TreeSize is a v1 report.
	TreeSize       *int64 `json:"tree_size,omitempty"`
	TreeRoot       string `json:"tree_root,omitempty"`
	PrevReportHash string `json:"prev_report_hash,omitempty"`
	KeyID          string `json:"key_id"`
	Signature      string `json:"signature"`
}

// PeriodVersion is the first line of a period report's signing input:
// fundledger-period-v2 since reports carry their Merkle tree head and the
// hash of the report before (PeriodVersionV1 before that).
const PeriodVersion = "fundledger-period-v2"

// PeriodVersionV1 is the first line of the signing input of period
// reports made before version 2: no tree_size, tree_root or
// prev_report_hash.
const PeriodVersionV1 = "fundledger-period-v1"

// PeriodReportHash is SHA-256 of a report's signing input (its version's):
// what the next report of its fund carries as prev_report_hash.
func PeriodReportHash(r *PeriodReport) []byte {
	sum := sha256.Sum256(PeriodSigningInput(r))
	return sum[:]
}

// PeriodSigningInput is the exact byte string signed for a period report:
// every published field but the signature, one per line-feed-terminated
// line, in the published order; each list as its length, then its entries
// field by field; reconciliation_seq empty when null. A report without a
// tree_size is a version 1 report and gets the version 1 input, so what
// was signed before version 2 still verifies. docs/audit.md specifies it.
func PeriodSigningInput(r *PeriodReport) []byte {
	var b strings.Builder
	line := func(v string) { b.WriteString(v); b.WriteByte('\n') }
	if r.TreeSize == nil {
		line(PeriodVersionV1)
	} else {
		line(PeriodVersion)
	}
	line(r.FundID)
	line(r.Period)
	line(r.ClosedBy)
	line(r.ApprovedBy)
	line(strconv.FormatBool(r.First))
	line(strconv.FormatInt(r.AsOfJournalSeq, 10))
	line(r.ChainHead)
	line(strconv.Itoa(len(r.Accounts)))
	for _, a := range r.Accounts {
		line(a.Account)
		line(a.Opening)
		line(a.Debits)
		line(a.Credits)
		line(a.Closing)
	}
	line(strconv.Itoa(len(r.Programs)))
	for _, p := range r.Programs {
		line(p.Program)
		line(p.Approved)
		line(p.Cancelled)
		line(p.Paid)
		line(p.Returned)
		line(p.Recovered)
		line(strconv.FormatInt(p.Beneficiaries, 10))
	}
	line(r.Contributions.Fiscal)
	line(r.Contributions.Donation)
	line(r.Contributions.Other)
	line(r.Allocations.In)
	line(r.Allocations.Out)
	line(strconv.Itoa(len(r.Adjustments)))
	for _, a := range r.Adjustments {
		line(strconv.FormatInt(a.JournalSeq, 10))
		line(a.Type)
		line(a.BusinessPeriod)
		line(a.Amount)
	}
	if r.ReconciliationSeq != nil {
		line(strconv.FormatInt(*r.ReconciliationSeq, 10))
	} else {
		line("")
	}
	if r.TreeSize != nil {
		line(strconv.FormatInt(*r.TreeSize, 10))
		line(r.TreeRoot)
		line(r.PrevReportHash)
	}
	line(r.KeyID)
	return []byte(b.String())
}

// JSON is the report as published and stored.
func (r *PeriodReport) JSON() []byte {
	b, err := json.Marshal(r)
	if err != nil { // strings, ints and bools only
		panic("ledger: period report does not encode: " + err.Error())
	}
	return b
}

// PeriodChanges is what a unit of work did to the period records, for the
// store to write.
type PeriodChanges struct {
	Figures       []Figure // one per key, this unit of work's additions
	Beneficiaries []BeneficiaryKey
	Adjustments   []*PeriodAdjustment
	Allocations   []*PeriodAllocation
	Reports       []*PeriodReport
	Closed        []*Fund // funds whose PeriodState changed
}

// PeriodChanges lists the period records created or changed, in a stable
// order.
func (b *Books) PeriodChanges() PeriodChanges {
	w := &b.periods
	c := PeriodChanges{Beneficiaries: w.benList, Adjustments: w.adjustments, Allocations: w.allocations,
		Reports: w.reports, Closed: w.closed}
	for k, v := range w.figures {
		c.Figures = append(c.Figures, Figure{k, v})
	}
	sort.Slice(c.Figures, func(i, j int) bool {
		x, y := c.Figures[i].FigureKey, c.Figures[j].FigureKey
		if x.FundID != y.FundID {
			return x.FundID < y.FundID
		}
		if x.Period != y.Period {
			return x.Period < y.Period
		}
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		return x.Name < y.Name
	})
	return c
}

// finishPeriods queues the period reports for publishing.
func (in *intake) finishPeriods() {
	for _, r := range in.books.periods.reports {
		in.out.Outbox = append(in.out.Outbox, Outbound{Subject: events.PeriodSubject(r.FundID),
			MsgID: events.PeriodMsgID(r.FundID, r.Period), Payload: r.JSON()})
	}
}

// ParsePeriodReport reads a stored or published period report.
func ParsePeriodReport(body []byte) (*PeriodReport, error) {
	var r PeriodReport
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("period report: %w", err)
	}
	return &r, nil
}
