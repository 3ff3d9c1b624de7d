#!/usr/bin/env python3
"""measure.py CMD [ARG...]: run CMD, count its stdout lines, and print one JSON line:
{"seconds": wall time, "max_rss_kb": peak resident memory of its largest process,
 "lines": stdout lines, "last": the last of them, "exit": exit code}. Portable where /usr/bin/time is not installed."""

import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
lines = 0
last = ""
for line in proc.stdout:
    lines += 1
    last = line.decode(errors="replace").strip()
code = proc.wait()
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "max_rss_kb": rss, "lines": lines, "last": last, "exit": code}))
