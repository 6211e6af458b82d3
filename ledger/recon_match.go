package ledger

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// This file is the matcher of the bank reconciliation (CONTRACT.md section
// 10): three rule passes over the unmatched bank entries and the unmatched
// book items. It is pure and runs in time linear in the items plus
// n log n in the entries: every lookup goes through a hash index built,
// for each pass, only over the keys the entries ask for, so a fund with a
// million unmatched book items and a statement of 10,000 entries costs one
// pass over the items per rule, never items times entries.

// Match rules, as reports and the store name them.
const (
	RuleReference      = "reference"
	RuleReferenceGroup = "reference_group"
	RuleAmountDate     = "amount_date"
)

// BankEntry is one entry of a bank statement as the reconciliation keeps
// it.
type BankEntry struct {
	FundID      string
	StatementID string
	// StatementN is the statement's place among the fund's statements, 1,
	// 2, 3, ...: "statement order".
	StatementN  int64
	Index       int // 0-based position in the statement's entries
	EntryRef    string
	BookedOn    time.Time
	Direction   string // "credit" (money in) or "debit" (money out)
	Amount      decimal.Decimal
	BankRef     string // "" when the bank gave none
	Description string
	// MatchID is the match that took the entry; 0 while unmatched.
	MatchID int64

	stored bool // a row of the store
}

// BookItem is one posting to cash, as the reconciliation sees it: credit
// when cash is debited (money in), debit when cash is credited.
type BookItem struct {
	FundID     string
	JournalSeq int64
	Line       int // the posting's line in its transaction
	Type       string
	Date       time.Time // business date (BusinessDate)
	Direction  string
	Amount     decimal.Decimal
	BankRef    string // "" when the transaction has none
	// MatchID is the match that took the item; 0 while unmatched.
	MatchID int64

	stored bool // a row of the store's unmatched items
	pre    bool // dated before the bank's history: folded into the opening book balance
}

// Match is one match the matcher made: an entry and the book items it
// takes (one, or several for RuleReferenceGroup).
type Match struct {
	Rule  string
	Entry *BankEntry
	Items []*BookItem
}

// entryLess is the order the passes take entries in: booked_on, then
// statement and entry order.
func entryLess(a, b *BankEntry) bool {
	if !a.BookedOn.Equal(b.BookedOn) {
		return a.BookedOn.Before(b.BookedOn)
	}
	if a.StatementN != b.StatementN {
		return a.StatementN < b.StatementN
	}
	return a.Index < b.Index
}

func itemLess(a, b *BookItem) bool {
	if a.JournalSeq != b.JournalSeq {
		return a.JournalSeq < b.JournalSeq
	}
	return a.Line < b.Line
}

// cents is an amount of at most two places as an integer number of
// hundredths: the amounts of the contract fit an int64 with room to spare.
func cents(d decimal.Decimal) int64 {
	// The amounts here were parsed from "1250.00"-like text or summed
	// from such: exponent -2 to 0, a coefficient that fits an int64. That
	// common case costs no allocation, which matters a million times.
	switch e := d.Exponent(); e {
	case -2:
		return d.CoefficientInt64()
	case -1:
		return d.CoefficientInt64() * 10
	case 0:
		return d.CoefficientInt64() * 100
	}
	return d.Shift(2).IntPart()
}

type refKey struct {
	dir   string
	cents int64
	ref   string
}

type groupKey struct{ dir, ref string }

type amountKey struct {
	dir   string
	cents int64
}

// MatchAll runs the three rules of section 10 over entries and items, all
// unmatched, and returns the matches in the order they were made. It does
// not change entries or items; windowDays is RECON_DATE_WINDOW.
func MatchAll(entries []*BankEntry, items []*BookItem, windowDays int) []Match {
	es := make([]*BankEntry, len(entries))
	copy(es, entries)
	sort.SliceStable(es, func(i, j int) bool { return entryLess(es[i], es[j]) })
	its := items
	if !sort.SliceIsSorted(its, func(i, j int) bool { return itemLess(its[i], its[j]) }) {
		its = make([]*BookItem, len(items))
		copy(its, items)
		sort.Slice(its, func(i, j int) bool { return itemLess(its[i], its[j]) })
	}
	m := matcher{entries: es, items: its, eTaken: make([]bool, len(es)), iTaken: make([]bool, len(its)), cents: make([]int64, len(its))}
	for i, it := range its {
		m.cents[i] = cents(it.Amount)
	}
	m.reference()
	m.referenceGroup()
	m.amountDate(windowDays)
	return m.out
}

type matcher struct {
	entries []*BankEntry // in pass order
	items   []*BookItem  // in journal order
	eTaken  []bool
	iTaken  []bool
	cents   []int64 // the items' amounts in hundredths
	out     []Match
}

func (m *matcher) take(rule string, e int, is []int) {
	m.eTaken[e] = true
	mt := Match{Rule: rule, Entry: m.entries[e], Items: make([]*BookItem, len(is))}
	for k, i := range is {
		m.iTaken[i] = true
		mt.Items[k] = m.items[i]
	}
	m.out = append(m.out, mt)
}

// reference is rule 1: the same direction, amount and non-empty bank_ref;
// of several such items the lowest journal_seq.
func (m *matcher) reference() {
	want := map[refKey][]int{}
	for _, x := range m.entries {
		if x.BankRef != "" {
			want[refKey{x.Direction, cents(x.Amount), x.BankRef}] = nil
		}
	}
	if len(want) == 0 {
		return
	}
	for i, it := range m.items { // journal order: each list is lowest seq first
		if it.BankRef == "" {
			continue
		}
		k := refKey{it.Direction, m.cents[i], it.BankRef}
		if l, ok := want[k]; ok {
			want[k] = append(l, i)
		}
	}
	for e, x := range m.entries {
		if x.BankRef == "" {
			continue
		}
		k := refKey{x.Direction, cents(x.Amount), x.BankRef}
		l := want[k]
		for len(l) > 0 && m.iTaken[l[0]] {
			l = l[1:]
		}
		if len(l) > 0 {
			m.take(RuleReference, e, l[:1])
			l = l[1:]
		}
		want[k] = l
	}
}

// referenceGroup is rule 2: an entry whose bank_ref is carried by two or
// more unmatched items of its direction that together make its amount
// exactly takes them all.
func (m *matcher) referenceGroup() {
	want := map[groupKey][]int{}
	for e, x := range m.entries {
		if !m.eTaken[e] && x.BankRef != "" {
			want[groupKey{x.Direction, x.BankRef}] = nil
		}
	}
	if len(want) == 0 {
		return
	}
	for i, it := range m.items {
		if m.iTaken[i] || it.BankRef == "" {
			continue
		}
		k := groupKey{it.Direction, it.BankRef}
		if l, ok := want[k]; ok {
			want[k] = append(l, i)
		}
	}
	sums := make(map[groupKey]int64, len(want))
	for k, l := range want {
		var s int64
		for _, i := range l {
			s += m.cents[i]
		}
		sums[k] = s
	}
	for e, x := range m.entries {
		if m.eTaken[e] || x.BankRef == "" {
			continue
		}
		k := groupKey{x.Direction, x.BankRef}
		l := want[k]
		if len(l) >= 2 && sums[k] == cents(x.Amount) {
			m.take(RuleReferenceGroup, e, l)
			want[k], sums[k] = nil, 0 // a group takes every item of its key
		}
	}
}

// amountDate is rule 3: the same direction and amount, the item's date
// within windowDays of booked_on (edges included), and exactly one such
// item for the entry and one such entry for the item, counted among those
// unmatched when the pass starts.
func (m *matcher) amountDate(windowDays int) {
	type dated struct {
		day int64 // days since the epoch
		idx int
	}
	entriesBy := map[amountKey][]dated{}
	for e, x := range m.entries {
		if !m.eTaken[e] {
			k := amountKey{x.Direction, cents(x.Amount)}
			entriesBy[k] = append(entriesBy[k], dated{dayNumber(x.BookedOn), e})
		}
	}
	if len(entriesBy) == 0 {
		return
	}
	itemsBy := map[amountKey][]dated{}
	for i, it := range m.items {
		if m.iTaken[i] {
			continue
		}
		k := amountKey{it.Direction, m.cents[i]}
		if _, ok := entriesBy[k]; ok {
			itemsBy[k] = append(itemsBy[k], dated{dayNumber(it.Date), i})
		}
	}
	byDay := func(l []dated) {
		sort.SliceStable(l, func(a, b int) bool { return l[a].day < l[b].day })
	}
	// within returns the elements of l (sorted by day) dated d-w to d+w.
	within := func(l []dated, d int64) []dated {
		w := int64(windowDays)
		lo := sort.Search(len(l), func(i int) bool { return l[i].day >= d-w })
		hi := sort.Search(len(l), func(i int) bool { return l[i].day > d+w })
		return l[lo:hi]
	}
	for k := range entriesBy {
		byDay(entriesBy[k])
	}
	for k := range itemsBy {
		byDay(itemsBy[k])
	}
	// The counts are those at the start of the pass: the lists are not
	// changed while it runs, and a unique pair is unique both ways, so no
	// two matches of this pass share an item.
	var found [][2]int
	for e, x := range m.entries {
		if m.eTaken[e] {
			continue
		}
		k := amountKey{x.Direction, cents(x.Amount)}
		cand := within(itemsBy[k], dayNumber(x.BookedOn))
		if len(cand) != 1 {
			continue
		}
		back := within(entriesBy[k], cand[0].day)
		if len(back) == 1 && back[0].idx == e {
			found = append(found, [2]int{e, cand[0].idx})
		}
	}
	for _, f := range found {
		m.take(RuleAmountDate, f[0], f[1:])
	}
}

// dayNumber is the date's day count since 1970-01-01 (dates are UTC
// midnights).
func dayNumber(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		s -= 86399 // floor, for dates before 1970
	}
	return s / 86400
}
