#!/usr/bin/env bash
# nats-server-ensure.sh — make sure <repo>/.data/bin/nats-server (the real
# nats-server, built from source through the Go module proxy) exists, and print
# its absolute path on stdout (one line, nothing else). Used by the
# fault-injection suite, which starts and kills its own servers.
set -euo pipefail

log() { printf 'nats-server-ensure: %s\n' "$*" >&2; }

NATS_SERVER_VERSION="v2.15.2"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BIN_DIR="$REPO/.data/bin"
BIN="$BIN_DIR/nats-server"

if [[ -x "$BIN" ]]; then
  log "using existing $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

if ! command -v go >/dev/null; then
  if [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH"
  else
    log "ERROR: go not found in PATH or /usr/local/go/bin"
    exit 1
  fi
fi

mkdir -p "$BIN_DIR"
log "building nats-server $NATS_SERVER_VERSION into $BIN_DIR (go install; may take a minute or two)"
# Run from outside the repo, and without the caller's GOFLAGS, so nothing of the
# repo's module setup influences this pinned build.
(cd / && GOBIN="$BIN_DIR" GOFLAGS= go install "github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION}") >&2
[[ -x "$BIN" ]] || { log "ERROR: go install finished but $BIN is missing"; exit 1; }
log "built $("$BIN" --version 2>/dev/null || echo "$BIN")"
printf '%s\n' "$BIN"
