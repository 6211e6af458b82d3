package postgres

import (
	"context"
	"fmt"

	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// txnRange asks for up to n journal transactions of a fund after seq after.
type txnRange struct {
	fundID string
	after  int64
	n      int
}

type fundSeq struct {
	fundID string
	seq    int64
}

// readTxns reads journal transactions with their postings: for each range,
// up to n transactions in seq order, the ranges in the order given. It is
// the one reader of whole transactions, for the read API's journal and for
// the relay that publishes them, so both render the same rows. Each range
// is two walks of a primary key (journal, then postings), whatever the
// size of the journal.
func readTxns(ctx context.Context, q querier, ranges []txnRange) ([]*ledger.Txn, error) {
	if len(ranges) == 0 {
		return nil, nil
	}
	funds := make([]string, len(ranges))
	afters := make([]int64, len(ranges))
	ns := make([]int32, len(ranges))
	for i, r := range ranges {
		funds[i], afters[i], ns[i] = r.fundID, r.after, int32(r.n)
	}
	// LATERAL keeps each range a walk of journal's primary key; a join the
	// planner picks for unnest() of unknown size could scan the table.
	rows, err := q.Query(ctx, `
		SELECT j.fund_id, j.seq, j.event_id, j.type, j.source, j.recorded_at, j.refs, j.prev_hash, j.hash
		  FROM unnest($1::text[], $2::bigint[], $3::int[]) WITH ORDINALITY AS r(fund_id, after_seq, n, ord)
		 CROSS JOIN LATERAL (
		       SELECT * FROM journal j WHERE j.fund_id = r.fund_id AND j.seq > r.after_seq ORDER BY j.seq LIMIT r.n) j
		 ORDER BY r.ord, j.seq`, funds, afters, ns)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	txns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.Txn, error) {
		t := &ledger.Txn{Postings: []ledger.Posting{}}
		var refs map[string]string
		if err := r.Scan(&t.FundID, &t.Seq, &t.EventID, &t.Type, &t.Source, &t.Time, &refs, &t.PrevHash, &t.Hash); err != nil {
			return nil, err
		}
		t.Time = t.Time.UTC()
		for k, v := range refs {
			t.Refs = append(t.Refs, ledger.Ref{Key: k, Value: v})
		}
		ledger.SortRefs(t.Refs)
		return t, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	if len(txns) == 0 {
		return txns, nil
	}
	// The postings of exactly the transactions read: per fund, from the
	// range's start to the last transaction read.
	byKey := make(map[fundSeq]*ledger.Txn, len(txns))
	last := map[string]int64{}
	for _, t := range txns {
		byKey[fundSeq{t.FundID, t.Seq}] = t
		last[t.FundID] = max(last[t.FundID], t.Seq)
	}
	var pf []string
	var lo, hi []int64
	for _, r := range ranges {
		if l, ok := last[r.fundID]; ok {
			pf, lo, hi = append(pf, r.fundID), append(lo, r.after), append(hi, l)
		}
	}
	rows, err = q.Query(ctx, `
		SELECT p.fund_id, p.seq, p.account, p.side, p.amount
		  FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(fund_id, lo, hi)
		 CROSS JOIN LATERAL (
		       SELECT * FROM postings p WHERE p.fund_id = r.fund_id AND p.seq > r.lo AND p.seq <= r.hi) p
		 ORDER BY p.fund_id, p.seq, p.line`, pf, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k fundSeq
		var p ledger.Posting
		var side string
		if err := rows.Scan(&k.fundID, &k.seq, &p.Account, &side, &p.Amount); err != nil {
			return nil, fmt.Errorf("read postings: %w", err)
		}
		p.Side = ledger.Side(side)
		if t := byKey[k]; t != nil {
			t.Postings = append(t.Postings, p)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read postings: %w", err)
	}
	return txns, nil
}
