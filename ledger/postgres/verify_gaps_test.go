package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fundledger/fundledger/internal/testenv"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// rehashFund is rehash for any fund: it recomputes prev_hash and hash of
// the fund's transactions from seq from on, and the fund's head.
func rehashFund(t *testing.T, l *testenv.Ledger, fund string, from int64) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := l.DB.Query(ctx, `
		SELECT j.seq, j.event_id, j.type, j.source, j.recorded_at, j.refs, j.prev_hash, j.hash,
		       (SELECT json_agg(json_build_object('account', account, 'side', side, 'amount', amount::text) ORDER BY line)
		          FROM postings p WHERE p.fund_id = j.fund_id AND p.seq = j.seq)
		  FROM journal j WHERE fund_id = $1 ORDER BY seq`, fund)
	if err != nil {
		t.Fatal(err)
	}
	var txns []*ledger.Txn
	for rows.Next() {
		tx := &ledger.Txn{FundID: fund}
		var refs map[string]string
		var posts []struct{ Account, Side, Amount string }
		if err := rows.Scan(&tx.Seq, &tx.EventID, &tx.Type, &tx.Source, &tx.Time, &refs, &tx.PrevHash, &tx.Hash, &posts); err != nil {
			t.Fatal(err)
		}
		for k, v := range refs {
			tx.Refs = append(tx.Refs, ledger.Ref{Key: k, Value: v})
		}
		ledger.SortRefs(tx.Refs)
		for _, p := range posts {
			tx.Postings = append(tx.Postings, ledger.Posting{Account: p.Account, Side: ledger.Side(p.Side), Amount: decimal.RequireFromString(p.Amount)})
		}
		txns = append(txns, tx)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var stmts []string
	prev := ledger.GenesisHash
	var last *ledger.Txn
	var tree merkle.Frontier // the kept Merkle right edge, made to agree too
	for _, tx := range txns {
		if tx.Seq >= from {
			tx.PrevHash = prev
			tx.Hash = ledger.HashTxn(tx)
			stmts = append(stmts, "UPDATE journal SET prev_hash = "+byteaLit(tx.PrevHash)+", hash = "+byteaLit(tx.Hash)+
				" WHERE fund_id = '"+fund+"' AND seq = "+decimal.NewFromInt(tx.Seq).String())
		}
		prev, last = tx.Hash, tx
		tree.Append(merkle.LeafHash(tx.Hash), nil)
	}
	return append(stmts, "UPDATE funds SET head_hash = "+byteaLit(prev)+", head_time = '"+ledger.TimeText(last.Time)+
		"', merkle_frontier = "+byteaLit(tree.Bytes())+" WHERE fund_id = '"+fund+"'")
}

// fixKeptOf makes a fund's kept balances agree with its journal.
func fixKeptOf(fund string) string {
	return `UPDATE balances b
	   SET debits = coalesce((SELECT sum(amount) FROM postings p WHERE p.fund_id = b.fund_id AND p.account = b.account AND side = 'debit'), 0),
	       credits = coalesce((SELECT sum(amount) FROM postings p WHERE p.fund_id = b.fund_id AND p.account = b.account AND side = 'credit'), 0)
	 WHERE b.fund_id = '` + fund + `'`
}

// tamperAll is tamper over the journal and postings, as a superuser.
func tamperAll(t *testing.T, l *testenv.Ledger, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, l.DB, func(tx pgx.Tx) error {
		for _, tbl := range []string{"journal", "postings", "snapshots"} {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+tbl+" DISABLE TRIGGER USER"); err != nil {
				return err
			}
		}
		for _, sql := range stmts {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return errors.New(sql + ": " + err.Error())
			}
		}
		if _, err := tx.Exec(ctx, "SET CONSTRAINTS ALL IMMEDIATE"); err != nil {
			return err
		}
		for _, tbl := range []string{"journal", "postings", "snapshots"} {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+tbl+" ENABLE TRIGGER USER"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// TestAllocationLegsMatch: the city fund's leg of its allocation to the
// district is rewritten to 40,000.00 (both postings, the chain re-hashed,
// the kept balances made to agree; the city fund has no snapshot after
// it). Each fund's own chain checks out; only the other fund's leg, still
// 50,000.00, tells. Verifying the city fund alone reads the district's
// leg by its event id.
func TestAllocationLegsMatch(t *testing.T) {
	l := buildBooks(t)
	ctx := context.Background()
	var seq int64
	if err := l.DB.QueryRow(ctx, `SELECT seq FROM journal WHERE fund_id = $1 AND type = 'allocation.approved'`, cityFund).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	if n := l.Count(`SELECT count(*) FROM snapshots WHERE fund_id = $1 AND as_of_journal_seq >= $2`, cityFund, seq); n != 0 {
		t.Fatalf("the city fund has %d snapshots after its allocation: the test wants none", n)
	}
	for _, o := range []postgres.VerifyOptions{{}, {Funds: []string{cityFund}}, {Funds: []string{districtFund}}} {
		if rep, err := l.Service.Store.VerifyWith(ctx, o); err != nil || !rep.OK {
			t.Fatalf("clean books %v: %v %+v", o.Funds, err, rep.Problems)
		}
	}
	tamperAll(t, l, `UPDATE postings SET amount = 40000.00 WHERE fund_id = 'city-care' AND seq = `+decimal.NewFromInt(seq).String())
	tamperAll(t, l, append(rehashFund(t, l, cityFund, seq), fixKeptOf(cityFund))...)
	for _, o := range []postgres.VerifyOptions{{}, {Funds: []string{cityFund}}} {
		rep, err := l.Service.Store.VerifyWith(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || !hasProblemOf(rep, cityFund, seq, ledger.ProblemAllocation) {
			t.Fatalf("funds %v: the allocation's legs differ but verify says ok %v, %+v", o.Funds, rep.OK, rep.Problems)
		}
		for _, p := range rep.Problems {
			if p.Kind != ledger.ProblemAllocation {
				t.Errorf("funds %v: another problem than the allocation's: %s", o.Funds, p)
			}
		}
		t.Logf("found: %s", rep.First())
	}
	// The district's leg alone gone: its counterpart in the city fund is
	// then without a partner.
	tamperAll(t, l, `DELETE FROM postings WHERE fund_id = 'jiangjin-care' AND seq = (SELECT seq FROM journal WHERE fund_id = 'jiangjin-care' AND type = 'allocation.approved')`,
		`DELETE FROM journal WHERE fund_id = 'jiangjin-care' AND type = 'allocation.approved'`)
	rep, err := l.Service.Store.VerifyWith(ctx, postgres.VerifyOptions{Funds: []string{cityFund}})
	if err != nil || rep.OK || !hasProblemOf(rep, cityFund, seq, ledger.ProblemAllocation) {
		t.Fatalf("the receiving leg removed: ok %v, %+v, %v", rep.OK, rep.Problems, err)
	}
}

func hasProblemOf(rep ledger.VerifyReport, fund string, seq int64, kind string) bool {
	for _, p := range rep.Problems {
		if p.FundID == fund && p.Seq == seq && p.Kind == kind {
			return true
		}
	}
	return false
}

// TestJournalTimeGoesBack: a transaction's recorded time moved before its
// predecessor's, the chain re-hashed from there: the first problem is the
// time, at that transaction (without the check it would be the next
// snapshot's chain head, later).
func TestJournalTimeGoesBack(t *testing.T) {
	l := buildBooks(t)
	tamperAll(t, l, `UPDATE journal SET recorded_at = (SELECT recorded_at - interval '1 second' FROM journal WHERE fund_id = 'jiangjin-care' AND seq = 9)
		WHERE fund_id = 'jiangjin-care' AND seq = 10`)
	tamperAll(t, l, rehashFund(t, l, districtFund, 10)...)
	rep, err := l.Service.Store.VerifyWith(context.Background(), postgres.VerifyOptions{Funds: []string{districtFund}})
	if err != nil {
		t.Fatal(err)
	}
	wantFirst(t, rep, 10, ledger.ProblemTime)
}
