#!/usr/bin/env bash
# demo.sh — run `fundledger demo` against a database `fundledger_demo`.
#
#   1. scripts/pg-ensure.sh gives a PostgreSQL superuser URL ($DATABASE_URL if
#      it answers as a superuser, else the private cluster).
#   2. Drops and recreates the database fundledger_demo there, and removes
#      the demo's data directory ./data/demo (its embedded JetStream store and
#      signing key): every demo starts from a clean slate. Only this demo
#      database and directory are touched.
#   3. Exports DATABASE_URL pointing at fundledger_demo.
#   4. go build -o .data/bin/fundledger ./cmd/fundledger
#   5. exec .data/bin/fundledger demo "$@" (flags: see `fundledger demo --help`);
#      it ends by printing the web console's address and, when stdout is a
#      terminal, keeps serving it until Ctrl-C.
set -euo pipefail

log() { printf 'demo.sh: %s\n' "$*" >&2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"
DB=fundledger_demo

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

log "ensuring PostgreSQL"
SUPER_URL="$(bash "$REPO/scripts/pg-ensure.sh")"

log "recreating database $DB and removing ./data/demo"
psql "$SUPER_URL" -X -q -v ON_ERROR_STOP=1 -c "drop database if exists $DB with (force)" -c "create database $DB"
rm -rf "$REPO/data/demo"

# Point the superuser URL at the demo database.
if [[ "$SUPER_URL" =~ ^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$ ]]; then
  DATABASE_URL="${BASH_REMATCH[1]}/$DB${BASH_REMATCH[4]}"
else
  # keyword=value form: a later dbname= overrides an earlier one
  DATABASE_URL="$SUPER_URL dbname=$DB"
fi
export DATABASE_URL
log "DATABASE_URL=$(printf '%s' "$DATABASE_URL" | sed -E 's#(//[^:/@]*):[^@/]*@#\1:***@#')"

log "building .data/bin/fundledger"
mkdir -p .data/bin
go build -o .data/bin/fundledger ./cmd/fundledger

log "running: fundledger demo $*"
exec "$REPO/.data/bin/fundledger" demo "$@"
