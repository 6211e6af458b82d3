package service_test

import (
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
)

func openFund(l *testenv.Ledger, fund string, programs ...map[string]any) {
	if programs == nil {
		programs = []map[string]any{{"code": "care_fund", "annual_cap_per_beneficiary": "5000.00"}, {"code": "pension_subsidy"}}
	}
	l.Event(fund, "fund.opened", map[string]any{"fund_id": fund, "name": "Care fund " + fund, "currency": "CNY", "programs": programs})
}

func contribute(l *testenv.Ledger, fund, id, amount string) string {
	return l.Event(fund, "contribution.received", map[string]any{"contribution_id": id, "source_kind": "fiscal",
		"payer": "District finance bureau", "amount": amount, "bank_ref": "BR-" + id, "received_on": "2026-01-05"})
}

func grant(l *testenv.Ledger, fund, id, ben, amount, on string) string {
	return l.Event(fund, "grant.approved", map[string]any{"grant_id": id, "beneficiary_ref": ben, "program": "care_fund",
		"category": "medical", "amount": amount, "requested_by": "caseworker-1", "approved_by": "officer-7", "approved_on": on})
}

func TestSmokeGrantLifecycle(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	openFund(l, "jiangjin-care")
	contribute(l, "jiangjin-care", "c-1", "10000.00")
	grant(l, "jiangjin-care", "g-1", "ben-1", "1250.00", "2026-03-02")
	l.Event("jiangjin-care", "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "1000.00", "bank_ref": "B1", "paid_on": "2026-03-03"})
	l.WaitIdle()
	for acct, want := range map[string]string{"cash": "9000.00", "grants_payable": "250.00", "grant_expense:care_fund": "1250.00", "contributions:fiscal": "10000.00"} {
		if got := l.Balance("jiangjin-care", acct); got != want {
			t.Errorf("%s = %s, want %s", acct, got, want)
		}
	}
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("unexpected rejections: %+v", r)
	}
	if n := l.Count(`SELECT count(*) FROM journal WHERE fund_id = 'jiangjin-care'`); n != 3 {
		t.Fatalf("journal has %d transactions, want 3", n)
	}
}
