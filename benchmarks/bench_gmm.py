"""Throughput of quakesynth.gmm (OpenQuake-backed GMMs, distance conversions, SimpleGMM) and of
the ``quakesynth ims`` table (1 vs 2 worker processes).

    python benchmarks/bench_gmm.py [--scenarios 100000] [--records 256] [--samples 4096]

Prints one line per measurement (wall-clock seconds, best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenarios", type=int, default=100_000)
    ap.add_argument("--records", type=int, default=1024)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"numpy {np.__version__}, {time.strftime('%Y-%m-%d')}")

    # OpenQuake import, measured in a fresh interpreter
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import openquake.hazardlib.gsim"], check=True)
    print(f"import openquake.hazardlib.gsim (fresh process): {time.perf_counter() - t:.2f} s")

    from quakesynth.gmm import SimpleGMM, get_gmm, rhyp_to_rjb

    rng = np.random.default_rng(0)
    n = args.scenarios
    M, R = rng.uniform(4.5, 7.5, n), rng.uniform(30.0, 250.0, n)
    D, V = rng.uniform(2.0, 28.0, n), rng.uniform(200.0, 1000.0, n)
    for name, region in (("BooreEtAl2014", "japan"), ("Kanno2006", None)):
        gmm = get_gmm(name, region=region)
        gmm.predict("PGA", 6.0, 50.0, 10.0, 400.0, allow_extrapolation=True)  # warm
        for imt in ("PGA", "SA(1.0)"):
            s = best(lambda gmm=gmm, imt=imt: gmm.predict(imt, M, R, D, V, allow_extrapolation=True), args.repeat)
            print(f"{name} predict {imt}: {n} scenarios in {s:.3f} s = {n / s:,.0f} scenarios/s")
    for method in ("point", "finite"):
        s = best(lambda method=method: rhyp_to_rjb(R, D, M, method=method), args.repeat)
        print(f"rhyp_to_rjb {method}: {n / s:,.0f} scenarios/s")
    y = -1 + 0.5 * M - 1.5 * np.log10(R) - 0.4 * np.log10(V) + rng.normal(0, 0.3, n)
    s = best(lambda: SimpleGMM.fit(y, M, R, V), args.repeat)
    print(f"SimpleGMM.fit: {n} records in {s * 1e3:.1f} ms")

    # the ims table
    from quakesynth.data.store import DatasetWriter
    from quakesynth.metrics.tables import ims_table
    from quakesynth.records import Records

    nr, T = args.records, args.samples
    t = np.arange(T) / 100.0
    env = (t / 4.0) ** 2 * np.exp(-t / 3.0)
    data = (rng.normal(size=(nr, 3, T)) * env).astype(np.float32)
    import pandas as pd

    meta = pd.DataFrame({"trace_name": [f"r{i:05d}" for i in range(nr)], "source_id": [f"e{i // 8}" for i in range(nr)]})
    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(tmp) / "ds"
        with DatasetWriter(ds, fs=100.0, components="ZNE") as w:
            w.add(Records(data, fs=100.0, components="ZNE", metadata=meta))
        ims_table(ds, Path(tmp) / "warm.csv", periods=[1.0], workers=1)  # numba cache, imports
        for workers in (1, 2):  # workers=2: force the process pool whatever the table size
            out = Path(tmp) / f"ims{workers}.csv"
            c0, t0 = cpu_seconds(), time.perf_counter()
            ims_table(ds, out, periods=(0.1, 0.3, 1.0, 3.0), workers=workers, batch_size=64,
                      overwrite=True, min_records_per_worker=1)
            s, c = time.perf_counter() - t0, cpu_seconds() - c0
            print(f"ims table, {nr} records x 3 x {T} samples, 4 periods, workers={workers}: "
                  f"wall {s:.2f} s = {nr / s:.1f} records/s; CPU {c:.2f} s (incl. workers) = "
                  f"{1e3 * c / nr:.1f} CPU-ms/record")


if __name__ == "__main__":
    main()
