package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/fundledger/fundledger/workload"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// benchTemplate is a database that runs are copied from (CREATE DATABASE
// ... TEMPLATE): the schema, the 39 funds of the workload opened, and txns
// journal transactions of history.
type benchTemplate struct {
	name string
	txns int64
	took time.Duration
}

// buildTemplate makes a template of measure (f) for bin's schema. The
// schema is bin's: `fundledger migrate` makes it. The history is then
// written straight into the tables with COPY, not through the ledger, as
// the superuser with session_replication_role = replica (no triggers, no
// foreign-key checks while loading): this file is a second writer of the
// ledger's schema, and checkSchema refuses to write into a schema other
// than the one it mirrors. The history is valid by construction: per fund,
// transaction 1 is a fiscal contribution and every later one a care-fund
// grant approved in 2025 (so no cap of 2026 is touched), each with its two
// postings, its hash chained exactly as ledger.HashTxn does, and the rows
// the ledger keeps beside the journal for it (grants, business_ids,
// grant_activity, inbox, cap_usage, balances, the fund's chain head and
// relay cursor). The template is then VACUUM ANALYZEd, as a database that
// had been running a while would be.
func (b *bench) buildTemplate(ctx context.Context, txns int, bin binary) (*benchTemplate, error) {
	t0 := time.Now()
	b.dbSeq++
	name := fmt.Sprintf("fl_bench_tmpl_%d_%d_%d", os.Getpid(), txns, b.dbSeq)
	admin, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return nil, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	admin.Close(context.Background())
	if err != nil {
		return nil, err
	}
	tmpl := &benchTemplate{name: name, txns: int64(txns)}
	logName := filepath.Join(b.work, fmt.Sprintf("migrate-%s.log", name))
	migrate := func(ctx context.Context, dbURL string) error {
		mig := exec.CommandContext(ctx, bin.path, "migrate")
		mig.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
		if out, err := mig.CombinedOutput(); err != nil {
			_ = os.WriteFile(logName, out, 0o644)
			return fmt.Errorf("%s migrate: %w (output in %s)", bin.path, err, logName)
		}
		return nil
	}
	if err := prefillDatabase(ctx, b.dbURL(name), txns, migrate, b.log); err != nil {
		b.dropDB(name)
		return nil, fmt.Errorf("prefill of (f) with %s's schema: %w", bin.label, err)
	}
	tmpl.took = time.Since(t0)
	fmt.Fprintf(b.log, "bench: template %s (%s's schema) with %d transactions built in %.1fs\n", name, bin.label, txns, tmpl.took.Seconds())
	return tmpl, nil
}

// prefillDatabase migrates the empty database at dbURL with migrate, checks
// that the schema is the one the prefill mirrors, and writes txns
// transactions of history into it.
func prefillDatabase(ctx context.Context, dbURL string, txns int, migrate func(context.Context, string) error, log io.Writer) error {
	if err := migrate(ctx, dbURL); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	version, err := checkSchema(ctx, conn)
	conn.Close(context.Background())
	if err != nil {
		return err
	}
	funds := workload.FundIDs(len(workload.Districts))
	per := make([]int, len(funds))
	for i := range per {
		per[i] = txns / len(funds)
		if i < txns%len(funds) {
			per[i]++
		}
	}
	h := &prefill{funds: funds, per: per, base: time.Date(2025, 1, 2, 1, 0, 0, 0, time.UTC), heads: make([]fundHead, len(funds)),
		version: version}

	// Two loaders in parallel: the journal (whose hashes the fund heads
	// need) with three tables, the postings with three others.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	jobs := [][]func(context.Context, *pgx.Conn) error{
		{h.copyJournal, h.copyGrants, h.copyInbox, h.copyCaps},
		{h.copyPostings, h.copyBiz, h.copyActivity},
	}
	for i, list := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
				errs[i] = err
				return
			}
			for _, job := range list {
				t := time.Now()
				if err := job(ctx, conn); err != nil {
					errs[i] = err
					return
				}
				if txns > 0 {
					fmt.Fprintf(log, "bench:   prefill step done in %.1fs\n", time.Since(t).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
	}
	conn, err = pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if err := h.copyFunds(ctx, conn); err != nil {
		return fmt.Errorf("prefill funds: %w", err)
	}
	if err := h.bookItems(ctx, conn); err != nil {
		return fmt.Errorf("prefill book items: %w", err)
	}
	if err := h.writeTree(ctx, conn); err != nil {
		return fmt.Errorf("prefill Merkle tree: %w", err)
	}
	if err := h.periods(ctx, conn, dbURL); err != nil {
		return fmt.Errorf("prefill period records: %w", err)
	}
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	return err
}

// The schemas the prefill mirrors. When a migration changes the ledger's
// tables, the prefill must be changed with it (docs/performance.md):
// checkSchema refuses any other schema rather than build a database the
// ledger would not have written. Versions 5 to 18 differ, for the prefill,
// by the relay cursor (6), the period records the store derives (14) and
// the Merkle tree (15); the other changes are in tables it leaves empty
// (tableSince), add or drop indexes or columns with defaults, or replace a
// trigger's function. So a build of any of those versions can be compared
// with another (--compare).
const (
	// prefillOldest and prefillNewest are the migration versions the
	// prefill was written against (migrations/005_returns_after_recoveries.sql
	// to migrations/018_period_report_chain.sql).
	prefillOldest = 5
	prefillNewest = 18
	// relayCursorVersion is the migration that made the journal the outbox
	// of ledger.<fund>.posted, read past relay_cursor (006_relay_cursor.sql).
	relayCursorVersion = 6
	// periodsVersion is the migration that added the period records
	// (014_periods.sql): the prefill has the store derive them from the
	// journal it wrote (postgres.Store.BackfillPeriods).
	periodsVersion = 14
	// reconVersion is the migration that added bank reconciliation
	// (013_bank_reconciliation.sql): every cash posting is a book item.
	reconVersion = 13
	// treeVersion is the migration that added the Merkle tree
	// (015_merkle.sql): the prefill writes its nodes and frontiers.
	treeVersion = 15
	// schemaVersionTable is where jackc/tern records the version
	// (ledger/postgres.Migrate).
	schemaVersionTable = "fundledger_schema_version"
)

// prefillColumns are the tables the prefill writes and the columns it
// writes in each; the COPY statements below use these lists. A table of
// tableSince only from that migration on.
var prefillColumns = map[string][]string{
	"journal":         {"fund_id", "seq", "event_id", "type", "source", "recorded_at", "refs", "prev_hash", "hash"},
	"postings":        {"fund_id", "seq", "line", "account", "side", "amount"},
	"grants":          {"fund_id", "grant_id", "beneficiary_ref", "program", "category", "approved_on", "event_id", "approved", "paid", "returned", "cancelled", "recovered", "closed", "activity_n"},
	"business_ids":    {"fund_id", "kind", "id", "event_id", "content_hash"},
	"grant_activity":  {"fund_id", "grant_id", "n", "kind", "ref", "amount", "journal_seq", "event_id", "recorded_at"},
	"inbox":           {"event_id", "fund_id", "type", "stream_seq", "outcome", "processed_at"},
	"cap_usage":       {"fund_id", "program", "beneficiary_ref", "year", "used"},
	"funds":           {"fund_id", "name", "currency", "opened_event_id", "opened_at", "head_seq", "head_hash", "head_time", "open_grants", "snapshot_seq", "snapshot_journal_seq"},
	"programs":        {"fund_id", "code", "cap"},
	"balances":        {"fund_id", "account", "debits", "credits"},
	"relay_cursor":    {"fund_id", "published_seq"},
	"merkle_nodes":    {"fund_id", "level", "idx", "hash"},
	"recon_book_open": {"fund_id", "journal_seq", "line", "type", "on_date", "direction", "amount", "bank_ref"},
}

// tableSince is the migration that added each table the prefill knows that
// is younger than prefillOldest; checkSchema expects it only from then on.
var tableSince = map[string]int{
	"relay_cursor": relayCursorVersion,
	"access_log":   11,
	// 013_bank_reconciliation.sql: no statement in the history; each
	// fund's opening contribution is an unmatched book item.
	"bank_statements": 13, "bank_entries": 13, "recon_book_open": reconVersion, "recon_matches": 13, "recon_state": 13, "reconciliations": 13,
	// 014_periods.sql: no close in the history; the figures of its open
	// periods are derived by the store (see periods).
	"fund_periods": periodsVersion, "period_adjustments": periodsVersion, "period_allocations": periodsVersion,
	"period_backfill": periodsVersion, "period_beneficiaries": periodsVersion, "period_figures": periodsVersion, "period_reports": periodsVersion,
	"merkle_nodes": treeVersion,
	// 016_keys_and_event_chain.sql: serve registers its key; the history
	// has no event that posts nothing.
	"key_history": 16, "fund_events": 16,
}

// prefillEmpty are the ledger's other tables: a history of grants approved
// and never paid leaves them empty (and the access log is the read API's),
// or the store fills them from the journal after the COPY (the period
// records).
var prefillEmpty = []string{"payments", "held", "rejections", "snapshots", "signing_keys", "outbox", "consumer_state", "access_log",
	"bank_statements", "bank_entries", "recon_matches", "recon_state", "reconciliations",
	"fund_periods", "period_adjustments", "period_allocations", "period_backfill", "period_beneficiaries", "period_figures", "period_reports",
	"key_history", "fund_events"}

// checkSchema says how the migrated database differs from the schema the
// prefill mirrors: another migration version, a table it does not know,
// a column it writes that is gone, or a required column it does not write.
// It returns the schema's migration version.
func checkSchema(ctx context.Context, conn *pgx.Conn) (int, error) {
	var problems []string
	var version int
	if err := conn.QueryRow(ctx, "SELECT version FROM "+schemaVersionTable).Scan(&version); err != nil {
		problems = append(problems, fmt.Sprintf("no migration version in %s (%v)", schemaVersionTable, err))
	} else if version < prefillOldest || version > prefillNewest {
		problems = append(problems, fmt.Sprintf("the schema is at migration version %d, the prefill mirrors versions %d to %d", version, prefillOldest, prefillNewest))
	}
	rows, err := conn.Query(ctx, `
		SELECT c.table_name, c.column_name, c.is_nullable = 'NO' AND c.column_default IS NULL AND c.is_identity = 'NO' AND c.is_generated = 'NEVER'
		  FROM information_schema.columns c
		  JOIN information_schema.tables t USING (table_schema, table_name)
		 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1`, schemaVersionTable)
	if err != nil {
		return 0, err
	}
	type column struct{ required bool }
	have := map[string]map[string]column{}
	for rows.Next() {
		var table, col string
		var required bool
		if err := rows.Scan(&table, &col, &required); err != nil {
			return 0, err
		}
		if have[table] == nil {
			have[table] = map[string]column{}
		}
		have[table][col] = column{required}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	known := map[string]bool{}
	for _, t := range prefillEmpty {
		known[t] = true
		if have[t] == nil && version >= tableSince[t] {
			problems = append(problems, fmt.Sprintf("table %s is gone", t))
		}
	}
	for t, cols := range prefillColumns {
		if version < tableSince[t] {
			continue
		}
		known[t] = true
		if have[t] == nil {
			problems = append(problems, fmt.Sprintf("table %s is gone", t))
			continue
		}
		writes := map[string]bool{}
		for _, c := range cols {
			writes[c] = true
			if _, ok := have[t][c]; !ok {
				problems = append(problems, fmt.Sprintf("column %s.%s is gone", t, c))
			}
		}
		for c, col := range have[t] {
			if col.required && !writes[c] {
				problems = append(problems, fmt.Sprintf("column %s.%s is required and the prefill does not write it", t, c))
			}
		}
	}
	for t := range have {
		if !known[t] {
			problems = append(problems, fmt.Sprintf("table %s is new to the prefill", t))
		}
	}
	if len(problems) == 0 {
		return version, nil
	}
	sort.Strings(problems)
	return version, fmt.Errorf("the ledger's schema is not the one cmd/bench/prefill.go writes, so it will not build (f)'s history: %s. "+
		"Mirror the store's schema change in cmd/bench/prefill.go (and prefillNewest), or run without f (BENCH_ONLY=a,b,c,d)",
		strings.Join(problems, "; "))
}

type fundHead struct {
	hash  []byte
	time  time.Time
	total int64 // cents approved
	tree  merkle.Frontier
}

type prefill struct {
	version int     // the schema's migration version
	nodes   [][]any // merkle_nodes rows, from treeVersion on
	funds   []string
	per     []int
	base    time.Time
	heads   []fundHead
}

const prefillGrantCents = 50000 // a grant's base amount; see amount

func (h *prefill) amount(seq int) int64 { return prefillGrantCents + int64(seq%50)*100 }

// contribution is transaction 1 of every fund: enough cash for all its
// history and for what the measurement adds.
func (h *prefill) contribution(i int) int64 {
	return int64(h.per[i])*(prefillGrantCents+5000) + 100_000_000_00
}

func (h *prefill) short(i int) string { return fmt.Sprintf("h%02d", i) }

func (h *prefill) grantID(i, seq int) string { return fmt.Sprintf("%s-hist-%08d", h.short(i), seq) }

func (h *prefill) ben(i, seq int) string { return fmt.Sprintf("%s-hist-b%05d", h.short(i), seq%20000) }

func (h *prefill) eventID(i, seq int) string { return fmt.Sprintf("hist-%s-%08d", h.short(i), seq) }

func (h *prefill) at(seq int) time.Time { return h.base.Add(time.Duration(seq) * 3 * time.Second) }

func (h *prefill) date(seq int) string { return h.at(seq).Format(time.DateOnly) }

func numeric(cents int64) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(cents), Exp: -2, Valid: true}
}

// txn is transaction seq of fund i as the ledger would have posted it.
func (h *prefill) txn(i, seq int, prev []byte) *ledger.Txn {
	f := h.funds[i]
	t := &ledger.Txn{FundID: f, Seq: int64(seq), EventID: h.eventID(i, seq), Source: "approvals/history", Time: h.at(seq), PrevHash: prev}
	if seq == 1 {
		c := h.contribution(i)
		t.Type = "contribution.received"
		t.Refs = []ledger.Ref{{Key: "contribution_id", Value: h.short(i) + "-hist-c1"}, {Key: "source_kind", Value: "fiscal"},
			{Key: "payer", Value: "finance bureau"}, {Key: "bank_ref", Value: "BR-HIST"}, {Key: "received_on", Value: h.date(1)}}
		t.Postings = []ledger.Posting{{Account: ledger.AccountCash, Side: ledger.Debit, Amount: decimal.New(c, -2)},
			{Account: ledger.ContributionAccount("fiscal"), Side: ledger.Credit, Amount: decimal.New(c, -2)}}
	} else {
		a := decimal.New(h.amount(seq), -2)
		t.Type = "grant.approved"
		t.Refs = []ledger.Ref{{Key: "grant_id", Value: h.grantID(i, seq)}, {Key: "beneficiary_ref", Value: h.ben(i, seq)},
			{Key: "program", Value: "care_fund"}, {Key: "category", Value: "living"}, {Key: "requested_by", Value: "caseworker-01"},
			{Key: "approved_by", Value: "officer-01"}, {Key: "approved_on", Value: h.date(seq)}}
		t.Postings = []ledger.Posting{{Account: ledger.GrantExpenseAccount("care_fund"), Side: ledger.Debit, Amount: a},
			{Account: ledger.AccountGrantsPayable, Side: ledger.Credit, Amount: a}}
	}
	ledger.SortRefs(t.Refs)
	t.Hash = ledger.HashTxn(t)
	return t
}

// rows walks every transaction of every fund (fund by fund, seq by seq)
// and lets row turn it into zero or more rows.
func (h *prefill) rows(row func(i, seq int) []any) pgx.CopyFromSource {
	i, seq := 0, 0
	return pgx.CopyFromFunc(func() ([]any, error) {
		for {
			seq++
			for i < len(h.funds) && seq > h.per[i] {
				i, seq = i+1, 1
			}
			if i >= len(h.funds) {
				return nil, nil
			}
			if r := row(i, seq); r != nil {
				return r, nil
			}
		}
	})
}

func (h *prefill) copyJournal(ctx context.Context, c *pgx.Conn) error {
	prev := ledger.GenesisHash
	src := h.rows(func(i, seq int) []any {
		if seq == 1 {
			prev = ledger.GenesisHash
		}
		t := h.txn(i, seq, prev)
		prev = t.Hash
		h.heads[i].hash, h.heads[i].time = t.Hash, t.Time
		if h.version >= treeVersion {
			h.heads[i].tree.Append(merkle.LeafHash(t.Hash), func(n merkle.Node, x merkle.Hash) {
				if n.Level >= ledger.TreeStoredLevel {
					h.nodes = append(h.nodes, []any{t.FundID, int16(n.Level), int64(n.Index), x[:]})
				}
			})
		}
		refs := make(map[string]string, len(t.Refs))
		for _, r := range t.Refs {
			refs[r.Key] = r.Value
		}
		rj, _ := json.Marshal(refs)
		return []any{t.FundID, t.Seq, t.EventID, t.Type, t.Source, t.Time, json.RawMessage(rj), t.PrevHash, t.Hash}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"journal"}, prefillColumns["journal"], src)
	return err
}

func (h *prefill) copyPostings(ctx context.Context, c *pgx.Conn) error {
	line := 0
	seqNow, fundNow := 0, 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		for {
			if line == 0 {
				seqNow++
				for fundNow < len(h.funds) && seqNow > h.per[fundNow] {
					fundNow, seqNow = fundNow+1, 1
				}
				if fundNow >= len(h.funds) {
					return nil, nil
				}
			}
			i, seq, l := fundNow, seqNow, line
			line = (line + 1) % 2
			var account, side string
			var cents int64
			if seq == 1 {
				cents = h.contribution(i)
				account, side = ledger.AccountCash, "debit"
				if l == 1 {
					account, side = ledger.ContributionAccount("fiscal"), "credit"
				}
			} else {
				cents = h.amount(seq)
				account, side = ledger.GrantExpenseAccount("care_fund"), "debit"
				if l == 1 {
					account, side = ledger.AccountGrantsPayable, "credit"
				}
			}
			return []any{h.funds[i], int64(seq), int32(l), account, side, numeric(cents)}, nil
		}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"postings"}, prefillColumns["postings"], src)
	return err
}

func (h *prefill) copyGrants(ctx context.Context, c *pgx.Conn) error {
	src := h.rows(func(i, seq int) []any {
		if seq == 1 {
			return nil
		}
		d, _ := time.Parse(time.DateOnly, h.date(seq))
		return []any{h.funds[i], h.grantID(i, seq), h.ben(i, seq), "care_fund", "living", d, h.eventID(i, seq),
			numeric(h.amount(seq)), numeric(0), numeric(0), numeric(0), numeric(0), false, int32(1)}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"grants"}, prefillColumns["grants"], src)
	return err
}

func (h *prefill) copyBiz(ctx context.Context, c *pgx.Conn) error {
	src := h.rows(func(i, seq int) []any {
		kind, id := "grant", h.grantID(i, seq)
		if seq == 1 {
			kind, id = "contribution", h.short(i)+"-hist-c1"
		}
		sum := sha256.Sum256([]byte(id))
		return []any{h.funds[i], kind, id, h.eventID(i, seq), sum[:]}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"business_ids"}, prefillColumns["business_ids"], src)
	return err
}

func (h *prefill) copyActivity(ctx context.Context, c *pgx.Conn) error {
	src := h.rows(func(i, seq int) []any {
		if seq == 1 {
			return nil
		}
		return []any{h.funds[i], h.grantID(i, seq), int32(1), "approved", "", numeric(h.amount(seq)), int64(seq), h.eventID(i, seq), h.at(seq)}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"grant_activity"}, prefillColumns["grant_activity"], src)
	return err
}

func (h *prefill) copyInbox(ctx context.Context, c *pgx.Conn) error {
	src := h.rows(func(i, seq int) []any {
		typ := "grant.approved"
		if seq == 1 {
			typ = "contribution.received"
		}
		return []any{h.eventID(i, seq), h.funds[i], typ, int64(0), "posted", h.at(seq)}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"inbox"}, prefillColumns["inbox"], src)
	return err
}

func (h *prefill) copyCaps(ctx context.Context, c *pgx.Conn) error {
	var rows [][]any
	for i := range h.funds {
		used := map[string]int64{}
		var order []string
		for seq := 2; seq <= h.per[i]; seq++ {
			b := h.ben(i, seq)
			if _, ok := used[b]; !ok {
				order = append(order, b)
			}
			used[b] += h.amount(seq)
			h.heads[i].total += h.amount(seq)
		}
		for _, b := range order {
			rows = append(rows, []any{h.funds[i], "care_fund", b, int32(2025), numeric(used[b])})
		}
	}
	_, err := c.CopyFrom(ctx, pgx.Identifier{"cap_usage"}, prefillColumns["cap_usage"], pgx.CopyFromRows(rows))
	return err
}

// copyFunds opens the funds with their programs, kept balances, chain
// heads and relay cursors (after the journal and cap_usage loaders filled
// heads).
func (h *prefill) copyFunds(ctx context.Context, c *pgx.Conn) error {
	var funds, progs, bals [][]any
	opened := h.base
	for i, f := range h.funds {
		hd := h.heads[i]
		var headTime any
		head := ledger.GenesisHash
		if h.per[i] > 0 {
			head, headTime = hd.hash, hd.time
		}
		open := int64(max(h.per[i]-1, 0))
		funds = append(funds, []any{f, "Care fund " + f, "CNY", "hist-open-" + f, opened, int64(h.per[i]), head, headTime, open, int64(0), int64(0)})
		for _, p := range workload.Programs() {
			var cp any
			if p.Cap != "" {
				cp = p.Cap
			}
			progs = append(progs, []any{f, p.Code, cp})
		}
		if h.per[i] > 0 {
			c := h.contribution(i)
			bals = append(bals, []any{f, ledger.AccountCash, numeric(c), numeric(0)},
				[]any{f, ledger.ContributionAccount("fiscal"), numeric(0), numeric(c)})
			if hd.total > 0 {
				bals = append(bals, []any{f, ledger.GrantExpenseAccount("care_fund"), numeric(hd.total), numeric(0)},
					[]any{f, ledger.AccountGrantsPayable, numeric(0), numeric(hd.total)})
			}
		}
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"funds"}, prefillColumns["funds"], pgx.CopyFromRows(funds)); err != nil {
		return err
	}
	for _, p := range progs {
		if _, err := c.Exec(ctx, `INSERT INTO programs (`+strings.Join(prefillColumns["programs"], ", ")+`) VALUES ($1, $2, $3::numeric)`, p...); err != nil {
			return err
		}
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"balances"}, prefillColumns["balances"], pgx.CopyFromRows(bals)); err != nil {
		return err
	}
	if h.version < relayCursorVersion {
		return nil
	}
	// The history was published long ago: each fund's relay cursor is at
	// its head (migrations/006), or the relay would publish it all again
	// during the measurement.
	var cursors [][]any
	for i, f := range h.funds {
		cursors = append(cursors, []any{f, int64(h.per[i])})
	}
	_, err := c.CopyFrom(ctx, pgx.Identifier{"relay_cursor"}, prefillColumns["relay_cursor"], pgx.CopyFromRows(cursors))
	return err
}

// writeTree stores the Merkle tree of the history (migrations/015): the
// complete subtrees the store keeps and each fund's frontier, as the
// store's writer would have left them.
func (h *prefill) writeTree(ctx context.Context, c *pgx.Conn) error {
	if h.version < treeVersion {
		return nil
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"merkle_nodes"}, prefillColumns["merkle_nodes"], pgx.CopyFromRows(h.nodes)); err != nil {
		return err
	}
	for i, f := range h.funds {
		if _, err := c.Exec(ctx, `UPDATE funds SET merkle_frontier = $2 WHERE fund_id = $1`, f, h.heads[i].tree.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// periods has the store derive the period records of the history
// (migrations/014), as it does once for a journal written before them, so
// that serve does not do it during a measurement.
func (h *prefill) periods(ctx context.Context, c *pgx.Conn, dbURL string) error {
	if h.version < periodsVersion {
		return nil
	}
	if _, err := c.Exec(ctx, `INSERT INTO period_backfill VALUES (true) ON CONFLICT DO NOTHING`); err != nil {
		return err
	}
	st, err := postgres.Open(ctx, dbURL, postgres.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.BackfillPeriods(ctx, nil)
	return err
}

// bookItems lists the history's cash postings (each fund's opening
// contribution) as the unmatched book items of bank reconciliation
// (migrations/013), with the business date the writer gives them.
func (h *prefill) bookItems(ctx context.Context, c *pgx.Conn) error {
	if h.version < reconVersion {
		return nil
	}
	_, err := c.Exec(ctx, `
		INSERT INTO recon_book_open (`+strings.Join(prefillColumns["recon_book_open"], ", ")+`)
		SELECT p.fund_id, p.seq, p.line, j.type, (j.refs->>'received_on')::date,
		       CASE p.side WHEN 'debit' THEN 'credit' ELSE 'debit' END, p.amount, nullif(j.refs->>'bank_ref', '')
		  FROM postings p JOIN journal j ON j.fund_id = p.fund_id AND j.seq = p.seq
		 WHERE p.seq = 1 AND p.account = $1`, ledger.AccountCash)
	return err
}
