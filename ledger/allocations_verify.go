package ledger

import (
	"fmt"
	"sort"

	"github.com/shopspring/decimal"
)

// An allocation posts one transaction in each of two funds, from one
// event (CONTRACT.md section 3): the giving fund's Dr allocations:out /
// Cr cash, naming to_fund_id, and the receiving fund's Dr cash / Cr
// allocations:in, naming from_fund_id, both with the allocation_id.
// Each fund's chain proves its own leg; only looking at both proves that
// money that left one fund arrived in the other. verify collects the legs
// while it reads each journal and matches them at the end.

// AllocationLeg is one fund's transaction of an allocation.
type AllocationLeg struct {
	FundID       string
	Seq          int64
	EventID      string
	AllocationID string
	// Out is the giving fund's leg (it names to_fund_id); Counterparty is
	// the other fund.
	Out          bool
	Counterparty string
	// Amount is what the leg moved on its allocations account, on that
	// account's side (debit for out, credit for in); Wrong says the leg
	// posted to its allocations account on the other side, or not at all.
	Amount decimal.Decimal
	Wrong  string
}

// allocationLeg records t as a leg when it is an allocation's.
func (v *Verifier) allocationLeg(t *Txn, refs []Ref) {
	if leg, ok := LegOf(v.fundID, t, refs); ok {
		v.legs = append(v.legs, leg)
	}
}

// LegOf is t's allocation leg, if t is an allocation's transaction in
// fund (refs in any order).
func LegOf(fund string, t *Txn, refs []Ref) (AllocationLeg, bool) {
	if t.Type != "allocation.approved" {
		return AllocationLeg{}, false
	}
	leg := AllocationLeg{FundID: fund, Seq: t.Seq, EventID: t.EventID}
	var to, from string
	for _, r := range refs {
		switch r.Key {
		case "allocation_id":
			leg.AllocationID = r.Value
		case "to_fund_id":
			to = r.Value
		case "from_fund_id":
			from = r.Value
		}
	}
	account, side := AccountAllocIn, Credit
	switch {
	case to != "" && from == "":
		leg.Out, leg.Counterparty = true, to
		account, side = AccountAllocOut, Debit
	case from != "" && to == "":
		leg.Counterparty = from
	default:
		leg.Wrong = "it names neither one of to_fund_id and from_fund_id"
	}
	for _, p := range t.Postings {
		if p.Account == AccountAllocIn || p.Account == AccountAllocOut {
			if p.Account != account || p.Side != side {
				leg.Wrong = fmt.Sprintf("it posts %s on %s", p.Side, p.Account)
			}
			leg.Amount = leg.Amount.Add(p.Amount)
		}
	}
	if leg.Amount.IsZero() && leg.Wrong == "" {
		leg.Wrong = "it posts nothing to " + account
	}
	return leg, true
}

// AllocationLegs are the legs read from the fund's journal.
func (v *Verifier) AllocationLegs() []AllocationLeg { return v.legs }

// CheckAllocations matches the legs of allocations: every leg must have
// exactly one leg in its counterparty fund with the same allocation id
// and event, the opposite direction and the same amount. legs are those
// of the funds verified and the counterparts the store looked up for
// them in funds it did not verify (by event id); a counterpart given
// twice counts once. Problems are in fund and seq order.
func CheckAllocations(legs []AllocationLeg) []Problem {
	type key struct{ giver, receiver, id string }
	keyOf := func(l AllocationLeg) key {
		if l.Out {
			return key{l.FundID, l.Counterparty, l.AllocationID}
		}
		return key{l.Counterparty, l.FundID, l.AllocationID}
	}
	by := map[key][]AllocationLeg{}
	for _, l := range legs {
		by[keyOf(l)] = append(by[keyOf(l)], l)
	}
	var out []Problem
	bad := func(l AllocationLeg, format string, args ...any) {
		out = append(out, Problem{FundID: l.FundID, Seq: l.Seq, Kind: ProblemAllocation,
			Message: fmt.Sprintf("allocation %s: ", l.AllocationID) + fmt.Sprintf(format, args...)})
	}
	seen := map[[2]any]bool{}
	for _, l := range legs {
		if seen[[2]any{l.FundID, l.Seq}] {
			continue // a counterpart looked up for a fund that was also read
		}
		seen[[2]any{l.FundID, l.Seq}] = true
		if l.Wrong != "" {
			bad(l, "the transaction is not a well-formed allocation leg: %s", l.Wrong)
			continue
		}
		var ins, outs []AllocationLeg
		dup := map[[2]any]bool{}
		for _, o := range by[keyOf(l)] {
			if dup[[2]any{o.FundID, o.Seq}] {
				continue
			}
			dup[[2]any{o.FundID, o.Seq}] = true
			if o.Out {
				outs = append(outs, o)
			} else {
				ins = append(ins, o)
			}
		}
		other, dir := ins, "receiving"
		mine := outs
		if !l.Out {
			other, dir, mine = outs, "giving", ins
		}
		switch {
		case len(mine) > 1:
			bad(l, "fund %s has %d legs of it", l.FundID, len(mine))
		case len(other) == 0:
			bad(l, "the %s fund %s has no transaction of it: the other leg is missing", dir, l.Counterparty)
		case len(other) > 1:
			bad(l, "the %s fund %s has %d transactions of it", dir, l.Counterparty, len(other))
		case !other[0].Amount.Equal(l.Amount):
			bad(l, "%s here, but %s in fund %s (seq %d)", Money(l.Amount), Money(other[0].Amount), l.Counterparty, other[0].Seq)
		case other[0].EventID != l.EventID:
			bad(l, "posted by event %s here, but by %s in fund %s (seq %d)", l.EventID, other[0].EventID, l.Counterparty, other[0].Seq)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].FundID != out[j].FundID {
			return out[i].FundID < out[j].FundID
		}
		return out[i].Seq < out[j].Seq
	})
	return out
}
