#!/usr/bin/env bash
# console-assets.sh — refresh the web console's browser libraries from the
# npm registry, exactly as console/assets/package-lock.json pins them.
#
# For each package the console uses (htmx.org, echarts):
#   1. reads its version and integrity hash from package-lock.json;
#   2. `npm pack name@version` downloads the published tarball;
#   3. checks the tarball's SHA-512 against the lock file's integrity hash
#      (a mismatch stops here, nothing is copied);
#   4. copies the one dist file the console serves and the package's
#      licence into console/static/vendor/.
# Then it writes console/static/vendor/SHA256SUMS, which a Go test checks
# against the embedded files, so a vendored file edited by hand fails
# `go test ./console/`.
#
# Only this script needs npm: the files are committed and embedded with
# go:embed, so building and testing fundledger needs no npm.
# To move to new versions: edit console/assets/package.json, run
# `npm install --package-lock-only --ignore-scripts` in console/assets,
# then this script (`make console-assets`).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOCK="$REPO/console/assets/package-lock.json"
OUT="$REPO/console/static/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

log() { printf 'console-assets.sh: %s\n' "$*" >&2; }
command -v npm >/dev/null || { log "npm is needed to refresh the assets (apt-get install npm)"; exit 1; }

# name|dist file in the package|file name in vendor/|licence file
WANT=(
  "htmx.org|dist/htmx.min.js|htmx.min.js|LICENSE"
  "echarts|dist/echarts.min.js|echarts.min.js|LICENSE"
)

lockfield() { # package field
  node -e 'const l=require(process.argv[1]); const p=l.packages["node_modules/"+process.argv[2]];
    if(!p){process.exit(2)}; process.stdout.write(String(p[process.argv[3]]))' "$LOCK" "$1" "$2"
}

mkdir -p "$OUT"
for w in "${WANT[@]}"; do
  IFS='|' read -r name dist file licence <<<"$w"
  version="$(lockfield "$name" version)"
  integrity="$(lockfield "$name" integrity)"
  log "$name@$version: downloading"
  (cd "$TMP" && npm pack --silent "$name@$version" >/dev/null)
  tgz="$(ls "$TMP"/*.tgz)"
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    log "$name@$version: integrity MISMATCH: lock file says $integrity, the tarball is $got"
    exit 1
  fi
  log "$name@$version: integrity ok ($integrity)"
  mkdir -p "$TMP/x"
  tar -xzf "$tgz" -C "$TMP/x"
  cp "$TMP/x/package/$dist" "$OUT/$file"
  cp "$TMP/x/package/$licence" "$OUT/$file.LICENSE"
  printf '%s %s\n' "$name" "$version" >"$OUT/$file.VERSION"
  rm -rf "$TMP/x" "$tgz"
done

(cd "$OUT" && sha256sum -- *.js >SHA256SUMS)
log "wrote $(cd "$OUT" && ls | tr '\n' ' ')"
