"""Issue 18 item 5: the default model's few-step solver against 25-step Heun, with independent noise.

On ``--conditions`` test-split conditions of the training corpus (one waveform per condition and
set), generate:

- ``--heun-sets`` sets with the 25-step deterministic Heun sampler (49 network evaluations), each
  with its own seed (independent noise);
- ``--fast-sets`` sets with the model's default solver (DPM-Solver++(2M), ``--fast-steps`` steps),
  with seeds different from every Heun set.

For each set, against the data (the real test records of the same conditions), per component:

- the Frechet distance of natural-log FAS (HighFEM eq. 14, diagonal; 0.1-30 Hz);
- the PGA and PGV bias (mean log10 model - log10 data) and sigma (sd of log10 PGA, PGV over the set,
  compared with the data's).

The seed-to-seed spread of Heun-25 is the range (max - min) of its sets' Frechet distances. Targets:
the fast set's FD within that spread of Heun-25's mean (i.e. no further from the Heun mean than
the Heun sets are from each other), and its PGA/PGV bias and sigma within 0.02 log10 of Heun-25's
mean.

    OMP_NUM_THREADS=1 python benchmarks/bench_default_fewstep.py --data runs/corpus-even-bssa14 \
        --conditions 256 --out benchmarks/results/default_fewstep.json

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def _peaks(data: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """log10 PGA (m/s^2) and log10 PGV (m/s), each (N, C), of acceleration (N, C, T) in m/s^2."""
    from quakesynth.metrics.peaks import pga, pgv

    a = data.astype(np.float64)
    return np.log10(np.maximum(pga(a), 1e-12)), np.log10(np.maximum(pgv(a, fs), 1e-12))


def _stats(data: np.ndarray, ref: np.ndarray, fs: float, components: str) -> dict:
    from quakesynth.metrics.distribution import log_fas_frechet_distance

    n = min(data.shape[-1], ref.shape[-1])
    fd = {c: log_fas_frechet_distance(data[:, i, :n], ref[:, i, :n], fs, fmin=0.1, fmax=30.0)
          for i, c in enumerate(components)}
    (pa, pv), (ra, rv) = _peaks(data, fs), _peaks(ref, fs)
    return {"fd": fd,
            "pga_bias": float(np.mean(pa - ra)), "pgv_bias": float(np.mean(pv - rv)),
            "pga_sigma": float(np.std(pa - ra, ddof=1)), "pgv_sigma": float(np.std(pv - rv, ddof=1)),
            "pga_sd": float(np.std(pa, ddof=1)), "pgv_sd": float(np.std(pv, ddof=1))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="training corpus (dataset folder with a test split)")
    ap.add_argument("--model", default="default")
    ap.add_argument("--conditions", type=int, default=256)
    ap.add_argument("--heun-sets", type=int, default=3)
    ap.add_argument("--fast-sets", type=int, default=2)
    ap.add_argument("--fast-steps", type=int, default=None, help="default: the model's")
    ap.add_argument("--seed", type=int, default=0, help="draws the test conditions")
    ap.add_argument("--first-set", type=int, default=0,
                    help="noise seeds start at 1000 + K (Heun) and 2000 + K (fast): more sets on the same conditions")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import quakesynth
    from quakesynth.data.store import Dataset

    test = Dataset(args.data).split("test")
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(test), size=min(args.conditions, len(test)), replace=False))
    real = test.get(idx)
    cols = {"magnitude": "source_magnitude", "distance": "path_hyp_distance_km", "vs30": "station_vs30_mps",
            "depth": "source_depth_km", "gap": "path_azimuthal_gap_deg"}
    table = real.metadata[list(cols.values())].rename(columns={v: k for k, v in cols.items()})
    fast = quakesynth.load_model(args.model, **({"num_steps": args.fast_steps} if args.fast_steps else {}))
    heun = quakesynth.load_model(args.model, solver="heun", num_steps=25)
    result = {"conditions": len(idx), "model": args.model, "data": args.data,
              "fast": {"solver": fast.sampler.solver, "num_steps": fast.sampler.num_steps}, "sets": []}
    components = real.components
    k0 = args.first_set
    plan = [("heun25", heun, 1000 + k0 + k) for k in range(args.heun_sets)]
    plan += [(f"{fast.sampler.solver}{fast.sampler.num_steps}", fast, 2000 + k0 + k) for k in range(args.fast_sets)]
    for name, gen, seed in plan:
        t0 = time.perf_counter()
        rec = gen.generate_table(table, seed=seed, progress=True)
        if rec.components != components:
            rec = rec.select_components(components) if hasattr(rec, "select_components") else rec
        s = _stats(rec.data, real.data, real.fs, components)
        s.update(name=name, seed=seed, seconds=time.perf_counter() - t0)
        result["sets"].append(s)
        print(f"{name} seed {seed}: FD {s['fd']}, PGA bias {s['pga_bias']:+.3f}, PGV bias {s['pgv_bias']:+.3f}, "
              f"{s['seconds']:.0f} s", file=sys.stderr)
    ref = _stats(real.data, real.data, real.fs, components)
    result["data_sd"] = {"pga_sd": ref["pga_sd"], "pgv_sd": ref["pgv_sd"]}
    heuns = [s for s in result["sets"] if s["name"] == "heun25"]
    fasts = [s for s in result["sets"] if s["name"] != "heun25"]
    lines = ["| set | seed | " + " | ".join(f"FD {c}" for c in components)
             + " | PGA bias | PGV bias | sd log10 PGA | sd log10 PGV | s |", "|---" * (7 + len(components)) + "|"]
    for s in result["sets"]:
        lines.append(f"| {s['name']} | {s['seed']} | " + " | ".join(f"{s['fd'][c]:.2f}" for c in components)
                     + f" | {s['pga_bias']:+.3f} | {s['pgv_bias']:+.3f} | {s['pga_sd']:.3f} | {s['pgv_sd']:.3f}"
                     f" | {s['seconds']:.0f} |")
    lines.append("| data | - | " + " | ".join("0" for _ in components)
                 + f" | 0 | 0 | {ref['pga_sd']:.3f} | {ref['pgv_sd']:.3f} | - |")
    verdict = {}
    for c in components:
        h = np.array([s["fd"][c] for s in heuns])
        spread = float(h.max() - h.min()) if len(h) > 1 else float("nan")
        verdict[f"fd_{c}"] = {"heun_mean": float(h.mean()), "heun_spread": spread,
                              "fast": [s["fd"][c] for s in fasts],
                              "within": all(abs(s["fd"][c] - h.mean()) <= spread for s in fasts)}
    for key in ("pga_bias", "pgv_bias", "pga_sd", "pgv_sd"):
        hm = float(np.mean([s[key] for s in heuns]))
        verdict[key] = {"heun_mean": hm, "fast": [s[key] for s in fasts],
                        "within_0.02": all(abs(s[key] - hm) <= 0.02 for s in fasts)}
    result["verdict"] = verdict
    print("\n".join(lines))
    print(json.dumps(verdict, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
