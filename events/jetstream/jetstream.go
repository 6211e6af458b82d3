// Package jetstream carries fundledger's events over NATS JetStream: it
// ensures the streams, consumes FUND_EVENTS in batches from the position
// the database recorded, and relays the outbox to LEDGER_OUT.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Connect dials NATS and keeps reconnecting for ever: the service waits
// for a restarted server rather than giving up. opts add the credentials
// and TLS (ConnAuth.Options).
func Connect(url, name string, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(url, append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(64 << 20)}, opts...)...)
}

// EnsureStreams creates FUND_EVENTS and LEDGER_OUT with file storage when
// they are missing. Existing streams are left as the operator set them;
// they are never deleted.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	cfgs := []jetstream.StreamConfig{
		{Name: events.InboundStream, Subjects: []string{events.InboundSubjects}, Storage: jetstream.FileStorage,
			Duplicates: 2 * time.Minute, MaxMsgSize: events.MaxCarriedBytes},
		{Name: events.OutboundStream, Subjects: []string{events.OutboundSubjects}, Storage: jetstream.FileStorage,
			Duplicates: 2 * time.Minute},
	}
	for _, cfg := range cfgs {
		_, err := js.Stream(ctx, cfg.Name)
		if err == nil {
			continue
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("jetstream: look up stream %s: %w", cfg.Name, err)
		}
		if _, err := js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("jetstream: create stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// StreamNotes describes how existing streams differ from what the ledger
// would have created: a stream someone else made first is used as it is
// (it is never changed or deleted), so an operator learns from the log
// why, say, large batches never arrive or a restart lost the events.
func StreamNotes(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var notes []string
	for _, want := range []struct {
		name, subject string
		minMsgSize    int32
	}{
		{events.InboundStream, events.InboundSubjects, events.MaxCarriedBytes},
		{events.OutboundStream, events.OutboundSubjects, 0},
	} {
		st, err := js.Stream(ctx, want.name)
		if err != nil {
			return notes, fmt.Errorf("jetstream: look up stream %s: %w", want.name, err)
		}
		cfg := st.CachedInfo().Config
		if cfg.Storage != jetstream.FileStorage {
			notes = append(notes, fmt.Sprintf("stream %s uses %s storage, not file: its messages do not survive a NATS restart", want.name, cfg.Storage))
		}
		if !slices.Contains(cfg.Subjects, want.subject) && !slices.Contains(cfg.Subjects, ">") {
			notes = append(notes, fmt.Sprintf("stream %s is bound to %v, not %s", want.name, cfg.Subjects, want.subject))
		}
		if cfg.Retention != jetstream.LimitsPolicy {
			notes = append(notes, fmt.Sprintf("stream %s has %s retention, not limits: messages may go before they are read again", want.name, cfg.Retention))
		}
		if want.minMsgSize > 0 && cfg.MaxMsgSize > 0 && cfg.MaxMsgSize < want.minMsgSize {
			notes = append(notes, fmt.Sprintf("stream %s accepts messages of at most %d bytes; larger events, up to %d bytes, fail at publish instead of being refused as too_large by the ledger", want.name, cfg.MaxMsgSize, want.minMsgSize))
		}
	}
	return notes, nil
}

// Consumer pulls FUND_EVENTS in stream order.
type Consumer struct {
	cons   jetstream.Consumer
	it     jetstream.MessagesContext
	stream jetstream.Stream
}

// ConsumerOptions tune the durable consumer.
type ConsumerOptions struct {
	AckWait       time.Duration
	MaxAckPending int
	// BufferBytes caps what the client keeps ready, so a run of large
	// messages cannot fill memory; more than MaxCarriedBytes, or a message
	// that large would never be delivered.
	BufferBytes int
}

// StartConsumer (re)creates the durable consumer name so that it delivers
// from after position, the last stream sequence the database applied. The
// database, not the consumer's ack state, is the record of what was
// applied: starting from it after a crash redelivers exactly what was not
// committed, in stream order.
func StartConsumer(ctx context.Context, js jetstream.JetStream, name string, position uint64, o ConsumerOptions) (*Consumer, error) {
	if err := js.DeleteConsumer(ctx, events.InboundStream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("jetstream: reset consumer: %w", err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.AckWait,
		MaxAckPending: o.MaxAckPending, DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if position > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, position+1
	}
	cons, err := js.CreateConsumer(ctx, events.InboundStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("jetstream: create consumer: %w", err)
	}
	stream, err := js.Stream(ctx, events.InboundStream)
	if err != nil {
		return nil, fmt.Errorf("jetstream: stream: %w", err)
	}
	if o.BufferBytes < events.MaxCarriedBytes+64<<10 {
		o.BufferBytes = 2 * events.MaxCarriedBytes
	}
	// Bytes only: the client then keeps what it asked for within the bytes
	// it holds. A per-request byte limit with a message count could ask for
	// more than its channel holds and drop the excess as a slow consumer.
	it, err := cons.Messages(jetstream.PullMaxBytes(o.BufferBytes))
	if err != nil {
		return nil, fmt.Errorf("jetstream: pull: %w", err)
	}
	return &Consumer{cons: cons, it: it, stream: stream}, nil
}

// FirstLost checks the batch against position, the last stream sequence
// applied, and returns the index of the first message that arrived after a
// gap holding a message still in the stream, or -1. JetStream can count a
// message as delivered that never reached us (the server or the
// connection died with it in flight); it would be redelivered after the ack
// wait, behind later messages, and then look applied. A gap of deleted or
// purged messages is not a loss.
func (c *Consumer) FirstLost(ctx context.Context, b *Batch, position uint64) (int, error) {
	next := position + 1
	for i, m := range b.Messages {
		if m.StreamSeq < next {
			continue // applied before, or delivered twice: the store skips it
		}
		if m.StreamSeq > next {
			lost, err := c.anyLeft(ctx, next, m.StreamSeq-1)
			if err != nil {
				return -1, err
			}
			if lost {
				return i, nil
			}
		}
		next = m.StreamSeq + 1
	}
	return -1, nil
}

// Behind reports whether the stream holds messages after position that
// were not delivered: called when the consumer has been idle, it catches a
// lost delivery that no later message reveals (the last ones of the stream
// dropped on a reconnect), which JetStream would hand out again only after
// the ack wait.
func (c *Consumer) Behind(ctx context.Context, position uint64) (bool, error) {
	info, err := c.stream.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("jetstream: stream info: %w", err)
	}
	if info.State.LastSeq <= position {
		return false, nil
	}
	return c.anyLeft(ctx, position+1, info.State.LastSeq)
}

// anyLeft reports whether the stream still holds a message with a sequence
// in [from, to].
func (c *Consumer) anyLeft(ctx context.Context, from, to uint64) (bool, error) {
	info, err := c.stream.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return false, fmt.Errorf("jetstream: stream info: %w", err)
	}
	from = max(from, info.State.FirstSeq)
	to = min(to, info.State.LastSeq)
	if from > to {
		return false, nil
	}
	deleted := make(map[uint64]bool, len(info.State.Deleted))
	for _, s := range info.State.Deleted {
		deleted[s] = true
	}
	for s := from; s <= to; s++ {
		if !deleted[s] {
			return true, nil
		}
	}
	return false, nil
}

// Batch is a run of messages and the handles to acknowledge them.
type Batch struct {
	Messages []events.Message
	raw      []jetstream.Msg
}

// Next waits up to idle for a first message, then takes whatever arrives
// within linger of that first one, up to maxMsgs messages or maxBytes of
// payload (a batch of 10,000-line messages is cut by bytes long before it
// reaches maxMsgs). linger bounds the whole batch, not the gap between two
// messages: under a steady trickle a per-message gap never expires and a
// batch would wait for maxMsgs. What piles up while a batch commits is taken
// at once by the next, so batches grow with the load. An empty batch means
// the stream was idle.
func (c *Consumer) Next(ctx context.Context, maxMsgs, maxBytes int, idle, linger time.Duration) (*Batch, error) {
	b := &Batch{}
	wait, cancel := context.WithTimeout(ctx, idle)
	m, err := c.it.Next(jetstream.NextContext(wait))
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return b, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return b, nil
		}
		return b, fmt.Errorf("jetstream: next: %w", err)
	}
	b.add(m)
	size := len(m.Data())
	until := time.Now().Add(linger)
	for len(b.raw) < maxMsgs && size < maxBytes {
		// Past the window, keep taking what is already buffered: a short
		// wait that a ready message always beats (a near-zero timer could
		// win the select against it half the time and cut batches short).
		wait := max(time.Until(until), 200*time.Microsecond)
		m, err := c.it.Next(jetstream.NextMaxWait(wait))
		if err != nil {
			break
		}
		b.add(m)
		size += len(m.Data())
	}
	return b, nil
}

func (b *Batch) add(m jetstream.Msg) {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	b.raw = append(b.raw, m)
	var h map[string][]string
	if mh := m.Headers(); len(mh) > 0 {
		h = map[string][]string(mh)
	}
	b.Messages = append(b.Messages, events.Message{StreamSeq: seq, Subject: m.Subject(), Header: h, Data: m.Data()})
}

// Truncate keeps the first n messages; the rest are left unacknowledged.
func (b *Batch) Truncate(n int) {
	b.Messages, b.raw = b.Messages[:n], b.raw[:n]
}

// InProgress tells the server the batch is still being worked on, so it is
// not redelivered while a commit is retried.
func (b *Batch) InProgress() {
	for _, m := range b.raw {
		_ = m.InProgress()
	}
}

// Ack acknowledges the batch after its commit. The last message is
// double-acked: the server confirms it, and acks on one connection are
// handled in order, so the earlier ones were handled too. A lost ack is
// harmless: the database position skips a redelivered message.
func (b *Batch) Ack(ctx context.Context) error {
	if len(b.raw) == 0 {
		return nil
	}
	for _, m := range b.raw[:len(b.raw)-1] {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("jetstream: ack: %w", err)
		}
	}
	if err := b.raw[len(b.raw)-1].DoubleAck(ctx); err != nil {
		return fmt.Errorf("jetstream: ack: %w", err)
	}
	return nil
}

// Stop ends the pull.
func (c *Consumer) Stop() { c.it.Stop() }
