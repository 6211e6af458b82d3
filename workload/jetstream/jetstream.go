// Package jetstream publishes a workload straight to NATS JetStream:
// asynchronous publishes, each with Nats-Msg-Id set to the envelope id,
// with a bounded number of messages and bytes waiting for their
// acknowledgement.
package jetstream

import (
	"context"
	"fmt"
	"time"

	"github.com/fundledger/fundledger/workload"
	njs "github.com/nats-io/nats.go/jetstream"
)

// Publisher publishes messages in order and counts the acknowledgements.
// It is not safe for concurrent use.
type Publisher struct {
	js       njs.JetStream
	maxMsgs  int
	maxBytes int
	pending  []inflight
	bytes    int

	// Acked counts messages the stream stored; Duplicates those it
	// acknowledged as already stored under the same Nats-Msg-Id.
	Acked, Duplicates int64
	// LastSeq is the highest stream sequence acknowledged.
	LastSeq uint64
}

type inflight struct {
	f    njs.PubAckFuture
	size int
	id   string
}

// NewPublisher publishes through js with at most maxInFlight messages (and
// 64 MiB) waiting for their acknowledgement; 0 means 2,000.
func NewPublisher(js njs.JetStream, maxInFlight int) *Publisher {
	if maxInFlight <= 0 {
		maxInFlight = 2000
	}
	return &Publisher{js: js, maxMsgs: maxInFlight, maxBytes: 64 << 20}
}

// Publish sends m without waiting for its acknowledgement, unless too many
// are waiting already; an error is a publish JetStream refused.
func (p *Publisher) Publish(ctx context.Context, m workload.Msg) error {
	for len(p.pending) > 0 && (len(p.pending) >= p.maxMsgs || p.bytes+len(m.Data) > p.maxBytes) {
		if err := p.wait(ctx, max(1, len(p.pending)/2)); err != nil {
			return err
		}
	}
	var opts []njs.PublishOpt
	if m.ID != "" {
		opts = append(opts, njs.WithMsgID(m.ID))
	}
	f, err := p.js.PublishAsync(m.Subject, m.Data, opts...)
	if err != nil {
		return fmt.Errorf("publish %s: %w", m.Subject, err)
	}
	p.pending = append(p.pending, inflight{f: f, size: len(m.Data), id: m.ID})
	p.bytes += len(m.Data)
	return nil
}

// Flush waits for every acknowledgement.
func (p *Publisher) Flush(ctx context.Context) error { return p.wait(ctx, len(p.pending)) }

func (p *Publisher) wait(ctx context.Context, n int) error {
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for i := 0; i < n; i++ {
		x := p.pending[0]
		select {
		case ack := <-x.f.Ok():
			p.Acked++
			if ack.Duplicate {
				p.Duplicates++
			}
			p.LastSeq = max(p.LastSeq, ack.Sequence)
		case err := <-x.f.Err():
			return fmt.Errorf("publish %s (id %s): %w", x.f.Msg().Subject, x.id, err)
		case <-timeout.C:
			return fmt.Errorf("publish: no acknowledgement from JetStream in 60s")
		case <-ctx.Done():
			return ctx.Err()
		}
		p.pending = p.pending[1:]
		p.bytes -= x.size
	}
	return nil
}

// Run generates cfg and publishes it, calling progress (when not nil)
// every 1,000 messages with the number published so far.
func Run(ctx context.Context, js njs.JetStream, cfg workload.Config, progress func(published int)) (workload.Expected, *Publisher, error) {
	p := NewPublisher(js, 0)
	n := 0
	exp, err := workload.Generate(cfg, func(m workload.Msg) error {
		if err := p.Publish(ctx, m); err != nil {
			return err
		}
		n++
		if progress != nil && n%1000 == 0 {
			progress(n)
		}
		return nil
	})
	if err != nil {
		return exp, p, err
	}
	if err := p.Flush(ctx); err != nil {
		return exp, p, err
	}
	if progress != nil {
		progress(n)
	}
	return exp, p, nil
}
