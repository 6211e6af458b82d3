package ledger

import (
	"fmt"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/shopspring/decimal"
)

var zero = decimal.Zero

// Input is one decoded, field-valid event to apply.
type Input struct {
	EventID  string
	Type     string
	Source   string
	FundID   string
	DataHash [32]byte
	Event    events.Event
	// Time is the time recorded on the transactions it posts.
	Time time.Time
}

// Kind is what became of an applied input.
type Kind int

// Outcomes of Apply.
const (
	// Applied changed the books (Txns may be empty: opening a fund, a
	// cancellation with nothing outstanding, a snapshot request).
	Applied Kind = iota
	// Duplicate is a business id seen before with the same content: a no-op.
	Duplicate
	// Rejected refused the event; nothing changed.
	Rejected
	// Held is waiting for the grant or payment named in WaitingOn.
	Held
)

// Outcome is the result of applying one input.
type Outcome struct {
	Kind      Kind
	Rejection *events.Rejection // when Rejected
	Txns      []*Txn            // journal transactions posted
	// WaitingOn and HoldCode tell what a held event waits for and the code
	// it is refused with when the hold window passes.
	WaitingOn string
	HoldCode  events.Code
	HoldWhy   string
	// Created lists the keys ("grant:<id>", "payment:<id>") this event made
	// known in FundID, which may release held events.
	Created []string
}

// WaitKey is the key a held event waits on.
func WaitKey(kind, id string) string { return kind + ":" + id }

func rejected(code events.Code, format string, args ...any) (Outcome, error) {
	return Outcome{Kind: Rejected, Rejection: events.Reject(code, format, args...)}, nil
}

func held(kind, id string, code events.Code, why string) (Outcome, error) {
	return Outcome{Kind: Held, WaitingOn: WaitKey(kind, id), HoldCode: code, HoldWhy: why}, nil
}

// AddNeeds records the keys an input will read.
func AddNeeds(n *Needs, in Input) {
	f := in.FundID
	n.Funds[f] = true
	addBankNeeds(n, in) // recon.go
	switch e := in.Event.(type) {
	case events.ContributionReceived:
		n.Biz[BizKey{f, BizContribution, e.ContributionID}] = true
	case events.AllocationApproved:
		n.Funds[e.ToFundID] = true
		n.Biz[BizKey{f, BizAllocation, e.AllocationID}] = true
	case events.GrantApproved:
		n.Biz[BizKey{f, BizGrant, e.GrantID}] = true
		n.Caps[CapKey{f, e.Program, e.BeneficiaryRef, e.ApprovedOn.Year()}] = true
	case events.GrantBatchApproved:
		n.Biz[BizKey{f, BizBatch, e.BatchID}] = true
		for _, l := range e.Lines {
			if l.Refused != nil {
				continue
			}
			n.Biz[BizKey{f, BizGrant, l.GrantID}] = true
			n.Caps[CapKey{f, e.Program, l.BeneficiaryRef, e.ApprovedOn.Year()}] = true
		}
	case events.GrantDisbursed:
		n.Biz[BizKey{f, BizPayment, e.PaymentID}] = true
		n.Grants[GrantKey{f, e.GrantID}] = true
	case events.PaymentReturned:
		n.Grants[GrantKey{f, e.GrantID}] = true
		n.Payments[PaymentKey{f, e.PaymentID}] = true
	case events.GrantCancelled:
		n.Grants[GrantKey{f, e.GrantID}] = true
	case events.GrantRecovered:
		n.Biz[BizKey{f, BizRecovery, e.RecoveryID}] = true
		n.Grants[GrantKey{f, e.GrantID}] = true
	}
}

// Apply runs the contract's checks on one event in order and, when they
// pass, posts it. A refused or held event changes nothing. The error is
// only for the store failing; a refusal is an Outcome.
func (b *Books) Apply(in Input) (Outcome, error) {
	if e, ok := in.Event.(events.FundOpened); ok {
		return b.openFund(in, e)
	}
	if out, ok, err := b.applyBank(in); ok { // recon.go
		return out, err
	}
	f, err := b.Fund(in.FundID)
	if err != nil {
		return Outcome{}, err
	}
	if f == nil {
		if e, ok := in.Event.(events.GrantBatchApproved); ok {
			if rej := refusedLines(e); rej != nil { // data fields come before the fund
				return Outcome{Kind: Rejected, Rejection: rej}, nil
			}
		}
		return rejected(events.UnknownFund, "fund %q is not open", in.FundID)
	}
	var out Outcome
	switch e := in.Event.(type) {
	case events.ProgramSet:
		out, err = b.setProgram(f, e)
	case events.ContributionReceived:
		out, err = b.contribution(in, f, e)
	case events.AllocationApproved:
		out, err = b.allocation(in, f, e)
	case events.GrantApproved:
		out, err = b.grantApproved(in, f, e)
	case events.GrantBatchApproved:
		out, err = b.batch(in, f, e)
	case events.GrantDisbursed:
		out, err = b.disbursed(in, f, e)
	case events.PaymentReturned:
		out, err = b.returned(in, f, e)
	case events.GrantCancelled:
		out, err = b.cancelled(in, f, e)
	case events.GrantRecovered:
		out, err = b.recovered(in, f, e)
	case events.PeriodClosed:
		out, err = b.closePeriod(in, f, e)
	case events.SnapshotRequested:
		b.Snapshots = append(b.Snapshots, TakeSnapshot(f, e.Label, b.settings.Signer))
		return Outcome{Kind: Applied}, nil
	default:
		return rejected(events.UnsupportedType, "event type %q is not supported", in.Type)
	}
	if err != nil || out.Kind != Applied {
		return out, err
	}
	b.autoSnapshot(f)
	for _, t := range out.Txns {
		if t.FundID != f.ID {
			other, _ := b.Fund(t.FundID) // loaded already by the rule
			b.autoSnapshot(other)
		}
	}
	return out, nil
}

func (b *Books) autoSnapshot(f *Fund) {
	if n := b.settings.SnapshotEvery; n > 0 && f.HeadSeq-f.SnapshotJournalSeq >= n {
		b.Snapshots = append(b.Snapshots, TakeSnapshot(f, "", b.settings.Signer))
	}
}

// checkBiz applies the business-id rule: the same id with the same data is a
// no-op, with other data it is refused.
func (b *Books) checkBiz(k BizKey, hash [32]byte) (taken bool, out Outcome, err error) {
	x, err := b.Biz(k)
	if err != nil || x == nil {
		return false, Outcome{}, err
	}
	if x.Hash == hash {
		return true, Outcome{Kind: Duplicate}, nil
	}
	out, _ = rejected(events.DuplicateID, "%s_id %q was already used by event %s with different data", k.Kind, k.ID, x.EventID)
	return true, out, nil
}

func (b *Books) takeBiz(k BizKey, eventID string, hash [32]byte) {
	b.biz[k] = &BizID{BizKey: k, EventID: eventID, Hash: hash, New: true}
}

// post appends a balanced transaction to the fund's chain and updates the
// kept balances.
func (b *Books) post(in Input, f *Fund, refs []Ref, postings ...Posting) *Txn {
	SortRefs(refs)
	t := &Txn{
		FundID: f.ID, Seq: f.HeadSeq + 1, EventID: in.EventID, Type: in.Type, Source: in.Source,
		Time: nowOrHead(f, in.Time), Refs: refs, Postings: postings, PrevHash: f.HeadHash,
	}
	t.Hash = HashTxn(t)
	for _, p := range postings {
		bal := f.Balance(p.Account)
		if p.Side == Debit {
			bal.Debits = bal.Debits.Add(p.Amount)
		} else {
			bal.Credits = bal.Credits.Add(p.Amount)
		}
	}
	f.HeadSeq, f.HeadHash, f.HeadTime, f.Dirty = t.Seq, t.Hash, t.Time, true
	b.appendLeaf(f, t)
	b.Txns = append(b.Txns, t)
	b.notePeriod(f, t)
	return t
}

func pair(debit, credit string, amount decimal.Decimal) []Posting {
	return []Posting{{debit, Debit, amount}, {credit, Credit, amount}}
}

func (b *Books) activity(g *Grant, kind, ref string, amount decimal.Decimal, t *Txn, in Input) {
	g.ActivityN++
	a := &Activity{GrantKey: g.GrantKey, N: g.ActivityN, Kind: kind, Ref: ref, Amount: amount, EventID: in.EventID, Time: in.Time}
	if t != nil {
		a.JournalSeq, a.Time = t.Seq, t.Time
	}
	b.Activity = append(b.Activity, a)
}

// setOutstanding keeps the fund's count of grants with something owed.
func setOutstanding(f *Fund, g *Grant, before decimal.Decimal) {
	after := g.Outstanding()
	switch {
	case before.IsPositive() && !after.IsPositive():
		f.OpenGrants--
	case !before.IsPositive() && after.IsPositive():
		f.OpenGrants++
	}
	f.Dirty = true
}

func (b *Books) openFund(in Input, e events.FundOpened) (Outcome, error) {
	f, err := b.Fund(in.FundID)
	if err != nil {
		return Outcome{}, err
	}
	if f != nil {
		return rejected(events.FundExists, "fund %q is already open (opened by event %s)", f.ID, f.OpenedEventID)
	}
	f = &Fund{
		ID: in.FundID, Name: e.Name, Currency: e.Currency, OpenedEventID: in.EventID, OpenedAt: in.Time,
		HeadHash: GenesisHash, Programs: map[string]*Program{}, Balances: map[string]*Balance{}, New: true,
	}
	for _, p := range e.Programs {
		f.Programs[p.Code] = &Program{Code: p.Code, Cap: p.Cap, Dirty: true}
	}
	b.funds[f.ID] = f
	return Outcome{Kind: Applied}, nil
}

func (b *Books) setProgram(f *Fund, e events.ProgramSet) (Outcome, error) {
	f.Programs[e.Program] = &Program{Code: e.Program, Cap: e.Cap, Dirty: true}
	// The store writes a fund's changed programs with the fund, and only
	// the funds that changed: without this, a program change alone in its
	// batch was acknowledged and lost.
	f.Dirty = true
	return Outcome{Kind: Applied}, nil
}

func (b *Books) contribution(in Input, f *Fund, e events.ContributionReceived) (Outcome, error) {
	k := BizKey{f.ID, BizContribution, e.ContributionID}
	if taken, out, err := b.checkBiz(k, in.DataHash); taken || err != nil {
		return out, err
	}
	refs := []Ref{{"contribution_id", e.ContributionID}, {"source_kind", e.SourceKind}, {"payer", e.Payer},
		{"bank_ref", e.BankRef}, {"received_on", e.ReceivedOn.Format(time.DateOnly)}}
	t := b.post(in, f, refs, pair(AccountCash, ContributionAccount(e.SourceKind), e.Amount)...)
	b.takeBiz(k, in.EventID, in.DataHash)
	return Outcome{Kind: Applied, Txns: []*Txn{t}}, nil
}

func (b *Books) allocation(in Input, f *Fund, e events.AllocationApproved) (Outcome, error) {
	to, err := b.Fund(e.ToFundID)
	if err != nil {
		return Outcome{}, err
	}
	if to == nil {
		return rejected(events.UnknownFund, "target fund %q is not open", e.ToFundID)
	}
	k := BizKey{f.ID, BizAllocation, e.AllocationID}
	if taken, out, err := b.checkBiz(k, in.DataHash); taken || err != nil {
		return out, err
	}
	if avail := f.Available(); avail.LessThan(e.Amount) {
		return rejected(events.InsufficientFunds, "available %s < amount %s", Money(avail), Money(e.Amount))
	}
	out := b.post(in, f, withDate([]Ref{{"allocation_id", e.AllocationID}, {"approved_by", e.ApprovedBy}, {"to_fund_id", to.ID}}, "approved_on", e.ApprovedOn),
		pair(AccountAllocOut, AccountCash, e.Amount)...)
	inTx := b.post(in, to, withDate([]Ref{{"allocation_id", e.AllocationID}, {"approved_by", e.ApprovedBy}, {"from_fund_id", f.ID}}, "approved_on", e.ApprovedOn),
		pair(AccountCash, AccountAllocIn, e.Amount)...)
	b.takeBiz(k, in.EventID, in.DataHash)
	return Outcome{Kind: Applied, Txns: []*Txn{out, inTx}}, nil
}

// grantLine is what a single approval and a batch line have in common.
type grantLine struct {
	GrantID, Beneficiary, Category string
	Amount                         decimal.Decimal
	Hash                           [32]byte
}

func (b *Books) checkProgram(f *Fund, program, requestedBy, approvedBy string) (*Program, *events.Rejection) {
	p := f.Programs[program]
	if p == nil {
		return nil, events.Reject(events.UnknownProgram, "program %q is not set up in fund %q", program, f.ID)
	}
	if requestedBy == approvedBy {
		return nil, events.Reject(events.SameMakerChecker, "requested_by and approved_by are both %q: a grant needs two people", approvedBy)
	}
	return p, nil
}

// checkCap refuses when usage plus amount would pass the cap (equal is
// allowed). extra is usage already counted earlier in the same batch.
func checkCap(p *Program, u *CapUsage, extra, amount decimal.Decimal) *events.Rejection {
	if p.Cap == nil {
		return nil
	}
	used := u.Used.Add(extra)
	if used.Add(amount).GreaterThan(*p.Cap) {
		return events.Reject(events.BeneficiaryCapExceeded,
			"beneficiary %q has %s approved in program %q in %d; %s more would pass the cap of %s",
			u.Beneficiary, Money(used), p.Code, u.Year, Money(amount), Money(*p.Cap))
	}
	return nil
}

func (b *Books) approveGrant(in Input, f *Fund, program string, approvedOn time.Time, l grantLine, refs []Ref) (*Txn, error) {
	u, err := b.Cap(CapKey{f.ID, program, l.Beneficiary, approvedOn.Year()})
	if err != nil {
		return nil, err
	}
	t := b.post(in, f, refs, pair(GrantExpenseAccount(program), AccountGrantsPayable, l.Amount)...)
	g := &Grant{
		GrantKey: GrantKey{f.ID, l.GrantID}, BeneficiaryRef: l.Beneficiary, Program: program, Category: l.Category,
		ApprovedOn: approvedOn, EventID: in.EventID, Approved: l.Amount, New: true,
	}
	b.grants[g.GrantKey] = g
	u.Used, u.Dirty = u.Used.Add(l.Amount), true
	setOutstanding(f, g, zero)
	b.activity(g, "approved", "", l.Amount, t, in)
	b.takeBiz(BizKey{f.ID, BizGrant, l.GrantID}, in.EventID, l.Hash)
	return t, nil
}

func (b *Books) grantApproved(in Input, f *Fund, e events.GrantApproved) (Outcome, error) {
	if taken, out, err := b.checkBiz(BizKey{f.ID, BizGrant, e.GrantID}, in.DataHash); taken || err != nil {
		return out, err
	}
	p, rej := b.checkProgram(f, e.Program, e.RequestedBy, e.ApprovedBy)
	if rej != nil {
		return Outcome{Kind: Rejected, Rejection: rej}, nil
	}
	u, err := b.Cap(CapKey{f.ID, e.Program, e.BeneficiaryRef, e.ApprovedOn.Year()})
	if err != nil {
		return Outcome{}, err
	}
	if rej := checkCap(p, u, zero, e.Amount); rej != nil {
		return Outcome{Kind: Rejected, Rejection: rej}, nil
	}
	if avail := f.Available(); avail.LessThan(e.Amount) {
		return rejected(events.InsufficientFunds, "available %s < amount %s", Money(avail), Money(e.Amount))
	}
	refs := []Ref{{"grant_id", e.GrantID}, {"beneficiary_ref", e.BeneficiaryRef}, {"program", e.Program},
		{"category", e.Category}, {"requested_by", e.RequestedBy}, {"approved_by", e.ApprovedBy},
		{"approved_on", e.ApprovedOn.Format(time.DateOnly)}}
	t, err := b.approveGrant(in, f, e.Program, e.ApprovedOn, grantLine{e.GrantID, e.BeneficiaryRef, e.Category, e.Amount, in.DataHash}, refs)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Kind: Applied, Txns: []*Txn{t}, Created: []string{WaitKey("grant", e.GrantID)}}, nil
}

// refusedLines is the rejection a batch's lines whose fields are not valid
// make on their own, or nil when there are none. The contract checks the
// data fields before the fund, the business id, the program and the
// maker-checker, so when one of those fails as well this is the batch's
// rejection.
func refusedLines(e events.GrantBatchApproved) *events.Rejection {
	var bad []events.LineError
	for _, l := range e.Lines {
		if l.Refused != nil {
			bad = append(bad, *l.Refused)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return batchRejection(bad, len(e.Lines))
}

// batchRejection refuses a batch for its bad lines (in line order): the
// batch's code is that of its first bad line.
func batchRejection(bad []events.LineError, n int) *events.Rejection {
	return &events.Rejection{
		Code:    bad[0].Code,
		Message: fmt.Sprintf("%d of %d lines refused; first: line %d: %s", len(bad), n, bad[0].Index, bad[0].Message),
		Lines:   bad,
	}
}

// lineIDErrors is, per line of a batch, its first problem among its own
// fields and its grant_id (taken by an applied event before, or by an
// earlier line of this batch, also one refused for another field); nil for
// a line with neither.
func (b *Books) lineIDErrors(f *Fund, e events.GrantBatchApproved) ([]*events.LineError, error) {
	errs := make([]*events.LineError, len(e.Lines))
	firstUse := make(map[string]int, len(e.Lines))
	for i, l := range e.Lines {
		earlier, repeated := firstUse[l.GrantID]
		if !repeated && l.GrantID != "" {
			firstUse[l.GrantID] = i
		}
		if l.Refused != nil {
			errs[i] = l.Refused
			continue
		}
		x, err := b.Biz(BizKey{f.ID, BizGrant, l.GrantID})
		if err != nil {
			return nil, err
		}
		switch {
		case x != nil:
			errs[i] = &events.LineError{Index: i, Code: events.DuplicateID,
				Message: fmt.Sprintf("grant_id %q was already used by event %s", l.GrantID, x.EventID)}
		case repeated:
			errs[i] = &events.LineError{Index: i, Code: events.DuplicateID,
				Message: fmt.Sprintf("data.lines[%d].grant_id %q is already used by data.lines[%d] of this batch", i, l.GrantID, earlier)}
		}
	}
	return errs, nil
}

// collectLineErrors is the lines' problems in line order.
func collectLineErrors(errs []*events.LineError) []events.LineError {
	var bad []events.LineError
	for _, e := range errs {
		if e != nil {
			bad = append(bad, *e)
		}
	}
	return bad
}

func (b *Books) batch(in Input, f *Fund, e events.GrantBatchApproved) (Outcome, error) {
	fieldRej := refusedLines(e)
	taken, out, err := b.checkBiz(BizKey{f.ID, BizBatch, e.BatchID}, in.DataHash)
	if err != nil {
		return out, err
	}
	if taken {
		if fieldRej != nil {
			return Outcome{Kind: Rejected, Rejection: fieldRej}, nil
		}
		return out, nil
	}
	lineErrs, err := b.lineIDErrors(f, e)
	if err != nil {
		return Outcome{}, err
	}
	p, rej := b.checkProgram(f, e.Program, e.RequestedBy, e.ApprovedBy)
	if rej != nil {
		// The contract's order: data fields, the fund, the business ids
		// (the lines' grant_ids among them), then program and maker-checker.
		switch bad := collectLineErrors(lineErrs); {
		case fieldRej != nil:
			rej = fieldRej
		case len(bad) > 0:
			rej = batchRejection(bad, len(e.Lines))
		}
		return Outcome{Kind: Rejected, Rejection: rej}, nil
	}
	// Every bad line is named, in line order, with its first problem: its
	// fields, its grant_id (taken before, or by an earlier line of this
	// batch), its cap, available. Caps and available are checked
	// cumulatively over the lines that pass.
	year := e.ApprovedOn.Year()
	extra := map[string]decimal.Decimal{}
	avail := f.Available()
	var bad []events.LineError
	lines := make([]grantLine, 0, len(e.Lines))
	for i, l := range e.Lines {
		if lineErrs[i] != nil {
			bad = append(bad, *lineErrs[i])
			continue
		}
		lines = append(lines, grantLine{l.GrantID, l.BeneficiaryRef, l.Category, l.Amount, l.DataHash})
		u, err := b.Cap(CapKey{f.ID, e.Program, l.BeneficiaryRef, year})
		if err != nil {
			return Outcome{}, err
		}
		if rej := checkCap(p, u, extra[l.BeneficiaryRef], l.Amount); rej != nil {
			bad = append(bad, events.LineError{Index: i, Code: rej.Code, Message: rej.Message})
			continue
		}
		if avail.LessThan(l.Amount) {
			bad = append(bad, events.LineError{Index: i, Code: events.InsufficientFunds,
				Message: fmt.Sprintf("available %s < amount %s", Money(avail), Money(l.Amount))})
			continue
		}
		extra[l.BeneficiaryRef] = extra[l.BeneficiaryRef].Add(l.Amount)
		avail = avail.Sub(l.Amount)
	}
	if len(bad) > 0 {
		return Outcome{Kind: Rejected, Rejection: batchRejection(bad, len(e.Lines))}, nil
	}
	out = Outcome{Kind: Applied}
	for _, l := range lines {
		refs := []Ref{{"batch_id", e.BatchID}, {"grant_id", l.GrantID}, {"beneficiary_ref", l.Beneficiary},
			{"program", e.Program}, {"category", l.Category}, {"requested_by", e.RequestedBy},
			{"approved_by", e.ApprovedBy}, {"approved_on", e.ApprovedOn.Format(time.DateOnly)}}
		t, err := b.approveGrant(in, f, e.Program, e.ApprovedOn, l, refs)
		if err != nil {
			return Outcome{}, err
		}
		out.Txns = append(out.Txns, t)
		out.Created = append(out.Created, WaitKey("grant", l.GrantID))
	}
	b.takeBiz(BizKey{f.ID, BizBatch, e.BatchID}, in.EventID, in.DataHash)
	return out, nil
}

// knownGrant looks a grant up, or holds the event until it arrives.
func (b *Books) knownGrant(f *Fund, grantID string) (*Grant, *Outcome, error) {
	g, err := b.Grant(GrantKey{f.ID, grantID})
	if err != nil {
		return nil, nil, err
	}
	if g == nil {
		out, _ := held("grant", grantID, events.UnknownGrant, fmt.Sprintf("grant %q is not known in fund %q", grantID, f.ID))
		return nil, &out, nil
	}
	return g, nil, nil
}

func (b *Books) disbursed(in Input, f *Fund, e events.GrantDisbursed) (Outcome, error) {
	k := BizKey{f.ID, BizPayment, e.PaymentID}
	if taken, out, err := b.checkBiz(k, in.DataHash); taken || err != nil {
		return out, err
	}
	g, hold, err := b.knownGrant(f, e.GrantID)
	if g == nil {
		return *hold, err
	}
	if g.Closed {
		return rejected(events.GrantClosed, "grant %q is cancelled", g.GrantID)
	}
	before := g.Outstanding()
	if e.Amount.GreaterThan(before) {
		return rejected(events.ExceedsOutstanding, "amount %s > outstanding %s on grant %q", Money(e.Amount), Money(before), g.GrantID)
	}
	refs := []Ref{{"grant_id", g.GrantID}, {"payment_id", e.PaymentID}, {"bank_ref", e.BankRef},
		{"paid_on", e.PaidOn.Format(time.DateOnly)}, {"program", g.Program}}
	t := b.post(in, f, refs, pair(AccountGrantsPayable, AccountCash, e.Amount)...)
	g.Paid, g.Dirty = g.Paid.Add(e.Amount), true
	setOutstanding(f, g, before)
	p := &Payment{PaymentKey: PaymentKey{f.ID, e.PaymentID}, GrantID: g.GrantID, Amount: e.Amount,
		PaidOn: e.PaidOn, BankRef: e.BankRef, EventID: in.EventID, New: true}
	b.payments[p.PaymentKey] = p
	b.activity(g, "disbursed", e.PaymentID, e.Amount, t, in)
	b.takeBiz(k, in.EventID, in.DataHash)
	return Outcome{Kind: Applied, Txns: []*Txn{t}, Created: []string{WaitKey("payment", e.PaymentID)}}, nil
}

func (b *Books) returned(in Input, f *Fund, e events.PaymentReturned) (Outcome, error) {
	g, hold, err := b.knownGrant(f, e.GrantID)
	if g == nil {
		return *hold, err
	}
	if g.Closed {
		return rejected(events.GrantClosed, "grant %q is cancelled", g.GrantID)
	}
	p, err := b.Payment(PaymentKey{f.ID, e.PaymentID})
	if err != nil {
		return Outcome{}, err
	}
	if p == nil || p.GrantID != g.GrantID {
		return held("payment", e.PaymentID, events.UnknownPayment,
			fmt.Sprintf("payment %q of grant %q is not known in fund %q", e.PaymentID, g.GrantID, f.ID))
	}
	if left := p.Amount.Sub(p.Returned); e.Amount.GreaterThan(left) {
		return rejected(events.ExceedsOutstanding, "amount %s > %s still held by payment %q", Money(e.Amount), Money(left), p.PaymentID)
	}
	before := g.Outstanding()
	refs := withDate([]Ref{{"grant_id", g.GrantID}, {"payment_id", p.PaymentID}, {"reason", e.Reason}, {"program", g.Program}}, "returned_on", e.ReturnedOn)
	t := b.post(in, f, refs, pair(AccountCash, AccountGrantsPayable, e.Amount)...)
	g.Returned, g.Dirty = g.Returned.Add(e.Amount), true
	p.Returned, p.Dirty = p.Returned.Add(e.Amount), true
	setOutstanding(f, g, before)
	b.activity(g, "returned", p.PaymentID, e.Amount, t, in)
	return Outcome{Kind: Applied, Txns: []*Txn{t}}, nil
}

func (b *Books) cancelled(in Input, f *Fund, e events.GrantCancelled) (Outcome, error) {
	g, hold, err := b.knownGrant(f, e.GrantID)
	if g == nil {
		return *hold, err
	}
	if g.Closed {
		return rejected(events.GrantClosed, "grant %q is already cancelled", g.GrantID)
	}
	out := Outcome{Kind: Applied}
	before := g.Outstanding()
	var t *Txn
	if before.IsPositive() {
		refs := withDate([]Ref{{"grant_id", g.GrantID}, {"cancelled_by", e.CancelledBy}, {"reason", e.Reason}, {"program", g.Program}}, "cancelled_on", e.CancelledOn)
		t = b.post(in, f, refs, pair(AccountGrantsPayable, GrantExpenseAccount(g.Program), before)...)
		out.Txns = []*Txn{t}
		u, err := b.Cap(g.capKey())
		if err != nil {
			return Outcome{}, err
		}
		u.Used, u.Dirty = u.Used.Sub(before), true
	}
	g.Cancelled, g.Closed, g.Dirty = g.Cancelled.Add(before), true, true
	setOutstanding(f, g, before)
	b.activity(g, "cancelled", "", before, t, in)
	return out, nil
}

func (b *Books) recovered(in Input, f *Fund, e events.GrantRecovered) (Outcome, error) {
	k := BizKey{f.ID, BizRecovery, e.RecoveryID}
	if taken, out, err := b.checkBiz(k, in.DataHash); taken || err != nil {
		return out, err
	}
	g, hold, err := b.knownGrant(f, e.GrantID)
	if g == nil {
		return *hold, err
	}
	if left := g.Recoverable(); e.Amount.GreaterThan(left) {
		return rejected(events.ExceedsOutstanding, "amount %s > %s paid net on grant %q", Money(e.Amount), Money(left), g.GrantID)
	}
	refs := withDate([]Ref{{"grant_id", g.GrantID}, {"recovery_id", e.RecoveryID}, {"bank_ref", e.BankRef}, {"reason", e.Reason}, {"program", g.Program}}, "recovered_on", e.RecoveredOn)
	t := b.post(in, f, refs, pair(AccountCash, GrantExpenseAccount(g.Program), e.Amount)...)
	g.Recovered, g.Dirty = g.Recovered.Add(e.Amount), true
	b.activity(g, "recovered", e.RecoveryID, e.Amount, t, in)
	b.takeBiz(k, in.EventID, in.DataHash)
	return Outcome{Kind: Applied, Txns: []*Txn{t}}, nil
}
