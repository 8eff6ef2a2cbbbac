#!/usr/bin/env python3
"""Storefleet benchmarks (issue 5). Driven by bench/run.sh; Python standard library only.

Drives the release `storefleet` binary as a user would, measures, and writes bench/results.md.
Every process it starts is recorded and stopped by PID on exit (also on Ctrl-C / SIGTERM).
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BIN = os.path.join(ROOT, "target", "release", "storefleet")
# Provisioning runs on the engine charts users install (issue 12), one row per engine.
ENGINE_CHARTS = os.path.join(ROOT, "charts")
ENGINES = ("woocommerce", "medusa")
# The engine the single-engine sections (delete, API load, replicas) use: the heavier chart.
MAIN_ENGINE = "woocommerce"
# Processes whose CPU time is the platform's cost of a store; node-sim stands in for kubelets
# and is reported beside them, not in the sum.
PLATFORM_PROCESSES = ("storefleet", "helm", "kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
K8S_BIN = os.environ.get("K8S_BIN", os.environ.get("KUBEBUILDER_ASSETS", "/usr/local/kubebuilder/bin"))
TOOLS = os.environ.get("STOREFLEET_BENCH_TOOLS", "/work/shared/tools")
HELM = os.environ.get("STOREFLEET_BENCH_HELM", shutil.which("helm") or "/usr/local/bin/helm")
READY_DELAY = 1.0
JOB_SECONDS = 5.0
HIGH_LOAD = float(os.environ.get("STOREFLEET_BENCH_MAX_LOAD", "1.5"))

# ------------------------------------------------------------------ process bookkeeping
_cleanups = []  # LIFO callables
_tmp_root = None


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def on_exit(fn):
    _cleanups.append(fn)
    return fn


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # cleanup must go on
            log(f"cleanup error: {e}")


def stop_pid(pid, sig=signal.SIGTERM, wait=10.0, name=""):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.time() + wait
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # reap if it is our child
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    log(f"{name or pid} did not stop, SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def spawn(name, argv, logfile, env=None, cwd=None, stop_signal=signal.SIGTERM):
    out = open(logfile, "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env=env, cwd=cwd)
    out.close()
    on_exit(lambda: stop_pid(p.pid, stop_signal, name=name))
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def load1():
    return float(open("/proc/loadavg").read().split()[0])


def wait_quiet(max_wait):
    """Wait (up to max_wait s) for the 1-minute load to drop below HIGH_LOAD; return the load seen."""
    deadline = time.time() + max_wait
    while load1() > HIGH_LOAD and time.time() < deadline:
        time.sleep(5)
    return loadavg()


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)


# ------------------------------------------------------------------ /proc helpers
CLK = os.sysconf("SC_CLK_TCK")


def proc_kib_mib(path, key):
    """The `key:` line (in kB) of a /proc file, in MiB; 0 when the process is gone."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mib(pid):
    return proc_kib_mib(f"/proc/{pid}/status", "VmRSS")


def hwm_mib(pid):
    return proc_kib_mib(f"/proc/{pid}/status", "VmHWM")


def cpu_times(pid):
    """(own cpu s, waited-for children cpu s) from /proc/pid/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ut, st, cut, cst = (int(x) for x in fields[11:15])
        return (ut + st) / CLK, (cut + cst) / CLK
    except OSError:
        return 0.0, 0.0


def pss_mib(pid):
    return proc_kib_mib(f"/proc/{pid}/smaps_rollup", "Pss")


def children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


class RssSampler(threading.Thread):
    """Samples RSS of a process and of its process tree every `period` seconds."""

    def __init__(self, pid, period=0.2):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.max_own = 0.0
        self.max_tree = 0.0
        self.max_tree_pss = 0.0
        self.max_children = 0
        self.child_pids = {}
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            own = rss_mib(self.pid)
            tree, todo, n = own, children(self.pid), 0
            pss = pss_mib(self.pid)
            while todo:
                c = todo.pop()
                n += 1
                self.child_pids.setdefault(c, comm(c))
                tree += rss_mib(c)
                pss += pss_mib(c)
                todo += children(c)
            self.max_own = max(self.max_own, own)
            self.max_tree = max(self.max_tree, tree)
            self.max_tree_pss = max(self.max_tree_pss, pss)
            self.max_children = max(self.max_children, n)
            self._halt.wait(self.period)

    def stop(self):
        self._halt.set()
        self.join(2)


# ------------------------------------------------------------------ HTTP client
class Api:
    def __init__(self, base, token=None):
        self.base, self.token = base, token

    def req(self, method, path, body=None, timeout=30, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method)
        if self.token:
            r.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            r.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            r.add_header(k, v)
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                raw = resp.read()
                try:
                    return resp.status, (json.loads(raw) if raw else None)
                except ValueError:
                    return resp.status, raw.decode(errors="replace")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def create(self, name, engine=MAIN_ENGINE):
        code, body = self.req("POST", "/api/v1/stores",
                              {"name": name, "engine": engine, "plan": "small"})
        if code != 201:
            raise RuntimeError(f"create {name}: HTTP {code} {body}")
        return body

    def get(self, sid):
        code, body = self.req("GET", f"/api/v1/stores/{sid}")
        if code != 200:
            raise RuntimeError(f"get {sid}: HTTP {code} {body}")
        return body

    def list_all(self):
        items, after = [], None
        while True:
            q = "?limit=200" + (f"&after={after}" if after else "")
            code, body = self.req("GET", "/api/v1/stores" + q)
            if code != 200:
                raise RuntimeError(f"list: HTTP {code} {body}")
            items += body["items"]
            after = body.get("next_after")
            if not after:
                return items

    def delete(self, sid):
        code, body = self.req("DELETE", f"/api/v1/stores/{sid}")
        if code not in (200, 202, 204):
            raise RuntimeError(f"delete {sid}: HTTP {code} {body}")


def create_many(api, names, workers=8):
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(api.create, names))


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def ts(s):
    """RFC 3339 → Unix seconds (float), any number of fraction digits."""
    m = _TS.match(s)
    if not m:
        raise ValueError(f"bad timestamp {s!r}")
    base, frac, tz = m.groups()
    tz = "+00:00" if tz == "Z" else tz
    t = datetime.datetime.fromisoformat(base + tz).timestamp()
    return t + (float(frac) if frac else 0.0)


def cond(store, ctype):
    for c in store.get("conditions") or []:
        if c["type"] == ctype:
            return c
    return None


def cond_true_at(store, ctype):
    c = cond(store, ctype)
    return ts(c["last_transition_time"]) if c and c["status"] == "True" else None


# ------------------------------------------------------------------ storefleet serve
class Serve:
    def __init__(self, tag, db_url, workdir, kubeconfig="/nonexistent", extra=(), role="serve"):
        """`role`: serve (API + orchestrator), api or orchestrator."""
        self.port = free_port()
        self.db_url = db_url
        self.base = f"http://127.0.0.1:{self.port}"
        self.argv = [BIN, role, "--database-url", db_url, "--listen", f"127.0.0.1:{self.port}", *extra]
        env = dict(os.environ, KUBECONFIG=kubeconfig)
        for k in list(env):
            if k.startswith("STOREFLEET_") and not k.startswith("STOREFLEET_BENCH"):
                del env[k]
        self.logfile = os.path.join(workdir, f"serve-{tag}.log")
        self.cmd_display = f"KUBECONFIG={kubeconfig} " + " ".join(
            shlex.quote(a) for a in [os.path.relpath(BIN, ROOT)] + self.argv[1:])
        self.proc = spawn(f"{role}-{tag}", self.argv, self.logfile, env=env, cwd=workdir,
                          stop_signal=signal.SIGTERM)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}; see {self.logfile}:\n"
                                   + open(self.logfile).read()[-2000:])
            try:
                code, _ = Api(self.base).req("GET", "/healthz", timeout=2)
                if code == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"serve not healthy after 60 s; see {self.logfile}")
            time.sleep(0.1)

    @property
    def pid(self):
        return self.proc.pid

    def add_user(self, name, admin=True):
        argv = [BIN, "user", "add", name, "--database-url", self.db_url] + (["--admin"] if admin else [])
        r = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, STOREFLEET_LOG="warn"))
        if r.returncode != 0:
            raise RuntimeError(f"user add: {r.stderr}")
        return r.stdout.strip().splitlines()[-1]

    def stop(self):
        stop_pid(self.proc.pid, signal.SIGTERM, name="serve")


RAISED = ["--max-stores-per-user", "100000", "--max-stores-total", "100000",
          "--rate-per-user", "1000000", "--rate-per-ip", "1000000"]


# ------------------------------------------------------------------ PostgreSQL
class Postgres:
    """A PostgreSQL 15 server as a user would run it (fsync on), on a free port, torn down on exit."""

    def __init__(self, workdir):
        self.dir = tempfile.mkdtemp(prefix="pg-", dir=workdir)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        as_pg = os.geteuid() == 0
        if as_pg:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(workdir, 0o755)
        self.prefix = ["runuser", "-u", "postgres", "--"] if as_pg else []
        r = subprocess.run(self.prefix + [f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                                          "-E", "UTF8", "--no-sync"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"initdb: {r.stderr}")
        self.log = os.path.join(workdir, "postgres.log")
        open(self.log, "a").close()
        if as_pg:
            shutil.chown(self.log, "postgres", "postgres")
        self.proc = subprocess.Popen(
            self.prefix + [f"{PG_BIN}/postgres", "-D", self.data, "-p", str(self.port), "-k", self.dir,
                           "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        on_exit(self.stop)
        deadline = time.time() + 60
        while sh([f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)]).returncode != 0:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("postgres did not start:\n" + open(self.log).read()[-2000:])
            time.sleep(0.2)
        r = sh([f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c",
                "CREATE DATABASE bench"])
        if r.returncode != 0:
            raise RuntimeError(f"createdb: {r.stderr}")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/bench"
        self.version = sh([f"{PG_BIN}/postgres", "--version"]).stdout.strip()

    def stop(self):
        pidfile = os.path.join(self.data, "postmaster.pid")
        try:
            pid = int(open(pidfile).read().split()[0])
            stop_pid(pid, signal.SIGINT, wait=20, name="postgres")  # fast shutdown, by PID
        except (OSError, ValueError):
            pass
        stop_pid(self.proc.pid, signal.SIGTERM, wait=5, name="runuser(postgres)")
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------ benchmarks
def bench_list(results, workdir, backend, duration, quick):
    name = f"list-{backend}"
    log(f"[1] GET /api/v1/stores on {backend}, wrk {duration}")
    if backend == "postgres":
        pg = Postgres(workdir)
        db_url = pg.url
        results["versions"]["postgres"] = pg.version
    else:
        pg = None
        db_url = f"sqlite://{workdir}/{name}.db"
    serve = Serve(name, db_url, workdir, extra=RAISED)
    token = serve.add_user("bench-admin")
    api = Api(serve.base, token)
    create_many(api, [f"list-{i:03d}" for i in range(30)])
    code, body = api.req("GET", "/api/v1/stores")
    if code != 200 or len(body["items"]) != 30:
        raise RuntimeError(f"list check: HTTP {code}, {len(body.get('items', [])) if isinstance(body, dict) else body}")
    url = f"{serve.base}/api/v1/stores"
    argv = ["wrk", "-t2", "-c32", f"-d{duration}", "--latency", "-s", os.path.join(BENCH, "wrk-auth.lua"), url]
    cmd = ("STOREFLEET_TOKEN=<admin token> wrk -t2 -c32 -d" + duration +
           " --latency -s bench/wrk-auth.lua http://127.0.0.1:PORT/api/v1/stores  # against: " + serve.cmd_display)
    best, attempts = None, []
    for attempt in range(1 if quick else 2):
        load_before = wait_quiet(0 if quick else 20)
        rss0 = rss_mib(serve.pid)
        cpu0 = cpu_times(serve.pid)[0]
        r = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, STOREFLEET_TOKEN=token))
        cpu1 = cpu_times(serve.pid)[0]
        line = [l for l in r.stdout.splitlines() if l.startswith("BENCHJSON ")]
        if r.returncode != 0 or not line:
            raise RuntimeError(f"wrk failed: {r.stdout}\n{r.stderr}")
        w = json.loads(line[-1][len("BENCHJSON "):])
        secs = w["duration_us"] / 1e6
        fig = {
            "backend": backend, "rps": w["requests"] / secs, "p50_ms": w["p50_us"] / 1000,
            "p90_ms": w["p90_us"] / 1000, "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000,
            "requests": w["requests"],
            "errors": w["non2xx"] + w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"],
            "non2xx": w["non2xx"], "socket_errors": {k: w[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")},
            "serve_cpu_share": (cpu1 - cpu0) / secs, "serve_rss_mib": rss_mib(serve.pid), "serve_rss_before_mib": rss0,
            "load_before": load_before, "load_after": loadavg(), "command": cmd, "wrk_stdout": r.stdout,
        }
        log(f"    {backend}: {fig['rps']:.0f} req/s p50 {fig['p50_ms']:.2f} ms p99 {fig['p99_ms']:.2f} ms "
            f"errors {fig['errors']} (load {load_before})")
        attempts.append({k: fig[k] for k in ("rps", "p50_ms", "p99_ms", "errors", "load_before")})
        if best is None or fig["rps"] > best["rps"]:
            best = fig
        best["attempts"] = attempts
        if float(load_before.split()[0]) <= HIGH_LOAD:
            break
    results["list"][backend] = best
    serve.stop()
    if pg:
        pg.stop()


def bench_memory(results, workdir, n, backend="sqlite"):
    log(f"[2] memory on {backend}: idle, then {n} stores")
    pg = None
    if backend == "postgres":
        pg = Postgres(workdir)
        db = pg.url
    else:
        db = f"sqlite://{workdir}/memory.db"
    serve = Serve(f"memory-{backend}", db, workdir, extra=RAISED)
    time.sleep(5)
    idle = {"rss_mib": rss_mib(serve.pid), "load": loadavg()}
    token = serve.add_user("bench-admin")
    api = Api(serve.base, token)
    t0 = time.time()
    create_many(api, [f"mem-{i:04d}" for i in range(n)])
    t_create = time.time() - t0
    items = api.list_all()
    if len(items) != n:
        raise RuntimeError(f"listed {len(items)} of {n} stores")
    time.sleep(2)
    full = {"n": n, "rss_mib": rss_mib(serve.pid), "hwm_mib": hwm_mib(serve.pid), "load": loadavg(),
            "create_seconds": t_create, "listed": len(items)}
    results["memory" if backend == "sqlite" else f"memory_{backend}"] = {"backend": backend, "idle": idle, "full": full, "command": serve.cmd_display +
                         f"  # then {n}× POST /api/v1/stores (8 client threads), GET /api/v1/stores?limit=200 through every page; RSS = VmRSS of serve"}
    log(f"    idle {idle['rss_mib']:.1f} MiB; {n} stores {full['rss_mib']:.1f} MiB (peak {full['hwm_mib']:.1f})")
    serve.stop()
    if pg:
        pg.stop()


class ControlPlane:
    def __init__(self, workdir):
        self.state = os.path.join(workdir, "k8s")
        os.makedirs(self.state)
        self.env = dict(os.environ, K8S_STATE=self.state, K8S_BIN=K8S_BIN,
                        ETCD_PORT=str(free_port()), ETCD_PEER_PORT=str(free_port()), API_PORT=str(free_port()),
                        KCM_PORT=str(free_port()), SCHED_PORT=str(free_port()), K8S_TIMEOUT="180")
        self.script = os.path.join(TOOLS, "start-control-plane.sh")
        on_exit(self.stop)
        t0 = time.time()
        r = subprocess.run([self.script, "start"], capture_output=True, text=True, env=self.env)
        if r.returncode != 0:
            raise RuntimeError(f"control plane: {r.stderr[-2000:]}")
        self.kubeconfig = r.stdout.strip().splitlines()[-1]
        self.start_seconds = time.time() - t0

    def pids(self):
        out = {}
        d = os.path.join(self.state, "pids")
        for f in os.listdir(d) if os.path.isdir(d) else []:
            if f.endswith(".pid"):
                try:
                    out[f[:-4]] = int(open(os.path.join(d, f)).read())
                except ValueError:
                    pass
        return out

    def kubectl(self, *args):
        return sh(["kubectl", "--kubeconfig", self.kubeconfig, *args])

    def stop(self):
        subprocess.run([self.script, "stop"], capture_output=True, env=self.env)


class NsWatch(threading.Thread):
    """kubectl watch on namespaces: local time a deletionTimestamp was first seen, and gone."""

    def __init__(self, cp, logfile):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(["kubectl", "--kubeconfig", cp.kubeconfig, "get", "namespaces", "--watch",
                                      "--output-watch-events", "-o", "json"], stdout=subprocess.PIPE,
                                     stderr=open(logfile, "ab"), text=True)
        on_exit(lambda: stop_pid(self.proc.pid, name="kubectl watch"))
        self.terminating, self.gone = {}, {}

    def run(self):
        dec, buf = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buf += line
            while True:
                s = buf.lstrip()
                if not s:
                    buf = ""
                    break
                try:
                    ev, end = dec.raw_decode(s)
                except ValueError:
                    break
                buf = s[end:]
                now = time.time()
                obj = ev.get("object", {})
                name = obj.get("metadata", {}).get("name")
                if ev.get("type") == "DELETED":
                    self.gone.setdefault(name, now)
                elif obj.get("metadata", {}).get("deletionTimestamp"):
                    self.terminating.setdefault(name, now)


def cpu_snapshot(pids):
    return {k: cpu_times(p) for k, p in pids.items()}


def host_busy_seconds():
    """Busy CPU seconds of the whole host so far (all cores, /proc/stat), idle and iowait excluded."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / CLK


def cpu_split(pids, cpu0, cpu1, n):
    """CPU seconds per store by process, from two snapshots of (own, waited children) times."""
    per = {}
    for k in pids:
        name = "storefleet" if k == "serve" else k
        per[name] = (cpu1[k][0] - cpu0[k][0]) / n
    # helm runs as a child of serve and is reaped by it: its CPU lands in serve's children times.
    per["helm"] = (cpu1["serve"][1] - cpu0["serve"][1]) / n
    platform = sum(per.get(p, 0.0) for p in PLATFORM_PROCESSES)
    return {"per_store": per, "platform_per_store": platform}


def one_store_runs(api, engine, runs):
    one = []
    for i in range(runs):
        t_post = time.time()
        s = api.create(f"one-{engine[:3]}-{i}", engine)
        done = wait_conditions(api, [s["id"]], ["WorkloadsReady", "StoreConfigured"], 120)[s["id"]]
        created = ts(s["created_at"])
        row = {"post_to_accept": created - t_post}
        for c in ("NamespaceReady", "GuardrailsApplied", "ReleaseInstalled", "WorkloadsReady", "StoreConfigured"):
            at = cond_true_at(done, c)
            row[c] = (at - created) if at else None
        one.append(row)
        log(f"    {engine} one-{i}: " + ", ".join(f"{k} {v:.2f}s" for k, v in row.items() if v is not None))
        api.delete(s["id"])
        wait_phase(api, [s["id"]], "deleted", 120)
        time.sleep(1)
    return one


def many_at_once(api, engine, n, quick, pids, serve):
    """N stores of one engine at once: throughput, memory, and the CPU each store cost."""
    # The cluster's idle CPU rate first (leases, heartbeats, node-sim's status updates): the part
    # of the run's CPU that was not the stores' doing.
    idle_seconds = 5.0
    idle0 = cpu_snapshot(pids)
    time.sleep(idle_seconds)
    idle1 = cpu_snapshot(pids)
    cpu0 = cpu_snapshot(pids)
    host0 = host_busy_seconds()
    sampler = RssSampler(serve.pid)
    sampler.start()
    t_first = time.time()
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        created = list(ex.map(lambda name: api.create(name, engine), [f"many-{engine[:3]}-{i:02d}" for i in range(n)]))
    t_last_post = time.time()
    ids = [s["id"] for s in created]
    done = wait_conditions(api, ids, ["WorkloadsReady", "StoreConfigured"], 120 if quick else 600)
    t_end = time.time()
    sampler.stop()
    cpu1 = cpu_snapshot(pids)
    host1 = host_busy_seconds()
    wr = [cond_true_at(done[i], "WorkloadsReady") for i in ids]
    sc = [cond_true_at(done[i], "StoreConfigured") for i in ids]
    helm_runs = sum(1 for c in sampler.child_pids.values() if c == "helm")
    fig = {
        "engine": engine, "n": n, "posts_seconds": t_last_post - t_first,
        "all_workloads_ready_seconds": max(wr) - t_first, "all_configured_seconds": max(sc) - t_first,
        "stores_per_hour_workloads": n / (max(wr) - t_first) * 3600,
        "stores_per_hour_configured": n / (max(sc) - t_first) * 3600,
        "p50_workloads_ready": statistics.median(w - ts(s["created_at"]) for w, s in zip(wr, created)),
        "p50_configured": statistics.median(c - ts(s["created_at"]) for c, s in zip(sc, created)),
        "rss_max_serve_mib": sampler.max_own, "rss_max_tree_mib": sampler.max_tree, "pss_max_tree_mib": sampler.max_tree_pss,
        "max_children": sampler.max_children, "helm_processes_seen": helm_runs,
        "cpu": cpu_split(pids, cpu0, cpu1, n), "host_busy_per_store": (host1 - host0) / n,
        "idle_cpu_per_second": {k: v * n / idle_seconds for k, v in cpu_split(pids, idle0, idle1, n)["per_store"].items()},
        "wall_seconds": t_end - t_first,
    }
    idle = sum(fig["idle_cpu_per_second"].get(p, 0.0) for p in PLATFORM_PROCESSES) * fig["wall_seconds"] / n
    fig["cpu"]["platform_per_store_above_idle"] = fig["cpu"]["platform_per_store"] - idle
    log(f"    {engine}, {n} stores: all WorkloadsReady {fig['all_workloads_ready_seconds']:.1f}s "
        f"({fig['stores_per_hour_workloads']:.0f}/h), all StoreConfigured {fig['all_configured_seconds']:.1f}s; "
        f"platform CPU {fig['cpu']['platform_per_store']:.2f} s/store ("
        + ", ".join(f"{k} {v:.2f}" for k, v in fig["cpu"]["per_store"].items()) + ")")
    return ids, fig


def bench_provisioning(results, workdir, quick):
    missing = []
    if not os.path.isfile(os.path.join(K8S_BIN, "kube-apiserver")):
        missing.append(f"kube-apiserver (K8S_BIN={K8S_BIN})")
    if not (os.path.isfile(HELM) and os.access(HELM, os.X_OK)):
        missing.append(f"helm ({HELM})")
    for t in ("start-control-plane.sh", "node-sim.py"):
        if not os.path.isfile(os.path.join(TOOLS, t)):
            missing.append(f"{t} (STOREFLEET_BENCH_TOOLS={TOOLS})")
    if not shutil.which("kubectl"):
        missing.append("kubectl")
    if missing:
        reason = "missing " + ", ".join(missing)
        print(f"skipped: provisioning benchmarks: {reason}", flush=True)
        results["provisioning"] = {"skipped": reason}
        return
    prov = results["provisioning"] = {"engines": {}}
    log("[3] control plane + node-sim")
    cp = ControlPlane(workdir)
    prov["control_plane_start_seconds"] = cp.start_seconds
    results["versions"]["kube-apiserver"] = sh([os.path.join(K8S_BIN, "kube-apiserver"), "--version"]).stdout.strip()
    results["versions"]["helm"] = sh([HELM, "version", "--short"]).stdout.strip()
    sim_argv = [sys.executable, os.path.join(TOOLS, "node-sim.py"), "--kubeconfig", cp.kubeconfig,
                "--ready-delay", str(READY_DELAY), "--job-seconds", str(JOB_SECONDS), "--pods", "2000",
                # room for 30 stores of each engine at once (the real charts request real CPU)
                "--cpu", "256", "--memory", "1024Gi"]
    sim = spawn("node-sim", sim_argv, os.path.join(workdir, "node-sim.log"))
    deadline = time.time() + 60
    while "Ready" not in cp.kubectl("get", "nodes", "--no-headers").stdout:
        if sim.poll() is not None or time.time() > deadline:
            raise RuntimeError("node-sim did not register a Ready node:\n" + open(os.path.join(workdir, "node-sim.log")).read()[-2000:])
        time.sleep(0.5)
    extra = ["--charts-dir", ENGINE_CHARTS, "--helm", HELM] + RAISED
    serve = Serve("provisioning", f"sqlite://{workdir}/provisioning.db", workdir, kubeconfig=cp.kubeconfig, extra=extra)
    token = serve.add_user("bench-admin")
    api = Api(serve.base, token)
    prov["command"] = serve.cmd_display
    prov["sim_command"] = "python3 /work/shared/tools/node-sim.py --kubeconfig $KUBECONFIG " + " ".join(sim_argv[4:])
    prov["cp_command"] = "K8S_STATE=$(mktemp -d) /work/shared/tools/start-control-plane.sh start  # free ports via ETCD_PORT/API_PORT/…"
    prov["note_raised"] = "quota and rate flags raised (" + " ".join(RAISED) + ") so one user may create every store; concurrency, lease, poll intervals at defaults"
    pids = dict(cp.pids(), serve=serve.pid, **{"node-sim": sim.pid})

    n = 3 if quick else 30
    created_main = []
    for engine in ENGINES:
        row = prov["engines"][engine] = {}
        # warm-up: the engine's first helm run and first namespace in a fresh cluster (not counted)
        log(f"    {engine}: warm-up store")
        s = api.create(f"warm-{engine[:3]}", engine)
        wait_conditions(api, [s["id"]], ["WorkloadsReady", "StoreConfigured"], 120)
        api.delete(s["id"])
        wait_phase(api, [s["id"]], "deleted", 120)

        # (a) one store, no queue
        wait_quiet(0 if quick else 20)
        load = loadavg()
        row["one"] = {"runs": one_store_runs(api, engine, 3 if quick else 5), "load_before": load, "load_after": loadavg()}

        # (b) N stores at once
        wait_quiet(0 if quick else 20)
        load = loadavg()
        ids, fig = many_at_once(api, engine, n, quick, pids, serve)
        fig.update(load_before=load, load_after=loadavg())
        row["many"] = fig
        if engine == MAIN_ENGINE:
            created_main = ids
        else:
            delete_all(api, ids)

    # helm alone, on the main engine's chart: with the orchestrator's flags and without the one
    # that skips client-side OpenAPI validation, to keep that choice's price visible
    prov["helm_alone"] = helm_alone(cp, workdir)

    # (c) delete 10 stores
    if not quick:
        wait_quiet(20)
        prov["delete"] = delete_ten(api, cp, workdir, created_main[:10])
    else:
        prov["delete"] = {"skipped": "--quick"}

    # (d) the same N stores at once while wrk hammers GET /stores on the same process
    for sid in created_main:
        if api.get(sid)["phase"] not in ("deleting", "deleted"):
            api.delete(sid)
    wait_phase(api, created_main, "deleted", 300)
    prov["under_load"] = provision_under_load(api, serve, token, n, quick)
    serve.stop()

    # (e) PostgreSQL: one API process and 1, 2, 3 orchestrator replicas
    prov["replicas"] = provision_with_replicas(cp, workdir, n, (1,) if quick else (1, 2, 3), extra)


def delete_ten(api, cp, workdir, victims_ids):
    c_load = loadavg()
    watch = NsWatch(cp, os.path.join(workdir, "kubectl-watch.log"))
    watch.start()
    time.sleep(2)
    victims = [api.get(sid) for sid in victims_ids]
    t_del, delete_errors = {}, []

    def do_delete(s):
        # A client retries a 5xx; every failed attempt is recorded and counts against us.
        t_del[s["id"]] = time.time()
        for _ in range(50):
            code, body = api.req("DELETE", f"/api/v1/stores/{s['id']}")
            if code in (200, 202, 204):
                return
            delete_errors.append(f"HTTP {code}: {json.dumps(body)[:200]}")
            if code < 500:
                raise RuntimeError(f"delete {s['name']}: HTTP {code} {body}")
            time.sleep(0.2)
        raise RuntimeError(f"delete {s['name']}: still failing after 50 attempts")
    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        list(ex.map(do_delete, victims))
    seen = wait_phase(api, [s["id"] for s in victims], "deleted", 300)
    time.sleep(1)
    rows = []
    for s in victims:
        ns = s["namespace"]
        ours = seen[s["id"]] - t_del[s["id"]]
        term, gone = watch.terminating.get(ns), watch.gone.get(ns)
        rows.append({"store": s["name"], "namespace": ns, "delete_to_deleted": ours,
                     "ns_controller": (gone - term) if term and gone else None,
                     "delete_to_ns_terminating": (term - t_del[s["id"]]) if term else None,
                     "ns_gone_to_deleted": (seen[s["id"]] - gone) if gone else None})
    med = lambda k: statistics.median(r[k] for r in rows if r[k] is not None)
    log(f"    delete p50 {med('delete_to_deleted'):.2f}s; namespace controller p50 {med('ns_controller'):.2f}s")
    return {"runs": rows, "errors": delete_errors, "load_before": c_load, "load_after": loadavg(),
            "command": "10 concurrent DELETE /api/v1/stores/{id}; poll GET every 0.1 s until phase=deleted; "
                       "kubectl get namespaces --watch --output-watch-events -o json for the namespace controller's time "
                       "(deletionTimestamp first seen → DELETED event)"}


def provision_batch(api, names, timeout):
    """Create `names` at once; wait until every one is WorkloadsReady and StoreConfigured."""
    t_first = time.time()
    with concurrent.futures.ThreadPoolExecutor(len(names)) as ex:
        created = list(ex.map(api.create, names))
    ids = [s["id"] for s in created]
    done = wait_conditions(api, ids, ["WorkloadsReady", "StoreConfigured"], timeout)
    wr = [cond_true_at(done[i], "WorkloadsReady") for i in ids]
    sc = [cond_true_at(done[i], "StoreConfigured") for i in ids]
    n = len(names)
    return ids, {
        "n": n,
        "all_workloads_ready_seconds": max(wr) - t_first, "all_configured_seconds": max(sc) - t_first,
        "stores_per_hour_workloads": n / (max(wr) - t_first) * 3600,
        "stores_per_hour_configured": n / (max(sc) - t_first) * 3600,
        "p50_workloads_ready": statistics.median(w - ts(s["created_at"]) for w, s in zip(wr, created)),
    }


def delete_all(api, ids):
    for sid in ids:
        api.delete(sid)
    wait_phase(api, ids, "deleted", 300)


def provision_under_load(api, serve, token, n, quick):
    """The API-starvation scenario of issue 5: wrk -t2 -c32 on GET /stores of the same `serve`
    process while N stores provision. Every store must still complete; the throughput is
    compared with the unloaded run (b)."""
    wait_quiet(0 if quick else 20)
    load_before = loadavg()
    duration = 15 if quick else 60
    log(f"    (d) {n} stores while wrk -t2 -c32 runs for {duration}s on GET /api/v1/stores")
    argv = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", "-s", os.path.join(BENCH, "wrk-auth.lua"),
            f"{serve.base}/api/v1/stores"]
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, STOREFLEET_TOKEN=token))
    on_exit(lambda: stop_pid(wrk.pid, name="wrk"))
    time.sleep(1)
    ids, fig = provision_batch(api, [f"load-{i:02d}" for i in range(n)], 120 if quick else 600)
    out, err = wrk.communicate(timeout=duration + 30)
    line = [l for l in out.splitlines() if l.startswith("BENCHJSON ")]
    if wrk.returncode != 0 or not line:
        raise RuntimeError(f"wrk failed: {out}\n{err}")
    w = json.loads(line[-1][len("BENCHJSON "):])
    secs = w["duration_us"] / 1e6
    fig.update({
        "wrk_rps": w["requests"] / secs, "wrk_p99_ms": w["p99_us"] / 1000, "wrk_p50_ms": w["p50_us"] / 1000,
        "wrk_errors": w["non2xx"] + w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"],
        "wrk_seconds": secs, "load_before": load_before, "load_after": loadavg(),
        "command": f"STOREFLEET_TOKEN=<admin token> wrk -t2 -c32 -d{duration}s --latency -s bench/wrk-auth.lua "
                   f"http://127.0.0.1:PORT/api/v1/stores & then {n} concurrent POSTs to the same serve",
    })
    log(f"    under load: all WorkloadsReady {fig['all_workloads_ready_seconds']:.1f}s "
        f"({fig['stores_per_hour_workloads']:.0f}/h); wrk {fig['wrk_rps']:.0f} req/s p99 {fig['wrk_p99_ms']:.2f} ms "
        f"errors {fig['wrk_errors']}")
    delete_all(api, ids)
    return fig


def provision_with_replicas(cp, workdir, n, replica_counts, extra):
    """Throughput on PostgreSQL with 1, 2, 3 `storefleet orchestrator` replicas behind one
    `storefleet api`, each config on a fresh database, each replica at default settings."""
    pg = Postgres(workdir)
    runs = []
    for k, replicas in enumerate(replica_counts):
        db = f"replicas{k}"
        r = sh([f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-c", f"CREATE DATABASE {db}"])
        if r.returncode != 0:
            raise RuntimeError(f"createdb: {r.stderr}")
        url = f"postgres://postgres@127.0.0.1:{pg.port}/{db}"
        # The API migrates the database; orchestrators start after it.
        api_proc = Serve(f"replicas{k}-api", url, workdir, extra=RAISED, role="api")
        orchestrators = [Serve(f"replicas{k}-orch{j}", url, workdir, kubeconfig=cp.kubeconfig,
                               extra=extra, role="orchestrator") for j in range(replicas)]
        token = api_proc.add_user("bench-admin")
        api = Api(api_proc.base, token)
        one = []
        if k == 0:
            # (a) again, on PostgreSQL: one store at a time, accept → WorkloadsReady
            wait_quiet(20 if n > 5 else 0)
            for i in range(3 if n <= 5 else 5):
                s = api.create(f"rep-one-{i}")
                done = wait_conditions(api, [s["id"]], ["WorkloadsReady", "StoreConfigured"], 120)[s["id"]]
                one.append(cond_true_at(done, "WorkloadsReady") - ts(s["created_at"]))
                delete_all(api, [s["id"]])
                time.sleep(1)
            log(f"    (e) PostgreSQL, one store at a time: accept → WorkloadsReady p50 {statistics.median(one):.2f}s")
        wait_quiet(20 if n > 5 else 0)
        load_before = loadavg()
        log(f"    (e) PostgreSQL, {replicas} orchestrator replica(s): {n} stores at once")
        ids, fig = provision_batch(api, [f"rep{k}-{i:02d}" for i in range(n)], 600)
        fig.update({"replicas": replicas, "load_before": load_before, "load_after": loadavg(), "one": one,
                    "command": f"{api_proc.cmd_display}  +  {replicas}× {orchestrators[0].cmd_display}"})
        log(f"        all WorkloadsReady {fig['all_workloads_ready_seconds']:.1f}s ({fig['stores_per_hour_workloads']:.0f}/h), "
            f"all StoreConfigured {fig['all_configured_seconds']:.1f}s")
        runs.append(fig)
        delete_all(api, ids)
        for o in orchestrators:
            o.stop()
        api_proc.stop()
    pg.stop()
    return runs


def helm_alone(cp, workdir):
    """One `helm upgrade --install` of the main engine's chart into a fresh namespace, as the
    orchestrator runs it, and once more without --disable-openapi-validation: helm's CPU and the
    API server's CPU during each."""
    api_pid = cp.pids().get("kube-apiserver")
    chart = os.path.join(ENGINE_CHARTS, MAIN_ENGINE)
    out = {"chart": f"charts/{MAIN_ENGINE}", "runs": []}
    variants = [("as the orchestrator runs it", ["--history-max", "5", "--disable-openapi-validation"]),
                ("with helm's client-side OpenAPI validation", ["--history-max", "5"])]
    for k, (label, flags) in enumerate(variants * 2):
        ns = f"bench-helm-probe-{k}"
        cp.kubectl("create", "namespace", ns)
        cp.kubectl("create", "secret", "generic", "store-credentials", "-n", ns,
                   "--from-literal=admin-user=admin", "--from-literal=admin-email=a@example.invalid",
                   "--from-literal=admin-password=x", "--from-literal=db-password=y",
                   "--from-literal=db-root-password=z", "--from-literal=app-secret=w")
        values = os.path.join(workdir, f"helm-probe-values-{k}.json")
        with open(values, "w") as f:
            json.dump({"store": {"id": f"00000000-0000-0000-0000-{k:012d}", "name": f"probe{k}"}, "plan": "small",
                       "ingress": {"enabled": True, "host": f"probe{k}.stores.invalid", "className": "", "tlsIssuer": ""},
                       "credentials": {"secretName": "store-credentials"}}, f)
        argv = ["/usr/bin/time", "-f", "TIME %e %U %S %M", HELM, "upgrade", "--install", "store", chart, "-n", ns,
                "--values", values, "--kubeconfig", cp.kubeconfig, *flags]
        api0 = cpu_times(api_pid)[0] if api_pid else 0.0
        r = sh(argv)
        time.sleep(0.5)  # the API server's share of the requests that just ended
        api1 = cpu_times(api_pid)[0] if api_pid else 0.0
        line = [l for l in r.stderr.splitlines() if l.startswith("TIME ")]
        run = {"variant": label, "ok": r.returncode == 0,
               "command": f"/usr/bin/time -f '%e %U %S %M' helm upgrade --install store charts/{MAIN_ENGINE} -n {ns} "
                          f"--values <store values> " + " ".join(flags),
               "apiserver_cpu": api1 - api0}
        if line:
            e, u, s_, m = line[-1].split()[1:]
            run.update(wall=float(e), user=float(u), sys=float(s_), maxrss_mib=int(m) / 1024)
        else:
            run["error"] = r.stderr[-500:]
        out["runs"].append(run)
        cp.kubectl("delete", "namespace", ns, "--wait=false")
    log("    helm alone: " + "; ".join(f"{r['variant']}: helm {r.get('user', 0) + r.get('sys', 0):.2f} s CPU, "
                                      f"API server {r['apiserver_cpu']:.2f} s" for r in out["runs"]))
    return out


def wait_conditions(api, ids, types, timeout):
    deadline = time.time() + timeout
    pending, done = set(ids), {}
    while pending:
        for sid in list(pending):
            s = api.get(sid)
            if s["phase"] == "failed":
                raise RuntimeError(f"store {s['name']} failed: {s.get('message')} {s['conditions']}")
            if all(cond_true_at(s, t) for t in types):
                done[sid] = s
                pending.discard(sid)
        if not pending:
            break
        if time.time() > deadline:
            raise RuntimeError(f"{len(pending)} stores not {types} after {timeout}s: "
                               + json.dumps([api.get(i)["conditions"] for i in list(pending)[:2]])[:1500])
        time.sleep(0.1 if len(pending) < 5 else 0.25)
    return done


def wait_phase(api, ids, phase, timeout):
    deadline = time.time() + timeout
    pending, seen = set(ids), {}
    while pending:
        for sid in list(pending):
            s = api.get(sid)
            if s["phase"] == phase:
                seen[sid] = time.time()
                pending.discard(sid)
        if pending and time.time() > deadline:
            raise RuntimeError(f"{len(pending)} stores not {phase} after {timeout}s")
        time.sleep(0.1)
    return seen


# ------------------------------------------------------------------ report
def machine():
    lscpu = sh(["lscpu"]).stdout
    keep = ("Architecture", "Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "CPU max MHz",
            "Hypervisor vendor", "L3 cache")
    lines = [l.strip() for l in lscpu.splitlines() if l.split(":")[0].strip() in keep]
    free = sh(["free", "-m"]).stdout.strip()
    return {"nproc": sh(["nproc"]).stdout.strip(), "lscpu": lines, "free": free,
            "kernel": sh(["uname", "-sr"]).stdout.strip()}


def fmt(v, spec=".1f", unit=""):
    return "n/a" if v is None else f"{format(v, spec)}{unit}"


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def write_report(results, path, args):
    m = results["machine"]
    L = []
    L.append("# Storefleet benchmarks\n")
    L.append(f"Generated by `bench/run.sh{' --quick' if args.quick else ''}` — {results['date']}, commit "
             f"`{results['commit']}`{' (work tree has uncommitted changes)' if results['dirty'] else ''}.\n")
    if args.quick:
        L.append("**Quick run (CI size): small sizes, figures are not comparable with the targets.**\n")
    L.append("## Machine\n")
    L.append(f"- nproc: {m['nproc']}; kernel: {m['kernel']}")
    for l in m["lscpu"]:
        L.append(f"- {l}")
    L.append("- memory (`free -m`):\n\n```\n" + m["free"] + "\n```")
    L.append("- versions: " + "; ".join(f"{k}: {v}" for k, v in results["versions"].items()))
    L.append("- The machine has 2 cores shared with other work (tests of other sessions): the load average "
             "(1/5/15 min, from /proc/loadavg) is written beside every figure. wrk, the API server, etcd, "
             "node-sim, helm and `storefleet serve` all share these 2 cores.\n")

    L.append("## Results against the targets (issues 5 and 12)\n")
    L.append("| measure | result | target | verdict | load before |")
    L.append("|---|---|---|---|---|")
    lst = results.get("list", {})
    for backend in ("sqlite", "postgres"):
        f = lst.get(backend)
        if not f:
            continue
        ok = f["rps"] >= 10000 and f["p99_ms"] < 10 and f["errors"] == 0
        L.append(f"| `GET /api/v1/stores`, 30 stores, {backend}, wrk -t2 -c32 | {f['rps']:,.0f} req/s, p50 {f['p50_ms']:.2f} ms, "
                 f"p99 {f['p99_ms']:.2f} ms, errors {f['errors']} | ≥ 10,000 req/s, p99 < 10 ms, 0 errors | {verdict(ok)} | {f['load_before']} |")
    for mem in (results.get("memory"), results.get("memory_postgres")):
        if not mem:
            continue
        backend = mem.get("backend", "sqlite")
        L.append(f"| memory: `serve` idle ({backend}, no cluster) | {mem['idle']['rss_mib']:.1f} MiB RSS | < 24 MiB | "
                 f"{verdict(mem['idle']['rss_mib'] < 24)} | {mem['idle']['load']} |")
        fl = mem["full"]
        L.append(f"| memory: `serve` ({backend}) with {fl['n']:,} stores, after listing all | {fl['rss_mib']:.1f} MiB RSS (peak {fl['hwm_mib']:.1f}) | "
                 f"< 96 MiB (1,000 stores) | {verdict(fl['rss_mib'] < 96) if fl['n'] >= 1000 else 'n/a (size)'} | {fl['load']} |")
    prov = results.get("provisioning", {})
    if "skipped" in prov:
        L.append(f"| provisioning (3a–3c) | skipped: {prov['skipped']} | | n/a | |")
    elif prov:
        for engine, row in prov.get("engines", {}).items():
            one = row.get("one")
            if one:
                wr = statistics.median(r["WorkloadsReady"] for r in one["runs"])
                sc = statistics.median(r["StoreConfigured"] for r in one["runs"])
                L.append(f"| one {engine} store, no queue: accept → WorkloadsReady (p50 of {len(one['runs'])}) | {wr:.2f} s "
                         f"({wr - READY_DELAY:.2f} s above the {READY_DELAY:.0f} s simulated pod start) | ≤ 0.5 s above the simulated pod start | "
                         f"{verdict(wr - READY_DELAY <= 0.5)} | {one['load_before']} |")
                L.append(f"| one {engine} store, no queue: accept → StoreConfigured (p50) | {sc:.2f} s ({sc - READY_DELAY - JOB_SECONDS:.2f} s above the "
                         f"{READY_DELAY + JOB_SECONDS:.0f} s simulated pod start + setup Job run) | (no target; the order check needs real engines: tests/real_stores.rs) | n/a | {one['load_before']} |")
            many = row.get("many")
            if many:
                big = many["n"] >= 30
                L.append(f"| {many['n']} {engine} stores at once, first POST → all WorkloadsReady | "
                         f"{many['stores_per_hour_workloads']:,.0f} stores/h ({many['all_workloads_ready_seconds']:.1f} s) | ≥ 7,400 stores/h (issue 5) | "
                         f"{verdict(many['stores_per_hour_workloads'] >= 7400) if big else 'n/a (size)'} | {many['load_before']} |")
                L.append(f"| {many['n']} {engine} stores at once, first POST → all StoreConfigured | "
                         f"{many['stores_per_hour_configured']:,.0f} stores/h ({many['all_configured_seconds']:.1f} s) | (includes the {JOB_SECONDS:.0f} s simulated setup Job) | n/a | {many['load_before']} |")
                cpu = many["cpu"]
                split = ", ".join(f"{k} {cpu['per_store'].get(k, 0):.3f}" for k in PLATFORM_PROCESSES)
                target = "≤ 0.5 CPU-s per store (issue 12)" if engine == MAIN_ENGINE else "(issue 12 targets the WooCommerce chart)"
                v = (verdict(cpu["platform_per_store"] <= 0.5) if big else "n/a (size)") if engine == MAIN_ENGINE else "n/a"
                L.append(f"| CPU per {engine} store, during the {many['n']}-store run | **{cpu['platform_per_store']:.2f} CPU-s**, "
                         f"{cpu.get('platform_per_store_above_idle', float('nan')):.2f} above the idle cluster ({split}); "
                         f"node-sim {cpu['per_store'].get('node-sim', 0):.3f} not counted; whole host {many['host_busy_per_store']:.2f} | {target} | {v} | {many['load_before']} |")
                L.append(f"| memory: `serve` during the {many['n']}-store {engine} run (helm children) | serve {many['rss_max_serve_mib']:.1f} MiB, "
                         f"serve + children {many['rss_max_tree_mib']:.1f} MiB RSS, {many['pss_max_tree_mib']:.1f} MiB PSS (max) | < 200 MiB | {verdict(many['rss_max_tree_mib'] < 200)} | {many['load_before']} |")
        many = prov.get("engines", {}).get(MAIN_ENGINE, {}).get("many")
        d = prov.get("delete")
        if d and "runs" in d:
            ours = statistics.median(r["delete_to_deleted"] for r in d["runs"])
            nsc = [r["ns_controller"] for r in d["runs"] if r["ns_controller"] is not None]
            nsm = statistics.median(nsc) if nsc else None
            ok = None if nsm is None else ours - nsm <= 1.0
            L.append(f"| delete 10 stores → phase deleted (p50 per store) | {ours:.2f} s; namespace controller alone p50 {fmt(nsm, '.2f', ' s')} | "
                     f"within 1 s of the namespace controller | {verdict(ok)}{' — and ' + str(len(d['errors'])) + ' of 10 concurrent DELETEs answered 500' if d.get('errors') else ''} | {d['load_before']} |")
        elif d:
            L.append(f"| delete 10 stores | skipped: {d['skipped']} | | n/a | |")
        u = prov.get("under_load")
        if u:
            base = many["stores_per_hour_workloads"] if many else None
            share = u["stores_per_hour_workloads"] / base if base else None
            ratio = f", {share:.0%} of the unloaded run" if share else ""
            if u["wrk_errors"] != 0:
                v = verdict(False)
            elif share is None or share >= 0.9:
                v = verdict(True)
            else:
                v = (f"**partly**: nothing starved or failed, but throughput fell to {share:.0%}: wrk and "
                     f"{u['wrk_rps']:,.0f} req/s take CPU from helm and the API server on the same 2 cores")
            L.append(f"| API load cannot starve the orchestrator: {u['n']} stores while wrk -t2 -c32 hits GET /stores on the same `serve` | "
                     f"all {u['n']} completed; {u['stores_per_hour_workloads']:,.0f} stores/h to all WorkloadsReady{ratio}; "
                     f"meanwhile {u['wrk_rps']:,.0f} req/s, p99 {u['wrk_p99_ms']:.2f} ms, errors {u['wrk_errors']} | "
                     f"every store completes, zero errors, provisioning unaffected | {v} | {u['load_before']} |")
        reps = prov.get("replicas", [])
        single = next((r["stores_per_hour_workloads"] for r in reps if r["replicas"] == 1), None)
        for r in reps:
            if r.get("one"):
                p50 = statistics.median(r["one"])
                L.append(f"| one store, no queue, on PostgreSQL (`storefleet api` + 1 orchestrator): accept → WorkloadsReady (p50 of {len(r['one'])}) | "
                         f"{p50:.2f} s | p50 ≤ 1.5 s | {verdict(p50 <= 1.5)} | {r['load_before']} |")
            big = r["n"] >= 30
            L.append(f"| provisioning throughput on PostgreSQL, {r['replicas']} orchestrator replica(s) + `storefleet api`, {r['n']} stores → all WorkloadsReady | "
                     f"{r['stores_per_hour_workloads']:,.0f} stores/h ({r['all_workloads_ready_seconds']:.1f} s; all StoreConfigured {r['all_configured_seconds']:.1f} s) | "
                     f"≥ 7,400 stores/h; near-linear in replicas until CPU or the API server is the limit | "
                     f"{verdict(r['stores_per_hour_workloads'] >= 7400) if big else 'n/a (size)'}"
                     + (f"; ×{r['stores_per_hour_workloads'] / single:.2f} of 1 replica: no scale-out, CPU-bound (every replica, helm, "
                        f"the API server and etcd share the same 2 cores)" if single and r["replicas"] > 1 else "")
                     + f" | {r['load_before']} |")
    for name, err in results["errors"].items():
        L.append(f"| {name} | **could not measure**: {err.splitlines()[0][:200]} | | n/a | |")
    L.append("")

    L.append("## Details and the command behind each figure\n")
    for backend, f in lst.items():
        L.append(f"### GET /api/v1/stores — {backend}\n")
        L.append(f"- command: `{f['command']}`")
        L.append(f"- {f['requests']:,} requests; p50 {f['p50_ms']:.2f} ms, p90 {f['p90_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, max {f['max_ms']:.1f} ms; "
                 f"non-2xx {f['non2xx']}, socket errors {f['socket_errors']}")
        L.append(f"- serve used {f['serve_cpu_share']:.2f} CPU cores on average during the run; RSS {f['serve_rss_before_mib']:.1f} → {f['serve_rss_mib']:.1f} MiB")
        if len(f.get("attempts", [])) > 1:
            L.append("- run again because the load from other work was above " + str(HIGH_LOAD) + "; the best run is reported. All runs: "
                     + "; ".join(f"{a['rps']:,.0f} req/s, p50 {a['p50_ms']:.2f} ms, p99 {a['p99_ms']:.2f} ms, errors {a['errors']} (load {a['load_before']})"
                                 for a in f["attempts"]))
        L.append(f"- load before {f['load_before']}, after {f['load_after']}\n")
    for mem in (results.get("memory"), results.get("memory_postgres")):
        if not mem:
            continue
        L.append(f"### Memory — {mem.get('backend', 'sqlite')}\n")
        L.append(f"- command: `{mem['command']}`")
        L.append(f"- idle: RSS {mem['idle']['rss_mib']:.1f} MiB 5 s after /healthz answered (no request yet)")
        L.append(f"- {mem['full']['n']:,} stores created in {mem['full']['create_seconds']:.1f} s through the API, all listed "
                 f"({mem['full']['listed']}); then RSS {mem['full']['rss_mib']:.1f} MiB, peak (VmHWM) {mem['full']['hwm_mib']:.1f} MiB\n")
    if prov and "skipped" not in prov:
        L.append("### Provisioning on a real API server\n")
        L.append(f"- control plane: `{prov.get('cp_command')}` (started in {prov.get('control_plane_start_seconds', 0):.0f} s)")
        L.append(f"- node simulator: `{prov.get('sim_command')}`")
        L.append(f"- serve: `{prov.get('command')}` — the engine charts users install (`charts/`), one section per engine")
        L.append(f"- {prov.get('note_raised')}")
        L.append("- Times come from the store's own conditions (`last_transition_time` in `GET /api/v1/stores/{id}`), measured from "
                 "the store's `created_at` (accept). One warm-up store per engine (first helm run, first namespace) is not counted.")
        L.append("- CPU per store: user + system seconds from `/proc/PID/stat` of each process, taken before the first POST and after "
                 "the last store is StoreConfigured, divided by the number of stores. helm's share is serve's reaped children "
                 "(helm is the only child). node-sim stands in for kubelets and is shown apart. \"Whole host\" is the busy time of "
                 "every core from `/proc/stat` over the same window: it includes anything else running on the machine.\n")
        for engine, row in prov.get("engines", {}).items():
            one = row.get("one")
            if one:
                L.append(f"#### (a) one {engine} store, no queue — seconds from accept\n")
                cols = ["NamespaceReady", "GuardrailsApplied", "ReleaseInstalled", "WorkloadsReady", "StoreConfigured"]
                L.append("| run | " + " | ".join(cols) + " |")
                L.append("|---|" + "---|" * len(cols))
                for i, r in enumerate(one["runs"]):
                    L.append(f"| {i} | " + " | ".join(fmt(r[c], ".2f") for c in cols) + " |")
                L.append("| **p50** | " + " | ".join(fmt(statistics.median(r[c] for r in one["runs"] if r[c] is not None), ".2f") for c in cols) + " |")
                L.append(f"\nload before {one['load_before']}, after {one['load_after']}. Each store is deleted (and gone) before the next run.\n")
            many = row.get("many")
            if many:
                L.append(f"#### (b) {many['n']} {engine} stores at once\n")
                L.append(f"- {many['n']} POSTs from {many['n']} client threads took {many['posts_seconds']:.2f} s")
                L.append(f"- first POST → all WorkloadsReady {many['all_workloads_ready_seconds']:.1f} s; → all StoreConfigured {many['all_configured_seconds']:.1f} s; "
                         f"per store p50 accept → WorkloadsReady {many['p50_workloads_ready']:.1f} s, → StoreConfigured {many['p50_configured']:.1f} s")
                L.append(f"- RSS (sampled every 0.2 s): serve max {many['rss_max_serve_mib']:.1f} MiB; serve + its children max {many['rss_max_tree_mib']:.1f} MiB "
                         f"(PSS, shared pages split between processes: {many['pss_max_tree_mib']:.1f} MiB); "
                         f"at most {many['max_children']} children at once; {many['helm_processes_seen']} helm processes seen")
                cpu = many["cpu"]
                L.append(f"- CPU seconds per store ({many['wall_seconds']:.1f} s wall): " +
                         ", ".join(f"{k} {v:.3f}" for k, v in sorted(cpu["per_store"].items(), key=lambda kv: -kv[1])) +
                         f"; platform total {cpu['platform_per_store']:.3f}; whole host {many['host_busy_per_store']:.3f}")
                if "idle_cpu_per_second" in many:
                    L.append("- idle rate before the run (CPU-s per second, 5 s): " + ", ".join(
                        f"{k} {v:.3f}" for k, v in many["idle_cpu_per_second"].items()) +
                        f"; the platform total above idle is {cpu['platform_per_store_above_idle']:.3f} CPU-s per store")
                L.append(f"- load before {many['load_before']}, after {many['load_after']}\n")
        h = prov.get("helm_alone")
        if h and h.get("runs"):
            L.append(f"#### helm alone, {h['chart']}\n")
            L.append("| variant | command | wall | helm CPU (user + sys) | API server CPU | helm max RSS |")
            L.append("|---|---|---|---|---|---|")
            for r in h["runs"]:
                if "wall" in r:
                    L.append(f"| {r['variant']} | `{r['command']}` | {r['wall']:.2f} s | {r['user'] + r['sys']:.2f} s | {r['apiserver_cpu']:.2f} s | {r['maxrss_mib']:.0f} MiB |")
                else:
                    L.append(f"| {r['variant']} | `{r['command']}` | failed: {r.get('error', '')[:200]} | | | |")
            L.append("")
        d = prov.get("delete")
        if d and "runs" in d:
            L.append("#### (c) delete 10 stores at once — seconds\n")
            L.append(f"- {d['command']}\n")
            L.append("| store | DELETE → phase deleted | DELETE → namespace terminating | namespace controller (terminating → gone) | namespace gone → phase deleted |")
            L.append("|---|---|---|---|---|")
            for r in d["runs"]:
                L.append(f"| {r['store']} | {fmt(r['delete_to_deleted'], '.2f')} | {fmt(r['delete_to_ns_terminating'], '.2f')} | "
                         f"{fmt(r['ns_controller'], '.2f')} | {fmt(r['ns_gone_to_deleted'], '.2f')} |")
            med = lambda k: fmt(statistics.median([r[k] for r in d["runs"] if r[k] is not None] or [0]), ".2f")
            L.append(f"| **p50** | {med('delete_to_deleted')} | {med('delete_to_ns_terminating')} | {med('ns_controller')} | {med('ns_gone_to_deleted')} |")
            if d.get("errors"):
                L.append(f"\n**{len(d['errors'])} of the concurrent DELETE requests failed and were retried by the client "
                         f"(0.2 s later)**; their time counts from the first attempt. Responses: "
                         + "; ".join(sorted(set(d["errors"]))))
            L.append(f"\nload before {d['load_before']}, after {d['load_after']}\n")
        u = prov.get("under_load")
        if u:
            L.append(f"#### (d) {u['n']} stores under API load\n")
            L.append(f"- command: `{u['command']}`")
            L.append(f"- first POST → all WorkloadsReady {u['all_workloads_ready_seconds']:.1f} s, → all StoreConfigured {u['all_configured_seconds']:.1f} s; "
                     f"per store p50 accept → WorkloadsReady {u['p50_workloads_ready']:.1f} s")
            L.append(f"- wrk over {u['wrk_seconds']:.0f} s: {u['wrk_rps']:,.0f} req/s, p50 {u['wrk_p50_ms']:.2f} ms, p99 {u['wrk_p99_ms']:.2f} ms, errors {u['wrk_errors']}")
            L.append(f"- load before {u['load_before']}, after {u['load_after']}\n")
        reps = prov.get("replicas", [])
        if reps:
            L.append("#### (e) PostgreSQL with 1, 2, 3 orchestrator replicas\n")
            L.append(f"- command: `{reps[0]['command']}` (the replica count varies; each configuration on a fresh database, the stores deleted before the next)\n")
            L.append("| replicas | all WorkloadsReady | stores/h | all StoreConfigured | p50 accept → WorkloadsReady | load before |")
            L.append("|---|---|---|---|---|---|")
            for r in reps:
                L.append(f"| {r['replicas']} | {r['all_workloads_ready_seconds']:.1f} s | {r['stores_per_hour_workloads']:,.0f} | "
                         f"{r['all_configured_seconds']:.1f} s | {r['p50_workloads_ready']:.1f} s | {r['load_before']} |")
            L.append("")
    if results["errors"]:
        L.append("### Errors\n")
        for name, err in results["errors"].items():
            L.append(f"- {name}:\n\n```\n{err[-3000:]}\n```\n")
    L.append("### Not measured by this harness\n")
    L.append("- The order check (OrderCheckPassed) cannot pass on simulated pods: provisioning is measured up to StoreConfigured. "
             "Real engines taking real orders on a real node are measured by `crates/storefleet/tests/real_stores.rs`.")
    L.append("- Replicas on separate machines: every replica here shares the same 2 cores with the API server, etcd and each "
             "other, so more replicas cannot add CPU; the replica rows show coordination overhead, not scale-out.\n")
    notes = os.path.join(BENCH, "notes.md")
    if os.path.isfile(notes):
        L.append(open(notes).read())
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma list of: list,memory,provisioning")
    ap.add_argument("--out", default=os.path.join(BENCH, "results.md"))
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="only rewrite the report from a results JSON of an earlier run (e.g. after editing notes.md)")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    if args.render:
        with open(args.render) as f:
            results = json.load(f)
        args.quick = results.get("quick", False)
        write_report(results, args.out, args)
        log(f"wrote {args.out} from {args.render}")
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

    global _tmp_root
    _tmp_root = tempfile.mkdtemp(prefix="storefleet-bench-")
    os.chmod(_tmp_root, 0o755)
    keep = os.environ.get("STOREFLEET_BENCH_KEEP") == "1"
    on_exit(lambda: None if keep else shutil.rmtree(_tmp_root, ignore_errors=True))
    log(f"work dir {_tmp_root} (logs)")
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip(),
        "dirty": bool(sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()),
        "machine": machine(), "versions": {}, "list": {}, "errors": {}, "quick": args.quick,
    }
    results["versions"]["storefleet"] = sh([BIN, "--version"]).stdout.strip()
    results["versions"]["wrk"] = (sh(["wrk", "--version"]).stdout.strip().splitlines() or ["?"])[0]
    broken = False
    sections = [
        ("list-sqlite", "list", lambda: bench_list(results, _tmp_root, "sqlite", "5s" if args.quick else "20s", args.quick)),
        ("list-postgres", "list", None if args.quick else lambda: bench_list(results, _tmp_root, "postgres", "20s", False)),
        ("memory", "memory", lambda: bench_memory(results, _tmp_root, 100 if args.quick else 1000)),
        ("memory-postgres", "memory", None if args.quick else lambda: bench_memory(results, _tmp_root, 1000, "postgres")),
        ("provisioning", "provisioning", lambda: bench_provisioning(results, _tmp_root, args.quick)),
    ]
    try:
        for name, group, fn in sections:
            if fn is None or (only and group not in only):
                continue
            try:
                fn()
            except KeyboardInterrupt:
                raise
            except Exception:
                broken = True
                results["errors"][name] = traceback.format_exc()
                log(f"{name} failed:\n{traceback.format_exc()}")
            finally:
                run_cleanups_for_section()
    except KeyboardInterrupt as e:
        log(f"interrupted: {e}")
        broken = True
        results["errors"]["interrupted"] = str(e)
    finally:
        try:
            write_report(results, args.out, args)
            with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
                json.dump(results, f, indent=1, default=str)
            log(f"wrote {args.out}")
        except Exception:
            broken = True
            log(f"report failed:\n{traceback.format_exc()}")
        run_cleanups()
    sys.exit(1 if broken else 0)


def run_cleanups_for_section():
    """Stop every process a section started (keeps the work-dir removal registered first)."""
    while len(_cleanups) > 1:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:
            log(f"cleanup error: {e}")


if __name__ == "__main__":
    main()
