package httpapi_test

// A fund of a million journal transactions, written straight into the
// tables with COPY (as cmd/bench's prefill does), for the read API's
// benchmarks (bigfund_bench_test.go; docs/performance.md, "The read API's
// filters on a big fund"). It is a database for reading: the journal is a
// valid hash chain of balanced transactions and the tables the reads use
// beside it (funds, programs, balances, grants, grant_activity, payments,
// cap_usage) agree with it, but the write path's own tables (inbox,
// business_ids) are left empty.
//
// The history mixes what a care fund sees: grant approvals (single and in
// batches of 50), payments (each with its own bank reference), a few
// cancellations, returns, recoveries, contributions and bank charges,
// over three programs (care_fund most, pension_subsidy, and rare_program
// with one grant in 10,000) and 20,000 beneficiaries, one transaction a
// minute from 2024-01-01.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

const (
	bigFundID        = "big-fund"
	bigGenVersion    = 2 // change when the history written changes, so a kept database is rebuilt
	bigBeneficiaries = 20000
	bigBatchLines    = 50
)

var bigBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// bigAt is the recorded time of transaction seq: one a minute.
func bigAt(seq int64) time.Time { return bigBase.Add(time.Duration(seq) * time.Minute) }

type bigGrant struct {
	id, ben, program, eventID                   string
	on                                          time.Time
	approved, paid, returned, cancelled, recovd int64 // cents
	closed                                      bool
	n                                           int32
}

type bigPayment struct {
	id, bankRef, eventID string
	grant                int
	amount, returned     int64
	paidOn               time.Time
}

// bigGen writes the history. Amounts are in cents.
type bigGen struct {
	fund     string
	n        int64
	rng      *rand.Rand
	seq      int64
	prev     []byte
	grants   []bigGrant
	payments []bigPayment
	unpaid   []int // grants approved and not paid, oldest first
	paidOut  []int // payments with nothing returned yet
	balances map[string][2]int64
	caps     map[[3]string]int64 // program, ben, year -> used
	batch    int                 // lines left in the current batch
	batchID  string

	journal, postings, activity [][]any
	tree                        merkle.Frontier
	nodes                       [][]any // merkle_nodes rows
}

func cents(c int64) pgtype.Numeric { return pgtype.Numeric{Int: big.NewInt(c), Exp: -2, Valid: true} }

func (g *bigGen) program() string {
	switch r := g.rng.IntN(10000); {
	case r == 0:
		return "rare_program"
	case r < 3000:
		return "pension_subsidy"
	default:
		return "care_fund"
	}
}

// post appends transaction g.seq with its postings (debit account, credit
// account, amount) to the rows to copy.
func (g *bigGen) post(typ string, refs map[string]string, debit, credit string, amount int64) {
	t := &ledger.Txn{FundID: g.fund, Seq: g.seq, EventID: fmt.Sprintf("big-%08d", g.seq), Type: typ, Source: "approvals/big",
		Time: bigAt(g.seq), PrevHash: g.prev}
	for k, v := range refs {
		t.Refs = append(t.Refs, ledger.Ref{Key: k, Value: v})
	}
	ledger.SortRefs(t.Refs)
	a := decimal.New(amount, -2)
	t.Postings = []ledger.Posting{{Account: debit, Side: ledger.Debit, Amount: a}, {Account: credit, Side: ledger.Credit, Amount: a}}
	t.Hash = ledger.HashTxn(t)
	g.prev = t.Hash
	g.tree.Append(merkle.LeafHash(t.Hash), func(n merkle.Node, h merkle.Hash) {
		if n.Level >= ledger.TreeStoredLevel {
			g.nodes = append(g.nodes, []any{g.fund, int16(n.Level), int64(n.Index), h[:]})
		}
	})
	rj, _ := json.Marshal(refs)
	g.journal = append(g.journal, []any{g.fund, t.Seq, t.EventID, t.Type, t.Source, t.Time, json.RawMessage(rj), t.PrevHash, t.Hash})
	g.postings = append(g.postings, []any{g.fund, t.Seq, int32(0), debit, "debit", cents(amount)},
		[]any{g.fund, t.Seq, int32(1), credit, "credit", cents(amount)})
	d := g.balances[debit]
	d[0] += amount
	g.balances[debit] = d
	c := g.balances[credit]
	c[1] += amount
	g.balances[credit] = c
}

func (g *bigGen) act(gi int, kind, ref string, amount int64) {
	gr := &g.grants[gi]
	gr.n++
	g.activity = append(g.activity, []any{g.fund, gr.id, gr.n, kind, ref, cents(amount), g.seq, fmt.Sprintf("big-%08d", g.seq), bigAt(g.seq)})
}

func (g *bigGen) date(seq int64) string { return bigAt(seq).Format(time.DateOnly) }

// next writes transaction g.seq (already advanced).
func (g *bigGen) next() {
	seq := g.seq
	if seq == 1 {
		g.post("contribution.received", map[string]string{"contribution_id": "c-1", "source_kind": "fiscal", "payer": "finance bureau",
			"bank_ref": "BR-C1", "received_on": g.date(seq)}, ledger.AccountCash, ledger.ContributionAccount("fiscal"), g.n*200000)
		return
	}
	r := g.rng.IntN(1000)
	if g.batch > 0 {
		r = -1
	}
	switch {
	case r < 0 || (r < 3 && g.startBatch()):
		g.approve("grant.batch.approved")
		g.batch--
	case r < 500 || len(g.unpaid) == 0:
		g.approve("grant.approved")
	case r < 850:
		gi := g.unpaid[0]
		g.unpaid = g.unpaid[1:]
		gr := &g.grants[gi]
		amt := gr.approved - gr.cancelled - gr.paid + gr.returned
		pid := fmt.Sprintf("p-%08d", seq)
		bank := fmt.Sprintf("BR-%08d", seq)
		g.post("grant.disbursed", map[string]string{"grant_id": gr.id, "payment_id": pid, "bank_ref": bank, "paid_on": g.date(seq),
			"program": gr.program}, ledger.AccountGrantsPayable, ledger.AccountCash, amt)
		gr.paid += amt
		g.payments = append(g.payments, bigPayment{id: pid, bankRef: bank, eventID: fmt.Sprintf("big-%08d", seq), grant: gi, amount: amt,
			paidOn: bigAt(seq).Truncate(24 * time.Hour)})
		g.paidOut = append(g.paidOut, len(g.payments)-1)
		g.act(gi, "disbursed", pid, amt)
	case r < 870:
		gi := g.unpaid[len(g.unpaid)-1]
		g.unpaid = g.unpaid[:len(g.unpaid)-1]
		gr := &g.grants[gi]
		amt := gr.approved - gr.cancelled - gr.paid + gr.returned
		g.post("grant.cancelled", map[string]string{"grant_id": gr.id, "cancelled_by": "officer-02", "reason": "no longer eligible",
			"program": gr.program}, ledger.AccountGrantsPayable, ledger.GrantExpenseAccount(gr.program), amt)
		gr.cancelled, gr.closed = amt, true
		g.caps[[3]string{gr.program, gr.ben, strconv.Itoa(gr.on.Year())}] -= amt
		g.act(gi, "cancelled", "", amt)
	case r < 890 && len(g.paidOut) > 0:
		i := g.rng.IntN(len(g.paidOut))
		pi := g.paidOut[i]
		g.paidOut = append(g.paidOut[:i], g.paidOut[i+1:]...)
		p := &g.payments[pi]
		gr := &g.grants[p.grant]
		amt := p.amount / 2
		g.post("payment.returned", map[string]string{"grant_id": gr.id, "payment_id": p.id, "reason": "account closed",
			"program": gr.program}, ledger.AccountCash, ledger.AccountGrantsPayable, amt)
		p.returned += amt
		gr.returned += amt
		if !gr.closed {
			g.unpaid = append(g.unpaid, p.grant)
		}
		g.act(p.grant, "returned", p.id, amt)
	case r < 900 && len(g.payments) > 0:
		p := g.payments[g.rng.IntN(len(g.payments))]
		gr := &g.grants[p.grant]
		net := gr.paid - gr.returned - gr.recovd
		if net < 10 {
			g.contribution()
			return
		}
		rid := fmt.Sprintf("rc-%08d", seq)
		g.post("grant.recovered", map[string]string{"grant_id": gr.id, "recovery_id": rid, "bank_ref": fmt.Sprintf("RC-%08d", seq),
			"reason": "overpaid", "program": gr.program}, ledger.AccountCash, ledger.GrantExpenseAccount(gr.program), net/10)
		gr.recovd += net / 10
		g.act(p.grant, "recovered", rid, net/10)
	case r < 901:
		g.post("bank.charge.recorded", map[string]string{"charge_id": fmt.Sprintf("ch-%08d", seq), "bank_ref": fmt.Sprintf("BC-%08d", seq),
			"charged_on": g.date(seq), "description": "transfer fees", "requested_by": "clerk-01", "approved_by": "officer-01"},
			"expenses:bank_charges", ledger.AccountCash, 1500)
	default:
		g.contribution()
	}
}

func (g *bigGen) contribution() {
	g.post("contribution.received", map[string]string{"contribution_id": fmt.Sprintf("c-%08d", g.seq), "source_kind": "donation",
		"payer": "donor", "bank_ref": fmt.Sprintf("BR-C%08d", g.seq), "received_on": g.date(g.seq)},
		ledger.AccountCash, ledger.ContributionAccount("donation"), 1000000)
}

func (g *bigGen) startBatch() bool {
	if g.n-g.seq < bigBatchLines {
		return false
	}
	g.batch, g.batchID = bigBatchLines, fmt.Sprintf("batch-%08d", g.seq)
	return true
}

func (g *bigGen) approve(typ string) {
	seq := g.seq
	gr := bigGrant{id: fmt.Sprintf("g-%08d", seq), ben: fmt.Sprintf("b-%05d", g.rng.IntN(bigBeneficiaries)), program: g.program(),
		eventID: fmt.Sprintf("big-%08d", seq), on: bigAt(seq).Truncate(24 * time.Hour), approved: 50000 + int64(g.rng.IntN(50))*100}
	refs := map[string]string{"grant_id": gr.id, "beneficiary_ref": gr.ben, "program": gr.program, "category": "living",
		"requested_by": "caseworker-01", "approved_by": "officer-01", "approved_on": gr.on.Format(time.DateOnly)}
	if typ == "grant.batch.approved" {
		refs["batch_id"] = g.batchID
	}
	g.post(typ, refs, ledger.GrantExpenseAccount(gr.program), ledger.AccountGrantsPayable, gr.approved)
	g.grants = append(g.grants, gr)
	gi := len(g.grants) - 1
	g.unpaid = append(g.unpaid, gi)
	g.caps[[3]string{gr.program, gr.ben, strconv.Itoa(gr.on.Year())}] += gr.approved
	g.act(gi, "approved", "", gr.approved)
}

func newBigGen(fund string, n int64) *bigGen {
	return &bigGen{fund: fund, n: n, rng: rand.New(rand.NewPCG(12, 2026)), prev: ledger.GenesisHash, balances: map[string][2]int64{},
		caps: map[[3]string]int64{}}
}

var (
	bigJournalCols = []string{"fund_id", "seq", "event_id", "type", "source", "recorded_at", "refs", "prev_hash", "hash"}
	bigGrantCols   = []string{"fund_id", "grant_id", "beneficiary_ref", "program", "category", "approved_on", "event_id",
		"approved", "paid", "returned", "cancelled", "recovered", "closed", "activity_n"}
)

// grantRows are the grants as they stand, rows of bigGrantCols.
func (g *bigGen) grantRows() [][]any {
	rows := make([][]any, 0, len(g.grants))
	for _, gr := range g.grants {
		rows = append(rows, []any{g.fund, gr.id, gr.ben, gr.program, "living", gr.on, gr.eventID, cents(gr.approved), cents(gr.paid),
			cents(gr.returned), cents(gr.cancelled), cents(gr.recovd), gr.closed, gr.n})
	}
	return rows
}

// flush copies the rows made so far of the journal, postings and
// grant_activity.
func (g *bigGen) flush(ctx context.Context, c *pgx.Conn) error {
	for _, t := range []struct {
		table string
		cols  []string
		rows  *[][]any
	}{
		{"journal", bigJournalCols, &g.journal},
		{"postings", []string{"fund_id", "seq", "line", "account", "side", "amount"}, &g.postings},
		{"grant_activity", []string{"fund_id", "grant_id", "n", "kind", "ref", "amount", "journal_seq", "event_id", "recorded_at"}, &g.activity},
		{"merkle_nodes", []string{"fund_id", "level", "idx", "hash"}, &g.nodes},
	} {
		if _, err := c.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromRows(*t.rows)); err != nil {
			return fmt.Errorf("copy %s: %w", t.table, err)
		}
		*t.rows = (*t.rows)[:0]
	}
	return nil
}

// writeBigFund writes a fund of n transactions into the migrated database
// c is connected to, as superuser.
func writeBigFund(ctx context.Context, c *pgx.Conn, n int64) error {
	if _, err := c.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		return err
	}
	g := newBigGen(bigFundID, n)
	for g.seq = 1; g.seq <= n; g.seq++ {
		g.next()
		if len(g.journal) >= 50000 {
			if err := g.flush(ctx, c); err != nil {
				return err
			}
		}
	}
	g.seq = n
	if err := g.flush(ctx, c); err != nil {
		return err
	}
	open := int64(0)
	for _, gr := range g.grants {
		if !gr.closed && gr.approved-gr.cancelled-gr.paid+gr.returned > 0 {
			open++
		}
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"grants"}, bigGrantCols, pgx.CopyFromRows(g.grantRows())); err != nil {
		return fmt.Errorf("copy grants: %w", err)
	}
	var rows [][]any
	for _, p := range g.payments {
		rows = append(rows, []any{bigFundID, p.id, g.grants[p.grant].id, cents(p.amount), cents(p.returned), p.paidOn, p.bankRef, p.eventID})
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"payments"}, []string{"fund_id", "payment_id", "grant_id", "amount", "returned", "paid_on",
		"bank_ref", "event_id"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy payments: %w", err)
	}
	rows = rows[:0]
	for k, used := range g.caps {
		y, _ := strconv.Atoi(k[2])
		rows = append(rows, []any{bigFundID, k[0], k[1], int32(y), cents(used)})
	}
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"cap_usage"}, []string{"fund_id", "program", "beneficiary_ref", "year", "used"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy cap_usage: %w", err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO funds (fund_id, name, currency, opened_event_id, opened_at, head_seq, head_hash, head_time, open_grants,
		merkle_frontier)
		VALUES ($1, 'A fund of a million transactions', 'CNY', 'big-open', $2, $3, $4, $5, $6, $7)`,
		bigFundID, bigBase, n, g.prev, bigAt(n), open, g.tree.Bytes()); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, `INSERT INTO programs (fund_id, code, cap) VALUES ($1, 'care_fund', 100000000), ($1, 'pension_subsidy', NULL),
		($1, 'rare_program', 5000)`, bigFundID); err != nil {
		return err
	}
	for acct, b := range g.balances {
		if _, err := c.Exec(ctx, `INSERT INTO balances (fund_id, account, debits, credits) VALUES ($1, $2, $3, $4)`, bigFundID, acct, cents(b[0]), cents(b[1])); err != nil {
			return err
		}
	}
	if _, err := c.Exec(ctx, `INSERT INTO relay_cursor (fund_id, published_seq) VALUES ($1, $2)`, bigFundID, n); err != nil {
		return err
	}
	_, err := c.Exec(ctx, "VACUUM ANALYZE")
	return err
}

// bigFundDB returns the URL of a database holding the big fund of n
// transactions at the current migrations, building it when it is missing
// (or from an older generator), and its name. The caller drops it when it
// is done unless FUNDLEDGER_BIGFUND_KEEP is set: it takes minutes to build
// and about a gigabyte per million transactions.
func bigFundDB(tb testing.TB, n int64) (string, string) {
	tb.Helper()
	ctx := context.Background()
	admin := testenv.AdminURL(tb)
	name := fmt.Sprintf("fl_bigfund_%d_g%d", n, bigGenVersion)
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	ac, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatal(err)
	}
	defer ac.Close(ctx)
	var exists bool
	if err := ac.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		tb.Fatal(err)
	}
	if exists {
		// Kept from an earlier run: complete, and migrated to now?
		c, err := pgx.Connect(ctx, dbURL)
		if err == nil {
			var head int64
			err = c.QueryRow(ctx, `SELECT head_seq FROM funds WHERE fund_id = $1`, bigFundID).Scan(&head)
			c.Close(ctx)
			if err == nil && head == n && postgres.Migrate(ctx, dbURL) == nil {
				tb.Logf("big fund: reusing %s", name)
				return dbURL, name
			}
		}
		if _, err := ac.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Fatal(err)
		}
	}
	t0 := time.Now()
	if _, err := ac.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	if err := postgres.Migrate(ctx, dbURL); err != nil {
		tb.Fatal(err)
	}
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close(ctx)
	if err := writeBigFund(ctx, c, n); err != nil {
		_, _ = ac.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
		tb.Fatalf("write the big fund: %v", err)
	}
	tb.Logf("big fund: %s with %d transactions built in %.0fs", name, n, time.Since(t0).Seconds())
	return dbURL, name
}
