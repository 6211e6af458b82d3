package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
)

// TestBackfillPeriodsMatchesTheIntake: the figures BackfillPeriods counts
// from a journal written before the period records existed are those the
// intake keeps as it writes.
func TestBackfillPeriodsMatchesTheIntake(t *testing.T) {
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
	lease, err := postgres.AcquireLease(ctx, url, "bf", "test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	var seq uint64
	msg := func(fund, typ string, data any) events.Message {
		b, _ := json.Marshal(testenv.Envelope(typ, data))
		seq++
		return events.Message{StreamSeq: seq, Subject: events.InboundSubject(fund, typ), Data: b}
	}
	grant := func(gid, ben, on string) events.Message {
		return msg("a", "grant.approved", map[string]any{"grant_id": gid, "beneficiary_ref": ben, "program": "care_fund",
			"category": "living", "amount": "10.00", "requested_by": "x", "approved_by": "y", "approved_on": on})
	}
	batch := []events.Message{
		msg("a", "fund.opened", map[string]any{"fund_id": "a", "name": "a", "programs": []any{map[string]any{"code": "care_fund"}}}),
		msg("b", "fund.opened", map[string]any{"fund_id": "b", "name": "b", "programs": []any{}}),
		msg("a", "contribution.received", map[string]any{"contribution_id": "c", "source_kind": "fiscal", "payer": "p",
			"amount": "1000", "bank_ref": "r", "received_on": "2026-01-05"}),
		grant("g1", "ben-1", "2026-01-06"), grant("g2", "ben-1", "2026-01-07"), grant("g3", "ben-2", "2026-02-01"),
		msg("a", "grant.disbursed", map[string]any{"grant_id": "g1", "payment_id": "p1", "amount": "10", "bank_ref": "r", "paid_on": "2026-02-02"}),
		msg("a", "payment.returned", map[string]any{"grant_id": "g1", "payment_id": "p1", "amount": "10", "reason": "closed"}), // dated by the clock
		msg("a", "allocation.approved", map[string]any{"allocation_id": "al", "to_fund_id": "b", "amount": "100", "approved_by": "d"}),
	}
	// 2026-01-31 20:00 UTC is February 1 in Shanghai.
	now := time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC)
	if _, err := s.ApplyBatch(ctx, "bf", lease.Epoch, ledger.DecodeAll(batch), now, postgres.BatchSettings{}, false); err != nil {
		t.Fatal(err)
	}
	snap := func() string {
		var out string
		err := s.Pool.QueryRow(ctx, `SELECT concat_ws(' | ',
			(SELECT string_agg(concat_ws(',', fund_id, period, kind, name, amount), ';' ORDER BY fund_id, period, kind, name) FROM period_figures),
			(SELECT string_agg(concat_ws(',', fund_id, period, program, beneficiary_ref), ';' ORDER BY 1) FROM period_beneficiaries),
			(SELECT string_agg(concat_ws(',', fund_id, journal_seq, period, allocation_id, direction, other_fund, amount), ';' ORDER BY 1) FROM period_allocations))`).Scan(&out)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	kept := snap()
	admin, err := pgx.Connect(ctx, url) // the owner: the service's role may not add a backfill
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `DELETE FROM period_figures; DELETE FROM period_beneficiaries; DELETE FROM period_allocations;
		INSERT INTO period_backfill VALUES (true)`); err != nil {
		t.Fatal(err)
	}
	n, err := s.BackfillPeriods(ctx, nil)
	if err != nil || n != 8 {
		t.Fatalf("backfill counted %d: %v", n, err)
	}
	if got := snap(); got != kept {
		t.Errorf("backfilled\n%s\nkept by the intake\n%s", got, kept)
	}
	if n, err := s.BackfillPeriods(ctx, nil); err != nil || n != 0 {
		t.Errorf("a second backfill counted %d: %v", n, err)
	}
}
