"""Reader throughput (records/s streamed) from a 100,000-record synthetic dataset.

Builds a dataset of ``-n`` records of 3 x 4096 float32 samples (about 4.9 GB for 100,000)
with :class:`quakesynth.data.store.DatasetWriter` under ``--path`` (default in /tmp; never
in the repository), then streams it with :meth:`Dataset.batches` in order and shuffled, and
through ``torch.utils.data.DataLoader`` with worker processes (each opens the HDF5 file
itself). Peak resident memory is measured in a fresh subprocess per mode, to show that it
does not grow with the dataset.

Usage::

    python benchmarks/bench_reader.py -n 100000 --batch-size 256
    python benchmarks/bench_reader.py --path /tmp/qs_bench_100k --reuse   # skip the build

Prints one Markdown table (paste into ``benchmarks/results/data.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def _rss_mib() -> float:
    """Peak resident memory of this process image (VmHWM; unlike ru_maxrss it is not
    inherited from the parent across fork + exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build(path: Path, n: int, t: int = 4096, chunk: int = 2048) -> dict:
    """Write ``n`` synthetic records (noise blocks scaled per record) and return timings."""
    import numpy as np
    import pandas as pd

    from quakesynth.data.store import DatasetWriter
    from quakesynth.records import Records

    rng = np.random.default_rng(0)
    base = rng.standard_normal((chunk, 3, t), dtype=np.float32)
    w0 = time.perf_counter()
    with DatasetWriter(path, fs=100.0, components="ZNE", overwrite=True) as w:
        for a in range(0, n, chunk):
            m = min(chunk, n - a)
            scale = rng.lognormal(-3, 1, (m, 1, 1)).astype(np.float32)
            meta = pd.DataFrame({
                "trace_name": [f"syn{a + i:07d}" for i in range(m)],
                "source_id": [f"ev{(a + i) // 20:06d}" for i in range(m)],  # 20 records per event
                "source_magnitude": rng.uniform(3, 8, m), "source_depth_km": rng.uniform(1, 60, m),
                "path_hyp_distance_km": rng.uniform(5, 300, m), "station_vs30_mps": rng.uniform(150, 1500, m),
                "path_azimuthal_gap_deg": rng.uniform(20, 350, m), "trace_p_arrival_sample": 500.0,
            })
            w.add(Records(base[:m] * scale, fs=100.0, metadata=meta))
    wall = time.perf_counter() - w0
    size = sum(f.stat().st_size for f in path.iterdir())
    return {"n": n, "write_s": wall, "bytes": size}


def stream(path: str, mode: str, batch_size: int, limit: int, workers: int) -> dict:
    """One streaming run in this (fresh) process."""
    import numpy as np

    from quakesynth.data.store import Dataset

    t0 = time.perf_counter()
    ds = Dataset(path)
    t_open = time.perf_counter() - t0
    rss_open = _rss_mib()
    view = ds.select(np.arange(min(limit, len(ds)))) if limit else ds
    count, checksum = 0, 0.0
    if mode == "dataloader":
        import torch
    t0 = time.perf_counter()
    if mode == "dataloader":
        loader = torch.utils.data.DataLoader(view.torch_dataset(), batch_size=batch_size, shuffle=True,
                                             num_workers=workers, generator=torch.Generator().manual_seed(0))
        for b in loader:
            count += b["waveform"].shape[0]
            checksum += float(b["waveform"][:, 0, 600].sum())
    else:
        for b in view.batches(batch_size, shuffle=(mode == "shuffled"), seed=0):
            count += len(b)
            checksum += float(b.data[:, 0, 600].sum())
    wall = time.perf_counter() - t0
    return {"mode": mode, "records": count, "wall_s": wall, "records_per_s": count / wall,
            "open_s": t_open, "rss_open_mib": rss_open, "rss_peak_mib": _rss_mib(), "checksum": checksum}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--path", default="/tmp/quakesynth_bench_reader")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reuse", action="store_true", help="use an existing dataset at --path")
    ap.add_argument("--keep", action="store_true", help="keep the dataset afterwards")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shuffled-limit", type=int, default=20_000,
                    help="records streamed in the shuffled/DataLoader modes (0: all)")
    ap.add_argument("--_stream", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._stream:
        path, mode, bs, limit, workers = args._stream
        print(json.dumps(stream(path, mode, int(bs), int(limit), int(workers))))
        return
    path = Path(args.path)
    if Path.cwd() in path.resolve().parents or path.resolve() == Path.cwd():
        raise SystemExit("--path must not be inside the working directory")
    built = None
    if not args.reuse:
        built = build(path, args.n)
    results = []
    for mode, limit in (("sequential", 0), ("shuffled", args.shuffled_limit), ("dataloader", args.shuffled_limit)):
        out = subprocess.run([sys.executable, __file__, "--_stream", str(path), mode, str(args.batch_size),
                              str(limit), str(args.workers)], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"command: python benchmarks/bench_reader.py -n {args.n} --batch-size {args.batch_size}  "
          f"({time.strftime('%Y-%m-%d')})\n")
    if built:
        gb = built["bytes"] / 1e9
        print(f"build: {built['n']} records x 3 x 4096 float32, {gb:.2f} GB on disk, written in "
              f"{built['write_s']:.1f} s ({built['n'] / built['write_s']:.0f} records/s, "
              f"{gb / built['write_s'] * 1000:.0f} MB/s)\n")
    print("| mode | records streamed | wall (s) | records/s | MB/s | open (s) | RSS after open (MiB) | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        mb = r["records_per_s"] * 3 * 4096 * 4 / 1e6
        label = r["mode"] + (f" ({args.workers} workers)" if r["mode"] == "dataloader" else "")
        print(f"| {label} | {r['records']} | {r['wall_s']:.1f} | {r['records_per_s']:.0f} | {mb:.0f} | "
              f"{r['open_s']:.2f} | {r['rss_open_mib']:.0f} | {r['rss_peak_mib']:.0f} |")
    if not args.keep and not args.reuse:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
