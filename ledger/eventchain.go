package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file is each fund's chain of the events that change rules or state
// without posting (docs/audit.md section 12): fund.opened,
// fund.program.set, snapshot.requested, bank statements, reconciliation
// requests, closes, a cancellation with nothing outstanding... Every
// event applied without a journal transaction is one entry, hashed like
// a journal transaction: a version, its fund and seq, the previous
// entry's hash, the envelope's id, type and source, the recorded time and
// SHA-256 of its data exactly as received.

// EventHashVersion is the first line of an event entry's hash input.
const EventHashVersion = "fundledger-event-v1"

// FundEvent is one entry of a fund's event chain.
type FundEvent struct {
	FundID   string
	Seq      int64
	EventID  string
	Type     string
	Source   string
	Time     time.Time
	Data     []byte // the event's data JSON, exactly as received
	PrevHash []byte
	Hash     []byte
}

// EventHead is where a fund's event chain ends: its last entry's seq,
// hash and time (zero seq, GenesisHash, zero time for an empty chain).
type EventHead struct {
	Seq  int64
	Hash []byte
	Time time.Time
}

// EventHeadLoader is the part of a UnitOfWork that reads the heads of
// funds' event chains. A unit of work without it starts every chain anew
// (tests that do not look at the chain).
type EventHeadLoader interface {
	EventHeads(ctx context.Context, funds []string) (map[string]EventHead, error)
}

// EventHashInput is the exact byte string hashed for an event entry
// (docs/audit.md section 12): UTF-8 lines, each ended by a line feed.
func EventHashInput(e *FundEvent) []byte {
	var b strings.Builder
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	sum := sha256.Sum256(e.Data)
	line(EventHashVersion)
	line(e.FundID)
	line(strconv.FormatInt(e.Seq, 10))
	line(hex.EncodeToString(e.PrevHash))
	line(e.EventID)
	line(e.Type)
	line(e.Source)
	line(TimeText(e.Time))
	line(hex.EncodeToString(sum[:]))
	return []byte(b.String())
}

// HashEvent is SHA-256 of EventHashInput.
func HashEvent(e *FundEvent) []byte {
	sum := sha256.Sum256(EventHashInput(e))
	return sum[:]
}

// EventView is an entry as GET /v1/funds/{fund_id}/events serves it.
type EventView struct {
	Seq        int64  `json:"seq"`
	FundID     string `json:"fund_id"`
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	Source     string `json:"source"`
	Time       string `json:"time"`
	Data       string `json:"data"` // the data JSON as received, as a string
	DataSHA256 string `json:"data_sha256"`
	Hash       string `json:"hash"`
	PrevHash   string `json:"prev_hash"`
}

// View is the entry's wire shape.
func (e *FundEvent) View() EventView {
	sum := sha256.Sum256(e.Data)
	return EventView{Seq: e.Seq, FundID: e.FundID, EventID: e.EventID, Type: e.Type, Source: e.Source,
		Time: TimeText(e.Time), Data: string(e.Data), DataSHA256: hex.EncodeToString(sum[:]),
		Hash: hex.EncodeToString(e.Hash), PrevHash: hex.EncodeToString(e.PrevHash)}
}

// chainEvents numbers and hashes the batch's new event entries, each
// fund's after its stored head.
func chainEvents(ctx context.Context, uow UnitOfWork, evs []*FundEvent) (map[string]EventHead, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	var ids []string
	for _, e := range evs {
		if !seen[e.FundID] {
			seen[e.FundID] = true
			ids = append(ids, e.FundID)
		}
	}
	heads := map[string]EventHead{}
	if l, ok := uow.(EventHeadLoader); ok {
		got, err := l.EventHeads(ctx, ids)
		if err != nil {
			return nil, err
		}
		heads = got
	}
	for _, e := range evs {
		h, ok := heads[e.FundID]
		if !ok || h.Seq == 0 {
			h = EventHead{Hash: GenesisHash}
		}
		if e.Time.Before(h.Time) { // recorded times never go back in a chain
			e.Time = h.Time
		}
		e.Seq, e.PrevHash = h.Seq+1, h.Hash
		e.Hash = HashEvent(e)
		heads[e.FundID] = EventHead{Seq: e.Seq, Hash: e.Hash, Time: e.Time}
	}
	return heads, nil
}

// EventVerifier checks one fund's event chain, read in seq order.
type EventVerifier struct {
	v    *Verifier
	seq  int64
	head []byte
	time time.Time
}

// Events starts the check of the fund's event chain; its problems go to
// the fund's report.
func (v *Verifier) Events() *EventVerifier {
	return &EventVerifier{v: v, head: GenesisHash}
}

// Event checks the next entry as stored.
func (ev *EventVerifier) Event(e *FundEvent) {
	v := ev.v
	v.events++
	linked := true
	switch want := ev.seq + 1; {
	case e.Seq == want:
	case e.Seq > want:
		v.Problemf(want, ProblemEvent, "event %d is missing: the fund's event chain goes from event %d to event %d", want, ev.seq, e.Seq)
		linked = false
	default:
		v.Problemf(e.Seq, ProblemEvent, "event %d comes after event %d: the event chain is out of order or repeats an entry", e.Seq, ev.seq)
	}
	if e.FundID != v.fundID {
		v.Problemf(e.Seq, ProblemEvent, "event of fund %q in the event chain of fund %q", e.FundID, v.fundID)
	}
	if linked && !bytes.Equal(e.PrevHash, ev.head) {
		v.Problemf(e.Seq, ProblemEvent, "event %d: prev_hash %s is not the hash of event %d (%s)", e.Seq, hex.EncodeToString(e.PrevHash), ev.seq, hex.EncodeToString(ev.head))
	}
	if got := HashEvent(e); !bytes.Equal(got, e.Hash) {
		v.Problemf(e.Seq, ProblemEvent, "event %d: stored hash %s, but its content hashes to %s: it was changed after it was recorded",
			e.Seq, hex.EncodeToString(e.Hash), hex.EncodeToString(got))
	}
	if ev.seq > 0 && e.Time.Before(ev.time) {
		v.Problemf(e.Seq, ProblemEvent, "event %d recorded at %s, before event %d (%s)", e.Seq, TimeText(e.Time), ev.seq, TimeText(ev.time))
	}
	if e.Seq > ev.seq {
		ev.seq = e.Seq
	}
	ev.head, ev.time = e.Hash, e.Time
}

// End compares the end of the chain with the fund's kept event head.
func (ev *EventVerifier) End(kept EventHead) {
	v := ev.v
	switch {
	case kept.Seq > ev.seq:
		v.Problemf(ev.seq+1, ProblemEvent, "the fund's event head is event %d but its event chain ends at event %d: events %d to %d were removed",
			kept.Seq, ev.seq, ev.seq+1, kept.Seq)
	case kept.Seq < ev.seq:
		v.Problemf(kept.Seq+1, ProblemEvent, "the fund's event head is event %d but its event chain goes on to event %d", kept.Seq, ev.seq)
	case kept.Seq > 0 && !bytes.Equal(kept.Hash, ev.head):
		v.Problemf(ev.seq, ProblemEvent, "the fund's event head hash is %s but event %d's hash is %s", hex.EncodeToString(kept.Hash), ev.seq, hex.EncodeToString(ev.head))
	}
}

// EventsChecked counts the event entries read.
func (v *Verifier) EventsChecked() int64 { return v.events }

func (e *FundEvent) String() string { return fmt.Sprintf("%s event %d (%s)", e.FundID, e.Seq, e.Type) }
