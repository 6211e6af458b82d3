package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/merkle"
	"github.com/shopspring/decimal"
)

// memStore is the store's tables in memory, as the apply stage reads them
// through ledger.UnitOfWork, so the intake's rules (ledger.ApplyBatch) run
// in tests without a database. write applies a BatchOutput back the way
// ledger/postgres/write.go does (balances and cap usage by delta, held rows
// inserted, deleted and moved, inbox rows inserted or updated), and refuses
// what the database's keys and CHECKs refuse, so a wrong output fails the
// test that produced it. Everything it hands out is a copy: the apply stage
// changes what it loaded, and only write may change the store.
type memStore struct {
	position   uint64
	funds      map[string]*msFund
	balances   map[msAccount]*msBalance
	grants     map[ledger.GrantKey]ledger.Grant
	payments   map[ledger.PaymentKey]ledger.Payment
	biz        map[ledger.BizKey]ledger.BizID
	caps       map[ledger.CapKey]decimal.Decimal
	inbox      map[string]*msInbox
	held       map[string]*msHeld
	journal    []*ledger.Txn // in write order
	activity   []*ledger.Activity
	rejections []*msRejection // seq is index+1
	snapshots  map[string][]msSnapshot
	periods    msPeriods // period_memstore_test.go
	recon      msRecon   // recon_memstore_test.go
	events     msEvents  // eventchain_test.go
	outbox     []ledger.Outbound
}

type msFund struct {
	id, name, currency, openedEventID string
	openedAt                          time.Time
	headSeq                           int64
	headHash                          []byte
	headTime                          time.Time // zero: none (NULL)
	openGrants                        int64
	snapshotSeq, snapshotJournalSeq   int64
	programs                          map[string]*decimal.Decimal
	tree                              []byte // merkle_frontier
	lastSnapshotHash                  []byte
}

type msAccount struct{ fund, account string }

type msBalance struct{ debits, credits decimal.Decimal }

type msInbox struct {
	fundID, typ string
	streamSeq   uint64
	outcome     string
	processedAt time.Time
}

// msHeld is a row of held: only its columns, so what the apply stage kept
// beside them (HeldEvent.Why) is lost as it is in the database.
type msHeld struct {
	eventID, fundID, subject string
	streamSeq                uint64
	header                   []byte // JSON, nil for a structured event
	raw                      []byte
	waitingOn                string
	code                     events.Code
	receivedAt, deadline     time.Time
}

type msRejection struct {
	rec *ledger.RejectionRecord
	raw string // as stored: text or base64
	b64 bool
}

type msSnapshot struct {
	seq, asOf int64
	label     string
	body      []byte
}

func newMemStore() *memStore {
	return &memStore{
		funds:     map[string]*msFund{},
		balances:  map[msAccount]*msBalance{},
		grants:    map[ledger.GrantKey]ledger.Grant{},
		payments:  map[ledger.PaymentKey]ledger.Payment{},
		biz:       map[ledger.BizKey]ledger.BizID{},
		caps:      map[ledger.CapKey]decimal.Decimal{},
		inbox:     map[string]*msInbox{},
		held:      map[string]*msHeld{},
		snapshots: map[string][]msSnapshot{},
	}
}

var _ ledger.UnitOfWork = (*memStore)(nil)

// Loader.

func (s *memStore) Funds(_ context.Context, ids []string) ([]*ledger.Fund, error) {
	var out []*ledger.Fund
	for _, id := range ids {
		r := s.funds[id]
		if r == nil {
			continue
		}
		f := &ledger.Fund{ID: r.id, Name: r.name, Currency: r.currency, OpenedEventID: r.openedEventID, OpenedAt: r.openedAt,
			HeadSeq: r.headSeq, HeadHash: bytes.Clone(r.headHash), HeadTime: r.headTime, OpenGrants: r.openGrants,
			SnapshotSeq: r.snapshotSeq, SnapshotJournalSeq: r.snapshotJournalSeq,
			Programs: map[string]*ledger.Program{}, Balances: map[string]*ledger.Balance{},
			LastSnapshotHash: bytes.Clone(r.lastSnapshotHash)}
		tree, err := merkle.FrontierFromBytes(uint64(r.headSeq), r.tree)
		if err != nil {
			return nil, err
		}
		f.Tree = tree
		if r.headTime.IsZero() { // coalesce(head_time, opened_at)
			f.HeadTime = r.openedAt
		}
		f.Close = s.periods.state[id]
		for code, c := range r.programs {
			p := &ledger.Program{Code: code}
			if c != nil {
				v := *c
				p.Cap = &v
			}
			f.Programs[code] = p
		}
		for k, b := range s.balances {
			if k.fund == id {
				f.Balances[k.account] = ledger.NewBalance(b.debits, b.credits)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

func (s *memStore) Grants(_ context.Context, keys []ledger.GrantKey) ([]*ledger.Grant, error) {
	var out []*ledger.Grant
	for _, k := range keys {
		if g, ok := s.grants[k]; ok {
			out = append(out, &g)
		}
	}
	return out, nil
}

func (s *memStore) Payments(_ context.Context, keys []ledger.PaymentKey) ([]*ledger.Payment, error) {
	var out []*ledger.Payment
	for _, k := range keys {
		if p, ok := s.payments[k]; ok {
			out = append(out, &p)
		}
	}
	return out, nil
}

func (s *memStore) BizIDs(_ context.Context, keys []ledger.BizKey) ([]*ledger.BizID, error) {
	var out []*ledger.BizID
	for _, k := range keys {
		if x, ok := s.biz[k]; ok {
			out = append(out, &x)
		}
	}
	return out, nil
}

func (s *memStore) CapUsage(_ context.Context, keys []ledger.CapKey) ([]*ledger.CapUsage, error) {
	var out []*ledger.CapUsage
	for _, k := range keys {
		if used, ok := s.caps[k]; ok {
			out = append(out, ledger.NewCapUsage(k, used))
		}
	}
	return out, nil
}

// The intake's own records.

func (s *memStore) Seen(_ context.Context, ids []string) (map[string]bool, error) {
	seen := map[string]bool{}
	for _, id := range ids {
		if s.inbox[id] != nil {
			seen[id] = true
		}
	}
	return seen, nil
}

func (s *memStore) HeldKeys(_ context.Context, funds []string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range funds {
		want[f] = true
	}
	keys := map[string]bool{}
	for _, h := range s.held {
		if want[h.fundID] {
			keys[ledger.HeldKey(h.fundID, h.waitingOn)] = true
		}
	}
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	return out, nil
}

func (s *memStore) HeldOn(_ context.Context, fundID, key string) ([]*ledger.HeldEvent, error) {
	var out []*ledger.HeldEvent
	for _, h := range s.held { // no order, as the SQL has none
		if h.fundID == fundID && h.waitingOn == key {
			e, err := h.event()
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *memStore) Expired(_ context.Context, now time.Time, limit int) ([]*ledger.HeldEvent, error) {
	var rows []*msHeld
	for _, h := range s.held {
		if !h.deadline.After(now) {
			rows = append(rows, h)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].streamSeq < rows[j].streamSeq })
	if len(rows) > limit {
		rows = rows[:limit]
	}
	out := make([]*ledger.HeldEvent, len(rows))
	for i, h := range rows {
		e, err := h.event()
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func (s *memStore) Unsnapshotted(context.Context) ([]string, error) {
	var out []string
	for id, f := range s.funds {
		if f.headSeq > f.snapshotJournalSeq {
			out = append(out, id)
		}
	}
	return out, nil
}

func (h *msHeld) event() (*ledger.HeldEvent, error) {
	e := &ledger.HeldEvent{EventID: h.eventID, FundID: h.fundID, StreamSeq: h.streamSeq, Subject: h.subject,
		Raw: bytes.Clone(h.raw), WaitingOn: h.waitingOn, Code: h.code, ReceivedAt: h.receivedAt, Deadline: h.deadline}
	if h.header != nil {
		if err := json.Unmarshal(h.header, &e.Header); err != nil {
			return nil, fmt.Errorf("held event %s headers: %w", h.eventID, err)
		}
	}
	return e, nil
}

// apply runs one batch through the apply stage over the store, writes its
// output and moves the position, as postgres.Store.ApplyBatch does in one
// transaction. now is taken as the store takes it (UTC, microseconds).
func (s *memStore) apply(batch []ledger.Inbound, now time.Time, set ledger.IntakeSettings, snapshotAll bool) (*ledger.BatchOutput, error) {
	now = now.UTC().Truncate(time.Microsecond)
	out, err := ledger.ApplyBatch(context.Background(), s, s.position, batch, now, set, snapshotAll)
	if err != nil {
		return nil, err
	}
	if err := s.write(out, now); err != nil {
		return nil, err
	}
	s.position = max(s.position, out.Result.Position)
	return out, nil
}

// write stores a batch's output, step by step as write.go does.
func (s *memStore) write(out *ledger.BatchOutput, now time.Time) error {
	ch := out.Books.Changes()
	for _, step := range []func() error{
		func() error { return s.writeFunds(ch) },
		func() error { return s.writeJournal(out.Books.Txns) },
		func() error { return s.writeBalances(ch) },
		func() error { return s.writeGrants(ch) },
		func() error { return s.writePayments(ch) },
		func() error { s.activity = append(s.activity, out.Books.Activity...); return nil },
		func() error { return s.writeBiz(ch) },
		func() error { return s.writeCaps(ch) },
		func() error { return s.writeInbox(out.Inbox, now) },
		func() error { return s.writeHeld(out) },
		func() error { return s.writeRejections(out.Rejections) },
		func() error { return s.writeSnapshots(out) },
		func() error { return s.writePeriods(out) },
		func() error { return s.writeRecon(out) },
		func() error { return s.writeEvents(out) },
		func() error { s.outbox = append(s.outbox, out.Outbox...); return nil },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) writeFunds(ch ledger.Changes) error {
	for _, f := range ch.Funds {
		var headTime time.Time
		if f.HeadSeq > 0 {
			headTime = f.HeadTime
		}
		r := s.funds[f.ID]
		switch {
		case f.New && r != nil:
			return fmt.Errorf("funds: fund %s inserted twice", f.ID)
		case f.New:
			r = &msFund{id: f.ID, name: f.Name, currency: f.Currency, openedEventID: f.OpenedEventID, openedAt: f.OpenedAt,
				programs: map[string]*decimal.Decimal{}}
			s.funds[f.ID] = r
		case r == nil:
			return fmt.Errorf("funds: update of fund %s, which is not stored", f.ID)
		}
		// The UPDATE leaves name and currency as they are.
		r.headSeq, r.headHash, r.headTime = f.HeadSeq, bytes.Clone(f.HeadHash), headTime
		r.openGrants, r.snapshotSeq, r.snapshotJournalSeq = f.OpenGrants, f.SnapshotSeq, f.SnapshotJournalSeq
		r.tree, r.lastSnapshotHash = f.Tree.Bytes(), bytes.Clone(f.LastSnapshotHash)
		if r.openGrants < 0 {
			return fmt.Errorf("funds: %s open_grants %d < 0", f.ID, r.openGrants)
		}
		for _, p := range f.Programs {
			if !p.Dirty {
				continue
			}
			if p.Cap != nil && !p.Cap.IsPositive() {
				return fmt.Errorf("programs: %s/%s cap %s is not > 0", f.ID, p.Code, p.Cap)
			}
			var c *decimal.Decimal
			if p.Cap != nil {
				v := *p.Cap
				c = &v
			}
			r.programs[p.Code] = c
		}
	}
	return nil
}

// writeJournal refuses what the journal's key and the postings' statement
// trigger (migrations/003_batch_checks.sql) refuse: a seq taken, fewer than
// two postings, an amount not above zero, debits unlike credits.
func (s *memStore) writeJournal(txns []*ledger.Txn) error {
	type key struct {
		fund string
		seq  int64
	}
	taken := map[key]bool{}
	for _, t := range s.journal {
		taken[key{t.FundID, t.Seq}] = true
	}
	for _, t := range txns {
		k := key{t.FundID, t.Seq}
		if taken[k] || t.Seq <= 0 {
			return fmt.Errorf("journal: %s/%d taken or not positive", t.FundID, t.Seq)
		}
		taken[k] = true
		if len(t.Postings) < 2 {
			return fmt.Errorf("postings: %s/%d has %d postings", t.FundID, t.Seq, len(t.Postings))
		}
		var dr, cr decimal.Decimal
		for _, p := range t.Postings {
			if !p.Amount.IsPositive() {
				return fmt.Errorf("postings: %s/%d amount %s", t.FundID, t.Seq, p.Amount)
			}
			if p.Side == ledger.Debit {
				dr = dr.Add(p.Amount)
			} else {
				cr = cr.Add(p.Amount)
			}
		}
		if !dr.Equal(cr) {
			return fmt.Errorf("postings: %s/%d debits %s credits %s", t.FundID, t.Seq, dr, cr)
		}
		s.journal = append(s.journal, t)
	}
	return nil
}

func (s *memStore) writeBalances(ch ledger.Changes) error {
	for _, f := range ch.Funds {
		for name, b := range f.Balances {
			dr, cr := b.Delta()
			if dr.IsZero() && cr.IsZero() {
				continue
			}
			k := msAccount{f.ID, name}
			r := s.balances[k]
			if r == nil {
				r = &msBalance{}
				s.balances[k] = r
			}
			r.debits, r.credits = r.debits.Add(dr), r.credits.Add(cr)
			if r.debits.IsNegative() || r.credits.IsNegative() {
				return fmt.Errorf("balances: %s %s debits %s credits %s", f.ID, name, r.debits, r.credits)
			}
		}
	}
	return nil
}

func (s *memStore) writeGrants(ch ledger.Changes) error {
	for _, g := range ch.Grants {
		row, ok := s.grants[g.GrantKey]
		switch {
		case g.New && ok:
			return fmt.Errorf("grants: %v inserted twice", g.GrantKey)
		case g.New:
			row = *g
			row.New, row.Dirty = false, false
		case !ok:
			return fmt.Errorf("grants: update of %v, which is not stored", g.GrantKey)
		default:
			row.Paid, row.Returned, row.Cancelled, row.Recovered = g.Paid, g.Returned, g.Cancelled, g.Recovered
			row.Closed, row.ActivityN = g.Closed, g.ActivityN
		}
		if row.Approved.Sub(row.Cancelled).Sub(row.Paid).Add(row.Returned).IsNegative() ||
			row.Returned.IsNegative() || row.Paid.Sub(row.Returned).IsNegative() || row.Recovered.IsNegative() {
			return fmt.Errorf("grants: %v breaks a CHECK: %+v", g.GrantKey, row)
		}
		s.grants[g.GrantKey] = row
	}
	return nil
}

func (s *memStore) writePayments(ch ledger.Changes) error {
	for _, p := range ch.Payments {
		row, ok := s.payments[p.PaymentKey]
		switch {
		case p.New && ok:
			return fmt.Errorf("payments: %v inserted twice", p.PaymentKey)
		case p.New:
			row = *p
			row.New, row.Dirty = false, false
		case !ok:
			return fmt.Errorf("payments: update of %v, which is not stored", p.PaymentKey)
		default:
			row.Returned = p.Returned
		}
		if !row.Amount.IsPositive() || row.Returned.IsNegative() || row.Returned.GreaterThan(row.Amount) {
			return fmt.Errorf("payments: %v breaks a CHECK: %+v", p.PaymentKey, row)
		}
		s.payments[p.PaymentKey] = row
	}
	return nil
}

func (s *memStore) writeBiz(ch ledger.Changes) error {
	for _, x := range ch.Biz {
		if _, ok := s.biz[x.BizKey]; ok {
			return fmt.Errorf("business_ids: %v inserted twice", x.BizKey)
		}
		row := *x
		row.New = false
		s.biz[x.BizKey] = row
	}
	return nil
}

func (s *memStore) writeCaps(ch ledger.Changes) error {
	for _, c := range ch.Caps {
		d := c.Delta()
		if d.IsZero() {
			continue
		}
		used := s.caps[c.CapKey].Add(d)
		if used.IsNegative() {
			return fmt.Errorf("cap_usage: %+v used %s < 0", c.CapKey, used)
		}
		s.caps[c.CapKey] = used
	}
	return nil
}

func (s *memStore) writeInbox(recs []*ledger.InboxRecord, now time.Time) error {
	for _, r := range recs {
		row := s.inbox[r.EventID]
		switch {
		case r.Stored && row == nil:
			// The UPDATE would change nothing: an outcome would be lost.
			return fmt.Errorf("inbox: update of %s, which is not stored", r.EventID)
		case r.Stored:
			row.outcome, row.processedAt = r.Outcome, now
		case row != nil:
			return fmt.Errorf("inbox: %s inserted twice (stored %s, now %s)", r.EventID, row.outcome, r.Outcome)
		default:
			s.inbox[r.EventID] = &msInbox{fundID: r.FundID, typ: r.Type, streamSeq: r.StreamSeq, outcome: r.Outcome, processedAt: now}
		}
	}
	return nil
}

func (s *memStore) writeHeld(out *ledger.BatchOutput) error {
	for _, h := range out.HeldNew {
		if s.held[h.EventID] != nil {
			return fmt.Errorf("held: %s inserted twice", h.EventID)
		}
		row := &msHeld{eventID: h.EventID, fundID: h.FundID, subject: h.Subject, streamSeq: h.StreamSeq, raw: bytes.Clone(h.Raw),
			waitingOn: h.WaitingOn, code: h.Code, receivedAt: h.ReceivedAt, deadline: h.Deadline}
		if h.Header != nil {
			b, err := json.Marshal(h.Header)
			if err != nil {
				return err
			}
			row.header = b
		}
		s.held[h.EventID] = row
	}
	for _, id := range out.HeldGone {
		delete(s.held, id)
	}
	for _, h := range out.HeldMoved {
		if row := s.held[h.EventID]; row != nil {
			row.waitingOn, row.code = h.WaitingOn, h.Code
		}
	}
	return nil
}

func (s *memStore) writeRejections(recs []*ledger.RejectionRecord) error {
	for _, r := range recs {
		raw, enc := events.RawText(r.Raw)
		s.rejections = append(s.rejections, &msRejection{rec: r, raw: raw, b64: enc == "base64"})
	}
	return nil
}

func (s *memStore) writeSnapshots(out *ledger.BatchOutput) error {
	if len(out.Snapshots) != len(out.Books.Snapshots) {
		return fmt.Errorf("snapshots: %d bodies for %d snapshots", len(out.Snapshots), len(out.Books.Snapshots))
	}
	for i, snap := range out.Books.Snapshots {
		if s.funds[snap.FundID] == nil {
			return fmt.Errorf("snapshots: fund %s is not stored", snap.FundID)
		}
		for _, old := range s.snapshots[snap.FundID] {
			if old.seq == snap.SnapshotSeq {
				return fmt.Errorf("snapshots: %s/%d inserted twice", snap.FundID, snap.SnapshotSeq)
			}
		}
		s.snapshots[snap.FundID] = append(s.snapshots[snap.FundID],
			msSnapshot{seq: snap.SnapshotSeq, asOf: snap.AsOfJournalSeq, label: snap.Label, body: out.Snapshots[i]})
	}
	return nil
}

// Reads for the tests.

// balance is an account's balance on its normal side, as the read API
// reports it ("0.00" when never used).
func (s *memStore) balance(fund, account string) string {
	b := s.balances[msAccount{fund, account}]
	if b == nil {
		return "0.00"
	}
	return ledger.Money(ledger.NewBalance(b.debits, b.credits).On(account))
}

// outcome is the inbox outcome of an envelope id, or "none".
func (s *memStore) outcome(eventID string) string {
	if r := s.inbox[eventID]; r != nil {
		return r.outcome
	}
	return "none"
}

// rejectionOf is the stored rejection of an envelope id, or nil.
func (s *memStore) rejectionOf(eventID string) *ledger.RejectionRecord {
	for _, r := range s.rejections {
		if r.rec.EventID == eventID {
			return r.rec
		}
	}
	return nil
}

// rejectionsOf counts the stored rejections of an envelope id.
func (s *memStore) rejectionsOf(eventID string) int {
	n := 0
	for _, r := range s.rejections {
		if r.rec.EventID == eventID {
			n++
		}
	}
	return n
}

// txns is a fund's journal in seq order.
func (s *memStore) txns(fund string) []*ledger.Txn {
	var out []*ledger.Txn
	for _, t := range s.journal {
		if t.FundID == fund {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}
