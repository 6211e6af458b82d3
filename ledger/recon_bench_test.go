package ledger_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
)

// reconWorkload is a million unmatched book items and a statement of
// 10,000 entries: 7,000 found by reference among the items, 500 bulk
// payments of two items each, 1,500 without a reference found by amount
// and date, and 1,000 the books do not have (fees, interest).
func reconWorkload(items, entries int) ([]*ledger.BankEntry, []*ledger.BookItem) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	book := make([]*ledger.BookItem, items)
	for i := range book {
		dir := "debit"
		if i%5 == 0 {
			dir = "credit"
		}
		book[i] = &ledger.BookItem{FundID: "big", JournalSeq: int64(i + 1), Type: "grant.disbursed", Date: t0.AddDate(0, 0, i%365),
			Direction: dir, Amount: decimal.New(int64(10000+(i*7919)%990000), -2), BankRef: fmt.Sprintf("P%d", i)}
	}
	var bank []*ledger.BankEntry
	add := func(e ledger.BankEntry) {
		e.FundID, e.StatementID, e.StatementN, e.Index = "big", "S1", 1, len(bank)
		e.EntryRef = fmt.Sprintf("E%d", len(bank))
		bank = append(bank, &e)
	}
	step := items / entries
	for k := 0; len(bank) < entries; k++ {
		it := book[k*step]
		switch {
		case len(bank) < entries*70/100:
			add(ledger.BankEntry{BookedOn: it.Date, Direction: it.Direction, Amount: it.Amount, BankRef: it.BankRef})
		case len(bank) < entries*75/100: // two items under one reference
			other := book[k*step+1]
			other.BankRef, other.Direction = it.BankRef, it.Direction
			add(ledger.BankEntry{BookedOn: it.Date, Direction: it.Direction, Amount: it.Amount.Add(other.Amount), BankRef: it.BankRef})
		case len(bank) < entries*90/100:
			add(ledger.BankEntry{BookedOn: it.Date.AddDate(0, 0, 2), Direction: it.Direction, Amount: it.Amount})
		default:
			add(ledger.BankEntry{BookedOn: t0, Direction: "debit", Amount: decimal.New(int64(k%50+1), -2), BankRef: fmt.Sprintf("FEE%d", k)})
		}
	}
	return bank, book
}

// TestReconMatcherMillion times the matcher alone over a million unmatched
// book items and 10,000 entries (docs/performance.md). Opt in:
//
//	FUNDLEDGER_RECON_BENCH=1 go test ./ledger/ -run ReconMatcherMillion -v
func TestReconMatcherMillion(t *testing.T) {
	if os.Getenv("FUNDLEDGER_RECON_BENCH") == "" {
		t.Skip("set FUNDLEDGER_RECON_BENCH=1 to time the matcher over a million book items")
	}
	bank, book := reconWorkload(1000000, 10000)
	for run := 0; run < 3; run++ {
		start := time.Now()
		ms := ledger.MatchAll(bank, book, 3)
		took := time.Since(start)
		rules := map[string]int{}
		for _, m := range ms {
			rules[m.Rule]++
		}
		t.Logf("run %d: %d entries against %d book items: %d matches %v in %v", run+1, len(bank), len(book), len(ms), rules, took)
	}
}

func BenchmarkReconMatcher(b *testing.B) {
	bank, book := reconWorkload(100000, 10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ledger.MatchAll(bank, book, 3)
	}
}
