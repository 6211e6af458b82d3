package workload

import (
	"encoding/json"
	"fmt"

	"github.com/fundledger/fundledger/events"
)

// bad emits one bad event about fund f, of a kind drawn at random; a kind
// that needs something the fund does not have yet (a cancelled grant, say)
// gives its turn to the next kind.
func (g *gen) bad(f *fund, t int) error {
	first := g.r.IntN(len(BadKinds))
	for i := range BadKinds {
		k := BadKinds[(first+i)%len(BadKinds)]
		m, ok, err := g.badMsg(f, k.Kind, t)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		m.Want, m.Kind = k.Code, "bad:"+k.Kind
		g.exp.Bad++
		g.exp.Rejections[k.Code]++
		return g.send(m)
	}
	return nil
}

// probe is a fresh, valid care-fund approval for f that a bad event then
// spoils in one way. Its grant id is of its own series, so no good event
// ever takes it.
func (g *gen) probe(f *fund, t int) dGrant {
	req, appr := g.people(f)
	return dGrant{GrantID: fmt.Sprintf("%s-cf-%s-x%04d", f.short, g.yyyymm(), f.next("x"+g.yyyymm())),
		BeneficiaryRef: fmt.Sprintf("%s-b-%06d", f.short, g.r.IntN(f.benPool)), Program: "care_fund",
		Category: g.pick(categories), Amount: money(yuan(500 + int64(g.r.IntN(30))*100)),
		RequestedBy: req, ApprovedBy: appr, ApprovedOn: g.date(t)}
}

// recentOpen is a recent single grant of f that is approved and not
// cancelled.
func (g *gen) recentOpen(f *fund) *grant {
	for i := 0; i < 4 && len(f.recent) > 0; i++ {
		gr := f.recent[g.r.IntN(len(f.recent))]
		if gr.applied && !gr.closed {
			return gr
		}
	}
	return nil
}

func (g *gen) badMsg(f *fund, kind string, t int) (Msg, bool, error) {
	approvals := "approvals/" + f.short
	payments := "payments/" + f.short
	grantMsg := func(fundID string, data any) (Msg, bool, error) {
		m, err := g.envelope(fundID, events.TypeGrantApproved, approvals, data, t)
		return m, err == nil, err
	}
	switch kind {
	case "malformed_json":
		m, err := g.envelope(f.id, events.TypeGrantApproved, approvals, g.probe(f, t), t)
		if err != nil {
			return m, false, err
		}
		m.Data = m.Data[:len(m.Data)*3/5] // cut off in transit
		return m, true, nil
	case "unknown_type":
		d := map[string]any{"grant_id": g.probe(f, t).GrantID, "suspended_by": fmt.Sprintf("officer-%s-01", f.short), "reason": "under review"}
		m, err := g.envelope(f.id, "grant.suspended", approvals, d, t)
		return m, err == nil, err
	case "amount_number":
		d := g.probe(f, t).asMap()
		d["amount"] = json.Number("1500.00")
		return grantMsg(f.id, d)
	case "amount_3_decimals":
		d := g.probe(f, t)
		d.Amount = "1500.005"
		return grantMsg(f.id, d)
	case "amount_zero":
		d := g.probe(f, t)
		d.Amount = "0.00"
		return grantMsg(f.id, d)
	case "amount_huge":
		d := g.probe(f, t)
		d.Amount = "1000000000000.00"
		return grantMsg(f.id, d)
	case "missing_field":
		if g.r.IntN(2) == 0 {
			d := g.probe(f, t).asMap()
			delete(d, "beneficiary_ref")
			return grantMsg(f.id, d)
		}
		gr := g.recentOpen(f)
		if gr == nil {
			return Msg{}, false, nil
		}
		d := dDisbursed{GrantID: gr.id, PaymentID: fmt.Sprintf("%s-pay-%s-x%04d", f.short, g.yyyymm(), f.next("xp"+g.yyyymm())),
			Amount: "100.00", BankRef: "", PaidOn: g.date(t)}
		m, err := g.envelope(f.id, events.TypeGrantDisbursed, payments, d, t)
		return m, err == nil, err
	case "bad_date":
		d := g.probe(f, t)
		d.ApprovedOn = fmt.Sprintf("%d-02-30", g.start.Year())
		return grantMsg(f.id, d)
	case "same_maker_checker":
		d := g.probe(f, t)
		d.RequestedBy = d.ApprovedBy
		return grantMsg(f.id, d)
	case "unknown_program":
		d := g.probe(f, t)
		d.Program = "lottery_bonus"
		return grantMsg(f.id, d)
	case "cap_exceeded":
		d := g.probe(f, t)
		used := f.usage[usageKey("care_fund", d.BeneficiaryRef, g.start.Year())]
		d.Amount = money(f.caps["care_fund"] - used + yuan(100+int64(g.r.IntN(20))*100))
		return grantMsg(f.id, d)
	case "insufficient_funds":
		if len(g.dists) > 0 && g.r.IntN(2) == 0 {
			to := g.city
			if f.city {
				to = g.dists[g.r.IntN(len(g.dists))]
			}
			d := dAllocation{AllocationID: fmt.Sprintf("%s-a-%s-x%03d", f.short, g.yyyymm(), f.next("xa"+g.yyyymm())),
				ToFundID: to.id, Amount: money(f.available() + yuan(1000000)), ApprovedBy: fmt.Sprintf("officer-%s-01", f.short)}
			m, err := g.envelope(f.id, events.TypeAllocationApproved, approvals, d, t)
			return m, err == nil, err
		}
		d := g.probe(f, t)
		d.Program, d.Category = "medical_aid", "medical"
		d.Amount = money(f.available() + yuan(1000000))
		return grantMsg(f.id, d)
	case "unknown_fund":
		d := g.probe(f, t)
		m, err := g.envelope(UnknownFundID, events.TypeGrantApproved, "approvals/liangjiang", d, t)
		return m, err == nil, err
	case "fund_exists":
		m, err := g.envelope(f.id, events.TypeFundOpened, "registry/"+f.short, f.opened, t)
		return m, err == nil, err
	case "duplicate_id":
		if len(f.recent) == 0 {
			return Msg{}, false, nil
		}
		gr := f.recent[g.r.IntN(len(f.recent))]
		d := gr.data
		d.Amount = money(gr.approved + yuan(100))
		return grantMsg(f.id, d)
	case "exceeds_outstanding":
		gr := g.recentOpen(f)
		if gr == nil {
			return Msg{}, false, nil
		}
		d := dDisbursed{GrantID: gr.id, PaymentID: fmt.Sprintf("%s-pay-%s-x%04d", f.short, g.yyyymm(), f.next("xp"+g.yyyymm())),
			Amount: money(gr.outstanding() + yuan(100)), BankRef: g.bankRef(), PaidOn: g.date(t)}
		m, err := g.envelope(f.id, events.TypeGrantDisbursed, payments, d, t)
		return m, err == nil, err
	case "grant_closed":
		if len(f.cancelled) == 0 {
			return Msg{}, false, nil
		}
		gr := f.cancelled[g.r.IntN(len(f.cancelled))]
		if g.r.IntN(2) == 0 {
			d := dCancelled{GrantID: gr.id, CancelledBy: fmt.Sprintf("officer-%s-02", f.short), Reason: "cancelled again by mistake"}
			m, err := g.envelope(f.id, events.TypeGrantCancelled, approvals, d, t)
			return m, err == nil, err
		}
		d := dDisbursed{GrantID: gr.id, PaymentID: fmt.Sprintf("%s-pay-%s-x%04d", f.short, g.yyyymm(), f.next("xp"+g.yyyymm())),
			Amount: "100.00", BankRef: g.bankRef(), PaidOn: g.date(t)}
		m, err := g.envelope(f.id, events.TypeGrantDisbursed, payments, d, t)
		return m, err == nil, err
	case "unknown_grant":
		// A payment for a grant that never comes: held, then refused
		// when the hold window passes.
		d := dDisbursed{GrantID: fmt.Sprintf("%s-cf-%s-ghost%03d", f.short, g.yyyymm(), f.next("ghost"+g.yyyymm())),
			PaymentID: fmt.Sprintf("%s-pay-%s-x%04d", f.short, g.yyyymm(), f.next("xp"+g.yyyymm())),
			Amount:    money(yuan(800)), BankRef: g.bankRef(), PaidOn: g.date(t)}
		m, err := g.envelope(f.id, events.TypeGrantDisbursed, payments, d, t)
		return m, err == nil, err
	case "unknown_payment":
		gr := g.recentOpen(f)
		if gr == nil {
			return Msg{}, false, nil
		}
		d := dReturned{GrantID: gr.id, PaymentID: fmt.Sprintf("%s-pay-%s-ghost%03d", f.short, g.yyyymm(), f.next("xg"+g.yyyymm())),
			Amount: "100.00", Reason: g.pick(returnReasons)}
		m, err := g.envelope(f.id, events.TypePaymentReturned, payments, d, t)
		return m, err == nil, err
	}
	return Msg{}, false, fmt.Errorf("workload: unknown bad kind %q", kind)
}

// tooLarge sends a batch of 10,001 lines, one more than the contract
// allows.
func (g *gen) tooLarge(f *fund, t int) error {
	req, appr := g.people(f)
	d := dBatch{BatchID: fmt.Sprintf("%s-ps-%s-x%02d", f.short, g.yyyymm(), f.next("xb"+g.yyyymm())), Program: "pension_subsidy",
		RequestedBy: req, ApprovedBy: appr, ApprovedOn: g.date(t)}
	for i := 0; i <= events.MaxBatchLines; i++ {
		d.Lines = append(d.Lines, dLine{GrantID: fmt.Sprintf("%s-ps-%s-x%05d", f.short, g.yyyymm(), i+1),
			BeneficiaryRef: fmt.Sprintf("%s-p-%06d", f.short, i), Category: "living", Amount: "1800.00"})
	}
	m, err := g.envelope(f.id, events.TypeGrantBatchApproved, "approvals/"+f.short, d, t)
	if err != nil {
		return err
	}
	m.Want, m.Kind = events.TooLarge, "bad:too_large"
	g.exp.Bad++
	g.exp.Rejections[events.TooLarge]++
	return g.send(m)
}
