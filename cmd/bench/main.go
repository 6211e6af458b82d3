// Command bench is fundledger's benchmark (`make bench`, run by
// scripts/bench.sh): throughput, latency and memory of `fundledger serve`
// on durable settings, each run a separate serve process on a fresh
// database, against a real nats-server with file storage. It measures the
// PostgreSQL commit floor in the same session and prints every throughput
// also as a ratio to it, beside issue 10's targets; with --compare it runs
// a second serve binary alternately with the first and prints both.
// docs/performance.md says what it measures and how to read it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runBench(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// usageError marks a command-line mistake (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// env reads a setting with a default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// measures are the measures --only accepts; (e), the peak RSS, comes with
// every run.
var measures = []string{"a", "b", "c", "d", "f"}

// parseOnly reads --only: measure letters separated by commas.
func parseOnly(s string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, k := range strings.Split(s, ",") {
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" {
			continue
		}
		known := false
		for _, m := range measures {
			known = known || m == k
		}
		if !known {
			return nil, fmt.Errorf("--only: unknown measure %q (choose from %s)", k, strings.Join(measures, ","))
		}
		want[k] = true
	}
	if len(want) == 0 {
		return nil, errors.New("--only names no measure")
	}
	return want, nil
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	b := &bench{out: os.Stdout, log: os.Stderr}
	scale := env("BENCH_SCALE", "1")
	runs, err := strconv.Atoi(env("BENCH_RUNS", "3"))
	if err != nil {
		return usageError{"BENCH_RUNS is a number"}
	}
	floorDur, err := time.ParseDuration(env("BENCH_FLOOR", "10s"))
	if err != nil {
		return usageError{"BENCH_FLOOR is a duration such as 10s"}
	}
	serve := fs.String("serve", env("BENCH_SERVE", ".data/bin/fundledger"), "`PATH` of the fundledger binary run as serve (scripts/bench.sh builds it) (BENCH_SERVE)")
	compare := fs.String("compare", os.Getenv("BENCH_COMPARE"), "`PATH` of a second fundledger binary (an older build, say): every measure alternates its runs with --serve's and prints both medians and new/old (BENCH_COMPARE)")
	fs.StringVar(&b.adminURL, "database-url", os.Getenv("DATABASE_URL"), "superuser URL of the PostgreSQL cluster; each run creates and drops its own database (DATABASE_URL)")
	fs.StringVar(&b.natsBin, "nats-server", env("NATS_SERVER_BIN", ".data/bin/nats-server"), "nats-server binary (scripts/nats-server-ensure.sh builds it) (NATS_SERVER_BIN)")
	fs.StringVar(&b.work, "work", ".data/bench", "work directory (JetStream stores, logs, profiles); emptied first")
	fs.StringVar(&scale, "scale", scale, "size factor of every measure; 0.1 for a quick run (BENCH_SCALE)")
	fs.IntVar(&b.runs, "runs", runs, "runs of each measure per binary; the median is reported (BENCH_RUNS)")
	fs.DurationVar(&b.floorDur, "floor", floorDur, "how long the commit floor is measured, at the start and at the end; 0 skips it (BENCH_FLOOR)")
	only := fs.String("only", env("BENCH_ONLY", strings.Join(measures, ",")), "measures to run, from a,b,c,d,f (e, the peak RSS, comes with every run) (BENCH_ONLY)")
	fs.BoolVar(&b.pprof, "pprof", os.Getenv("BENCH_PPROF") == "1", "run serve with FUNDLEDGER_PPROF=1 and save a 20s CPU profile of each first run (BENCH_PPROF=1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if b.scale, err = strconv.ParseFloat(scale, 64); err != nil || b.scale <= 0 || b.scale > 10 {
		return usageError{"--scale is a number above 0, at most 10"}
	}
	if b.adminURL == "" {
		return usageError{"DATABASE_URL (a superuser URL) is required; scripts/bench.sh sets it"}
	}
	if b.runs < 1 {
		return usageError{"--runs is at least 1"}
	}
	if b.floorDur < 0 {
		return usageError{"--floor is not negative"}
	}
	want, err := parseOnly(*only)
	if err != nil {
		return usageError{err.Error()}
	}
	if *compare != "" {
		b.bins = append(b.bins, binary{label: "old", path: *compare})
	}
	b.bins = append(b.bins, binary{label: "new", path: *serve})
	for i := range b.bins {
		flagName := map[string]string{"old": "--compare", "new": "--serve"}[b.bins[i].label]
		if b.bins[i].path, err = filepath.Abs(b.bins[i].path); err != nil {
			return err
		}
		if st, err := os.Stat(b.bins[i].path); err != nil || st.IsDir() {
			return fmt.Errorf("%s %s: not a fundledger binary (scripts/bench.sh builds .data/bin/fundledger)", flagName, b.bins[i].path)
		}
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
	start := time.Now()
	var fl floorInfo
	if b.floorDur > 0 {
		f, err := b.commitFloor(ctx, "start")
		if err != nil {
			return err
		}
		fl.commits = append(fl.commits, f)
	}
	var rows []*result
	var rss []*result // every measure's peak RSS line, for (e)
	add := func(rs ...*result) {
		for _, r := range rs {
			if strings.HasPrefix(r.name, "    serve peak RSS") {
				rss = append(rss, r)
			}
		}
		rows = append(rows, rs...)
		fmt.Fprintln(b.log)
		table(b.log, "bench: RESULTS SO FAR", withPeak(rows, rss, b.labels()), b.labels(), b.runs, fl)
	}
	err = b.measure(ctx, want, add)
	if err == nil && b.floorDur > 0 {
		var f float64
		if f, err = b.commitFloor(ctx, "end"); err == nil {
			fl.commits = append(fl.commits, f)
		}
	}
	fmt.Fprintf(b.out, "\nwhole bench: %s; load average at the end: %s\n\n", time.Since(start).Round(time.Second), loadAvg())
	if err != nil {
		// What was measured before the failure is still worth having.
		fmt.Fprintf(b.out, "THE BENCH STOPPED: %v\n\n", err)
		if len(rows) == 0 {
			return err
		}
	}
	table(b.out, "RESULTS", withPeak(rows, rss, b.labels()), b.labels(), b.runs, fl)
	return err
}

// measure runs the measures want names, handing each one's lines to add.
func (b *bench) measure(ctx context.Context, want map[string]bool, add func(...*result)) error {
	// Sizes at scale 1, chosen so the whole bench takes about 25 minutes on
	// the 2-core machine: the targets (1,000,000 events, 10,000,000
	// transactions of history) are BENCH_SCALE=2.5 for (a) and (b) and
	// BENCH_SCALE=5 for (f); docs/performance.md has numbers at both.
	n := func(x float64) int { return max(1, int(math.Round(x*b.scale))) }
	if want["a"] {
		tr, err := b.throughput(ctx, "a", fmt.Sprintf("(a) single-grant events/s, %d events over 39 funds", n(4e5)), singles(38, n(4e5)), "events", nil)
		if err != nil {
			return err
		}
		tr.rate.target = targetA
		add(tr.rate, tr.txns, tr.lag, tr.pending, tr.rss)
	}
	if want["b"] {
		tr, err := b.throughput(ctx, "b", fmt.Sprintf("(b) single-grant events/s, %d events in one fund", n(4e5)), singles(0, n(4e5)), "events", nil)
		if err != nil {
			return err
		}
		tr.rate.target = targetB
		add(tr.rate, tr.txns, tr.lag, tr.pending, tr.rss)
	}
	if want["c"] {
		cfg := batches(n(5e5))
		lines := (cfg.Funds * cfg.Months) * cfg.BatchLines
		tr, err := b.throughput(ctx, "c", fmt.Sprintf("(c) batch lines/s, %d lines in batches of 10,000", lines), cfg, "lines", nil)
		if err != nil {
			return err
		}
		tr.rate.target = targetC
		add(tr.rate, tr.txns, tr.lag, tr.pending, tr.rss)
	}
	if want["d"] {
		lr, err := b.latency(ctx, 2000, time.Duration(max(10, int(30*b.scale)))*time.Second)
		if err != nil {
			return err
		}
		add(lr.p50, lr.p99, lr.max, lr.rss)
	}
	if want["f"] {
		rs, err := b.growth(ctx, n(2e6), n(1e5))
		if len(rs) > 0 {
			add(rs...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// withPeak is rows with (e) last: the highest peak RSS of serve over every
// run of every measure, per binary.
func withPeak(rows, rss []*result, labels []string) []*result {
	e := newResult("(e) peak RSS of serve (VmHWM), highest of every run", "MiB")
	e.target = targetE
	e.fixed = map[string]float64{}
	n := 0
	for _, l := range labels {
		var all []float64
		for _, r := range rss {
			all = append(all, r.runs[l]...)
		}
		if len(all) > 0 {
			e.fixed[l] = maxOf(all)
		}
		n = max(n, len(all))
	}
	e.note = fmt.Sprintf("%d runs per binary", n)
	return append(append([]*result(nil), rows...), e)
}
