"""Sustained load on two API processes on PostgreSQL, all on 127.0.0.1 and bounded: 500 units each
posting a fix a second (one request per fix, as phone apps post) plus 10 firearm reports a second, for
5 minutes, with 200 phones on the live stream and a local webhook receiver.

Prints: sustained fix throughput and request latency p50/p99 and errors; reports stored and failed
with their request latency; report committed → alert shown on the assigned squad's phones p50/p99
(target p99 < 1 s); webhook delivery p50/p99.

    python benchmarks/load.py [--duration 300] [--workers 2] [any option of benchmarks/delivery.py]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from delivery import main

DEFAULTS = ["--postgres", "--workers", "2", "--duration", "300", "--report-every", "0.1",
            "--units", "500", "--phones", "200", "--fix-batch", "1"]

if __name__ == "__main__":
    sys.exit(0 if main([*DEFAULTS, *sys.argv[1:]]) else 1)
