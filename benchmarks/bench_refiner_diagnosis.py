"""Diagnosis of a paper-pairs refiner on the test wavefields of a simulate-3d corpus (issue 17).

Two measurements, on the first ``--n-test`` test wavefields (split 80/10/10, seed 0, as
``bench_physics.py``):

- ``residual``: is the refiner's randomness the right size? Per sensor and component, the generated
  residual ``g - y`` (one sample) against the true residual ``x - y`` (truth minus surrogate): the
  log10 ratio of their mean energies per frequency band, and the median per-trace log10 ratio of
  their RMS, in quarters of the sensors by the condition's peak amplitude ``s`` (the refiner's
  normalisation). A calibrated refiner gives 0 everywhere.
- ``mean``: does the refiner know more than the surrogate? The mean of K independent samples
  estimates the refiner's conditional mean E[x | y]. Its rRMSE and phase GOF against the truth,
  for K = 1, 2, 4, ..., next to the surrogate's own. A refiner conditioned on the surrogate's output
  alone cannot beat an L2-trained surrogate there by much: such a surrogate already approximates
  E[x | geology, source], and E[x | y] then stays close to y.

Usage::

    python benchmarks/bench_refiner_diagnosis.py residual --surrogate SUR --refiner REF
    python benchmarks/bench_refiner_diagnosis.py mean --surrogate SUR --refiner REF --k 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def _setup(args):
    from quakesynth.models.refiner import to_patches
    from quakesynth.physics.data import load_corpus, split_indices
    from quakesynth.physics.models import Surrogate, load_refiner

    corpus = load_corpus(args.corpus)
    test = split_indices(len(corpus["u"]), (0.8, 0.1, 0.1), seed=0)["test"][: args.n_test]
    y = Surrogate(args.surrogate).predict(corpus["vs"][test], corpus["source"][test])
    ref, _ = load_refiner(args.refiner)
    return corpus, ref, to_patches(y, 1), to_patches(corpus["u"][test].astype(np.float32), 1)


def _sample(ref, yp: np.ndarray, steps: int, seed0: int) -> np.ndarray:
    """One refined sample per sensor (M, 3, T), seeds ``seed0 + i``."""
    out = []
    for i in range(0, len(yp), 512):
        yb = torch.as_tensor(yp[i:i + 512])
        out.append(ref.refine(yb, [seed0 + i + j for j in range(len(yb))], num_steps=steps).numpy())
    return np.concatenate(out)


def residual(args) -> dict:
    corpus, ref, yp, xp = _setup(args)
    g = _sample(ref, yp, args.sampler_steps, 0)
    f = np.fft.rfftfreq(yp.shape[-1], 1 / float(corpus["fs"]))

    def band_energy(a, lo, hi):
        return (np.abs(np.fft.rfft(a, axis=-1)) ** 2)[..., (f >= lo) & (f < hi)].sum(-1)  # (M, 3)

    amp = np.abs(yp).reshape(len(yp), -1).max(1)
    quarter = np.digitize(amp, np.quantile(amp, [0.25, 0.5, 0.75]))
    res = {"bands": {}, "rms_ratio": {}}
    for lo, hi in args.bands:
        eg, et = band_energy(g - yp, lo, hi), band_energy(xp - yp, lo, hi)
        res["bands"][f"{lo:g}-{hi:g} Hz"] = [np.log10(eg[quarter == q].mean(0) / et[quarter == q].mean(0)).tolist()
                                             for q in range(4)]
    ratio = np.log10(np.sqrt(((g - yp) ** 2).mean(-1)) / np.sqrt(((xp - yp) ** 2).mean(-1)))
    for q in range(4):
        m = quarter == q
        res["rms_ratio"][f"q{q}"] = {"median": np.median(ratio[m], 0).tolist(),
                                     "p10": np.quantile(ratio[m], 0.1, 0).tolist(),
                                     "p90": np.quantile(ratio[m], 0.9, 0).tolist()}
    print("log10 mean-energy ratio generated / true residual, E/N/Z, quarters of sensors by amplitude "
          "(quietest first):")
    for band, rows in res["bands"].items():
        print(f"  {band}: " + " | ".join(" / ".join(f"{v:+.2f}" for v in r) for r in rows))
    print("median per-trace log10 RMS ratio: " + " | ".join(
        " / ".join(f"{v:+.2f}" for v in r["median"]) for r in res["rms_ratio"].values()))
    return res


def mean(args) -> dict:
    from quakesynth.models.refiner import from_patches
    from quakesynth.physics.evaluate import summarise, trace_metrics

    corpus, ref, yp, xp = _setup(args)
    fs, S = float(corpus["fs"]), int(round(np.sqrt(len(yp) // args.n_test)))

    def traces(u):  # (M, 3, T) sensor-major -> the layout of bench_physics: (n S S, 3, T)
        return from_patches(u, 1, 3, S, S).transpose(0, 2, 3, 1, 4).reshape(-1, 3, u.shape[-1])

    def row(u):
        s = summarise(trace_metrics(traces(u), traces(xp), fs))
        return {c: {m: v[m] for m in ("rrmse", "EG", "PG", "bias_0", "bias_1", "bias_2")} for c, v in s.items()}

    res = {"surrogate": row(yp)}
    acc, t = 0.0, time.time()
    for k in range(args.k):
        acc = acc + _sample(ref, yp, args.sampler_steps, k * len(yp))
        if (k + 1) & k == 0 or k + 1 == args.k:  # 1, 2, 4, 8, ... and K
            res[f"mean of {k + 1}"] = row(acc / (k + 1))
            print(f"{k + 1} samples ({time.time() - t:.0f} s)", flush=True)
    for name, r in res.items():
        print(f"  {name}: rRMSE " + " / ".join(f"{v['rrmse']:.2f}" for v in r.values())
              + ", PG " + " / ".join(f"{v['PG']:.2f}" for v in r.values())
              + ", bias 1-1.5 Hz " + " / ".join(f"{v['bias_2']:+.2f}" for v in r.values()))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["residual", "mean"])
    ap.add_argument("--corpus", default="runs/wave3d")
    ap.add_argument("--surrogate", required=True, help="surrogate model directory")
    ap.add_argument("--refiner", required=True, help="per-sensor refiner model directory")
    ap.add_argument("--n-test", type=int, default=8)
    ap.add_argument("--sampler-steps", type=int, default=18)
    ap.add_argument("--k", type=int, default=8, help="samples averaged (mean)")
    ap.add_argument("--bands", type=float, nargs=2, action="append", default=None, metavar=("LO", "HI"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="also write the results as JSON")
    args = ap.parse_args()
    args.bands = args.bands or [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5)]
    torch.set_num_threads(args.threads)
    res = {"residual": residual, "mean": mean}[args.what](args)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"args": vars(args), **res}, fh, indent=1)


if __name__ == "__main__":
    main()
