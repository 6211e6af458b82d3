#!/usr/bin/env bash
# pg-ensure.sh — print (on stdout, one line, nothing else) a PostgreSQL URL
# with superuser rights that answers.
#
#   1. If $DATABASE_URL is set, answers `select 1` within a few seconds and its
#      role is a superuser, print it unchanged.
#   2. Otherwise use (creating/starting it if needed) a private cluster owned
#      by the `postgres` OS user, listening on 127.0.0.1 only, on the first free
#      TCP port from 55432 up (never 5432, so it cannot collide with the
#      machine's own server), and print
#        postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#
# Where the private cluster lives ($PGHOME below):
#   - $FUNDLEDGER_PG_DIR if set (used as is; it must be reachable by `postgres`);
#   - else <repo>/.data/pg, chowned to postgres. This needs every parent
#     directory of the repo to be traversable (o+x) by the postgres user. On
#     this machine /work and /work/main are 0755, so that works. A repo cloned
#     somewhere private (e.g. under /root, 0700, or a 0700 mktemp dir) is not
#     traversable; we detect that by actually testing access as `postgres`,
#     and then fall back to /var/tmp/fundledger-pg-<sha256(repo path)[:12]>.
#     (We do not chmod the user's parent directories.) A cluster already
#     initialised at either place is reused before anything new is made.
#
# Layout of $PGHOME (owned by postgres, 0700):
#   pgdata/        the cluster (PGDATA, made by initdb)
#   port           the TCP port we last started it on
#   run/           unix socket directory (or a short /var/tmp path if too long)
#   postgres.log   server log (pg_ctl -l)
#   .ensure.lock   flock, so concurrent invocations don't race
#
# Reuse: if `port` exists, pg_isready answers on it, and the server there
# reports our data_directory with fsync=on, it is reused (takes ~0.1 s).
#
# Durability: the server always runs with fsync=on and synchronous_commit=on.
#
# Works as root (CI: initdb/pg_ctl are run via `runuser -u postgres`, since
# initdb refuses root) and, for convenience, as an ordinary user (then the
# cluster is owned by that user and nothing is installed).
set -euo pipefail

log() { printf 'pg-ensure: %s\n' "$*" >&2; }
die() { printf 'pg-ensure: ERROR: %s\n' "$*" >&2; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
FIRST_PORT=55432
LAST_PORT=55532
IS_ROOT=0
[[ $EUID -eq 0 ]] && IS_ROOT=1

# Run a command as the cluster owner, from / so an unreadable cwd can't bother
# it, and without fd 9 (our flock): a postmaster started by pg_ctl would
# otherwise inherit it and hold the lock for as long as it runs.
as_pg() {
  if (( IS_ROOT )); then
    (cd / && runuser -u postgres -- "$@") 9>&-
  else
    (cd / && "$@") 9>&-
  fi
}

apt_updated=0
apt_install() {
  (( IS_ROOT )) || die "need to install $*, but not root; install it yourself or set DATABASE_URL"
  command -v apt-get >/dev/null || die "need to install $*, but apt-get is not available"
  if (( ! apt_updated )); then
    log "running apt-get update"
    apt-get update >&2
    apt_updated=1
  fi
  log "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >&2
}

ensure_client() {
  if ! command -v psql >/dev/null || ! command -v pg_isready >/dev/null; then
    log "psql/pg_isready not found"
    apt_install postgresql-client
  fi
}

# --- 1. An explicitly given DATABASE_URL ------------------------------------
if [[ -n "${DATABASE_URL:-}" ]]; then
  ensure_client
  shown="$(printf '%s' "${DATABASE_URL%%\?*}" | sed -E 's#(//[^:/@]*):[^@/]*@#\1:***@#')"
  log "checking \$DATABASE_URL ($shown)"
  err="$(mktemp)"
  if super="$(PGCONNECT_TIMEOUT=3 timeout 8 psql "$DATABASE_URL" -X -Atq -v ON_ERROR_STOP=1 \
        -c 'select rolsuper from pg_roles where rolname = current_user' 2>"$err")"; then
    rm -f "$err"
    if [[ "$super" == "t" ]]; then
      log "\$DATABASE_URL answers and is a superuser: using it"
      printf '%s\n' "$DATABASE_URL"
      exit 0
    fi
    log "\$DATABASE_URL answers but its role is not a superuser: using the private cluster instead"
  else
    log "\$DATABASE_URL does not answer within a few seconds ($(head -n1 "$err" 2>/dev/null || true)): using the private cluster instead"
    rm -f "$err"
  fi
else
  log "DATABASE_URL not set: using the private cluster"
fi

# --- 2. The private cluster --------------------------------------------------
ensure_client

# Server binaries. Prefer the version an existing cluster was made with.
pg_bindir_for() { # $1 = major version or empty for "best available"
  if [[ -n "$1" && -x "/usr/lib/postgresql/$1/bin/initdb" ]]; then
    echo "/usr/lib/postgresql/$1/bin"; return 0
  fi
  [[ -n "$1" ]] && return 1
  if [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then echo /usr/lib/postgresql/15/bin; return 0; fi
  local best
  best="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n "$best" ]] || return 1
  dirname "$best"
}
if ! pg_bindir_for "" >/dev/null; then
  log "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb)"
  apt_install postgresql
  pg_bindir_for "" >/dev/null || die "postgresql installed but no /usr/lib/postgresql/*/bin/initdb"
fi
if (( IS_ROOT )); then
  id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (the postgresql package normally creates it)"
fi

# Can the cluster owner create and use this directory? Creates it if needed.
prepare_dir() { # $1 = dir
  local d="$1"
  mkdir -p "$d" 2>/dev/null || return 1
  if (( IS_ROOT )); then
    chown postgres:postgres "$d" || return 1
  fi
  chmod 0700 "$d" || return 1
  as_pg test -w "$d" -a -x "$d" 2>/dev/null
}

HASH="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
DEFAULT_HOME="$REPO/.data/pg"
FALLBACK_HOME="/var/tmp/fundledger-pg-$HASH"

if [[ -n "${FUNDLEDGER_PG_DIR:-}" ]]; then
  PGHOME="$FUNDLEDGER_PG_DIR"
  [[ "$PGHOME" == /* ]] || PGHOME="$PWD/$PGHOME"
  prepare_dir "$PGHOME" || die "FUNDLEDGER_PG_DIR=$PGHOME cannot be created or is not reachable by the postgres user"
elif [[ -f "$DEFAULT_HOME/pgdata/PG_VERSION" ]] && prepare_dir "$DEFAULT_HOME"; then
  PGHOME="$DEFAULT_HOME"
elif [[ -f "$FALLBACK_HOME/pgdata/PG_VERSION" ]] && prepare_dir "$FALLBACK_HOME"; then
  PGHOME="$FALLBACK_HOME"
elif mkdir -p "$REPO/.data" 2>/dev/null && prepare_dir "$DEFAULT_HOME"; then
  PGHOME="$DEFAULT_HOME"
else
  log "$DEFAULT_HOME is not reachable by the postgres user (a parent dir lacks o+x?); using $FALLBACK_HOME"
  rmdir "$DEFAULT_HOME" 2>/dev/null || true
  prepare_dir "$FALLBACK_HOME" || die "cannot prepare $FALLBACK_HOME for the postgres user"
  PGHOME="$FALLBACK_HOME"
fi
PGDATA_DIR="$PGHOME/pgdata"
PORT_FILE="$PGHOME/port"
LOG_FILE="$PGHOME/postgres.log"
log "private cluster home: $PGHOME"

# Serialise concurrent runs (e.g. two `make test` at once).
exec 9>>"$PGHOME/.ensure.lock"
flock -w 120 9 || die "timed out waiting for the lock $PGHOME/.ensure.lock"

url_for() { printf 'postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable' "$1"; }

# Is the server on port $1 ours, answering, and durable? 0=yes, 1=not answering,
# 2=answering but something else (another cluster, or fsync off).
check_ours() {
  local port="$1" out
  pg_isready -q -h 127.0.0.1 -p "$port" -t 3 || return 1
  out="$(PGCONNECT_TIMEOUT=3 timeout 8 psql "$(url_for "$port")" -X -Atq \
        -c "select current_setting('data_directory') || '|' || current_setting('fsync') || '|' || current_setting('synchronous_commit')" 2>/dev/null)" || return 2
  local want
  want="$(cd "$PGDATA_DIR" 2>/dev/null && pwd -P || echo "$PGDATA_DIR")"
  local dd="${out%%|*}"
  [[ "$dd" == "$PGDATA_DIR" || "$dd" == "$want" ]] || return 2
  [[ "$out" == *"|on|on" ]] || return 3
  return 0
}

port_in_use() { # 0 if something listens on 127.0.0.1:$1 (or any address)
  local p="$1"
  if command -v ss >/dev/null && ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
    return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
  return 1
}

# Reuse a running server.
if [[ -s "$PORT_FILE" ]]; then
  PORT="$(tr -dc 0-9 <"$PORT_FILE")"
  if [[ -n "$PORT" ]]; then
    rc=0; check_ours "$PORT" || rc=$?
    if (( rc == 0 )); then
      log "reusing running private cluster on 127.0.0.1:$PORT"
      url_for "$PORT"; echo
      exit 0
    elif (( rc == 3 )); then
      log "private cluster on port $PORT is running without fsync/synchronous_commit: restarting it"
      as_pg "$(pg_bindir_for "$(cat "$PGDATA_DIR/PG_VERSION")")/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >&2 || true
    fi
  fi
fi

# initdb if needed.
if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
  BINDIR="$(pg_bindir_for "")"
  if [[ -e "$PGDATA_DIR" ]]; then
    log "removing incomplete cluster dir $PGDATA_DIR"
    rm -rf "$PGDATA_DIR"
  fi
  log "initdb ($BINDIR) in $PGDATA_DIR"
  as_pg "$BINDIR/initdb" -D "$PGDATA_DIR" --auth=trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >&2 \
    || { rm -rf "$PGDATA_DIR"; die "initdb failed"; }
else
  BINDIR="$(pg_bindir_for "$(cat "$PGDATA_DIR/PG_VERSION")")" \
    || die "cluster $PGDATA_DIR is PostgreSQL $(cat "$PGDATA_DIR/PG_VERSION") but /usr/lib/postgresql/$(cat "$PGDATA_DIR/PG_VERSION")/bin is missing"
fi

# If a postmaster of ours is still alive (e.g. the port file was lost, or it is
# not answering on 127.0.0.1), stop it so we start clean with our settings.
if as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
  PORT="$(sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
  rc=0; [[ -n "$PORT" ]] && { check_ours "$PORT" || rc=$?; } || rc=1
  if (( rc == 0 )); then
    log "private cluster already running on 127.0.0.1:$PORT (port file was stale)"
    printf '%s\n' "$PORT" >"$PORT_FILE"
    url_for "$PORT"; echo
    exit 0
  fi
  log "private cluster process is running but not usable; stopping it"
  as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >&2 || true
fi

# Pick a port: the previous one if free, else the first free from 55432.
PORT=""
prev=""
[[ -f "$PORT_FILE" ]] && prev="$(tr -dc 0-9 <"$PORT_FILE" || true)"
if [[ -n "$prev" ]] && ! port_in_use "$prev"; then
  PORT="$prev"
else
  for ((p = FIRST_PORT; p <= LAST_PORT; p++)); do
    if ! port_in_use "$p"; then PORT="$p"; break; fi
  done
fi
[[ -n "$PORT" ]] || die "no free TCP port in $FIRST_PORT..$LAST_PORT"

# Unix socket dir: sun_path is limited to 107 bytes.
SOCK_DIR="$PGHOME/run"
if (( ${#SOCK_DIR} + 20 > 100 )); then
  SOCK_DIR="/var/tmp/fundledger-pg-sock-$HASH"
fi
prepare_dir "$SOCK_DIR" || die "cannot prepare socket dir $SOCK_DIR"

if (( IS_ROOT )); then
  touch "$LOG_FILE" && chown postgres:postgres "$LOG_FILE"
fi

log "starting private cluster on 127.0.0.1:$PORT (log: $LOG_FILE)"
if ! as_pg "$BINDIR/pg_ctl" -D "$PGDATA_DIR" \
    -o "-p $PORT -k $SOCK_DIR -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=512MB" \
    -l "$LOG_FILE" -w -t 120 start >&2; then
  log "pg_ctl start failed; last lines of $LOG_FILE:"
  tail -n 30 "$LOG_FILE" >&2 || true
  exit 1
fi
printf '%s\n' "$PORT" >"$PORT_FILE"
(( IS_ROOT )) && chown postgres:postgres "$PORT_FILE"

for _ in $(seq 1 60); do
  if check_ours "$PORT"; then
    log "private cluster is up on 127.0.0.1:$PORT"
    url_for "$PORT"; echo
    exit 0
  fi
  sleep 0.5
done
tail -n 30 "$LOG_FILE" >&2 || true
die "private cluster started but does not answer on 127.0.0.1:$PORT"
