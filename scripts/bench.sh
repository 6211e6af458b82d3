#!/usr/bin/env bash
# bench.sh — the benchmark (`make bench`): fundledger's throughput, latency
# and memory on durable settings, as a table of per-run numbers and medians.
#
#   1. scripts/pg-ensure.sh gives a PostgreSQL superuser URL ($DATABASE_URL if
#      it answers as a superuser, else the private cluster, which always runs
#      with fsync=on and synchronous_commit=on; the bench prints both).
#   2. scripts/nats-server-ensure.sh gives a real nats-server binary; the bench
#      runs its own servers (file storage, 127.0.0.1 only) under .data/bench.
#   3. go build -o .data/bin/fundledger ./cmd/fundledger (the ledger) and
#      go build -o .data/bin/bench ./cmd/bench (the benchmark)
#   4. .data/bin/bench --serve .data/bin/fundledger "$@" — it execs
#      `fundledger serve` as a separate process for every run, each on a
#      fresh database, and drops the databases it made. The output is also
#      kept in .data/bench-results/bench-<time>.txt.
#
# BENCH_SCALE=0.1 make bench    a quick run (a tenth of every size)
# BENCH_ONLY=a,d make bench     some measures only (a b c d f; e comes with all)
# BENCH_PPROF=1 make bench      also save a CPU profile of serve per measure
# See docs/performance.md for what is measured and how to read it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

log() { printf 'bench.sh: %s\n' "$*" >&2; }

log "ensuring PostgreSQL"
SUPER_URL="$(bash "$REPO/scripts/pg-ensure.sh")"
log "ensuring nats-server"
NATS_BIN="$(bash "$REPO/scripts/nats-server-ensure.sh")"

log "building .data/bin/fundledger and .data/bin/bench"
mkdir -p .data/bin .data/bench-results
go build -o .data/bin/fundledger ./cmd/fundledger
go build -o .data/bin/bench ./cmd/bench

out=".data/bench-results/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"
log "running: bench $* (scale ${BENCH_SCALE:-1}); results also in $out"
DATABASE_URL="$SUPER_URL" NATS_SERVER_BIN="$NATS_BIN" "$REPO/.data/bin/bench" --serve "$REPO/.data/bin/fundledger" "$@" | tee "$out"
