"""HighFEM generation benchmarks: stage timings and the fast-sampler quality check.

Timing (random weights, the ``quakesynth bench`` measurement for several settings)::

    python benchmarks/bench_highfem.py timing --preset paper --batch-sizes 1 32 --steps 25 5 \
        --threads 2 --out timing.json

Quality of a faster sampler (HighFEM issue: "show on a trained small model that the Frechet
distance (log-FAS) between the fast outputs and the 25-step Heun outputs (same conditions) is
no larger than that between two 25-step Heun sets with different seeds")::

    python benchmarks/bench_highfem.py fd-check --model runs/edm/model --data corpus20k \
        --n 256 --fast dpmpp2m:10 dpmpp2m:8 heun:15 --out fd.json

For each component the script reports (diagonal Frechet distance of ln FAS, HighFEM eq. 14):

- ``floor``: FD(Heun-25 seed A, Heun-25 seed B), the sampling-noise floor;
- ``fast_same_noise``: FD(fast seed A, Heun-25 seed A): the same initial noise;
- ``fast_new_noise``: FD(fast seed C, Heun-25 seed A): independent noise, comparable with
  the floor.

A fast setting is ``SOLVER:STEPS`` (``heun:8``, ``dpmpp2m:10``; a bare number means Heun).

A faster sampler passes when ``fast_new_noise <= floor`` (within the spread of the floor over
seed pairs, also reported) for every component.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np


def timing(args: argparse.Namespace) -> list[dict]:
    import torch

    from quakesynth.cli.bench import format_table
    from quakesynth.generate.toy import benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    out = []
    for b in args.batch_sizes:
        for steps in args.steps:
            r = benchmark(args.preset, batch_size=b, num_steps=steps, device=args.device, solver=args.solver,
                          gl_iters=args.gl_iters, repeats=args.repeats, channels_last=args.channels_last)
            r["load_average"] = _load()
            print(format_table(r), flush=True)
            print(flush=True)
            out.append(r)
    return out


def fd_check(args: argparse.Namespace) -> dict:
    import torch

    from quakesynth.data.store import Dataset
    from quakesynth.generate.highfem import load_generator
    from quakesynth.metrics.distribution import log_fas_frechet_distance

    if args.threads:
        torch.set_num_threads(args.threads)
    ds = Dataset(args.data).split(args.split)
    meta = ds.metadata
    gen = load_generator(args.model, gl_iters=args.gl_iters)
    table = meta.rename(columns={"source_magnitude": "magnitude", "path_hyp_distance_km": "distance",
                                 "station_vs30_mps": "vs30", "source_depth_km": "depth",
                                 "path_azimuthal_gap_deg": "gap"})
    table = table[list(gen.variables)].dropna()
    for v, (lo, hi) in gen.ranges.items():
        table = table[(table[v] >= lo) & (table[v] <= hi)]
    table = table.iloc[:args.n].reset_index(drop=True)
    if len(table) < 16:
        raise SystemExit(f"only {len(table)} usable scenarios in split {args.split!r}")

    edm25 = gen.edm_config
    timings: list[float] = []

    def run(steps: int, seed: int, sigma_max: float | None = None, solver: str = "heun") -> np.ndarray:
        gen.sampler = dataclasses.replace(gen.sampler, num_steps=steps, solver=solver)
        gen.edm_config = dataclasses.replace(edm25, sigma_max=sigma_max) if sigma_max else edm25
        t0 = time.perf_counter()
        rec = gen.generate_table(table, seed=seed, batch_size=args.batch_size)
        timings.append((time.perf_counter() - t0) / len(table))
        print(f"  {solver} {steps:>2} steps, seed {seed}, sigma_max {gen.edm_config.sigma_max:g}: "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        return rec.data

    def fd(x: np.ndarray, y: np.ndarray) -> list[float]:
        return [log_fas_frechet_distance(x[:, c], y[:, c], gen.fs) for c in range(x.shape[1])]

    ref_a, ref_b, ref_d = run(25, 0), run(25, 1), run(25, 3)
    result = {"heun25_seconds_per_waveform": float(np.median(timings)),"model": str(args.model), "data": str(args.data), "n": len(table), "components": gen.components,
              "gl_iters": args.gl_iters, "floor": fd(ref_b, ref_a), "floor_2": fd(ref_d, ref_a), "fast": {}}
    for sigma_max in args.sigma_max or [None]:
        for setting in args.fast:
            solver, _, steps = setting.rpartition(":")
            solver, steps = solver or "heun", int(steps)
            same, new = run(steps, 0, sigma_max, solver), run(steps, 2, sigma_max, solver)
            key = f"{solver}:{steps}" + (f"@sigma_max={sigma_max:g}" if sigma_max else "")
            result["fast"][key] = {"fast_same_noise": fd(same, ref_a), "fast_new_noise": fd(new, ref_a),
                                   "seconds_per_waveform": timings[-1]}
    return result


def _load() -> list[float]:
    try:
        return [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--preset", default="paper")
    t.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    t.add_argument("--steps", type=int, nargs="+", default=[25])
    t.add_argument("--device", default="cpu")
    t.add_argument("--solver", default="heun", choices=["heun", "dpmpp2m"])
    t.add_argument("--gl-iters", type=int, default=128)
    t.add_argument("--repeats", type=int, default=1)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--channels-last", action="store_true")
    t.add_argument("--out", default=None)
    f = sub.add_parser("fd-check")
    f.add_argument("--model", required=True)
    f.add_argument("--data", required=True)
    f.add_argument("--split", default="test")
    f.add_argument("--n", type=int, default=256)
    f.add_argument("--fast", nargs="+", default=["dpmpp2m:10"], help="SOLVER:STEPS settings to check")
    f.add_argument("--sigma-max", type=float, nargs="+", default=None,
                   help="sigma_max of the fast sampler's schedule (default: the model's)")
    f.add_argument("--gl-iters", type=int, default=128)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--threads", type=int, default=None)
    f.add_argument("--out", default=None)
    args = p.parse_args(argv)
    res = timing(args) if args.what == "timing" else fd_check(args)
    text = json.dumps(res, indent=1, default=float)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
