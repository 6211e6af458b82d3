package jetstream

import (
	"context"
	"fmt"
	"time"

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

func (r *Relay) once(ctx context.Context) (int, error) {
	msgs, err := r.Store.OutboxNext(ctx, r.Batch)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := r.JS.PublishAsync(m.Subject, m.Payload, jetstream.WithMsgID(m.MsgID))
		if err != nil {
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
		firstErr = fmt.Errorf("relay: publish queue refused a message")
	}
	return len(done), firstErr
}
