"""Ingest throughput (records/s) on the real K-NET/KiK-net records.

Runs :func:`quakesynth.data.ingest.ingest` -- reading (ObsPy's K-NET parser), station join,
features, the HighFEM preprocessing and screening, and the dataset writer -- on
``../shared/data/real/knet-kiknet`` ``--repeat`` times into a temporary folder, after one
warm-up run (imports, caches), and reports records/s of the whole pipeline and of its
reading stage alone. CPU time is given beside wall time because the development machine is
shared.

Usage::

    python benchmarks/bench_ingest.py --repeat 3

Prints one Markdown table (paste into ``benchmarks/results/data.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default=str(SHARED / "knet-kiknet"))
    ap.add_argument("--stations", default=str(SHARED / "stations_vs30_japan.csv"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from quakesynth.data import readers
    from quakesynth.data.ingest import IngestConfig, ingest
    from quakesynth.records import Records

    with tempfile.TemporaryDirectory() as tmp:
        ingest([args.input], Path(tmp) / "warm", IngestConfig(), stations=args.stations)  # warm-up
        rows = []
        for k in range(args.repeat):
            res, wall, cpu = _timed(lambda k=k: ingest([args.input], Path(tmp) / f"run{k}", IngestConfig(),
                                                       stations=args.stations))
            n = res.report.n_read
            items, rwall, rcpu = _timed(lambda: [i for i in readers.read([args.input]) if isinstance(i, Records)])
            rows.append((n, res.report.n_kept, wall, cpu, rwall, rcpu))
    n = rows[0][0]
    wall = min(r[2] for r in rows)
    cpu = min(r[3] for r in rows)
    rwall = min(r[4] for r in rows)
    rcpu = min(r[5] for r in rows)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"command: python benchmarks/bench_ingest.py --repeat {args.repeat}  ({time.strftime('%Y-%m-%d')})\n")
    print("| stage | records | best wall (s) | records/s (wall) | CPU (s) | records/s (CPU) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| whole ingest (read + preprocess + write) | {n} | {wall:.2f} | {n / wall:.1f} | {cpu:.2f} | {n / cpu:.1f} |")
    print(f"| reading only (ObsPy K-NET parser, 3 files per record) | {n} | {rwall:.2f} | {n / rwall:.1f} "
          f"| {rcpu:.2f} | {n / rcpu:.1f} |")
    print(f"\nkept {rows[0][1]} of {n}; the records are 60-300 s long at 100-200 Hz (8,700-30,000 samples).")


if __name__ == "__main__":
    main()
