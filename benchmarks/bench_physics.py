"""Physics-guided generation end to end on a simulate-3d corpus: MIFNO surrogate, diffusion refiner
(per sensor and joint over 2 x 2 sensors), metrics before / after refinement, HF spatial
coherence, timings.

Usage::

    nice -n 19 python benchmarks/bench_physics.py --corpus scratch/wave3d --limit 400 \
        --surrogate-steps 1500 --refiner-steps 1500 --out scratch/physics_bench

Trains into ``OUT/`` with the library's one training entry (:func:`quakesynth.train.run.train`,
what ``quakesynth train surrogate | refiner`` runs; ``--resume`` continues the runs) unless
``OUT/surrogate/model``, ``OUT/refiner_p1/model``, ``OUT/refiner_p2/model`` exist (e.g. trained one
at a time by ``quakesynth train``, see ``benchmarks/train_physics.sh``), then
writes ``OUT/report.json`` and a Markdown report. A refiner whose model directory holds a
calibrated ``noise_correlation`` (``run refiner --calibrate``) is also sampled with spatially
correlated noise (:mod:`quakesynth.physics.joint`), the row "spatial noise". ``--oracles`` adds
the bounds of :func:`quakesynth.evaluate.physics.residual_oracles` (what a refiner that knows the
residual's spectrum but not its phase could reach, and a perfect high-band correction).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch


def _fmt_table(rows: dict[str, dict[str, dict[str, float]]], bands) -> str:
    cols = ["rmae", "rrmse", "EG", "PG"] + [f"bias_{j}" for j in range(len(bands))]
    names = ["rMAE", "rRMSE", "EG", "PG"] + [f"bias {a:g}-{b:g} Hz" for a, b in bands]
    lines = ["| model | comp | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 2)]
    for model, per in rows.items():
        for comp, vals in per.items():
            lines.append(f"| {model} | {comp} | " + " | ".join(f"{vals[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="scratch/wave3d")
    ap.add_argument("--limit", type=int, default=None, help="use the first N samples")
    ap.add_argument("--out", default="scratch/physics_bench")
    ap.add_argument("--surrogate-steps", type=int, default=1500)
    ap.add_argument("--refiner-steps", type=int, default=1500)
    ap.add_argument("--sampler-steps", type=int, default=32)
    ap.add_argument("--n-test", type=int, default=12, help="test wavefields refined and evaluated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fno-preset", default="fno_cpu", help="configs/<name>.yaml of the surrogate")
    ap.add_argument("--refiner-preset", default="refiner_cpu", help="configs/<name>.yaml of the refiners")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--patches", type=int, nargs="+", default=[1, 2], choices=[1, 2],
                    help="refiners to judge (1: per sensor, 2: joint 2 x 2)")
    ap.add_argument("--surrogate", default=None,
                    help="a trained surrogate model directory (default OUT/surrogate/model, trained if absent)")
    ap.add_argument("--oracles", action="store_true",
                    help="add the rows of residual_oracles: the surrogate plus the true residual with random "
                         "phases (everywhere, or above the high band's lower edge), and exact above that edge")
    ap.add_argument("--only-surrogate", action="store_true",
                    help="judge OUT/surrogate/model alone (no refiner is trained or judged)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from quakesynth.modeldir import resolve_model_dir, steps_behind
    from quakesynth.models.refiner import from_patches, to_patches
    from quakesynth.physics.data import load_corpus, split_indices
    from quakesynth.physics.evaluate import hf_coherence, seconds_per_call, summarise, trace_metrics
    from quakesynth.physics.models import Surrogate, load_refiner
    from quakesynth.train.run import train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    corpus = load_corpus(args.corpus, limit=args.limit)
    N = len(corpus["u"])
    fs = corpus["fs"]
    sp = split_indices(N, (0.8, 0.1, 0.1), seed=0)
    report = {"machine": f"{platform.node()} {platform.processor()} torch threads {args.threads}",
              "date": time.strftime("%Y-%m-%d %H:%M"), "n_samples": N,
              "split": {k: len(v) for k, v in sp.items()}, "fs": fs, "args": vars(args)}
    print(f"corpus: {N} samples, u {corpus['u'].shape}, loaded in {time.time() - t0:.1f} s", flush=True)

    # ---- surrogate ----------------------------------------------------------------------
    sdir = out / "surrogate" / "model"
    if args.surrogate:
        try:
            sdir = resolve_model_dir(args.surrogate)
        except FileNotFoundError as e:
            raise SystemExit(f"error: --surrogate: {e}") from None
    t = time.time()
    if not sdir.exists():  # the same split (80/10/10, seed 0) as above
        train("surrogate", args.corpus, out / "surrogate", preset=args.fno_preset, limit=args.limit,
              overrides=[f"train.max_steps={args.surrogate_steps}"], progress=False,
              resume=args.resume and (out / "surrogate" / "config.yaml").exists())
    report["surrogate_train_s"] = time.time() - t
    sur = Surrogate(sdir)
    test = sp["test"][: args.n_test]
    report["surrogate_s_per_wavefield"] = seconds_per_call(
        lambda: sur.predict(corpus["vs"][test[:1]], corpus["source"][test[:1]]))
    y_test = sur.predict(corpus["vs"][test], corpus["source"][test])
    x_test = corpus["u"][test]
    print(f"surrogate done ({report['surrogate_train_s']:.0f} s)", flush=True)

    # ---- refiners -------------------------------------------------------------------------
    refined = {}
    for patch in () if args.only_surrogate else tuple(args.patches):
        rdir = out / f"refiner_p{patch}" / "model"
        t = time.time()
        if not rdir.exists():
            train("refiner", args.corpus, out / f"refiner_p{patch}", preset=args.refiner_preset, surrogate=sdir,
                  patch=patch, limit=args.limit, overrides=[f"train.max_steps={args.refiner_steps}"], progress=False,
                  resume=args.resume and (out / f"refiner_p{patch}" / "config.yaml").exists())
        report[f"refiner_p{patch}_train_s"] = time.time() - t
        ref, _ = load_refiner(rdir)
        S = x_test.shape[2]
        yp = torch.as_tensor(to_patches(y_test, patch))

        def run(yb, ref=ref):
            seeds = list(range(len(yb)))
            return ref.refine(yb, seeds, num_steps=args.sampler_steps)

        per_wf = len(yp) // len(test)
        report[f"refiner_p{patch}_s_per_wavefield"] = seconds_per_call(
            lambda yp=yp, per_wf=per_wf: run(yp[:per_wf]), repeat=1)
        r = torch.cat([run(yp[i:i + 256]) for i in range(0, len(yp), 256)]).numpy()
        refined[f"refined (patch {patch})"] = from_patches(r, patch, 3, S, S)
        cal = load_refiner(rdir)[1].get("noise_correlation")
        if cal:
            from quakesynth.physics.joint import describe_correlation, refine_wavefields

            name = f"refined (patch {patch}, spatial noise {describe_correlation(cal)})"
            refined[name] = refine_wavefields(ref, y_test, seed=0, config={"noise_correlation": cal},
                                              num_steps=args.sampler_steps)
            report[f"refiner_p{patch}_spatial_s_per_wavefield"] = seconds_per_call(
                lambda ref=ref, cal=cal: refine_wavefields(ref, y_test[:1], config={"noise_correlation": cal},
                                                           num_steps=args.sampler_steps), repeat=1)
        print(f"refiner patch {patch} done ({report[f'refiner_p{patch}_train_s']:.0f} s)", flush=True)

    # ---- metrics ------------------------------------------------------------------------------
    fmax = float(json.loads((Path(args.corpus) / "config.json").read_text())["wave3d"]["fmax"])
    bands = ((0.0, fmax / 3), (fmax / 3, 2 * fmax / 3), (2 * fmax / 3, fmax))
    report["bands"] = bands
    if args.oracles:  # bounds of what a refiner could reach (quakesynth.evaluate.physics.residual_oracles)
        from quakesynth.evaluate.physics import residual_oracles

        for key, u in residual_oracles(y_test, x_test, fs, bands[-1][0], seed=0).items():
            refined[f"oracle: {key} ({bands[-1][0]:.1f} Hz)" if "above" in key else f"oracle: {key}"] = u

    def traces(u):  # (n, 3, S, S, T) -> (n S S, 3, T)
        return u.transpose(0, 2, 3, 1, 4).reshape(-1, 3, u.shape[-1])

    truth_tr = traces(x_test)
    amp = np.abs(y_test).reshape(len(test), -1).max(axis=1)
    small = np.repeat(amp <= np.quantile(amp, 0.25), x_test.shape[2] ** 2)
    rows, rows_small = {}, {}
    for name, u in {"surrogate": y_test, **refined}.items():
        m = trace_metrics(traces(u), truth_tr, fs, bands=bands)
        rows[name] = summarise(m, "ENZ")
        rows_small[name] = summarise(m, "ENZ", mask=small)
    report["metrics"] = rows
    report["metrics_small_amplitude"] = rows_small
    band = (2 * fmax / 3, min(fmax * 1.2, fs / 2 * 0.9))
    coh = {name: hf_coherence(u, fs, band, 4).tolist()
           for name, u in {"truth": x_test, "surrogate": y_test, **refined}.items()}
    report["coherence_band_hz"] = band
    report["coherence"] = coh
    steps = {"surrogate": steps_behind(sdir),  # along the warm-start chain (provenance.steps_total)
             **{f"refiner_p{p}": steps_behind(out / f"refiner_p{p}" / "model")
                for p in (() if args.only_surrogate else args.patches)}}
    report["trained_steps"] = steps
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))

    def said(n):
        return "unknown" if n is None else f"{n}"

    md = [f"## Physics-guided generation ({report['date']}, {report['machine']})", "",
          f"Presets {args.fno_preset}, {args.refiner_preset}. Corpus: {N} simulate-3d samples ({args.corpus}), split {report['split']}; surrogate "
          f"{said(steps['surrogate'])} steps, "
          + "".join(f"{k.replace('_p', ' patch ')} {said(v)} steps, " for k, v in steps.items() if k != "surrogate")
          + f"sampler {args.sampler_steps} "
          f"Heun steps; {len(test)} test wavefields x {x_test.shape[2]}^2 sensors.", "",
          _fmt_table(rows, bands), "", "Smallest-amplitude quarter of the test wavefields:", "",
          _fmt_table(rows_small, bands), "",
          f"HF coherence (band {band[0]:.2f}-{band[1]:.2f} Hz, correlation vs separation 1-4 sensors, E/N/Z):", ""]
    for name, c in coh.items():
        gap = np.abs(np.asarray(c) - np.asarray(coh["truth"])).max()
        md.append(f"- {name}: " + "; ".join(" ".join(f"{v:.2f}" for v in comp) for comp in c)
                  + ("" if name == "truth" else f" (max |difference from truth| {gap:.2f}; target 0.15)"))
    timing = f"Timings: surrogate {report['surrogate_s_per_wavefield'] * 1e3:.1f} ms/wavefield"
    for patch in () if args.only_surrogate else tuple(args.patches):
        timing += f"; refiner patch {patch} {report[f'refiner_p{patch}_s_per_wavefield']:.2f} s/wavefield"
    md += ["", timing + f" (CPU, {args.threads} thread)."]
    (out / "report.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
