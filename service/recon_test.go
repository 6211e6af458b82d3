package service_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
)

func bankEntry(ref, on, dir, amount, bankRef string) map[string]any {
	e := map[string]any{"entry_ref": ref, "booked_on": on, "direction": dir, "amount": amount}
	if bankRef != "" {
		e["bank_ref"] = bankRef
	}
	return e
}

func statement(l *testenv.Ledger, fund, id, start, end, opening, closing string, entries ...map[string]any) string {
	es := make([]any, len(entries))
	for i, e := range entries {
		es[i] = e
	}
	return l.Event(fund, "bank.statement.received", map[string]any{"statement_id": id, "bank_account": "ICBC-3100-0001",
		"period_start": start, "period_end": end, "opening_balance": opening, "closing_balance": closing, "entries": es})
}

// storedRecons reads the fund's reconciliation reports as stored, and
// checks each is what LEDGER_OUT carried on ledger.<fund>.reconciliation,
// byte for byte.
func storedRecons(t *testing.T, l *testenv.Ledger, fund string) []ledger.Reconciliation {
	t.Helper()
	rows, err := l.DB.Query(context.Background(), `SELECT published FROM reconciliations WHERE fund_id = $1 ORDER BY recon_seq`, fund)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var bodies [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	msgs := outMessages(t, l, "ledger."+fund+".reconciliation")
	if len(msgs) != len(bodies) {
		t.Fatalf("%d reports stored, %d published", len(bodies), len(msgs))
	}
	var out []ledger.Reconciliation
	for i, b := range bodies {
		if string(msgs[i].Data()) != string(b) {
			t.Fatalf("report %d published as %s, stored as %s", i+1, msgs[i].Data(), b)
		}
		var r ledger.Reconciliation
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestBankReconciliationStored runs statements, a bank charge and a
// request through JetStream and PostgreSQL: matches made in one batch stay
// made in the next, the reports are stored and published once each, and
// a refused statement is refused with its code.
func TestBankReconciliationStored(t *testing.T) {
	l := testenv.Start(t, testenv.Options{})
	const f = "recon"
	openFund(l, f)
	contribute(l, f, "c-1", "10000.00") // BR-c-1, 2026-01-05
	grant(l, f, "g-1", "ben-1", "3000.00", "2026-01-02")
	l.Event(f, "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-1", "amount": "1000.00", "bank_ref": "BULK-7", "paid_on": "2026-01-10"})
	l.Event(f, "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-2", "amount": "500.00", "bank_ref": "BULK-7", "paid_on": "2026-01-10"})
	l.Event(f, "bank.charge.recorded", map[string]any{"charge_id": "fee-1", "amount": "12.00", "bank_ref": "FEE-1", "charged_on": "2026-01-31",
		"description": "account fee", "requested_by": "clerk", "approved_by": "officer"})
	l.WaitIdle()
	// The statement also carries a payment the books do not have yet.
	statement(l, f, "S1", "2026-01-01", "2026-01-31", "0", "8288.00",
		bankEntry("E1", "2026-01-05", "credit", "10000.00", "BR-c-1"),
		bankEntry("E2", "2026-01-11", "debit", "1500.00", "BULK-7"),
		bankEntry("E3", "2026-01-31", "debit", "12.00", "FEE-1"),
		bankEntry("E4", "2026-01-30", "debit", "200.00", ""))
	bad := statement(l, f, "S2", "2026-02-03", "2026-02-28", "8288.00", "8288.00")
	l.WaitIdle()
	if r := l.RejectionOf(bad); r == nil || r.Code != "statement_gap" {
		t.Fatalf("a statement leaving a gap: %+v", r)
	}
	if got := l.Balance(f, "expenses:bank_charges"); got != "12.00" {
		t.Fatalf("expenses:bank_charges %s", got)
	}
	rs := storedRecons(t, l, f)
	if len(rs) != 1 || rs[0].Matched.Count != 3 || len(rs[0].UnmatchedBank) != 1 || rs[0].UnmatchedBank[0].EntryRef != "E4" ||
		rs[0].AdjustedBookBalance != "8288.00" || rs[0].BankBalance != "8288.00" || rs[0].BookBalance != "8488.00" || !rs[0].Reconciled {
		t.Fatalf("report 1: %+v", rs)
	}
	// The late payment arrives; the next request matches it by amount and
	// date (no reference on the bank's side).
	l.Event(f, "grant.disbursed", map[string]any{"grant_id": "g-1", "payment_id": "p-3", "amount": "200.00", "bank_ref": "P-3", "paid_on": "2026-01-29"})
	l.Event(f, "reconciliation.requested", map[string]any{"requested_by": "auditor"})
	l.WaitIdle()
	rs = storedRecons(t, l, f)
	if len(rs) != 2 || rs[1].Matched.Count != 4 || len(rs[1].UnmatchedBank)+len(rs[1].UnmatchedBook) != 0 || rs[1].BookBalance != "8288.00" {
		t.Fatalf("report 2: %+v", rs[len(rs)-1])
	}
	if n := l.Count(`SELECT count(*) FROM recon_matches WHERE fund_id = $1`, f); n != 5 { // a group of two
		t.Fatalf("%d book items matched, want 5", n)
	}
	if n := l.Count(`SELECT count(*) FROM bank_entries WHERE fund_id = $1 AND match_id IS NULL`, f); n != 0 {
		t.Fatalf("%d entries left unmatched", n)
	}
	if n := l.Count(`SELECT count(*) FROM recon_book_open WHERE fund_id = $1`, f); n != 0 {
		t.Fatalf("%d book items left open", n)
	}
	// A match is never undone, even by hand.
	if _, err := l.DB.Exec(context.Background(), `UPDATE bank_entries SET match_id = NULL WHERE fund_id = $1`, f); err == nil {
		t.Fatal("the database let a match be undone")
	}
}
