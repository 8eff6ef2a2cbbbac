#!/usr/bin/env bash
# Storefleet benchmarks: one command, results in bench/results.md (and bench/results.json).
#
#   bench/run.sh            full sizes: ~15 minutes after the build. Provisioning installs the
#                           engine charts users install (charts/woocommerce, charts/medusa), one
#                           row each, with the CPU seconds each store cost, split by process
#   bench/run.sh --quick    CI size: wrk 5 s on SQLite, 100 stores for memory, 3 stores of each
#                           engine for provisioning; ~5 minutes after the build
#   bench/run.sh --only list,memory,provisioning   run some sections only
#   bench/run.sh --quick --out /tmp/bench.md       CI: keep the committed bench/results.md
#   python3 bench/bench.py --render bench/results.json   rewrite results.md (e.g. after editing
#                           bench/notes.md, the hand-written analysis copied under the tables)
#   python3 bench/profile_list.py                  perf profile of serve under the wrk load
#
# Exits non-zero only when the harness itself breaks (a tool missing for a section that must
# run, a process that does not start, a figure that could not be taken) — never on a missed target.
#
# Needs: cargo, python3 (standard library), curl, wrk (Debian: apt-get install wrk),
# PostgreSQL 15 server binaries (PG_BIN, default /usr/lib/postgresql/15/bin) for the PostgreSQL
# figure, and for the provisioning figures: kube-apiserver, kube-controller-manager,
# kube-scheduler and etcd in K8S_BIN (default $KUBEBUILDER_ASSETS or /usr/local/kubebuilder/bin),
# helm (STOREFLEET_BENCH_HELM or PATH), kubectl, and start-control-plane.sh + node-sim.py in
# STOREFLEET_BENCH_TOOLS (default /work/shared/tools). Without them that section prints
# `skipped: <reason>`.
# STOREFLEET_BENCH_KEEP=1 keeps the work directory (logs of every process) after the run.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo python3 curl wrk; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench: $tool is required (wrk: apt-get install -y wrk)" >&2
    exit 2
  fi
done

echo "bench: cargo build --release -p storefleet" >&2
cargo build --release -p storefleet >&2

# bench.py stops every process it started, by PID, on exit, Ctrl-C and SIGTERM.
py_pid=
forward() { [[ -n $py_pid ]] && kill -TERM "$py_pid" 2>/dev/null || true; }
trap forward INT TERM
python3 bench/bench.py "$@" &
py_pid=$!
set +e
wait "$py_pid"; rc=$?
# a trapped signal interrupts `wait`: wait again for the cleanup to finish
while kill -0 "$py_pid" 2>/dev/null; do wait "$py_pid"; rc=$?; done
exit "$rc"
