package ledger

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/fundledger/fundledger/events"
)

// This file is the apply stage of the intake (docs/design.md): it takes a
// batch of decoded messages in stream order and decides, over a unit of
// work, what becomes of each: a silent no-op for an envelope id seen
// before, a rejection, a hold, or the posting rules of apply.go. What it
// produces (BatchOutput) is plain data for the store to write in one
// database transaction; nothing here touches a database.

// UnitOfWork is what the apply stage reads, inside the batch's database
// transaction: the books (Loader) and the intake's own records.
type UnitOfWork interface {
	Loader
	// Seen returns which of ids already have an outcome (posted, applied,
	// duplicate, rejected) or are held: one outcome per envelope id, ever.
	Seen(ctx context.Context, ids []string) (map[string]bool, error)
	// HeldKeys returns the keys (HeldKey) that held events of these funds
	// wait on.
	HeldKeys(ctx context.Context, funds []string) ([]string, error)
	// HeldOn returns the held events of a fund that wait on key.
	HeldOn(ctx context.Context, fundID, key string) ([]*HeldEvent, error)
	// Expired returns up to limit held events whose deadline is at or
	// before now, in stream order.
	Expired(ctx context.Context, now time.Time, limit int) ([]*HeldEvent, error)
	// Unsnapshotted returns the funds whose journal moved since their last
	// snapshot, as stored.
	Unsnapshotted(ctx context.Context) ([]string, error)
}

// HeldKey is the map key of the held events of a fund waiting on key.
func HeldKey(fundID, waitingOn string) string { return fundID + "\x00" + waitingOn }

// Inbound is one message of a batch with its decoding.
type Inbound struct {
	Msg     events.Message
	Decoded events.Decoded
}

// DecodeAll decodes a batch's messages; it is pure, and runs outside the
// batch's database transaction (service decodes the next batch while the
// current one commits).
func DecodeAll(msgs []events.Message) []Inbound {
	in := make([]Inbound, len(msgs))
	for i, m := range msgs {
		in[i] = Inbound{Msg: m, Decoded: events.DecodeMessage(m)}
	}
	return in
}

// HeldEvent is an event waiting for the grant or payment it names.
type HeldEvent struct {
	EventID    string
	FundID     string
	StreamSeq  uint64
	Subject    string
	Header     map[string][]string
	Raw        []byte
	WaitingOn  string
	Code       events.Code
	Why        string
	ReceivedAt time.Time
	Deadline   time.Time

	stored   bool // a row of the store, not new in this batch
	resolved bool // released or refused in this batch
	changed  bool // waits on something else now
	decoded  *events.Decoded
}

func (h *HeldEvent) message() events.Message {
	return events.Message{StreamSeq: h.StreamSeq, Subject: h.Subject, Header: h.Header, Data: h.Raw}
}

func (h *HeldEvent) decode() events.Decoded {
	if h.decoded == nil {
		d := events.DecodeMessage(h.message())
		h.decoded = &d
	}
	return *h.decoded
}

// Outcomes recorded in the inbox.
const (
	OutcomePosted    = "posted"
	OutcomeApplied   = "applied"
	OutcomeDuplicate = "duplicate"
	OutcomeRejected  = "rejected"
	OutcomeHeld      = "held"
)

// InboxRecord is the outcome of one envelope id.
type InboxRecord struct {
	EventID, FundID, Type string
	StreamSeq             uint64
	Outcome               string
	// Stored says the id has a row already (a held event's): it is updated.
	Stored bool
}

// RejectionRecord is one refused event, as stored and published.
type RejectionRecord struct {
	EventID, Type, FundID string
	Rejection             *events.Rejection
	ReceivedAt            time.Time
	Raw                   []byte
	Header                map[string][]string
	StreamSeq             uint64
}

// View is the rejection's wire shape (CONTRACT.md section 4).
func (r *RejectionRecord) View(seq int64) events.RejectionView {
	return events.NewRejectionView(seq, r.EventID, r.Type, r.FundID, r.Rejection, TimeText(r.ReceivedAt), r.Raw, r.Header)
}

// Outbound is one message for the relay to publish after the commit.
type Outbound struct {
	Subject, MsgID string
	Payload        []byte
}

// IntakeSettings are the rules a batch is applied with.
type IntakeSettings struct {
	HoldWindow    time.Duration
	SnapshotEvery int64
	Signer        Signer
	// Zone is FUNDLEDGER_TZ: the time zone of business dates taken from
	// the clock and of a month's end (CONTRACT.md section 11); nil is
	// DefaultZone.
	Zone  *time.Location
	Recon ReconSettings
}

// BatchResult counts what a batch did.
type BatchResult struct {
	Messages  int // messages handed in
	Skipped   int // at or below the stored position: applied before
	Seen      int // envelope id seen before: acknowledged, no effect
	Applied   int // events that changed the books
	Duplicate int // business-id duplicates: no effect
	Rejected  int // refused, including held events whose window passed
	Held      int // newly held
	Released  int // held events applied or refused because what they named arrived
	Expired   int // held events refused after the hold window
	Txns      int // journal transactions posted
	Lines     int // postings written
	Snapshots int
	Outbox    int // messages queued for publishing
	Rejects   map[events.Code]int
	Position  uint64 // stream position after the batch
	// Steps is where the batch's time went, step by step, as the store
	// measured it (for /metrics).
	Steps []Step
}

// Step is the time one step of a batch took.
type Step struct {
	Name string
	Took time.Duration
}

// BatchOutput is everything a batch produced, for the store to write.
type BatchOutput struct {
	Books      *Books // journal, activity, snapshots and changed entries
	Inbox      []*InboxRecord
	HeldNew    []*HeldEvent // newly held and still waiting
	HeldGone   []string     // stored held events released or refused
	HeldMoved  []*HeldEvent // stored held events that wait on something else now
	Rejections []*RejectionRecord
	// Snapshots are the signed snapshot bodies, in Books.Snapshots order.
	Snapshots [][]byte
	// Events are the new entries of the funds' event chains (events
	// applied without a journal transaction, eventchain.go), and
	// EventHeads each such fund's new head.
	Events     []*FundEvent
	EventHeads map[string]EventHead
	Outbox     []Outbound
	Result     BatchResult
}

// MaxExpiredPerBatch bounds the held events refused by one batch.
const MaxExpiredPerBatch = 1000

// intake is one batch's work in progress.
type intake struct {
	ctx   context.Context
	uow   UnitOfWork
	set   IntakeSettings
	now   time.Time
	books *Books
	out   *BatchOutput

	inboxByID map[string]*InboxRecord
	heldNew   []*HeldEvent
	heldKnown map[string]bool // keys with stored held events not loaded yet
	heldBy    map[string][]*HeldEvent
	heldDB    map[string]*HeldEvent // stored held events loaded, by event id
}

func newIntake(ctx context.Context, uow UnitOfWork, now time.Time, set IntakeSettings) *intake {
	out := &BatchOutput{Result: BatchResult{Rejects: map[events.Code]int{}}}
	return &intake{
		ctx: ctx, uow: uow, set: set, now: now, out: out,
		books:     NewBooks(ctx, uow, Settings{SnapshotEvery: set.SnapshotEvery, Signer: set.Signer, Zone: set.Zone, Recon: set.Recon}),
		inboxByID: map[string]*InboxRecord{}, heldKnown: map[string]bool{},
		heldBy: map[string][]*HeldEvent{}, heldDB: map[string]*HeldEvent{},
	}
}

// ApplyBatch applies a batch in stream order over uow. position is the
// stored stream position: messages at or below it were applied before and
// are skipped. It also refuses held events whose window has passed, and,
// when snapshotAll is set, snapshots every fund changed since its last
// snapshot (the SNAPSHOT_INTERVAL timer). The error is only for the store
// failing; every refusal is in the output.
func ApplyBatch(ctx context.Context, uow UnitOfWork, position uint64, batch []Inbound, now time.Time, set IntakeSettings, snapshotAll bool) (*BatchOutput, error) {
	in := newIntake(ctx, uow, now, set)
	in.out.Result.Messages = len(batch)
	in.out.Result.Position = position
	if err := in.run(position, batch); err != nil {
		return nil, err
	}
	if err := in.expire(); err != nil {
		return nil, err
	}
	if snapshotAll {
		if err := in.snapshotChanged(); err != nil {
			return nil, err
		}
	}
	heads, err := chainEvents(ctx, uow, in.out.Events)
	if err != nil {
		return nil, err
	}
	in.out.EventHeads = heads
	in.finish()
	return in.out, nil
}

// RefuseUnstorable refuses one message that the store will not take however
// often it is tried (a poison message), so the stream moves on. raw is what
// of the message the store surely accepts.
func RefuseUnstorable(ctx context.Context, uow UnitOfWork, m events.Message, now time.Time, raw []byte, cause error) (*BatchOutput, error) {
	in := newIntake(ctx, uow, now, IntakeSettings{})
	in.out.Result.Messages = 1
	in.out.Result.Position = m.StreamSeq
	d := events.DecodeMessage(m)
	if d.ID != "" {
		seen, err := uow.Seen(ctx, []string{d.ID})
		if err != nil {
			return nil, err
		}
		if seen[d.ID] {
			in.out.Result.Seen++
			in.finish()
			return in.out, nil
		}
	}
	rej := events.Reject(events.InvalidField, "the event passed validation but the database refused to store it: %v", cause)
	in.reject(d.ID, d.Type, d.FundID, rej, raw, nil, m.StreamSeq, now)
	in.record(d, m.StreamSeq, OutcomeRejected)
	in.finish()
	return in.out, nil
}

func (in *intake) input(d events.Decoded) Input {
	return Input{EventID: d.ID, Type: d.Type, Source: d.Envelope.Source, FundID: d.FundID,
		DataHash: d.DataHash, Event: d.Event, Time: in.now}
}

func (in *intake) run(position uint64, batch []Inbound) error {
	res := &in.out.Result
	var ids []string
	funds := map[string]bool{}
	needs := NewNeeds()
	for _, b := range batch {
		if b.Msg.StreamSeq <= position {
			continue
		}
		d := b.Decoded
		if d.ID != "" {
			ids = append(ids, d.ID)
		}
		funds[d.FundID] = true
		if d.Rejection == nil {
			AddNeeds(needs, in.input(d))
		}
	}
	seen := map[string]bool{}
	if len(ids) > 0 {
		got, err := in.uow.Seen(in.ctx, ids)
		if err != nil {
			return err
		}
		seen = got
	}
	if err := in.loadHeldKeys(funds); err != nil {
		return err
	}
	if err := in.books.Prefetch(needs); err != nil {
		return err
	}
	for _, b := range batch {
		m, d := b.Msg, b.Decoded
		if m.StreamSeq <= position {
			res.Skipped++
			continue
		}
		if m.StreamSeq > res.Position {
			res.Position = m.StreamSeq
		}
		if d.ID != "" {
			if seen[d.ID] {
				res.Seen++
				continue
			}
			seen[d.ID] = true
		}
		if d.Rejection != nil {
			typ := d.Type
			if typ == "" { // unreadable: name the type its subject claims
				typ = events.SubjectType(m.Subject)
			}
			in.reject(d.ID, typ, d.FundID, d.Rejection, m.Data, m.Header, m.StreamSeq, in.now)
			in.record(d, m.StreamSeq, OutcomeRejected)
			continue
		}
		out, err := in.books.Apply(in.input(d))
		if err != nil {
			return err
		}
		if err := in.outcome(d, m, out, nil); err != nil {
			return err
		}
	}
	return nil
}

func (in *intake) record(d events.Decoded, seq uint64, outcome string) {
	if d.ID == "" {
		return
	}
	if r := in.inboxByID[d.ID]; r != nil {
		r.Outcome = outcome
		return
	}
	r := &InboxRecord{EventID: d.ID, FundID: d.FundID, Type: d.Type, StreamSeq: seq, Outcome: outcome}
	in.out.Inbox = append(in.out.Inbox, r)
	in.inboxByID[d.ID] = r
}

// outcome records what became of an event (h is set when it was held
// before).
func (in *intake) outcome(d events.Decoded, m events.Message, out Outcome, h *HeldEvent) error {
	res := &in.out.Result
	switch out.Kind {
	case Applied:
		res.Applied++
		outcome := OutcomeApplied
		if len(out.Txns) > 0 {
			outcome = OutcomePosted
		}
		for _, t := range out.Txns {
			res.Txns++
			res.Lines += len(t.Postings)
		}
		in.record(d, m.StreamSeq, outcome)
		if len(out.Txns) == 0 {
			// Changed rules or state without posting: the fund's event
			// chain records it (numbered and hashed in chainEvents).
			in.out.Events = append(in.out.Events, &FundEvent{FundID: d.FundID, EventID: d.ID, Type: d.Type,
				Source: d.Envelope.Source, Time: in.now, Data: d.Envelope.Data})
		}
		if h != nil {
			h.resolved = true
		}
		for _, key := range out.Created {
			if err := in.release(d.FundID, key); err != nil {
				return err
			}
		}
	case Duplicate:
		res.Duplicate++
		in.record(d, m.StreamSeq, OutcomeDuplicate)
		if h != nil {
			h.resolved = true
		}
	case Rejected:
		received := in.now
		if h != nil {
			received, h.resolved = h.ReceivedAt, true
		}
		in.reject(d.ID, d.Type, d.FundID, out.Rejection, m.Data, m.Header, m.StreamSeq, received)
		in.record(d, m.StreamSeq, OutcomeRejected)
	case Held:
		if h != nil {
			if h.WaitingOn != out.WaitingOn {
				h.WaitingOn, h.Code, h.Why, h.changed = out.WaitingOn, out.HoldCode, out.HoldWhy, true
				in.index(h)
			}
			return nil
		}
		res.Held++
		h := &HeldEvent{EventID: d.ID, FundID: d.FundID, StreamSeq: m.StreamSeq, Subject: m.Subject, Header: m.Header, Raw: m.Data,
			WaitingOn: out.WaitingOn, Code: out.HoldCode, Why: out.HoldWhy, ReceivedAt: in.now,
			Deadline: in.now.Add(in.set.HoldWindow), decoded: &d}
		in.heldNew = append(in.heldNew, h)
		in.record(d, m.StreamSeq, OutcomeHeld)
		if in.set.HoldWindow <= 0 {
			// No hold: refused at once, so that what it waits for arriving
			// later in the same batch does not release it (one event a
			// batch would have refused it).
			in.expireOne(h)
			return nil
		}
		in.index(h)
	}
	return nil
}

func (in *intake) index(h *HeldEvent) {
	k := HeldKey(h.FundID, h.WaitingOn)
	in.heldBy[k] = append(in.heldBy[k], h)
}

func (in *intake) loadHeldKeys(funds map[string]bool) error {
	ids := make([]string, 0, len(funds))
	for f := range funds {
		ids = append(ids, f)
	}
	sort.Strings(ids)
	keys, err := in.uow.HeldKeys(in.ctx, ids)
	if err != nil {
		return err
	}
	for _, k := range keys {
		in.heldKnown[k] = true
	}
	return nil
}

// release applies, in stream order, the held events of a fund that wait on
// key, now that it exists. Applying one may release more.
func (in *intake) release(fundID, key string) error {
	k := HeldKey(fundID, key)
	if in.heldKnown[k] {
		delete(in.heldKnown, k)
		items, err := in.uow.HeldOn(in.ctx, fundID, key)
		if err != nil {
			return err
		}
		for _, h := range items {
			h.stored = true
			in.heldDB[h.EventID] = h
			in.index(h)
		}
	}
	waiting := in.heldBy[k]
	delete(in.heldBy, k)
	sort.Slice(waiting, func(i, j int) bool { return waiting[i].StreamSeq < waiting[j].StreamSeq })
	for _, h := range waiting {
		if h.resolved || h.WaitingOn != key {
			continue
		}
		d := h.decode()
		if d.Event == nil { // it decoded once; a failure now is a bug, not a refusal
			return fmt.Errorf("held event %s no longer decodes: %v", h.EventID, d.Rejection)
		}
		out, err := in.books.Apply(in.input(d))
		if err != nil {
			return err
		}
		if out.Kind != Held {
			in.out.Result.Released++
		}
		if h.stored {
			in.storedInbox(h, d)
		}
		if err := in.outcome(d, h.message(), out, h); err != nil {
			return err
		}
	}
	return nil
}

// storedInbox makes the held event's stored inbox row the one its outcome
// is recorded on.
func (in *intake) storedInbox(h *HeldEvent, d events.Decoded) {
	if in.inboxByID[h.EventID] == nil {
		r := &InboxRecord{EventID: h.EventID, FundID: h.FundID, Type: d.Type, StreamSeq: h.StreamSeq, Outcome: OutcomeHeld, Stored: true}
		in.out.Inbox = append(in.out.Inbox, r)
		in.inboxByID[h.EventID] = r
	}
}

// expire refuses the held events whose window has passed.
func (in *intake) expire() error {
	for _, h := range in.heldNew { // a zero window refuses at once
		if !h.resolved && !h.Deadline.After(in.now) {
			in.expireOne(h)
		}
	}
	items, err := in.uow.Expired(in.ctx, in.now, MaxExpiredPerBatch)
	if err != nil {
		return err
	}
	for _, h := range items {
		if in.heldDB[h.EventID] != nil {
			continue // loaded and dealt with by a release in this batch
		}
		h.stored = true
		in.heldDB[h.EventID] = h
		in.storedInbox(h, h.decode())
		in.expireOne(h)
	}
	return nil
}

func (in *intake) expireOne(h *HeldEvent) {
	d := h.decode()
	what := "grant"
	if h.Code == events.UnknownPayment {
		what = "payment"
	}
	why := h.Why
	if why == "" {
		why = fmt.Sprintf("the %s it names (%s) did not arrive", what, h.WaitingOn)
	}
	rej := events.Reject(h.Code, "%s; still unknown after the hold window of %s", why, in.set.HoldWindow)
	in.reject(h.EventID, d.Type, h.FundID, rej, h.Raw, h.Header, h.StreamSeq, h.ReceivedAt)
	in.record(d, h.StreamSeq, OutcomeRejected)
	h.resolved = true
	in.out.Result.Expired++
}

func (in *intake) reject(eventID, typ, fundID string, rej *events.Rejection, raw []byte, header map[string][]string, seq uint64, received time.Time) {
	if fundID == "" {
		fundID = events.UnknownFundID
	}
	res := &in.out.Result
	res.Rejected++
	res.Rejects[rej.Code]++
	r := &RejectionRecord{EventID: eventID, Type: typ, FundID: fundID, Rejection: rej, ReceivedAt: received,
		Raw: raw, Header: events.BinaryHeaders(header), StreamSeq: seq}
	in.out.Rejections = append(in.out.Rejections, r)
	in.out.Outbox = append(in.out.Outbox, Outbound{Subject: events.RejectedSubject(fundID),
		MsgID: events.RejectedMsgID(eventID, seq), Payload: events.EncodeRejection(r.View(0))})
}

// snapshotChanged snapshots every fund whose journal moved since its last
// snapshot: those the store says so of, and those this batch moved, which
// the store does not show yet.
func (in *intake) snapshotChanged() error {
	ids, err := in.uow.Unsnapshotted(in.ctx)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, f := range in.books.Changes().Funds {
		if !seen[f.ID] {
			seen[f.ID] = true
			ids = append(ids, f.ID)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		f, err := in.books.Fund(id)
		if err != nil {
			return err
		}
		if f != nil && f.HeadSeq > f.SnapshotJournalSeq {
			in.books.Snapshots = append(in.books.Snapshots, TakeSnapshot(f, "", in.set.Signer))
		}
	}
	return nil
}

// finish settles the held events and the snapshots' messages.
func (in *intake) finish() {
	out := in.out
	out.Books = in.books
	for _, h := range in.heldNew {
		if !h.resolved {
			out.HeldNew = append(out.HeldNew, h)
		}
	}
	ids := make([]string, 0, len(in.heldDB))
	for id := range in.heldDB {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		switch h := in.heldDB[id]; {
		case h.resolved:
			out.HeldGone = append(out.HeldGone, id)
		case h.changed:
			out.HeldMoved = append(out.HeldMoved, h)
		}
	}
	for _, s := range in.books.Snapshots {
		body := s.JSON()
		out.Snapshots = append(out.Snapshots, body)
		out.Outbox = append(out.Outbox, Outbound{Subject: events.SnapshotSubject(s.FundID),
			MsgID: events.SnapshotMsgID(s.FundID, s.SnapshotSeq), Payload: body})
		out.Result.Snapshots++
	}
	rc := in.books.ReconChanges()
	for i, r := range rc.Reports {
		out.Outbox = append(out.Outbox, Outbound{Subject: events.ReconciliationSubject(r.FundID),
			MsgID: events.ReconciliationMsgID(r.FundID, r.ReconciliationSeq), Payload: rc.Bodies[i]})
	}
	in.finishPeriods()
	out.Result.Outbox = len(out.Outbox)
}
