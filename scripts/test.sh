#!/usr/bin/env bash
# test.sh — the whole test suite (what `make test` and CI run).
#
#   1. scripts/pg-ensure.sh gives a PostgreSQL superuser URL ($DATABASE_URL if
#      it answers as a superuser, else the private cluster); it is exported as
#      FUNDLEDGER_TEST_DATABASE_URL. Tests create (and drop) their own
#      databases in it.
#      Debian's chromium is installed with apt-get when /usr/bin/chromium is
#      missing (the console's browser tests drive it).
#   2. go vet ./...        (a vet failure stops here with vet's exit code)
#   3. go test -race -count=1 -timeout 30m [extra args "$@"] ./...
#      The script exits with go test's exit code.
#
# Extra arguments go to `go test`, e.g. `scripts/test.sh -run TestPosting -v`.
# To test fewer packages set PKGS, e.g. `PKGS=./ledger/... scripts/test.sh`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"

if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

PKGS="${PKGS:-./...}"

# The web console's browser tests (console/browser_test.go) drive Debian's
# chromium headless; install it when it is missing.
if [[ ! -x /usr/bin/chromium ]]; then
  echo "test.sh: /usr/bin/chromium missing; installing Debian's chromium with apt-get" >&2
  if [[ "$(id -u)" == 0 ]]; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2
  else
    sudo apt-get update >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2
  fi
fi

echo "test.sh: ensuring PostgreSQL, then go vet $PKGS and go test -race -count=1 -timeout 30m $* $PKGS" >&2

FUNDLEDGER_TEST_DATABASE_URL="$(bash "$REPO/scripts/pg-ensure.sh")"
export FUNDLEDGER_TEST_DATABASE_URL
echo "test.sh: FUNDLEDGER_TEST_DATABASE_URL=$(printf '%s' "$FUNDLEDGER_TEST_DATABASE_URL" | sed -E 's#(//[^:/@]*):[^@/]*@#\1:***@#')" >&2

echo "test.sh: go vet $PKGS" >&2
# shellcheck disable=SC2086 # PKGS may hold several patterns
go vet $PKGS

echo "test.sh: go test -race -count=1 -timeout 30m $* $PKGS" >&2
rc=0
# shellcheck disable=SC2086
go test -race -count=1 -timeout 30m "$@" $PKGS || rc=$?
echo "test.sh: go test exited with $rc" >&2
exit "$rc"
