#!/usr/bin/env bash
# bench.sh — the benchmark (`make bench`): fundledger's throughput, latency
# and memory on durable settings, beside this machine's PostgreSQL commit
# floor, as a table of per-run numbers, medians, ratios and issue 10's targets.
#
#   1. scripts/pg-ensure.sh gives a PostgreSQL superuser URL ($DATABASE_URL if
#      it answers as a superuser, else the private cluster, which always runs
#      with fsync=on and synchronous_commit=on; the bench prints both).
#   2. scripts/nats-server-ensure.sh gives a real nats-server binary; the bench
#      runs its own servers (file storage, 127.0.0.1 only) under .data/bench.
#   3. go build -o .data/bin/fundledger ./cmd/fundledger (the ledger) and
#      go build -o .data/bin/bench ./cmd/bench (the benchmark).
#   4. .data/bin/bench --serve .data/bin/fundledger "$@": it measures the
#      commit floor, then execs `fundledger serve` as a separate process for
#      every run, each on a fresh database, drops the databases it made, and
#      measures the floor again at the end. The output is also kept in
#      .data/bench-results/bench-<time>.txt.
#
# BENCH_SCALE=0.1 make bench    a quick run (a tenth of every size)
# BENCH_ONLY=a,d make bench     some measures only (a b c d f; e comes with all)
# BENCH_RUNS=5 make bench       runs per measure (3 by default; medians)
# BENCH_PPROF=1 make bench      also save a CPU profile of serve per measure
# BENCH_COMPARE=path make bench also run that fundledger binary (an older
#                               build), alternating runs, and print new/old
# BENCH_FLOOR=10s make bench    how long the commit floor is measured (0 skips)
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
# -buildvcs=auto: the binary records the commit it was built from (and
# whether the tree had changes), which the bench prints beside its numbers.
go build -buildvcs=auto -o .data/bin/fundledger ./cmd/fundledger
go build -o .data/bin/bench ./cmd/bench

out=".data/bench-results/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"
log "running: bench $* (scale ${BENCH_SCALE:-1}${BENCH_COMPARE:+, compared with $BENCH_COMPARE}); results also in $out"
DATABASE_URL="$SUPER_URL" NATS_SERVER_BIN="$NATS_BIN" "$REPO/.data/bin/bench" --serve "$REPO/.data/bin/fundledger" "$@" | tee "$out"
