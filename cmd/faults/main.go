// Command faults is fundledger's crash and fault suite (GitHub issue 6:
// nothing lost, nothing applied twice). scripts/faults.sh builds the
// binaries, makes a throwaway PostgreSQL cluster and runs it; `make faults`
// runs the script. docs/faults.md describes the scenarios and the checks.
//
// Everything runs as separate processes on loopback: the fundledger binary
// built with -tags failpoints, a real nats-server with file storage and
// sync_interval always, and PostgreSQL. The suite publishes a realistic
// workload at a bounded rate, injects one kind of fault per scenario,
// waits until the system is quiet and then checks five invariants. It
// exits 1 when any invariant (or a scenario's own check) fails.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is what scripts/faults.sh hands over (flags default from the
// environment so the script can pass either).
type config struct {
	Fundledger string // the failpoints build of fundledger
	NATSServer string // the nats-server binary
	PGBinDir   string // directory of pg_ctl
	PGData     string // the throwaway cluster's data directory
	PGPort     int
	PGOSUser   string // run pg_ctl as this OS user (postgres when the suite runs as root)
	PGLog      string
	WorkDir    string
	Quick      bool
	Only       string // comma-separated scenario names; empty: all
	Seed       int64
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	var cfg config
	port, _ := strconv.Atoi(envOr("FAULTS_PG_PORT", "0"))
	seed, _ := strconv.ParseInt(envOr("FAULTS_SEED", "0"), 10, 64)
	flag.StringVar(&cfg.Fundledger, "fundledger", os.Getenv("FAULTS_FUNDLEDGER"), "fundledger binary built with -tags failpoints (FAULTS_FUNDLEDGER)")
	flag.StringVar(&cfg.NATSServer, "nats-server", os.Getenv("FAULTS_NATS_SERVER"), "nats-server binary (FAULTS_NATS_SERVER)")
	flag.StringVar(&cfg.PGBinDir, "pg-bindir", os.Getenv("FAULTS_PG_BINDIR"), "PostgreSQL bin directory with pg_ctl (FAULTS_PG_BINDIR)")
	flag.StringVar(&cfg.PGData, "pgdata", os.Getenv("FAULTS_PGDATA"), "data directory of the throwaway cluster (FAULTS_PGDATA)")
	flag.IntVar(&cfg.PGPort, "pg-port", port, "port of the throwaway cluster on 127.0.0.1 (FAULTS_PG_PORT)")
	flag.StringVar(&cfg.PGOSUser, "pg-os-user", os.Getenv("FAULTS_PG_OSUSER"), "OS user pg_ctl runs as; empty: this user (FAULTS_PG_OSUSER)")
	flag.StringVar(&cfg.PGLog, "pg-log", os.Getenv("FAULTS_PG_LOG"), "server log file for pg_ctl start (FAULTS_PG_LOG)")
	flag.StringVar(&cfg.WorkDir, "workdir", os.Getenv("FAULTS_WORKDIR"), "directory for stores, logs and data dirs (FAULTS_WORKDIR)")
	flag.BoolVar(&cfg.Quick, "quick", os.Getenv("FAULTS_QUICK") == "1", "a short run of every scenario (FAULTS_QUICK=1)")
	flag.StringVar(&cfg.Only, "only", os.Getenv("FAULTS_ONLY"), "run only these scenarios, comma-separated (FAULTS_ONLY)")
	flag.Int64Var(&cfg.Seed, "seed", seed, "workload and fault timing seed; 0 picks one (FAULTS_SEED)")
	flag.Parse()
	for name, v := range map[string]string{"fundledger": cfg.Fundledger, "nats-server": cfg.NATSServer,
		"pg-bindir": cfg.PGBinDir, "pgdata": cfg.PGData, "workdir": cfg.WorkDir} {
		if v == "" {
			fmt.Fprintf(os.Stderr, "faults: --%s is required (run it through scripts/faults.sh)\n", name)
			os.Exit(2)
		}
	}
	if cfg.PGPort == 0 {
		fmt.Fprintln(os.Stderr, "faults: --pg-port is required")
		os.Exit(2)
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano() % 1_000_000
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runSuite(ctx, cfg))
}

func runSuite(ctx context.Context, cfg config) int {
	h, err := newHarness(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		return 2
	}
	defer h.close()

	mode := "full"
	if cfg.Quick {
		mode = "quick (FAULTS_QUICK=1)"
	}
	fmt.Printf("fundledger fault suite: %s run, seed %d, work dir %s\n", mode, cfg.Seed, cfg.WorkDir)
	fmt.Printf("  fundledger %s (-tags failpoints), %s, PostgreSQL %s on 127.0.0.1:%d\n",
		filepath.Base(cfg.Fundledger), h.natsVersion, h.pgVersion, cfg.PGPort)
	start := time.Now()

	var results []*scenarioResult
	only := map[string]bool{}
	for _, s := range strings.Split(cfg.Only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			only[s] = true
		}
	}
	for i, sc := range scenarios(cfg.Quick) {
		if len(only) > 0 && !only[sc.name] {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		res := h.runScenario(ctx, sc, cfg.Seed+int64(i)*1009)
		results = append(results, res)
	}
	printSummary(results, time.Since(start))
	for _, r := range results {
		if !r.ok() {
			return 1
		}
	}
	if ctx.Err() != nil || len(results) == 0 {
		return 1
	}
	return 0
}

// newSigningSeed is a fresh Ed25519 seed for the run: every serve instance
// of a scenario signs snapshots with it, and verify pins its public key.
func newSigningSeed() (seedB64, pubB64 string) {
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return base64.StdEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(pub)
}
