"""Issue 18's targets for a HighFEM model folder against the stochastic simulator it learned from.

Every measurement compares the model with ``quakesynth.load_model("stochastic")`` (the teacher)
on the same scenarios, with fixed seeds, RotD50 of the two horizontals (5 % damping):

- ``grid``: M 4.5, 5.0, ..., 7.0 x hypocentral distance 15, 30, 60, 120 km (Vs30 400 m/s, depth
  10 km, gap 120 degrees), ``--n`` waveforms per cell (issue: 32). Per cell: medians of RotD50
  PGA and PSA(1 s) of model and simulator and their ratio (target: within a factor 1.25 in at
  least 90 % of the cells), and the within-cell standard deviation of log10 PGA (target: model /
  simulator in 0.8-1.25).
- ``site``: the Vs30 effect, median PGA(Vs30 200) / PGA(Vs30 760) at M 6, 30 km (target: model
  within a factor 1.3 of the simulator's); ``depth``: PGA(depth 30 km) / PGA(depth 5 km) at M 6
  and the same hypocentral distance, 60 km (same target).
- ``timing``: S-P time of the median envelope at M 5.5, 30-150 km (target: within 1 s of the
  simulator's). The envelope is the 0.5-s RMS of the horizontal vector; the median over the
  waveforms is normalised to its peak; P is its first crossing of 5 % and S of 50 % of the peak
  (one definition for both generators, so the difference is meaningful). ``--sp-n`` waveforms
  per distance and generator (default ``--n``); each S-P time comes with its bootstrap sd
  (records resampled), and the difference with the sd of both.
- ``readme``: M 6.5 at 30 km, Vs30 400 m/s: model median PGA / BSSA14 (region Japan) median
  (target: within a factor 1.5, where the simulator is).

Run everything (32 waveforms per cell, ~20 CPU-minutes for the default model)::

    OMP_NUM_THREADS=2 python benchmarks/bench_default_scaling.py --model default --n 32 \
        --out benchmarks/results/default_scaling.json

or a part: ``--only grid --magnitudes 6.5 --distances 30 --n 8``. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

G = 9.80665  # m/s^2 per g
GRID_M = (4.5, 5.0, 5.5, 6.0, 6.5, 7.0)
GRID_R = (15.0, 30.0, 60.0, 120.0)
BASE = {"vs30": 400.0, "depth": 10.0, "gap": 120.0}
PARTS = ("grid", "site", "depth", "timing", "readme")


def rotd50_pga_psa1(rec) -> tuple[np.ndarray, np.ndarray]:
    """RotD50 PGA and PSA(1 s) (N,) in g of three-component records (Z first, two horizontals)."""
    from quakesynth.metrics.peaks import rotd50
    from quakesynth.metrics.response import rotd50_psa

    h = [rec.components.index(c) for c in rec.components if c != "Z"]
    if len(h) != 2:
        raise ValueError(f"need two horizontal components; got {rec.components!r}")
    a1, a2 = rec.data[:, h[0]].astype(np.float64), rec.data[:, h[1]].astype(np.float64)
    pga = np.asarray(rotd50(a1, a2), np.float64).reshape(-1) / G
    psa = np.asarray(rotd50_psa(a1, a2, rec.fs, [1.0]), np.float64).reshape(len(a1), -1)[:, 0] / G
    return pga, psa


def draw(gen, n: int, seed: int, **scenario: float):
    """``n`` records of one scenario."""
    return gen.generate(**scenario, n=n, seed=seed, allow_extrapolation=True)


#: Seed offset of the teacher's draws, so that a control run (``--control``: the teacher as the
#: model) compares independent sets.
SIM_SEED_OFFSET = 500_000


def cell(model, sim, n: int, seed: int, sim_n: int | None = None, **scenario: float) -> dict[str, Any]:
    """Medians (g) and log10 sd of RotD50 PGA / PSA(1 s), model (``n`` waveforms) and simulator
    (``sim_n``, default ``n``), one scenario."""
    out: dict[str, Any] = dict(scenario)
    for name, gen, k, sd in (("model", model, n, seed), ("sim", sim, sim_n or n, seed + SIM_SEED_OFFSET)):
        pga, psa = rotd50_pga_psa1(draw(gen, k, sd, **scenario))
        out[f"{name}_pga_g"] = float(np.median(pga))
        out[f"{name}_psa1_g"] = float(np.median(psa))
        out[f"{name}_sd_log10_pga"] = float(np.std(np.log10(pga), ddof=1)) if n > 1 else float("nan")
    out["pga_ratio"] = out["model_pga_g"] / out["sim_pga_g"]
    out["psa1_ratio"] = out["model_psa1_g"] / out["sim_psa1_g"]
    out["sd_ratio"] = out["model_sd_log10_pga"] / out["sim_sd_log10_pga"]
    return out


def envelopes(rec, window_s: float = 0.5) -> np.ndarray:
    """The ``window_s`` RMS envelope of the horizontal vector of every record, (N, T)."""
    h = [rec.components.index(c) for c in rec.components if c != "Z"]
    e2 = (rec.data[:, h].astype(np.float64) ** 2).sum(1)
    w = max(1, int(round(window_s * rec.fs)))
    return np.sqrt(np.apply_along_axis(lambda x: np.convolve(x, np.ones(w) / w, mode="same"), 1, e2))


def median_envelope(env: np.ndarray) -> np.ndarray:
    """Median over records of envelopes (N, T) (:func:`envelopes`), normalised to peak 1."""
    med = np.median(env, axis=0)
    return med / med.max()


def sp_bootstrap_sd(env: np.ndarray, fs: float, draws: int = 200, seed: int = 0) -> float:
    """Sampling sd (s) of the S-P time of the median envelope: records resampled with replacement."""
    rng = np.random.default_rng(seed)
    return float(np.std([s_minus_p(median_envelope(env[rng.integers(0, len(env), len(env))]), fs)
                         for _ in range(draws)]))


def s_minus_p(env: np.ndarray, fs: float, p_level: float = 0.05, s_level: float = 0.5) -> float:
    """S-P time (s) of a peak-normalised envelope: first crossings of ``s_level`` and ``p_level``."""
    t_p = int(np.argmax(env >= p_level))
    t_s = int(np.argmax(env >= s_level))
    return (t_s - t_p) / fs


def run(args: argparse.Namespace) -> dict[str, Any]:
    import quakesynth

    # the teacher as the corpus draws it: one stress deviate per record (its own event) and the
    # network's share of resonant soil sites (simulate/corpus.py), not the GMM-calibration draw
    sim = quakesynth.load_model("stochastic", preset=args.preset, event_term=True, site_resonance=True)
    # --control: the teacher against itself, the ceiling that sampling leaves a perfect model
    model = sim if args.control else quakesynth.load_model(args.model)
    res: dict[str, Any] = {"model": "teacher (control)" if args.control else args.model, "n": args.n,
                           "sim_n": args.sim_n or args.n, "seed": args.seed}
    parts = args.only or PARTS
    t0 = time.perf_counter()
    if "grid" in parts:
        cells = [cell(model, sim, args.n, args.seed + 1000 * i, args.sim_n, magnitude=m, distance=r, **BASE)
                 for i, (m, r) in enumerate((m, r) for m in args.magnitudes for r in args.distances)]
        pr = np.array([c["pga_ratio"] for c in cells])
        sr = np.array([c["psa1_ratio"] for c in cells])
        sd = np.array([c["sd_ratio"] for c in cells])
        res["grid"] = {"cells": cells,
                       "frac_pga_within_1.25": float(np.mean(np.abs(np.log(pr)) <= np.log(1.25))),
                       "frac_psa1_within_1.25": float(np.mean(np.abs(np.log(sr)) <= np.log(1.25))),
                       "frac_sd_in_0.8_1.25": float(np.mean((sd >= 0.8) & (sd <= 1.25)))}
    if "site" in parts:
        res["site"] = _effect(model, sim, args, "vs30", 200.0, 760.0, magnitude=6.0, distance=30.0,
                              depth=10.0, gap=120.0)
    if "depth" in parts:
        res["depth"] = _effect(model, sim, args, "depth", 30.0, 5.0, magnitude=6.0, distance=60.0,
                               vs30=400.0, gap=120.0)
    if "timing" in parts:
        rows = []
        for r in args.sp_distances:
            row = {"distance": r}
            for name, gen in (("model", model), ("sim", sim)):
                rec = draw(gen, args.sp_n or args.n, args.seed + 7, magnitude=5.5, distance=r, **BASE)
                env = envelopes(rec)
                row[f"{name}_sp_s"] = s_minus_p(median_envelope(env), rec.fs)
                row[f"{name}_sp_sd_s"] = sp_bootstrap_sd(env, rec.fs)
            row["diff_s"] = row["model_sp_s"] - row["sim_sp_s"]
            row["diff_sd_s"] = float(np.hypot(row["model_sp_sd_s"], row["sim_sp_sd_s"]))
            rows.append(row)
        res["timing"] = {"rows": rows, "max_abs_diff_s": float(max(abs(r["diff_s"]) for r in rows))}
    if "readme" in parts:
        from quakesynth.gmm.models import get_gmm

        ln_med, _ = get_gmm("BSSA14", region="japan").predict("PGA", 6.5, 30.0, 10.0, 400.0)
        bssa = float(np.exp(ln_med))
        c = cell(model, sim, args.n, args.seed + 11, args.sim_n, magnitude=6.5, distance=30.0, **BASE)
        res["readme"] = {"bssa14_japan_pga_g": bssa, "model_pga_g": c["model_pga_g"], "sim_pga_g": c["sim_pga_g"],
                         "model_over_bssa14": c["model_pga_g"] / bssa, "sim_over_bssa14": c["sim_pga_g"] / bssa}
    res["seconds"] = time.perf_counter() - t0
    return res


def _effect(model, sim, args, var: str, a: float, b: float, **scenario: float) -> dict[str, float]:
    """Median-PGA ratio var=a over var=b for model and simulator, and model / simulator."""
    out: dict[str, float] = {"variable": var, "a": a, "b": b}  # type: ignore[dict-item]
    for name, gen in (("model", model), ("sim", sim)):
        pa = np.median(rotd50_pga_psa1(draw(gen, args.n, args.seed + 3, **{var: a}, **scenario))[0])
        pb = np.median(rotd50_pga_psa1(draw(gen, args.n, args.seed + 3, **{var: b}, **scenario))[0])
        out[f"{name}_ratio"] = float(pa / pb)
    out["model_over_sim"] = out["model_ratio"] / out["sim_ratio"]
    return out


def report(res: dict[str, Any]) -> str:
    """Markdown tables of a :func:`run` result."""
    lines = [f"model `{res['model']}`, {res['n']} waveforms per scenario (teacher {res.get('sim_n', res['n'])}), "
             f"seed {res['seed']}, "
             f"{res['seconds']:.0f} s", ""]
    if "grid" in res:
        g = res["grid"]
        lines += ["| M | R km | model PGA g | sim PGA g | PGA ratio | PSA(1 s) ratio | sd log10 PGA model / sim |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {c['magnitude']:.1f} | {c['distance']:.0f} | {c['model_pga_g']:.4f} | {c['sim_pga_g']:.4f} | "
                  f"{c['pga_ratio']:.2f} | {c['psa1_ratio']:.2f} | {c['model_sd_log10_pga']:.2f} / "
                  f"{c['sim_sd_log10_pga']:.2f} |" for c in g["cells"]]
        lines += ["", f"cells within a factor 1.25: PGA {g['frac_pga_within_1.25']:.0%}, PSA(1 s) "
                  f"{g['frac_psa1_within_1.25']:.0%} (target >= 90 %); sd ratio in 0.8-1.25: "
                  f"{g['frac_sd_in_0.8_1.25']:.0%}", ""]
    for k in ("site", "depth"):
        if k in res:
            e = res[k]
            lines.append(f"- {e['variable']} effect PGA({e['a']:g}) / PGA({e['b']:g}): model {e['model_ratio']:.2f}, "
                         f"simulator {e['sim_ratio']:.2f}, model / simulator {e['model_over_sim']:.2f} "
                         f"(target 1/1.3-1.3)")
    if "timing" in res:
        t = res["timing"]
        lines.append("- S-P of the median envelope (M 5.5): " + ", ".join(
            f"{r['distance']:.0f} km {r['model_sp_s']:.1f} / {r['sim_sp_s']:.1f} s "
            f"(diff {r['diff_s']:+.2f} +- {r.get('diff_sd_s', float('nan')):.2f})" for r in t["rows"])
            + f" (model / simulator; max |diff| {t['max_abs_diff_s']:.1f} s, target <= 1 s)")
    if "readme" in res:
        r = res["readme"]
        lines.append(f"- README scenario M 6.5, 30 km, Vs30 400: model {r['model_pga_g']:.3f} g, simulator "
                     f"{r['sim_pga_g']:.3f} g, BSSA14 (Japan) {r['bssa14_japan_pga_g']:.3f} g; model / BSSA14 "
                     f"{r['model_over_bssa14']:.2f} (target 1/1.5-1.5), simulator / BSSA14 {r['sim_over_bssa14']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default", help="model folder or registered name (default: default)")
    p.add_argument("--n", type=int, default=32, help="waveforms per scenario (issue: 32)")
    p.add_argument("--preset", default=None, help="simulator preset of the teacher (default: the default preset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sim-n", type=int, default=None,
                   help="waveforms of the teacher per grid/README cell (default --n); the teacher is cheap, "
                        "so a large value makes its median a reference rather than a second sample")
    p.add_argument("--control", action="store_true",
                   help="measure the teacher against itself (independent seeds): what a perfect model scores")
    p.add_argument("--only", nargs="+", choices=PARTS, help="measure only these parts")
    p.add_argument("--magnitudes", type=float, nargs="+", default=list(GRID_M))
    p.add_argument("--distances", type=float, nargs="+", default=list(GRID_R), help="hypocentral, km")
    p.add_argument("--sp-n", type=int, default=None,
                   help="waveforms per distance of the S-P part, each generator (default: --n)")
    p.add_argument("--sp-distances", type=float, nargs="+", default=[30.0, 60.0, 90.0, 120.0, 150.0])
    p.add_argument("--out", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.n < 2:
        p.error("--n must be >= 2")
    res = run(args)
    print(report(res))
    if args.out:
        from quakesynth._atomic import atomic_path

        with atomic_path(args.out, overwrite=True) as tmp:
            tmp.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
