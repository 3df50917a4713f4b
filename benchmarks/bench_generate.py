"""Generation throughput and peak memory of a model, streamed to disk.

Each measurement runs in a fresh subprocess so that its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own. For every ``n`` it reports the
seconds per waveform of the streamed run (model loading excluded and reported separately),
the peak memory of the whole process, and the peak memory before generation started (after
loading the model and generating one warm-up batch), so that the growth with ``n`` is visible.

Usage::

    python benchmarks/bench_generate.py --model stochastic -n 1000 10000 --format h5
    python benchmarks/bench_generate.py --model default -n 100 --device cuda --batch-size 64
    python benchmarks/bench_generate.py --model null -n 1000 10000 100000   # pipeline + writer only

Prints one Markdown table (paste into ``benchmarks/results/generate.md``).
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

SCENARIO = dict(magnitude=6.5, distance=30.0, vs30=400.0, depth=10.0, gap=120.0)


def _null_generator_class():
    from quakesynth.generate import Generator

    class _Null(Generator):
        """Zeros (3, 4096) at 100 Hz: measures the streaming pipeline and the writer alone."""

        name = "null"
        n_samples = 4096
        default_batch_size = 32

        def _generate(self, cond, seeds, device="cpu"):
            import numpy as np

            return np.zeros((len(seeds), 3, self.n_samples), np.float32)

    return _Null


def NullGenerator():  # noqa: N802 -- a factory named like the class it returns
    return _null_generator_class()()


def _rss_mib(who: str = "self") -> float:
    """Peak resident memory (MiB) of this process, or of its largest terminated child."""
    import resource

    flag = resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN
    return resource.getrusage(flag).ru_maxrss / 1024.0  # KiB on Linux


def measure(model: str, n: int, fmt: str, batch_size: int | None, device: str, workers: int) -> dict:
    """One streamed run in this process; returns the figures as a dict."""
    import pandas as pd

    from quakesynth.generate import generate_to_file, load_model, register_model

    if model == "null":
        register_model("null", NullGenerator, "zeros: the streaming pipeline and writer alone")
    t0 = time.perf_counter()
    gen = load_model(model)
    t_load = time.perf_counter() - t0
    bs = batch_size or gen.default_batch_size
    gen.generate(**SCENARIO, n=bs, seed=123, batch_size=bs, device=device)  # warm-up (JIT, caches)
    rss_before = _rss_mib()
    table = pd.DataFrame([{**SCENARIO, "n": n}])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("bench_dataset" if fmt == "seisbench" else f"bench.{fmt}")
        t0 = time.perf_counter()
        if workers > 1:
            from quakesynth.parallel import generate_parallel

            count = generate_parallel(model, table, out, workers=workers, batch_size=bs, seed=0)
        else:
            count = generate_to_file(gen, table, out, batch_size=bs, device=device, seed=0)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return {"model": model, "n": count, "format": fmt, "batch_size": bs, "device": device,
            "workers": workers, "load_s": t_load, "wall_s": wall, "s_per_waveform": wall / count,
            "rss_before_mib": rss_before, "peak_rss_mib": _rss_mib(),
            "peak_rss_worker_mib": _rss_mib("children") if workers > 1 else float("nan"), "output_mib": size / 2**20,
            "samples": gen.n_samples, "components": gen.components, "fs": gen.fs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="stochastic")
    p.add_argument("-n", type=int, nargs="+", default=[1000, 10000], help="waveform counts, one run each")
    p.add_argument("--format", default="h5", help="output suffix: h5, npz, mseed, sac, at2, or seisbench")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(measure(a.model, a.n[0], a.format, a.batch_size, a.device, a.workers)))
        return 0
    rows = []
    for n in a.n:
        cmd = [sys.executable, __file__, "--child", "--model", a.model, "-n", str(n), "--format", a.format,
               "--device", a.device, "--workers", str(a.workers)]
        if a.batch_size:
            cmd += ["--batch-size", str(a.batch_size)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            return res.returncode
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(f"done n={n}: {rows[-1]['s_per_waveform']:.4f} s/waveform", file=sys.stderr)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"date {time.strftime('%Y-%m-%d')}")
    print("command: python benchmarks/bench_generate.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    print()
    print("| model | n | format | batch | device | workers | load (s) | wall (s) | s / waveform | "
          "peak RSS before (MiB) | peak RSS (MiB) | peak RSS per worker (MiB) | output (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['n']} | {r['format']} | {r['batch_size']} | {r['device']} | {r['workers']} | "
              f"{r['load_s']:.2f} | {r['wall_s']:.1f} | {r['s_per_waveform']:.4f} | {r['rss_before_mib']:.0f} | "
              f"{r['peak_rss_mib']:.0f} | {r['peak_rss_worker_mib']:.0f} | {r['output_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
