"""Evaluation of site-specific generators: HVSR and f0 alignment, station classifier and
confusion-matrix NCC, diversity and the sampling ablation (TimesNet-Gen, arXiv 2512.04694).

- **HVSR** per record with :func:`quakesynth.metrics.hvsr_curves` (whole window, geometric mean
  of the horizontals, Konno-Ohmachi b = 40); per station the lognormal median curve and its
  ``sigma_ln`` (:func:`quakesynth.metrics.hvsr_statistics`).
- **f0** = frequency of the HVSR maximum in ``band``; per station the Jensen-Shannon
  similarity (:func:`quakesynth.metrics.distribution.histogram_similarity`, base 2, 1 =
  identical) of the log10 f0 histograms of generated and real records on common bins over the
  band, and relative errors against the known f0 (simulator stations): of the geometric mean
  of the records' f0 (``err_gen``), and of the f0 of the station's median HVSR curve
  (``err_curve_gen``; the SESAME-style station estimate, robust where single-record curves
  have broad plateaus).
- **Station classifier**: multinomial logistic regression (L2, L-BFGS) on standardised
  ln-HVSR curves, trained on real records; applied to held-out real records and to generated
  ones; the NCC (:func:`quakesynth.metrics.distribution.confusion_ncc`) of the row-normalised
  confusion matrices measures whether the generated set is confused like the real one.
- **Diversity** (mode collapse): per station the mean pairwise Euclidean distance between
  peak-normalised waveforms and between their smoothed log envelopes, generated / real; the
  standard deviations of P picks (:class:`quakesynth.data.picking.STALTAPicker`) and of S picks
  (AIC on the horizontal norm between P + 0.5 s and the horizontal peak).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: f0 search band and HVSR frequencies for the default 50 Hz corpora, Hz.
F0_BAND = (0.5, 15.0)


def hvsr_of(wave: np.ndarray, fs: float, components: str = "ZNE", freqs: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(freqs (F,), HVSR (N, F)) of three-component records (N, 3, T) in ``components`` order."""
    from quakesynth.metrics import hvsr_curves

    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != 3 or sorted(components) != sorted("ZNE") and sorted(components) != sorted("ZRT"):
        raise ValueError(f"wave must be (N, 3, T) with components ZNE or ZRT; got {x.shape}, {components!r}")
    iz = components.index("Z")
    h = [i for i in range(3) if i != iz]
    if freqs is None:
        freqs = np.geomspace(0.3, min(20.0, 0.45 * fs), 120)
    return hvsr_curves(x[:, h[0]], x[:, h[1]], x[:, iz], fs, freqs=freqs)


def station_hvsr(curves: np.ndarray, freqs: np.ndarray, station: np.ndarray, n_stations: int,
                 band: tuple[float, float] = F0_BAND) -> list[dict[str, Any] | None]:
    """:func:`quakesynth.metrics.hvsr_statistics` per station index (None without records)."""
    from quakesynth.metrics import hvsr_statistics

    c = np.clip(np.nan_to_num(curves, nan=1e-6), 1e-6, None)
    return [hvsr_statistics(c[station == s], freqs, band) if (station == s).any() else None
            for s in range(n_stations)]


def f0_alignment(f0_real: np.ndarray, station_real: np.ndarray, f0_gen: np.ndarray, station_gen: np.ndarray,
                 codes: list[str], f0_true: dict[str, float] | None = None, band: tuple[float, float] = F0_BAND,
                 bins: int = 20) -> dict[str, Any]:
    """Per-station JS similarity of f0 histograms (log10 bins over ``band``) and f0 errors.

    Returns ``{"per_station": [{code, js, f0_real_median, f0_gen_median, f0_true, err_gen, err_real}],
    "js_mean", "f0_err_gen_mean", "f0_err_real_mean"}`` (errors relative to the true f0; NaN
    without ``f0_true``).
    """
    from quakesynth.metrics.distribution import histogram_similarity

    rng = (np.log10(band[0]), np.log10(band[1]))
    rows = []
    for s, code in enumerate(codes):
        a, b = f0_real[station_real == s], f0_gen[station_gen == s]
        if len(a) == 0 or len(b) == 0:
            continue
        js = histogram_similarity(a, b, bins=bins, value_range=rng, log=True)
        ft = float(f0_true[code]) if f0_true and code in f0_true else np.nan
        mr, mg = float(np.exp(np.log(a).mean())), float(np.exp(np.log(b).mean()))
        rows.append({"code": code, "js": js, "f0_real_median": mr, "f0_gen_median": mg, "f0_true": ft,
                     "err_gen": abs(mg - ft) / ft, "err_real": abs(mr - ft) / ft})
    return {"per_station": rows, "js_mean": float(np.mean([r["js"] for r in rows])),
            "f0_err_gen_mean": float(np.mean([r["err_gen"] for r in rows])),
            "f0_err_real_mean": float(np.mean([r["err_real"] for r in rows]))}


class HVSRClassifier:
    """Station classifier: softmax regression on standardised ln-HVSR curves.

    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (20, 5)), rng.normal(3, 1, (20, 5))])
    >>> y = np.repeat([0, 1], 20)
    >>> HVSRClassifier(2).fit(x, y).predict(x).tolist() == y.tolist()
    True
    """

    def __init__(self, n_classes: int, l2: float = 1e-2, max_iter: int = 200) -> None:
        self.n_classes, self.l2, self.max_iter = int(n_classes), float(l2), int(max_iter)

    def fit(self, features: np.ndarray, labels: np.ndarray) -> HVSRClassifier:
        import torch

        x = np.asarray(features, dtype=np.float64)
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-9
        X = torch.from_numpy((x - self.mu) / self.sd)
        y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        W = torch.zeros(X.shape[1], self.n_classes, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(self.n_classes, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(X @ W + b, y) + self.l2 * (W**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.W, self.b = W.detach().numpy(), b.detach().numpy()
        return self

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, dtype=np.float64) - self.mu) / self.sd) @ self.W + self.b

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.logits(features).argmax(1)


def hvsr_features(curves: np.ndarray) -> np.ndarray:
    """ln HVSR (N, F) with non-finite / non-positive values floored (classifier input)."""
    return np.log(np.clip(np.nan_to_num(curves, nan=1e-6, posinf=1e6), 1e-6, None))


def confusion_alignment(clf: HVSRClassifier, feat_real: np.ndarray, y_real: np.ndarray, feat_gen: np.ndarray,
                        y_gen: np.ndarray) -> dict[str, Any]:
    """Accuracies and the NCC of the row-normalised confusion matrices (real held-out vs generated)."""
    from quakesynth.metrics.distribution import confusion_matrix, confusion_ncc

    k = clf.n_classes
    pr, pg = clf.predict(feat_real), clf.predict(feat_gen)
    c_real = confusion_matrix(np.asarray(y_real), pr, k, normalize="true")
    c_gen = confusion_matrix(np.asarray(y_gen), pg, k, normalize="true")
    return {"acc_real": float((pr == y_real).mean()), "acc_gen": float((pg == y_gen).mean()),
            "ncc": confusion_ncc(c_real, c_gen), "confusion_real": c_real, "confusion_gen": c_gen}


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows of x (N, ...) (N >= 2).

    >>> mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]]))
    5.0
    """
    a = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(a) < 2:
        raise ValueError(f"need at least two rows; got {len(a)}")
    sq = (a**2).sum(1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2 * a @ a.T, 0, None)
    iu = np.triu_indices(len(a), 1)
    return float(np.sqrt(d2[iu]).mean())


def log_envelope(wave: np.ndarray, kernel: int = 32) -> np.ndarray:
    """ln of the moving-average envelope of |x| summed over components, (N, T)."""
    from quakesynth.metrics.spectra import moving_average_envelope

    e = moving_average_envelope(np.abs(np.asarray(wave, dtype=np.float64)).sum(1), kernel=kernel)
    return np.log(e + 1e-3 * e.max(axis=-1, keepdims=True) + 1e-12)


def pick_ps(wave: np.ndarray, fs: float, components: str = "ZNE") -> tuple[np.ndarray, np.ndarray]:
    """P and S picks (samples; NaN where none) of records (N, 3, T) (module docstring)."""
    from obspy.signal.trigger import aic_simple

    from quakesynth.data.picking import STALTAPicker
    from quakesynth.records import Records

    x = np.asarray(wave, dtype=np.float32)
    p = STALTAPicker(lta_s=5.0, warmup_s=1.0).pick(Records(x, fs=fs, components=components))
    iz = components.index("Z")
    hn = np.sqrt(np.sum(np.delete(x, iz, axis=1).astype(np.float64) ** 2, axis=1))
    s = np.full(len(x), np.nan)
    for i in range(len(x)):
        if not np.isfinite(p[i]):
            continue
        a = int(p[i] + 0.5 * fs)
        b = min(int(np.argmax(hn[i])) + int(0.5 * fs), hn.shape[1])
        if b - a < 8:
            continue
        s[i] = a + int(np.argmin(aic_simple(hn[i, a:b])[1:-1])) + 1
    return p, s


def diversity(wave_real: np.ndarray, station_real: np.ndarray, wave_gen: np.ndarray, station_gen: np.ndarray,
              n_stations: int, fs: float, components: str = "ZNE", max_per_station: int = 30) -> dict[str, float]:
    """Diversity figures (module docstring), averaged over stations: ratios generated / real of
    the mean pairwise distances (waveform, log envelope), and the sd of P and S picks (s)."""
    from quakesynth.sitegen.data import normalise

    rw, re_, = [], []
    for s in range(n_stations):
        a, b = wave_real[station_real == s][:max_per_station], wave_gen[station_gen == s][:max_per_station]
        if len(a) < 2 or len(b) < 2:
            continue
        na, nb = normalise(a)[0], normalise(b)[0]
        rw.append(mean_pairwise_distance(nb) / mean_pairwise_distance(na))
        re_.append(mean_pairwise_distance(log_envelope(nb)) / mean_pairwise_distance(log_envelope(na)))
    pr, sr = pick_ps(wave_real, fs, components)
    pg, sg = pick_ps(wave_gen, fs, components)
    return {"dist_ratio_wave": float(np.mean(rw)), "dist_ratio_env": float(np.mean(re_)),
            "p_sd_real_s": float(np.nanstd(pr) / fs), "p_sd_gen_s": float(np.nanstd(pg) / fs),
            "s_sd_real_s": float(np.nanstd(sr) / fs), "s_sd_gen_s": float(np.nanstd(sg) / fs),
            "sp_sd_real_s": float(np.nanstd(sr - pr) / fs), "sp_sd_gen_s": float(np.nanstd(sg - pg) / fs),
            "p_found_gen": float(np.isfinite(pg).mean()), "s_found_gen": float(np.isfinite(sg).mean())}


def evaluate_generator(gen, train_pool, test_pool, f0_true: dict[str, float] | None = None, n_per_station: int = 30,
                       seed: int = 0, clf: HVSRClassifier | None = None) -> dict[str, Any]:
    """Every figure of the module docstring for one generator.

    ``train_pool`` trains the classifier (unless ``clf`` is given); ``test_pool`` holds the real
    records compared with (HVSR, f0, confusion, diversity). ``n_per_station`` records are
    generated per station. Returns a dict of scalars and per-station tables.
    """
    import pandas as pd

    codes = list(test_pool.codes)
    table = pd.DataFrame({"station": codes, "n": n_per_station})
    rec = gen.generate_table(table, seed=seed)
    y_gen = np.array([codes.index(c) for c in rec.metadata["station_code"]])
    comps = rec.components
    fs = rec.fs
    freqs, c_gen = hvsr_of(rec.data, fs, comps)
    _, c_real = hvsr_of(test_pool.wave, fs, test_pool.components, freqs)
    if clf is None:
        _, c_train = hvsr_of(train_pool.wave, fs, train_pool.components, freqs)
        clf = HVSRClassifier(len(codes)).fit(hvsr_features(c_train), train_pool.station)
    from quakesynth.metrics import f0 as f0_of

    f0_real = f0_of(hvsr_features(c_real), freqs, F0_BAND)
    f0_gen = f0_of(hvsr_features(c_gen), freqs, F0_BAND)
    out: dict[str, Any] = {"n_generated": len(rec), "n_real": len(test_pool)}
    out["f0"] = f0_alignment(f0_real, test_pool.station, f0_gen, y_gen, codes, f0_true)
    out["confusion"] = confusion_alignment(clf, hvsr_features(c_real), test_pool.station, hvsr_features(c_gen), y_gen)
    st_real = station_hvsr(c_real, freqs, test_pool.station, len(codes))
    st_gen = station_hvsr(c_gen, freqs, y_gen, len(codes))
    out["hvsr"] = [{"code": c, "median_real": r["median"], "median_gen": g["median"], "sigma_real": r["sigma_ln"],
                    "sigma_gen": g["sigma_ln"],
                    "ln_median_rmse": float(np.sqrt(np.mean((np.log(g["median"]) - np.log(r["median"])) ** 2)))}
                   for c, r, g in zip(codes, st_real, st_gen) if r is not None and g is not None]
    out["hvsr_freqs"] = freqs
    # station f0 from the median HVSR curve (SESAME practice), against the true f0
    for row in out["f0"]["per_station"]:
        s = codes.index(row["code"])
        row["f0_curve_real"] = float(st_real[s]["f0_of_median"])
        row["f0_curve_gen"] = float(st_gen[s]["f0_of_median"])
        ft = row["f0_true"]
        row["err_curve_gen"] = abs(row["f0_curve_gen"] - ft) / ft
        row["err_curve_real"] = abs(row["f0_curve_real"] - ft) / ft
    rows = out["f0"]["per_station"]
    out["f0"]["f0_err_curve_gen_mean"] = float(np.mean([r["err_curve_gen"] for r in rows]))
    out["f0"]["f0_err_curve_real_mean"] = float(np.mean([r["err_curve_real"] for r in rows]))
    out["hvsr_ln_rmse_mean"] = float(np.mean([h["ln_median_rmse"] for h in out["hvsr"]]))
    out["diversity"] = diversity(test_pool.wave, test_pool.station, rec.data, y_gen, len(codes), fs, comps)
    out["classifier"] = clf
    return out
