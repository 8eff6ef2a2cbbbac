#!/usr/bin/env bash
# HTTP fuzz run of the API against its own OpenAPI document with schemathesis (from PyPI):
# generated valid and invalid requests for every operation; fails on any 5xx, an undocumented
# status code, a response that does not match its schema, or invalid input that is accepted.
# (Valid-looking requests refused for semantic reasons — a reused Idempotency-Key, a taken
# name — are expected, so that one check is excluded.)
# usage: scripts/fuzz-api.sh [MAX_EXAMPLES]   (default 200)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
examples="${1:-200}"
venv="$root/.tools/fuzz-venv"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4,<5'
fi
(cd "$root" && cargo build --quiet -p storefleet)
bin="$root/target/debug/storefleet"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export STOREFLEET_DATABASE_URL="sqlite://$work/fuzz.db" STOREFLEET_LOG_FORMAT=text KUBECONFIG=/nonexistent
"$bin" migrate >/dev/null  # user commands never create a database
token="$("$bin" user add fuzzer --admin | tail -n 1)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --listen "127.0.0.1:$port" --rate-per-user 1000000 --rate-per-ip 1000000 \
  --credential-reads-per-user 1000000 --max-streams-per-user 1000 \
  --max-stores-per-user 100000 --max-stores-total 100000 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
set +e
"$venv/bin/st" run "http://127.0.0.1:$port/api/openapi.json" -H "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance --max-examples "$examples" \
  --phases examples,coverage,fuzzing --no-color 2>&1 | tee "$work/st.log"
status=${PIPESTATUS[0]}
set -e
generated=$(grep -oE '[0-9]+ generated' "$work/st.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
echo "fuzz run: $generated generated requests"
if [ "$status" = 0 ]; then
  echo "fuzz: 1 passed, 0 failed, 0 skipped"
else
  echo "fuzz: 0 passed, 1 failed, 0 skipped"
fi
exit "$status"
