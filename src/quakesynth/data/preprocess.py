"""Preprocessing of real records as in the HighFEM paper (Section 3 and Text S1).

Steps, in the order :func:`preprocess` applies them:

1. NaN/gap repair: gaps up to ``max_gap_s`` are interpolated linearly; a record with a longer
   gap, or with more than ``max_missing_fraction`` of its samples missing, is dropped.
2. Spike screening on the raw samples (before any filter smears a glitch).
3. Demean and linear detrend.
4. Causal Butterworth high-pass, 0.1 Hz, **order 2** (``scipy.signal.sosfilt``: one pass, so
   nothing arrives before the P onset; ObsPy's default order would be 4).
5. Resampling to 100 Hz (``scipy.signal.resample_poly``, e.g. 200 Hz Tottori records).
6. P picking through a :class:`~quakesynth.data.picking.Picker` (P arrivals that come with
   the input, e.g. STEAD's analyst picks, are kept by default).
7. A window of ``n_samples`` (4096) with the P onset ``p_time`` (5 s) after its start;
   zeros pad a record that starts less than 5 s before P (a triggered accelerogram) or ends
   before the window does, and the pads are recorded (``trace_pad_start_samples``,
   ``trace_pad_end_samples``, ``trace_pre_event_s``). The pad is zeros, not synthetic
   noise: nothing in the window is invented. Records are dropped for a short pre-event
   window only when the user asks (``min_pre_event_s`` > 0). With ``triggered``, the picker
   is told that records start at a trigger (P may be right after the first sample).
8. Screening: a re-pick on the window must fall within ``pick_interval_s`` (2-7 s); the
   peak of the pre-P noise must be ``min_snr_db`` (10 dB) below the peak after P, measured
   on the real noise only; with less than 0.5 s of it the SNR is marked unmeasured
   (``trace_snr_measured`` False) and the record kept unless ``require_snr``.
9. Optional rotation of the horizontals to radial/transverse from the back azimuth.

Array functions take (N, C, T) or (..., T) arrays with an explicit sampling rate ``fs`` (Hz);
the ``*_records`` functions apply them to :class:`~quakesynth.records.Records` and append
the step and its parameters to every record's processing history. Functions that can reject
records return ``(kept_records, dropped)`` with one :class:`~quakesynth.data.ingest_report.Dropped`
per rejected record.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from quakesynth.data.ingest_report import Dropped
from quakesynth.data.picking import Picker, STALTAPicker
from quakesynth.records import Records
from quakesynth.signal import butterworth_sos

# =========================================================================================
# array functions
# =========================================================================================


def _check_fs(fs: float, name: str = "fs") -> float:
    if not (isinstance(fs, (int, float, np.floating, np.integer)) and math.isfinite(fs) and fs > 0):
        raise ValueError(f"{name} must be a positive, finite sampling rate in Hz; got {fs!r}")
    return float(fs)


def demean_detrend(data: np.ndarray) -> np.ndarray:
    """Remove the mean and the least-squares linear trend along the last axis.

    Parameters
    ----------
    data : array (..., T).

    Returns
    -------
    float64 array of the same shape.

    >>> demean_detrend(np.array([1.0, 2.0, 3.0, 4.0])).round(12).tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    from scipy.signal import detrend

    x = np.asarray(data, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    return detrend(x, axis=-1, type="linear")


def highpass_sos(fs: float, freq: float = 0.1, order: int = 2) -> np.ndarray:
    """Second-order sections of a Butterworth high-pass (corner ``freq`` Hz, ``order`` poles)."""
    fs = _check_fs(fs)
    if not (0 < freq < fs / 2):
        raise ValueError(f"freq must be in (0, fs/2) = (0, {fs / 2:g}) Hz; got {freq!r}")
    if int(order) != order or order < 1:
        raise ValueError(f"order must be a positive integer; got {order!r}")
    return butterworth_sos(int(order), freq, fs, "highpass")


def highpass(data: np.ndarray, fs: float, freq: float = 0.1, order: int = 2, causal: bool = True
             ) -> np.ndarray:
    """Butterworth high-pass along the last axis.

    Parameters
    ----------
    data : array (..., T), e.g. acceleration in m/s^2.
    fs : sampling rate, Hz.
    freq : corner frequency, Hz (-3 dB for the causal filter).
    order : number of poles (HighFEM: 2; ObsPy's ``Trace.filter`` default is 4).
    causal : one forward pass (``sosfilt``; minimum phase, nothing moves before the P onset).
        ``False`` filters forward and backward (zero phase, squared magnitude response).

    Returns
    -------
    float64 array of the same shape.

    >>> x = np.ones(1000)  # a constant offset is removed
    >>> bool(abs(highpass(x, fs=100.0, freq=1.0)[-1]) < 1e-6)
    True
    """
    from scipy.signal import sosfilt, sosfiltfilt

    sos = highpass_sos(fs, freq, order)
    x = np.asarray(data, dtype=np.float64)
    return sosfilt(sos, x, axis=-1) if causal else sosfiltfilt(sos, x, axis=-1)


def resample_ratio(fs: float, fs_new: float, max_denominator: int = 1000) -> tuple[int, int]:
    """Integers ``(up, down)`` with ``fs * up / down == fs_new`` (ValueError if none is close)."""
    fs, fs_new = _check_fs(fs), _check_fs(fs_new, "fs_new")
    frac = Fraction(fs_new / fs).limit_denominator(max_denominator)
    if abs(frac.numerator / frac.denominator - fs_new / fs) > 1e-9 * (fs_new / fs):
        raise ValueError(f"cannot resample from fs={fs!r} Hz to {fs_new!r} Hz with a rational "
                         f"factor of denominator <= {max_denominator}")
    return frac.numerator, frac.denominator


def resample(data: np.ndarray, fs: float, fs_new: float) -> np.ndarray:
    """Resample along the last axis from ``fs`` to ``fs_new`` Hz (polyphase, anti-aliased).

    Uses :func:`scipy.signal.resample_poly` (Kaiser-windowed FIR, zero phase). Output length
    is ``ceil(T * up / down)``.

    >>> resample(np.zeros((2, 3, 400)), 200.0, 100.0).shape
    (2, 3, 200)
    """
    from scipy.signal import resample_poly

    up, down = resample_ratio(fs, fs_new)
    x = np.asarray(data, dtype=np.float64)
    if up == down:
        return x.copy()
    return resample_poly(x, up, down, axis=-1)


def repair_gaps(data: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill missing samples (NaN) by linear interpolation along the last axis.

    Leading and trailing gaps take the nearest valid value.

    Parameters
    ----------
    data : array (N, C, T) with NaN where samples are missing.
    fs : sampling rate, Hz.

    Returns
    -------
    repaired : float64 array (N, C, T) without NaN (all-missing channels become zeros).
    missing_fraction : (N,) largest fraction of missing samples over the components.
    longest_gap_s : (N,) longest run of missing samples, s.
    """
    fs = _check_fs(fs)
    x = np.array(data, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"data must have shape (N, C, T); got {x.shape}")
    n, c, t = x.shape
    missing = ~np.isfinite(x)
    frac = missing.mean(axis=-1).max(axis=-1) if t else np.zeros(n)
    longest = np.zeros(n)
    idx = np.arange(t)
    for i, j in zip(*np.nonzero(missing.any(axis=-1))):
        m = missing[i, j]
        edges = np.diff(np.concatenate([[0], m.view(np.int8), [0]]))
        runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        longest[i] = max(longest[i], runs.max() / fs)
        good = ~m
        x[i, j] = np.interp(idx, idx[good], x[i, j, good]) if good.any() else 0.0
    return x, frac, longest


def spike_ratio(data: np.ndarray) -> np.ndarray:
    """How far the sharpest sample stands out: ``max|d2| / q99.9(|d2|)`` per record.

    ``d2[k] = x[k] - (x[k-1] + x[k+1]) / 2`` is the local curvature. For band-limited ground
    motion the largest curvature is a few times the 99.9th percentile (the strong-motion
    peaks are several samples wide); an isolated glitch of one or two samples makes the
    ratio large. The ratio is the largest over components.

    Parameters
    ----------
    data : array (N, C, T), T >= 3.

    Returns
    -------
    ratio : (N,) float.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] < 3:
        raise ValueError(f"data must have shape (N, C, T) with T >= 3; got {x.shape}")
    d2 = np.abs(x[..., 1:-1] - 0.5 * (x[..., :-2] + x[..., 2:]))
    q = np.quantile(d2, 0.999, axis=-1)
    peak = d2.max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(q > 0, peak / q, np.where(peak > 0, np.inf, 1.0))
    return r.max(axis=-1)


def snr_db(data: np.ndarray, p_sample, fs: float, first_sample=None, last_sample=None,
           margin_s: float = 0.2, min_noise_s: float = 0.5) -> np.ndarray:
    """Peak signal-to-noise ratio (dB): largest amplitude after P over largest before P.

    ``20 log10(max|a(t >= p)| / max|a(first <= t < p - margin)|)`` with ``|a|`` the vector
    norm over components. Peaks rather than mean powers, so that the short signal of a small
    event is not diluted by the quiet coda after it. NaN (unmeasured) where the real noise
    window is shorter than ``min_noise_s`` (a triggered record).

    Parameters
    ----------
    data : array (N, C, T).
    p_sample : (N,) P-onset samples.
    fs : sampling rate, Hz.
    first_sample, last_sample : (N,) first real and one past the last real sample (zeros
        padded outside); default the whole record.
    margin_s : noise ends this long before the pick (pick uncertainty), s.
    min_noise_s : shortest noise window on which the SNR is measured, s.
    """
    fs = _check_fs(fs)
    x = np.asarray(data, dtype=np.float64)
    n, t = x.shape[0], x.shape[-1]
    p = np.asarray(p_sample, dtype=np.float64)
    first = np.zeros(n) if first_sample is None else np.asarray(first_sample, dtype=np.float64)
    last = np.full(n, t) if last_sample is None else np.asarray(last_sample, dtype=np.float64)
    amp = np.sqrt(np.sum(x ** 2, axis=1))  # (N, T)
    out = np.full(n, np.nan)
    for i in range(n):
        if not np.isfinite(p[i]):
            continue
        a, b, s0, s1 = int(first[i]), int(round(p[i] - margin_s * fs)), int(round(p[i])), int(last[i])
        if b - a < min_noise_s * fs or s1 <= s0:
            continue
        noise, sig = amp[i, a:b].max(), amp[i, s0:s1].max()
        out[i] = np.inf if noise == 0 else (20 * np.log10(sig / noise) if sig > 0 else -np.inf)
    return out


def cut_window(data: np.ndarray, start, n_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut ``n_samples`` from each record starting at ``start`` (may be negative), zero-padded.

    Parameters
    ----------
    data : array (N, C, T).
    start : (N,) integer first sample of each window (negative: zeros before the record).
    n_samples : window length.

    Returns
    -------
    window : (N, C, n_samples); pad_start, pad_end : (N,) zeros added before / after the data.
    """
    x = np.asarray(data)
    n, c, t = x.shape
    start = np.asarray(start, dtype=np.int64)
    out = np.zeros((n, c, n_samples), dtype=x.dtype)
    pad_start = np.clip(-start, 0, n_samples)
    pad_end = np.clip(start + n_samples - t, 0, n_samples)
    for i in range(n):
        a, b = max(start[i], 0), min(start[i] + n_samples, t)
        if b > a:
            out[i, :, a - start[i]:b - start[i]] = x[i, :, a:b]
    return out, pad_start, pad_end


def rotate_ne_rt(n: np.ndarray, e: np.ndarray, back_azimuth_deg) -> tuple[np.ndarray, np.ndarray]:
    """Rotate north/east to radial/transverse (ObsPy's convention: R points away from the source).

    Parameters
    ----------
    n, e : arrays (N, T).
    back_azimuth_deg : (N,) back azimuth (station to event), degrees.

    Returns
    -------
    r, t : arrays (N, T); ``r**2 + t**2 == n**2 + e**2`` sample by sample.
    """
    from obspy.signal.rotate import rotate_ne_rt as _rot

    n, e = np.asarray(n, dtype=np.float64), np.asarray(e, dtype=np.float64)
    baz = np.broadcast_to(np.asarray(back_azimuth_deg, dtype=np.float64), n.shape[:1])
    if n.shape != e.shape:
        raise ValueError(f"n and e must have the same shape; got {n.shape} and {e.shape}")
    if not np.all((baz >= 0) & (baz <= 360)):
        raise ValueError(f"back_azimuth_deg must be within [0, 360]; got {baz[~((baz >= 0) & (baz <= 360))][:3]}")
    r, t = np.empty_like(n), np.empty_like(e)
    for i in range(n.shape[0]):
        r[i], t[i] = _rot(n[i], e[i], float(baz[i]))
    return r, t


# =========================================================================================
# Records steps
# =========================================================================================


def _text(meta, col: str, i: int) -> str:
    if col not in meta:
        return ""
    v = meta[col].iloc[i]
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    return str(v).strip()


def record_names(meta, i: int) -> tuple[str, str]:
    """``(event, station)`` naming record ``i`` of a metadata frame for reports: event id
    and name, ``NET.STA`` and station name, and the PEER record sequence number."""
    ev = _text(meta, "source_id", i) or _text(meta, "source_origin_time", i)
    name = _text(meta, "source_event_name", i)
    if name and name != ev:
        ev = f"{ev} ({name})" if ev else name
    sta = ".".join(x for x in (_text(meta, "station_network_code", i), _text(meta, "station_code", i)) if x)
    sname = _text(meta, "station_name", i)
    if sname and sname != sta:
        sta = f"{sta} ({sname})" if sta else sname
    rsn = _text(meta, "trace_rsn", i)
    if rsn:
        sta = f"{sta}, RSN{rsn}" if sta else f"RSN{rsn}"
    return ev, sta


def _dropped(records: Records, mask: np.ndarray, stage: str, reason: str, details) -> list[Dropped]:
    meta = records.metadata
    src = meta["trace_source"] if "trace_source" in meta else None
    out = []
    for i in np.flatnonzero(mask):
        ev, sta = record_names(meta, int(i))
        out.append(Dropped(source=str(src.iloc[i]) if src is not None and isinstance(src.iloc[i], str) else "",
                           trace_name=str(meta["trace_name"].iloc[i]), stage=stage, reason=reason,
                           detail=details(i) if callable(details) else str(details), event=ev, station=sta))
    return out


def _with_data(records: Records, data: np.ndarray, **changes) -> Records:
    return records.replace(data=data, **changes)


def detrend_records(records: Records) -> Records:
    """Demean and linearly detrend every channel (:func:`demean_detrend`)."""
    out = _with_data(records, demean_detrend(records.data))
    out.add_processing("demean_detrend", type="linear")
    return out


def lowpass(data: np.ndarray, fs: float, freq: float, order: int = 4, zero_phase: bool = True) -> np.ndarray:
    """Butterworth low-pass of ``data`` (..., T) sampled at ``fs`` Hz, corner ``freq`` Hz.

    ``zero_phase`` filters forwards and backwards (``filtfilt``-like with second-order sections;
    the effective order is ``2 order``); ``zero_phase=False`` is the causal filter. Used for
    the HEMEW^S-3D preprocessing and to make low-frequency/broadband training pairs.

    >>> x = np.sin(2 * np.pi * 1.0 * np.arange(1000) / 100) + np.sin(2 * np.pi * 20 * np.arange(1000) / 100)
    >>> y = lowpass(x, 100.0, 5.0)
    >>> bool(np.abs(y[200:800] - np.sin(2 * np.pi * np.arange(200, 800) / 100)).max() < 0.01)
    True
    """
    from scipy import signal

    fs = float(fs)
    if not fs > 0:
        raise ValueError(f"fs must be > 0 Hz; got {fs}")
    if not 0 < freq < fs / 2:
        raise ValueError(f"freq must be in (0, fs/2 = {fs / 2}) Hz; got {freq}")
    if order < 1:
        raise ValueError(f"order must be >= 1; got {order}")
    sos = butterworth_sos(order, freq, fs, "low")
    x = np.asarray(data, dtype=np.float64)
    if zero_phase:
        return signal.sosfiltfilt(sos, x, axis=-1)
    return signal.sosfilt(sos, x, axis=-1)


def highpass_records(records: Records, freq: float = 0.1, order: int = 2, causal: bool = True) -> Records:
    """High-pass every channel (:func:`highpass`; HighFEM: causal, 0.1 Hz, order 2)."""
    out = _with_data(records, highpass(records.data, records.fs, freq, order, causal))
    out.add_processing("highpass", filter="butterworth", freq=freq, order=order, causal=causal,
                       implementation="scipy.signal.sosfilt" if causal else "scipy.signal.sosfiltfilt")
    return out


def resample_records(records: Records, fs: float = 100.0) -> Records:
    """Resample to ``fs`` Hz (:func:`resample`); sample-valued metadata follow."""
    fs = _check_fs(fs)
    if records.fs == fs:
        return records.replace()
    up, down = resample_ratio(records.fs, fs)
    meta = records.metadata.copy()
    for col in ("trace_p_arrival_sample", "trace_s_arrival_sample"):
        meta[col] = meta[col].astype("float64") * (fs / records.fs)
    meta["trace_sampling_rate_hz"] = fs
    out = records.replace(data=resample(records.data, records.fs, fs), fs=fs, metadata=meta)
    out.add_processing("resample", fs_from=records.fs, fs_to=fs, up=up, down=down,
                       method="scipy.signal.resample_poly")
    return out


def repair_gaps_records(records: Records, max_gap_s: float = 1.0, max_missing_fraction: float = 0.5
                        ) -> tuple[Records, list[Dropped]]:
    """Interpolate NaN gaps (:func:`repair_gaps`); drop records with too much missing.

    A record is dropped (``too_many_gaps``) when more than ``max_missing_fraction`` of a
    channel is missing, or (``long_gap``) when a gap is longer than ``max_gap_s`` seconds.
    """
    if not 0 <= max_missing_fraction <= 1:
        raise ValueError(f"max_missing_fraction must be in [0, 1]; got {max_missing_fraction}")
    if not np.isfinite(records.data).all():
        data, frac, longest = repair_gaps(records.data, records.fs)
    else:
        data, frac, longest = records.data, np.zeros(len(records)), np.zeros(len(records))
    too_many = frac > max_missing_fraction
    too_long = ~too_many & (longest > max_gap_s)
    drops = _dropped(records, too_many, "preprocess", "too_many_gaps",
                     lambda i: f"{100 * frac[i]:.1f}% of samples missing (> {100 * max_missing_fraction:g}%)")
    drops += _dropped(records, too_long, "preprocess", "long_gap",
                      lambda i: f"gap of {longest[i]:.2f} s (> {max_gap_s:g} s may be interpolated)")
    keep = ~(too_many | too_long)
    out = _with_data(records, data)[keep]
    filled = np.rint(frac[keep] * records.n_samples).astype(int)
    if filled.any():
        out.add_processing("repair_gaps", per_record={"max_missing_samples": filled.tolist()},
                           method="linear interpolation", max_gap_s=max_gap_s)
    return out, drops


def screen_spikes(records: Records, threshold: float = 15.0) -> tuple[Records, list[Dropped]]:
    """Drop records whose :func:`spike_ratio` exceeds ``threshold`` (reason ``spike``)."""
    ratio = spike_ratio(records.data)
    bad = ratio > threshold
    drops = _dropped(records, bad, "screen", "spike",
                     lambda i: f"spike ratio {ratio[i]:.1f} > {threshold:g} (isolated sample far above the signal)")
    return records[~bad], drops


def earliest_p_sample(records: Records, v_max_kms: float = 8.5, margin_s: float = 2.0) -> np.ndarray:
    """Earliest possible P sample from origin time, start time and hypocentral distance.

    ``(t_origin - t_start) + R_hyp / v_max - margin``; NaN where a value is missing. Origin
    times that are rounded down (as in some K-NET headers) keep this a lower bound.
    """
    from obspy import UTCDateTime

    meta = records.metadata
    out = np.full(len(records), np.nan)
    r = meta["path_hyp_distance_km"].astype("float64").to_numpy(na_value=np.nan)
    for i in range(len(records)):
        t0, ts = meta["source_origin_time"].iloc[i], meta["trace_start_time"].iloc[i]
        if isinstance(t0, str) and isinstance(ts, str) and np.isfinite(r[i]):
            try:
                dt = float(UTCDateTime(t0) - UTCDateTime(ts))
            except Exception:  # noqa: BLE001 - unparsable time: no bound
                continue
            out[i] = (dt + r[i] / v_max_kms - margin_s) * records.fs
    return out


def pick_records(records: Records, picker: Picker, earliest: np.ndarray | None = None,
                 keep_input: bool = True, triggered: bool = False) -> Records:
    """Set ``trace_p_arrival_sample`` with ``picker`` (NaN where it finds no onset).

    With ``keep_input``, records that arrive with a P arrival (e.g. STEAD's analyst picks)
    keep it and only the others are picked; the history says which. With ``triggered``, the
    picker is told that each record starts at a trigger (its first sample): the pick may be
    at the trigger itself (source ``trigger`` in the history and in the extra column
    ``trace_p_source``).
    """
    p_in = records.metadata["trace_p_arrival_sample"].astype("float64").to_numpy(na_value=np.nan)
    have = np.isfinite(p_in) if keep_input else np.zeros(len(records), bool)
    p = p_in.copy()
    trig = np.zeros(len(records)) if triggered else np.full(len(records), np.nan)
    if (~have).any():
        sub = records[~have]
        p[~have] = picker.pick(sub, None if earliest is None else np.asarray(earliest)[~have], trigger=trig[~have])
    source = np.where(have, "input", np.where(np.isfinite(trig) & (p == trig), "trigger", "picker"))
    out = records.replace()
    out.metadata["trace_p_arrival_sample"] = p
    out.metadata["trace_p_source"] = source.astype(object)
    out.add_processing("pick_p", per_record={"source": source.tolist()}, triggered=bool(triggered),
                       picker=picker.name, **picker.params())
    return out


def window_records(records: Records, n_samples: int = 4096, p_time: float = 5.0,
                   min_pre_event_s: float = 0.0) -> tuple[Records, list[Dropped]]:
    """Cut ``n_samples`` with the P onset ``p_time`` seconds after the window start.

    Records without a pick are dropped (``no_p_pick``). A record whose P is less than
    ``p_time`` after its start (a triggered accelerogram) is padded with zeros before its
    first sample, so that P is at ``p_time``; it is dropped (``insufficient_pre_event``)
    only when P is less than ``min_pre_event_s`` after its start (default 0: never). Samples
    after the record end are zeros as well. Updates ``trace_start_time``, the arrival
    samples, and the extra columns ``trace_pad_start_samples`` / ``trace_pad_end_samples``
    (zeros added before / after the data, samples) and ``trace_pre_event_s`` (real pre-P
    noise in the window, s).
    """
    from obspy import UTCDateTime

    from quakesynth.data.events import iso_utc

    if int(n_samples) != n_samples or n_samples < 16:
        raise ValueError(f"n_samples must be an integer >= 16; got {n_samples!r}")
    fs = records.fs
    p_offset = int(round(p_time * fs))
    if not 0 <= p_offset < n_samples:
        raise ValueError(f"p_time={p_time} s is outside a window of {n_samples / fs:g} s")
    p = records.metadata["trace_p_arrival_sample"].astype("float64").to_numpy(na_value=np.nan)
    nopick = ~np.isfinite(p)
    early = ~nopick & (np.nan_to_num(p) < min_pre_event_s * fs)
    drops = _dropped(records, nopick, "preprocess", "no_p_pick", "the picker found no P onset")
    drops += _dropped(records, early, "preprocess", "insufficient_pre_event",
                      lambda i: f"P picked {p[i] / fs:.2f} s after the record start (< {min_pre_event_s:g} s)")
    keep = ~(nopick | early)
    rec = records[keep]
    p = np.rint(p[keep]).astype(np.int64)
    start = p - p_offset
    data, pad_start, pad_end = cut_window(rec.data, start, int(n_samples))
    meta = rec.metadata.copy()
    t_start = []
    for i, s in enumerate(meta["trace_start_time"].tolist()):
        t_start.append(iso_utc(UTCDateTime(s) + start[i] / fs) if isinstance(s, str) else None)
    meta["trace_start_time"] = t_start
    meta["trace_p_arrival_sample"] = float(p_offset)
    s_arr = meta["trace_s_arrival_sample"].astype("float64").to_numpy(na_value=np.nan) - start
    meta["trace_s_arrival_sample"] = np.where((s_arr >= 0) & (s_arr < n_samples), s_arr, np.nan)
    meta["trace_pad_start_samples"] = pad_start.astype(np.int64)
    meta["trace_pad_end_samples"] = pad_end.astype(np.int64)
    meta["trace_pre_event_s"] = (p_offset - pad_start) / fs
    out = rec.replace(data=data, metadata=meta)
    out.add_processing("window", per_record={"start_sample": start.tolist(), "pad_start": pad_start.tolist(),
                                             "pad_end": pad_end.tolist()},
                       n_samples=int(n_samples), p_time=p_time)
    return out, drops


def verify_pick(records: Records, picker: Picker, interval_s: tuple[float, float] = (2.0, 7.0),
                triggered: bool = False) -> tuple[Records, list[Dropped]]:
    """Re-pick the aligned windows; drop records whose pick lies outside ``interval_s``.

    Reason ``pick_outside_window``; a window in which the picker finds nothing is dropped too.
    With ``triggered``, windows padded before their first real sample are re-picked as
    triggered records starting there. The re-pick is kept in the extra column
    ``trace_p_repick_sample``.
    """
    lo, hi = interval_s
    meta = records.metadata
    trigger = None
    if triggered and "trace_pad_start_samples" in meta:
        pad = meta["trace_pad_start_samples"].to_numpy(np.float64)
        if (pad > 0).any():
            trigger = np.where(pad > 0, pad, np.nan)
    p = picker.pick(records, trigger=trigger)
    t = p / records.fs
    bad = ~np.isfinite(t) | (t < lo) | (t > hi)
    drops = _dropped(records, bad, "screen", "pick_outside_window",
                     lambda i: (f"re-pick at {t[i]:.2f} s, outside {lo:g}-{hi:g} s" if np.isfinite(t[i])
                                else f"no onset found in the window ({lo:g}-{hi:g} s expected)"))
    out = records.replace()
    out.metadata["trace_p_repick_sample"] = p
    return out[~bad], drops


def screen_snr(records: Records, min_snr_db: float = 10.0, require_measured: bool = False
               ) -> tuple[Records, list[Dropped]]:
    """Drop records whose pre-P noise is within ``min_snr_db`` of the signal (``low_snr``).

    The peak SNR (:func:`snr_db`) is measured on the noise that exists: only real, not
    zero-padded, samples before P. Where less than 0.5 s of real pre-P noise exists (a
    triggered record), the SNR is unmeasured: NaN in the extra column ``trace_snr_db`` and
    False in ``trace_snr_measured``; such a record is kept unless ``require_measured``.
    """
    meta = records.metadata
    p = meta["trace_p_arrival_sample"].astype("float64").to_numpy(na_value=np.nan)
    first = meta["trace_pad_start_samples"].to_numpy() if "trace_pad_start_samples" in meta else None
    last = (records.n_samples - meta["trace_pad_end_samples"].to_numpy()
            if "trace_pad_end_samples" in meta else None)
    snr = snr_db(records.data, p, records.fs, first_sample=first, last_sample=last)
    measured = ~np.isnan(snr)
    bad = (measured & ~(snr >= min_snr_db)) | (~measured & require_measured)
    drops = _dropped(records, bad, "screen", "low_snr",
                     lambda i: f"peak SNR {snr[i]:.1f} dB < {min_snr_db:g} dB" if measured[i]
                     else "less than 0.5 s of pre-P noise to measure the SNR (required)")
    out = records.replace()
    out.metadata["trace_snr_db"] = snr
    out.metadata["trace_snr_measured"] = measured
    return out[~bad], drops


def rotate_records(records: Records) -> tuple[Records, list[Dropped]]:
    """Rotate N/E to R/T from ``path_back_azimuth_deg`` (components ``ZNE`` -> ``ZRT``).

    Records without a back azimuth are dropped (``missing_metadata``).
    """
    if "N" not in records.components or "E" not in records.components:
        raise ValueError(f"rotation needs N and E components; have {records.components!r}")
    baz = records.metadata["path_back_azimuth_deg"].astype("float64").to_numpy(na_value=np.nan)
    bad = ~np.isfinite(baz)
    drops = _dropped(records, bad, "preprocess", "missing_metadata",
                     "no back azimuth (event or station coordinates) to rotate to R/T")
    rec = records[~bad]
    iN, iE = rec.components.index("N"), rec.components.index("E")
    r, t = rotate_ne_rt(rec.data[:, iN], rec.data[:, iE], baz[~bad])
    data = rec.data.copy()
    data[:, iN], data[:, iE] = r, t
    comps = rec.components.replace("N", "R").replace("E", "T")
    out = rec.replace(data=data, components=comps)
    out.add_processing("rotate_ne_rt", per_record={"back_azimuth_deg": baz[~bad].tolist()},
                       implementation="obspy.signal.rotate.rotate_ne_rt")
    return out, drops


def orient_ne_records(records: Records) -> tuple[Records, list[Dropped]]:
    """Rotate a horizontal pair ``1``/``2`` with known azimuths to ``N``/``E``.

    Azimuths (degrees clockwise from north) come from the extra metadata column
    ``trace_component_azimuth_deg`` (``"52;142"``: component 1; component 2); the pair must
    be orthogonal (within 1 degree). Records without usable azimuths are dropped
    (``missing_components``).
    """
    if "1" not in records.components or "2" not in records.components:
        return records.replace(), []
    az = records.metadata.get("trace_component_azimuth_deg")
    a = np.full((len(records), 2), np.nan)
    if az is not None:
        for i, v in enumerate(az.tolist()):
            try:
                a[i] = [float(s) for s in str(v).split(";")]
            except ValueError:
                pass
    diff = np.mod(a[:, 1] - a[:, 0], 360.0)
    ok = np.isfinite(diff) & ((np.abs(diff - 90) <= 1) | (np.abs(diff - 270) <= 1))
    drops = _dropped(records, ~ok, "preprocess", "missing_components",
                     "horizontal pair 1/2 without orthogonal azimuths: cannot orient to N/E")
    rec = records[ok]
    i1, i2 = rec.components.index("1"), rec.components.index("2")
    r1, r2 = np.radians(a[ok, 0])[:, None], np.radians(a[ok, 1])[:, None]
    h1, h2 = rec.data[:, i1].astype(np.float64), rec.data[:, i2].astype(np.float64)
    data = rec.data.copy()
    data[:, i1] = h1 * np.cos(r1) + h2 * np.cos(r2)
    data[:, i2] = h1 * np.sin(r1) + h2 * np.sin(r2)
    out = rec.replace(data=data, components=rec.components.replace("1", "N").replace("2", "E"))
    out.add_processing("orient_ne", per_record={"azimuths_deg": a[ok].tolist()})
    return out, drops


# =========================================================================================
# the whole chain
# =========================================================================================


def pick_interval(p_time: float) -> tuple[float, float]:
    """The accepted interval (s after the window start) of the re-pick on the cut window:
    centred on the P time, ``(max(0, p_time - 3), p_time + 2)`` (HighFEM: 2-7 s for P at 5 s).

    >>> pick_interval(5.0), pick_interval(2.0)
    ((2.0, 7.0), (0.0, 4.0))
    """
    return float(max(0.0, p_time - 3.0)), float(p_time + 2.0)


@dataclass(frozen=True)
class PreprocessConfig:
    """Parameters of :func:`preprocess` (HighFEM defaults)."""

    fs: float = 100.0  # target sampling rate, Hz
    n_samples: int = 4096  # window length, samples
    p_time: float = 5.0  # P onset after the window start, s
    highpass_freq: float = 0.1  # high-pass corner, Hz
    highpass_order: int = 2  # high-pass poles
    highpass_causal: bool = True  # one forward pass
    max_gap_s: float = 1.0  # longest gap that is interpolated, s
    max_missing_fraction: float = 0.5  # drop above this fraction of missing samples
    spike_threshold: float = 15.0  # spike_ratio above which a record is dropped (real records: < 5)
    min_pre_event_s: float = 0.0  # drop records whose P is less than this after their start, s (0: pad all)
    triggered: bool = False  # record starts are trigger times: P may be right at the start
    require_snr: bool = False  # drop records whose SNR cannot be measured (< 0.5 s of real pre-P noise)
    # accepted re-pick in the window, s; None: centred on the P time, p_time - 3 to p_time + 2 (2-7 s)
    pick_interval_s: tuple[float, float] | None = None
    min_snr_db: float = 10.0  # minimum peak SNR (after P / before P), dB
    rotate: bool = False  # rotate N/E to R/T
    use_input_picks: bool = True  # keep P arrivals given by the input (e.g. STEAD's)

    def __post_init__(self) -> None:
        _check_fs(self.fs)
        if self.min_pre_event_s > self.p_time:
            raise ValueError(f"min_pre_event_s={self.min_pre_event_s:g} s exceeds p_time={self.p_time:g} s")
        if self.pick_interval_s is None:
            lo, hi = pick_interval(self.p_time)
            if hi > self.n_samples / self.fs:
                raise ValueError(f"p_time={self.p_time:g} s does not fit a window of {self.n_samples} samples at "
                                 f"{self.fs:g} Hz (the P re-pick is accepted up to p_time + 2 s)")
            object.__setattr__(self, "pick_interval_s", (lo, hi))
        lo, hi = self.pick_interval_s
        if not 0 <= lo < self.p_time < hi <= self.n_samples / self.fs:
            raise ValueError(f"pick_interval_s={self.pick_interval_s} must bracket p_time={self.p_time} s "
                             f"inside the window of {self.n_samples / self.fs:g} s")

    def to_dict(self) -> dict:
        return asdict(self)


def preprocess(records: Records, config: PreprocessConfig = PreprocessConfig(),
               picker: Picker | None = None) -> tuple[Records, list[Dropped]]:
    """Apply the whole HighFEM chain to a batch of raw records (any sampling rate/length).

    Returns the kept records ``(N', C, config.n_samples)`` at ``config.fs`` and the dropped
    ones with their reasons. Event/station metadata should be filled beforehand (the origin
    time and hypocentral distance bound the P search; rotation needs the back azimuth).
    """
    picker = picker or STALTAPicker()
    drops: list[Dropped] = []
    rec, d = repair_gaps_records(records, config.max_gap_s, config.max_missing_fraction)
    drops += d
    rec, d = screen_spikes(rec, config.spike_threshold)
    drops += d
    if len(rec) == 0:
        return rec, drops
    rec = detrend_records(rec)
    rec = highpass_records(rec, config.highpass_freq, config.highpass_order, config.highpass_causal)
    rec = resample_records(rec, config.fs)
    rec = pick_records(rec, picker, earliest_p_sample(rec), keep_input=config.use_input_picks,
                       triggered=config.triggered)
    rec, d = window_records(rec, config.n_samples, config.p_time, config.min_pre_event_s)
    drops += d
    if len(rec) == 0:
        return rec, drops
    rec, d = verify_pick(rec, picker, config.pick_interval_s, config.triggered)
    drops += d
    rec, d = screen_snr(rec, config.min_snr_db, config.require_snr)
    drops += d
    if config.rotate and len(rec):
        rec, d = rotate_records(rec)
        drops += d
    return rec, drops
