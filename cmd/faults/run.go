package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	fjs "github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/workload"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// holdWindow is serve's HOLD_WINDOW in every scenario: short, so that the
// suite can wait past it.
const holdWindow = 2 * time.Second

// scenario is one fault under load.
type scenario struct {
	name, title string
	rate        float64       // events per second published
	max         int           // at most this many workload events (default: rate × dur + 1000)
	dur         time.Duration // publishing stops after this long
	slots       int           // serve instances (default 1)
	pgProxy     bool          // serve reaches PostgreSQL through a proxy
	natsProxy   bool          // serve reaches NATS through a proxy
	env         []string      // extra environment of serve
	dbSetup     func(ctx context.Context, r *run) error
	faults      func(ctx context.Context, r *run) error
}

// run is one scenario's world: its own database, its own nats-server and
// its serve processes.
type run struct {
	h       *harness
	sc      scenario
	dir     string
	rng     *rand.Rand
	dbName  string
	dbURL   string // superuser, direct
	db      *pgxpool.Pool
	nats    *natsServer
	nc      *nats.Conn
	js      jetstream.JetStream
	pgProxy *proxy
	nProxy  *proxy
	slots   []*slot
	pub     *publisher

	serviceDBURL, serviceNATSURL string
	signingSeed, signingPub      string

	commitEvidence []string
	quietAfter     time.Duration // from the end of the faults and the publisher to quiet
	ledgerDone     time.Duration // ... to the ledger having applied and published everything (-1: never)
	inFlight       atomic.Int64  // messages delivered but not committed when a process died
	lastConsumer   time.Time     // creation time of the consumer last measured (under mu)

	results    []invResult // the five invariants
	afterQuiet []func(ctx context.Context)
	table      [][2]string // counts to print
	sum        summaryRow

	mu       sync.Mutex
	notes    []string
	checks   []invResult
	counters map[string]int
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *run) count(name string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters[name] += n
}

func (r *run) addCheck(c invResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, c)
}

func (r *run) logf(format string, args ...any) {
	fmt.Printf("  [%s %s] %s\n", time.Now().Format("15:04:05"), r.sc.name, fmt.Sprintf(format, args...))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// between is a random duration in [lo, hi).
func (r *run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

// scenarioResult is what a scenario reports.
type scenarioResult struct {
	name, title string
	took        time.Duration
	counts      [][2]string
	sum         summaryRow
	notes       []string
	invariants  []invResult
	checks      []invResult
	err         error
}

func (s *scenarioResult) ok() bool {
	if s.err != nil || len(s.invariants) != 5 {
		return false
	}
	for _, c := range append(append([]invResult{}, s.invariants...), s.checks...) {
		if !c.ok {
			return false
		}
	}
	return true
}

func workloadConfig(seed int64) workload.Config {
	c := workload.Default(seed)
	c.Funds = 6
	c.Months = 240
	// Twenty years that have ended: the stream closes each month
	// (workload.Config.MonthCloses), and a month is closed only once it
	// has ended.
	c.Year = 2000
	c.BatchLines = 120
	c.BankStatements = true // the bank's monthly statements, reconciled (docs/reconciliation.md)
	return c
}

func (h *harness) runScenario(ctx context.Context, sc scenario, seed int64) *scenarioResult {
	if sc.slots == 0 {
		sc.slots = 1
	}
	if sc.max == 0 { // the time bounds the count; this bounds it too
		sc.max = int(sc.rate*sc.dur.Seconds()) + 1000
	}
	fmt.Printf("\n=== %s: %s\n", sc.name, sc.title)
	start := time.Now()
	res := &scenarioResult{name: sc.name, title: sc.title}
	r := &run{h: h, sc: sc, dir: filepath.Join(h.cfg.WorkDir, sc.name), rng: rand.New(rand.NewPCG(uint64(seed), 7)),
		counters: map[string]int{}}
	r.signingSeed, r.signingPub = newSigningSeed()
	err := r.execute(ctx, seed)
	r.teardown()
	res.took = time.Since(start)
	res.err = err
	res.notes = r.notes
	res.checks = r.checks
	res.invariants = r.results
	res.counts = r.table
	res.sum = r.sum
	printScenario(res)
	if res.ok() {
		// Keep the disk small; a failed scenario keeps its database and logs.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = h.admin.Exec(dctx, "DROP DATABASE IF EXISTS "+r.dbName+" WITH (FORCE)")
		cancel()
		_ = os.RemoveAll(filepath.Join(r.dir, "nats", "jetstream"))
	} else {
		fmt.Printf("  kept for inspection: database %s, logs and stores under %s\n", r.dbName, r.dir)
	}
	return res
}

func (r *run) execute(ctx context.Context, seed int64) error {
	h := r.h
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	r.dbName = "faults_" + strings.ReplaceAll(r.sc.name, "-", "_")
	if _, err := h.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+r.dbName+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := h.admin.Exec(ctx, "CREATE DATABASE "+r.dbName); err != nil {
		return err
	}
	r.dbURL = h.pgURL(r.dbName, h.cfg.PGPort)
	pool, err := pgxpool.New(ctx, r.dbURL)
	if err != nil {
		return err
	}
	r.db = pool
	if r.sc.dbSetup != nil {
		if err := r.sc.dbSetup(ctx, r); err != nil {
			return fmt.Errorf("database setup: %w", err)
		}
	}
	ns, err := newNATSServer(h, filepath.Join(r.dir, "nats"))
	if err != nil {
		return err
	}
	r.nats = ns
	r.nc, err = nats.Connect(ns.url(), nats.Name("faults"), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond),
		nats.RetryOnFailedConnect(true), nats.ReconnectBufSize(32<<20))
	if err != nil {
		return err
	}
	r.js, err = jetstream.New(r.nc, jetstream.WithPublishAsyncMaxPending(1024), jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = fjs.EnsureStreams(sctx, r.js)
	cancel()
	if err != nil {
		return err
	}
	r.serviceDBURL = h.serviceURL(r.dbName, h.cfg.PGPort)
	r.serviceNATSURL = ns.url()
	if r.sc.pgProxy {
		if r.pgProxy, err = newProxy("postgres", fmt.Sprintf("127.0.0.1:%d", h.cfg.PGPort)); err != nil {
			return err
		}
		r.serviceDBURL = h.serviceURL(r.dbName, r.pgProxy.port())
	}
	if r.sc.natsProxy {
		if r.nProxy, err = newProxy("nats", fmt.Sprintf("127.0.0.1:%d", ns.port)); err != nil {
			return err
		}
		r.serviceNATSURL = fmt.Sprintf("nats://127.0.0.1:%d", r.nProxy.port())
	}

	sctx, stopScrape := context.WithCancel(ctx)
	defer stopScrape()
	for i := 0; i < r.sc.slots; i++ {
		s := r.newSlot("serve-"+string(rune('a'+i)), r.sc.env...)
		s.start()
	}
	go r.scrape(sctx)
	if err := r.waitLeader(ctx, 60*time.Second); err != nil {
		return err
	}

	r.pub = newPublisher(r.js, workloadConfig(seed), r.sc.rate, r.sc.max, r.sc.dur)
	pctx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go r.pub.run(pctx)
	r.logf("publishing up to %d events at %.0f/s for at most %s", r.sc.max, r.sc.rate, r.sc.dur)

	if r.sc.faults != nil {
		if err := r.sc.faults(ctx, r); err != nil {
			return fmt.Errorf("faults: %w", err)
		}
	}
	select {
	case <-r.pub.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.logf("publisher done: %d acknowledged; waiting until the ledger is quiet", r.pub.ackedN)
	took, qerr := r.waitQuiet(ctx, 3*time.Minute)
	if qerr != nil {
		r.addCheck(invResult{name: "quiet after the faults", ok: false, summary: qerr.Error()})
	} else {
		r.logf("quiet %s after the last publish", took.Round(100*time.Millisecond))
	}
	r.quietAfter = took
	stopScrape()

	lctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	st, err := r.loadState(lctx)
	if err != nil {
		return fmt.Errorf("read the outcome: %w", err)
	}
	r.results = []invResult{
		checkNothingLost(st, r.pub),
		r.checkNothingTwice(lctx, st),
		r.checkBooksBalance(lctx, st),
		checkEverythingPublished(st),
		checkNothingStuck(st),
	}
	for _, f := range r.afterQuiet {
		f(lctx)
	}
	r.crashCheck()
	r.fillTable(st)
	return nil
}

// waitLeader waits until some serve instance holds the consumer.
func (r *run) waitLeader(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, s := range r.slots {
			if s.isLeader() {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no serve instance took the consumer within %s (logs under %s)", timeout, r.dir)
}

// leader returns the slot whose process holds the consumer, waiting up to
// timeout for one.
func (r *run) leader(timeout time.Duration) *slot {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, s := range r.slots {
			if s.isLeader() {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// crashCheck fails the scenario when a serve process exited on its own:
// the ledger must wait out every fault without operator help.
func (r *run) crashCheck() {
	c := invResult{name: "serve kept running without operator help", ok: true}
	n := 0
	for _, s := range r.slots {
		s.mu.Lock()
		for _, x := range s.crashes {
			c.fail("%s: %s", s.name, x)
		}
		n += len(s.crashes)
		s.mu.Unlock()
	}
	c.summary = fmt.Sprintf("%d unexpected exits", n)
	r.addCheck(c)
}

func (r *run) teardown() {
	for _, s := range r.slots {
		s.stop()
	}
	if r.pgProxy != nil {
		r.pgProxy.close()
	}
	if r.nProxy != nil {
		r.nProxy.close()
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.nats != nil {
		r.nats.stop()
	}
	if r.db != nil {
		r.db.Close()
	}
	// serve's stop is part of the contract (SIGTERM, cleanly): a process
	// that had to be killed is reported by crashCheck, which ran before;
	// check again for what stop found.
	for _, s := range r.slots {
		s.mu.Lock()
		for _, x := range s.crashes {
			if strings.Contains(x, "did not stop") {
				r.checks = append(r.checks, invResult{name: "serve stops on SIGTERM", summary: x})
			}
		}
		s.mu.Unlock()
	}
}
