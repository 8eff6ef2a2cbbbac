#!/usr/bin/env python3
"""One honest closing line over every test runner's output.

Reads cargo test output ("test result: ok. N passed; N failed; N ignored"), node's test runner
("ℹ pass N" / "# pass N"), and our scripts' own "NAME: N passed, N failed, N skipped" lines. A
Rust test cannot mark itself skipped at run time: ours print "skipped: <reason>" and append a
line to $STOREFLEET_SKIP_LOG, and those are moved here from passed to skipped. A script that
printed a bare "skipped: <reason>" line (no runner totals) counts as one skipped test.
usage: summarize-tests.py SKIP_LOG OUTPUT_FILE...
"""
import re
import sys

skip_log, outputs = sys.argv[1], sys.argv[2:]
passed = failed = skipped = 0
for path in outputs:
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        continue
    runner_lines = 0
    for line in text.splitlines():
        m = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
        if m:
            passed += int(m.group(1)); failed += int(m.group(2)); skipped += int(m.group(3)); runner_lines += 1
            continue
        m = re.match(r"^[ℹ#] (pass|fail|skipped|todo) (\d+)$", line.strip())
        if m:
            n = int(m.group(2))
            if m.group(1) == "pass": passed += n
            elif m.group(1) == "fail": failed += n
            else: skipped += n
            runner_lines += 1
            continue
        m = re.match(r"^(\w[\w-]*): (\d+) passed, (\d+) failed, (\d+) skipped$", line.strip())
        if m and m.group(1) != "tests":
            passed += int(m.group(2)); failed += int(m.group(3)); skipped += int(m.group(4)); runner_lines += 1
    if runner_lines == 0:
        bare = [l for l in text.splitlines() if l.startswith("skipped: ")]
        if bare:
            print(f"{path}: {bare[0]}")
            skipped += 1
try:
    with open(skip_log, encoding="utf-8") as f:
        skips = sorted(set(l.strip() for l in f if l.strip()))
except FileNotFoundError:
    skips = []
for s in skips:
    print(s)
print(f"tests: {passed - len(skips)} passed, {failed} failed, {skipped + len(skips)} skipped")
