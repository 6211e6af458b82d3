package service_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Each check of the database property runs a whole stream through the
	// service; keep the default count modest unless asked for more.
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == "100" {
		_ = flag.Set("rapid.checks", "12")
	}
	os.Exit(m.Run())
}

type wire struct {
	subject string
	data    []byte
	msgID   string
}

// genStream draws a stream of events for funds prefix-a and prefix-b: valid
// ones in any order (disbursements may come before approvals), invalid
// ones of many kinds, and resends.
func genStream(t *rapid.T, prefix string) []wire {
	a, b := prefix+"-a", prefix+"-b"
	var out []wire
	emit := func(fund, typ string, data any) {
		env := testenv.Envelope(typ, data)
		raw, _ := json.Marshal(env)
		out = append(out, wire{events.InboundSubject(fund, typ), raw, env["id"].(string)})
	}
	open := func(f string) {
		emit(f, "fund.opened", map[string]any{"fund_id": f, "name": f, "programs": []any{
			map[string]any{"code": "care_fund", "annual_cap_per_beneficiary": "300.00"}, map[string]any{"code": "pension_subsidy"}}})
	}
	if rapid.Bool().Draw(t, "open a") {
		open(a)
	}
	open(b)
	amount := func(label string) string {
		return fmt.Sprintf("%d.%02d", rapid.IntRange(0, 400).Draw(t, label), rapid.IntRange(1, 99).Draw(t, label+"c"))
	}
	pick := func(label string, n int) string {
		return fmt.Sprintf("%s%d", label, rapid.IntRange(0, n).Draw(t, label))
	}
	n := rapid.IntRange(5, 60).Draw(t, "events")
	for i := 0; i < n; i++ {
		fund := rapid.SampledFrom([]string{a, b}).Draw(t, "fund")
		switch rapid.IntRange(0, 13).Draw(t, "op") {
		case 0, 1:
			emit(fund, "contribution.received", map[string]any{"contribution_id": pick("c", 6), "source_kind": "fiscal",
				"payer": "bureau", "amount": amount("amt"), "bank_ref": "B", "received_on": "2026-01-02"})
		case 2:
			to := a
			if fund == a {
				to = b
			}
			emit(fund, "allocation.approved", map[string]any{"allocation_id": pick("a", 4), "to_fund_id": to, "amount": amount("amt"), "approved_by": "dir"})
		case 3, 4:
			emit(fund, "grant.approved", map[string]any{"grant_id": pick("g", 8), "beneficiary_ref": pick("ben", 3),
				"program": rapid.SampledFrom([]string{"care_fund", "pension_subsidy", "nope"}).Draw(t, "prog"), "category": "living",
				"amount": amount("amt"), "requested_by": "alice", "approved_by": rapid.SampledFrom([]string{"bob", "alice"}).Draw(t, "appr"),
				"approved_on": rapid.SampledFrom([]string{"2025-12-31", "2026-01-01"}).Draw(t, "on")})
		case 5:
			k := rapid.IntRange(1, 4).Draw(t, "lines")
			var lines []any
			for j := 0; j < k; j++ {
				lines = append(lines, map[string]any{"grant_id": pick("g", 8), "beneficiary_ref": pick("ben", 3), "category": "living", "amount": amount("amt")})
			}
			emit(fund, "grant.batch.approved", map[string]any{"batch_id": pick("batch", 3), "program": "care_fund",
				"requested_by": "alice", "approved_by": "bob", "approved_on": "2026-01-05", "lines": lines})
		case 6, 7:
			emit(fund, "grant.disbursed", map[string]any{"grant_id": pick("g", 8), "payment_id": pick("p", 8), "amount": amount("amt"),
				"bank_ref": "B", "paid_on": "2026-01-06"})
		case 8:
			emit(fund, "payment.returned", map[string]any{"grant_id": pick("g", 8), "payment_id": pick("p", 8), "amount": amount("amt"), "reason": "r"})
		case 9:
			emit(fund, "grant.cancelled", map[string]any{"grant_id": pick("g", 8), "cancelled_by": "x", "reason": "r"})
		case 10:
			emit(fund, "grant.recovered", map[string]any{"grant_id": pick("g", 8), "recovery_id": pick("r", 3), "amount": amount("amt"),
				"bank_ref": "B", "reason": "r"})
		case 11:
			emit(fund, "snapshot.requested", map[string]any{"requested_by": "auditor"})
		case 12: // invalid inputs
			switch rapid.IntRange(0, 3).Draw(t, "bad") {
			case 0:
				out = append(out, wire{subject: events.InboundSubject(fund, "grant.approved"), data: []byte(`{"id": "x`)})
			case 1:
				emit(fund, "grant.approved", map[string]any{"grant_id": "gx", "beneficiary_ref": "b", "program": "care_fund",
					"category": "living", "amount": 12.5, "requested_by": "a", "approved_by": "b", "approved_on": "2026-01-01"})
			case 2:
				emit(fund, "contribution.received", map[string]any{"contribution_id": "cx", "source_kind": "fiscal",
					"payer": "p", "amount": "1.005", "bank_ref": "B", "received_on": "2026-01-02"})
			default:
				emit(fund, "grant.levitated", map[string]any{})
			}
		default: // resend an earlier message: same envelope id, no Nats-Msg-Id
			if len(out) > 0 {
				w := out[rapid.IntRange(0, len(out)-1).Draw(t, "resend")]
				out = append(out, wire{subject: w.subject, data: w.data})
			}
		}
	}
	return out
}

const booksSQL = `
SELECT 'balance', fund_id, account, debits::text || '/' || credits::text FROM balances WHERE fund_id LIKE $1
UNION ALL
SELECT 'txn', j.fund_id, j.seq::text, j.event_id || ' ' || j.type || ' ' || j.refs::text || ' ' ||
       (SELECT string_agg(account || ':' || side || ':' || amount::text, ',' ORDER BY line) FROM postings p WHERE p.fund_id = j.fund_id AND p.seq = j.seq)
  FROM journal j WHERE fund_id LIKE $1
UNION ALL
SELECT 'grant', fund_id, grant_id, concat_ws('/', approved, paid, returned, cancelled, recovered, closed) FROM grants WHERE fund_id LIKE $1
UNION ALL
SELECT 'rejection', fund_id, event_id, code || ' ' || coalesce(lines::text, '') FROM rejections WHERE fund_id LIKE $1 AND event_id <> ''
UNION ALL
SELECT 'snapshot', fund_id, snapshot_seq::text, as_of_journal_seq::text FROM snapshots WHERE fund_id LIKE $1
ORDER BY 1, 2, 3, 4`

func books(t *rapid.T, db *pgx.Conn, prefix string) []string {
	rows, err := db.Query(context.Background(), booksSQL, prefix+"-%")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var a, b, c, d string
		err := r.Scan(&a, &b, &c, &d)
		return strings.Join([]string{a, b, c, d}, " | "), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// invariantsSQL lists every violation: unbalanced or empty transactions,
// negative cash or available, kept balances that differ from the journal,
// gaps in seq and broken prev_hash links.
const invariantsSQL = `
SELECT 'unbalanced ' || fund_id || '/' || seq FROM postings WHERE fund_id LIKE $1 GROUP BY fund_id, seq
  HAVING sum(amount) FILTER (WHERE side = 'debit') IS DISTINCT FROM sum(amount) FILTER (WHERE side = 'credit')
UNION ALL
SELECT 'negative ' || f.fund_id FROM funds f
  LEFT JOIN balances c ON c.fund_id = f.fund_id AND c.account = 'cash'
  LEFT JOIN balances g ON g.fund_id = f.fund_id AND g.account = 'grants_payable'
 WHERE f.fund_id LIKE $1 AND (coalesce(c.debits - c.credits, 0) < 0
       OR coalesce(c.debits - c.credits, 0) - coalesce(g.credits - g.debits, 0) < 0)
UNION ALL
SELECT 'kept balance differs ' || b.fund_id || ' ' || b.account FROM balances b
  LEFT JOIN (SELECT fund_id, account, sum(amount) FILTER (WHERE side = 'debit') dr, sum(amount) FILTER (WHERE side = 'credit') cr
               FROM postings GROUP BY 1, 2) p USING (fund_id, account)
 WHERE b.fund_id LIKE $1 AND (b.debits <> coalesce(p.dr, 0) OR b.credits <> coalesce(p.cr, 0))
UNION ALL
SELECT 'chain ' || j.fund_id || '/' || j.seq FROM journal j
  LEFT JOIN journal prev ON prev.fund_id = j.fund_id AND prev.seq = j.seq - 1
 WHERE j.fund_id LIKE $1 AND ((j.seq = 1 AND j.prev_hash <> decode(repeat('00', 32), 'hex'))
       OR (j.seq > 1 AND (prev.hash IS NULL OR prev.hash <> j.prev_hash)))
UNION ALL
SELECT 'head ' || f.fund_id FROM funds f WHERE f.fund_id LIKE $1
   AND f.head_seq <> (SELECT count(*) FROM journal j WHERE j.fund_id = f.fund_id)`

func TestStreamsProperty(t *testing.T) {
	l := testenv.Start(t, testenv.Options{HoldWindow: 1500 * time.Millisecond, BatchSize: 16})
	ctx := context.Background()
	replayURL := testenv.NewDatabase(t)
	if err := postgres.Migrate(ctx, replayURL); err != nil {
		t.Fatal(err)
	}
	replay, err := postgres.Open(ctx, replayURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	lease, err := postgres.AcquireLease(ctx, replayURL, "replay", "test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	replayDB, err := pgx.Connect(ctx, replayURL)
	if err != nil {
		t.Fatal(err)
	}
	defer replayDB.Close(ctx)
	var iteration atomic.Int64
	var seq uint64
	clock := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	rapid.Check(t, func(rt *rapid.T) {
		prefix := fmt.Sprintf("p%d", iteration.Add(1))
		stream := genStream(rt, prefix)
		for _, w := range stream {
			l.PublishRaw(w.subject, w.data, w.msgID)
		}
		l.WaitIdle()
		time.Sleep(1600 * time.Millisecond) // past the hold window
		contribute(l, "tick", "c", "1.00")  // any message wakes the sweep
		l.WaitIdle()

		if bad := queryStrings(rt, l.DB, invariantsSQL, prefix+"-%"); len(bad) > 0 {
			rt.Fatalf("invariants broken: %v", bad)
		}
		// Replay the same bytes into a fresh database, in other batch sizes.
		set := postgres.BatchSettings{IntakeSettings: ledger.IntakeSettings{HoldWindow: time.Hour}}
		size := rapid.IntRange(1, 25).Draw(rt, "replay batch")
		for i := 0; i < len(stream); i += size {
			var msgs []events.Message
			for _, w := range stream[i:min(i+size, len(stream))] {
				seq++
				msgs = append(msgs, events.Message{StreamSeq: seq, Subject: w.subject, Data: w.data})
			}
			if _, err := replay.ApplyBatch(ctx, "replay", lease.Epoch, ledger.DecodeAll(msgs), clock, set, false); err != nil {
				dumpStream(stream, size)
				rt.Fatalf("replay: %v", err)
			}
		}
		clock = clock.Add(2 * time.Hour)
		if _, err := replay.ApplyBatch(ctx, "replay", lease.Epoch, nil, clock, set, false); err != nil {
			rt.Fatalf("replay expiry: %v", err)
		}
		live, again := books(rt, l.DB, prefix), books(rt, replayDB, prefix)
		if strings.Join(live, "\n") != strings.Join(again, "\n") {
			rt.Fatalf("replay differs:\nlive:\n%s\nreplay:\n%s", strings.Join(live, "\n"), strings.Join(again, "\n"))
		}
	})
}

func queryStrings(t *rapid.T, db *pgx.Conn, sql string, args ...any) []string {
	rows, err := db.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dumpStream writes a failing stream where FUNDLEDGER_PROPERTY_DUMP points,
// to replay it by hand.
func dumpStream(stream []wire, size int) {
	path := os.Getenv("FUNDLEDGER_PROPERTY_DUMP")
	if path == "" {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# replay batch size %d\n", size)
	for _, w := range stream {
		fmt.Fprintf(&b, "%s %s\n", w.subject, w.data)
	}
	_ = os.WriteFile(path, []byte(b.String()), 0o644)
}
