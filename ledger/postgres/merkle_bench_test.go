package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
)

// TestTreeWriteCost measures what keeping the Merkle tree costs the intake
// (docs/performance.md, "Merkle proofs"): batches of 2,000 single-grant
// events go through the store's real intake (ApplyBatch), and the time of
// each step of the batches is summed, so the Merkle nodes' write is seen
// beside the journal's in the same runs, whatever else loads the machine.
// Opt in:
//
//	FUNDLEDGER_MERKLE_BENCH=100000 go test ./ledger/postgres/ -run TreeWriteCost -v -timeout 30m
func TestTreeWriteCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FUNDLEDGER_MERKLE_BENCH"))
	if n <= 0 {
		t.Skip("set FUNDLEDGER_MERKLE_BENCH to a number of transactions (100000) to measure the tree's write cost")
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
	msg := func(fund, typ string, data any) events.Message {
		b, err := json.Marshal(testenv.Envelope(typ, data))
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return events.Message{StreamSeq: seq, Subject: events.InboundSubject(fund, typ), Data: b}
	}
	now := time.Date(2026, 2, 1, 3, 0, 0, 0, time.UTC)
	set := postgres.BatchSettings{IntakeSettings: ledger.IntakeSettings{HoldWindow: time.Hour, SnapshotEvery: 10000}}
	steps := map[string]time.Duration{}
	var total time.Duration
	apply := func(msgs ...events.Message) {
		t.Helper()
		t0 := time.Now()
		res, err := s.ApplyBatch(ctx, "bench", lease.Epoch, ledger.DecodeAll(msgs), now, set, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rejected != 0 {
			t.Fatalf("%d refused: %v", res.Rejected, res.Rejects)
		}
		total += time.Since(t0)
		for _, st := range res.Steps {
			steps[st.Name] += st.Took
		}
	}
	const funds = 39 // as cmd/bench's measure (a)
	var open []events.Message
	for f := 0; f < funds; f++ {
		id := fmt.Sprintf("f%02d", f)
		open = append(open, msg(id, "fund.opened", map[string]any{"fund_id": id, "name": "Fund", "programs": []any{map[string]any{"code": "care_fund"}}}),
			msg(id, "contribution.received", map[string]any{"contribution_id": "c1", "source_kind": "fiscal", "payer": "city",
				"amount": "900000000.00", "bank_ref": "b", "received_on": "2026-01-02"}))
	}
	apply(open...)
	steps, total = map[string]time.Duration{}, 0
	var batch []events.Message
	for i := 0; i < n; i++ {
		fund := fmt.Sprintf("f%02d", i%funds)
		batch = append(batch, msg(fund, "grant.approved", map[string]any{"grant_id": fmt.Sprintf("g%07d", i), "beneficiary_ref": fmt.Sprintf("hh%07d", i),
			"program": "care_fund", "category": "living", "amount": "100.00", "requested_by": "clerk", "approved_by": "officer", "approved_on": "2026-01-10"}))
		if len(batch) == 2000 {
			apply(batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		apply(batch...)
	}
	names := make([]string, 0, len(steps))
	for k := range steps {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return steps[names[i]] > steps[names[j]] })
	nodes := testCount(t, s, `SELECT count(*) FROM merkle_nodes`)
	fmt.Printf("MERKLE WRITE COST: %d transactions over %d funds in %s (%.0f/s); %d Merkle node rows (%.4f per transaction)\n",
		n, funds, total.Round(time.Millisecond), float64(n)/total.Seconds(), nodes, float64(nodes)/float64(n))
	for _, k := range names {
		fmt.Printf("  %-26s %8.1f ms  %5.1f%%  %6.2f us/txn\n", k, float64(steps[k].Microseconds())/1000, 100*steps[k].Seconds()/total.Seconds(),
			float64(steps[k].Microseconds())/float64(n))
	}
}

func testCount(t *testing.T, s *postgres.Store, sql string) int64 {
	t.Helper()
	var n int64
	if err := s.Pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
