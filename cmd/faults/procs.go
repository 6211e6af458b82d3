package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// harness owns what lives for the whole run: the throwaway PostgreSQL
// cluster (started by the script, stopped and started again here) and the
// file where every child's pid is written so the script can end leftovers
// by pid.
type harness struct {
	cfg         config
	admin       *pgxpool.Pool // superuser, database postgres
	pidMu       sync.Mutex
	pidFile     *os.File
	natsVersion string
	pgVersion   string
}

func newHarness(ctx context.Context, cfg config) (*harness, error) {
	h := &harness{cfg: cfg}
	f, err := os.OpenFile(filepath.Join(cfg.WorkDir, "pids"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	h.pidFile = f
	pool, err := pgxpool.New(ctx, h.pgURL("postgres", cfg.PGPort))
	if err != nil {
		return nil, err
	}
	h.admin = pool
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&h.pgVersion); err != nil {
		return nil, fmt.Errorf("PostgreSQL on port %d: %w", cfg.PGPort, err)
	}
	var fsync string
	if err := pool.QueryRow(ctx, `SELECT current_setting('fsync')`).Scan(&fsync); err != nil || fsync != "on" {
		return nil, fmt.Errorf("the throwaway cluster must run with fsync=on (got %q, %v)", fsync, err)
	}
	out, err := exec.Command(cfg.NATSServer, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("nats-server --version: %w", err)
	}
	h.natsVersion = strings.TrimSpace(string(out))
	return h, nil
}

func (h *harness) close() {
	h.admin.Close()
	h.pidFile.Close()
}

// pgURL is a superuser URL to db through port (the cluster's, or a proxy's).
func (h *harness) pgURL(db string, port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&application_name=faults", port, db)
}

// serviceURL is the URL serve gets: the same login without the suite's
// application_name, so the suite can tell serve's backends from its own in
// pg_stat_activity.
func (h *harness) serviceURL(db string, port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, db)
}

func (h *harness) notePid(pid int, what string) {
	h.pidMu.Lock()
	defer h.pidMu.Unlock()
	fmt.Fprintf(h.pidFile, "%d %s\n", pid, what)
}

// pgCtl runs pg_ctl on the throwaway cluster as its owner.
func (h *harness) pgCtl(args ...string) error {
	full := append([]string{filepath.Join(h.cfg.PGBinDir, "pg_ctl"), "-D", h.cfg.PGData}, args...)
	var cmd *exec.Cmd
	if h.cfg.PGOSUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", h.cfg.PGOSUser, "--"}, full...)...)
	} else {
		cmd = exec.Command(full[0], full[1:]...)
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pgStopImmediate stops PostgreSQL as a crash would: no checkpoint, every
// backend killed; the next start runs crash recovery.
func (h *harness) pgStopImmediate() error {
	return h.pgCtl("stop", "-m", "immediate", "-w", "-t", "60")
}

func (h *harness) pgStart() error {
	args := []string{"start", "-w", "-t", "120"}
	if h.cfg.PGLog != "" {
		args = append(args, "-l", h.cfg.PGLog)
	}
	return h.pgCtl(args...)
}

// freePort asks the kernel for a free loopback port.
func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// --- nats-server --------------------------------------------------------

// natsServer is a real nats-server process with a file store that syncs
// every write (sync_interval: always), on a fixed loopback port so a
// restart comes back at the same address.
type natsServer struct {
	h       *harness
	bin     string
	dir     string
	port    int
	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
}

func newNATSServer(h *harness, dir string) (*natsServer, error) {
	n := &natsServer{h: h, bin: h.cfg.NATSServer, dir: dir, port: freePort(), logPath: filepath.Join(dir, "nats-server.log")}
	if err := os.MkdirAll(filepath.Join(dir, "jetstream"), 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`# written by the fault suite
listen: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
  sync_interval: always
}
`, n.port, filepath.Join(dir, "jetstream"))
	if err := os.WriteFile(filepath.Join(dir, "nats-server.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return n, n.start()
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsServer) start() error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.bin, "-c", filepath.Join(n.dir, "nats-server.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	n.h.notePid(cmd.Process.Pid, "nats-server")
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	// Ready when JetStream answers (it may replay its store first).
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("nats-server exited at start; see %s", n.logPath)
		default:
		}
		nc, err := nats.Connect(n.url(), nats.Timeout(time.Second))
		if err == nil {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nats-server did not answer within 60s; see %s", n.logPath)
}

// kill9 kills the server with SIGKILL and waits for it to be gone.
func (n *natsServer) kill9() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop ends the server cleanly at the end of a scenario.
func (n *natsServer) stop() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// --- fundledger serve -----------------------------------------------------

// proc is one serve process.
type proc struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	done    chan struct{}
	state   *os.ProcessState
	killed  atomic.Bool // the suite sent SIGKILL

	mu      sync.Mutex
	metrics map[string]float64 // last scrape
	leader  bool               // last scrape said it holds the consumer
}

func (p *proc) wasLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leader
}

func (p *proc) lastMetrics() map[string]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string]float64{}
	for k, v := range p.metrics {
		m[k] = v
	}
	return m
}

// slot is one serve instance that the suite keeps running: when its
// process dies (killed by the suite, by a failpoint, or on its own) it is
// started again at once with the same settings, until the slot is stopped.
type slot struct {
	r        *run
	name     string
	dataDir  string
	httpAddr string
	logPath  string

	mu       sync.Mutex
	env      []string
	cur      *proc
	active   bool
	stopped  chan struct{}
	starts   int
	kills    int // SIGKILLs sent by the suite
	fpDeaths int // deaths by SIGKILL the suite did not send: failpoints
	crashes  []string
	totals   map[string]float64 // metrics of processes that ended
	stopping atomic.Bool
	suspend  atomic.Bool   // a SIGSTOPped process is not scraped
	hold     chan struct{} // while not nil, a dead process is not restarted (under mu)
}

// holdRestarts keeps the slot's next dead process dead until release.
func (s *slot) holdRestarts() {
	s.mu.Lock()
	s.hold = make(chan struct{})
	s.mu.Unlock()
}

// release lets a held slot restart its process.
func (s *slot) release() {
	s.mu.Lock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
	s.mu.Unlock()
}

func (r *run) newSlot(name string, env ...string) *slot {
	s := &slot{r: r, name: name, dataDir: filepath.Join(r.dir, name), httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort()),
		logPath: filepath.Join(r.dir, name+".log"), env: env, totals: map[string]float64{}, stopped: make(chan struct{})}
	_ = os.MkdirAll(s.dataDir, 0o755)
	r.slots = append(r.slots, s)
	return s
}

// setEnv replaces the slot's extra environment for its next start.
func (s *slot) setEnv(env ...string) {
	s.mu.Lock()
	s.env = env
	s.mu.Unlock()
}

func (s *slot) baseEnv() []string {
	r := s.r
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + r.serviceDBURL, "NATS_URL=" + r.serviceNATSURL,
		"HTTP_ADDR=" + s.httpAddr, "FUNDLEDGER_DATA_DIR=" + s.dataDir,
		"FUNDLEDGER_SIGNING_KEY=" + r.signingSeed,
		"HOLD_WINDOW=" + holdWindow.String(), "SNAPSHOT_EVERY=500", "SNAPSHOT_INTERVAL=3s",
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(env, s.env...)
}

// start launches the slot and keeps it running.
func (s *slot) start() {
	s.mu.Lock()
	s.active = true
	s.mu.Unlock()
	go s.loop()
}

func (s *slot) loop() {
	defer close(s.stopped)
	quick := 0
	for {
		p, err := s.spawn()
		if err != nil {
			s.mu.Lock()
			s.crashes = append(s.crashes, "start: "+err.Error())
			s.mu.Unlock()
			return
		}
		<-p.done
		s.endProc(p)
		s.mu.Lock()
		hold, active := s.hold, s.active
		s.mu.Unlock()
		if !active {
			return
		}
		if len(s.r.slots) == 1 || p.wasLeader() {
			s.r.measureInFlight()
		}
		if hold != nil {
			<-hold
		}
		if time.Since(p.started) < 200*time.Millisecond {
			quick++
		} else {
			quick = 0
		}
		if quick > 20 { // dies at once, again and again: stop rather than spin
			s.mu.Lock()
			s.crashes = append(s.crashes, "gave up restarting: 20 deaths within 200ms of start")
			s.mu.Unlock()
			return
		}
	}
}

func (s *slot) spawn() (*proc, error) {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.r.h.cfg.Fundledger, "serve")
	cmd.Env = s.baseEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	fmt.Fprintf(logf, "### faults: starting %s at %s\n", s.name, time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s.r.h.notePid(cmd.Process.Pid, "fundledger serve")
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{}), metrics: map[string]float64{}}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		logf.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.cur = p
	s.starts++
	s.mu.Unlock()
	return p, nil
}

// endProc classifies how a process ended and keeps its counters.
func (s *slot) endProc(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range p.lastMetrics() {
		s.totals[k] += v
	}
	ws, _ := p.state.Sys().(syscall.WaitStatus)
	switch {
	case p.killed.Load():
		s.kills++
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		s.fpDeaths++
	case s.stopping.Load() && p.state.ExitCode() == 0:
	default:
		s.crashes = append(s.crashes, fmt.Sprintf("pid %d exited on its own after %s: %s (see %s)",
			p.pid, time.Since(p.started).Round(time.Millisecond), p.state, s.logPath))
	}
}

func (s *slot) current() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// kill9 sends SIGKILL to the running process; the slot restarts it.
// It returns the process it killed (nil when none was running).
func (s *slot) kill9() *proc {
	p := s.current()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	p.killed.Store(true)
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	<-p.done
	return p
}

// signal sends sig (SIGSTOP, SIGCONT) to the running process.
func (s *slot) signal(sig syscall.Signal) *proc {
	p := s.current()
	if p != nil {
		_ = syscall.Kill(p.pid, sig)
	}
	return p
}

// stop ends the slot: SIGTERM, which serve must honour within 20s.
func (s *slot) stop() {
	s.mu.Lock()
	s.active = false
	p := s.cur
	s.mu.Unlock()
	s.stopping.Store(true)
	s.suspend.Store(false)
	s.release()
	if p != nil {
		_ = syscall.Kill(p.pid, syscall.SIGCONT)
		_ = syscall.Kill(p.pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			s.mu.Lock()
			s.crashes = append(s.crashes, fmt.Sprintf("pid %d did not stop within 20s of SIGTERM", p.pid))
			s.mu.Unlock()
			p.killed.Store(true)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	<-s.stopped
}

// isLeader asks /healthz whether the current process holds the consumer.
func (s *slot) isLeader() bool {
	p := s.current()
	if p == nil {
		return false
	}
	c := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://" + s.httpAddr + "/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct{ Consumer string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Consumer == "leader"
}

// scrape reads /metrics of every running process until ctx ends, keeping
// the last values per process (the leader gauge included).
func (r *run) scrape(ctx context.Context) {
	c := http.Client{Timeout: 400 * time.Millisecond}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, s := range r.slots {
			p := s.current()
			if p == nil || s.suspend.Load() {
				continue
			}
			resp, err := c.Get("http://" + s.httpAddr + "/metrics")
			if err != nil {
				continue
			}
			m := parseMetrics(resp.Body)
			resp.Body.Close()
			p.mu.Lock()
			if s.current() == p {
				p.metrics = m
				p.leader = m["fundledger_consumer_leader"] == 1
			}
			p.mu.Unlock()
		}
	}
}

func parseMetrics(r io.Reader) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i] // sum the labelled series (rejections by code)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err == nil {
			m[name] += v
		}
	}
	return m
}

// metricTotal sums a counter over every process of every slot (the ended
// ones and the running ones' last scrape).
func (r *run) metricTotal(name string) float64 {
	var t float64
	for _, s := range r.slots {
		s.mu.Lock()
		t += s.totals[name]
		p := s.cur
		s.mu.Unlock()
		if p != nil {
			select {
			case <-p.done: // already in totals
			default:
				t += p.lastMetrics()[name]
			}
		}
	}
	return t
}

// logCount counts lines containing substr in every slot's log.
func (r *run) logCount(substr string) int {
	n := 0
	for _, s := range r.slots {
		f, err := os.Open(s.logPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), substr) {
				n++
			}
		}
		f.Close()
	}
	return n
}

// measureInFlight runs right after a serve process died, before its
// successor recreates the consumer: the messages the consumer delivered
// beyond the position the database committed were in flight and will be
// delivered again.
func (r *run) measureInFlight() {
	if r.js == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := r.js.Consumer(ctx, "FUND_EVENTS", "fundledger")
	if err != nil {
		r.count("(diagnostic) in-flight not measured", 1)
		return
	}
	info, err := c.Info(ctx)
	if err != nil {
		r.count("(diagnostic) in-flight not measured", 1)
		return
	}
	var pos int64
	if err := r.db.QueryRow(ctx, `SELECT stream_seq FROM consumer_state WHERE name = 'fundledger'`).Scan(&pos); err != nil {
		if !errors.Is(err, pgx.ErrNoRows) {
			r.count("(diagnostic) in-flight not measured", 1)
			return
		}
	}
	// A process that died before it recreated the consumer left the
	// previous one's numbers: count each consumer once.
	r.mu.Lock()
	seen := info.Created.Equal(r.lastConsumer)
	r.lastConsumer = info.Created
	r.mu.Unlock()
	if d := int64(info.Delivered.Stream) - pos; d > 0 && !seen {
		r.inFlight.Add(d)
	}
}
