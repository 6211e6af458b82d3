package postgres

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger"
	"github.com/jackc/pgx/v5"
)

// ErrFenced means another instance took over the consumer: this one must
// stop writing. The batch was not applied.
var ErrFenced = errors.New("postgres: another instance holds the consumer")

// BatchSettings are the rules a batch is applied with.
type BatchSettings struct {
	HoldWindow    time.Duration
	SnapshotEvery int64
	Signer        ledger.Signer
	// Failpoint, when set, is called at named points; an error it returns
	// aborts the batch there, as a crash would. Tests only.
	Failpoint func(point string) error
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
}

type heldItem struct {
	eventID    string
	fundID     string
	streamSeq  uint64
	subject    string
	raw        []byte
	waitingOn  string
	code       events.Code
	why        string
	receivedAt time.Time
	deadline   time.Time
	fromDB     bool
	resolved   bool
	changed    bool
}

type inboxRow struct {
	eventID, fundID, typ string
	streamSeq            uint64
	outcome              string
	fromDB               bool // an existing 'held' row to update
}

type rejectionRow struct {
	eventID, typ, fundID string
	rej                  *events.Rejection
	receivedAt           time.Time
	raw                  []byte
	streamSeq            uint64
}

type outboxRow struct {
	subject, msgID string
	payload        []byte
}

// unit is one batch's work in progress.
type unit struct {
	ctx   context.Context
	tx    pgx.Tx
	set   BatchSettings
	now   time.Time
	books *ledger.Books
	res   *BatchResult

	inbox      []*inboxRow
	inboxByID  map[string]*inboxRow
	rejections []rejectionRow
	outbox     []outboxRow
	heldNew    []*heldItem
	heldKnown  map[string]bool // fund_id + "\x00" + waiting_on present in the held table
	heldBy     map[string][]*heldItem
	heldDB     []*heldItem // loaded from the table this batch
}

func heldKey(fundID, waitingOn string) string { return fundID + "\x00" + waitingOn }

// ApplyBatch applies msgs, in order, in one database transaction: the
// books, the inbox, the held events, the rejections, the outbox and the
// consumer's stream position commit together or not at all. Messages at
// or below the stored position were applied before and are skipped. It
// also refuses held events whose window has passed, and when snapshotAll
// is set it snapshots every fund changed since its last snapshot.
//
// epoch fences the writer: if another instance has taken the consumer
// since, nothing is written and ErrFenced is returned.
func (s *Store) ApplyBatch(ctx context.Context, consumer string, epoch int64, msgs []events.Message, now time.Time, set BatchSettings, snapshotAll bool) (BatchResult, error) {
	res := BatchResult{Messages: len(msgs), Rejects: map[events.Code]int{}}
	now = now.UTC().Truncate(time.Microsecond)
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		res = BatchResult{Messages: len(msgs), Rejects: map[events.Code]int{}}
		var dbEpoch int64
		var pos int64
		err := tx.QueryRow(ctx, `SELECT epoch, stream_seq FROM consumer_state WHERE name = $1 FOR UPDATE`, consumer).Scan(&dbEpoch, &pos)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && dbEpoch != epoch) {
			return ErrFenced
		}
		if err != nil {
			return fmt.Errorf("read consumer position: %w", err)
		}
		res.Position = uint64(pos)
		// Every statement of a batch finds rows by key; the planner, which
		// cannot size unnest() inputs or young tables, would otherwise pick
		// hash or merge joins that scan whole tables.
		if _, err := tx.Exec(ctx, `SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off`); err != nil {
			return fmt.Errorf("batch settings: %w", err)
		}
		u := &unit{
			ctx: ctx, tx: tx, set: set, now: now, res: &res,
			books:     ledger.NewBooks(ctx, loader{tx}, ledger.Settings{SnapshotEvery: set.SnapshotEvery, Signer: set.Signer}),
			inboxByID: map[string]*inboxRow{}, heldKnown: map[string]bool{}, heldBy: map[string][]*heldItem{},
		}
		if err := u.run(msgs); err != nil {
			return err
		}
		if snapshotAll {
			if err := u.snapshotChanged(); err != nil {
				return err
			}
		}
		if err := u.write(); err != nil {
			return err
		}
		if set.Failpoint != nil {
			if err := set.Failpoint("before-commit"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE consumer_state SET stream_seq = $2, updated_at = $3 WHERE name = $1`,
			consumer, int64(res.Position), now); err != nil {
			return fmt.Errorf("store consumer position: %w", err)
		}
		return nil
	})
	return res, err
}

func (u *unit) run(msgs []events.Message) error {
	start := u.res.Position
	decoded := make([]events.Decoded, len(msgs))
	var ids []string
	funds := map[string]bool{}
	needs := ledger.NewNeeds()
	for i, m := range msgs {
		if m.StreamSeq <= start {
			continue
		}
		d := events.Decode(m.Subject, m.Data)
		decoded[i] = d
		if d.ID != "" {
			ids = append(ids, d.ID)
		}
		funds[d.FundID] = true
		if d.Rejection == nil {
			ledger.AddNeeds(needs, u.input(d))
		}
	}
	seen := map[string]bool{}
	if len(ids) > 0 {
		rows, err := u.tx.Query(u.ctx, `SELECT event_id FROM inbox WHERE event_id = ANY($1)`, ids)
		if err != nil {
			return fmt.Errorf("read inbox: %w", err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("read inbox: %w", err)
		}
		for _, id := range got {
			seen[id] = true
		}
	}
	if err := u.loadHeldKeys(funds); err != nil {
		return err
	}
	if err := u.books.Prefetch(needs); err != nil {
		return err
	}
	for i, m := range msgs {
		if m.StreamSeq <= start {
			u.res.Skipped++
			continue
		}
		if m.StreamSeq > u.res.Position {
			u.res.Position = m.StreamSeq
		}
		d := decoded[i]
		if d.ID != "" {
			if seen[d.ID] {
				u.res.Seen++
				continue
			}
			seen[d.ID] = true
		}
		if d.Rejection != nil {
			typ := d.Type
			if typ == "" { // unreadable: name the type its subject claims
				typ = subjectType(m.Subject)
			}
			u.reject(d.ID, typ, d.FundID, d.Rejection, m.Data, m.StreamSeq, u.now)
			u.record(d, m.StreamSeq, "rejected")
			continue
		}
		out, err := u.books.Apply(u.input(d))
		if err != nil {
			return err
		}
		if err := u.outcome(d, m, out, nil); err != nil {
			return err
		}
	}
	return u.expire()
}

func (u *unit) input(d events.Decoded) ledger.Input {
	return ledger.Input{EventID: d.ID, Type: d.Type, Source: d.Envelope.Source, FundID: d.FundID,
		DataHash: d.DataHash, Event: d.Event, Time: u.now}
}

func (u *unit) record(d events.Decoded, seq uint64, outcome string) {
	if d.ID == "" {
		return
	}
	if r := u.inboxByID[d.ID]; r != nil {
		r.outcome = outcome
		return
	}
	r := &inboxRow{eventID: d.ID, fundID: d.FundID, typ: d.Type, streamSeq: seq, outcome: outcome}
	u.inbox = append(u.inbox, r)
	u.inboxByID[d.ID] = r
}

// outcome records what became of an event (h is set when it was held
// before).
func (u *unit) outcome(d events.Decoded, m events.Message, out ledger.Outcome, h *heldItem) error {
	switch out.Kind {
	case ledger.Applied:
		u.res.Applied++
		outcome := "applied"
		if len(out.Txns) > 0 {
			outcome = "posted"
		}
		for _, t := range out.Txns {
			if err := u.posted(t); err != nil {
				return err
			}
		}
		u.record(d, m.StreamSeq, outcome)
		if h != nil {
			h.resolved = true
		}
		for _, key := range out.Created {
			if err := u.release(d.FundID, key); err != nil {
				return err
			}
		}
	case ledger.Duplicate:
		u.res.Duplicate++
		u.record(d, m.StreamSeq, "duplicate")
		if h != nil {
			h.resolved = true
		}
	case ledger.Rejected:
		received := u.now
		if h != nil {
			received, h.resolved = h.receivedAt, true
		}
		u.reject(d.ID, d.Type, d.FundID, out.Rejection, m.Data, m.StreamSeq, received)
		u.record(d, m.StreamSeq, "rejected")
	case ledger.Held:
		if h != nil {
			if h.waitingOn != out.WaitingOn {
				h.waitingOn, h.code, h.why, h.changed = out.WaitingOn, out.HoldCode, out.HoldWhy, true
				u.index(h)
			}
			return nil
		}
		u.res.Held++
		h := &heldItem{eventID: d.ID, fundID: d.FundID, streamSeq: m.StreamSeq, subject: m.Subject, raw: m.Data,
			waitingOn: out.WaitingOn, code: out.HoldCode, why: out.HoldWhy, receivedAt: u.now, deadline: u.now.Add(u.set.HoldWindow)}
		u.heldNew = append(u.heldNew, h)
		u.index(h)
		u.record(d, m.StreamSeq, "held")
	}
	return nil
}

func (u *unit) index(h *heldItem) {
	k := heldKey(h.fundID, h.waitingOn)
	u.heldBy[k] = append(u.heldBy[k], h)
}

func (u *unit) loadHeldKeys(funds map[string]bool) error {
	ids := make([]string, 0, len(funds))
	for f := range funds {
		ids = append(ids, f)
	}
	rows, err := u.tx.Query(u.ctx, `SELECT DISTINCT fund_id, waiting_on FROM held WHERE fund_id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("read held keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f, w string
		if err := rows.Scan(&f, &w); err != nil {
			return err
		}
		u.heldKnown[heldKey(f, w)] = true
	}
	return rows.Err()
}

// release applies, in stream order, the held events of fund that wait on
// key, now that it exists. Applying one may release more.
func (u *unit) release(fundID, key string) error {
	k := heldKey(fundID, key)
	if u.heldKnown[k] {
		delete(u.heldKnown, k)
		rows, err := u.tx.Query(u.ctx, `
			SELECT event_id, stream_seq, subject, raw, waiting_on, code, received_at, deadline
			  FROM held WHERE fund_id = $1 AND waiting_on = $2`, fundID, key)
		if err != nil {
			return fmt.Errorf("read held events: %w", err)
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*heldItem, error) {
			h := &heldItem{fundID: fundID, fromDB: true}
			var seq int64
			var code string
			err := r.Scan(&h.eventID, &seq, &h.subject, &h.raw, &h.waitingOn, &code, &h.receivedAt, &h.deadline)
			h.streamSeq, h.code = uint64(seq), events.Code(code)
			return h, err
		})
		if err != nil {
			return fmt.Errorf("read held events: %w", err)
		}
		for _, h := range items {
			u.heldDB = append(u.heldDB, h)
			u.index(h)
		}
	}
	waiting := u.heldBy[k]
	delete(u.heldBy, k)
	sort.Slice(waiting, func(i, j int) bool { return waiting[i].streamSeq < waiting[j].streamSeq })
	for _, h := range waiting {
		if h.resolved || h.waitingOn != key {
			continue
		}
		d := events.Decode(h.subject, h.raw)
		if d.Event == nil { // it decoded once; a failure now is a bug, not a refusal
			return fmt.Errorf("held event %s no longer decodes: %v", h.eventID, d.Rejection)
		}
		out, err := u.books.Apply(u.input(d))
		if err != nil {
			return err
		}
		if out.Kind != ledger.Held {
			u.res.Released++
		}
		if h.fromDB {
			u.markInboxFromDB(h, d)
		}
		if err := u.outcome(d, events.Message{StreamSeq: h.streamSeq, Subject: h.subject, Data: h.raw}, out, h); err != nil {
			return err
		}
	}
	return nil
}

// markInboxFromDB makes the held event's existing inbox row the one its
// outcome is recorded on.
func (u *unit) markInboxFromDB(h *heldItem, d events.Decoded) {
	if u.inboxByID[h.eventID] == nil {
		r := &inboxRow{eventID: h.eventID, fundID: h.fundID, typ: d.Type, streamSeq: h.streamSeq, outcome: "held", fromDB: true}
		u.inbox = append(u.inbox, r)
		u.inboxByID[h.eventID] = r
	}
}

// expire refuses the held events whose window has passed.
func (u *unit) expire() error {
	for _, h := range u.heldNew { // a zero window refuses at once
		if !h.resolved && !h.deadline.After(u.now) {
			u.expireOne(h)
		}
	}
	rows, err := u.tx.Query(u.ctx, `
		SELECT event_id, fund_id, stream_seq, subject, raw, waiting_on, code, received_at, deadline
		  FROM held WHERE deadline <= $1 ORDER BY stream_seq LIMIT 1000`, u.now)
	if err != nil {
		return fmt.Errorf("read expired held events: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*heldItem, error) {
		h := &heldItem{fromDB: true}
		var seq int64
		var code string
		err := r.Scan(&h.eventID, &h.fundID, &seq, &h.subject, &h.raw, &h.waitingOn, &code, &h.receivedAt, &h.deadline)
		h.streamSeq, h.code = uint64(seq), events.Code(code)
		return h, err
	})
	if err != nil {
		return fmt.Errorf("read expired held events: %w", err)
	}
	for _, h := range items {
		if u.heldLoaded(h.eventID) {
			continue // loaded and dealt with by a release in this batch
		}
		u.heldDB = append(u.heldDB, h)
		d := events.Decode(h.subject, h.raw)
		u.markInboxFromDB(h, d)
		u.expireOne(h)
	}
	return nil
}

func (u *unit) heldLoaded(id string) bool {
	for _, h := range u.heldDB {
		if h.eventID == id {
			return true
		}
	}
	return false
}

func (u *unit) expireOne(h *heldItem) {
	d := events.Decode(h.subject, h.raw)
	what := "grant"
	if h.code == events.UnknownPayment {
		what = "payment"
	}
	why := h.why
	if why == "" {
		why = fmt.Sprintf("the %s it names (%s) did not arrive", what, h.waitingOn)
	}
	rej := events.Reject(h.code, "%s; still unknown after the hold window of %s", why, u.set.HoldWindow)
	u.reject(h.eventID, d.Type, h.fundID, rej, h.raw, h.streamSeq, h.receivedAt)
	u.record(d, h.streamSeq, "rejected")
	h.resolved = true
	u.res.Expired++
}

func (u *unit) reject(eventID, typ, fundID string, rej *events.Rejection, raw []byte, seq uint64, received time.Time) {
	if fundID == "" {
		fundID = events.UnknownFundID
	}
	u.res.Rejected++
	u.res.Rejects[rej.Code]++
	r := rejectionRow{eventID: eventID, typ: typ, fundID: fundID, rej: rej, receivedAt: received, raw: raw, streamSeq: seq}
	u.rejections = append(u.rejections, r)
	msgID := "rejected:" + eventID
	if eventID == "" {
		msgID = fmt.Sprintf("rejected:stream:%d", seq)
	}
	u.outbox = append(u.outbox, outboxRow{subject: events.RejectedSubject(fundID), msgID: msgID, payload: RejectionJSON(r.asView(0))})
}

func (u *unit) posted(t *ledger.Txn) error {
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	u.res.Txns++
	u.res.Lines += len(t.Postings)
	u.outbox = append(u.outbox, outboxRow{subject: events.PostedSubject(t.FundID),
		msgID: fmt.Sprintf("posted:%s:%d", t.FundID, t.Seq), payload: body})
	return nil
}

// snapshotChanged snapshots every fund whose journal moved since its last
// snapshot (the SNAPSHOT_INTERVAL timer): those the database says so of,
// and those this batch moved, which the database does not show yet.
func (u *unit) snapshotChanged() error {
	rows, err := u.tx.Query(u.ctx, `SELECT fund_id FROM funds WHERE head_seq > snapshot_journal_seq`)
	if err != nil {
		return fmt.Errorf("find changed funds: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, f := range u.books.Changes().Funds {
		if !seen[f.ID] {
			seen[f.ID] = true
			ids = append(ids, f.ID)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		f, err := u.books.Fund(id)
		if err != nil {
			return err
		}
		if f != nil && f.HeadSeq > f.SnapshotJournalSeq {
			u.books.Snapshots = append(u.books.Snapshots, ledger.TakeSnapshot(f, "", u.set.Signer))
		}
	}
	return nil
}

// RejectionView is a stored or published rejection (CONTRACT.md section 4).
type RejectionView struct {
	Seq         int64              `json:"seq,omitempty"`
	EventID     string             `json:"event_id"`
	Type        string             `json:"type"`
	FundID      string             `json:"fund_id"`
	Code        events.Code        `json:"code"`
	Message     string             `json:"message"`
	Lines       []events.LineError `json:"lines"`
	ReceivedAt  string             `json:"received_at"`
	Raw         string             `json:"raw"`
	RawEncoding string             `json:"raw_encoding"`
}

func (r rejectionRow) asView(seq int64) RejectionView {
	raw, enc := rawText(r.raw)
	lines := r.rej.Lines
	if lines == nil {
		lines = []events.LineError{}
	}
	return RejectionView{Seq: seq, EventID: r.eventID, Type: r.typ, FundID: r.fundID, Code: r.rej.Code, Message: r.rej.Message,
		Lines: lines, ReceivedAt: ledger.TimeText(r.receivedAt), Raw: raw, RawEncoding: enc}
}

// rawText is the message as received: as text when it is UTF-8 (and free
// of NUL, which PostgreSQL text cannot hold), else base64.
func rawText(b []byte) (string, string) {
	if utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		return string(b), "utf-8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// RejectionJSON is the payload published on ledger.<fund>.rejected.
func RejectionJSON(v RejectionView) []byte {
	b, _ := json.Marshal(v) // plain strings and ints: cannot fail
	return b
}

// RejectUnapplicable refuses one message that PostgreSQL will not store
// however often it is tried (a poison message), so the stream moves on: it
// records the rejection, the inbox row and the position in one transaction.
func (s *Store) RejectUnapplicable(ctx context.Context, consumer string, epoch int64, m events.Message, now time.Time, cause error) error {
	now = now.UTC().Truncate(time.Microsecond)
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var dbEpoch, pos int64
		if err := tx.QueryRow(ctx, `SELECT epoch, stream_seq FROM consumer_state WHERE name = $1 FOR UPDATE`, consumer).Scan(&dbEpoch, &pos); err != nil {
			return err
		}
		if dbEpoch != epoch {
			return ErrFenced
		}
		res := BatchResult{Rejects: map[events.Code]int{}}
		u := &unit{ctx: ctx, tx: tx, now: now, res: &res, inboxByID: map[string]*inboxRow{},
			books: ledger.NewBooks(ctx, loader{tx}, ledger.Settings{})}
		if uint64(pos) < m.StreamSeq {
			d := events.Decode(m.Subject, m.Data)
			var seen bool
			if d.ID != "" {
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inbox WHERE event_id = $1)`, d.ID).Scan(&seen); err != nil {
					return err
				}
			}
			if !seen {
				rej := events.Reject(events.InvalidField, "the event passed validation but the database refused to store it: %v", cause)
				// Keep only what the database surely accepts of the raw bytes.
				u.reject(d.ID, d.Type, d.FundID, rej, []byte(base64.StdEncoding.EncodeToString(m.Data)), m.StreamSeq, now)
				u.record(d, m.StreamSeq, "rejected")
			}
			if err := u.write(); err != nil {
				return err
			}
			pos = int64(m.StreamSeq)
		}
		_, err := tx.Exec(ctx, `UPDATE consumer_state SET stream_seq = $2, updated_at = $3 WHERE name = $1`, consumer, pos, now)
		return err
	})
}

// subjectType is the <type> part of fund.<fund_id>.<type>, or "".
func subjectType(subject string) string {
	rest, ok := strings.CutPrefix(subject, "fund.")
	if !ok {
		return ""
	}
	_, typ, _ := strings.Cut(rest, ".")
	return typ
}
