// Package service runs fundledger: it migrates the database, connects to
// (or embeds) NATS JetStream, holds the consumer lease, applies events in
// batches, relays the outbox, takes timed snapshots and serves HTTP.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/fundledger/fundledger/events"
	"github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/events/natsembed"
	"github.com/fundledger/fundledger/ledger"
	"github.com/fundledger/fundledger/ledger/postgres"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// Config is everything serve needs; cmd/fundledger fills it from the
// environment (CONTRACT.md section 8).
type Config struct {
	DatabaseURL      string
	NATSURL          string // empty: run an embedded server
	DataDir          string
	HTTPAddr         string
	SnapshotEvery    int64
	SnapshotInterval time.Duration
	// HoldWindow is how long an event naming a grant or payment not seen
	// yet is held; 0 means the default (5 minutes), a negative value no
	// hold at all (such an event is refused at once).
	HoldWindow time.Duration
	// Zone is FUNDLEDGER_TZ, the time zone of business dates taken from
	// the clock and of a month's end (CONTRACT.md section 11); nil is
	// ledger.DefaultZone.
	Zone *time.Location
	// ReconDateWindow is RECON_DATE_WINDOW in days (rule 3 of the bank
	// reconciliation); 0 means the default (3), a negative value 0 days.
	ReconDateWindow int
	SigningKey      string // base64 Ed25519 seed (FUNDLEDGER_SIGNING_KEY)
	// SigningKeyFile holds the seed (FUNDLEDGER_SIGNING_KEY_FILE), outside
	// DataDir. With neither, DataDir's legacy signing.key, else
	// DefaultKeyFile() (see KeySource).
	SigningKeyFile string
	// NATSAuth logs in to NATS_URL's server and sets its TLS (CONTRACT.md
	// section 9); unused with the embedded server.
	NATSAuth jetstream.ConnAuth

	// Consumer is the durable consumer's name (default "fundledger").
	Consumer string
	// BatchSize caps the messages applied in one database transaction.
	BatchSize int
	// BatchBytes caps their payload (default 2 MiB): what bounds a batch
	// of large grant batches. A message larger than it is a batch of its
	// own. Applying a batch line takes about 9 kB of memory, so 16 MiB of
	// 10,000-line batches (130,000 lines) took serve past 1 GB.
	BatchBytes int
	// Linger is how long a batch waits, after its first message, for more.
	Linger time.Duration
	// EmbeddedPort is the embedded server's preferred port (default 4222).
	EmbeddedPort int
	// API serves /v1/...; nil serves only /healthz and /metrics. When the
	// handler is an io.Closer it is closed once the HTTP server stopped
	// (the read API writes its access log's last entries then).
	API func(*postgres.Store) http.Handler
	// Failpoint, when set, is called at named points ("before-commit",
	// "after-commit", "after-ack"); an error it returns makes the leader
	// drop what it holds as a crash would. Tests only.
	Failpoint func(point string) error

	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:8080"
	}
	if c.Consumer == "" {
		c.Consumer = "fundledger"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 2000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 2 << 20
	}
	if c.Linger <= 0 {
		c.Linger = 5 * time.Millisecond
	}
	if c.EmbeddedPort == 0 {
		c.EmbeddedPort = 4222
	}
	switch {
	case c.HoldWindow == 0:
		c.HoldWindow = 5 * time.Minute
	case c.HoldWindow < 0:
		c.HoldWindow = 0 // the store refuses at once
	}
	switch {
	case c.ReconDateWindow == 0:
		c.ReconDateWindow = ledger.DefaultReconDateWindow
	case c.ReconDateWindow < 0:
		c.ReconDateWindow = 0 // the same day only
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
}

// Service is a running ledger.
type Service struct {
	cfg      Config
	log      *slog.Logger
	Store    *postgres.Store
	Metrics  *Metrics
	Signer   *Signer // the signing key at start (a rotation while running changes the batches' signer only)
	NATSURL  string
	HTTPAddr string // the address actually listened on

	api     http.Handler // what cfg.API made
	ready   chan struct{}
	leading sync.Mutex
	leader  bool
}

// New prepares a service; Run starts it.
func New(cfg Config) *Service {
	cfg.defaults()
	return &Service{cfg: cfg, log: cfg.Log, Metrics: NewMetrics(), ready: make(chan struct{})}
}

// Ready is closed once the service consumes (or stands by for the lease).
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Run runs until ctx ends, then stops cleanly: the batch in hand is
// committed and acknowledged or left for redelivery, never half applied.
func (s *Service) Run(ctx context.Context) error {
	cfg := s.cfg
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is required")
	}
	if err := postgres.WaitReady(ctx, cfg.DatabaseURL, func(err error) {
		s.log.Warn("waiting for PostgreSQL", "err", err)
	}); err != nil {
		return err
	}
	if err := retry(ctx, s.log, "migrate", func() error { return postgres.Migrate(ctx, cfg.DatabaseURL) }); err != nil {
		return err
	}
	store, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	s.Store = store
	var keyErr error
	if err := retry(ctx, s.log, "signing key", func() error {
		signer, err := s.startKey(ctx)
		if errors.As(err, new(keyError)) {
			keyErr = err // the key is wrong: no retry makes it right
			return nil
		}
		s.Signer = signer
		return err
	}); err != nil {
		return err
	}
	if keyErr != nil {
		return keyErr
	}

	natsOpts, err := cfg.NATSAuth.Options()
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	natsURL := cfg.NATSURL
	if natsURL == "" && !cfg.NATSAuth.Empty() {
		s.log.Warn("NATS credentials or TLS settings are set but NATS_URL is not: the embedded server runs without them")
		natsOpts = nil
	}
	if natsURL == "" {
		emb, err := natsembed.Start(cfg.DataDir, cfg.EmbeddedPort)
		if err != nil {
			return err
		}
		defer emb.Stop()
		natsURL = emb.URL
		s.log.Info("embedded NATS JetStream server started", "url", natsURL, "store", cfg.DataDir)
	}
	s.NATSURL = natsURL
	nc, err := jetstream.Connect(natsURL, "fundledger", natsOpts...)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	nc.SetDisconnectErrHandler(func(c *nats.Conn, err error) {
		if !c.IsClosed() { // closing at the stop is no news
			s.log.Warn("NATS disconnected", "err", err)
		}
	})
	nc.SetReconnectHandler(func(c *nats.Conn) { s.log.Info("NATS reconnected", "url", jetstream.Redact(c.ConnectedUrl())) })
	js, err := njs.New(nc)
	if err != nil {
		return err
	}
	if err := retry(ctx, s.log, "ensure streams", func() error { return jetstream.EnsureStreams(ctx, js) }); err != nil {
		return err
	}
	if notes, err := jetstream.StreamNotes(ctx, js); err == nil {
		for _, n := range notes {
			s.log.Warn("existing stream differs from what the ledger would create; using it as it is", "note", n)
		}
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	s.HTTPAddr = ln.Addr().String()
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	s.log.Info("fundledger serving", "http", s.HTTPAddr, "nats", jetstream.Redact(natsURL), "hold_window", cfg.HoldWindow.String(),
		"snapshot_every", cfg.SnapshotEvery, "snapshot_interval", cfg.SnapshotInterval.String())
	close(s.ready)

	holder, _ := os.Hostname()
	holder = fmt.Sprintf("%s/%d", holder, os.Getpid())
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		progressed, err := s.lead(ctx, js, holder)
		if ctx.Err() != nil {
			break
		}
		if progressed {
			backoff = 200 * time.Millisecond
		}
		s.log.Warn("consumer stopped; taking the lease again", "err", err, "in", backoff.String())
		sleep(ctx, backoff)
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	if c, ok := s.api.(io.Closer); ok {
		if err := c.Close(); err != nil {
			s.log.Error("read API did not close cleanly", "err", err)
		}
	}
	s.log.Info("fundledger stopped")
	return nil
}

// lead holds the lease and consumes until an error or ctx ends. progressed
// says whether it committed anything, so repeated failures back off while
// a rare one does not slow the next start.
func (s *Service) lead(ctx context.Context, js njs.JetStream, holder string) (progressed bool, err error) {
	cfg := s.cfg
	lease, err := postgres.AcquireLease(ctx, cfg.DatabaseURL, cfg.Consumer, holder, time.Second)
	if err != nil {
		return false, err
	}
	defer lease.Release()
	s.setLeader(true)
	defer s.setLeader(false)
	s.log.Info("consumer lease taken", "epoch", lease.Epoch, "position", lease.Position)
	if n, err := s.Store.BackfillPeriods(ctx, cfg.Zone); err != nil { // once, on a journal from before the period records
		return false, err
	} else if n > 0 {
		s.log.Info("period figures of the journal before them counted", "transactions", n)
	}

	copts := jetstream.ConsumerOptions{AckWait: 60 * time.Second, MaxAckPending: 4 * cfg.BatchSize, BufferBytes: max(2*cfg.BatchBytes, 2*events.MaxCarriedBytes)}
	position := lease.Position
	cons, err := jetstream.StartConsumer(ctx, js, cfg.Consumer, position, copts)
	if err != nil {
		return false, err
	}
	defer func() { cons.Stop() }()

	relay := jetstream.NewRelay(js, s.Store)
	relay.OnError = func(err error) { s.log.Warn("outbox relay", "err", err) }
	relay.Published = func(n int) { s.Metrics.Published.Add(int64(n)) }
	relay.Shrunk = func(id string, from, to int) {
		s.log.Warn("outbound message larger than NATS accepts; published with its raw message cut (the stored rejection keeps it whole)",
			"msg_id", id, "bytes", from, "published_bytes", to)
	}
	rctx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); relay.Run(rctx) }()
	defer func() {
		stopRelay()
		wg.Wait()
		if ctx.Err() != nil {
			// A clean stop: publish what the last batches committed now,
			// not at the next start. Bounded, as NATS may be down; what
			// is left stays in the outbox.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := relay.Drain(dctx); err != nil {
				s.log.Warn("outbox not fully published at stop; the rest goes out at the next start", "err", err)
			}
		}
	}()

	set := postgres.BatchSettings{Failpoint: cfg.Failpoint, IntakeSettings: ledger.IntakeSettings{
		HoldWindow: cfg.HoldWindow, SnapshotEvery: cfg.SnapshotEvery, Signer: s.Signer, Zone: cfg.Zone,
		Recon: ledger.ReconSettings{DateWindow: cfg.ReconDateWindow}}}
	if err := s.followRotation(ctx, &set.IntakeSettings); err != nil { // rotated while not leading
		return false, err
	}
	idle := 250 * time.Millisecond
	if w := cfg.HoldWindow / 4; w > 0 && w < idle {
		idle = w
	}

	// The pipeline: while batch n commits, batch n+1 is pulled and
	// decoded, and batch n-1's acks go out. Only this loop touches the
	// consumer between fetches, so a restart never races a pull.
	type fetched struct {
		batch *jetstream.Batch
		in    []ledger.Inbound
		err   error
	}
	next := make(chan fetched, 1)
	prefetch := func(c *jetstream.Consumer) {
		go func() {
			b, err := c.Next(ctx, cfg.BatchSize, cfg.BatchBytes, idle, cfg.Linger)
			if err != nil {
				next <- fetched{batch: b, err: err}
				return
			}
			next <- fetched{batch: b, in: decodeBatch(b.Messages)}
		}()
	}
	acks := newAcker(s.log, cfg.Failpoint)
	defer acks.wait()

	lastSnap, lastCheck := time.Now(), time.Now()
	lastMsg, lastBehindCheck := time.Now(), time.Now()
	prefetch(cons)
	for {
		f := <-next
		if ctx.Err() != nil {
			return progressed, nil
		}
		if f.err != nil {
			return progressed, f.err
		}
		batch := f.batch
		restart := false
		if len(batch.Messages) > 0 {
			lastMsg = time.Now()
		} else if time.Since(lastMsg) >= time.Second && time.Since(lastBehindCheck) >= time.Second {
			lastBehindCheck = time.Now()
			behind, err := cons.Behind(ctx, position)
			if err != nil {
				return progressed, err
			}
			if behind {
				s.log.Warn("idle with undelivered messages after the stored position; reading the stream again", "position", position)
				s.Metrics.Redeliveries.Add(1)
				restart = true
			}
		}
		lost, err := cons.FirstLost(ctx, batch, position)
		if err != nil {
			return progressed, err
		}
		if lost >= 0 {
			// Apply what came in order, then read the stream again from
			// the stored position so the lost message comes in its place.
			s.log.Warn("a delivery was lost in transit; reading the stream again from the stored position",
				"position", position, "next_delivered", batch.Messages[lost].StreamSeq)
			s.Metrics.Redeliveries.Add(1)
			batch.Truncate(lost)
			f.in = f.in[:lost]
			restart = true
		}
		if !restart {
			prefetch(cons)
		}
		snapDue := cfg.SnapshotInterval > 0 && time.Since(lastSnap) >= cfg.SnapshotInterval
		if time.Since(lastCheck) > 5*time.Second {
			if err := lease.Check(ctx); err != nil {
				return progressed, fmt.Errorf("lease connection: %w", err)
			}
			if err := s.followRotation(ctx, &set.IntakeSettings); err != nil {
				return progressed, err
			}
			lastCheck = time.Now()
		}
		// Commit even when the shutdown signal arrives mid-batch: the
		// messages are in hand, and finishing beats redelivery.
		wctx := context.WithoutCancel(ctx)
		start := time.Now()
		res, err := s.apply(wctx, lease, batch, f.in, set, snapDue)
		if err != nil {
			return progressed, err
		}
		progressed = progressed || len(batch.Messages) > 0
		if snapDue {
			lastSnap = time.Now()
		}
		s.Metrics.observe(res, time.Since(start))
		if res.Outbox > 0 || res.Txns > 0 {
			relay.Kick()
		}
		if err := s.failpoint("after-commit"); err != nil {
			return progressed, err
		}
		// The position in the database already covers the batch: a
		// redelivery is skipped, so a lost or late ack costs nothing.
		if err := acks.send(wctx, batch); err != nil {
			return progressed, err
		}
		position = max(position, res.Position)
		if restart {
			if err := acks.wait(); err != nil {
				return progressed, err
			}
			cons.Stop()
			c, err := jetstream.StartConsumer(ctx, js, cfg.Consumer, position, copts)
			if err != nil {
				return progressed, err // the stopped consumer stays for the deferred Stop
			}
			cons = c
			prefetch(cons)
		}
	}
}

// decodeBatch decodes a batch on every core: decoding is pure and the
// largest share of the Go side's work per event.
func decodeBatch(msgs []events.Message) []ledger.Inbound {
	const chunk = 256
	if len(msgs) <= chunk {
		return ledger.DecodeAll(msgs)
	}
	out := make([]ledger.Inbound, len(msgs))
	var wg sync.WaitGroup
	for lo := 0; lo < len(msgs); lo += chunk {
		hi := min(lo+chunk, len(msgs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(out[lo:hi], ledger.DecodeAll(msgs[lo:hi]))
		}()
	}
	wg.Wait()
	return out
}

// acker acknowledges committed batches off the critical path, one batch at
// a time, in commit order.
type acker struct {
	log       *slog.Logger
	failpoint func(string) error
	done      chan error
}

func newAcker(log *slog.Logger, failpoint func(string) error) *acker {
	return &acker{log: log, failpoint: failpoint}
}

// send starts acknowledging b once the previous batch's acks are out; it
// returns the error of a failpoint after the previous ack (tests only).
func (a *acker) send(ctx context.Context, b *jetstream.Batch) error {
	if err := a.wait(); err != nil {
		return err
	}
	done := make(chan error, 1)
	a.done = done
	go func() {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := b.Ack(actx)
		cancel()
		if err != nil {
			a.log.Warn("ack failed", "err", err)
		}
		if a.failpoint != nil {
			done <- a.failpoint("after-ack")
			return
		}
		done <- nil
	}()
	return nil
}

// wait waits for the acks in flight.
func (a *acker) wait() error {
	if a.done == nil {
		return nil
	}
	err := <-a.done
	a.done = nil
	return err
}

// apply commits a batch, retrying transient failures with backoff while
// keeping the messages in hand. A batch PostgreSQL refuses as data is split
// so that only the message at fault is refused.
func (s *Service) apply(ctx context.Context, lease *postgres.Lease, b *jetstream.Batch, in []ledger.Inbound, set postgres.BatchSettings, snap bool) (postgres.BatchResult, error) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		res, err := s.Store.ApplyBatch(ctx, s.cfg.Consumer, lease.Epoch, in, time.Now(), set, snap)
		if err == nil {
			return res, nil
		}
		if s.cfg.Failpoint != nil && isFailpoint(err) {
			return res, err
		}
		switch ledger.KindOf(err) {
		case ledger.KindFenced:
			return res, err
		case ledger.KindRefused:
			return s.applyOneByOne(ctx, lease, in, set, err)
		}
		s.Metrics.Retries.Add(1)
		s.log.Warn("batch not committed; retrying", "attempt", attempt, "messages", len(b.Messages), "err", err, "in", backoff.String())
		if err := lease.Check(ctx); err != nil {
			return res, fmt.Errorf("database unreachable: %w", err)
		}
		b.InProgress()
		sleep(ctx, backoff)
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

func (s *Service) applyOneByOne(ctx context.Context, lease *postgres.Lease, in []ledger.Inbound, set postgres.BatchSettings, cause error) (postgres.BatchResult, error) {
	s.log.Warn("database refused a batch's data; applying its messages one by one", "err", cause)
	var total postgres.BatchResult
	for _, one := range in {
		m := one.Msg
		res, err := s.Store.ApplyBatch(ctx, s.cfg.Consumer, lease.Epoch, []ledger.Inbound{one}, time.Now(), set, false)
		if err != nil && ledger.KindOf(err) == ledger.KindRefused {
			s.log.Error("refusing a message the database will not store", "stream_seq", m.StreamSeq, "err", err)
			err = s.Store.RejectUnapplicable(ctx, s.cfg.Consumer, lease.Epoch, m, time.Now(), err)
			res = postgres.BatchResult{Rejected: 1, Outbox: 1}
		}
		if err != nil {
			return total, err
		}
		total.Applied += res.Applied
		total.Rejected += res.Rejected
		total.Outbox += res.Outbox
		total.Txns += res.Txns
	}
	return total, nil
}

func (s *Service) failpoint(name string) error {
	if s.cfg.Failpoint == nil {
		return nil
	}
	return s.cfg.Failpoint(name)
}

// FailpointError marks an error injected by a test failpoint.
type FailpointError struct{ Point string }

func (e *FailpointError) Error() string { return "failpoint " + e.Point }

func isFailpoint(err error) bool {
	var fe *FailpointError
	return errors.As(err, &fe)
}

func (s *Service) setLeader(v bool) {
	s.leading.Lock()
	s.leader = v
	s.leading.Unlock()
}

// Leader reports whether this instance holds the consumer lease.
func (s *Service) Leader() bool {
	s.leading.Lock()
	defer s.leading.Unlock()
	return s.leader
}

func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	backoff := 200 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn(what+" failed; retrying", "err", err, "in", backoff.String())
		sleep(ctx, backoff)
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
