package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"sync"
	"time"

	"github.com/fundledger/fundledger/ledger"
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

// buildTemplate makes the template of measure (f). The history is written
// straight into the tables with COPY, not through the ledger, as the
// superuser with session_replication_role = replica (no triggers, no
// foreign-key checks while loading). It is valid by construction: per fund,
// transaction 1 is a fiscal contribution and every later one a care-fund
// grant approved in 2025 (so no cap of 2026 is touched), each with its two
// postings, its hash chained exactly as ledger.HashTxn does, and the rows
// the ledger keeps beside the journal for it (grants, business_ids,
// grant_activity, inbox, cap_usage, balances, the fund's chain head). The
// template is then VACUUM ANALYZEd, as a database that had been running a
// while would be.
func (b *bench) buildTemplate(ctx context.Context, txns int) (*benchTemplate, error) {
	t0 := time.Now()
	b.dbSeq++
	name := fmt.Sprintf("fl_bench_tmpl_%d_%d", txns, b.dbSeq)
	b.dropDB(name)
	admin, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return nil, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	admin.Close(context.Background())
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(b.adminURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	dbURL := u.String()
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		return nil, err
	}
	funds := workload.FundIDs(len(workload.Districts))
	per := make([]int, len(funds))
	for i := range per {
		per[i] = txns / len(funds)
		if i < txns%len(funds) {
			per[i]++
		}
	}
	h := &prefill{funds: funds, per: per, base: time.Date(2025, 1, 2, 1, 0, 0, 0, time.UTC), heads: make([]fundHead, len(funds))}

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
					fmt.Fprintf(b.log, "bench:   prefill step done in %.1fs\n", time.Since(t).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("prefill: %w", err)
		}
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	if err := h.copyFunds(ctx, conn); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("prefill funds: %w", err)
	}
	tv := time.Now()
	_, err = conn.Exec(ctx, "VACUUM ANALYZE")
	conn.Close(context.Background())
	if err != nil {
		return nil, err
	}
	took := time.Since(t0)
	fmt.Fprintf(b.log, "bench: template %s with %d transactions built in %.1fs (VACUUM ANALYZE %.1fs)\n", name, txns, took.Seconds(), time.Since(tv).Seconds())
	return &benchTemplate{name: name, txns: int64(txns), took: took}, nil
}

type fundHead struct {
	hash  []byte
	time  time.Time
	total int64 // cents approved
}

type prefill struct {
	funds []string
	per   []int
	base  time.Time
	heads []fundHead
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
		refs := make(map[string]string, len(t.Refs))
		for _, r := range t.Refs {
			refs[r.Key] = r.Value
		}
		rj, _ := json.Marshal(refs)
		return []any{t.FundID, t.Seq, t.EventID, t.Type, t.Source, t.Time, json.RawMessage(rj), t.PrevHash, t.Hash}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"journal"}, []string{"fund_id", "seq", "event_id", "type", "source", "recorded_at", "refs", "prev_hash", "hash"}, src)
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
	_, err := c.CopyFrom(ctx, pgx.Identifier{"postings"}, []string{"fund_id", "seq", "line", "account", "side", "amount"}, src)
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
	_, err := c.CopyFrom(ctx, pgx.Identifier{"grants"}, []string{"fund_id", "grant_id", "beneficiary_ref", "program", "category", "approved_on",
		"event_id", "approved", "paid", "returned", "cancelled", "recovered", "closed", "activity_n"}, src)
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
	_, err := c.CopyFrom(ctx, pgx.Identifier{"business_ids"}, []string{"fund_id", "kind", "id", "event_id", "content_hash"}, src)
	return err
}

func (h *prefill) copyActivity(ctx context.Context, c *pgx.Conn) error {
	src := h.rows(func(i, seq int) []any {
		if seq == 1 {
			return nil
		}
		return []any{h.funds[i], h.grantID(i, seq), int32(1), "approved", "", numeric(h.amount(seq)), int64(seq), h.eventID(i, seq), h.at(seq)}
	})
	_, err := c.CopyFrom(ctx, pgx.Identifier{"grant_activity"}, []string{"fund_id", "grant_id", "n", "kind", "ref", "amount", "journal_seq", "event_id", "recorded_at"}, src)
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
	_, err := c.CopyFrom(ctx, pgx.Identifier{"inbox"}, []string{"event_id", "fund_id", "type", "stream_seq", "outcome", "processed_at"}, src)
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
	_, err := c.CopyFrom(ctx, pgx.Identifier{"cap_usage"}, []string{"fund_id", "program", "beneficiary_ref", "year", "used"}, pgx.CopyFromRows(rows))
	return err
}

// copyFunds opens the funds with their programs, kept balances and chain
// heads (after the journal and cap_usage loaders filled heads).
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
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"funds"}, []string{"fund_id", "name", "currency", "opened_event_id", "opened_at", "head_seq",
		"head_hash", "head_time", "open_grants", "snapshot_seq", "snapshot_journal_seq"}, pgx.CopyFromRows(funds)); err != nil {
		return err
	}
	for _, p := range progs {
		if _, err := c.Exec(ctx, `INSERT INTO programs (fund_id, code, cap) VALUES ($1, $2, $3::numeric)`, p...); err != nil {
			return err
		}
	}
	_, err := c.CopyFrom(ctx, pgx.Identifier{"balances"}, []string{"fund_id", "account", "debits", "credits"}, pgx.CopyFromRows(bals))
	return err
}
