#!/usr/bin/env bash
# pg-stop.sh — stop the private PostgreSQL cluster made by scripts/pg-ensure.sh
# (it is left running between runs on purpose; stop it only when you need to).
# Looks in the same places as pg-ensure.sh: $FUNDLEDGER_PG_DIR if set, else
# <repo>/.data/pg and /var/tmp/fundledger-pg-<sha256(repo path)[:12]>.
# The data is kept; the next pg-ensure.sh starts the cluster again.
set -euo pipefail

log() { printf 'pg-stop: %s\n' "$*" >&2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
HASH="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"

if [[ -n "${FUNDLEDGER_PG_DIR:-}" ]]; then
  homes=("$FUNDLEDGER_PG_DIR")
else
  homes=("$REPO/.data/pg" "/var/tmp/fundledger-pg-$HASH")
fi

as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

found=0
for home in "${homes[@]}"; do
  pgdata="$home/pgdata"
  [[ -f "$pgdata/PG_VERSION" ]] || continue
  found=1
  ver="$(cat "$pgdata/PG_VERSION")"
  pg_ctl="/usr/lib/postgresql/$ver/bin/pg_ctl"
  if [[ ! -x "$pg_ctl" ]]; then
    log "no $pg_ctl; cannot stop the cluster in $pgdata"
    exit 1
  fi
  if as_pg "$pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    log "stopping private cluster in $pgdata"
    as_pg "$pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >&2
  else
    log "private cluster in $pgdata is not running"
  fi
done
(( found )) || log "no private cluster found (looked in: ${homes[*]})"
exit 0
