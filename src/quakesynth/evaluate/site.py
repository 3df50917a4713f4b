"""Evaluation of site-specific generators: HVSR and f0 alignment, station classifier and
confusion-matrix NCC, diversity and the sampling ablation (TimesNet-Gen, arXiv 2512.04694).

- **HVSR** per record with :func:`quakesynth.metrics.hvsr_curves` (whole window, geometric mean
  of the horizontals, Konno-Ohmachi b = 40); per station the lognormal median curve and its
  ``sigma_ln`` (:func:`quakesynth.metrics.hvsr_statistics`).
- **f0** = frequency of the HVSR maximum in the package's band
  (:data:`quakesynth.metrics.hvsr.F0_BAND_HZ`), kept only where it is a **clear peak**
  (:func:`quakesynth.metrics.hvsr.clear_peak`: H/V above 2 and falling to half on both
  sides), "no clear peak" (NaN) elsewhere; per station the Jensen-Shannon
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
- **Site states**: per station the spread of single-record f0 values and a multi-modality
  flag (:func:`quakesynth.metrics.hvsr.f0_modes`), for real and generated records.
- **Amplitude**: per station the ratio generated / real of the geometric-mean peak
  acceleration (largest |a| over the recorded components, m/s^2) and of the spectral level
  (geometric mean over records of the quadratic-mean Fourier amplitude of the recorded
  components in 20 log bands over the f0 band; ratio = exp(mean ln ratio over bands)).
- **Diversity** (mode collapse): per station the mean pairwise Euclidean distance between
  peak-normalised waveforms and between their smoothed log envelopes, generated / real; the
  standard deviations of P picks (:class:`quakesynth.data.picking.STALTAPicker`) and of S picks
  (AIC on the horizontal norm between P + 0.5 s and the horizontal peak).

:func:`evaluate_generator` computes every figure whatever another one does: a figure that
is undefined (HVSR without a vertical component, a classifier and NCC with one station, an
f0 error without a known f0) or that fails is None, with its reason in ``out["skipped"]``.
Horizontal-only records are evaluated for amplitude and diversity; in a mixed pool, the
generated records of a station whose real records lack Z are left out of the HVSR figures
(``out["skipped"]["hvsr_stations"]`` names them). The classifier's training labels follow the
station codes, so the train and test pools may hold different stations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quakesynth.metrics.hvsr import F0_BAND_HZ as F0_BAND  # one f0 band for the package, Hz

#: Horizontal pairs an HVSR may combine.
_HORIZONTALS = ("NE", "RT", "12")


def hvsr_reason(components: str) -> str | None:
    """Why records of ``components`` have no HVSR (None: they have one)."""
    if "Z" not in components:
        return (f"HVSR, f0 and the HVSR station classifier need a vertical (Z) component; the records hold "
                f"{components!r} (horizontal-only stations are evaluated for amplitude and diversity only)")
    if not any(set(p) <= set(components) for p in _HORIZONTALS):
        return f"HVSR needs two orthogonal horizontal components (NE, RT or 12); the records hold {components!r}"
    return None


def hvsr_of(wave: np.ndarray, fs: float, components: str = "ZNE", freqs: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(freqs (F,) Hz, HVSR (N, F) dimensionless) of records (N, C, T) sampled at ``fs`` Hz,
    holding Z and two horizontals in ``components`` order (extra components are ignored).
    ``freqs`` defaults to 120 log-spaced values from 0.3 Hz to min(20 Hz, 0.45 fs). Raises
    ``ValueError`` with the reason (:func:`hvsr_reason`) when Z or a horizontal pair is missing."""
    from quakesynth.metrics import hvsr_curves

    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != len(components):
        raise ValueError(f"wave must be (N, {len(components)}, T) for components {components!r}; got {x.shape}")
    reason = hvsr_reason(components)
    if reason:
        raise ValueError(reason)
    iz = components.index("Z")
    pair = next(p for p in _HORIZONTALS if set(p) <= set(components))
    h = [components.index(c) for c in pair]
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


def _nanmean(values) -> float:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _nanstd(values) -> float:
    """Standard deviation of the finite values (NaN with fewer than one)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.std()) if v.size else float("nan")


def f0_alignment(f0_real: np.ndarray, station_real: np.ndarray, f0_gen: np.ndarray, station_gen: np.ndarray,
                 codes: list[str], f0_true: dict[str, float] | None = None, band: tuple[float, float] = F0_BAND,
                 bins: int = 20) -> dict[str, Any]:
    """Per-station JS similarity of f0 histograms (log10 bins over ``band``) and f0 errors.

    ``f0_real`` / ``f0_gen`` (Hz) are NaN for records without a clear peak; those are left out
    (``n_real`` / ``n_gen`` count the others). Returns ``{"per_station": [{code, n_real, n_gen,
    js, f0_real_median, f0_gen_median, f0_true, err_gen, err_real}], "js_mean",
    "f0_err_gen_mean", "f0_err_real_mean"}``: errors relative to the true f0, NaN without
    ``f0_true``; js NaN where either side has no f0; means over the finite values.
    """
    from quakesynth.metrics.distribution import histogram_similarity

    rng = (np.log10(band[0]), np.log10(band[1]))
    rows = []
    for s, code in enumerate(codes):
        a, b = f0_real[station_real == s], f0_gen[station_gen == s]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if (station_real == s).sum() == 0 or (station_gen == s).sum() == 0:
            continue
        js = histogram_similarity(a, b, bins=bins, value_range=rng, log=True) if len(a) and len(b) else np.nan
        ft = float(f0_true[code]) if f0_true and code in f0_true else np.nan
        mr = float(np.exp(np.log(a).mean())) if len(a) else np.nan
        mg = float(np.exp(np.log(b).mean())) if len(b) else np.nan
        rows.append({"code": code, "n_real": int(len(a)), "n_gen": int(len(b)), "js": js, "f0_real_median": mr,
                     "f0_gen_median": mg, "f0_true": ft, "err_gen": abs(mg - ft) / ft, "err_real": abs(mr - ft) / ft})
    return {"per_station": rows, "js_mean": _nanmean(r["js"] for r in rows),
            "f0_err_gen_mean": _nanmean(r["err_gen"] for r in rows),
            "f0_err_real_mean": _nanmean(r["err_real"] for r in rows)}


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
    """Accuracies and the NCC of the row-normalised confusion matrices (real held-out vs generated).

    Each figure only where it is defined: with fewer than two stations the accuracies and the
    NCC are NaN, and the NCC is NaN where a confusion matrix is constant; ``reason`` says why
    (None when everything is defined).
    """
    from quakesynth.metrics.distribution import confusion_matrix, confusion_ncc

    k = clf.n_classes
    pr, pg = clf.predict(feat_real), clf.predict(feat_gen)
    c_real = confusion_matrix(np.asarray(y_real), pr, k, normalize="true")
    c_gen = confusion_matrix(np.asarray(y_gen), pg, k, normalize="true")
    out = {"acc_real": float((pr == y_real).mean()), "acc_gen": float((pg == y_gen).mean()),
           "ncc": float("nan"), "confusion_real": c_real, "confusion_gen": c_gen, "reason": None}
    if k < 2 or len(np.unique(y_real)) < 2:
        out.update(acc_real=float("nan"), acc_gen=float("nan"),
                   reason="one station: a station classifier's accuracy and the confusion NCC need >= 2 stations")
        return out
    try:
        out["ncc"] = float(confusion_ncc(c_real, c_gen))
    except ValueError as e:
        out["reason"] = f"NCC undefined: {e}"
    return out


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
    hor = x if "Z" not in components else np.delete(x, components.index("Z"), axis=1)
    hn = np.sqrt(np.sum(hor.astype(np.float64) ** 2, axis=1))
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
    return {"dist_ratio_wave": _nanmean(rw), "dist_ratio_env": _nanmean(re_),
            "p_sd_real_s": float(_nanstd(pr) / fs), "p_sd_gen_s": float(_nanstd(pg) / fs),
            "s_sd_real_s": float(_nanstd(sr) / fs), "s_sd_gen_s": float(_nanstd(sg) / fs),
            "sp_sd_real_s": float(_nanstd(sr - pr) / fs), "sp_sd_gen_s": float(_nanstd(sg - pg) / fs),
            "p_found_gen": float(np.isfinite(pg).mean()), "s_found_gen": float(np.isfinite(sg).mean())}


def _peak_components(present: np.ndarray | None, n_comp: int) -> np.ndarray:
    """Component indices recorded on every record given (all where none is recorded everywhere)."""
    if present is None or not len(present):
        return np.arange(n_comp)
    idx = np.flatnonzero(present.all(axis=0))
    return idx if idx.size else np.flatnonzero(present.any(axis=0))


def amplitude_bias(wave_real: np.ndarray, station_real: np.ndarray, wave_gen: np.ndarray, station_gen: np.ndarray,
                   codes: list[str], fs: float, present_real: np.ndarray | None = None,
                   band: tuple[float, float] = F0_BAND, n_bands: int = 20) -> dict[str, Any]:
    """PGA and spectral-level ratios generated / real per station (module docstring).

    Parameters
    ----------
    wave_real, wave_gen : (N, C, T), (M, C, T) acceleration, m/s^2, same component order.
    station_real, station_gen : (N,), (M,) station indices into ``codes``.
    fs : sampling rate, Hz.
    present_real : (N, C) bool recorded components (generated records are read on the
        components recorded on every real record of the station).
    band : spectral-level band, Hz (clipped to 0.45 fs).

    Returns
    -------
    ``{"per_station": [{code, n_real, n_gen, pga_real_gm, pga_gen_gm (m/s^2), pga_ratio,
    spectral_ratio}], "pga_ratio_gm", "pga_max_abs_err" (max |ratio - 1| over stations),
    "spectral_ratio_gm"}``.
    """
    wr, wg = np.asarray(wave_real, np.float64), np.asarray(wave_gen, np.float64)
    if wr.shape[1:] != wg.shape[1:]:
        raise ValueError(f"real and generated records must share (C, T); got {wr.shape[1:]} and {wg.shape[1:]}")
    T = wr.shape[-1]
    f = np.fft.rfftfreq(T, 1 / fs)
    hi = min(band[1], 0.45 * fs)
    if not band[0] < hi:
        raise ValueError(f"band {band} Hz lies above 0.45 fs = {0.45 * fs:g} Hz")
    edges = np.geomspace(band[0], hi, n_bands + 1)
    which = np.digitize(f, edges) - 1
    use = (which >= 0) & (which < n_bands)

    def level(x: np.ndarray, comp: np.ndarray) -> np.ndarray:
        """ln band-mean Fourier amplitude (m/s), quadratic mean over components, (N, n_bands)."""
        amp2 = (np.abs(np.fft.rfft(x[:, comp], axis=-1)) / fs) ** 2
        amp2 = amp2.mean(axis=1)[:, use]
        out = np.zeros((len(x), n_bands))
        np.add.at(out.T, which[use], amp2.T)
        cnt = np.bincount(which[use], minlength=n_bands)
        return 0.5 * np.log(np.maximum(out[:, cnt > 0] / cnt[cnt > 0], 1e-300))

    rows = []
    for s, code in enumerate(codes):
        a, b = station_real == s, station_gen == s
        if not a.any() or not b.any():
            continue
        comp = _peak_components(None if present_real is None else present_real[a], wr.shape[1])
        ln_pr = np.log(np.abs(wr[a][:, comp]).max(axis=(1, 2)))
        ln_pg = np.log(np.abs(wg[b][:, comp]).max(axis=(1, 2)))
        spec = float(np.exp((level(wg[b], comp).mean(0) - level(wr[a], comp).mean(0)).mean()))
        rows.append({"code": code, "n_real": int(a.sum()), "n_gen": int(b.sum()),
                     "pga_real_gm": float(np.exp(ln_pr.mean())), "pga_gen_gm": float(np.exp(ln_pg.mean())),
                     "pga_ratio": float(np.exp(ln_pg.mean() - ln_pr.mean())), "spectral_ratio": spec})
    if not rows:
        raise ValueError("no station has both real and generated records")
    ratios = np.array([r["pga_ratio"] for r in rows])
    return {"per_station": rows, "pga_ratio_gm": float(np.exp(np.log(ratios).mean())),
            "pga_max_abs_err": float(np.abs(ratios - 1).max()),
            "spectral_ratio_gm": float(np.exp(np.mean(np.log([r["spectral_ratio"] for r in rows]))))}


def site_states(f0_hz: np.ndarray, station: np.ndarray, codes: list[str], curves: np.ndarray | None = None,
                freqs: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per station: :func:`quakesynth.metrics.hvsr.f0_modes` of its single-record f0 values
    (Hz, NaN = no clear peak; ``curves`` (N, F) at ``freqs`` Hz: the records' HVSR) and the
    fraction of records with a clear peak."""
    from quakesynth.metrics.hvsr import f0_modes

    out = []
    for s, code in enumerate(codes):
        rows = station == s
        if not rows.any():
            continue
        m = f0_modes(f0_hz[rows], curves=None if curves is None else curves[rows], freqs=freqs)
        out.append({"code": code, "n": int(rows.sum()), "clear_fraction": float(np.isfinite(f0_hz[rows]).mean()), **m})
    return out


def evaluate_generator(gen, train_pool, test_pool, f0_true: dict[str, float] | None = None, n_per_station: int = 30,
                       seed: int = 0, clf: HVSRClassifier | None = None) -> dict[str, Any]:
    """Every figure of the module docstring for one generator.

    ``train_pool`` trains the classifier (unless ``clf`` is given); ``test_pool`` holds the real
    records compared with. ``n_per_station`` records are generated per station. ``f0_true``
    (``{code: Hz}``, optional) gives f0 errors against a known f0; without it the generated
    station f0 is compared with the real one. Returns a dict of scalars and per-station tables;
    a figure that is undefined or fails is None, with its reason in ``out["skipped"]``.
    """
    import pandas as pd

    from quakesynth.metrics.hvsr import clear_peak, f0_clear

    codes = list(test_pool.codes)
    table = pd.DataFrame({"station": codes, "n": n_per_station})
    rec = gen.generate_table(table, seed=seed)
    y_gen = np.array([codes.index(c) for c in rec.metadata["station_code"]])
    comps, fs = rec.components, rec.fs
    if abs(fs - test_pool.fs) > 1e-9 * fs or comps != test_pool.components:
        raise ValueError(f"the generator makes {comps} at {fs:g} Hz; the real records are {test_pool.components} "
                         f"at {test_pool.fs:g} Hz")
    out: dict[str, Any] = {"n_generated": len(rec), "n_real": len(test_pool), "codes": codes, "skipped": {},
                           "f0": None, "confusion": None, "hvsr": None, "hvsr_ln_rmse_mean": None, "site": None,
                           "amplitude": None, "amplitude_train": None, "diversity": None, "hvsr_freqs": None, "classifier": clf}

    def run(name: str, fn) -> Any:
        try:
            out[name] = fn()
        except Exception as e:  # noqa: BLE001 - one figure must not take the others with it
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            out["skipped"][name] = f"{type(e).__name__}: {msg}"
        return out[name]

    # the generators draw amplitudes from the station's training records: "amplitude_train" is
    # the de-normalisation check, "amplitude" also holds the sampling difference train / test
    run("amplitude", lambda: amplitude_bias(test_pool.wave * np.exp(test_pool.ln_peak)[:, None, None],
                                            test_pool.station, rec.data, y_gen, codes, fs, test_pool.present))
    tc = list(train_pool.codes)
    y_gen_train = np.array([tc.index(c) if c in tc else -1 for c in rec.metadata["station_code"]])
    run("amplitude_train", lambda: amplitude_bias(
        train_pool.wave * np.exp(train_pool.ln_peak)[:, None, None], train_pool.station,
        rec.data, y_gen_train, tc, fs, train_pool.present))
    reason = hvsr_reason(comps)
    if reason is None:
        pair = next(p for p in _HORIZONTALS if set(p) <= set(comps))
        h_real = test_pool.has("Z") & test_pool.has(pair)
        if not h_real.any():
            reason = f"no real record holds Z and {pair} (masked components): no HVSR"
    if reason is None:
        # generated records only of stations with a real HVSR: a station whose real records
        # lack Z has nothing to compare its generated HVSR with (whatever the generator put on Z)
        y_real = test_pool.station[h_real]
        h_gen = np.isin(y_gen, y_real)
        lost = [codes[s] for s in np.unique(y_gen[~h_gen])]
        if lost:
            out["skipped"]["hvsr_stations"] = (f"stations {lost}: no real record holds Z and {pair}; left out of "
                                               "HVSR, f0, site states and the classifier (amplitude and diversity kept)")
        try:
            freqs, c_gen = hvsr_of(rec.data[h_gen], fs, comps)
            _, c_real = hvsr_of(test_pool.wave[h_real], fs, comps, freqs)
            y_hv = y_gen[h_gen]
            f_real, f_gen = f0_clear(c_real, freqs, F0_BAND), f0_clear(c_gen, freqs, F0_BAND)
            st_real = station_hvsr(c_real, freqs, y_real, len(codes))
            st_gen = station_hvsr(c_gen, freqs, y_hv, len(codes))
        except Exception as e:  # noqa: BLE001 - the other figures go on
            reason = f"HVSR failed: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    if reason:
        for name in ("f0", "site", "hvsr", "confusion"):
            out["skipped"][name] = reason
    else:
        out["hvsr_freqs"] = freqs

        def f0_section() -> dict[str, Any]:
            res = f0_alignment(f_real, y_real, f_gen, y_hv, codes, f0_true)
            for row in res["per_station"]:
                s = codes.index(row["code"])
                peaks = [clear_peak(st[s]["median"], freqs, F0_BAND) for st in (st_real, st_gen)]
                (fr, ar, okr), (fg, ag, okg) = peaks
                row.update(f0_curve_real=float(fr) if okr else np.nan, f0_curve_gen=float(fg) if okg else np.nan,
                           peak_curve_real=float(ar), peak_curve_gen=float(ag))
                ft = row["f0_true"]
                row["err_curve_gen"] = abs(row["f0_curve_gen"] - ft) / ft
                row["err_curve_real"] = abs(row["f0_curve_real"] - ft) / ft
                row["err_curve_gen_vs_real"] = abs(row["f0_curve_gen"] - row["f0_curve_real"]) / row["f0_curve_real"]
            rows = res["per_station"]
            for key in ("err_curve_gen", "err_curve_real", "err_curve_gen_vs_real"):
                res[f"f0_{key}_mean"] = _nanmean(r[key] for r in rows)
            res["no_clear_peak_gen"] = [r["code"] for r in rows if not np.isfinite(r["f0_curve_gen"])]
            res["no_clear_peak_real"] = [r["code"] for r in rows if not np.isfinite(r["f0_curve_real"])]
            return res

        run("f0", f0_section)
        if out["f0"] is not None and not f0_true:
            out["skipped"]["f0_error_vs_true"] = "no known f0 (stations.csv): generated f0 compared with the real one"
        run("site", lambda: {"real": site_states(f_real, y_real, codes, c_real, freqs),
                             "gen": site_states(f_gen, y_hv, codes, c_gen, freqs)})
        run("hvsr", lambda: [{"code": c, "median_real": r["median"], "median_gen": g["median"],
                              "sigma_real": r["sigma_ln"], "sigma_gen": g["sigma_ln"],
                              "ln_median_rmse": float(np.sqrt(np.mean((np.log(g["median"]) - np.log(r["median"])) ** 2)))}
                             for c, r, g in zip(codes, st_real, st_gen) if r is not None and g is not None])
        if out["hvsr"] is not None:
            out["hvsr_ln_rmse_mean"] = _nanmean(h["ln_median_rmse"] for h in out["hvsr"])

        def confusion_section() -> dict[str, Any]:
            nonlocal clf
            if clf is None:  # labels by station code: the two pools may hold different stations
                y_train = np.array([codes.index(c) if c in codes else -1 for c in tc])[train_pool.station]
                h_train = (train_pool.has("Z") & train_pool.has(next(p for p in _HORIZONTALS if set(p) <= set(comps)))
                           & (y_train >= 0))
                _, c_train = hvsr_of(train_pool.wave[h_train], fs, train_pool.components, freqs)
                clf = HVSRClassifier(len(codes)).fit(hvsr_features(c_train), y_train[h_train])
                out["classifier"] = clf
            res = confusion_alignment(clf, hvsr_features(c_real), y_real, hvsr_features(c_gen), y_hv)
            if res["reason"]:
                out["skipped"]["ncc"] = res["reason"]
            return res

        run("confusion", confusion_section)
    run("diversity", lambda: diversity(test_pool.wave, test_pool.station, rec.data, y_gen, len(codes), fs, comps))
    return out
