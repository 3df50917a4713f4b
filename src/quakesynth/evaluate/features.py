"""The work unit of the evaluation: everything computed from one batch of waveforms.

:func:`compute_unit` is a pure function of its arguments (arrays and a frozen config), so it
runs unchanged in the main process, in a local process pool, or on any remote executor. All
science comes from :mod:`quakesynth.metrics`; this module only decides what is computed and
puts it on common grids so that records of different lengths and sampling rates compare:

- intensity measures (:func:`quakesynth.metrics.ims_of_records`);
- log10 of the Konno-Ohmachi-smoothed Fourier amplitude spectrum per component on
  :func:`fas_frequencies` (NaN above 0.45 fs or below the record's resolution);
- log10 of the moving-average envelope per component on :func:`envelope_times` (block means
  of the envelope; NaN past the record end);
- log10 HVSR on the same frequency grid and its peak frequency f0;
- for paired models: Kristekova envelope/phase GOF, Anderson GOF and frequency bias against
  the record each waveform reproduces.

Components are put in the order (H1, H2, V): the two horizontals as stored, then Z.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from quakesynth.evaluate.config import FeatureConfig

#: Canonical component order of every per-component feature array.
COMPONENT_LABELS = ("H1", "H2", "V")


def fas_frequencies(cfg: FeatureConfig) -> np.ndarray:
    """Centre frequencies (Hz) of the log-FAS / HVSR grid: ``fas_points`` log-spaced values."""
    return np.logspace(np.log10(cfg.fas_fmin_hz), np.log10(cfg.fas_fmax_hz), cfg.fas_points)


def envelope_times(cfg: FeatureConfig) -> np.ndarray:
    """Centre times (s from the window start) of the envelope grid's blocks."""
    dt = cfg.envelope_duration_s / cfg.envelope_points
    return (np.arange(cfg.envelope_points) + 0.5) * dt


def component_order(components: str) -> list[int]:
    """Indices of (H1, H2, V) in ``components`` (one Z and two horizontals required).

    >>> component_order("ZNE"), component_order("ENZ")
    ([1, 2, 0], [0, 1, 2])
    """
    if "Z" not in components or len(components) != 3:
        raise ValueError(f"records must have three components including Z; got {components!r}")
    h = [i for i, c in enumerate(components) if c != "Z"]
    return [h[0], h[1], components.index("Z")]


def _block_means(x: np.ndarray, fs: float, cfg: FeatureConfig) -> np.ndarray:
    """Means of ``x`` (..., T) over the envelope grid's blocks; NaN past the record end."""
    t_edges = np.arange(cfg.envelope_points + 1) * (cfg.envelope_duration_s / cfg.envelope_points)
    s_edges = np.round(t_edges * fs).astype(np.int64)
    T = x.shape[-1]
    c = np.concatenate([np.zeros((*x.shape[:-1], 1)), np.cumsum(x, axis=-1, dtype=np.float64)], axis=-1)
    lo, hi = np.minimum(s_edges[:-1], T), np.minimum(s_edges[1:], T)
    n = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (c[..., hi] - c[..., lo]) / n
    out[..., n < np.maximum(1, (s_edges[1:] - s_edges[:-1]) // 2)] = np.nan  # block mostly past the end
    return out


def _log10(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log10(np.maximum(x, 1e-300)), np.nan)


def waveform_curves(x: np.ndarray, fs: float, cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """log10 smoothed FAS (n, 3, F), log10 envelope (n, 3, P), log10 HVSR (n, F) and f0 (n,).

    ``x`` is acceleration (n, 3, T) in m/s^2 in (H1, H2, V) order; FAS in m/s, envelope in
    m/s^2, HVSR dimensionless, f0 in Hz.
    """
    from quakesynth.metrics import f0_from_hvsr, fas, hvsr, konno_ohmachi, moving_average_envelope

    freqs = fas_frequencies(cfg)
    f, A = fas(x, fs)  # (F_fft,), (n, 3, F_fft)
    S = konno_ohmachi(f, A, freqs, b=cfg.ko_bandwidth)  # (n, 3, F)
    resolvable = (freqs <= 0.45 * fs) & (freqs >= 2.0 * f[1])
    logfas = _log10(S)
    logfas[..., ~resolvable] = np.nan
    env = moving_average_envelope(x, kernel=cfg.envelope_kernel)  # (n, 3, T)
    logenv = _log10(_block_means(env, fs, cfg))
    H = hvsr(x[:, 0], x[:, 1], x[:, 2], fs, freqs=freqs, b=cfg.ko_bandwidth)  # (n, F)
    H = np.where(resolvable, H, np.nan)
    f0 = f0_from_hvsr(freqs, H)
    return {"logfas": logfas.astype(np.float32), "logenv": logenv.astype(np.float32),
            "hvsr": _log10(H).astype(np.float32), "f0": np.asarray(f0, dtype=np.float64)}


def intensity_measures(data: np.ndarray, fs: float, components: str, periods) -> Any:
    """The IM table (one row per waveform; columns ``<IM>_<comp>_<unit>``)."""
    from quakesynth.metrics import ims_of_records
    from quakesynth.records import METADATA_COLUMNS, Records

    table = ims_of_records(Records(data, fs=fs, components=components), periods=list(periods))
    keep = [c for c in table.columns if c not in METADATA_COLUMNS]
    return table[keep].reset_index(drop=True).astype(np.float64)


def paired_measures(x: np.ndarray, ref: np.ndarray, fs: float) -> Any:
    """Kristekova EG/PG, Anderson GOF and frequency bias of ``x`` against ``ref`` (n, 3, T),
    both in (H1, H2, V) order at the same ``fs``; one row per pair, one column per measure and
    component."""
    import pandas as pd

    from quakesynth.metrics import anderson_gof, frequency_bias, kristekova_gof

    T = min(x.shape[-1], ref.shape[-1])
    x, ref = x[..., :T].astype(np.float64), ref[..., :T].astype(np.float64)
    cols: dict[str, np.ndarray] = {}
    for j, c in enumerate(COMPONENT_LABELS):
        eg, pg = kristekova_gof(x[:, j], ref[:, j], fs)
        cols[f"EG_{c}"], cols[f"PG_{c}"] = np.asarray(eg), np.asarray(pg)
        cols[f"Anderson_{c}"] = np.asarray(anderson_gof(x[:, j], ref[:, j], fs))
        fb = frequency_bias(x[:, j], ref[:, j], fs)
        for name, v in (fb.items() if isinstance(fb, dict) else enumerate(np.asarray(fb).T)):
            cols[f"freqbias_{name}_{c}"] = np.asarray(v)
    return pd.DataFrame(cols)


def compute_unit(data: np.ndarray, fs: float, components: str, cfg: FeatureConfig, ims: bool = True,
                 curves: bool = True, *, ref: np.ndarray | None = None,
                 ref_fs: float | None = None, ref_components: str | None = None,
                 ref_rows: np.ndarray | None = None) -> dict[str, Any]:
    """Everything the evaluation needs from one batch of waveforms.

    Parameters
    ----------
    data : acceleration (n, 3, T), m/s^2.
    fs : sampling rate, Hz.
    components : component order of ``data`` (three letters including Z).
    cfg : grids and IM periods.
    ims : compute the intensity-measure table.
    curves : compute log-FAS, envelope and HVSR.
    ref, ref_fs, ref_components, ref_rows : paired evaluation: ``ref[i]`` is the record that
        waveform ``ref_rows[i]`` of ``data`` reproduces.

    Returns
    -------
    dict with ``ims`` (DataFrame or None), ``logfas`` (n, 3, F), ``logenv`` (n, 3, P),
    ``hvsr`` (n, F), ``f0`` (n,), ``paired`` (DataFrame or None), ``paired_rows`` and
    ``seconds`` (compute time of this unit).
    """
    t0 = time.perf_counter()
    order = component_order(components)
    x = np.asarray(data)[:, order]
    out: dict[str, Any] = {"ims": None, "paired": None, "paired_rows": None}
    if ims:
        out["ims"] = intensity_measures(data, fs, components, _periods(cfg))
    if curves:
        out.update(waveform_curves(x, fs, cfg))
    else:
        out["f0"] = np.full(len(x), np.nan)
    if ref is not None:
        if ref_fs != fs:
            raise ValueError(f"paired records have fs={ref_fs} Hz but the model's output has fs={fs} Hz")
        r = np.asarray(ref)[:, component_order(ref_components)]
        out["paired"] = paired_measures(x[ref_rows], r, fs)
        out["paired_rows"] = np.asarray(ref_rows)
    out["seconds"] = time.perf_counter() - t0
    return out


def _periods(cfg: FeatureConfig) -> tuple[float, ...]:
    return tuple(float(p) for p in cfg.periods_s)
