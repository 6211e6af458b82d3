package workload

import (
	"fmt"

	"github.com/fundledger/fundledger/events"
)

// Month-end closes (CONTRACT.md section 11), with Config.MonthCloses.

type dPeriodClosed struct {
	Period     string `json:"period"`
	ClosedBy   string `json:"closed_by"`
	ApprovedBy string `json:"approved_by"`
}

// latePayment is a single grant's payment made in one month whose advice
// reaches the ledger only after that month was closed: it is published
// after the close, dated on its own day, and becomes a prior-period
// adjustment of the next open month.
type latePayment struct {
	gr     *grant
	paidOn string
}

// deferLate decides, with MonthCloses, whether the payment of gr planned
// at tP is one of those late ones (about 1 in 100, never in the stream's
// last month, which is not closed in it). It draws from the stream's
// random numbers only with MonthCloses, so other streams are unchanged.
func (g *gen) deferLate(gr *grant, tP int) bool {
	if !g.cfg.MonthCloses || g.month >= g.cfg.Months-1 || g.r.IntN(100) != 0 {
		return false
	}
	g.late = append(g.late, latePayment{gr: gr, paidOn: g.date(tP)})
	return true
}

// closePrevious closes every fund's previous month on the first working
// day of this one (the month's money is in; its business not yet begun),
// four eyes, then publishes the previous month's late payments.
func (g *gen) closePrevious(t int) error {
	if !g.cfg.MonthCloses || g.month == 0 {
		return nil
	}
	period := g.start.AddDate(0, -1, 0).Format(events.PeriodLayout)
	for _, f := range g.funds {
		d := dPeriodClosed{Period: period, ClosedBy: "accountant-" + f.short, ApprovedBy: "director-" + f.short}
		if err := g.good(f, events.TypePeriodClosed, "finance/"+f.short, d, t, false); err != nil {
			return err
		}
	}
	late := g.late
	g.late = nil
	for _, l := range late {
		gr := l.gr
		amount := gr.outstanding()
		if !gr.applied || gr.closed || amount <= 0 {
			continue
		}
		f := gr.f
		p := &payment{id: fmt.Sprintf("%s-pay-%s-%06d", f.short, g.yyyymm(), f.next("p"+g.yyyymm())), amount: amount}
		gr.payments = append(gr.payments, p)
		gr.paid += amount
		f.payable -= amount
		f.cash -= amount
		g.exp.Txns++
		g.exp.LatePayments++
		d := dDisbursed{GrantID: gr.id, PaymentID: p.id, Amount: money(amount), BankRef: g.bankRef(), PaidOn: l.paidOn}
		if err := g.good(f, events.TypeGrantDisbursed, "payments/"+f.short, d, t+1, true); err != nil {
			return err
		}
	}
	return nil
}
