"""Throughput of the stochastic simulator and of corpus generation.

Three measurements, each in a fresh subprocess (so peak memory is its own):

* ``simulate``: the core :func:`quakesynth.simulate.stochastic.simulate` on batches of
  records of a corpus (one process), records/s;
* ``corpus``: ``write_corpus`` (the ``quakesynth simulate`` command) end to end, dataset on
  disk, for each ``--workers`` value, records/s, CPU time per record (main process and
  workers: independent of what else runs on the machine) and peak resident memory of the
  main process;
* the same corpus at two sizes to show that memory does not grow with the number of events.

Usage::

    python benchmarks/bench_simulate.py --events 200 800 --stations-per-event 10 --workers 1 2

Prints a Markdown table (paste into ``benchmarks/results/simulate.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its finished children (the workers)."""
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def measure_core(n_events: int, k: int) -> dict:
    from quakesynth.simulate.corpus import CorpusConfig, simulate_events
    from quakesynth.simulate.site import make_station_table
    from quakesynth.simulate.stochastic import StochasticConfig

    sim, cfg = StochasticConfig(), CorpusConfig()
    stations = make_station_table(sim.stations, 0)
    simulate_events(range(0, 2), 0, stations, k, cfg, sim)  # warm-up (imports, caches)
    c0, t0 = _cpu_s(), time.perf_counter()
    n = 0
    for start in range(0, n_events, cfg.chunk_events):
        n += len(simulate_events(range(start, min(start + cfg.chunk_events, n_events)), 0, stations, k, cfg, sim))
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return {"what": "simulate_events (1 process)", "records": n, "wall_s": wall, "records_per_s": n / wall,
            "cpu_ms_per_record": 1e3 * cpu / n, "peak_rss_mib": _rss_mib()}


def measure_corpus(n_events: int, k: int, workers: int) -> dict:
    from quakesynth.simulate.corpus import write_corpus

    with tempfile.TemporaryDirectory() as tmp:
        c0, t0 = _cpu_s(), time.perf_counter()
        s = write_corpus(Path(tmp) / "corpus", n_events, k, seed=0, workers=workers)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return {"what": f"write_corpus, {workers} worker(s)", "records": s["records"], "wall_s": wall,
            "records_per_s": s["records"] / wall, "cpu_ms_per_record": 1e3 * cpu / s["records"],
            "peak_rss_mib": _rss_mib()}


def _run(kind: str, *args: int) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_simulate as b; "
            f"print(json.dumps(b.measure_{kind}(*{list(args)!r})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, nargs="+", default=[200, 800])
    ap.add_argument("--stations-per-event", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    k = a.stations_per_event
    rows = [_run("core", a.events[0], k)]
    for w in a.workers:
        for n in a.events:
            rows.append(_run("corpus", n, k, w))
    load = os.getloadavg()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; load average before: {load[0]:.1f}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| run | records | wall (s) | records/s (wall) | CPU ms / record (all processes) | peak RSS main process (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['what']} | {r['records']} | {r['wall_s']:.1f} | {r['records_per_s']:.0f} | "
              f"{r['cpu_ms_per_record']:.1f} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
