package workload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fundledger/fundledger/events"
)

// The bank's side (CONTRACT.md section 10), with Config.BankStatements:
// the bank sees every cash movement of the stream's good events and, on
// the first working day of each month after the first, sends each fund
// the statement of the month before. A bank's bulk payment of a batch is
// one entry (its lines share a reference: rule reference_group); the last
// two days' payments are now and then not cleared until the next
// statement; the bank takes a fee and pays interest at the month's end,
// which the fund then books (bank.charge.recorded, four eyes, and a
// contribution of kind other), so they match in the next month's
// reconciliation.

type bankLine struct {
	on       time.Time // the date the books give it
	dir, ref string
	amount   int64 // cents
	bulk     bool  // a bulk payment, added to while its lines come
}

// bankSide is the bank's view of one fund's account.
type bankSide struct {
	pending []*bankLine
	bulk    map[string]*bankLine // open bulk payments by reference
	started bool
	start   time.Time // the next statement's period_start
	balance int64
	n       int // statements sent
	entries int
}

type dStatement struct {
	StatementID    string   `json:"statement_id"`
	BankAccount    string   `json:"bank_account"`
	PeriodStart    string   `json:"period_start"`
	PeriodEnd      string   `json:"period_end"`
	OpeningBalance string   `json:"opening_balance"`
	ClosingBalance string   `json:"closing_balance"`
	Entries        []dEntry `json:"entries"`
}

type dEntry struct {
	EntryRef    string `json:"entry_ref"`
	BookedOn    string `json:"booked_on"`
	Direction   string `json:"direction"`
	Amount      string `json:"amount"`
	BankRef     string `json:"bank_ref,omitempty"`
	Description string `json:"description,omitempty"`
}

type dCharge struct {
	ChargeID    string `json:"charge_id"`
	Amount      string `json:"amount"`
	BankRef     string `json:"bank_ref"`
	ChargedOn   string `json:"charged_on"`
	Description string `json:"description"`
	RequestedBy string `json:"requested_by"`
	ApprovedBy  string `json:"approved_by"`
}

// batchRef is the reference of a batch's payments: with BankStatements
// every line of a bulk payment carries the first line's, as a bank's
// payment file does; ref is the line's own (drawn either way, so the
// stream's other random numbers do not move).
func (g *gen) batchRef(first *string, ref string) string {
	if !g.cfg.BankStatements {
		return ref
	}
	if *first == "" {
		*first = ref
	}
	return *first
}

// noteBank records what a good event moves in the fund's bank account.
func (g *gen) noteBank(m Msg) {
	if !g.cfg.BankStatements || g.inExtra || m.Want != "" {
		return
	}
	switch m.Kind {
	case events.TypeContributionReceived, events.TypeAllocationApproved, events.TypeGrantDisbursed, events.TypePaymentReturned,
		events.TypeGrantRecovered, events.TypeBankChargeRecorded:
	default:
		return
	}
	var env struct {
		Time string
		Data map[string]any
	}
	if err := json.Unmarshal(m.Data, &env); err != nil {
		return
	}
	d := map[string]string{}
	for k, v := range env.Data {
		if s, ok := v.(string); ok {
			d[k] = s
		}
	}
	if m.Kind == events.TypeBankChargeRecorded || strings.HasPrefix(d["bank_ref"], "INT-") {
		return // the bank took the fee or paid the interest already: it is on its statement
	}
	fundID := strings.Split(m.Subject, ".")[1]
	on, _ := time.Parse(time.RFC3339, env.Time)
	for _, k := range []string{"received_on", "approved_on", "paid_on", "returned_on", "recovered_on", "charged_on"} {
		if v, err := time.Parse(time.DateOnly, d[k]); err == nil {
			on = v
			break
		}
	}
	on = time.Date(on.Year(), on.Month(), on.Day(), 0, 0, 0, 0, time.UTC)
	cents, err := parseCents(d["amount"])
	if err != nil {
		return
	}
	l := &bankLine{on: on, amount: cents, ref: d["bank_ref"]}
	switch m.Kind {
	case events.TypeContributionReceived, events.TypePaymentReturned, events.TypeGrantRecovered:
		l.dir = events.DirCredit
	case events.TypeAllocationApproved:
		l.dir = events.DirDebit
		g.bank(d["to_fund_id"]).add(&bankLine{on: on, amount: cents, dir: events.DirCredit})
	default:
		l.dir = events.DirDebit
	}
	b := g.bank(fundID)
	if m.Kind == events.TypeGrantDisbursed {
		if open := b.bulk[l.ref]; open != nil && open.on.Equal(on) {
			open.amount += cents
			return
		}
		b.bulk[l.ref] = l
	}
	b.add(l)
}

func (b *bankSide) add(l *bankLine) { b.pending = append(b.pending, l) }

func (g *gen) bank(fundID string) *bankSide {
	if g.banks == nil {
		g.banks = map[string]*bankSide{}
	}
	b := g.banks[fundID]
	if b == nil {
		b = &bankSide{bulk: map[string]*bankLine{}}
		g.banks[fundID] = b
	}
	return b
}

func parseCents(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	frac = (frac + "00")[:2]
	f, err := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, err
}

// bankStatements sends every fund the statement of the month before, then
// books the month's fee and interest it shows.
func (g *gen) bankStatements(t int) error {
	if !g.cfg.BankStatements || g.month == 0 {
		return nil
	}
	first := time.Date(g.cfg.Year, g.start.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	if g.month == 1 {
		first = time.Date(g.cfg.Year, time.Month(1), 1, 0, 0, 0, 0, time.UTC)
	}
	end := time.Date(g.start.Year(), g.start.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	for _, f := range g.funds {
		b := g.bank(f.id)
		if !b.started {
			b.start, b.started = first, true
		}
		yyyymm := end.Format("200601")
		fee := int64(1000 + g.r.IntN(2000))
		interest := int64(1 + g.r.IntN(5000))
		after := b.balance + interest
		for _, l := range b.pending {
			if l.dir == events.DirCredit {
				after += l.amount
			} else {
				after -= l.amount
			}
		}
		if after < fee { // an account the bank would not overdraw for its fee
			fee = 0
		}
		b.pending = append(b.pending,
			&bankLine{on: end, dir: events.DirCredit, amount: interest, ref: "INT-" + f.short + "-" + yyyymm},
			&bankLine{on: end, dir: events.DirDebit, amount: fee, ref: "FEE-" + f.short + "-" + yyyymm})
		var keep []*bankLine
		d := dStatement{StatementID: f.short + "-stmt-" + yyyymm, BankAccount: "ICBC-CQ-" + strings.ToUpper(f.short),
			PeriodStart: b.start.Format(time.DateOnly), PeriodEnd: end.Format(time.DateOnly), OpeningBalance: money(b.balance),
			Entries: []dEntry{}}
		for _, l := range b.pending {
			if l.amount <= 0 {
				continue
			}
			// A payment of the month's last two days is now and then not
			// cleared until the next statement.
			if l.on.After(end) || (l.dir == events.DirDebit && !l.on.Before(end.AddDate(0, 0, -1)) && !strings.HasPrefix(l.ref, "FEE-") && g.r.IntN(3) == 0) {
				keep = append(keep, l)
				continue
			}
			on := l.on
			if on.Before(b.start) {
				on = b.start
			}
			b.entries++
			e := dEntry{EntryRef: fmt.Sprintf("%s-%s-%06d", f.short, yyyymm, b.entries), BookedOn: on.Format(time.DateOnly),
				Direction: l.dir, Amount: money(l.amount), BankRef: l.ref}
			switch {
			case strings.HasPrefix(l.ref, "FEE-"):
				e.Description = "账户管理费"
			case strings.HasPrefix(l.ref, "INT-"):
				e.Description = "利息"
			}
			if l.dir == events.DirCredit {
				b.balance += l.amount
			} else {
				b.balance -= l.amount
			}
			d.Entries = append(d.Entries, e)
		}
		b.pending, b.bulk = keep, map[string]*bankLine{}
		for _, l := range keep {
			if l.on.After(end) {
				continue
			}
			l.on = end.AddDate(0, 0, 1) // cleared on the next statement's first day
		}
		d.ClosingBalance = money(b.balance)
		b.start = end.AddDate(0, 0, 1)
		b.n++
		if err := g.good(f, events.TypeBankStatementReceived, "bank/icbc-cq", d, t, true); err != nil {
			return err
		}
		g.exp.Statements++
		// The fund books what the statement showed it.
		if interest > 0 {
			f.cash += interest
			g.exp.Txns++
			c := dContribution{ContributionID: "INT-" + f.short + "-" + yyyymm, SourceKind: "other", Payer: "中国工商银行 利息",
				Amount: money(interest), BankRef: "INT-" + f.short + "-" + yyyymm, ReceivedOn: g.date(t)}
			if err := g.good(f, events.TypeContributionReceived, "finance/"+f.short, c, t, true); err != nil {
				return err
			}
		}
		if fee > 0 && f.available() >= fee {
			f.cash -= fee
			g.exp.Txns++
			c := dCharge{ChargeID: "FEE-" + f.short + "-" + yyyymm, Amount: money(fee), BankRef: "FEE-" + f.short + "-" + yyyymm,
				ChargedOn: g.date(t), Description: "账户管理费", RequestedBy: "cashier-" + f.short, ApprovedBy: "accountant-" + f.short}
			if err := g.good(f, events.TypeBankChargeRecorded, "finance/"+f.short, c, t, true); err != nil {
				return err
			}
		}
	}
	return nil
}
