#!/usr/bin/env bash
# Follow the README's "Quick start (laptop)" step by step, as a user would, then the local
# cluster quick start (docs/local.md: `just up`, `just smoke`, `just reset`, `just down`) as far
# as this machine allows.
#
#   scripts/quickstart-check.sh
#
# Part 1, no cluster needed: builds the binary (`cargo build -p storefleet`), starts
# `storefleet serve` on a free port with a fresh SQLite database in a temp dir and no cluster
# (KUBECONFIG=/nonexistent), then runs the README's CLI commands (user add, store create, list,
# get, events, events --follow, delete) and its curl commands (healthz, create with an
# Idempotency-Key, list, events over SSE, delete), checking what each one prints; then the
# dashboard login at the same address and `storefleet order-check`'s refusals (no store runs
# here, so only its failure path can be shown).
#
# Part 2, the local cluster: steps that need a container engine are printed as
# `skipped: <step>: <reason>` when there is none. With or without one, the script runs what a
# cluster install renders: `helm lint` and `helm template` of charts/storefleet with
# values-local.yaml, checked against what the justfile expects, and the medusa image lookup
# that `just images` does. The cluster steps themselves (a k3d cluster, image builds, several
# minutes) run only with QUICKSTART_CLUSTER=1 and a working docker, k3d and just.
#
# Environment:
#   STOREFLEET_BIN=PATH    use this binary instead of building one
#   QUICKSTART_CLUSTER=1   also run `just up`, `just smoke`, `just reset`, `just down`
#
# Ends with `quickstart: N passed, N failed, N skipped`. Exits 0 only when nothing failed.
# Idempotent: everything it creates lives in a temp dir that is removed on exit, and the
# server it starts is stopped on exit (also on Ctrl-C).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

passed=0 failed=0 skipped=0
ok()   { passed=$((passed + 1)); printf 'ok: %s\n' "$1"; }
bad()  { failed=$((failed + 1)); printf 'FAILED: %s: %s\n' "$1" "$2" >&2; }
skip() { skipped=$((skipped + 1)); printf 'skipped: %s: %s\n' "$1" "$2"; }
summary() { printf 'quickstart: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"; }
# A failure that makes the following steps meaningless.
fatal() { bad "$1" "$2"; echo "stopping: later steps depend on this one" >&2; exit 1; }
# Show a command's captured output under a failure, indented.
show() { [[ -s $1 ]] && sed 's/^/    | /' "$1" | tail -n "${2:-20}" >&2; return 0; }

# ---- a clean environment and cleanup ---------------------------------------------------
# The user's own settings must not leak into the check (a token, another API URL, a DB).
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^STOREFLEET_' | grep -v '^STOREFLEET_BIN$')
# No cluster, not even an in-cluster one when this runs inside a pod.
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
export KUBECONFIG=/nonexistent

TMP=$(mktemp -d "${TMPDIR:-/tmp}/storefleet-quickstart.XXXXXX") || { echo "mktemp failed" >&2; exit 1; }
SERVE_PID="" FOLLOW_PID=""
stop_pid() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_pid "$FOLLOW_PID"
  stop_pid "$SERVE_PID"
  rm -rf "$TMP"
}
# On every exit (success, failure, Ctrl-C): stop what we started, remove the temp dir, and
# print the summary line last.
trap 'rc=$?; cleanup; summary; exit $rc' EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

echo "== README: Quick start (laptop), with no cluster"

# ---- build -----------------------------------------------------------------------------
if [[ -n ${STOREFLEET_BIN:-} ]]; then
  BIN=$STOREFLEET_BIN
  [[ -x $BIN ]] || fatal "binary" "STOREFLEET_BIN=$BIN is not an executable file"
  ok "binary: using $BIN (STOREFLEET_BIN)"
else
  if ! command -v cargo >/dev/null 2>&1; then
    fatal "cargo build -p storefleet" "cargo is not on PATH (https://rustup.rs)"
  fi
  if nice -n 10 cargo build -q -p storefleet 2>"$TMP/build.log"; then
    target_dir=$(cargo metadata --no-deps --format-version 1 2>/dev/null \
      | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    BIN="${target_dir:-$ROOT/target}/debug/storefleet"
    [[ -x $BIN ]] || fatal "cargo build -p storefleet" "built, but no binary at $BIN"
    ok "cargo build -p storefleet"
  else
    show "$TMP/build.log" 40
    fatal "cargo build -p storefleet" "the build failed (output above)"
  fi
fi
unset STOREFLEET_BIN
sf() { "$BIN" "$@"; }
export STOREFLEET_DATABASE_URL="sqlite://$TMP/storefleet.db"
T0=$(date +%s)

# ---- storefleet serve ------------------------------------------------------------------
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    for _ in $(seq 1 50); do
      p=$((20000 + RANDOM % 30000))
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    echo 18080
  fi
}
# The port may be taken between choosing and binding it: try a few.
PORT=""
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  # The binary itself in the background (not the sf function, which would background a
  # subshell): $! is then the server's own pid, and SIGTERM reaches it.
  "$BIN" serve --listen "127.0.0.1:$port" --charts-dir "$ROOT/charts" --log-format text \
    >"$TMP/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS --max-time 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then PORT=$port; break; fi
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n $PORT ]] && break
  stop_pid "$SERVE_PID"; SERVE_PID=""
  grep -q 'could not listen' "$TMP/serve.log" || break
done
if [[ -z $PORT ]]; then
  show "$TMP/serve.log"
  fatal "storefleet serve" "did not answer on /healthz within 10 s (log above)"
fi
ok "storefleet serve: listening on 127.0.0.1:$PORT, database $STOREFLEET_DATABASE_URL"
if grep -q 'no Kubernetes cluster configured' "$TMP/serve.log"; then
  ok "storefleet serve: starts without a cluster and says so"
else
  bad "storefleet serve" "log does not say that no cluster is configured"; show "$TMP/serve.log"
fi
export STOREFLEET_API_URL="http://127.0.0.1:$PORT"

# ---- user add --------------------------------------------------------------------------
if sf user add alice >"$TMP/user.out" 2>"$TMP/user.err" \
   && grep -q '^created user alice' "$TMP/user.out" \
   && tail -n 1 "$TMP/user.out" | grep -Eq '^sf_[0-9a-f]{64}$'; then
  ok "storefleet user add alice: prints the token alone on the last line"
else
  show "$TMP/user.out"; show "$TMP/user.err"
  fatal "storefleet user add alice" "expected 'created user alice ...' and a token sf_<64 hex> on the last line"
fi
# Exactly as the README: export STOREFLEET_TOKEN=$(... user add NAME | tail -1). alice exists
# now (names are unique), so this user is bob.
STOREFLEET_TOKEN=$(sf user add bob 2>/dev/null | tail -1)
export STOREFLEET_TOKEN
if [[ $STOREFLEET_TOKEN =~ ^sf_[0-9a-f]{64}$ ]]; then
  ok "export STOREFLEET_TOKEN=\$(storefleet user add bob | tail -1)"
else
  fatal "export STOREFLEET_TOKEN" "got '${STOREFLEET_TOKEN:0:20}...' instead of a token"
fi
if sf user add alice >/dev/null 2>"$TMP/dup.err"; then
  bad "storefleet user add (duplicate)" "a second user named alice was accepted"
else
  ok "storefleet user add (duplicate name): refused"
fi

# ---- store create ----------------------------------------------------------------------
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
if sf store create shop-1 --engine medusa >"$TMP/create.out" 2>"$TMP/create.err"; then
  ID=$(sed -n 's/^id: *//p' "$TMP/create.out" | head -n 1)
  if [[ $ID =~ $uuid_re ]] && grep -Eq '^name: +shop-1$' "$TMP/create.out" \
     && grep -Eq '^engine: +medusa +plan: small$' "$TMP/create.out" \
     && grep -Eq '^phase: +(requested|provisioning)$' "$TMP/create.out" \
     && grep -Eq '^namespace: +store-shop-1-[0-9a-f]{6}$' "$TMP/create.out"; then
    ok "storefleet store create shop-1 --engine medusa: id $ID, plan small, phase requested"
  else
    show "$TMP/create.out"
    fatal "storefleet store create shop-1" "unexpected output"
  fi
else
  show "$TMP/create.err"
  fatal "storefleet store create shop-1 --engine medusa" "exited non-zero"
fi
# The README's alternative flags.
if sf store create shop-2 --engine woocommerce --plan medium >"$TMP/create2.out" 2>"$TMP/create2.err" \
   && grep -Eq '^engine: +woocommerce +plan: medium$' "$TMP/create2.out"; then
  ID2=$(sed -n 's/^id: *//p' "$TMP/create2.out" | head -n 1)
  ok "storefleet store create shop-2 --engine woocommerce --plan medium"
else
  ID2=""
  show "$TMP/create2.out"; show "$TMP/create2.err"
  bad "storefleet store create shop-2 --engine woocommerce --plan medium" "unexpected output"
fi

# ---- store list ------------------------------------------------------------------------
if sf store list >"$TMP/list.out" 2>&1 \
   && grep -Eq '^ID +NAME +ENGINE +PLAN +PHASE +OWNER$' "$TMP/list.out" \
   && grep -Eq "^$ID +shop-1 +medusa +small +(requested|provisioning) +bob$" "$TMP/list.out"; then
  ok "storefleet store list: shows shop-1 owned by bob"
else
  show "$TMP/list.out"; bad "storefleet store list" "no row for shop-1"
fi

# ---- store get / events: without a cluster the store waits, each event saying why ------
why='no Kubernetes cluster is configured'
for _ in $(seq 1 50); do
  sf store events "$ID" >"$TMP/events.out" 2>&1
  grep -q "$why" "$TMP/events.out" && break
  sleep 0.2
done
if sf store get "$ID" >"$TMP/get.out" 2>&1 \
   && grep -Eq "^id: +$ID$" "$TMP/get.out" \
   && grep -Eq '^phase: +provisioning$' "$TMP/get.out" \
   && grep -Eq "^  NamespaceReady +False +Retrying +namespace failed: .*$why" "$TMP/get.out"; then
  ok "storefleet store get: provisioning, NamespaceReady False (Retrying) says no cluster"
else
  show "$TMP/get.out"; bad "storefleet store get $ID" "expected phase provisioning and a NamespaceReady condition naming the missing cluster"
fi
if grep -Eq 'Normal +Requested +medusa store requested on plan small' "$TMP/events.out" \
   && grep -Eq "Warning +StepFailed +namespace failed: .*$why" "$TMP/events.out"; then
  ok "storefleet store events: Requested, then StepFailed events saying why"
else
  show "$TMP/events.out"; bad "storefleet store events $ID" "expected a Requested event and a StepFailed warning naming the missing cluster"
fi

# ---- by name, and store wait: with no cluster the wait runs out at --timeout (exit 7) ------
if sf store get shop-1 >"$TMP/byname.out" 2>&1 && grep -q "^id: *$ID" "$TMP/byname.out"; then
  ok "storefleet store get shop-1: a live store named by its name"
else
  show "$TMP/byname.out"; bad "storefleet store get shop-1" "expected the store $ID"
fi
sf store wait shop-1 --timeout 2s >"$TMP/wait.out" 2>&1; wait_rc=$?
if [[ $wait_rc == 7 ]] && grep -q 'still provisioning after 2 s (--timeout)' "$TMP/wait.out"; then
  ok "storefleet store wait --timeout 2s: gave up with exit code 7, saying the step it waits on"
else
  show "$TMP/wait.out"; bad "storefleet store wait shop-1 --timeout 2s" "expected exit 7 (got $wait_rc) and 'still provisioning after 2 s'"
fi

# ---- store credentials: the owner's view opens only once setup is done -------------------
if sf store credentials "$ID" >"$TMP/cred.out" 2>&1; then
  show "$TMP/cred.out"; bad "storefleet store credentials $ID" "exited 0 before the store's setup was done"
elif grep -q "copied once the store's setup is complete" "$TMP/cred.out"; then
  ok "storefleet store credentials: before setup, refused with 'copied once the store's setup is complete'"
else
  show "$TMP/cred.out"; bad "storefleet store credentials $ID" "expected a 409 saying the copy comes once setup is complete"
fi
keyfile="${STOREFLEET_DATABASE_URL#sqlite://}.key"
if [[ -f $keyfile && $(stat -c %a "$keyfile") == 600 ]]; then
  ok "storefleet serve: made the platform key beside the database (mode 600)"
else
  bad "storefleet serve" "no platform key file $keyfile with mode 600"
fi

# ---- store events --follow (another shell), then store delete --------------------------
"$BIN" store events "$ID" --follow >"$TMP/follow.out" 2>&1 &
FOLLOW_PID=$!
for _ in $(seq 1 50); do grep -q 'Requested' "$TMP/follow.out" && break; sleep 0.1; done
if grep -q 'Requested' "$TMP/follow.out" && kill -0 "$FOLLOW_PID" 2>/dev/null; then
  ok "storefleet store events --follow: streams and keeps streaming"
else
  show "$TMP/follow.out"; bad "storefleet store events $ID --follow" "no live stream"
fi
if sf store delete "$ID" >"$TMP/delete.out" 2>&1 \
   && grep -Eq "^deletion requested for shop-1 \($ID\); phase: (deleting|deleted)$" "$TMP/delete.out"; then
  ok "storefleet store delete: deletion requested"
else
  show "$TMP/delete.out"; bad "storefleet store delete $ID" "unexpected output"
fi
phase=""
for _ in $(seq 1 50); do
  phase=$(sf store get "$ID" 2>/dev/null | sed -n 's/^phase: *//p')
  [[ $phase == deleted ]] && break
  sleep 0.1
done
if [[ $phase == deleted ]]; then
  ok "a store that never reached a cluster is deleted at once (phase deleted)"
else
  bad "storefleet store get $ID after delete" "phase is '$phase', expected deleted within 5 s"
fi
# The follower ends by itself once the store is deleted.
follow_rc=""
for _ in $(seq 1 50); do
  if ! kill -0 "$FOLLOW_PID" 2>/dev/null; then wait "$FOLLOW_PID"; follow_rc=$?; break; fi
  sleep 0.1
done
if [[ $follow_rc == 0 ]] && grep -Eq 'Normal +Deleted +store deleted' "$TMP/follow.out"; then
  ok "storefleet store events --follow: showed Deleted and ended (exit 0)"
else
  show "$TMP/follow.out"
  bad "storefleet store events --follow" "expected the Deleted event and exit 0 after the delete (exit: ${follow_rc:-still running})"
  stop_pid "$FOLLOW_PID"
fi
FOLLOW_PID=""
if [[ -n $ID2 ]]; then
  if sf store delete "$ID2" >/dev/null 2>&1; then ok "storefleet store delete shop-2"; else bad "storefleet store delete $ID2" "exited non-zero"; fi
fi

# ---- the same with curl ----------------------------------------------------------------
echo "== README: the same with curl"
U="localhost:$PORT"
AUTH="Authorization: Bearer $STOREFLEET_TOKEN"
if [[ $(curl -s --max-time 5 "$U/healthz") == ok ]]; then
  ok "curl /healthz: ok"
else
  bad "curl -s $U/healthz" "did not answer ok"
fi
BODY='{"name": "shop-1", "engine": "medusa", "plan": "small", "ttl_seconds": 86400}'
create() {
  curl -s --max-time 10 -D "$1.headers" -o "$1" -w '%{http_code}' -X POST "$U/api/v1/stores" \
    -H "$AUTH" -H 'Content-Type: application/json' -H 'Idempotency-Key: first-shop' -d "$BODY"
}
code=$(create "$TMP/c1.json")
CID=$(jq -r '.id // empty' "$TMP/c1.json" 2>/dev/null || sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$TMP/c1.json")
if [[ $code == 201 && $CID =~ $uuid_re ]] \
   && grep -q '"name":"shop-1"' "$TMP/c1.json" && grep -q '"plan":"small"' "$TMP/c1.json" \
   && grep -q '"expires_at":"' "$TMP/c1.json"; then
  ok "curl POST /api/v1/stores (Idempotency-Key first-shop): 201, id $CID, expires_at set"
else
  show "$TMP/c1.json"; fatal "curl POST /api/v1/stores" "expected 201 with a store (got HTTP $code)"
fi
code=$(create "$TMP/c2.json")
if [[ $code == 201 ]] && grep -q "\"id\":\"$CID\"" "$TMP/c2.json" \
   && grep -qi '^idempotent-replayed: true' "$TMP/c2.json.headers"; then
  ok "curl POST again with the same Idempotency-Key: same store, Idempotent-Replayed: true"
else
  show "$TMP/c2.json.headers"; show "$TMP/c2.json"
  bad "curl POST /api/v1/stores (repeat)" "expected 201 with the same id and Idempotent-Replayed: true (got HTTP $code)"
fi
if curl -s --max-time 5 "$U/api/v1/stores" -H "$AUTH" >"$TMP/l.json" \
   && grep -q "\"id\":\"$CID\"" "$TMP/l.json" && grep -q '"items":\[' "$TMP/l.json"; then
  ok "curl GET /api/v1/stores: lists the store"
else
  show "$TMP/l.json"; bad "curl GET /api/v1/stores" "store $CID not listed"
fi
# SSE: the stream stays open (curl stops it with --max-time, exit 28).
curl -s -N --max-time 2 "$U/api/v1/stores/$CID/events" -H "$AUTH" \
  -H 'Accept: text/event-stream' >"$TMP/sse.out" 2>&1
sse_rc=$?
if [[ $sse_rc == 28 ]] && grep -q '^event: store-event$' "$TMP/sse.out" \
   && grep -Eq '^id: [0-9]+$' "$TMP/sse.out" && grep -q '"reason":"Requested"' "$TMP/sse.out"; then
  ok "curl GET .../events (text/event-stream): store-event frames with ids, stream stays open"
else
  show "$TMP/sse.out"; bad "curl events SSE" "expected store-event frames and an open stream (curl exit $sse_rc)"
fi
code=$(curl -s --max-time 5 -o "$TMP/d.json" -w '%{http_code}' -X DELETE "$U/api/v1/stores/$CID" -H "$AUTH")
if [[ $code == 202 ]] && grep -Eq '"phase":"(deleting|deleted)"' "$TMP/d.json"; then
  ok "curl DELETE /api/v1/stores/{id}: 202, deletion requested"
else
  show "$TMP/d.json"; bad "curl DELETE /api/v1/stores/$CID" "expected 202 (got HTTP $code)"
fi
# Once deleted, the SSE stream drains and ends with an `end` event.
curl -s -N --max-time 10 "$U/api/v1/stores/$CID/events" -H "$AUTH" \
  -H 'Accept: text/event-stream' >"$TMP/sse2.out" 2>&1
sse_rc=$?
if [[ $sse_rc == 0 ]] && grep -q '^event: end$' "$TMP/sse2.out" && grep -q '"reason":"Deleted"' "$TMP/sse2.out"; then
  ok "curl GET .../events after delete: Deleted event, then the stream ends"
else
  show "$TMP/sse2.out"; bad "curl events SSE after delete" "expected a Deleted event and an end event (curl exit $sse_rc)"
fi

# ---- what else the README promises on the same port ------------------------------------
if [[ $(curl -s --max-time 5 "$U/readyz") == ok ]]; then ok "curl /readyz: ok"; else bad "curl /readyz" "did not answer ok"; fi
# (Into a file first: `curl | grep -q` fails under pipefail when grep stops reading early.)
curl -s --max-time 5 "$U/api/openapi.json" >"$TMP/openapi.json"
if grep -q '"/api/v1/stores"' "$TMP/openapi.json"; then
  ok "curl /api/openapi.json: documents /api/v1/stores"
else
  bad "curl /api/openapi.json" "no /api/v1/stores path in the document"
fi
curl -s --max-time 5 "$U/metrics" >"$TMP/metrics.txt"
missing=""
for m in storefleet_http_requests_total storefleet_orchestrator_steps_total storefleet_orchestrator_in_flight \
         storefleet_orchestrator_claimed_total; do
  grep -q "^$m" "$TMP/metrics.txt" || missing="$missing $m"
done
if [[ -z $missing ]]; then ok "curl /metrics: storefleet_* series present"; else bad "curl /metrics" "missing:$missing"; fi

# ---- the dashboard, at the same address (what `just up` prints as the dashboard URL) -----
JAR=$TMP/cookies.txt
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' "$U/")
if [[ $code == "303 http://$U/login" ]]; then
  ok "dashboard: / sends a logged-out browser to /login"
else
  bad "dashboard GET /" "expected 303 to /login (got '$code')"
fi
curl -s --max-time 5 -c "$JAR" -b "$JAR" "$U/login" >"$TMP/login.html"
csrf=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/login.html" | head -n 1)
code=$(curl -s --max-time 5 -c "$JAR" -b "$JAR" -o /dev/null -w '%{http_code} %{redirect_url}' \
  -X POST "$U/login" --data-urlencode "token=$STOREFLEET_TOKEN" --data-urlencode "csrf=$csrf")
curl -s --max-time 5 -b "$JAR" "$U/" >"$TMP/list.html"
if [[ -n $csrf && $code == "303 http://$U/" ]] && grep -q '<span class="user">bob</span>' "$TMP/list.html" \
   && grep -q 'Your stores' "$TMP/list.html"; then
  ok "dashboard: log in with the API token, then / lists bob's stores"
else
  show "$TMP/list.html" 10
  bad "dashboard login" "expected login with the token to lead to bob's store list (login answered '$code')"
fi

# ---- storefleet order-check: exit 0 only when an order was placed -----------------------
closed=$(free_port)   # nothing listens there
if sf order-check --engine woocommerce --url "http://127.0.0.1:$closed" >"$TMP/oc.out" 2>"$TMP/oc.err"; then
  bad "storefleet order-check (unreachable store)" "exited 0 although no order could be placed"
elif grep -q 'no order was placed' "$TMP/oc.err"; then
  ok "storefleet order-check --engine woocommerce (unreachable store): exit non-zero, 'no order was placed'"
else
  show "$TMP/oc.err"; bad "storefleet order-check (unreachable store)" "no 'no order was placed' message"
fi
if sf order-check --engine medusa --url "http://127.0.0.1:$closed" >"$TMP/oc2.out" 2>"$TMP/oc2.err"; then
  bad "storefleet order-check --engine medusa (no key)" "exited 0 without a publishable key"
elif grep -q 'publishable API key' "$TMP/oc2.err"; then
  ok "storefleet order-check --engine medusa without --publishable-key: refused, says the key is needed"
else
  show "$TMP/oc2.err"; bad "storefleet order-check --engine medusa (no key)" "error does not mention the publishable key"
fi

# ---- stop the server -------------------------------------------------------------------
kill -TERM "$SERVE_PID" 2>/dev/null
serve_rc=""
for _ in $(seq 1 100); do
  if ! kill -0 "$SERVE_PID" 2>/dev/null; then wait "$SERVE_PID"; serve_rc=$?; break; fi
  sleep 0.1
done
if [[ $serve_rc == 0 ]]; then
  ok "storefleet serve: stops cleanly on SIGTERM (exit 0)"
else
  show "$TMP/serve.log"; bad "storefleet serve shutdown" "exit ${serve_rc:-still running after 10 s}"
  stop_pid "$SERVE_PID"
fi
SERVE_PID=""
echo "(laptop quick start took $(( $(date +%s) - T0 )) s after the build)"

# ---- part 2: the local cluster quick start ---------------------------------------------
echo "== Local cluster quick start (docs/local.md: just up / smoke / reset / down)"
engine_reason=""
if ! command -v docker >/dev/null 2>&1; then
  engine_reason="no container engine (docker not installed)"
elif ! docker info >/dev/null 2>&1; then
  engine_reason="no container engine (docker daemon not running)"
fi
tools=""
for t in docker k3d kind kubectl helm just; do
  if command -v "$t" >/dev/null 2>&1; then tools="$tools $t:yes"; else tools="$tools $t:no"; fi
done
echo "tools on PATH:$tools"

cluster_steps=(
  "just prereqs (docker, k3d, kubectl, helm)"
  "just up: k3d cluster create"
  "just up: docker build storefleet:dev and the medusa image, k3d image import"
  "just up: helm upgrade --install with values-local, rollout"
  "just up: first admin token (storefleet user add admin --admin)"
  "just smoke: medusa store created, ready after a test order, deleted"
  "just reset: clean platform"
  "just down: delete the cluster"
)
cluster_reason=$engine_reason
if [[ -z $cluster_reason ]]; then
  if ! command -v k3d >/dev/null 2>&1; then
    cluster_reason="k3d not installed (just up creates a k3d cluster; https://k3d.io)"
  elif ! command -v just >/dev/null 2>&1; then
    cluster_reason="just not installed (https://just.systems)"
  elif [[ ${QUICKSTART_CLUSTER:-} != 1 ]]; then
    cluster_reason="set QUICKSTART_CLUSTER=1 to run it (creates a k3d cluster and builds images: several minutes)"
  fi
fi
if [[ -n $cluster_reason ]]; then
  for step in "${cluster_steps[@]}"; do skip "$step" "$cluster_reason"; done
else
  for recipe in up smoke reset down; do
    if just "$recipe" >"$TMP/just-$recipe.log" 2>&1; then
      ok "just $recipe"
    else
      show "$TMP/just-$recipe.log" 30; bad "just $recipe" "failed (output above)"
      [[ $recipe == up ]] && { just down >/dev/null 2>&1 || true; break; }
    fi
  done
fi

# What `just install` renders, and the lookup `just images` does: no cluster needed.
CHART=charts/storefleet
if ! command -v helm >/dev/null 2>&1; then
  skip "helm lint $CHART (values-local)" "helm not on PATH"
  skip "helm template $CHART (values-local)" "helm not on PATH"
  skip "helm template charts/medusa (image for just images)" "helm not on PATH"
else
  if helm lint --strict "$CHART" -f "$CHART/values.yaml" -f "$CHART/values-local.yaml" >"$TMP/lint.out" 2>&1; then
    ok "helm lint --strict $CHART -f values.yaml -f values-local.yaml"
  else
    show "$TMP/lint.out"; bad "helm lint $CHART (values-local)" "failed"
  fi
  if helm template storefleet "$CHART" -n storefleet -f "$CHART/values.yaml" -f "$CHART/values-local.yaml" \
       >"$TMP/local.yaml" 2>"$TMP/template.err"; then
    ok "helm template storefleet $CHART -n storefleet -f values.yaml -f values-local.yaml"
    # What the justfile and docs/local.md rely on.
    problems=()
    r=$TMP/local.yaml
    grep -q '^  name: storefleet-api$' "$r" || problems+=("no Deployment/Service storefleet-api (just install waits on deploy/storefleet-api)")
    grep -q '^  name: storefleet-orchestrator$' "$r" || problems+=("no storefleet-orchestrator (just install waits on it)")
    grep -q -- '- name: api$' "$r" || problems+=("no container named api (just admin execs -c api)")
    grep -q 'host: "storefleet.127.0.0.1.nip.io"' "$r" || problems+=("Ingress host is not storefleet.127.0.0.1.nip.io (the dashboard URL just up prints)")
    grep -q 'ingressClassName: "traefik"' "$r" || problems+=("Ingress class is not traefik")
    grep -q 'cert-manager.io/cluster-issuer' "$r" && problems+=("TLS annotation rendered locally")
    grep -q 'image: storefleet:dev' "$r" || problems+=("image is not storefleet:dev (what just images imports)")
    grep -q 'STOREFLEET_STORE_DOMAIN: "127.0.0.1.nip.io"' "$r" || problems+=("store domain is not 127.0.0.1.nip.io")
    grep -q 'STOREFLEET_TLS_ISSUER: ""' "$r" || problems+=("store TLS issuer is set locally")
    grep -q 'STOREFLEET_ORDER_CHECK_VIA: service' "$r" || problems+=("the in-cluster orchestrator does not reach stores through their Services (*.127.0.0.1.nip.io is the pod itself)")
    grep -q 'kind: StatefulSet' "$r" || problems+=("no bundled PostgreSQL StatefulSet")
    # The API pods mount no service-account token.
    api_no_token=$(awk '/^---/{d=0; a=0} /^kind: Deployment/{d=1} d && /^  name: storefleet-api$/{a=1}
      a && /automountServiceAccountToken: false/{print "yes"; exit}' "$r")
    [[ $api_no_token == yes ]] || problems+=("API Deployment does not set automountServiceAccountToken: false")
    if (( ${#problems[@]} == 0 )); then
      ok "values-local render: names, host, class, image and domain match just up / docs/local.md"
    else
      bad "values-local render" "$(IFS='; '; echo "${problems[*]}")"
    fi
  else
    show "$TMP/template.err"; bad "helm template $CHART (values-local)" "failed"
  fi
  # `just images` tags the medusa build with the image the medusa chart's pods use.
  chart_image=$(helm template store charts/medusa --show-only templates/medusa.yaml 2>/dev/null \
    | sed -n 's/^ *image: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -n 1)
  if [[ -n $chart_image ]]; then
    ok "helm template charts/medusa: stores run image $chart_image (tagged by just images)"
  else
    bad "helm template charts/medusa" "no image found in templates/medusa.yaml (just images would not tag the build)"
  fi
fi

(( failed == 0 ))
