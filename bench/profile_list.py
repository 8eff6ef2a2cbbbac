#!/usr/bin/env python3
"""Profile `storefleet serve` under the GET /api/v1/stores wrk load with perf (CPU samples).

usage: python3 bench/profile_list.py [--seconds 10] [--db sqlite|postgres]
Needs perf, wrk and the release binary (bench/run.sh builds it). Prints perf's top symbols
(self time, then with children); the raw perf.data stays in the printed work directory.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="storefleet-profile-")
    os.chmod(work, 0o755)
    try:
        if args.db == "postgres":
            url = bench.Postgres(work).url
        else:
            url = f"sqlite://{work}/profile.db"
        serve = bench.Serve("profile", url, work, extra=bench.RAISED)
        token = serve.add_user("bench-admin")
        api = bench.Api(serve.base, token)
        bench.create_many(api, [f"prof-{i:03d}" for i in range(30)])
        wrk = subprocess.Popen(["wrk", "-t2", "-c32", f"-d{args.seconds + 4}s", "--latency", "-s",
                                os.path.join(bench.BENCH, "wrk-auth.lua"), f"{serve.base}/api/v1/stores"],
                               env=dict(os.environ, STOREFLEET_TOKEN=token), stdout=subprocess.PIPE, text=True)
        bench.on_exit(lambda: bench.stop_pid(wrk.pid, name="wrk"))
        data = os.path.join(work, "perf.data")
        subprocess.run(["perf", "record", "-F", "499", "-g", "-o", data, "-p", str(serve.pid), "--",
                        "sleep", str(args.seconds)], capture_output=True)
        print(wrk.communicate()[0])
        for extra in (["--no-children"], ["--children"]):
            r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-demangle", "-g", "none",
                                "--percent-limit", "1.5", *extra], capture_output=True, text=True)
            print("\n".join(l for l in r.stdout.splitlines() if l and not l.startswith("#"))[:6000])
        print(f"perf data: {data}")
    finally:
        bench.run_cleanups()


if __name__ == "__main__":
    main()
