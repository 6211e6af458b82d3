package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// The prefill writes the ledger's tables itself, so what it writes must be
// what the ledger would have: the ledger's own verifier (hash chains,
// balances against the journal) passes on it. When the schema changes,
// this test fails in checkSchema until the prefill is changed with it.
func TestPrefillVerifies(t *testing.T) {
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	if err := prefillDatabase(ctx, dbURL, 500, postgres.Migrate, io.Discard); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := st.VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.CheckedTransactions != 500 {
		t.Fatalf("verify: ok %v, %d transactions checked (want 500), first problem %+v", rep.OK, rep.CheckedTransactions, rep.First())
	}
	// The history counts as published: serve must not relay it during a
	// measurement (and the relay lag would be counted wrong if it did).
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	n, err := unrelayed(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d messages of the history are waiting to be relayed, want 0", n)
	}
	// Each fund's opening contribution is the one cash posting of its
	// history: an unmatched book item for bank reconciliation.
	var items, funds int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM recon_book_open), (SELECT count(*) FROM funds WHERE head_seq > 0)`).Scan(&items, &funds); err != nil {
		t.Fatal(err)
	}
	if items != funds || funds == 0 {
		t.Fatalf("%d book items for %d funds with a history, want one each", items, funds)
	}
}

// A build from before the journal became the outbox (schema version 5,
// no relay_cursor) gets its history too, so --compare can measure (f)
// across that change.
func TestPrefillBeforeRelayCursor(t *testing.T) {
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	migrate5 := func(ctx context.Context, url string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		m, err := migrate.NewMigrator(ctx, conn, schemaVersionTable)
		if err != nil {
			return err
		}
		if err := m.LoadMigrations(migrations.FS); err != nil {
			return err
		}
		return m.MigrateTo(ctx, prefillOldest)
	}
	if err := prefillDatabase(ctx, dbURL, 200, migrate5, io.Discard); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var cursor bool
	var journal int
	if err := conn.QueryRow(ctx, `SELECT to_regclass('relay_cursor') IS NOT NULL, (SELECT count(*) FROM journal)`).Scan(&cursor, &journal); err != nil {
		t.Fatal(err)
	}
	if cursor || journal != 200 {
		t.Fatalf("version 5: relay_cursor exists %v, %d journal rows; want no table and 200 rows", cursor, journal)
	}
}

// A schema the prefill does not mirror is refused, with every difference
// named, rather than filled with rows the ledger would not have written.
func TestPrefillRefusesAnotherSchema(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		alter string
		want  string
	}{
		{"new migration", `UPDATE fundledger_schema_version SET version = version + 1`, "the prefill mirrors versions"},
		{"new table", `CREATE TABLE journal_extra (fund_id text)`, "table journal_extra is new to the prefill"},
		{"required column", `ALTER TABLE journal ADD COLUMN kind text NOT NULL DEFAULT 'x'; ALTER TABLE journal ALTER COLUMN kind DROP DEFAULT`, "column journal.kind is required"},
		{"column gone", `ALTER TABLE grant_activity DROP COLUMN ref`, "column grant_activity.ref is gone"},
		{"table gone", `DROP TABLE outbox`, "table outbox is gone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dbURL := testenv.NewDatabase(t)
			migrate := func(ctx context.Context, url string) error {
				if err := postgres.Migrate(ctx, url); err != nil {
					return err
				}
				conn, err := pgx.Connect(ctx, url)
				if err != nil {
					return err
				}
				defer conn.Close(ctx)
				_, err = conn.Exec(ctx, c.alter)
				return err
			}
			err := prefillDatabase(ctx, dbURL, 50, migrate, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("prefill: %v, want an error naming %q", err, c.want)
			}
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM funds`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("the refused prefill wrote %d funds", n)
			}
		})
	}
}
