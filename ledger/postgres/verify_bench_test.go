package postgres_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// benchSigner signs the generated snapshots with a fixed key.
type benchSigner struct{ priv ed25519.PrivateKey }

func (s benchSigner) KeyID() string          { return ledger.SigningKeyID(s.priv.Public().(ed25519.PublicKey)) }
func (s benchSigner) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// generateFund writes a fund of n valid, chained transactions straight
// into the tables (COPY, postings before journal, with the append-only and
// balance triggers on, as the store writes them), with its kept balances,
// head and a signed snapshot every 10,000 transactions (the default
// SNAPSHOT_EVERY). The mix is a care fund's: for every 10 transactions, 2
// contributions, 4 grant approvals with 7 references each, and 4
// disbursements paying earlier grants in full.
func generateFund(tb testing.TB, url, fundID string, n int64) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	signer := benchSigner{ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	pub := signer.priv.Public().(ed25519.PublicKey)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &ledger.Fund{ID: fundID, Name: "Generated fund", Currency: "CNY", OpenedEventID: "evt-open", OpenedAt: t0,
		HeadHash: ledger.GenesisHash, Balances: map[string]*ledger.Balance{}}
	if _, err := conn.Exec(ctx, `INSERT INTO signing_keys VALUES ($1, $2, now()) ON CONFLICT DO NOTHING`, signer.KeyID(), []byte(pub)); err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO funds (fund_id, name, currency, opened_event_id, opened_at, head_hash) VALUES ($1, $2, 'CNY', $3, $4, $5)`,
		f.ID, f.Name, f.OpenedEventID, f.OpenedAt, f.HeadHash); err != nil {
		tb.Fatal(err)
	}
	const chunk = 20000
	var jrows, prows, srows, nrows [][]any
	flush := func() {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"journal"}, []string{"fund_id", "seq", "event_id", "type", "source", "recorded_at", "refs", "prev_hash", "hash"}, pgx.CopyFromRows(jrows)); err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"postings"}, []string{"fund_id", "seq", "line", "account", "side", "amount"}, pgx.CopyFromRows(prows)); err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"merkle_nodes"}, []string{"fund_id", "level", "idx", "hash"}, pgx.CopyFromRows(nrows)); err != nil {
				return err
			}
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"snapshots"}, []string{"fund_id", "snapshot_seq", "label", "as_of_journal_seq", "body", "published", "created_at"}, pgx.CopyFromRows(srows))
			return err
		})
		if err != nil {
			tb.Fatalf("copy generated rows: %v", err)
		}
		jrows, prows, srows, nrows = jrows[:0], prows[:0], srows[:0], nrows[:0]
	}
	grantsApproved, grantsPaid := int64(0), int64(0)
	amountOf := func(g int64) decimal.Decimal { return decimal.New(10000+(g*7919)%990000, -2) } // 100.00 to 9999.99
	post := func(t *ledger.Txn) {
		t.FundID, t.Seq, t.PrevHash, t.Source = f.ID, f.HeadSeq+1, f.HeadHash, "approvals/generated"
		t.Time = t0.Add(time.Duration(t.Seq) * time.Millisecond)
		t.EventID = "evt-" + strconv.FormatInt(t.Seq, 10)
		ledger.SortRefs(t.Refs)
		t.Hash = ledger.HashTxn(t)
		refs := make(map[string]string, len(t.Refs))
		for _, r := range t.Refs {
			refs[r.Key] = r.Value
		}
		rj, _ := json.Marshal(refs)
		jrows = append(jrows, []any{t.FundID, t.Seq, t.EventID, t.Type, t.Source, t.Time, json.RawMessage(rj), t.PrevHash, t.Hash})
		for i, p := range t.Postings {
			prows = append(prows, []any{t.FundID, t.Seq, int32(i), p.Account, string(p.Side), p.Amount})
			b := f.Balance(p.Account)
			if p.Side == ledger.Debit {
				b.Debits = b.Debits.Add(p.Amount)
			} else {
				b.Credits = b.Credits.Add(p.Amount)
			}
		}
		f.HeadSeq, f.HeadHash, f.HeadTime = t.Seq, t.Hash, t.Time
		f.Tree.Append(merkle.LeafHash(t.Hash), func(n merkle.Node, h merkle.Hash) {
			if n.Level >= ledger.TreeStoredLevel {
				nrows = append(nrows, []any{f.ID, int16(n.Level), int64(n.Index), h[:]})
			}
		})
		if f.HeadSeq%10000 == 0 {
			s := ledger.TakeSnapshot(f, "", signer)
			body, _ := json.Marshal(s)
			srows = append(srows, []any{f.ID, s.SnapshotSeq, s.Label, s.AsOfJournalSeq, json.RawMessage(body), body, time.Now()})
		}
		if len(jrows) >= chunk {
			flush()
		}
	}
	pair := func(dr, cr string, a decimal.Decimal) []ledger.Posting {
		return []ledger.Posting{{Account: dr, Side: ledger.Debit, Amount: a}, {Account: cr, Side: ledger.Credit, Amount: a}}
	}
	for f.HeadSeq < n {
		switch f.HeadSeq % 10 {
		case 0, 5:
			id := "c-" + strconv.FormatInt(f.HeadSeq, 10)
			post(&ledger.Txn{Type: "contribution.received", Refs: []ledger.Ref{{Key: "contribution_id", Value: id}, {Key: "source_kind", Value: "fiscal"},
				{Key: "payer", Value: "District finance bureau"}, {Key: "bank_ref", Value: "BR-" + id}, {Key: "received_on", Value: "2026-01-05"}},
				Postings: pair(ledger.AccountCash, "contributions:fiscal", decimal.New(2000000, -2))})
		case 1, 3, 6, 8:
			grantsApproved++
			f.OpenGrants++ // before post: a snapshot it takes counts this grant
			g := "g-" + strconv.FormatInt(grantsApproved, 10)
			post(&ledger.Txn{Type: "grant.approved", Refs: []ledger.Ref{{Key: "grant_id", Value: g}, {Key: "beneficiary_ref", Value: "ben-" + strconv.FormatInt(grantsApproved%5000, 10)},
				{Key: "program", Value: "care_fund"}, {Key: "category", Value: "medical"}, {Key: "requested_by", Value: "caseworker-1"},
				{Key: "approved_by", Value: "officer-7"}, {Key: "approved_on", Value: "2026-03-02"}},
				Postings: pair("grant_expense:care_fund", ledger.AccountGrantsPayable, amountOf(grantsApproved))})
		default:
			grantsPaid++
			f.OpenGrants--
			g := "g-" + strconv.FormatInt(grantsPaid, 10)
			post(&ledger.Txn{Type: "grant.disbursed", Refs: []ledger.Ref{{Key: "grant_id", Value: g}, {Key: "payment_id", Value: "p-" + strconv.FormatInt(grantsPaid, 10)},
				{Key: "bank_ref", Value: "BK-" + strconv.FormatInt(grantsPaid, 10)}, {Key: "paid_on", Value: "2026-03-03"}, {Key: "program", Value: "care_fund"}},
				Postings: pair(ledger.AccountGrantsPayable, ledger.AccountCash, amountOf(grantsPaid))})
		}
	}
	flush()
	for name, b := range f.Balances {
		if _, err := conn.Exec(ctx, `INSERT INTO balances VALUES ($1, $2, $3, $4)`, f.ID, name, b.Debits.String(), b.Credits.String()); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `UPDATE funds SET head_seq = $2, head_hash = $3, head_time = $4, open_grants = $5, snapshot_seq = $6, snapshot_journal_seq = $7,
		merkle_frontier = $8, last_snapshot_hash = $9
		WHERE fund_id = $1`, f.ID, f.HeadSeq, f.HeadHash, f.HeadTime, f.OpenGrants, f.SnapshotSeq, f.SnapshotJournalSeq, f.Tree.Bytes(), f.LastSnapshotHash); err != nil {
		tb.Fatal(err)
	}
	// Vacuumed, as a journal of that size is by the time anyone verifies
	// it: the first read of freshly copied rows would otherwise also write
	// their hint bits, and time that instead.
	for _, tbl := range []string{"journal", "postings", "snapshots"} {
		if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) `+tbl); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestGeneratedFundVerifies keeps the generator honest on a small fund:
// what it writes passes verification, so the benchmark times real work.
func TestGeneratedFundVerifies(t *testing.T) {
	url := testenv.NewDatabase(t)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	generateFund(t, url, "generated", 25_003)
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx, "generated", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.CheckedTransactions != 25_003 || rep.CheckedSnapshots != 2 {
		t.Fatalf("generated fund: ok %v, %d transactions, %d snapshots, problems %v", rep.OK, rep.CheckedTransactions, rep.CheckedSnapshots, rep.Problems)
	}
}

// BenchmarkVerify times Store.Verify over one generated fund of
// FUNDLEDGER_VERIFY_BENCH_TXNS transactions (default 1,000,000) and
// reports seconds per million transactions. Generating the fund takes
// longer than verifying it and is not timed: it happens once, and the
// verifications run as the sub-benchmark "verify". Run:
//
//	FUNDLEDGER_TEST_DATABASE_URL=$(bash scripts/pg-ensure.sh) \
//	  go test -run '^$' -bench BenchmarkVerify -benchtime 3x -timeout 1h ./ledger/postgres/
func BenchmarkVerify(b *testing.B) {
	n := int64(1_000_000)
	if v := os.Getenv("FUNDLEDGER_VERIFY_BENCH_TXNS"); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil || n < 1 {
			b.Fatalf("FUNDLEDGER_VERIFY_BENCH_TXNS=%q: want a positive count", v)
		}
	}
	url := testenv.NewDatabase(b)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, url); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	generateFund(b, url, "generated", n)
	b.Logf("generated %d transactions in %s", n, time.Since(start).Round(time.Millisecond))
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Run("verify", func(b *testing.B) {
		cpu0 := processCPU()
		// The heap in use, sampled every 10,000 transactions: it must
		// not grow with the journal.
		var peakHeap uint64
		sample := func(done, total int64) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peakHeap = max(peakHeap, m.HeapInuse)
		}
		for i := 0; i < b.N; i++ {
			rep, err := s.Verify(ctx, "generated", sample)
			if err != nil {
				b.Fatal(err)
			}
			if !rep.OK || rep.CheckedTransactions != n {
				b.Fatalf("ok %v, checked %d of %d: %v", rep.OK, rep.CheckedTransactions, n, rep.Problems)
			}
		}
		perTxn := b.Elapsed().Seconds() / float64(b.N) / float64(n)
		// The checks' own CPU (this process, all goroutines) apart from
		// the wall time, which also holds PostgreSQL's work and whatever
		// else the machine runs.
		cpuPerM := (processCPU() - cpu0).Seconds() / float64(b.N) / float64(n) * 1e6
		b.ReportMetric(perTxn*1e6, "s/Mtxn")
		b.ReportMetric(cpuPerM, "cpu-s/Mtxn")
		b.ReportMetric(1/perTxn, "txn/s")
		b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(0, "ns/op")
		if b.N > 1 {
			fmt.Fprintf(os.Stderr, "verify: %d transactions, %d runs, %.2f s per million transactions (%.2f s of it CPU in Go), heap at most %.1f MiB\n",
				n, b.N, perTxn*1e6, cpuPerM, float64(peakHeap)/(1<<20))
		}
	})
}

// processCPU is the user and system time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
