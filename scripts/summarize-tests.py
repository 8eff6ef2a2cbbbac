#!/usr/bin/env python3
"""Sum cargo test's result lines and move tests that said "skipped:" from passed to skipped.

A Rust test cannot mark itself skipped at run time; ours print "skipped: <reason>" and append a
line to $STOREFLEET_SKIP_LOG. This prints one honest closing line: "tests: N passed, N failed, N skipped".
usage: summarize-tests.py CARGO_OUTPUT_FILE SKIP_LOG_FILE
"""
import re
import sys

output, skip_log = sys.argv[1], sys.argv[2]
passed = failed = ignored = 0
with open(output, encoding="utf-8", errors="replace") as f:
    for line in f:
        m = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
        if m:
            passed += int(m.group(1)); failed += int(m.group(2)); ignored += int(m.group(3))
try:
    with open(skip_log, encoding="utf-8") as f:
        skips = sorted(set(l.strip() for l in f if l.strip()))
except FileNotFoundError:
    skips = []
for s in skips:
    print(s)
print(f"tests: {passed - len(skips)} passed, {failed} failed, {len(skips) + ignored} skipped")
