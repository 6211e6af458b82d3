package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	fljs "github.com/fundledger/fundledger/events/jetstream"
	"github.com/fundledger/fundledger/workload"
	wljs "github.com/fundledger/fundledger/workload/jetstream"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// Names from the wire contract (CONTRACT.md): the bench only reads them.
const (
	inboundStream  = "FUND_EVENTS"
	outboundStream = "LEDGER_OUT"
	postedSubjects = "ledger.*.posted" // one message per journal transaction posted
	typeFundOpened = "fund.opened"
)

// binary is a fundledger binary the bench runs as `serve`: "new" is
// --serve, "old" is --compare.
type binary struct {
	label string
	path  string
}

// bench is one benchmark session: a PostgreSQL cluster (superuser URL), a
// nats-server binary, the fundledger binaries to exec as `serve`, and a
// work directory. Every run gets a fresh database and its own serve
// process; every measure its own nats-server with file storage.
type bench struct {
	adminURL string
	natsBin  string
	bins     []binary // the order runs alternate in: old, then new
	work     string
	scale    float64
	runs     int
	pprof    bool
	floorDur time.Duration
	out      io.Writer
	log      io.Writer
	dbSeq    int
}

func (b *bench) labels() []string {
	if len(b.bins) == 2 {
		return labelsBoth
	}
	return labelsOne
}

// tag names a run's binary in log lines and file names when there are two.
func (b *bench) tag(bin binary) string {
	if len(b.bins) == 1 {
		return ""
	}
	return " " + bin.label
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
	for i := len(b.bins) - 1; i >= 0; i-- {
		bin := b.bins[i]
		fmt.Fprintf(b.out, "  %-19s %s (%s)\n", bin.label+" binary", bin.path, binaryVersion(bin.path))
	}
	if len(b.bins) == 2 {
		fmt.Fprintf(b.out, "  compare             every measure alternates old and new run by run (old 1, new 1, old 2, ...)\n")
	}
	fmt.Fprintf(b.out, "  scale               %g (BENCH_SCALE), %d runs per measure and binary, each on a fresh database\n", b.scale, b.runs)
	fmt.Fprintln(b.out, "\nMACHINE")
	fmt.Fprintf(b.out, "  nproc               %d\n", runtime.NumCPU())
	fmt.Fprintf(b.out, "  memory              %s\n", procField("/proc/meminfo", "MemTotal"))
	fmt.Fprintf(b.out, "  CPU                 %s\n", procField("/proc/cpuinfo", "model name"))
	fmt.Fprintf(b.out, "  Go                  %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(b.out, "  load average        %s (other work on the machine skews every number)\n", loadAvg())
	return nil
}

// binaryVersion is what the Go toolchain recorded in a binary: the commit
// it was built from, whether the tree had changes, and the build time.
func binaryVersion(path string) string {
	var parts []string
	if info, err := buildinfo.ReadFile(path); err == nil {
		set := map[string]string{}
		for _, s := range info.Settings {
			set[s.Key] = s.Value
		}
		if rev := set["vcs.revision"]; rev != "" {
			r := "commit " + rev[:min(len(rev), 12)]
			if set["vcs.modified"] == "true" {
				r += " with uncommitted changes"
			}
			parts = append(parts, r)
		}
	}
	if st, err := os.Stat(path); err == nil {
		parts = append(parts, "built "+st.ModTime().UTC().Format("2006-01-02 15:04Z"))
	}
	if len(parts) == 0 {
		return "no build information"
	}
	return strings.Join(parts, ", ")
}

func procField(path, field string) string {
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

func loadAvg() string {
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

// singles is a stream of single grants, each approved and paid in full: n
// messages or a little more, over the city and `districts` funds.
func singles(districts, n int) workload.Config {
	c := workload.Config{Seed: 1, Funds: districts, CityGrants: true, Year: 2026, Months: 12}
	c.GrantsPerMonth = max(1, (n+2*(districts+1)*12-1)/(2*(districts+1)*12))
	return c
}

// batches is a stream of pension batches of 10,000 lines, n lines or a
// little more.
func batches(n int) workload.Config {
	count := max(1, (n+9999)/10000)
	months := (count + len(workload.Districts) - 1) / len(workload.Districts)
	funds := (count + months - 1) / months
	return workload.Config{Seed: 1, Funds: funds, Year: 2026, Months: months, BatchLines: 10000}
}

// natsProc is a nats-server of one measure.
type natsProc struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	done chan struct{}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (b *bench) startNATS(name string) (*natsProc, error) {
	dir := filepath.Join(b.work, name, "nats")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
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

// createDB creates a fresh database, from template when not empty.
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
	return name, b.dbURL(name), nil
}

// dbURL is the admin URL with another database.
func (b *bench) dbURL(name string) string {
	u, err := url.Parse(b.adminURL)
	if err != nil {
		return b.adminURL // checked in header: pgx parsed it
	}
	u.Path = "/" + name
	return u.String()
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

func (b *bench) startServe(bin binary, dbURL, natsURL, logName string) (*serveProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(b.work, logName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin.path, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "NATS_URL="+natsURL,
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "FUNDLEDGER_DATA_DIR="+filepath.Join(b.work, "serve-data"),
		// the signing key outside the data dir, never in $HOME (each run's
		// fresh database takes it as its first key)
		"FUNDLEDGER_SIGNING_KEY_FILE="+filepath.Join(b.work, "serve-signing.key"))
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
	v := procField(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid), "VmHWM")
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

func profile(path string) {
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
