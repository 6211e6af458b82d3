#!/usr/bin/env bash
# faults.sh — the crash and fault suite (`make faults`; docs/faults.md).
#
#   1. builds .data/bin/fundledger-faults (fundledger with -tags failpoints)
#      and .data/bin/faults (cmd/faults, the suite itself);
#   2. makes sure the real nats-server is built (scripts/nats-server-ensure.sh);
#   3. creates a THROWAWAY PostgreSQL cluster with initdb in a temporary
#      directory (owned by the postgres OS user when run as root), on a free
#      loopback port, fsync=on: the suite stops it with `pg_ctl stop -m
#      immediate`, so it must be nobody else's;
#   4. runs the suite, which starts its own nats-server and serve processes,
#      all on 127.0.0.1;
#   5. tears everything down: the processes the suite started (by the pids
#      it wrote down), the cluster, and the temporary directory (kept when a
#      scenario failed, or with FAULTS_KEEP=1).
#
# Settings: FAULTS_QUICK=1 (a ~3 minute run instead of ~15), FAULTS_ONLY=kill9,net-cut
# (run only these scenarios), FAULTS_SEED=N (repeat a run's randomness),
# FAULTS_KEEP=1. The exit status is the suite's: 0 when every invariant held.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
log() { printf 'faults.sh: %s\n' "$*" >&2; }
die() { printf 'faults.sh: ERROR: %s\n' "$*" >&2; exit 2; }

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

mkdir -p .data/bin
log "building fundledger with -tags failpoints and the suite"
go build -tags failpoints -o .data/bin/fundledger-faults ./cmd/fundledger
go build -o .data/bin/faults ./cmd/faults
NATS_SERVER="$(bash scripts/nats-server-ensure.sh)"

# PostgreSQL server binaries (installed by scripts/pg-ensure.sh if missing).
BINDIR=""
if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
  BINDIR=/usr/lib/postgresql/15/bin
else
  BINDIR="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)" 2>/dev/null || true)"
fi
if [[ -z "$BINDIR" || ! -x "$BINDIR/initdb" ]]; then
  log "no PostgreSQL server binaries; letting scripts/pg-ensure.sh install them"
  bash scripts/pg-ensure.sh >/dev/null
  BINDIR="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")"
fi

IS_ROOT=0
[[ $EUID -eq 0 ]] && IS_ROOT=1
PG_OSUSER=""
if (( IS_ROOT )); then
  id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' OS user for initdb"
  PG_OSUSER=postgres
fi
as_pg() {
  if (( IS_ROOT )); then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}

# /var/tmp is traversable by the postgres user; the suite's own files go
# next to the cluster.
WORK="$(mktemp -d /var/tmp/fundledger-faults.XXXXXX)"
chmod 0755 "$WORK"
PGHOME="$WORK/pg"
mkdir -p "$PGHOME/run" "$WORK/suite"
(( IS_ROOT )) && chown -R postgres:postgres "$PGHOME"
chmod 0700 "$PGHOME"

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
PORT=""
for ((p = 56432; p <= 56532; p++)); do
  if ! port_in_use "$p"; then PORT="$p"; break; fi
done
[[ -n "$PORT" ]] || die "no free port in 56432..56532"

cleanup() {
  local rc=$?
  set +e
  # Processes the suite started and did not end (it ends them itself unless
  # it was killed): by pid, and only if the pid still runs one of ours.
  if [[ -f "$WORK/suite/pids" ]]; then
    while read -r pid _; do
      if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq "fundledger-faults|nats-server"; then
        kill -9 "$pid" 2>/dev/null
      fi
    done <"$WORK/suite/pids"
  fi
  if [[ -f "$PGHOME/pgdata/postmaster.pid" ]]; then
    as_pg "$BINDIR/pg_ctl" -D "$PGHOME/pgdata" -m immediate -w stop >/dev/null 2>&1
  fi
  if [[ $rc -eq 0 && "${FAULTS_KEEP:-0}" != "1" ]]; then
    rm -rf "$WORK"
  else
    log "kept $WORK (logs: $WORK/suite/<scenario>/*.log)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "initdb of a throwaway cluster in $PGHOME/pgdata (port $PORT)"
as_pg "$BINDIR/initdb" -D "$PGHOME/pgdata" --auth=trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$PGHOME/pgdata/postgresql.conf" <<EOF
# fault suite: loopback only, durable
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGHOME/run'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
shared_buffers = 256MB
EOF
touch "$PGHOME/postgres.log"
(( IS_ROOT )) && chown postgres:postgres "$PGHOME/postgres.log"
as_pg "$BINDIR/pg_ctl" -D "$PGHOME/pgdata" -l "$PGHOME/postgres.log" -w -t 60 start >/dev/null

rc=0
.data/bin/faults \
  --fundledger "$REPO/.data/bin/fundledger-faults" \
  --nats-server "$NATS_SERVER" \
  --pg-bindir "$BINDIR" --pgdata "$PGHOME/pgdata" --pg-port "$PORT" --pg-os-user "$PG_OSUSER" \
  --pg-log "$PGHOME/postgres.log" \
  --workdir "$WORK/suite" || rc=$?
exit "$rc"
