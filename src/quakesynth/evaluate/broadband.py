"""Judging broadband-from-low-frequency methods on real records (issue 17, item 4).

Each real broadband record ``x`` is low-passed at ``fc`` with the crossover ``L``
(:func:`quakesynth.physics.broadband.crossover_lowpass`), given to a method (the learned
refiner, the classic hybrid baseline) and the output ``x_hat`` compared with ``x``:

- **FAS bias** per band: ``mean over f in band of log10(FAS_hat(f) / FAS(f))`` with
  Konno-Ohmachi smoothed (b = 40) Fourier amplitudes at 80 log-spaced frequencies, per record
  and component; summarised by the mean bias and the mean |bias| over records and components;
- **PSA bias**: ``log10(PSA_hat(T) / PSA(T))`` at 10 periods 0.05-0.5 s (5 % damping), mean over
  records and components per period (acceleration; velocity records are differentiated);
- **Kristekova GOF** (envelope EG, phase PG, 0-10) between ``fc`` and 20 Hz, single component;
- **kept band**: relative RMS difference of output and input below ``0.8 fc``
  (:func:`quakesynth.physics.broadband.band_kept_error`);
- **continuity** across ``fc``: the FAS bias in [0.8 fc, fc] and in [fc, 1.25 fc].

The same measures are the ``broadband`` section of ``quakesynth evaluate`` for a paired model
that states its input low-pass (:mod:`quakesynth.evaluate.paired`): :func:`paired_arrays` per
work unit, :func:`summarise` and :func:`score` over the evaluation records.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from quakesynth.physics.broadband import band_kept_error, convert_quantity, crossover_lowpass
from quakesynth.records import Records

FAS_BANDS = ((1.0, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 20.0))
PSA_PERIODS = tuple(float(p) for p in np.geomspace(0.05, 0.5, 10))
_ORDER = {"acceleration": 0, "velocity": 1, "displacement": 2}


def fas_band_bias(pred, truth, fs: float, bands, fmin: float = 0.2, fmax: float = 25.0) -> np.ndarray:
    """(..., B) mean log10 ratio of smoothed FAS of ``pred`` and ``truth`` (..., T) in ``bands`` (Hz)."""
    from quakesynth.metrics.spectra import smoothed_log_fas

    fcs = np.geomspace(fmin, min(fmax, 0.45 * fs), 80)
    ratio = smoothed_log_fas(pred, fs, fcs) - smoothed_log_fas(truth, fs, fcs)
    out = np.full(ratio.shape[:-1] + (len(bands),), np.nan)
    for j, (lo, hi) in enumerate(bands):
        sel = (fcs >= lo) & (fcs <= hi)
        if sel.any():
            out[..., j] = ratio[..., sel].mean(axis=-1)
    return out


def psa_bias(pred_acc, truth_acc, fs: float, periods=PSA_PERIODS) -> np.ndarray:
    """(..., P) ``log10(PSA_pred / PSA_truth)`` at ``periods`` (s), 5 % damping."""
    from quakesynth.metrics.response import response_spectrum

    p = np.asarray(periods, dtype=np.float64)
    a = response_spectrum(np.asarray(pred_acc, np.float64), fs, p, workers=1)
    b = response_spectrum(np.asarray(truth_acc, np.float64), fs, p, workers=1)
    return np.log10(np.maximum(a, 1e-300) / np.maximum(b, 1e-300))


def paired_metrics(pred: Records, truth: Records, low: Records, fc: float) -> dict[str, np.ndarray]:
    """Per-record metrics of ``pred`` against ``truth`` given the input ``low`` (all (N, C, T), same
    fs and quantity): ``fas`` (N, C, B), ``psa`` (N, C, P), ``EG``/``PG`` (N, C), ``kept`` (N,),
    ``continuity`` (N, C, 2)."""
    x, y, u = (np.asarray(r.data, np.float64) for r in (pred, truth, low))
    if not (x.shape == y.shape == u.shape) or not np.isclose(pred.fs, truth.fs):
        raise ValueError(f"pred, truth and low must share shape and fs; got {x.shape}, {y.shape}, {u.shape}")
    return paired_arrays(x, y, u, truth.fs, fc, truth.quantity)


def paired_arrays(x: np.ndarray, y: np.ndarray, u: np.ndarray, fs: float, fc: float,
                  quantity: str = "acceleration") -> dict[str, np.ndarray]:
    """:func:`paired_metrics` on arrays: output ``x``, truth ``y`` and input ``u`` (N, C, T) of
    ``quantity`` at ``fs`` (Hz), input low-passed at ``fc`` (Hz)."""
    from quakesynth.metrics.gof import kristekova_gof

    x, y, u = (np.asarray(v, np.float64) for v in (x, y, u))
    k = _ORDER[quantity]
    xa, ya = (convert_quantity(v, fs, k) for v in (x, y))
    g = kristekova_gof(x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]), fs, fc, min(20.0, 0.45 * fs), nf=32,
                       multicomponent=False)
    return {"fas": fas_band_bias(x, y, fs, FAS_BANDS), "psa": psa_bias(xa, ya, fs),
            "EG": g["EG"].reshape(x.shape[:2]), "PG": g["PG"].reshape(x.shape[:2]),
            "kept": band_kept_error(x, u, fs, 0.8 * fc),
            "continuity": fas_band_bias(x, y, fs, ((0.8 * fc, fc), (fc, 1.25 * fc)))}


def summarise(m: dict[str, np.ndarray]) -> dict[str, float]:
    """Scalar summary of :func:`paired_metrics` (means over records and components)."""
    out = {}
    for j, (lo, hi) in enumerate(FAS_BANDS):
        v = m["fas"][..., j]
        out[f"fas_bias_{lo:g}-{hi:g}"] = float(np.nanmean(v))
        out[f"fas_absbias_{lo:g}-{hi:g}"] = float(np.nanmean(np.abs(v)))
    psa = np.nanmean(m["psa"].reshape(-1, m["psa"].shape[-1]), axis=0)
    out["psa_bias_mean"] = float(np.mean(psa))
    out["psa_bias_maxabs"] = float(np.max(np.abs(psa)))
    out["EG"] = float(np.nanmean(m["EG"]))
    out["PG"] = float(np.nanmean(m["PG"]))
    out["kept_median"] = float(np.median(m["kept"]))
    out["kept_max"] = float(np.max(m["kept"]))
    out["continuity_below_fc"] = float(np.nanmean(m["continuity"][..., 0]))
    out["continuity_above_fc"] = float(np.nanmean(m["continuity"][..., 1]))
    out["n_records"] = int(len(m["kept"]))
    return out


def score(s: dict[str, float]) -> float:
    """The issue's mean of the targets' quantities (lower is better): mean of the four band mean
    |FAS bias|, the largest |PSA bias| and the kept-band error."""
    fas = [s[f"fas_absbias_{lo:g}-{hi:g}"] for lo, hi in FAS_BANDS]
    return float(np.mean(fas + [s["psa_bias_maxabs"], s["kept_max"]]))


def evaluate(truth: Records, methods: dict[str, Callable[[Records], Records]], fc: float = 1.0,
             order: int = 8) -> dict:
    """Low-pass ``truth`` at ``fc`` and judge every method ``name -> f(low) -> broadband``.

    Returns ``{name: {"summary": ..., "per_record": {metric: list}, "seconds": s}}``; a method that
    raises ``ValueError`` is reported with its one-line ``error``.
    """
    low = truth.replace(data=crossover_lowpass(truth.data, truth.fs, fc, order).astype(np.float32))
    report = {}
    for name, fn in methods.items():
        t0 = time.perf_counter()
        try:
            pred = fn(low)
        except ValueError as e:
            report[name] = {"error": str(e).splitlines()[0]}
            continue
        dt = time.perf_counter() - t0
        if not np.isclose(pred.fs, truth.fs):
            from quakesynth.data.preprocess import resample
            from quakesynth.signal import fit_length

            # resample_poly gives ceil(T up / down) samples: one more than the truth's at odd lengths
            back = fit_length(resample(pred.data, pred.fs, truth.fs), truth.n_samples)
            pred = pred.replace(data=back, fs=truth.fs)
        m = paired_metrics(pred, truth, low, fc)
        s = summarise(m)
        s["score"] = score(s)
        report[name] = {"summary": s, "seconds": dt,
                        "per_record": {k: np.asarray(v).tolist() for k, v in m.items()}}
    return report
