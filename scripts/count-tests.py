#!/usr/bin/env python3
"""Counts passed/failed test cases from meson's testlog.json.  A Criterion
program counts as its cases (from its "Synthesis" line); a shell test counts
its "ok - " lines when it passed; anything else counts as one."""
import json, re, sys

passed = failed = 0
synth = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
    m = synth.findall(out)
    if m:
        _, p, f, c = map(int, m[-1])
        passed += p
        failed += f + c
        if not ok and f + c == 0:
            failed += 1  # crashed or sanitizer error after the synthesis
    elif ok:
        n = len(re.findall(r"^ok - ", out, re.M))
        passed += max(n, 1)
    else:
        failed += 1
print(passed, failed)
