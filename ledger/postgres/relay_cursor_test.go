package postgres_test

import (
	"context"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// TestRelayCursorMigration: a database made before the relay read the
// journal may hold committed posted messages that were never published.
// Migration 006 starts each fund's cursor just before its first such
// message (or at its head), so the relay publishes them from the journal;
// the queued rejections and snapshots stay; the service's role can move
// the cursors.
func TestRelayCursorMigration(t *testing.T) {
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, "fundledger_schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO funds (fund_id, name, currency, opened_event_id, opened_at, head_seq, head_hash)
		SELECT f, f, 'CNY', 'open-' || f, now(), h, '\x00'::bytea
		  FROM (VALUES ('pending', 10), ('published', 5), ('empty', 0), ('other_fund-1', 3)) AS v(f, h);
		INSERT INTO outbox (subject, msg_id, payload) VALUES
		  ('ledger.published.snapshot', 'snapshot:published:1', '{}'),
		  ('ledger.pending.posted', 'posted:pending:8', '{}'),
		  ('ledger.pending.rejected', 'rejected:evt-1', '{}'),
		  ('ledger.pending.posted', 'posted:pending:9', '{}'),
		  ('ledger.pending.posted', 'posted:pending:10', '{}'),
		  ('ledger.other_fund-1.posted', 'posted:other_fund-1:3', '{}')`)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"pending": 7, "published": 5, "empty": 0, "other_fund-1": 2}
	rows, err := conn.Query(ctx, `SELECT fund_id, published_seq FROM relay_cursor`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]any, error) {
		var f string
		var seq int64
		err := r.Scan(&f, &seq)
		return [2]any{f, seq}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("cursors %v, want %v", got, want)
	}
	for _, c := range got {
		if want[c[0].(string)] != c[1].(int64) {
			t.Errorf("cursor of %s at %d, want %d", c[0], c[1], want[c[0].(string)])
		}
	}
	var left []string
	rows, err = conn.Query(ctx, `SELECT msg_id FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	if left, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != "snapshot:published:1" || left[1] != "rejected:evt-1" {
		t.Errorf("outbox after the migration: %v, want the snapshot and the rejection", left)
	}

	// The service's role moves cursors, forward only, and the backlog
	// counts what the journal holds past them.
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.OutboxLen(ctx); err != nil || n != 2+3+1 {
		t.Fatalf("backlog %d (%v), want 2 queued and 4 transactions", n, err)
	}
	if err := st.MarkPublished(ctx, map[string]int64{"pending": 9, "empty": 0, "published": 2, "new": 4}); err != nil {
		t.Fatal(err)
	}
	for f, w := range map[string]int64{"pending": 9, "published": 5, "empty": 0, "new": 4} {
		var seq int64
		if err := conn.QueryRow(ctx, `SELECT published_seq FROM relay_cursor WHERE fund_id = $1`, f).Scan(&seq); err != nil || seq != w {
			t.Errorf("cursor of %s at %d (%v) after MarkPublished, want %d", f, seq, err, w)
		}
	}
	if n, err := st.OutboxLen(ctx); err != nil || n != 2+1+1 {
		t.Errorf("backlog %d (%v) after MarkPublished, want 2 queued and 2 transactions", n, err)
	}
	if _, err := st.Pool.Exec(ctx, `DELETE FROM relay_cursor`); err == nil {
		t.Error("the service's role may delete cursors; it needs only to read, add and move them")
	}
}

// TestUnpublishedSharesTheBatch: the relay's read shares its limit among
// the funds that are behind (a fund needing less than its share leaves the
// rest to the others), gives each fund's transactions from its cursor in
// seq order, names the funds it did not finish, and moves on from the
// cursors MarkPublished stored.
func TestUnpublishedSharesTheBatch(t *testing.T) {
	l, s, _ := readsLedger(t)
	l.Stop() // its relay must not move the cursors behind the test's back
	ctx := context.Background()
	heads := map[string]int64{}
	rows, err := l.DB.Query(ctx, `SELECT fund_id, head_seq FROM funds`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var f string
		var h int64
		if err := rows.Scan(&f, &h); err != nil {
			t.Fatal(err)
		}
		heads[f] = h
	}
	if rows.Err() != nil || len(heads) != 2 || heads["wanzhou-care"] >= 4 || heads[readsFund] < 10 {
		t.Fatalf("heads %v (%v): the test wants a fund with a few transactions and one with many", heads, rows.Err())
	}
	if n, err := s.OutboxLen(ctx); err != nil || n != 0 {
		t.Fatalf("backlog %d (%v) after the ledger went idle", n, err)
	}
	if _, err := l.DB.Exec(ctx, `UPDATE relay_cursor SET published_seq = 0`); err != nil {
		t.Fatal(err)
	}
	next := map[string]int64{readsFund: 1, "wanzhou-care": 1}
	for round := 0; ; round++ {
		txns, behind, err := s.Unpublished(ctx, 6)
		if err != nil {
			t.Fatal(err)
		}
		if len(txns) == 0 {
			break
		}
		if round == 0 && (len(txns) != 6 || len(behind) != 1 || behind[0] != readsFund) {
			t.Fatalf("first read: %d transactions, behind %v; want 6 (all of wanzhou-care's, the rest jiangjin-care's) and [%s]", len(txns), behind, readsFund)
		}
		upTo := map[string]int64{}
		for _, x := range txns {
			if x.Seq != next[x.FundID] || len(x.Postings) < 2 {
				t.Fatalf("round %d: %s/%d with %d postings, want seq %d", round, x.FundID, x.Seq, len(x.Postings), next[x.FundID])
			}
			next[x.FundID]++
			upTo[x.FundID] = x.Seq
		}
		for _, f := range behind {
			if next[f] > heads[f] {
				t.Errorf("round %d: %s named behind with all its transactions read", round, f)
			}
		}
		if err := s.MarkPublished(ctx, upTo); err != nil {
			t.Fatal(err)
		}
		if round > 10 {
			t.Fatal("the reads never caught up")
		}
	}
	for f, h := range heads {
		if next[f] != h+1 {
			t.Errorf("%s: read up to %d, head %d", f, next[f]-1, h)
		}
	}
}
