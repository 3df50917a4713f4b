"""Site-specific generation benchmark: TimesNet-Gen vs the spectrogram CVAE on a station
corpus (quakesynth.sitegen): site response (f0, HVSR, station confusion), site states,
amplitude (PGA and spectral level per station) and diversity.

    python benchmarks/bench_sitegen.py --corpus scratch/sitegen/corpus \
        --timesnet scratch/sitegen/timesnet/model [--cvae scratch/sitegen/cvae/model] \
        --out scratch/sitegen/eval.json [--n 30] [--ks 1 5] [--noise-scales 0.5 1]

The true f0 comes from the corpus's ``stations.csv`` when it has one (simulator corpora);
real archives have none, and the generated station f0 is then compared with the real one.
``--make-corpus N`` first simulates an N-event corpus at ``--corpus`` (if absent) and
``--train-timesnet STEPS0 STEPS1`` first trains a ``small`` TimesNet-Gen there (if absent) with
that many phase-0 / phase-1 steps: the short end-to-end amplitude check of issue 19, e.g.

    python benchmarks/bench_sitegen.py --corpus scratch/sitegen19/corpus --make-corpus 160 \
        --timesnet scratch/sitegen19/timesnet/model --train-timesnet 300 150 \
        --ks 1 5 --n 30 --amplitude-n 200 --out scratch/sitegen19/eval.json

Prints one markdown table of site figures and one of amplitude figures per model/sampling
setting (every column of a setting that is undefined is "n/a", with the reason below the
table) and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


class PoolGenerator:
    """Real records of one pool served through ``generate_table`` (the real-vs-real reference)."""

    name = "real"

    def __init__(self, pool) -> None:
        self.pool = pool

    def generate_table(self, table, seed=0):
        from quakesynth.records import Records

        rng = np.random.default_rng(seed)
        rows = []
        for code, n in zip(table["station"], table["n"]):
            idx = self.pool.of(code)
            rows.extend(rng.choice(idx, size=min(n, len(idx)), replace=False))
        rows = np.array(rows)
        meta = self.pool.metadata.iloc[rows].reset_index(drop=True)
        return Records(self.pool.wave[rows] * np.exp(self.pool.ln_peak[rows])[:, None, None], fs=self.pool.fs,
                       components=self.pool.components, metadata=meta)


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def _get(d: dict | None, *keys: str) -> Any:
    for k in keys:
        if d is None:
            return None
        d = d.get(k)
    return d


def settings(timesnet: str | None, cvae: str | None, ks=(1, 5), noise_scales=(), zeroshot: bool = True
             ) -> dict[str, Any]:
    """The generators to compare: ``{row name: generator}``."""
    from quakesynth.generate import load_model as load_generator

    runs: dict[str, Any] = {}
    if timesnet:
        for k in ks:
            runs[f"TimesNet-Gen k={k} noise"] = load_generator(timesnet, k=k, sampling="noise")
        runs["TimesNet-Gen k=5 mean"] = load_generator(timesnet, k=5, sampling="mean")
        runs["TimesNet-Gen single latent"] = load_generator(timesnet, sampling="single")
        for scale in noise_scales:
            runs[f"TimesNet-Gen k=5 noise x {scale:g}"] = load_generator(timesnet, k=5, sampling="noise",
                                                                        noise_scale=scale)
        if zeroshot:
            runs["TimesNet-Gen zero-shot k=5 noise"] = load_generator(timesnet, k=5, sampling="noise", mode="zeroshot")
    if cvae:
        runs["CVAE (STFT amp+phase)"] = load_generator(cvae)
    return runs


def run_benchmark(corpus: str | Path, timesnet: str | None = None, cvae: str | None = None, ks=(1, 5),
                  n: int = 30, amplitude_n: int | None = None, noise_scales=(), zeroshot: bool = True,
                  seed: int = 1, log=print) -> dict[str, Any]:
    """Evaluate every setting on the corpus's train / test splits; returns the JSON-able
    results and prints the two markdown tables through ``log``.

    ``amplitude_n`` (default ``n``) records per station are generated for the amplitude rows
    (PGA ratios of k = 1 scatter with the station's record-to-record amplitude spread).
    """
    from quakesynth.sitegen.data import load_pool, true_f0
    from quakesynth.sitegen.evaluate import amplitude_bias, evaluate_generator

    train = load_pool(corpus, "train")
    # the test records on the train grid (a mixed archive's test split has its own median length)
    test = load_pool(corpus, "test", fs=train.fs, n_samples=train.wave.shape[-1])
    try:
        f0_true = true_f0(corpus)
    except FileNotFoundError:
        f0_true = None
        log("no stations.csv: no known f0; generated station f0 is compared with the real test records' f0\n")
    runs = {"real (train split) vs real (test split)": PoolGenerator(train),
            **settings(timesnet, cvae, ks, noise_scales, zeroshot)}
    results: dict[str, Any] = {}
    reasons: dict[str, dict[str, str]] = {}
    amp_n = amplitude_n or n
    for name, gen in runs.items():
        t0 = time.perf_counter()
        r = evaluate_generator(gen, train, test, f0_true, n_per_station=n, seed=seed)
        if amp_n != n and not isinstance(gen, PoolGenerator):  # more records for the amplitude rows
            import pandas as pd

            rec = gen.generate_table(pd.DataFrame({"station": train.codes, "n": amp_n}), seed=seed + 1)
            y = np.array([train.codes.index(c) for c in rec.metadata["station_code"]])
            yt = np.array([test.codes.index(c) if c in test.codes else -1 for c in rec.metadata["station_code"]])
            r["amplitude_train"] = amplitude_bias(train.wave * np.exp(train.ln_peak)[:, None, None], train.station,
                                                  rec.data, y, train.codes, train.fs, train.present)
            r["amplitude"] = amplitude_bias(test.wave * np.exp(test.ln_peak)[:, None, None], test.station,
                                            rec.data, yt, test.codes, test.fs, test.present)
        reasons[name] = dict(r["skipped"])
        results[name] = {
            "seconds": time.perf_counter() - t0, "skipped": r["skipped"],
            "f0": {k: v for k, v in (r["f0"] or {}).items()},
            "ncc": _get(r, "confusion", "ncc"), "acc_real": _get(r, "confusion", "acc_real"),
            "acc_gen": _get(r, "confusion", "acc_gen"), "hvsr_ln_rmse_mean": r["hvsr_ln_rmse_mean"],
            "site": r["site"], "amplitude": r["amplitude"], "amplitude_train": r["amplitude_train"],
            "diversity": r["diversity"],
            "confusion_gen": None if r["confusion"] is None else r["confusion"]["confusion_gen"].tolist(),
            "confusion_real": None if r["confusion"] is None else r["confusion"]["confusion_real"].tolist()}
    log("| model / sampling | JS f0 | f0 err (median curve) gen / real | gen vs real f0 | no clear peak (gen) | "
        "multi-modal stations real / gen | NCC | acc gen | HVSR ln-rmse | dist ratio wave | dist ratio env |")
    log("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        f, d, site = res["f0"], res["diversity"], res["site"]
        multi = ("n/a" if site is None else
                 f"{sum(s['multimodal'] for s in site['real'])} / {sum(s['multimodal'] for s in site['gen'])}")
        log(f"| {name} | {_fmt(f.get('js_mean'))} | {_fmt(f.get('f0_err_curve_gen_mean'))} / "
            f"{_fmt(f.get('f0_err_curve_real_mean'))} | {_fmt(f.get('f0_err_curve_gen_vs_real_mean'))} | "
            f"{len(f['no_clear_peak_gen']) if 'no_clear_peak_gen' in f else 'n/a'} | {multi} | "
            f"{_fmt(res['ncc'])} | {_fmt(res['acc_gen'])} | {_fmt(res['hvsr_ln_rmse_mean'])} | "
            f"{_fmt(_get(d, 'dist_ratio_wave'))} | {_fmt(_get(d, 'dist_ratio_env'))} |")
    log("\nAmplitude: generated / real geometric-mean PGA per station (gm over stations; worst station's "
        "|ratio - 1|) and spectral level, against the train records (the pool the generator draws its "
        "amplitudes from) and the test records")
    log("| model / sampling | PGA ratio vs train (gm) | worst station vs train | spectral ratio vs train | "
        "PGA ratio vs test (gm) | worst station vs test | spectral ratio vs test |")
    log("|---|---|---|---|---|---|---|")
    for name, res in results.items():
        a, at = res["amplitude"], res["amplitude_train"]
        log(f"| {name} | {_fmt(_get(at, 'pga_ratio_gm'))} | {_fmt(_get(at, 'pga_max_abs_err'))} | "
            f"{_fmt(_get(at, 'spectral_ratio_gm'))} | {_fmt(_get(a, 'pga_ratio_gm'))} | "
            f"{_fmt(_get(a, 'pga_max_abs_err'))} | {_fmt(_get(a, 'spectral_ratio_gm'))} |")
    notes = sorted({(k, v) for rs in reasons.values() for k, v in rs.items()})
    if notes:
        log("\nn/a:")
        for k, v in notes:
            log(f"  {k}: {v}")
    return {"n_train": len(train), "n_test": len(test), "f0_known": f0_true is not None, "runs": results}


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, (np.floating, float)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, (np.integer, np.bool_)):
        return o.item()
    return o


def main(argv: list[str] | None = None) -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="dataset store (train and test splits)")
    ap.add_argument("--timesnet", help="TimesNet-Gen model directory")
    ap.add_argument("--cvae", help="CVAE model directory")
    ap.add_argument("--out", required=True, help="JSON file of the results")
    ap.add_argument("--n", type=int, default=30, help="generated records per station")
    ap.add_argument("--amplitude-n", type=int, default=None, help="generated records per station for the amplitude rows")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 5], help="k values of the k-averaging rows")
    ap.add_argument("--noise-scales", type=float, nargs="*", default=[],
                    help="extra k=5 noise rows with these noise_scale values (sampling ablation)")
    ap.add_argument("--no-zeroshot", action="store_true", help="skip the zero-shot row")
    ap.add_argument("--make-corpus", type=int, metavar="N_EVENTS", help="simulate the corpus first (if absent)")
    ap.add_argument("--train-timesnet", type=int, nargs=2, metavar=("STEPS0", "STEPS1"),
                    help="train a 'small' TimesNet-Gen at --timesnet first (if absent)")
    args = ap.parse_args(argv)
    from quakesynth._atomic import atomic_path, check_parent

    check_parent(args.out)  # before minutes of work, not after
    if args.make_corpus and not Path(args.corpus).exists():
        from quakesynth.sitegen.corpus import write_site_corpus

        t0 = time.process_time()
        write_site_corpus(args.corpus, args.make_corpus)
        print(f"corpus: {args.make_corpus} events, {time.process_time() - t0:.0f} CPU s")
    if args.train_timesnet:
        if not args.timesnet:
            ap.error("--train-timesnet needs --timesnet (the model directory to create)")
        model = Path(args.timesnet)
        if not (model / "config.json").exists():
            from quakesynth.train.config import resolve_config
            from quakesynth.train.recipes import train_timesnet

            s0, s1 = args.train_timesnet
            t0 = time.process_time()
            train_timesnet(args.corpus, model.parent, resolve_config(
                "timesnet", "small", overrides=[f"phase0.max_steps={s0}", f"phase1.max_steps={s1}",
                                    f"phase0.checkpoint_every={s0}", f"phase1.checkpoint_every={s1}"]),
                progress=False)
            print(f"TimesNet-Gen: {s0} + {s1} steps, {time.process_time() - t0:.0f} CPU s")
    t0 = time.process_time()
    res = run_benchmark(args.corpus, args.timesnet, args.cvae, args.ks, args.n, args.amplitude_n,
                        args.noise_scales, not args.no_zeroshot)
    print(f"\nevaluation: {time.process_time() - t0:.0f} CPU s")
    with atomic_path(args.out, overwrite=True) as tmp:  # never a half-written JSON
        tmp.write_text(json.dumps(_jsonable(res), indent=1))


if __name__ == "__main__":
    main()
