package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/workload"
	"github.com/nats-io/nats.go/jetstream"
)

// outMsg is one message to publish.
type outMsg struct {
	subject string
	msgID   string // Nats-Msg-Id: the envelope id, or one the suite makes up
	data    []byte
	id      string // the envelope id as the ledger reads it; "" when unreadable
}

type inflight struct {
	m        outMsg
	f        jetstream.PubAckFuture
	first    time.Time
	attempts int
	at       time.Time // when to try again
}

// publisher sends a workload to FUND_EVENTS at a bounded rate, for a
// bounded count and time, and records every publish JetStream
// acknowledged. A publish that fails (NATS down, no answer within 5 s) is
// sent again with the same Nats-Msg-Id, so the stream keeps one copy; it
// gives up on a message after giveUp.
type publisher struct {
	js     jetstream.JetStream
	cfg    workload.Config
	rate   float64
	max    int
	dur    time.Duration
	inject chan outMsg

	mu        sync.Mutex
	acked     map[string]uint64 // readable envelope id → stream sequence
	noID      map[uint64]bool   // stream sequences of acknowledged messages without a readable id
	generated int               // messages taken from the workload
	injected  int
	ackedN    int // acknowledgements (each message once)
	dupAcks   int // acknowledged as a duplicate by the stream's dedup window
	republish int
	gaveUp    int
	lastErr   string
	started   time.Time
	ended     time.Time // end of the publishing phase
	done      chan struct{}
}

// giveUp bounds how long one message is retried.
const giveUp = 90 * time.Second

var errStop = errors.New("stop")

func newPublisher(js jetstream.JetStream, cfg workload.Config, rate float64, max int, dur time.Duration) *publisher {
	return &publisher{js: js, cfg: cfg, rate: rate, max: max, dur: dur, inject: make(chan outMsg, 64),
		acked: map[string]uint64{}, noID: map[uint64]bool{}, done: make(chan struct{})}
}

func toOut(subject, msgID string, data []byte) outMsg {
	d := events.Decode(subject, data)
	return outMsg{subject: subject, msgID: msgID, data: data, id: d.ID}
}

// Inject publishes m ahead of the workload.
func (p *publisher) Inject(m outMsg) { p.inject <- m }

// run publishes until the count or the time is reached (or ctx ends),
// then waits for every outstanding acknowledgement.
func (p *publisher) run(ctx context.Context) {
	defer close(p.done)
	gctx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	gen := make(chan workload.Msg, 4096)
	go func() {
		defer close(gen)
		_, _ = workload.Generate(p.cfg, func(m workload.Msg) error {
			select {
			case gen <- m:
				return nil
			case <-gctx.Done():
				return errStop
			}
		})
	}()

	p.mu.Lock()
	p.started = time.Now()
	p.mu.Unlock()
	const window = 512
	var pending, retry []*inflight
	interval := time.Duration(float64(time.Second) / p.rate)
	next := time.Now()
	noIDs := 0
	publishing := true
	var drainUntil time.Time

	send := func(x *inflight) {
		var opts []jetstream.PublishOpt
		if x.m.msgID != "" {
			opts = append(opts, jetstream.WithMsgID(x.m.msgID))
		}
		x.attempts++
		f, err := p.js.PublishAsync(x.m.subject, x.m.data, opts...)
		if err != nil {
			p.fail(x, err, &retry)
			return
		}
		x.f = f
		pending = append(pending, x)
	}
	settle := func(x *inflight, block bool) bool {
		var t <-chan time.Time
		if block {
			t = time.After(10 * time.Second) // futures time out after 5s themselves
		}
		select {
		case ack := <-x.f.Ok():
			p.record(x.m, ack)
			return true
		case err := <-x.f.Err():
			p.fail(x, err, &retry)
			return true
		case <-t:
			p.fail(x, errors.New("no acknowledgement"), &retry)
			return true
		default:
			if !block {
				return false
			}
		}
		select {
		case ack := <-x.f.Ok():
			p.record(x.m, ack)
		case err := <-x.f.Err():
			p.fail(x, err, &retry)
		case <-t:
			p.fail(x, errors.New("no acknowledgement"), &retry)
		}
		return true
	}

	for {
		for len(pending) > 0 && settle(pending[0], len(pending) >= window) {
			pending = pending[1:]
		}
		if publishing && (ctx.Err() != nil || p.generatedN() >= p.max || time.Since(p.started) >= p.dur) {
			publishing = false
			stopGen()
			p.mu.Lock()
			p.ended = time.Now()
			p.mu.Unlock()
			drainUntil = time.Now().Add(giveUp)
		}
		now := time.Now()
		if len(retry) > 0 && !retry[0].at.After(now) {
			x := retry[0]
			retry = retry[1:]
			p.mu.Lock()
			p.republish++
			p.mu.Unlock()
			send(x)
			continue
		}
		select {
		case m := <-p.inject:
			p.mu.Lock()
			p.injected++
			p.mu.Unlock()
			send(&inflight{m: m, first: now})
			continue
		default:
		}
		if publishing {
			if d := next.Sub(now); d > time.Millisecond {
				time.Sleep(d)
				continue
			}
			m, ok := <-gen
			if !ok {
				p.mu.Lock()
				p.generated = p.max // the workload ran out
				p.mu.Unlock()
				continue
			}
			next = next.Add(interval)
			if now.Sub(next) > time.Second { // do not burst to catch up after a stall
				next = now
			}
			o := toOut(m.Subject, m.ID, m.Data)
			if o.msgID == "" {
				noIDs++
				o.msgID = "faults-noid-" + time.Now().Format("150405.000000") + "-" + strconv.Itoa(noIDs)
			}
			p.mu.Lock()
			p.generated++
			p.mu.Unlock()
			send(&inflight{m: o, first: now})
			continue
		}
		// Draining: wait for the rest, retrying failures, for a bounded time.
		if len(pending) == 0 && len(retry) == 0 {
			return
		}
		if time.Now().After(drainUntil) {
			p.mu.Lock()
			p.gaveUp += len(pending) + len(retry)
			p.mu.Unlock()
			return
		}
		if len(pending) > 0 {
			settle(pending[0], true)
			pending = pending[1:]
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (p *publisher) generatedN() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.generated
}

func (p *publisher) record(m outMsg, ack *jetstream.PubAck) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ackedN++
	if ack.Duplicate {
		p.dupAcks++
	}
	if m.id != "" {
		p.acked[m.id] = ack.Sequence
	} else {
		p.noID[ack.Sequence] = true
	}
}

func (p *publisher) fail(x *inflight, err error, retry *[]*inflight) {
	p.mu.Lock()
	p.lastErr = err.Error()
	p.mu.Unlock()
	if time.Since(x.first) > giveUp {
		p.mu.Lock()
		p.gaveUp++
		p.mu.Unlock()
		return
	}
	x.at = time.Now().Add(250 * time.Millisecond)
	*retry = append(*retry, x)
}
