package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// TestPeriodCloseMillion measures how long period.closed takes for a fund
// with a million transactions in the month (docs/performance.md). Opt in:
//
//	FUNDLEDGER_PERIOD_BENCH=1000000 go test ./ledger/postgres/ -run PeriodCloseMillion -v -timeout 60m
//
// The month is written through the store's real intake (ApplyBatch), so
// the running figures are what the ledger keeps: half the transactions are
// grant approvals (batches of 10,000 lines, each line a distinct
// beneficiary), half disbursements paying them. Then the close is applied
// alone in its batch and timed, commit included.
func TestPeriodCloseMillion(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FUNDLEDGER_PERIOD_BENCH"))
	if n <= 0 {
		t.Skip("set FUNDLEDGER_PERIOD_BENCH to a number of transactions (1000000) to measure a close")
	}
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lease, err := postgres.AcquireLease(ctx, url, "bench", "test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	var seq uint64
	msg := func(typ string, data any) events.Message {
		env := testenv.Envelope(typ, data)
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return events.Message{StreamSeq: seq, Subject: events.InboundSubject("big", typ), Data: b}
	}
	now := time.Date(2026, 2, 1, 3, 0, 0, 0, time.UTC) // February in Shanghai: January has ended
	set := postgres.BatchSettings{IntakeSettings: ledger.IntakeSettings{HoldWindow: time.Hour, SnapshotEvery: 10000}}
	apply := func(msgs ...events.Message) postgres.BatchResult {
		t.Helper()
		res, err := s.ApplyBatch(ctx, "bench", lease.Epoch, ledger.DecodeAll(msgs), now, set, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rejected != 0 {
			t.Fatalf("%d refused: %v", res.Rejected, res.Rejects)
		}
		return res
	}
	apply(msg("fund.opened", map[string]any{"fund_id": "big", "name": "Big fund", "programs": []any{map[string]any{"code": "pension_subsidy"}}}),
		msg("contribution.received", map[string]any{"contribution_id": "c1", "source_kind": "fiscal", "payer": "city",
			"amount": "900000000.00", "bank_ref": "b", "received_on": "2026-01-02"}))

	grants := n / 2
	const lines = 10000
	start := time.Now()
	for b := 0; b*lines < grants; b++ {
		ls := make([]any, 0, lines)
		for i := b * lines; i < (b+1)*lines && i < grants; i++ {
			ls = append(ls, map[string]any{"grant_id": fmt.Sprintf("g%07d", i), "beneficiary_ref": fmt.Sprintf("hh%07d", i),
				"category": "living", "amount": fmt.Sprintf("%d.%02d", 100+i%900, i%100)})
		}
		apply(msg("grant.batch.approved", map[string]any{"batch_id": fmt.Sprintf("b%d", b), "program": "pension_subsidy",
			"requested_by": "clerk", "approved_by": "officer", "approved_on": "2026-01-10", "lines": ls}))
	}
	var batch []events.Message
	for i := 0; i < n-grants; i++ {
		batch = append(batch, msg("grant.disbursed", map[string]any{"grant_id": fmt.Sprintf("g%07d", i%grants),
			"payment_id": fmt.Sprintf("p%07d", i), "amount": fmt.Sprintf("%d.%02d", 100+i%900, i%100), "bank_ref": "x", "paid_on": "2026-01-20"}))
		if len(batch) == 2000 {
			apply(batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		apply(batch...)
	}
	took := time.Since(start)
	t.Logf("wrote %d transactions of January through the intake in %s (%.0f/s)", n, took.Round(time.Millisecond), float64(n)/took.Seconds())

	closeStart := time.Now()
	res := apply(msg("period.closed", map[string]any{"period": "2026-01", "closed_by": "accountant", "approved_by": "director"}))
	closeTook := time.Since(closeStart)
	t.Logf("period.closed of a month with %d transactions: %s (batch steps: %v)", n, closeTook.Round(time.Microsecond), res.Steps)
	fmt.Printf("PERIOD CLOSE %d transactions in the month: %s\n", n, closeTook.Round(time.Microsecond))

	body, err := s.PeriodReport(ctx, "big", "2026-01")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ledger.ParsePeriodReport(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.AsOfJournalSeq != int64(n)+1 || r.Programs[0].Beneficiaries != int64(grants) {
		t.Errorf("report as of %d with %d beneficiaries, want %d and %d", r.AsOfJournalSeq, r.Programs[0].Beneficiaries, n+1, grants)
	}
}
