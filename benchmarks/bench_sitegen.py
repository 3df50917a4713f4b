"""Site-specific generation benchmark: TimesNet-Gen vs the spectrogram CVAE on a simulator
corpus of stations with known f0 (quakesynth.sitegen).

    python benchmarks/bench_sitegen.py --corpus scratch/sitegen/corpus \
        --timesnet scratch/sitegen/timesnet/model --cvae scratch/sitegen/cvae/model \
        --out scratch/sitegen/eval.json [--n 30]

Prints a markdown table per model/sampling mode (JS similarity of f0 histograms, f0 error
against the true f0, confusion-matrix NCC, HVSR median misfit, diversity) and writes the
numbers as JSON. The corpus and models are made by ``quakesynth.sitegen.corpus`` and
``quakesynth.sitegen.train`` (see benchmarks/results/sitegen.md for the exact commands).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


class _PoolGenerator:
    """Real records of one pool served through ``generate_table`` (the real-vs-real reference)."""

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


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from quakesynth.sitegen.data import load_pool, true_f0
    from quakesynth.sitegen.evaluate import (
        HVSRClassifier,
        evaluate_generator,
        hvsr_features,
        hvsr_of,
    )
    from quakesynth.sitegen.generator import load_generator

    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--timesnet", required=True)
    ap.add_argument("--cvae", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=30, help="generated records per station")
    ap.add_argument("--noise-scales", type=float, nargs="*", default=[],
                    help="extra k=5 noise rows with these noise_scale values (sampling ablation)")
    args = ap.parse_args()

    train, test = load_pool(args.corpus, "train"), load_pool(args.corpus, "test")
    f0_true = true_f0(args.corpus)
    freqs, c_train = hvsr_of(train.wave, train.fs, train.components)
    clf = HVSRClassifier(len(train.codes)).fit(hvsr_features(c_train), train.station)
    runs = {"real (train split) vs real (test split)": _PoolGenerator(train)}
    for sampling in ("noise", "mean", "single"):
        runs[f"TimesNet-Gen k=5 {sampling}" if sampling != "single" else "TimesNet-Gen single latent"] = \
            load_generator(args.timesnet, k=5, sampling=sampling)
    for scale in args.noise_scales:
        runs[f"TimesNet-Gen k=5 noise x {scale:g}"] = load_generator(args.timesnet, k=5, sampling="noise",
                                                                    noise_scale=scale)
    runs["TimesNet-Gen zero-shot k=5 noise"] = load_generator(args.timesnet, k=5, sampling="noise", mode="zeroshot")
    runs["CVAE (STFT amp+phase)"] = load_generator(args.cvae)
    results = {}
    print("| model / sampling | JS f0 | f0 err (median curve) gen / real | f0 err (records) gen / real | NCC | acc real | acc gen | "
          "HVSR ln-rmse | dist ratio wave | dist ratio env | sd P gen/real (s) | sd S-P gen/real (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, gen in runs.items():
        t0 = time.perf_counter()
        r = evaluate_generator(gen, train, test, f0_true, n_per_station=args.n, seed=1, clf=clf)
        d, f, c = r["diversity"], r["f0"], r["confusion"]
        results[name] = {"seconds": time.perf_counter() - t0, "js_mean": f["js_mean"],
                         "f0_err_gen_mean": f["f0_err_gen_mean"], "f0_err_real_mean": f["f0_err_real_mean"],
                         "f0_err_curve_gen_mean": f["f0_err_curve_gen_mean"],
                         "f0_err_curve_real_mean": f["f0_err_curve_real_mean"],
                         "ncc": c["ncc"], "acc_real": c["acc_real"], "acc_gen": c["acc_gen"],
                         "hvsr_ln_rmse_mean": r["hvsr_ln_rmse_mean"], "diversity": d,
                         "per_station": f["per_station"],
                         "confusion_gen": c["confusion_gen"].tolist(), "confusion_real": c["confusion_real"].tolist(),
                         "hvsr": [{k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in h.items()}
                                  for h in r["hvsr"]], "hvsr_freqs": r["hvsr_freqs"].tolist()}
        print(f"| {name} | {f['js_mean']:.3f} | {f['f0_err_curve_gen_mean']:.3f} / {f['f0_err_curve_real_mean']:.3f} | "
              f"{f['f0_err_gen_mean']:.3f} / {f['f0_err_real_mean']:.3f} | "
              f"{c['ncc']:.3f} | {c['acc_real']:.3f} | {c['acc_gen']:.3f} | {r['hvsr_ln_rmse_mean']:.3f} | "
              f"{d['dist_ratio_wave']:.3f} | {d['dist_ratio_env']:.3f} | {d['p_sd_gen_s']:.2f}/{d['p_sd_real_s']:.2f} | "
              f"{d['sp_sd_gen_s']:.2f}/{d['sp_sd_real_s']:.2f} |", flush=True)
    print("\nper-station f0 of the median HVSR curve (Hz): true / real / TimesNet-Gen k=5 noise (JS) / CVAE (JS)")
    for a, b in zip(results["TimesNet-Gen k=5 noise"]["per_station"], results["CVAE (STFT amp+phase)"]["per_station"]):
        print(f"  {a['code']}: {a['f0_true']:.2f} / {a['f0_curve_real']:.2f} / {a['f0_curve_gen']:.2f} "
              f"({a['js']:.2f}) / {b['f0_curve_gen']:.2f} ({b['js']:.2f})")
    Path(args.out).write_text(json.dumps({"n_train": len(train), "n_test": len(test), "runs": results}, indent=1))


if __name__ == "__main__":
    main()
