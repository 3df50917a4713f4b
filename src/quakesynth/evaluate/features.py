"""The work unit of the evaluation: everything computed from one batch of waveforms.

:func:`compute_unit` is a pure function of its arguments (arrays and a frozen config), so it
runs unchanged in the main process, in a local process pool, or on any remote executor. All
science comes from :mod:`quakesynth.metrics`; this module only decides what is computed and
puts it on common grids so that records of different lengths and sampling rates compare:

- intensity measures (:func:`intensity_measures`: the IMs the analysis uses, or every IM of
  :func:`quakesynth.metrics.ims_of_records`);
- log10 of the Konno-Ohmachi-smoothed Fourier amplitude spectrum per component on
  :func:`fas_frequencies` (NaN above 0.45 fs or below the record's resolution);
- log10 of the moving-average envelope per component on :func:`envelope_times` (block means
  of the envelope; NaN past the record end);
- log10 HVSR on the same frequency grid and its peak frequency f0;
- for paired models: Kristekova envelope/phase GOF, Anderson GOF and frequency bias against
  the record each waveform reproduces.

Components are put in the order (H1, H2, V): the two horizontals as stored, then Z. Records
with two horizontal components only (``NE``, ``12``, ``RT``: PEER NGA pairs) are first-class:
every horizontal measure is computed, and the V slot of every per-component array (IMs,
log-FAS, envelope) is NaN, as are HVSR and f0.
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
    """Indices of (H1, H2, V) in ``components``; V is -1 for a horizontal pair.

    Two horizontal components and at most one Z are required.

    >>> component_order("ZNE"), component_order("ENZ"), component_order("NE")
    ([1, 2, 0], [0, 1, 2], [0, 1, -1])
    """
    h = [i for i, c in enumerate(components) if c != "Z"]
    nz = components.count("Z")
    if len(h) != 2 or nz > 1:
        raise ValueError(f"records must have two horizontal components and at most one Z "
                         f"(e.g. ZNE, NE, 12, RT); got {components!r}")
    return [h[0], h[1], components.index("Z") if nz else -1]


def canonical(data: np.ndarray, components: str) -> np.ndarray:
    """``data`` (n, C, T) as float64 (n, 3, T) in (H1, H2, V) order; V is NaN when absent."""
    order = component_order(components)
    x = np.asarray(data, dtype=np.float64)
    out = np.full((x.shape[0], 3, x.shape[-1]), np.nan)
    out[:, 0], out[:, 1] = x[:, order[0]], x[:, order[1]]
    if order[2] >= 0:
        out[:, 2] = x[:, order[2]]
    return out


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


def waveform_curves(x: np.ndarray, fs: float, cfg: FeatureConfig, hvsr_rows: np.ndarray | None = None
                    ) -> dict[str, np.ndarray]:
    """log10 smoothed FAS (n, 3, F), log10 envelope (n, 3, P), log10 HVSR (n, F) and f0 (n,).

    ``x`` is acceleration (n, 3, T) in m/s^2 in (H1, H2, V) order; FAS in m/s, envelope in
    m/s^2, HVSR dimensionless, f0 in Hz. Grid points above 0.45 fs or below twice the
    record's frequency resolution are NaN. HVSR and f0 are computed only for ``hvsr_rows``
    (a boolean mask; None: all) and NaN elsewhere.
    """
    from quakesynth.metrics import (
        f0,
        fourier_amplitude,
        hvsr_curves,
        konno_ohmachi_smooth,
        moving_average_envelope,
    )

    freqs = fas_frequencies(cfg)
    x = np.asarray(x, dtype=np.float64)
    nc = 3 if np.isfinite(x[:, 2]).all() else 2  # a horizontal pair: V is NaN
    f, A = fourier_amplitude(x[:, :nc], fs)  # (F_fft,), (n, nc, F_fft) in m/s
    ok = (freqs <= 0.45 * fs) & (freqs >= 2.0 * f[1])
    logfas = np.full((*x.shape[:2], len(freqs)), np.nan)
    hv = np.full((x.shape[0], len(freqs)), np.nan)
    f0s = np.full(x.shape[0], np.nan)
    rows = np.ones(len(x), bool) if hvsr_rows is None else np.asarray(hvsr_rows, bool)
    if nc < 3:
        rows = np.zeros(len(x), bool)  # no vertical: no HVSR
    if ok.any():
        logfas[:, :nc, ok] = _log10(konno_ohmachi_smooth(A, f, freqs[ok], b=cfg.ko_bandwidth))
        if rows.any():
            xr = x[rows]
            _, h = hvsr_curves(xr[:, 0], xr[:, 1], xr[:, 2], fs, freqs=freqs[ok], b=cfg.ko_bandwidth)
            hv[np.ix_(rows, ok)] = h
            good = np.isfinite(h).any(axis=1)
            f0s[np.flatnonzero(rows)[good]] = f0(h[good], freqs[ok], band=tuple(cfg.f0_band_hz))
    env = np.full(x.shape, np.nan)
    env[:, :nc] = moving_average_envelope(x[:, :nc], kernel=cfg.envelope_kernel)  # (n, 3, T), m/s^2
    logenv = _log10(_block_means(env, fs, cfg))
    return {"logfas": logfas.astype(np.float32), "logenv": logenv.astype(np.float32),
            "hvsr": _log10(hv).astype(np.float32), "f0": f0s}


def intensity_measures(data: np.ndarray, fs: float, components: str, periods, threads: int | None = None,
                       which: str = "core") -> Any:
    """The IM table of a batch (one row per waveform; columns ``<IM>_<comp>_<unit>`` as
    :func:`quakesynth.metrics.ims_of_records` names them).

    ``which="all"``: every IM of ``ims_of_records`` (what ``quakesynth ims`` writes).
    ``which="core"``: the IMs the evaluation uses -- PGA (g) and PGV (cm/s) per component and
    as GM, SRSS and RotD50; PSA at ``periods`` (g) per horizontal and as GM, SRSS and RotD50;
    D5-95 (s) per component -- from the same metrics functions (identical values), about
    three times faster.
    """
    from quakesynth.records import METADATA_COLUMNS, Records

    if which == "all":
        from quakesynth.metrics import ims_of_records

        table = ims_of_records(Records(data, fs=fs, components=components), periods=list(periods), workers=threads)
        keep = [c for c in table.columns if c not in METADATA_COLUMNS]
        return table[keep].reset_index(drop=True).astype(np.float64)
    if which != "core":
        raise ValueError(f"which must be 'core' or 'all'; got {which!r}")
    import pandas as pd

    from quakesynth.metrics import geometric_mean, horizontal_spectra, integrate, peak_srss, rotd
    from quakesynth.metrics.energy import significant_duration
    from quakesynth.metrics.ims import format_period
    from quakesynth.records import G

    acc = canonical(data, components)  # (N, 3, T) H1, H2, V (NaN for a pair), m/s^2
    nc = 3 if "Z" in components else 2
    vel = np.full(acc.shape, np.nan)
    vel[:, :nc], _ = integrate(acc[:, :nc], fs)
    cols: dict[str, np.ndarray] = {}
    for im, x, scale, unit in (("PGA", acc, 1.0 / G, "g"), ("PGV", vel, 100.0, "cm/s")):
        pk = np.abs(x).max(axis=-1)
        for j, c in enumerate(COMPONENT_LABELS):
            cols[f"{im}_{c}_{unit}"] = pk[:, j] * scale
        cols[f"{im}_GM_{unit}"] = geometric_mean(x[:, 0], x[:, 1]) * scale
        cols[f"{im}_SRSS_{unit}"] = peak_srss(x[:, 0], x[:, 1]) * scale
        cols[f"{im}_RotD50_{unit}"] = rotd(x[:, 0], x[:, 1], 50.0, workers=threads) * scale
    periods = np.asarray(periods, dtype=float)
    if periods.size:
        hs = horizontal_spectra(acc[:, 0], acc[:, 1], fs, periods, 0.05, "psa", percentiles=(50.0,), workers=threads)
        for p, T in enumerate(periods):
            for key in ("H1", "H2", "GM", "SRSS", "RotD50"):
                cols[f"PSA{format_period(T)}_{key}_g"] = hs[key][:, p] / G
    d = np.full(acc.shape[:2], np.nan)
    d[:, :nc] = significant_duration(acc[:, :nc], fs, 0.05, 0.95)
    for j, c in enumerate(COMPONENT_LABELS):
        cols[f"D5-95_{c}_s"] = d[:, j]
    return pd.DataFrame(cols)


def paired_measures(x: np.ndarray, ref: np.ndarray, fs: float, cfg: FeatureConfig) -> Any:
    """Kristekova EG/PG, Anderson GOF and frequency bias of ``x`` against ``ref`` (n, 3, T),
    both in (H1, H2, V) order at the same ``fs``; one row per pair, one column per measure
    and component (Kristekova with the components normalised together). For horizontal
    pairs (V NaN) the measures are computed on the two horizontals and the V columns are NaN."""
    import pandas as pd

    from quakesynth.metrics import anderson_gof, frequency_bias, kristekova_gof
    from quakesynth.metrics.gof import BIAS_BANDS

    T = min(x.shape[-1], ref.shape[-1])
    x, ref = np.asarray(x[..., :T], np.float64), np.asarray(ref[..., :T], np.float64)
    nc = 3 if np.isfinite(ref[:, 2]).all() and np.isfinite(x[:, 2]).all() else 2  # horizontal pairs: no V
    x, ref = x[:, :nc], ref[:, :nc]
    fmax = min(cfg.gof_fmax_hz, 0.45 * fs)
    kr = kristekova_gof(x, ref, fs, fmin=cfg.gof_fmin_hz, fmax=fmax, nf=cfg.gof_nf)
    an = anderson_gof(x, ref, fs)["score"]  # (n, nc)
    fb = frequency_bias(x, ref, fs)  # (n, nc, B)
    cols: dict[str, np.ndarray] = {}
    nan = np.full(len(x), np.nan)
    for j, c in enumerate(COMPONENT_LABELS):
        have = j < nc
        cols[f"EG_{c}"] = kr["EG"][:, j] if have else nan
        cols[f"PG_{c}"] = kr["PG"][:, j] if have else nan
        cols[f"Anderson_{c}"] = an[:, j] if have else nan
        for b, (f1, f2) in enumerate(BIAS_BANDS):
            cols[f"freqbias_{f1:g}-{f2:g}Hz_{c}"] = fb[:, j, b] if have else nan
    return pd.DataFrame(cols)


def broadband_measures(x: np.ndarray, ref: np.ndarray, fs: float, fc: float, order: int) -> dict[str, np.ndarray]:
    """The broadband measures (:func:`quakesynth.evaluate.broadband.paired_arrays`) of output
    ``x`` against record ``ref`` (n, 3, T) acceleration in (H1, H2, V) order, the input being
    ``ref`` low-passed at ``fc`` Hz with the crossover filter of ``order``, plus the waveform
    misfits ``rmae`` and ``rrmse`` (n, 3) of :mod:`quakesynth.evaluate.physics`; component axes
    padded to 3 with NaN where V is missing."""
    from quakesynth.evaluate.broadband import paired_arrays
    from quakesynth.metrics.gof import rmae, rrmse
    from quakesynth.physics.broadband import crossover_lowpass

    T = min(x.shape[-1], ref.shape[-1])
    x, ref = np.asarray(x[..., :T], np.float64), np.asarray(ref[..., :T], np.float64)
    nc = 3 if np.isfinite(ref[:, 2]).all() and np.isfinite(x[:, 2]).all() else 2
    x, ref = x[:, :nc], ref[:, :nc]
    m = paired_arrays(x, ref, crossover_lowpass(ref, fs, fc, order), fs, fc)
    m["rmae"], m["rrmse"] = rmae(x, ref), rrmse(x, ref)
    for key, v in m.items():
        if v.ndim >= 2 and nc < 3:
            m[key] = np.concatenate([v, np.full((len(v), 3 - nc, *v.shape[2:]), np.nan)], axis=1)
    return m


def compute_unit(data: np.ndarray, fs: float, components: str, cfg: FeatureConfig, ims: bool = True,
                 curves: bool = True, *, ref: np.ndarray | None = None,
                 ref_fs: float | None = None, ref_components: str | None = None,
                 ref_rows: np.ndarray | None = None, hvsr_rows: np.ndarray | None = None,
                 threads: int | None = None, lowpass: tuple[float, int] | None = None) -> dict[str, Any]:
    """Everything the evaluation needs from one batch of waveforms.

    Parameters
    ----------
    data : acceleration (n, C, T), m/s^2.
    fs : sampling rate, Hz.
    components : component order of ``data`` (two horizontals and at most one Z).
    cfg : grids and IM periods.
    ims : compute the intensity-measure table.
    curves : compute log-FAS, envelope and HVSR.
    ref, ref_fs, ref_components, ref_rows : paired evaluation: ``ref[i]`` is the record that
        waveform ``ref_rows[i]`` of ``data`` reproduces.
    hvsr_rows : boolean mask of the waveforms that get HVSR and f0 (None: all).
    threads : threads of the compiled IM kernels (None: all cores; 1 in pool workers).
    lowpass : ``(fc, order)`` of a paired model's low-passed input: the paired waveforms also
        get the broadband measures (:func:`broadband_measures`).

    Returns
    -------
    dict with ``ims`` (DataFrame or None), ``logfas`` (n, 3, F), ``logenv`` (n, 3, P),
    ``hvsr`` (n, F), ``f0`` (n,), ``paired`` (DataFrame or None), ``paired_rows``,
    ``broadband`` (dict of arrays, with ``lowpass``) and ``seconds`` / ``cpu_seconds`` (wall-clock
    and CPU time of this unit).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    x = canonical(data, components)
    out: dict[str, Any] = {"ims": None, "paired": None, "paired_rows": None}
    if ims:
        out["ims"] = intensity_measures(data, fs, components, _periods(cfg), threads, cfg.ims)
    if curves:
        out.update(waveform_curves(x, fs, cfg, hvsr_rows))
    else:
        out["f0"] = np.full(len(x), np.nan)
    if ref is not None:
        if ref_fs != fs:
            raise ValueError(f"paired records have fs={ref_fs} Hz but the model's output has fs={fs} Hz")
        r = canonical(ref, ref_components)
        out["paired"] = paired_measures(x[ref_rows], r, fs, cfg)
        out["paired_rows"] = np.asarray(ref_rows)
        if lowpass is not None:
            out["broadband"] = broadband_measures(x[ref_rows], r, fs, *lowpass)
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0
    return out


def _periods(cfg: FeatureConfig) -> tuple[float, ...]:
    return tuple(float(p) for p in cfg.periods_s)
