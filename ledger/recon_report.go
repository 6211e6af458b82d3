package ledger

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Reconciliation is a bank reconciliation report (CONTRACT.md section 10).
// Field order here is the published field order.
type Reconciliation struct {
	FundID              string          `json:"fund_id"`
	ReconciliationSeq   int64           `json:"reconciliation_seq"`
	StatementID         string          `json:"statement_id"`
	BankAccount         string          `json:"bank_account"`
	PeriodEnd           string          `json:"period_end"`
	AsOfJournalSeq      int64           `json:"as_of_journal_seq"`
	OpeningBankBalance  string          `json:"opening_bank_balance"`
	OpeningBookBalance  string          `json:"opening_book_balance"`
	BankBalance         string          `json:"bank_balance"`
	BookBalance         string          `json:"book_balance"`
	Matched             ReconMatched    `json:"matched"`
	UnmatchedBank       []UnmatchedBank `json:"unmatched_bank"`
	UnmatchedBook       []UnmatchedBook `json:"unmatched_book"`
	AdjustedBankBalance string          `json:"adjusted_bank_balance"`
	AdjustedBookBalance string          `json:"adjusted_book_balance"`
	Difference          string          `json:"difference"`
	Reconciled          bool            `json:"reconciled"`
	KeyID               string          `json:"key_id"`
	Signature           string          `json:"signature"`
}

// ReconMatched counts the matches made so far (a group match once) and
// sums their bank entries' amounts, credits and debits alike.
type ReconMatched struct {
	Count  int64  `json:"count"`
	Amount string `json:"amount"`
}

// UnmatchedBank is a bank entry no book item matched yet. BankRef and
// Description are null when the bank gave none.
type UnmatchedBank struct {
	StatementID string  `json:"statement_id"`
	EntryRef    string  `json:"entry_ref"`
	BookedOn    string  `json:"booked_on"`
	Direction   string  `json:"direction"`
	Amount      string  `json:"amount"`
	BankRef     *string `json:"bank_ref"`
	Description *string `json:"description"`
}

// UnmatchedBook is a book item no bank entry matched yet.
type UnmatchedBook struct {
	JournalSeq int64   `json:"journal_seq"`
	Type       string  `json:"type"`
	Date       string  `json:"date"`
	Direction  string  `json:"direction"`
	Amount     string  `json:"amount"`
	BankRef    *string `json:"bank_ref"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newReconciliation is the fund's report after a reconciliation: the
// unmatched entries and items are those of o. It runs once per statement
// or request over every unmatched item, which may be a great many: the
// items are ordered on integer keys and summed in hundredths.
func newReconciliation(f *Fund, st *ReconState, o *reconOpen) *Reconciliation {
	entries := append([]*BankEntry(nil), o.entries...)
	sort.SliceStable(entries, func(i, j int) bool { return entryLess(entries[i], entries[j]) })
	type keyed struct {
		day, seq int64
		line     int
		it       *BookItem
	}
	items := make([]keyed, len(o.items))
	for i, it := range o.items {
		items[i] = keyed{dayNumber(it.Date), it.JournalSeq, it.Line, it}
	}
	slices.SortFunc(items, func(a, b keyed) int {
		if c := cmp.Compare(a.day, b.day); c != 0 {
			return c
		}
		if c := cmp.Compare(a.seq, b.seq); c != 0 {
			return c
		}
		return cmp.Compare(a.line, b.line)
	})
	bank := st.LastClosing
	book := f.Amount(AccountCash)
	var bookAdj, bankAdj int64 // hundredths: unmatched bank entries adjust the books, unmatched items the bank
	r := &Reconciliation{
		FundID: f.ID, ReconciliationSeq: st.ReconSeq, StatementID: st.LastStatementID, BankAccount: st.BankAccount,
		PeriodEnd: st.LastEnd.Format(time.DateOnly), AsOfJournalSeq: f.HeadSeq,
		OpeningBankBalance: Money(st.OpeningBank), OpeningBookBalance: Money(st.OpeningBook),
		BankBalance: Money(bank), BookBalance: Money(book),
		Matched:       ReconMatched{Count: st.MatchedCount, Amount: Money(st.MatchedAmount)},
		UnmatchedBank: make([]UnmatchedBank, 0, len(entries)),
		UnmatchedBook: make([]UnmatchedBook, 0, len(items)),
	}
	for _, x := range entries {
		c := cents(x.Amount)
		if x.Direction == "debit" {
			c = -c
		}
		bookAdj += c
		r.UnmatchedBank = append(r.UnmatchedBank, UnmatchedBank{StatementID: x.StatementID, EntryRef: x.EntryRef,
			BookedOn: x.BookedOn.Format(time.DateOnly), Direction: x.Direction, Amount: centsText(cents(x.Amount)),
			BankRef: optional(x.BankRef), Description: optional(x.Description)})
	}
	for _, k := range items {
		it := k.it
		c := cents(it.Amount)
		if it.Direction == "debit" {
			bankAdj -= c
		} else {
			bankAdj += c
		}
		r.UnmatchedBook = append(r.UnmatchedBook, UnmatchedBook{JournalSeq: it.JournalSeq, Type: it.Type,
			Date: it.Date.Format(time.DateOnly), Direction: it.Direction, Amount: centsText(c), BankRef: optional(it.BankRef)})
	}
	adjBank, adjBook := bank.Add(decimal.New(bankAdj, -2)), book.Add(decimal.New(bookAdj, -2))
	diff := adjBank.Sub(adjBook)
	r.AdjustedBankBalance, r.AdjustedBookBalance = Money(adjBank), Money(adjBook)
	r.Difference, r.Reconciled = Money(diff), diff.IsZero()
	return r
}

// centsText is an amount of hundredths as Money prints it.
func centsText(c int64) string {
	neg := c < 0
	if neg {
		c = -c
	}
	s := strconv.FormatInt(c, 10)
	for len(s) < 3 {
		s = "0" + s
	}
	s = s[:len(s)-2] + "." + s[len(s)-2:]
	if neg {
		s = "-" + s
	}
	return s
}

// ReconciliationVersion is the first line of a reconciliation report's
// signing input.
const ReconciliationVersion = "fundledger-reconciliation-v1"

// ReconciliationSigningInput is the exact byte string signed for a
// reconciliation report (docs/audit.md): every published field but the
// signature, one per line-feed-terminated line, in the published order;
// each list as its length and then its elements' fields, one per line; a
// null bank_ref or description is an empty line (the contract never
// gives an empty one).
func ReconciliationSigningInput(r *Reconciliation) []byte {
	var b strings.Builder
	b.Grow(512 + 96*len(r.UnmatchedBank) + 64*len(r.UnmatchedBook))
	line := func(v string) { b.WriteString(v); b.WriteByte('\n') }
	opt := func(v *string) {
		if v == nil {
			line("")
			return
		}
		line(*v)
	}
	line(ReconciliationVersion)
	line(r.FundID)
	line(strconv.FormatInt(r.ReconciliationSeq, 10))
	line(r.StatementID)
	line(r.BankAccount)
	line(r.PeriodEnd)
	line(strconv.FormatInt(r.AsOfJournalSeq, 10))
	line(r.OpeningBankBalance)
	line(r.OpeningBookBalance)
	line(r.BankBalance)
	line(r.BookBalance)
	line(strconv.FormatInt(r.Matched.Count, 10))
	line(r.Matched.Amount)
	line(strconv.Itoa(len(r.UnmatchedBank)))
	for _, x := range r.UnmatchedBank {
		line(x.StatementID)
		line(x.EntryRef)
		line(x.BookedOn)
		line(x.Direction)
		line(x.Amount)
		opt(x.BankRef)
		opt(x.Description)
	}
	line(strconv.Itoa(len(r.UnmatchedBook)))
	for _, x := range r.UnmatchedBook {
		line(strconv.FormatInt(x.JournalSeq, 10))
		line(x.Type)
		line(x.Date)
		line(x.Direction)
		line(x.Amount)
		opt(x.BankRef)
	}
	line(r.AdjustedBankBalance)
	line(r.AdjustedBookBalance)
	line(r.Difference)
	line(strconv.FormatBool(r.Reconciled))
	line(r.KeyID)
	return []byte(b.String())
}

// JSON is the report as published and stored.
func (r *Reconciliation) JSON() []byte {
	b, err := json.Marshal(r)
	if err != nil { // strings, ints and bools only
		panic("ledger: reconciliation does not encode: " + err.Error())
	}
	return b
}
