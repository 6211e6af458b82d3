package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// Funds of the books built by buildBooks.
const (
	cityFund     = "city-care"
	districtFund = "jiangjin-care"
)

// buildBooks runs a realistic stream through a real ledger: two funds, an
// allocation between them, contributions, single and batch grants,
// disbursements, a return, a cancellation, a recovery, and a snapshot every
// 4 transactions plus one requested at the end. It returns the ledger once
// everything is posted and published.
func buildBooks(t *testing.T) *testenv.Ledger {
	t.Helper()
	l := testenv.Start(t, testenv.Options{SnapshotEvery: 4})
	programs := []map[string]any{{"code": "care_fund", "annual_cap_per_beneficiary": "5000.00"}, {"code": "pension_subsidy"}}
	for _, f := range []string{cityFund, districtFund} {
		l.Event(f, "fund.opened", map[string]any{"fund_id": f, "name": "Care fund " + f, "currency": "CNY", "programs": programs})
	}
	contribute := func(fund, id, kind, amount string) {
		l.Event(fund, "contribution.received", map[string]any{"contribution_id": id, "source_kind": kind,
			"payer": "District finance bureau", "amount": amount, "bank_ref": "BR-" + id, "received_on": "2026-01-05"})
	}
	grant := func(fund, id, ben, amount string) {
		l.Event(fund, "grant.approved", map[string]any{"grant_id": id, "beneficiary_ref": ben, "program": "care_fund",
			"category": "medical", "amount": amount, "requested_by": "caseworker-1", "approved_by": "officer-7", "approved_on": "2026-03-02"})
	}
	pay := func(fund, grant, payment, amount string) {
		l.Event(fund, "grant.disbursed", map[string]any{"grant_id": grant, "payment_id": payment, "amount": amount,
			"bank_ref": "BK-" + payment, "paid_on": "2026-03-03"})
	}
	contribute(cityFund, "c-1", "fiscal", "200000.00")
	contribute(districtFund, "c-1", "fiscal", "20000.00")
	contribute(districtFund, "c-2", "donation", "8000.50")
	l.Event(cityFund, "allocation.approved", map[string]any{"allocation_id": "a-1", "to_fund_id": districtFund,
		"amount": "50000.00", "approved_by": "city-officer-2"})
	grant(districtFund, "g-1", "ben-1", "1250.00")
	grant(districtFund, "g-2", "ben-2", "3000.00")
	grant(districtFund, "g-3", "ben-3", "700.00")
	pay(districtFund, "g-1", "p-1", "1000.00")
	pay(districtFund, "g-2", "p-2", "3000.00")
	l.Event(districtFund, "payment.returned", map[string]any{"grant_id": "g-2", "payment_id": "p-2", "amount": "500.00", "reason": "account closed"})
	l.Event(districtFund, "grant.cancelled", map[string]any{"grant_id": "g-3", "cancelled_by": "officer-7", "reason": "duplicate application"})
	l.Event(districtFund, "grant.recovered", map[string]any{"grant_id": "g-1", "recovery_id": "r-1", "amount": "200.00",
		"bank_ref": "BR-r-1", "reason": "paid twice"})
	l.Event(districtFund, "grant.batch.approved", map[string]any{"batch_id": "b-1", "program": "pension_subsidy",
		"requested_by": "caseworker-2", "approved_by": "officer-7", "approved_on": "2026-03-05",
		"lines": []map[string]any{
			{"grant_id": "pg-1", "beneficiary_ref": "ben-10", "category": "living", "amount": "600.00"},
			{"grant_id": "pg-2", "beneficiary_ref": "ben-11", "category": "living", "amount": "600.00"},
			{"grant_id": "pg-3", "beneficiary_ref": "ben-12", "category": "living", "amount": "450.25"},
		}})
	pay(districtFund, "pg-1", "pp-1", "600.00")
	contribute(districtFund, "c-3", "other", "12.34")
	pay(districtFund, "pg-2", "pp-2", "300.00")
	l.Event(districtFund, "snapshot.requested", map[string]any{"requested_by": "auditor-1", "label": "2026-03"})
	l.WaitIdle()
	if r := l.Rejections(); len(r) != 0 {
		t.Fatalf("the book-building stream was refused: %+v", r)
	}
	return l
}

// journalLen is the number of transactions buildBooks posts to the
// district fund.
const journalLen = 17

func TestVerifyCleanBooks(t *testing.T) {
	l := buildBooks(t)
	ctx := context.Background()
	if n := l.Count(`SELECT count(*) FROM journal WHERE fund_id = $1`, districtFund); n != journalLen {
		t.Fatalf("district journal has %d transactions, want %d", n, journalLen)
	}
	var calls int
	var last [2]int64
	rep, err := l.Service.Store.Verify(ctx, districtFund, func(done, total int64) { calls++; last = [2]int64{done, total} })
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Problems) != 0 {
		t.Fatalf("clean books do not verify: %+v", rep.Problems)
	}
	if rep.CheckedTransactions != journalLen {
		t.Errorf("checked %d transactions, want %d", rep.CheckedTransactions, journalLen)
	}
	snaps := l.Count(`SELECT count(*) FROM snapshots WHERE fund_id = $1`, districtFund)
	if snaps < 4 || rep.CheckedSnapshots != snaps {
		t.Errorf("checked %d snapshots, the table has %d (want at least 4)", rep.CheckedSnapshots, snaps)
	}
	if calls == 0 || last != [2]int64{journalLen, journalLen} {
		t.Errorf("progress: %d calls, last %v", calls, last)
	}
	var head string
	if err := l.DB.QueryRow(ctx, `SELECT encode(head_hash, 'hex') FROM funds WHERE fund_id = $1`, districtFund).Scan(&head); err != nil {
		t.Fatal(err)
	}
	if len(rep.Funds) != 1 || rep.Funds[0].ChainHead != head || rep.Funds[0].HeadSeq != journalLen {
		t.Errorf("fund summary %+v, want head %s at %d", rep.Funds, head, journalLen)
	}

	all, err := l.Service.Store.VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !all.OK || len(all.Funds) != 2 || all.CheckedTransactions != journalLen+2 {
		t.Fatalf("VerifyAll: ok %v, funds %+v, checked %d, problems %+v", all.OK, all.Funds, all.CheckedTransactions, all.Problems)
	}

	_, err = l.Service.Store.Verify(ctx, "no-such-fund", nil)
	if !errors.Is(err, ledger.ErrUnknownFund) {
		t.Fatalf("unknown fund: err = %v, want ErrUnknownFund", err)
	}

	keys, err := l.Service.Store.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pub := keys[l.Service.Signer.KeyID()]; len(keys) != 1 || !pub.Equal(l.Service.Signer.PublicKey()) {
		t.Fatalf("signing keys %v, want the service's key %s", keys, l.Service.Signer.KeyID())
	}
}

// TestVerifyJSONShape pins the report's JSON to CONTRACT.md section 7.
func TestVerifyJSONShape(t *testing.T) {
	rep := ledger.NewVerifyReport()
	b, _ := json.Marshal(rep)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ok", "checked_transactions", "problems"} {
		if _, ok := m[k]; !ok {
			t.Errorf("verify JSON %s lacks %q", b, k)
		}
	}
	if fmt.Sprint(m["problems"]) != "[]" {
		t.Errorf("problems of an OK report = %v, want []", m["problems"])
	}
}

// TestVerifyWhilePosting: verifications that run while the ledger posts
// see one state of the books (the journal, postings, snapshots and kept
// balances of one moment), so they never report a mismatch that is only
// a commit in between. It also runs on a pool of one connection.
func TestVerifyWhilePosting(t *testing.T) {
	l := testenv.Start(t, testenv.Options{SnapshotEvery: 7, BatchSize: 5})
	const f = "busy-care"
	l.Event(f, "fund.opened", map[string]any{"fund_id": f, "name": "Busy", "programs": []map[string]any{{"code": "care_fund"}}})
	l.WaitIdle()
	ctx := context.Background()
	small, err := postgres.Open(ctx, l.DBURL, postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	const n = 400
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			l.Event(f, "contribution.received", map[string]any{"contribution_id": fmt.Sprint("c-", i), "source_kind": "donation",
				"payer": "p", "amount": "1.25", "bank_ref": "b", "received_on": "2026-01-05"})
			time.Sleep(2 * time.Millisecond) // many small batches
		}
	}()
	runs, seen := 0, map[int64]bool{}
	for busy := true; busy; runs++ {
		select {
		case <-done:
			l.WaitIdle()
			busy = false
		default:
		}
		rep, err := small.Verify(ctx, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			t.Fatalf("verification %d while posting (%d transactions): %v", runs, rep.CheckedTransactions, rep.Problems)
		}
		seen[rep.CheckedTransactions] = true
	}
	if len(seen) < 3 || !seen[n] {
		t.Fatalf("%d verifications saw journal lengths %v; want several, ending at %d", runs, seen, n)
	}
}
