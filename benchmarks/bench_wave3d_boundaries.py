"""How much of a simulate-3d wavefield is boundary reflection: the corpus grid against the same
simulation with the absorbing boundaries far away.

For each seed, :func:`quakesynth.simulate.wave3d.simulate_one` runs the corpus configuration
(:class:`~quakesynth.simulate.wave3d.Wave3DConfig`, a 10-node sponge) and the same geology and
source with a ``--far-nbl``-node sponge (the reference: its boundaries are three to four times
farther, so nothing they reflect reaches the sensors within the record at a level that matters).
Reported per seed: the relative L2 difference of the surface wavefields (3 components x 256
sensors x 160 samples), over the whole record and over its second half (where reflections
arrive), and the loop bounds devito gives the corpus operator (a bound short of the grid means
nodes that are never updated).

Runs on any revision of the package, so the figures before and after a change to the solver come
from the same script::

    python benchmarks/bench_wave3d_boundaries.py --seeds 8 --threads 2

Needs devito (``pip install -e '.[operator]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import subprocess
import time
import warnings

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8, help="simulations (seeds 0 .. N-1)")
    ap.add_argument("--far-nbl", type=int, default=40, help="sponge width of the reference, nodes")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads of devito")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    warnings.simplefilter("ignore")

    from quakesynth.simulate.wave3d import ElasticSolver, Wave3DConfig, simulate_one

    cfg = Wave3DConfig()
    t0 = time.time()
    solver = ElasticSolver(cfg)
    far = ElasticSolver(dataclasses.replace(cfg, nbl=args.far_nbl))
    bounds = solver.op.arguments(time_m=0, time_M=1, dt=np.float32(solver.dt))
    dims = solver.v[0].grid.dimensions
    covered = ", ".join(f"{d.name} {bounds[d.min_name]}..{bounds[d.max_name]} of 0..{n - 1}"
                        for d, n in zip(dims, solver.shape))
    rows = []
    for seed in range(args.seeds):
        u, ref = simulate_one(solver, seed)["u"], simulate_one(far, seed)["u"]
        late = slice(u.shape[-1] // 2, None)
        rows.append((np.linalg.norm(u - ref) / np.linalg.norm(ref),
                     np.linalg.norm((u - ref)[..., late]) / np.linalg.norm(ref[..., late])))
    rows = np.asarray(rows)
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = "unknown"
    print(f"## simulate-3d boundary reflections ({time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, "
          f"revision {rev}, {args.threads} thread(s), {time.time() - t0:.0f} s)\n")
    print(f"Corpus grid {solver.shape} (sponge {cfg.nbl} nodes) against a {args.far_nbl}-node sponge; "
          f"loops cover {covered}.\n")
    print("| seed | rel. L2, whole record | rel. L2, second half |\n| ---: | ---: | ---: |")
    for seed, (a, b) in enumerate(rows):
        print(f"| {seed} | {a:.4f} | {b:.4f} |")
    print(f"| mean | {rows[:, 0].mean():.4f} | {rows[:, 1].mean():.4f} |")


if __name__ == "__main__":
    main()
