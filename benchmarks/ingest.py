"""End-to-end ingest throughput: CSV parse → clean → place → persist → coverage, on SQLite (and
PostgreSQL when ECOPATROL_TEST_PG_URL is reachable), with peak memory. Prints its figures.

    python benchmarks/ingest.py [N_FIXES]      (default 1,000,000)

Next step (not yet here): the same nearest-reach placement inside PostGIS as a peer, for the ratio.
"""

from __future__ import annotations

import io
import resource
import sys
import tempfile
import time
from pathlib import Path

from ecopatrol.config import load_settings
from ecopatrol.demo import _import_layers, _register_units
from ecopatrol.ingest import ingest_fixes
from ecopatrol.runtime import build_runtime
from geo.demo.county import build_demo_county
from geo.demo.simulate import benchmark_fixes, default_units
from geo.tracks import parse_csv

BATCH = 100_000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    fixes = benchmark_fixes(n)
    now_ms = int(fixes["time_ms"].max()) + 60_000
    text = io.StringIO()
    fixes[["unit_id", "time_ms", "lon", "lat", "speed_mps"]].rename(columns={"time_ms": "time"}).to_csv(
        text, index=False)
    data = text.getvalue().encode()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={"ECOPATROL_DATABASE_URL": f"sqlite:///{Path(tmp) / 'b.db'}"})
        runtime = build_runtime(settings, clock=lambda: now_ms)
        county = build_demo_county()
        _import_layers(runtime, county)
        _register_units(runtime, default_units(county))
        runtime.layer_index()
        t0 = time.perf_counter()
        parsed = parse_csv(data, mode="vehicle")
        frame = parsed.fixes.assign(mode="")
        accepted = 0
        for start in range(0, len(frame), BATCH):
            accepted += ingest_fixes(runtime, frame.iloc[start:start + BATCH]).accepted
        elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fixes: {n:,}  accepted: {accepted:,}")
    print(f"sqlite end-to-end: {elapsed:.1f} s  = {n / elapsed:,.0f} fixes/s (target ≥ 100,000)")
    print(f"peak memory (process max RSS): {peak_mb:,.0f} MB (target < 1,500)")


if __name__ == "__main__":
    main()
