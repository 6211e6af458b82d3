package jetstream_test

import (
	"context"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/workload"
	wljs "github.com/fundledger/fundledger/workload/jetstream"
)

// TestLedgerDoesWhatTheWorkloadExpects publishes a small stream with every
// kind of event to a real ledger (PostgreSQL and JetStream) and checks the
// ledger refused exactly the intended codes, posted the expected number of
// transactions and left each fund with the expected balances.
func TestLedgerDoesWhatTheWorkloadExpects(t *testing.T) {
	l := testenv.Start(t, testenv.Options{HoldWindow: time.Second, BatchSize: 300})
	cfg := workload.Default(11)
	cfg.Funds, cfg.Months, cfg.GrantsPerMonth, cfg.BatchLines = 2, 2, 30, 150
	cfg.CityGrants = true
	cfg.BadRate, cfg.DupRate, cfg.EarlyRate = 0.04, 0.03, 0.1
	ctx := context.Background()
	exp, pub, err := wljs.Run(ctx, l.JS, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Acked != int64(exp.Messages) {
		t.Fatalf("%d acknowledged, %d sent", pub.Acked, exp.Messages)
	}
	if pub.Duplicates != int64(exp.Resent) {
		t.Errorf("the stream dropped %d duplicates, the workload re-sent %d", pub.Duplicates, exp.Resent)
	}
	l.WaitIdle()
	deadline := time.Now().Add(30 * time.Second)
	for l.Count(`SELECT count(*) FROM held`) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("held events not resolved in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.WaitIdle()

	got := map[events.Code]int{}
	for _, r := range l.Rejections() {
		got[events.Code(r.Code)]++
	}
	for code, n := range exp.Rejections {
		if got[code] != n {
			t.Errorf("%s: ledger refused %d, workload intended %d", code, got[code], n)
		}
	}
	for code, n := range got {
		if exp.Rejections[code] == 0 {
			t.Errorf("%s: ledger refused %d, workload intended none", code, n)
			for _, r := range l.Rejections() {
				if events.Code(r.Code) == code {
					t.Logf("  %s %s: %s", r.FundID, r.Type, r.Message)
				}
			}
		}
	}
	if n := l.Count(`SELECT count(*) FROM journal`); n != exp.Txns {
		t.Errorf("journal has %d transactions, workload expected %d", n, exp.Txns)
	}
	// January closed in every fund; each late payment is an adjustment.
	if n := l.Count(`SELECT count(*) FROM period_reports WHERE period = '2026-01'`); n != int64(len(exp.FundIDs)) {
		t.Errorf("%d reports of January, want one per fund (%d)", n, len(exp.FundIDs))
	}
	if n := l.Count(`SELECT count(*) FROM period_adjustments`); n != int64(exp.LatePayments) {
		t.Errorf("%d prior-period adjustments, the workload sent %d late payments", n, exp.LatePayments)
	}
	if n := l.Count(`SELECT count(*) FROM inbox WHERE outcome = 'duplicate'`); n != int64(exp.Duplicates) {
		t.Errorf("%d business-id duplicates in the inbox, workload sent %d", n, exp.Duplicates)
	}
	for _, id := range exp.FundIDs {
		want := exp.Funds[id]
		if c := l.Balance(id, "cash"); c != want.Cash {
			t.Errorf("%s cash %s, want %s", id, c, want.Cash)
		}
		if p := l.Balance(id, "grants_payable"); p != want.GrantsPayable {
			t.Errorf("%s grants_payable %s, want %s", id, p, want.GrantsPayable)
		}
	}
}
