package ledger_test

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/fundledger/fundledger/ledger"
	"github.com/shopspring/decimal"
)

// msRecon is the tables of migrations/013_bank_reconciliation.sql in
// memory, written as ledger/postgres/recon.go writes them, refusing what
// their keys, CHECKs and triggers refuse.
type msRecon struct {
	state      map[string]ledger.ReconState
	statements map[string][]ledger.Statement   // fund -> in n order
	entries    map[[2]string]*ledger.BankEntry // (fund, entry_ref)
	open       map[msItemKey]ledger.BookItem   // recon_book_open
	matches    map[msItemKey]ledger.MatchLink  // recon_matches
	reports    map[string][][]byte             // fund -> bodies in seq order
}

type msItemKey struct {
	fund string
	seq  int64
	line int
}

func (r *msRecon) init() {
	if r.state == nil {
		r.state = map[string]ledger.ReconState{}
		r.statements = map[string][]ledger.Statement{}
		r.entries = map[[2]string]*ledger.BankEntry{}
		r.open = map[msItemKey]ledger.BookItem{}
		r.matches = map[msItemKey]ledger.MatchLink{}
		r.reports = map[string][][]byte{}
	}
}

var _ ledger.ReconLoader = (*memStore)(nil)

func (s *memStore) ReconState(_ context.Context, fundID string) (*ledger.ReconState, error) {
	s.recon.init()
	st, ok := s.recon.state[fundID]
	if !ok {
		return nil, nil
	}
	st.New, st.Dirty = false, false
	return &st, nil
}

func (s *memStore) ReconOpen(_ context.Context, fundID string, from time.Time) ([]*ledger.BankEntry, []*ledger.BookItem, decimal.Decimal, error) {
	s.recon.init()
	var entries []*ledger.BankEntry
	for k, e := range s.recon.entries {
		if k[0] == fundID && e.MatchID == 0 {
			c := *e
			entries = append(entries, &c)
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].StatementN != entries[j].StatementN {
			return entries[i].StatementN < entries[j].StatementN
		}
		return entries[i].Index < entries[j].Index
	})
	var items []*ledger.BookItem
	pre := decimal.Zero
	for k, it := range s.recon.open {
		if k.fund != fundID {
			continue
		}
		if it.Date.Before(from) {
			if it.Direction == "credit" {
				pre = pre.Add(it.Amount)
			} else {
				pre = pre.Sub(it.Amount)
			}
			continue
		}
		c := it
		items = append(items, &c)
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].JournalSeq != items[j].JournalSeq {
			return items[i].JournalSeq < items[j].JournalSeq
		}
		return items[i].Line < items[j].Line
	})
	return entries, items, pre, nil
}

func (s *memStore) EntryRefs(_ context.Context, fundID string, refs []string) (map[string]string, error) {
	s.recon.init()
	out := map[string]string{}
	for _, r := range refs {
		if e := s.recon.entries[[2]string{fundID, r}]; e != nil {
			out[r] = e.StatementID
		}
	}
	return out, nil
}

func (s *memStore) writeRecon(out *ledger.BatchOutput) error {
	r := &s.recon
	r.init()
	c := out.Books.ReconChanges()
	for _, st := range c.States {
		if s.funds[st.FundID] == nil {
			return fmt.Errorf("recon_state: fund %s is not stored", st.FundID)
		}
		if st.MatchedAmount.IsNegative() || st.ReconSeq < 0 || st.Statements < 0 {
			return fmt.Errorf("recon_state: %s breaks a CHECK", st.FundID)
		}
		if old, ok := r.state[st.FundID]; ok && (old.BankAccount != st.BankAccount || !old.FirstStart.Equal(st.FirstStart)) {
			// the upsert leaves them as they are
			return fmt.Errorf("recon_state: %s changes its account or first start", st.FundID)
		}
		v := *st
		v.New, v.Dirty = false, false
		r.state[st.FundID] = v
	}
	for _, st := range c.Statements {
		for _, old := range r.statements[st.FundID] {
			if old.StatementID == st.StatementID || old.N == st.N {
				return fmt.Errorf("bank_statements: %s/%s inserted twice", st.FundID, st.StatementID)
			}
		}
		r.statements[st.FundID] = append(r.statements[st.FundID], *st)
	}
	for _, e := range c.Entries {
		k := [2]string{e.FundID, e.EntryRef}
		if r.entries[k] != nil {
			return fmt.Errorf("bank_entries: %v inserted twice", k)
		}
		c := *e
		r.entries[k] = &c
	}
	for _, e := range c.Matched {
		row := r.entries[[2]string{e.FundID, e.EntryRef}]
		if row == nil || row.MatchID != 0 || e.MatchID == 0 {
			return fmt.Errorf("bank_entries: %s/%s matched twice or not stored", e.FundID, e.EntryRef)
		}
		row.MatchID = e.MatchID
	}
	for fund, cut := range c.PreCut {
		for k, it := range r.open {
			if k.fund == fund && it.Date.Before(cut) {
				delete(r.open, k)
			}
		}
	}
	for _, it := range c.Gone {
		k := msItemKey{it.FundID, it.JournalSeq, it.Line}
		if _, ok := r.open[k]; !ok {
			return fmt.Errorf("recon_book_open: %v matched but not stored", k)
		}
		delete(r.open, k)
	}
	for _, it := range c.Items {
		k := msItemKey{it.FundID, it.JournalSeq, it.Line}
		if _, ok := r.open[k]; ok {
			return fmt.Errorf("recon_book_open: %v inserted twice", k)
		}
		if !it.Amount.IsPositive() {
			return fmt.Errorf("recon_book_open: %v amount %s", k, it.Amount)
		}
		r.open[k] = *it
	}
	for _, l := range c.Links {
		k := msItemKey{l.FundID, l.JournalSeq, l.Line}
		if _, ok := r.matches[k]; ok {
			return fmt.Errorf("recon_matches: book item %v matched twice", k)
		}
		r.matches[k] = l
	}
	for i, rep := range c.Reports {
		if int64(len(r.reports[rep.FundID]))+1 != rep.ReconciliationSeq {
			return fmt.Errorf("reconciliations: %s/%d out of order", rep.FundID, rep.ReconciliationSeq)
		}
		r.reports[rep.FundID] = append(r.reports[rep.FundID], c.Bodies[i])
	}
	return nil
}
