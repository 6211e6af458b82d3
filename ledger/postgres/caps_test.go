package postgres_test

import (
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
)

// TestCancelInALaterBatchReleasesCap: a cancellation committed in a later
// batch than its approval lowers the stored cap usage (a negative change
// to an existing row), and a new grant may then use what it released.
// INSERT ... ON CONFLICT refused this once: PostgreSQL checks the row's
// CHECK (used >= 0) before it finds the conflict.
func TestCancelInALaterBatchReleasesCap(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	const f = "caps-fund"
	l.Event(f, "fund.opened", map[string]any{"fund_id": f, "name": "Caps", "programs": []map[string]any{
		{"code": "care_fund", "annual_cap_per_beneficiary": "5000.00"}}})
	l.Event(f, "contribution.received", map[string]any{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "bureau",
		"amount": "20000.00", "bank_ref": "B", "received_on": "2026-01-05"})
	approve := func(id, amount string) string {
		return l.Event(f, "grant.approved", map[string]any{"grant_id": id, "beneficiary_ref": "ben-1", "program": "care_fund",
			"category": "medical", "amount": amount, "requested_by": "cw-1", "approved_by": "off-1", "approved_on": "2026-03-02"})
	}
	approve("g-1", "4000.00")
	l.WaitIdle()
	cancel := l.Event(f, "grant.cancelled", map[string]any{"grant_id": "g-1", "cancelled_by": "off-1", "reason": "withdrawn"})
	l.WaitIdle()
	if r := l.RejectionOf(cancel); r != nil {
		t.Fatalf("cancellation refused: %+v", r)
	}
	again := approve("g-2", "5000.00")
	l.WaitIdle()
	if r := l.RejectionOf(again); r != nil {
		t.Fatalf("a grant within the cap released by the cancellation was refused: %+v", r)
	}
	if n := l.Count(`SELECT count(*) FROM cap_usage WHERE fund_id = $1 AND used = 5000`, f); n != 1 {
		t.Fatalf("cap usage rows at 5000.00: %d, want 1", n)
	}
	if got := l.Balance(f, "grants_payable"); got != "5000.00" {
		t.Fatalf("grants_payable %s, want 5000.00", got)
	}
}
