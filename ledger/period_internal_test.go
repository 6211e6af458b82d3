package ledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// BenchmarkNotePeriod is what the period records cost the apply stage per
// transaction (docs/performance.md): a batch line's approval, dated, into
// the running figures; BenchmarkHashTxn, the hash every transaction pays
// already, gives the scale.
func BenchmarkNotePeriod(b *testing.B) {
	f := &Fund{ID: "f", Close: PeriodState{LastClosed: "2026-01"}}
	txns := benchTxns(1000)
	books := &Books{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(txns) == 0 {
			books.periods = periodWork{}
		}
		books.notePeriod(f, txns[i%len(txns)])
	}
}

func BenchmarkHashTxn(b *testing.B) {
	txns := benchTxns(1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		HashTxn(txns[i%len(txns)])
	}
}

func benchTxns(n int) []*Txn {
	out := make([]*Txn, n)
	amt := decimal.RequireFromString("1500.00")
	for i := range out {
		refs := []Ref{{"approved_by", "b"}, {"approved_on", "2026-02-01"}, {"batch_id", "B-1"}, {"beneficiary_ref", fmt.Sprintf("hh-%05d", i)},
			{"category", "living"}, {"grant_id", fmt.Sprintf("g-%05d", i)}, {"program", "pension_subsidy"}, {"requested_by", "a"}}
		out[i] = &Txn{FundID: "f", Seq: int64(i + 1), EventID: "e", Type: "grant.batch.approved", Source: "s",
			Time: time.Date(2026, 2, 1, 3, 0, 0, 0, time.UTC), Refs: refs, PrevHash: GenesisHash,
			Postings: []Posting{{"grant_expense:pension_subsidy", Debit, amt}, {"grants_payable", Credit, amt}}}
	}
	return out
}
