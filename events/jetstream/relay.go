package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/nats-io/nats.go/jetstream"
)

// Outbox is where the relay reads what to publish.
type Outbox interface {
	OutboxNext(ctx context.Context, limit int) ([]postgres.OutboxMessage, error)
	OutboxDone(ctx context.Context, ids []int64) error
}

// Relay publishes the outbox to LEDGER_OUT in the order it was written,
// each message with its Nats-Msg-Id so a re-publish after a crash is
// dropped by the stream's duplicate window, and deletes what JetStream
// acknowledged.
type Relay struct {
	JS      jetstream.JetStream
	Store   Outbox
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

// NewRelay makes a relay; call Kick after each commit that wrote to the
// outbox.
func NewRelay(js jetstream.JetStream, store Outbox) *Relay {
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
		n, err := r.once(ctx)
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
		if n == r.Batch {
			continue
		}
		select {
		case <-ctx.Done():
		case <-r.Notify:
		case <-time.After(time.Second):
		}
	}
}

// Drain publishes what is left in the outbox until it is empty, a publish
// fails or ctx ends: on a clean stop, what was committed goes out before
// the process exits rather than at the next start.
func (r *Relay) Drain(ctx context.Context) error {
	for {
		n, err := r.once(ctx)
		if err != nil || n < r.Batch {
			return err
		}
	}
}

func (r *Relay) once(ctx context.Context) (int, error) {
	msgs, err := r.Store.OutboxNext(ctx, r.Batch)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	limit := r.limit(ctx)
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var refused error
	for _, m := range msgs {
		payload := m.Payload
		if room := limit - headerBytes(m.MsgID); len(payload) > room {
			// A message the server or the stream would refuse would block
			// everything behind it for ever: publish it reduced instead.
			small, err := Fit(payload, room)
			if err != nil {
				refused = fmt.Errorf("relay: %s is %d bytes, more than the %d NATS accepts: %w", m.MsgID, len(payload), room, err)
				break
			}
			if r.Shrunk != nil {
				r.Shrunk(m.MsgID, len(payload), len(small))
			}
			payload = small
		}
		f, err := r.JS.PublishAsync(m.Subject, payload, jetstream.WithMsgID(m.MsgID))
		if err != nil {
			refused = fmt.Errorf("relay: publish %s: %w", m.MsgID, err)
			break
		}
		futures = append(futures, f)
	}
	var done []int64
	var firstErr error
	timeout := time.After(30 * time.Second)
wait:
	for i, f := range futures {
		select {
		case <-f.Ok():
			// Stop at the first failure so the outbox keeps its order: what
			// follows is published again, and deduplicated by its id.
			if firstErr == nil {
				done = append(done, msgs[i].ID)
			}
		case err := <-f.Err():
			if firstErr == nil {
				firstErr = fmt.Errorf("relay: publish %s: %w", msgs[i].MsgID, err)
			}
			if errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
				r.streamMax = 0 // the stream was changed: look its limit up again
			}
		case <-timeout:
			firstErr = fmt.Errorf("relay: no acknowledgement from JetStream within 30s")
			break wait
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if len(done) > 0 {
		if err := r.Store.OutboxDone(ctx, done); err != nil {
			return 0, err
		}
		if r.Published != nil {
			r.Published(len(done))
		}
	}
	if firstErr == nil && len(futures) < len(msgs) {
		firstErr = refused
		r.streamMax = 0
	}
	return len(done), firstErr
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
