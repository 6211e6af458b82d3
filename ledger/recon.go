package ledger

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/shopspring/decimal"
)

// This file is the bank side of the books (CONTRACT.md sections 3 and 10):
// the bank's charges, which post, and its statements and the requests to
// reconcile, which post nothing but match bank entries to book items and
// make a signed report. The matcher itself is recon_match.go.

// AccountBankCharges is the expense account of the fees a bank charged.
const AccountBankCharges = "expenses:bank_charges"

// Kinds of business id of the bank events.
const (
	BizStatement = "statement"
	BizCharge    = "charge"
)

// DefaultReconDateWindow is RECON_DATE_WINDOW's default, in days.
const DefaultReconDateWindow = 3

// ReconSettings are the reconciliation's tunables.
type ReconSettings struct {
	// DateWindow is rule 3's window in days (RECON_DATE_WINDOW); the zero
	// value is a window of the same day only, so callers set it.
	DateWindow int
}

// ReconLoader is what the reconciliation reads from the store, inside the
// batch's transaction. A UnitOfWork that handles bank statements
// implements it beside Loader.
type ReconLoader interface {
	// ReconState returns the fund's reconciliation state, nil before its
	// first statement.
	ReconState(ctx context.Context, fundID string) (*ReconState, error)
	// ReconOpen returns the fund's unmatched bank entries, and its
	// unmatched book items dated on or after from in journal order, and
	// the net (credits less debits) of its stored unmatched book items
	// dated before from: those are before the bank's history, and the
	// store drops them when the batch commits (ReconChanges.PreCut).
	ReconOpen(ctx context.Context, fundID string, from time.Time) ([]*BankEntry, []*BookItem, decimal.Decimal, error)
	// EntryRefs returns which of refs the fund's statements used before,
	// each with the statement that did.
	EntryRefs(ctx context.Context, fundID string, refs []string) (map[string]string, error)
}

// ReconState is one fund's reconciliation state: its bank account, where
// its statements stand, and the running totals of its reports.
type ReconState struct {
	FundID      string
	BankAccount string
	FirstStart  time.Time       // period_start of the first statement
	OpeningBank decimal.Decimal // opening balance of the first statement
	// OpeningBook is the net of the book items dated before FirstStart,
	// as far as they are known.
	OpeningBook     decimal.Decimal
	Statements      int64
	LastStatementID string
	LastEnd         time.Time
	LastClosing     decimal.Decimal
	ReconSeq        int64
	MatchedCount    int64
	MatchedAmount   decimal.Decimal
	MatchSeq        int64

	New, Dirty bool
}

// Statement is one accepted bank statement.
type Statement struct {
	FundID, StatementID string
	N                   int64 // its place among the fund's statements
	BankAccount         string
	PeriodStart         time.Time
	PeriodEnd           time.Time
	Opening, Closing    decimal.Decimal
	Entries             int
	FileSHA256          string
	MessageID           string
	EventID             string
}

// MatchLink is one book item of a match, as stored: a group match has one
// link per item, all with its MatchID.
type MatchLink struct {
	FundID      string
	MatchID     int64
	Rule        string
	ReconSeq    int64
	StatementID string
	EntryRef    string
	JournalSeq  int64
	Line        int
}

// reconBooks is what a unit of work reads and makes for the bank
// reconciliation.
type reconBooks struct {
	state  map[string]*ReconState // loaded; nil: no statement yet
	open   map[string]*reconOpen  // working sets loaded in this unit of work
	cursor int                    // Books.Txns turned into book items up to here
	items  []*BookItem            // book items of this unit of work's postings

	statements []*Statement
	entries    []*BankEntry // entries of this unit of work's statements
	matchedOld []*BankEntry // stored entries matched in this unit of work
	gone       []*BookItem  // stored items matched in this unit of work
	links      []MatchLink
	reports    []*Reconciliation
	bodies     [][]byte
	preCut     map[string]time.Time
}

// reconOpen is a fund's unmatched entries and book items.
type reconOpen struct {
	entries []*BankEntry
	items   []*BookItem
}

func (b *Books) rb() *reconBooks {
	if b.recon == nil {
		b.recon = &reconBooks{state: map[string]*ReconState{}, open: map[string]*reconOpen{}, preCut: map[string]time.Time{}}
	}
	return b.recon
}

func (b *Books) reconLoader() (ReconLoader, error) {
	rl, ok := b.load.(ReconLoader)
	if !ok {
		return nil, fmt.Errorf("ledger: the store %T cannot keep bank statements (no ReconLoader)", b.load)
	}
	return rl, nil
}

// addBankNeeds records the keys a bank event reads (AddNeeds).
func addBankNeeds(n *Needs, in Input) {
	switch e := in.Event.(type) {
	case events.BankStatementReceived:
		n.Biz[BizKey{in.FundID, BizStatement, e.StatementID}] = true
	case events.BankChargeRecorded:
		n.Biz[BizKey{in.FundID, BizCharge, e.ChargeID}] = true
	}
}

// applyBank applies the three bank events; ok is false for any other
// event.
func (b *Books) applyBank(in Input) (out Outcome, ok bool, err error) {
	switch e := in.Event.(type) {
	case events.BankStatementReceived:
		out, err = b.statement(in, e)
	case events.ReconciliationRequested:
		out, err = b.reconRequested(in)
	case events.BankChargeRecorded:
		out, err = b.bankCharge(in, e)
	default:
		return Outcome{}, false, nil
	}
	return out, true, err
}

func (b *Books) bankCharge(in Input, e events.BankChargeRecorded) (Outcome, error) {
	f, err := b.Fund(in.FundID)
	if err != nil || f == nil {
		if f == nil && err == nil {
			return rejected(events.UnknownFund, "fund %q is not open", in.FundID)
		}
		return Outcome{}, err
	}
	k := BizKey{f.ID, BizCharge, e.ChargeID}
	if taken, out, err := b.checkBiz(k, in.DataHash); taken || err != nil {
		return out, err
	}
	if e.RequestedBy == e.ApprovedBy {
		return rejected(events.SameMakerChecker, "requested_by and approved_by are both %q: a bank charge needs two people", e.ApprovedBy)
	}
	if avail := f.Available(); avail.LessThan(e.Amount) {
		return rejected(events.InsufficientFunds, "available %s < amount %s", Money(avail), Money(e.Amount))
	}
	refs := []Ref{{"charge_id", e.ChargeID}, {"bank_ref", e.BankRef}, {"charged_on", e.ChargedOn.Format(time.DateOnly)},
		{"description", e.Description}, {"requested_by", e.RequestedBy}, {"approved_by", e.ApprovedBy}}
	t := b.post(in, f, refs, pair(AccountBankCharges, AccountCash, e.Amount)...)
	b.takeBiz(k, in.EventID, in.DataHash)
	b.autoSnapshot(f)
	return Outcome{Kind: Applied, Txns: []*Txn{t}}, nil
}

// refusedEntries is the rejection a statement's entries whose own fields
// are not valid make, or nil.
func refusedEntries(e events.BankStatementReceived) *events.Rejection {
	var bad []events.LineError
	for _, x := range e.Entries {
		if x.Refused != nil {
			bad = append(bad, *x.Refused)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return entriesRejection(bad, len(e.Entries))
}

func entriesRejection(bad []events.LineError, n int) *events.Rejection {
	return &events.Rejection{
		Code:    bad[0].Code,
		Message: fmt.Sprintf("%d of %d entries refused; first: entry %d: %s", len(bad), n, bad[0].Index, bad[0].Message),
		Lines:   bad,
	}
}

func (b *Books) reconState(fundID string) (*ReconState, error) {
	rb := b.rb()
	if st, ok := rb.state[fundID]; ok {
		return st, nil
	}
	rl, err := b.reconLoader()
	if err != nil {
		return nil, err
	}
	st, err := rl.ReconState(b.ctx, fundID)
	if err != nil {
		return nil, err
	}
	rb.state[fundID] = st
	return st, nil
}

// statement checks a statement in the contract's order: its fields (the
// decoder), its entries, the fund, statement_id, the bank account, the
// entry refs, the balance, continuity. Then it records it and reconciles.
func (b *Books) statement(in Input, e events.BankStatementReceived) (Outcome, error) {
	if rej := refusedEntries(e); rej != nil {
		return Outcome{Kind: Rejected, Rejection: rej}, nil
	}
	f, err := b.Fund(in.FundID)
	if err != nil {
		return Outcome{}, err
	}
	if f == nil {
		return rejected(events.UnknownFund, "fund %q is not open", in.FundID)
	}
	k := BizKey{f.ID, BizStatement, e.StatementID}
	if taken, out, err := b.checkBiz(k, in.DataHash); taken || err != nil {
		return out, err
	}
	st, err := b.reconState(f.ID)
	if err != nil {
		return Outcome{}, err
	}
	if st != nil && st.BankAccount != e.BankAccount {
		return rejected(events.InvalidField, "data.bank_account %q is not the fund's bank account %q, which its first statement named",
			e.BankAccount, st.BankAccount)
	}
	if bad, err := b.entryRefErrors(f.ID, e); err != nil || len(bad) > 0 {
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{Kind: Rejected, Rejection: entriesRejection(bad, len(e.Entries))}, nil
	}
	net := e.OpeningBalance
	for _, x := range e.Entries {
		if x.Direction == events.DirCredit {
			net = net.Add(x.Amount)
		} else {
			net = net.Sub(x.Amount)
		}
	}
	if !net.Equal(e.ClosingBalance) {
		return rejected(events.StatementUnbalanced, "opening %s plus credits less debits is %s, not the closing balance %s",
			Money(e.OpeningBalance), Money(net), Money(e.ClosingBalance))
	}
	if st != nil {
		dayAfter := st.LastEnd.AddDate(0, 0, 1)
		if !e.PeriodStart.Equal(st.LastEnd) && !e.PeriodStart.Equal(dayAfter) {
			return rejected(events.StatementGap, "period_start %s does not continue statement %q, which ended on %s (the next must start on %s or %s)",
				e.PeriodStart.Format(time.DateOnly), st.LastStatementID, st.LastEnd.Format(time.DateOnly),
				st.LastEnd.Format(time.DateOnly), dayAfter.Format(time.DateOnly))
		}
		if !e.OpeningBalance.Equal(st.LastClosing) {
			return rejected(events.StatementGap, "opening balance %s is not the closing balance %s of statement %q",
				Money(e.OpeningBalance), Money(st.LastClosing), st.LastStatementID)
		}
	}

	// Accepted.
	rb := b.rb()
	if st == nil {
		st = &ReconState{FundID: f.ID, BankAccount: e.BankAccount, FirstStart: e.PeriodStart, OpeningBank: e.OpeningBalance, New: true}
		rb.state[f.ID] = st
	}
	o, err := b.openSet(f.ID, st)
	if err != nil {
		return Outcome{}, err
	}
	st.Statements++
	st.LastStatementID, st.LastEnd, st.LastClosing, st.Dirty = e.StatementID, e.PeriodEnd, e.ClosingBalance, true
	rb.statements = append(rb.statements, &Statement{FundID: f.ID, StatementID: e.StatementID, N: st.Statements,
		BankAccount: e.BankAccount, PeriodStart: e.PeriodStart, PeriodEnd: e.PeriodEnd, Opening: e.OpeningBalance,
		Closing: e.ClosingBalance, Entries: len(e.Entries), FileSHA256: e.FileSHA256, MessageID: e.MessageID, EventID: in.EventID})
	for i, x := range e.Entries {
		be := &BankEntry{FundID: f.ID, StatementID: e.StatementID, StatementN: st.Statements, Index: i, EntryRef: x.EntryRef,
			BookedOn: x.BookedOn, Direction: x.Direction, Amount: x.Amount, BankRef: x.BankRef, Description: x.Description}
		rb.entries = append(rb.entries, be)
		o.entries = append(o.entries, be)
	}
	b.takeBiz(k, in.EventID, in.DataHash)
	b.reconcile(f, st, o)
	return Outcome{Kind: Applied}, nil
}

// entryRefErrors names each entry whose entry_ref an earlier statement of
// the account used, or an earlier entry of this one.
func (b *Books) entryRefErrors(fundID string, e events.BankStatementReceived) ([]events.LineError, error) {
	if len(e.Entries) == 0 {
		return nil, nil
	}
	refs := make([]string, len(e.Entries))
	for i, x := range e.Entries {
		refs[i] = x.EntryRef
	}
	rl, err := b.reconLoader()
	if err != nil {
		return nil, err
	}
	taken, err := rl.EntryRefs(b.ctx, fundID, refs)
	if err != nil {
		return nil, err
	}
	for _, x := range b.rb().entries { // this unit of work's, not stored yet
		if x.FundID == fundID {
			taken[x.EntryRef] = x.StatementID
		}
	}
	var bad []events.LineError
	first := make(map[string]int, len(e.Entries))
	for i, x := range e.Entries {
		if by, ok := taken[x.EntryRef]; ok {
			bad = append(bad, events.LineError{Index: i, Code: events.DuplicateID,
				Message: fmt.Sprintf("entry_ref %q was already used by statement %q", x.EntryRef, by)})
			continue
		}
		if j, ok := first[x.EntryRef]; ok {
			bad = append(bad, events.LineError{Index: i, Code: events.DuplicateID,
				Message: fmt.Sprintf("data.entries[%d].entry_ref %q is already used by data.entries[%d] of this statement", i, x.EntryRef, j)})
			continue
		}
		first[x.EntryRef] = i
	}
	return bad, nil
}

func (b *Books) reconRequested(in Input) (Outcome, error) {
	f, err := b.Fund(in.FundID)
	if err != nil {
		return Outcome{}, err
	}
	if f == nil {
		return rejected(events.UnknownFund, "fund %q is not open", in.FundID)
	}
	st, err := b.reconState(f.ID)
	if err != nil {
		return Outcome{}, err
	}
	if st == nil {
		return rejected(events.InvalidField, "fund %q has received no bank statement yet: there is nothing to reconcile", f.ID)
	}
	o, err := b.openSet(f.ID, st)
	if err != nil {
		return Outcome{}, err
	}
	b.reconcile(f, st, o)
	return Outcome{Kind: Applied}, nil
}

// openSet loads the fund's unmatched entries and items once per unit of
// work, with the book items this unit of work posted so far.
func (b *Books) openSet(fundID string, st *ReconState) (*reconOpen, error) {
	rb := b.rb()
	b.syncCash()
	if o := rb.open[fundID]; o != nil {
		return o, nil
	}
	rl, err := b.reconLoader()
	if err != nil {
		return nil, err
	}
	entries, items, preNet, err := rl.ReconOpen(b.ctx, fundID, st.FirstStart)
	if err != nil {
		return nil, err
	}
	for _, x := range entries {
		x.stored = true
	}
	for _, it := range items {
		it.stored = true
	}
	st.OpeningBook = st.OpeningBook.Add(preNet)
	st.Dirty = true
	rb.preCut[fundID] = st.FirstStart
	o := &reconOpen{entries: entries, items: items}
	for _, it := range rb.items {
		if it.FundID == fundID {
			b.placeItem(st, o, it)
		}
	}
	rb.open[fundID] = o
	return o, nil
}

// placeItem puts a new book item of a fund whose working set is loaded
// where it belongs: before the bank's history (folded into the opening
// book balance) or among the unmatched.
func (b *Books) placeItem(st *ReconState, o *reconOpen, it *BookItem) {
	if it.Date.Before(st.FirstStart) {
		it.pre = true
		st.OpeningBook = st.OpeningBook.Add(signed(it.Direction, it.Amount))
		st.Dirty = true
		return
	}
	o.items = append(o.items, it)
}

func signed(direction string, amount decimal.Decimal) decimal.Decimal {
	if direction == events.DirDebit {
		return amount.Neg()
	}
	return amount
}

// syncCash turns the cash postings posted since the last call into book
// items.
func (b *Books) syncCash() {
	rb := b.rb()
	for ; rb.cursor < len(b.Txns); rb.cursor++ {
		for _, it := range CashItems(b.Txns[rb.cursor], b.zone()) {
			rb.items = append(rb.items, it)
			if o := rb.open[it.FundID]; o != nil {
				b.placeItem(rb.state[it.FundID], o, it)
			}
		}
	}
}

// CashItems are the book items of a transaction: one per posting to cash.
func CashItems(t *Txn, loc *time.Location) []*BookItem {
	var out []*BookItem
	for i, p := range t.Postings {
		if p.Account != AccountCash {
			continue
		}
		dir := events.DirCredit // cash debited: money into the account
		if p.Side == Credit {
			dir = events.DirDebit
		}
		it := &BookItem{FundID: t.FundID, JournalSeq: t.Seq, Line: i, Type: t.Type, Date: BusinessDate(t, loc),
			Direction: dir, Amount: p.Amount}
		for _, r := range t.Refs {
			if r.Key == "bank_ref" {
				it.BankRef = r.Value
			}
		}
		out = append(out, it)
	}
	return out
}

// reconcile matches what is unmatched, makes the fund's next report and
// signs it.
func (b *Books) reconcile(f *Fund, st *ReconState, o *reconOpen) {
	rb := b.rb()
	st.ReconSeq++
	st.Dirty = true
	for _, m := range MatchAll(o.entries, o.items, b.settings.Recon.DateWindow) {
		st.MatchSeq++
		m.Entry.MatchID = st.MatchSeq
		if m.Entry.stored {
			rb.matchedOld = append(rb.matchedOld, m.Entry)
		}
		for _, it := range m.Items {
			it.MatchID = st.MatchSeq
			if it.stored {
				rb.gone = append(rb.gone, it)
			}
			rb.links = append(rb.links, MatchLink{FundID: f.ID, MatchID: st.MatchSeq, Rule: m.Rule, ReconSeq: st.ReconSeq,
				StatementID: m.Entry.StatementID, EntryRef: m.Entry.EntryRef, JournalSeq: it.JournalSeq, Line: it.Line})
		}
		st.MatchedCount++
		st.MatchedAmount = st.MatchedAmount.Add(m.Entry.Amount)
	}
	o.entries = keepEntries(o.entries)
	o.items = keepItems(o.items)
	r := newReconciliation(f, st, o)
	if s := b.settings.Signer; s != nil {
		r.KeyID = s.KeyID()
		r.Signature = encodeSig(s.Sign(ReconciliationSigningInput(r)))
	}
	rb.reports = append(rb.reports, r)
	rb.bodies = append(rb.bodies, r.JSON())
}

func keepEntries(l []*BankEntry) []*BankEntry {
	out := l[:0]
	for _, x := range l {
		if x.MatchID == 0 {
			out = append(out, x)
		}
	}
	return out
}

func keepItems(l []*BookItem) []*BookItem {
	out := l[:0]
	for _, x := range l {
		if x.MatchID == 0 {
			out = append(out, x)
		}
	}
	return out
}

// ReconChanges is what the bank reconciliation of a unit of work wrote,
// for the store.
type ReconChanges struct {
	States     []*ReconState
	Statements []*Statement
	// Entries are the new statements' entries (MatchID set when matched
	// already); Matched are stored entries matched now.
	Entries []*BankEntry
	Matched []*BankEntry
	// Items are the new book items still unmatched and in the bank's
	// history, to be kept; Gone are stored items matched now.
	Items []*BookItem
	Gone  []*BookItem
	// PreCut: per fund, stored unmatched items dated before this day were
	// folded into the opening book balance and are to be dropped.
	PreCut  map[string]time.Time
	Links   []MatchLink
	Reports []*Reconciliation
	// Bodies are the reports as published and stored, in Reports order.
	Bodies [][]byte
}

// ReconChanges returns the reconciliation's changes, with every cash
// posting of the unit of work turned into a book item.
func (b *Books) ReconChanges() ReconChanges {
	rb := b.rb()
	b.syncCash()
	c := ReconChanges{Statements: rb.statements, Entries: rb.entries, Matched: rb.matchedOld, PreCut: rb.preCut,
		Links: rb.links, Reports: rb.reports, Bodies: rb.bodies}
	for _, st := range rb.state {
		if st != nil && (st.New || st.Dirty) {
			c.States = append(c.States, st)
		}
	}
	sort.Slice(c.States, func(i, j int) bool { return c.States[i].FundID < c.States[j].FundID })
	for _, it := range rb.items {
		if it.MatchID == 0 && !it.pre {
			c.Items = append(c.Items, it)
		}
	}
	c.Gone = rb.gone
	return c
}
