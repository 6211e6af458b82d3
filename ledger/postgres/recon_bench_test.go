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
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// TestReconcileMillion times one reconciliation through the store (load,
// match, report, write, commit) of a statement of 10,000 entries against
// a fund with N unmatched book items (docs/performance.md). Opt in:
//
//	FUNDLEDGER_RECON_BENCH=1000000 go test ./ledger/postgres/ -run ReconcileMillion -v -timeout 30m
//
// The unmatched items are copied straight into recon_book_open, as the
// store's writer leaves them for N cash postings (the journal itself is
// not read by a reconciliation); matched items cost nothing, since they
// are no longer in that table, so N is the size of the open set. The
// statement is 70% entries found by reference, 5% bulk payments of two
// items, 15% found by amount and date, 10% not in the books.
func TestReconcileMillion(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FUNDLEDGER_RECON_BENCH"))
	if n <= 0 {
		t.Skip("set FUNDLEDGER_RECON_BENCH to a number of unmatched book items (1000000) to time a reconciliation")
	}
	const entries = 10000
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
		b, err := json.Marshal(testenv.Envelope(typ, data))
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return events.Message{StreamSeq: seq, Subject: events.InboundSubject("big", typ), Data: b}
	}
	set := postgres.BatchSettings{IntakeSettings: ledger.IntakeSettings{HoldWindow: time.Hour, Recon: ledger.ReconSettings{DateWindow: 3}}}
	apply := func(msgs ...events.Message) postgres.BatchResult {
		t.Helper()
		res, err := s.ApplyBatch(ctx, "bench", lease.Epoch, ledger.DecodeAll(msgs), time.Now(), set, false)
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
			"amount": "900000000.00", "bank_ref": "BR-C1", "received_on": "2025-12-31"})) // before the bank's history

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type item struct {
		seq      int64
		on       time.Time
		dir, ref string
		amount   decimal.Decimal
	}
	items := make([]item, n)
	for i := range items {
		dir := "debit"
		if i%5 == 0 {
			dir = "credit"
		}
		items[i] = item{int64(i + 2), t0.AddDate(0, 0, i%365), dir, fmt.Sprintf("P%d", i), decimal.New(int64(10000+(i*7919)%990000), -2)}
	}
	var es []any
	net := decimal.Zero
	add := func(on time.Time, dir string, amount decimal.Decimal, ref string) {
		e := map[string]any{"entry_ref": fmt.Sprintf("E%d", len(es)), "booked_on": on.Format(time.DateOnly), "direction": dir, "amount": amount.StringFixed(2)}
		if ref != "" {
			e["bank_ref"] = ref
		}
		es = append(es, e)
		if dir == "credit" {
			net = net.Add(amount)
		} else {
			net = net.Sub(amount)
		}
	}
	step := n / entries
	for k := 0; len(es) < entries; k++ {
		it := &items[k*step]
		switch {
		case len(es) < entries*70/100:
			add(it.on, it.dir, it.amount, it.ref)
		case len(es) < entries*75/100:
			other := &items[k*step+1]
			other.ref, other.dir = it.ref, it.dir
			add(it.on, it.dir, it.amount.Add(other.amount), it.ref)
		case len(es) < entries*90/100:
			add(it.on.AddDate(0, 0, 2), it.dir, it.amount, "")
		default:
			add(t0, "debit", decimal.New(int64(k%50+1), -2), fmt.Sprintf("FEE%d", k))
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"recon_book_open"}, []string{"fund_id", "journal_seq", "line", "type", "on_date", "direction", "amount", "bank_ref"},
		pgx.CopyFromSlice(len(items), func(i int) ([]any, error) {
			it := items[i]
			return []any{"big", it.seq, int32(1), "grant.disbursed", it.on, it.dir, it.amount, it.ref}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE recon_book_open`); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d unmatched book items copied in %v", n, time.Since(start))

	opening := decimal.New(1000000000, 0)
	stmt := msg("bank.statement.received", map[string]any{"statement_id": "S1", "bank_account": "ICBC-1", "period_start": "2026-01-01",
		"period_end": "2027-01-31", "opening_balance": opening.StringFixed(2), "closing_balance": opening.Add(net).StringFixed(2), "entries": es})
	start = time.Now()
	res := apply(stmt)
	took := time.Since(start)
	var matched int64
	var size int
	if err := conn.QueryRow(ctx, `SELECT s.matched_count, length(r.published) FROM reconciliations r JOIN recon_state s USING (fund_id) WHERE r.fund_id = 'big' AND r.recon_seq = 1`).Scan(&matched, &size); err != nil {
		t.Fatal(err)
	}
	t.Logf("statement of %d entries against %d unmatched book items: %d matched, report %d bytes, in %v", entries, n, matched, size, took)
	for _, st := range res.Steps {
		if st.Took > 20*time.Millisecond {
			t.Logf("  %-28s %v", st.Name, st.Took)
		}
	}
	start = time.Now()
	apply(msg("reconciliation.requested", map[string]any{"requested_by": "auditor"}))
	t.Logf("reconciliation.requested against %d unmatched book items, nothing new to match: %v", n-int(matched)-entries*5/100, time.Since(start))
	if matched != entries*90/100 {
		t.Fatalf("matched %d, want %d", matched, entries*90/100)
	}
}
