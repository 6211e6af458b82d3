package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fundledger/fundledger/events"
	fljs "github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/workload"
	wljs "github.com/fundledger/fundledger/workload/jetstream"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// bench is one benchmark session: a PostgreSQL cluster (superuser URL), a
// nats-server binary, the fundledger binary to exec as `serve`, and a work
// directory. Every run gets a fresh database and its own serve process;
// every measure its own nats-server with file storage.
type bench struct {
	adminURL string
	natsBin  string
	exe      string
	work     string
	scale    float64
	runs     int
	pprof    bool
	out      io.Writer
	log      io.Writer
	dbSeq    int
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	b := &bench{out: os.Stdout, log: os.Stderr}
	scale := env("BENCH_SCALE", "1")
	fs.StringVar(&b.exe, "serve", env("BENCH_SERVE", ".data/bin/fundledger"), "the fundledger binary run as `serve` (scripts/bench.sh builds it) (BENCH_SERVE)")
	fs.StringVar(&b.adminURL, "database-url", os.Getenv("DATABASE_URL"), "superuser URL of the PostgreSQL cluster; each run creates and drops its own database (DATABASE_URL)")
	fs.StringVar(&b.natsBin, "nats-server", env("NATS_SERVER_BIN", ".data/bin/nats-server"), "nats-server binary (scripts/nats-server-ensure.sh builds it) (NATS_SERVER_BIN)")
	fs.StringVar(&b.work, "work", ".data/bench", "work directory (JetStream stores, logs); emptied first")
	fs.StringVar(&scale, "scale", scale, "size factor of every measure; 0.1 for a quick run (BENCH_SCALE)")
	fs.IntVar(&b.runs, "runs", 3, "runs of each measure; the median is reported")
	only := fs.String("only", env("BENCH_ONLY", "a,b,c,d,f"), "measures to run, from a,b,c,d,f (e, the peak RSS, comes with every run) (BENCH_ONLY)")
	fs.BoolVar(&b.pprof, "pprof", os.Getenv("BENCH_PPROF") == "1", "run serve with FUNDLEDGER_PPROF=1 and save a 20s CPU profile of each first run (BENCH_PPROF=1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	var err error
	if b.scale, err = strconv.ParseFloat(scale, 64); err != nil || b.scale <= 0 || b.scale > 10 {
		return usageError{"--scale is a number above 0, at most 10"}
	}
	if b.adminURL == "" {
		return usageError{"DATABASE_URL (a superuser URL) is required; scripts/bench.sh sets it"}
	}
	if b.runs < 1 {
		return usageError{"--runs is at least 1"}
	}
	if b.exe, err = filepath.Abs(b.exe); err != nil {
		return err
	}
	if _, err := os.Stat(b.exe); err != nil {
		return fmt.Errorf("--serve: %w (scripts/bench.sh builds .data/bin/fundledger)", err)
	}
	if _, err := os.Stat(b.natsBin); err != nil {
		return fmt.Errorf("nats-server binary: %w (run scripts/nats-server-ensure.sh)", err)
	}
	if err := os.RemoveAll(b.work); err != nil {
		return err
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	if b.work, err = filepath.Abs(b.work); err != nil {
		return err
	}
	if err := b.header(ctx); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, k := range strings.Split(*only, ",") {
		want[strings.TrimSpace(k)] = true
	}
	start := time.Now()
	var rows []benchRow
	var rss []float64
	add := func(rs []benchRow, peak []float64) {
		rows = append(rows, rs...)
		rss = append(rss, peak...)
		b.table(rows, rss, false)
	}
	// Sizes at scale 1, chosen so the whole bench takes about 20 minutes on
	// the 2-core machine: the brief's targets (1,000,000 events, 10,000,000
	// transactions of history) are BENCH_SCALE=2.5 for (a) and (b) and
	// BENCH_SCALE=5 for (f); docs/performance.md has numbers at both.
	n := func(x float64) int { return max(1, int(math.Round(x*b.scale))) }
	if want["a"] {
		rs, peak, err := b.throughput(ctx, "a", fmt.Sprintf("(a) single-grant events/s, %d events over 39 funds", n(4e5)), benchSingles(38, n(4e5)), "events", nil)
		if err != nil {
			return err
		}
		add(rs, peak)
	}
	if want["b"] {
		rs, peak, err := b.throughput(ctx, "b", fmt.Sprintf("(b) single-grant events/s, %d events in one fund", n(4e5)), benchSingles(0, n(4e5)), "events", nil)
		if err != nil {
			return err
		}
		add(rs, peak)
	}
	if want["c"] {
		cfg := benchBatches(n(5e5))
		lines := (cfg.Funds * cfg.Months) * cfg.BatchLines
		rs, peak, err := b.throughput(ctx, "c", fmt.Sprintf("(c) batch lines/s, %d lines in batches of 10,000", lines), cfg, "lines", nil)
		if err != nil {
			return err
		}
		add(rs, peak)
	}
	if want["d"] {
		rs, peak, err := b.latency(ctx, 2000, time.Duration(max(10, int(30*b.scale)))*time.Second)
		if err != nil {
			return err
		}
		add(rs, peak)
	}
	if want["f"] {
		rs, peak, err := b.growth(ctx, n(2e6), n(1e5))
		if err != nil {
			return err
		}
		add(rs, peak)
	}
	fmt.Fprintf(b.out, "\nwhole bench: %s; load average at the end: %s\n", time.Since(start).Round(time.Second), benchLoadAvg())
	b.table(rows, rss, true)
	return nil
}

// benchRow is one measure's runs.
type benchRow struct {
	name string
	unit string
	runs []float64
	note string
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (b *bench) table(rows []benchRow, rss []float64, final bool) {
	w := b.log
	if final {
		w = b.out
		fmt.Fprintln(w, "\nRESULTS (median of the runs)")
	} else {
		fmt.Fprintln(w, "\nbench: results so far")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := "measure\tunit"
	for i := 1; i <= b.runs; i++ {
		hdr += fmt.Sprintf("\trun %d", i)
	}
	fmt.Fprintln(tw, hdr+"\tmedian\t")
	for _, r := range rows {
		line := r.name + "\t" + r.unit
		for i := 0; i < b.runs; i++ {
			if i < len(r.runs) {
				line += "\t" + benchNum(r.runs[i])
			} else {
				line += "\t-"
			}
		}
		fmt.Fprintln(tw, line+"\t"+benchNum(median(r.runs))+"\t"+r.note)
	}
	if len(rss) > 0 {
		mx := 0.0
		for _, x := range rss {
			mx = math.Max(mx, x)
		}
		fmt.Fprintf(tw, "(e) peak RSS of serve (VmHWM) over all %d runs\tMiB", len(rss))
		for i := 0; i < b.runs; i++ {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprintf(tw, "\t%s\tmax %s\t\n", benchNum(median(rss)), benchNum(mx))
	}
	tw.Flush()
}

func benchNum(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// header prints the settings and the machine, so a number is never read
// without them.
func (b *bench) header(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer conn.Close(context.Background())
	fmt.Fprintln(b.out, "fundledger bench")
	fmt.Fprintln(b.out, "\nSETTINGS")
	var version string
	_ = conn.QueryRow(ctx, `SELECT version()`).Scan(&version)
	fmt.Fprintf(b.out, "  PostgreSQL          %s\n", version)
	for _, s := range []string{"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers", "max_wal_size", "checkpoint_timeout"} {
		var v string
		if err := conn.QueryRow(ctx, "SHOW "+s).Scan(&v); err != nil {
			return err
		}
		fmt.Fprintf(b.out, "  %-19s %s\n", s, v)
	}
	nv, _ := exec.Command(b.natsBin, "--version").CombinedOutput()
	fmt.Fprintf(b.out, "  NATS                %s, JetStream file storage, default sync interval (2m), max_payload 8MB\n", strings.TrimSpace(string(nv)))
	fmt.Fprintf(b.out, "  serve               separate process `fundledger serve`, default settings (FUNDLEDGER_BATCH 2000, SNAPSHOT_EVERY 10000)\n")
	fmt.Fprintf(b.out, "  scale               %g (BENCH_SCALE), %d runs per measure, each on a fresh database\n", b.scale, b.runs)
	fmt.Fprintln(b.out, "\nMACHINE")
	fmt.Fprintf(b.out, "  nproc               %d\n", runtime.NumCPU())
	fmt.Fprintf(b.out, "  memory              %s\n", benchProcField("/proc/meminfo", "MemTotal"))
	fmt.Fprintf(b.out, "  CPU                 %s\n", benchProcField("/proc/cpuinfo", "model name"))
	fmt.Fprintf(b.out, "  Go                  %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(b.out, "  load average        %s (other work on the machine skews every number)\n", benchLoadAvg())
	return nil
}

func benchProcField(path, field string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == field {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func benchLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchSingles is a stream of single grants, each approved and paid in
// full: n messages or a little more, over the city and `districts` funds.
func benchSingles(districts, n int) workload.Config {
	c := workload.Config{Seed: 1, Funds: districts, CityGrants: true, Year: 2026, Months: 12}
	c.GrantsPerMonth = max(1, (n+2*(districts+1)*12-1)/(2*(districts+1)*12))
	return c
}

// benchBatches is a stream of pension batches of 10,000 lines, n lines or
// a little more.
func benchBatches(n int) workload.Config {
	batches := max(1, (n+9999)/10000)
	months := (batches + len(workload.Districts) - 1) / len(workload.Districts)
	funds := (batches + months - 1) / months
	return workload.Config{Seed: 1, Funds: funds, Year: 2026, Months: months, BatchLines: 10000}
}

// natsProc is a nats-server of one measure.
type natsProc struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	done chan struct{}
}

func benchFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (b *bench) startNATS(ctx context.Context, name string) (*natsProc, error) {
	dir := filepath.Join(b.work, name, "nats")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := benchFreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nats.conf")
	// Only loopback; 8 MiB payloads as the contract asks of an external
	// server; file storage.
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: 8MB\nmax_pending: 256MB\njetstream {\n  store_dir: %q\n  max_file_store: 64GB\n  max_memory_store: 256MB\n}\n", port, filepath.Join(dir, "store"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "nats.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.natsBin, "-c", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &natsProc{cmd: cmd, url: fmt.Sprintf("nats://127.0.0.1:%d", port), dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	for i := 0; i < 100; i++ {
		if nc, err := nats.Connect(p.url); err == nil {
			nc.Close()
			return p, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("nats-server did not start (see %s)", filepath.Join(dir, "nats.log"))
}

func (p *natsProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// preload creates the streams (as serve would) and publishes cfg's
// stream, less the messages drop refuses.
func (b *bench) preload(ctx context.Context, p *natsProc, cfg workload.Config, drop func(workload.Msg) bool) (workload.Expected, uint64, error) {
	nc, err := nats.Connect(p.url)
	if err != nil {
		return workload.Expected{}, 0, err
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return workload.Expected{}, 0, err
	}
	if err := fljs.EnsureStreams(ctx, js); err != nil {
		return workload.Expected{}, 0, err
	}
	pub := wljs.NewPublisher(js, 4000)
	t0 := time.Now()
	var bytes int64
	exp, err := workload.Generate(cfg, func(m workload.Msg) error {
		if drop != nil && drop(m) {
			return nil
		}
		bytes += int64(len(m.Data))
		return pub.Publish(ctx, m)
	})
	if err == nil {
		err = pub.Flush(ctx)
	}
	if err != nil {
		return exp, 0, err
	}
	d := time.Since(t0)
	fmt.Fprintf(b.log, "bench: preloaded %d messages (%.0f MB) in %.1fs (%.0f/s generated and published)\n",
		pub.Acked, float64(bytes)/1e6, d.Seconds(), float64(pub.Acked)/d.Seconds())
	return exp, pub.LastSeq, nil
}

// benchDB creates a fresh database, from template when not empty.
func (b *bench) createDB(ctx context.Context, template string) (name, dbURL string, err error) {
	b.dbSeq++
	name = fmt.Sprintf("fl_bench_%d_%d", os.Getpid(), b.dbSeq)
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return "", "", err
	}
	defer conn.Close(context.Background())
	sql := "CREATE DATABASE " + name
	if template != "" {
		sql += " TEMPLATE " + template + " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return "", "", err
	}
	u, err := url.Parse(b.adminURL)
	if err != nil {
		return "", "", err
	}
	u.Path = "/" + name
	return name, u.String(), nil
}

func (b *bench) dropDB(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

// serveProc is a `fundledger serve` child process.
type serveProc struct {
	cmd  *exec.Cmd
	http string
	done chan struct{}
}

func (b *bench) startServe(dbURL, natsURL, logName string) (*serveProc, error) {
	port, err := benchFreePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(b.work, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.exe, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "NATS_URL="+natsURL,
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "FUNDLEDGER_DATA_DIR="+filepath.Join(b.work, "serve-data"))
	if b.pprof {
		cmd.Env = append(cmd.Env, "FUNDLEDGER_PPROF=1", "FUNDLEDGER_PPROF_ADDR=127.0.0.1:6061")
	} else {
		cmd.Env = append(cmd.Env, "FUNDLEDGER_PPROF=")
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serveProc{cmd: cmd, http: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(s.done) }()
	return s, nil
}

// peakRSS is the process's high-water resident set (VmHWM) in MiB.
func (s *serveProc) peakRSS() float64 {
	v := benchProcField(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid), "VmHWM")
	kb, _ := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
	return kb / 1024
}

func (s *serveProc) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("serve did not stop within 60s of SIGTERM")
	}
}

// catchUp is how one serve run went through a preloaded stream.
type catchUp struct {
	start, applied, relayed time.Duration // from the lease, to the last event, to an empty outbox
	txns                    int64
}

// watch polls the run's database until the consumer position reaches
// last and the outbox is empty. The clock starts when serve takes the
// consumer lease (its migrations and connections are not counted).
func (b *bench) watch(ctx context.Context, dbURL string, s *serveProc, last uint64, profile string) (catchUp, error) {
	var c catchUp
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return c, err
	}
	defer conn.Close(context.Background())
	began := time.Now()
	var leased time.Time
	deadline := began.Add(2 * time.Hour)
	lastPrint := began
	profiled := profile == ""
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return c, errors.New("serve exited during the run (see its log in the work directory)")
		default:
		}
		var pos int64
		err := conn.QueryRow(ctx, `SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'`).Scan(&pos)
		now := time.Now()
		if err == nil {
			if leased.IsZero() {
				leased = now
				c.start = now.Sub(began)
			}
			if !profiled && now.Sub(leased) > 2*time.Second {
				profiled = true
				go benchProfile(profile)
			}
			if uint64(pos) >= last {
				if c.applied == 0 {
					c.applied = now.Sub(leased)
				}
				var outbox int64
				if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&outbox); err == nil && outbox == 0 {
					c.relayed = now.Sub(leased)
					err := conn.QueryRow(ctx, `SELECT count(*) FROM journal`).Scan(&c.txns)
					return c, err
				}
			}
			if now.Sub(lastPrint) > 10*time.Second {
				lastPrint = now
				fmt.Fprintf(b.log, "bench:   %d/%d after %.0fs (%.0f/s so far), RSS %.0f MiB\n", pos, last,
					now.Sub(leased).Seconds(), float64(pos)/now.Sub(leased).Seconds(), s.peakRSS())
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c, errors.New("the run did not finish in 2 hours")
}

func benchProfile(path string) {
	resp, err := http.Get("http://127.0.0.1:6061/debug/pprof/profile?seconds=20")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// throughput preloads a stream once, then runs serve over it from a fresh
// database b.runs times. template, when not empty, is the database each
// run starts from.
func (b *bench) throughput(ctx context.Context, key, title string, cfg workload.Config, unit string, template *benchTemplate) ([]benchRow, []float64, error) {
	fmt.Fprintf(b.log, "\nbench: %s\n", title)
	p, err := b.startNATS(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	defer p.stop()
	var drop func(workload.Msg) bool
	if template != nil {
		drop = func(m workload.Msg) bool { return m.Kind == events.TypeFundOpened } // the template opened the funds
	}
	exp, last, err := b.preload(ctx, p, cfg, drop)
	if err != nil {
		return nil, nil, err
	}
	row := benchRow{name: title, unit: unit + "/s"}
	txRow := benchRow{name: "    journal transactions/s in the same runs", unit: "txns/s"}
	relRow := benchRow{name: "    incl. relaying the outbox to LEDGER_OUT", unit: unit + "/s"}
	var rss []float64
	for run := 1; run <= b.runs; run++ {
		tmpl := ""
		if template != nil {
			tmpl = template.name
		}
		name, dbURL, err := b.createDB(ctx, tmpl)
		if err != nil {
			return nil, nil, err
		}
		if err := b.resetOutStream(ctx, p.url); err != nil {
			b.dropDB(name)
			return nil, nil, err
		}
		s, err := b.startServe(dbURL, p.url, fmt.Sprintf("serve-%s-%d.log", key, run))
		if err != nil {
			b.dropDB(name)
			return nil, nil, err
		}
		profile := ""
		if b.pprof && run == 1 {
			profile = filepath.Join(b.work, "cpu-"+key+".pprof")
		}
		c, err := b.watch(ctx, dbURL, s, last, profile)
		peak := s.peakRSS()
		serr := s.stop()
		b.dropDB(name)
		if err != nil {
			return nil, nil, err
		}
		if serr != nil {
			return nil, nil, serr
		}
		work := float64(last)
		if unit == "lines" {
			work = float64(exp.BatchLines)
		}
		base := int64(0)
		if template != nil {
			base = template.txns
		}
		row.runs = append(row.runs, work/c.applied.Seconds())
		txRow.runs = append(txRow.runs, float64(c.txns-base)/c.applied.Seconds())
		relRow.runs = append(relRow.runs, work/c.relayed.Seconds())
		rss = append(rss, peak)
		fmt.Fprintf(b.log, "bench: %s run %d: %.0f %s in %.1fs = %.0f/s (%.0f txns/s; outbox relayed after %.1fs); serve peak RSS %.0f MiB\n",
			key, run, work, unit, c.applied.Seconds(), work/c.applied.Seconds(), float64(c.txns-base)/c.applied.Seconds(), c.relayed.Seconds(), peak)
		if c.txns-base != exp.Txns {
			return nil, nil, fmt.Errorf("%s run %d: %d journal transactions, the workload expected %d", key, run, c.txns-base, exp.Txns)
		}
	}
	row.note = fmt.Sprintf("stream of %d messages", last)
	return []benchRow{row, txRow, relRow}, rss, nil
}

// resetOutStream deletes LEDGER_OUT between runs, so each run relays into
// an empty stream (serve creates it again).
func (b *bench) resetOutStream(ctx context.Context, natsURL string) error {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return err
	}
	if err := js.DeleteStream(ctx, events.OutboundStream); err != nil && !errors.Is(err, njs.ErrStreamNotFound) {
		return err
	}
	return nil
}

// latency offers single-grant events at rate per second for d, with serve
// already running, and measures from each publish to the first
// ledger.<fund>.posted message that names the event.
func (b *bench) latency(ctx context.Context, rate int, d time.Duration) ([]benchRow, []float64, error) {
	title := fmt.Sprintf("(d) publish-to-posted latency at %d events/s offered, %s", rate, d)
	fmt.Fprintf(b.log, "\nbench: %s\n", title)
	total := int(float64(rate) * d.Seconds())
	cfg := benchSingles(38, total)
	var msgs []workload.Msg
	_, err := workload.Generate(cfg, func(m workload.Msg) error {
		msgs = append(msgs, m)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	msgs = msgs[:min(len(msgs), total)]
	p50 := benchRow{name: title + ": p50", unit: "ms"}
	p99 := benchRow{name: "    p99", unit: "ms"}
	pmax := benchRow{name: "    max", unit: "ms"}
	var rss []float64
	for run := 1; run <= b.runs; run++ {
		p, err := b.startNATS(ctx, fmt.Sprintf("d%d", run))
		if err != nil {
			return nil, nil, err
		}
		name, dbURL, err := b.createDB(ctx, "")
		if err != nil {
			p.stop()
			return nil, nil, err
		}
		lat, matched, peak, err := b.latencyRun(ctx, p, dbURL, msgs, rate, run)
		b.dropDB(name)
		p.stop()
		if err != nil {
			return nil, nil, err
		}
		sort.Float64s(lat)
		q := func(f float64) float64 { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
		p50.runs = append(p50.runs, q(0.50))
		p99.runs = append(p99.runs, q(0.99))
		pmax.runs = append(pmax.runs, lat[len(lat)-1])
		rss = append(rss, peak)
		fmt.Fprintf(b.log, "bench: d run %d: %d events matched; p50 %.1f ms, p99 %.1f ms, max %.1f ms; serve peak RSS %.0f MiB\n",
			run, matched, q(0.5), q(0.99), lat[len(lat)-1], peak)
	}
	p50.note = fmt.Sprintf("%d events a run", len(msgs))
	return []benchRow{p50, p99, pmax}, rss, nil
}

func (b *bench) latencyRun(ctx context.Context, p *natsProc, dbURL string, msgs []workload.Msg, rate, run int) ([]float64, int, float64, error) {
	s, err := b.startServe(dbURL, p.url, fmt.Sprintf("serve-d-%d.log", run))
	if err != nil {
		return nil, 0, 0, err
	}
	defer s.stop()
	// Ready when /healthz says this instance leads the consumer.
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + s.http + "/healthz")
		if err == nil {
			var h struct{ Consumer string }
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Consumer == "leader" {
				break
			}
		}
		if i > 600 {
			return nil, 0, 0, errors.New("serve not ready in 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	nc, err := nats.Connect(p.url)
	if err != nil {
		return nil, 0, 0, err
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return nil, 0, 0, err
	}
	var mu sync.Mutex
	sent := make(map[string]time.Time, len(msgs))
	var lat []float64
	got := map[string]bool{}
	sub, err := nc.Subscribe("ledger.*.posted", func(m *nats.Msg) {
		now := time.Now()
		var t struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(m.Data, &t) != nil {
			return
		}
		mu.Lock()
		if at, ok := sent[t.EventID]; ok && !got[t.EventID] {
			got[t.EventID] = true
			lat = append(lat, float64(now.Sub(at).Microseconds())/1000)
		}
		mu.Unlock()
	})
	if err != nil {
		return nil, 0, 0, err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return nil, 0, 0, err
	}
	// Events that post a transaction; fund.opened posts none.
	want := 0
	for _, m := range msgs {
		if m.Kind != events.TypeFundOpened {
			want++
		}
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	var futures []njs.PubAckFuture
	for i, m := range msgs {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > time.Millisecond {
			time.Sleep(d)
		}
		mu.Lock()
		sent[m.ID] = time.Now()
		mu.Unlock()
		f, err := js.PublishAsync(m.Subject, m.Data, njs.WithMsgID(m.ID))
		if err != nil {
			return nil, 0, 0, err
		}
		futures = append(futures, f)
	}
	offered := float64(len(msgs)) / time.Since(start).Seconds()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return nil, 0, 0, err
		case <-time.After(60 * time.Second):
			return nil, 0, 0, errors.New("no publish acknowledgement in 60s")
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			return nil, 0, 0, fmt.Errorf("only %d of %d events posted within 2 minutes of the last publish", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(b.log, "bench: d run %d: offered %.0f events/s\n", run, offered)
	mu.Lock()
	defer mu.Unlock()
	return append([]float64(nil), lat...), len(lat), s.peakRSS(), nil
}

// growth measures (a)'s kind of stream on a journal that already holds
// prefill transactions, against the same funds with an empty journal.
func (b *bench) growth(ctx context.Context, prefill, events int) ([]benchRow, []float64, error) {
	fmt.Fprintf(b.log, "\nbench: (f) cost growth: %d events on an empty journal, then on one with %d transactions\n", events, prefill)
	var rows []benchRow
	var rss []float64
	for _, k := range []int{0, prefill} {
		t, err := b.buildTemplate(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		title := "(f) events/s, empty journal (39 funds open)"
		if k > 0 {
			title = fmt.Sprintf("(f) events/s, %d transactions already in the journal", k)
		}
		rs, peak, err := b.throughput(ctx, fmt.Sprintf("f%d", k), title, benchSingles(38, events), "events", t)
		b.dropDB(t.name)
		if err != nil {
			return nil, nil, err
		}
		rs[0].note += fmt.Sprintf("; template built in %s", t.took.Round(time.Second))
		rows = append(rows, rs[0], rs[1])
		rss = append(rss, peak...)
	}
	return rows, rss, nil
}
