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
)

// TestTimerSnapshotsFundsChangedInItsOwnBatch: CONTRACT.md section 6
// makes a snapshot "on a timer when the fund changed". The batch the timer
// falls on snapshots the funds it changed itself too, not only those the
// database showed as changed before it: an idle ledger's first events
// arrive in exactly that batch, and were left for a whole period more.
func TestTimerSnapshotsFundsChangedInItsOwnBatch(t *testing.T) {
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
	lease, err := postgres.AcquireLease(ctx, url, "timer", "test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()

	var seq uint64
	msg := func(fund, typ string, data any) events.Message {
		b, err := json.Marshal(testenv.Envelope(typ, data))
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return events.Message{StreamSeq: seq, Subject: events.InboundSubject(fund, typ), Data: b}
	}
	contribution := func(fund, id string) events.Message {
		return msg(fund, "contribution.received", map[string]any{"contribution_id": id, "source_kind": "other",
			"payer": "bank", "amount": "10", "bank_ref": "b", "received_on": "2026-01-05"})
	}
	open := func(fund string) events.Message {
		return msg(fund, "fund.opened", map[string]any{"fund_id": fund, "name": fund, "programs": []any{}})
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	set := postgres.BatchSettings{IntakeSettings: ledger.IntakeSettings{HoldWindow: time.Hour}}

	// a changed before the timer's batch, b in it, c opened in it with no
	// posting (nothing to state), d untouched since its last snapshot.
	if _, err := s.ApplyBatch(ctx, "timer", lease.Epoch, ledger.DecodeAll([]events.Message{open("a"), contribution("a", "c-1"), open("d"),
		contribution("d", "c-1"), msg("d", "snapshot.requested", map[string]any{"requested_by": "x"})}), now, set, false); err != nil {
		t.Fatal(err)
	}
	res, err := s.ApplyBatch(ctx, "timer", lease.Epoch, ledger.DecodeAll([]events.Message{open("b"), contribution("b", "c-1"), open("c")}),
		now.Add(time.Second), set, true)
	if err != nil {
		t.Fatal(err)
	}
	for fund, want := range map[string]int64{"a": 1, "b": 1, "c": 0, "d": 1} {
		var n, asOf int64
		if err := s.Pool.QueryRow(ctx, `SELECT count(*), coalesce(max(as_of_journal_seq), 0) FROM snapshots WHERE fund_id = $1`, fund).
			Scan(&n, &asOf); err != nil {
			t.Fatal(err)
		}
		if n != want || (n > 0 && asOf != 1) {
			t.Errorf("fund %s: %d snapshots (latest as of %d), want %d as of 1", fund, n, asOf, want)
		}
	}
	if res.Snapshots != 2 {
		t.Errorf("the timer's batch took %d snapshots, want 2 (a and b)", res.Snapshots)
	}
}
