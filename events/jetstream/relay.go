package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Committed is where the relay reads what the ledger committed and records
// what JetStream acknowledged. ledger/postgres.Store implements it.
type Committed interface {
	// OutboxNext returns up to limit queued messages (rejections,
	// snapshots) in the order they were committed.
	OutboxNext(ctx context.Context, limit int) ([]events.Queued, error)
	// OutboxDone forgets queued messages JetStream acknowledged.
	OutboxDone(ctx context.Context, keys []int64) error
	// Unpublished returns about limit journal transactions not yet
	// published, each fund's in seq order, and the funds whose journal
	// goes on past them; every other fund's transactions committed before
	// the call are all returned.
	Unpublished(ctx context.Context, limit int) (txns []events.PostedTxn, behind []string, err error)
	// MarkPublished moves each fund's cursor to the seq given (never
	// back): its posted messages up to there were acknowledged.
	MarkPublished(ctx context.Context, upTo map[string]int64) error
}

// Relay publishes what the ledger committed to LEDGER_OUT: one
// ledger.<fund>.posted message per journal transaction, each fund's in seq
// order, read from the journal after the fund's cursor, and the messages
// queued in the outbox (rejections, snapshots) in the order they were
// written. Every message carries its Nats-Msg-Id, so a re-publish after a
// crash is dropped by the stream's duplicate window; a cursor moves and a
// queued message is forgotten only after JetStream acknowledged it.
//
// A fund's queued messages wait until its posted messages committed before
// them are out, so a snapshot follows the transactions it covers.
type Relay struct {
	JS      jetstream.JetStream
	Store   Committed
	Batch   int
	Notify  chan struct{}
	OnError func(error)
	// Published counts messages acknowledged by JetStream.
	Published func(n int)
	// Shrunk is told of a message published in a reduced form because it
	// was larger than the server or LEDGER_OUT accepts.
	Shrunk func(msgID string, from, to int)

	streamMax int32 // LEDGER_OUT's max_msg_size; 0: not looked up yet
}

// NewRelay makes a relay; call Kick after each commit that posted or
// queued something.
func NewRelay(js jetstream.JetStream, store Committed) *Relay {
	return &Relay{JS: js, Store: store, Batch: 2000, Notify: make(chan struct{}, 1)}
}

// Kick wakes the relay without blocking.
func (r *Relay) Kick() {
	select {
	case r.Notify <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		more, err := r.once(ctx)
		if err != nil {
			if r.OnError != nil && ctx.Err() == nil {
				r.OnError(err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			if backoff < 5*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 100 * time.Millisecond
		if more {
			continue
		}
		select {
		case <-ctx.Done():
		case <-r.Notify:
		case <-time.After(time.Second):
		}
	}
}

// Drain publishes what was committed until nothing is left, a publish
// fails or ctx ends: on a clean stop, what was committed goes out before
// the process exits rather than at the next start.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		more, err := r.once(ctx)
		if err != nil || !more {
			return err
		}
	}
}

// outgoing is one message of a round and where it came from.
type outgoing struct {
	subject, msgID string
	payload        []byte
	fundID         string // a posted message's fund, with seq
	seq            int64
	key            int64 // a queued message's key
	queued         bool
}

// once publishes one round: the posted messages Unpublished returns, then
// the queued messages read before them whose fund is not behind. It
// reports whether more is probably waiting.
func (r *Relay) once(ctx context.Context) (more bool, err error) {
	// Queued first, journal second: every transaction committed before the
	// queued messages were read is then in txns, or its fund is behind.
	queued, err := r.Store.OutboxNext(ctx, r.Batch)
	if err != nil {
		return false, err
	}
	txns, behind, err := r.Store.Unpublished(ctx, r.Batch)
	if err != nil {
		return false, err
	}
	more = len(queued) == r.Batch || len(behind) > 0
	msgs := make([]outgoing, 0, len(txns)+len(queued))
	for _, t := range txns {
		msgs = append(msgs, outgoing{subject: events.PostedSubject(t.FundID), msgID: events.PostedMsgID(t.FundID, t.Seq),
			payload: events.EncodePosted(t), fundID: t.FundID, seq: t.Seq})
	}
	late := make(map[string]bool, len(behind))
	for _, f := range behind {
		late[f] = true
	}
	for _, q := range queued {
		if late[events.OutboundFund(q.Subject)] {
			continue // after its fund's posted messages, in a later round
		}
		msgs = append(msgs, outgoing{subject: q.Subject, msgID: q.MsgID, payload: q.Payload, key: q.Key, queued: true})
	}
	if len(msgs) == 0 {
		return more, nil
	}
	n, err := r.publish(ctx, msgs)
	if n < len(msgs) && err == nil {
		err = fmt.Errorf("relay: %d of %d messages not acknowledged", len(msgs)-n, len(msgs))
	}
	if n > 0 {
		// What JetStream acknowledged, in order up to the first failure:
		// what follows is published again, and deduplicated by its id.
		upTo := map[string]int64{}
		var keys []int64
		for _, m := range msgs[:n] {
			if m.queued {
				keys = append(keys, m.key)
			} else {
				upTo[m.fundID] = max(upTo[m.fundID], m.seq)
			}
		}
		if err := r.Store.MarkPublished(ctx, upTo); err != nil {
			return false, err
		}
		if len(keys) > 0 {
			if err := r.Store.OutboxDone(ctx, keys); err != nil {
				return false, err
			}
		}
		if r.Published != nil {
			r.Published(n)
		}
	}
	return more, err
}

// publish sends msgs in order and returns how many of them, from the
// first, JetStream acknowledged, with the first failure.
func (r *Relay) publish(ctx context.Context, msgs []outgoing) (int, error) {
	limit := r.limit(ctx)
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var refused error
	for _, m := range msgs {
		payload := m.payload
		if room := limit - headerBytes(m.msgID); len(payload) > room {
			// A message the server or the stream would refuse would block
			// everything behind it for ever: publish it reduced instead.
			small, err := Fit(payload, room)
			if err != nil {
				refused = fmt.Errorf("relay: %s is %d bytes, more than the %d NATS accepts: %w", m.msgID, len(payload), room, err)
				break
			}
			if r.Shrunk != nil {
				r.Shrunk(m.msgID, len(payload), len(small))
			}
			payload = small
		}
		f, err := r.JS.PublishAsync(m.subject, payload, jetstream.WithMsgID(m.msgID))
		if err != nil {
			refused = fmt.Errorf("relay: publish %s: %w", m.msgID, err)
			break
		}
		futures = append(futures, f)
	}
	done := 0
	var firstErr error
	timeout := time.After(30 * time.Second)
wait:
	for i, f := range futures {
		select {
		case <-f.Ok():
			if firstErr == nil {
				done++
			}
		case err := <-f.Err():
			if firstErr == nil {
				firstErr = fmt.Errorf("relay: publish %s: %w", msgs[i].msgID, err)
			}
			if errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
				r.streamMax = 0 // the stream was changed: look its limit up again
			}
		case <-timeout:
			if firstErr == nil {
				firstErr = fmt.Errorf("relay: no acknowledgement from JetStream within 30s")
			}
			break wait
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if firstErr == nil && len(futures) < len(msgs) {
		firstErr = refused
		r.streamMax = 0
	}
	return done, firstErr
}

// limit is the largest message, headers included, that both the server
// (its max_payload) and LEDGER_OUT (its max_msg_size, which an operator or
// a tester may have set when they made the stream) accept.
func (r *Relay) limit(ctx context.Context) int {
	limit := int(r.JS.Conn().MaxPayload())
	if r.streamMax == 0 {
		r.streamMax = -1
		if s, err := r.JS.Stream(ctx, events.OutboundStream); err == nil {
			if m := s.CachedInfo().Config.MaxMsgSize; m > 0 {
				r.streamMax = m
			}
		}
	}
	if r.streamMax > 0 && (limit <= 0 || int(r.streamMax) < limit) {
		limit = int(r.streamMax)
	}
	if limit <= 0 {
		limit = 1 << 30
	}
	return limit
}

// headerBytes is what the Nats-Msg-Id header adds to a message's size as
// the server counts it, with room to spare.
func headerBytes(msgID string) int {
	return len("NATS/1.0\r\nNats-Msg-Id: \r\n\r\n") + len(msgID) + 64
}
