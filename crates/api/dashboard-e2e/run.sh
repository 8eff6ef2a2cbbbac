#!/usr/bin/env bash
# Browser test of the dashboard. Builds storefleet, makes a temp SQLite database with one user,
# runs dashboard.test.mjs with node's test runner (it starts `storefleet api`, then
# `storefleet serve`, on a free port, with KUBECONFIG=/nonexistent so stores just wait), and
# stops every process it started. Screenshots and server logs land in ./artifacts/; the
# README's screenshots (docs/screenshots/) are rewritten by each run.
#
# Without node or chromium it prints `skipped: <reason>` and exits 0.
# CHROMIUM=/path/to/chromium overrides /usr/bin/chromium; no browser is ever downloaded.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"

skip() {
    echo "skipped: $1"
    exit 0
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
    skip "node $(node --version) is too old; 18 or newer is needed"
[ -x "$chromium" ] || skip "no chromium at $chromium (Debian: apt-get install chromium)"

echo "building storefleet"
(cd "$root" && nice -n 10 cargo build --quiet -p storefleet)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/storefleet"

cd "$here"
if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/axe-core/package.json ]; then
    echo "installing playwright-core and axe-core (no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 nice -n 10 npm ci --no-audit --no-fund --loglevel=error
fi

work="$(mktemp -d)"
artifacts="$here/artifacts"
mkdir -p "$artifacts"
cleanup() {
    # The test stops its servers itself; this catches whatever a crash left behind.
    if [ -f "$work/pids" ]; then
        while read -r pid; do
            kill "$pid" 2>/dev/null || true
        done <"$work/pids"
        sleep 1
        while read -r pid; do
            kill -9 "$pid" 2>/dev/null || true
        done <"$work/pids"
    fi
    cp "$work"/*.log "$artifacts"/ 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# User commands never create a database: migrate makes it. The token is the last line
# `user add` prints; it only travels through the environment.
STOREFLEET_DATABASE_URL="sqlite://$work/storefleet.db" STOREFLEET_LOG_FORMAT=text "$bin" migrate >/dev/null
token="$(STOREFLEET_DATABASE_URL="sqlite://$work/storefleet.db" STOREFLEET_LOG_FORMAT=text \
    "$bin" user add e2e-user | tail -n 1)"
admin_token="$(STOREFLEET_DATABASE_URL="sqlite://$work/storefleet.db" STOREFLEET_LOG_FORMAT=text \
    "$bin" user add e2e-admin --admin | tail -n 1)"
port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"

E2E_STOREFLEET_BIN="$bin" \
    E2E_WORKDIR="$work" \
    E2E_TOKEN="$token" \
    E2E_ADMIN_TOKEN="$admin_token" \
    E2E_PORT="$port" \
    E2E_ARTIFACTS="$artifacts" \
    E2E_SCREENSHOTS="$root/docs/screenshots" \
    E2E_CHROMIUM="$chromium" \
    nice -n 10 node --test --test-reporter=spec dashboard.test.mjs
