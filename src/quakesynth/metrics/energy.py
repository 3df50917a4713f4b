"""Arias intensity, the Husid curve, significant durations and cumulative absolute velocity.

Conventions follow ``eqsig`` (``eqsig.im``), cross-checked in ``tests/test_metrics_energy.py``:

- Arias intensity (Arias, 1970): ``I_A(t) = pi / (2 g) * int_0^t a(s)^2 ds`` in m/s for ``a``
  in m/s^2, integrated with the trapezoidal rule (``I_A(0) = 0``). ``g`` defaults to the
  standard gravity 9.80665 m/s^2 (eqsig uses 9.81: pass ``g=9.81`` to reproduce it).
- Husid curve: ``H(t) = I_A(t) / I_A(T_end)`` in [0, 1].
- Significant duration ``D_{start-end}`` (Trifunac & Brady, 1975), in s, on the sample grid
  exactly as ``eqsig.im.calc_sig_dur``: ``t_start`` is the first sample with
  ``H > start`` and ``t_end`` the last sample with ``H < end``; ``D = t_end - t_start``.
  D5-75 and D5-95 use 5 %, 75 % and 95 %.
- Cumulative absolute velocity: ``CAV = int |a| dt`` (trapezoidal), in m/s for m/s^2
  (EPRI, 1991, without the 5 cm/s^2 threshold of the standardised CAV).
"""

from __future__ import annotations

import warnings

import numpy as np

from quakesynth.metrics._checks import as_signal, check_fs
from quakesynth.records import G


def _check_g(g) -> float:
    g = float(g)
    if not np.isfinite(g) or g <= 0:
        raise ValueError(f"g must be a positive acceleration of gravity in m/s^2; got {g!r}")
    return g


def _cumtrapz(y: np.ndarray, dt: float) -> np.ndarray:
    """Cumulative trapezoidal integral along the last axis, starting at 0 (..., T)."""
    out = np.empty_like(y)
    out[..., 0] = 0.0
    np.cumsum((y[..., 1:] + y[..., :-1]) * (0.5 * dt), axis=-1, out=out[..., 1:])
    return out


def arias_curve(acc, fs: float, g: float = G) -> np.ndarray:
    """Cumulative Arias intensity ``I_A(t)`` (..., T), m/s, for acceleration in m/s^2."""
    fs = check_fs(fs)
    a = as_signal(acc, "acc")
    return np.pi / (2.0 * _check_g(g)) * _cumtrapz(a * a, 1.0 / fs)


def _durations(curve: np.ndarray, fs: float, start: float, end: float) -> np.ndarray:
    """Significant duration from a cumulative (non-decreasing) intensity curve (eqsig rule)."""
    total = curve[..., -1:]
    above = curve > start * total
    below = curve < end * total
    # non-decreasing: {I > start I_end} is a suffix, {I < end I_end} a prefix of the samples
    i_start = np.argmax(above, axis=-1)
    i_end = below.sum(axis=-1) - 1
    ok = above.any(axis=-1) & (i_end >= i_start) & (total[..., 0] > 0)
    return np.where(ok, (i_end - i_start) / fs, np.nan)


def arias_intensity(acc, fs: float, g: float = G) -> np.ndarray:
    """Arias intensity ``pi/(2 g) int a^2 dt`` (...), m/s, for acceleration in m/s^2.

    >>> import numpy as np
    >>> fs = 100.0
    >>> acc = np.ones(101)  # 1 m/s^2 for 1 s
    >>> round(float(arias_intensity(acc, fs)), 4)  # pi / (2 g)
    0.1602
    """
    fs = check_fs(fs)
    a = as_signal(acc, "acc")
    from scipy.integrate import trapezoid

    return np.pi / (2.0 * _check_g(g)) * trapezoid(a * a, dx=1.0 / fs, axis=-1)


def husid(acc, fs: float) -> np.ndarray:
    """Normalised cumulative Arias intensity (Husid curve) (..., T), dimensionless in [0, 1].

    Traces with zero energy give NaN (with a warning).
    """
    curve = arias_curve(acc, fs, g=1.0)
    total = curve[..., -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = curve / total
    if (total == 0).any():
        warnings.warn("husid: some traces are identically zero; their Husid curve is NaN",
                      RuntimeWarning, stacklevel=2)
    return out


def significant_duration(acc, fs: float, start: float = 0.05, end: float = 0.95) -> np.ndarray:
    """Significant duration ``D_{start-end}`` (...), s, on the Husid curve (eqsig convention).

    Parameters
    ----------
    acc : array (..., T)
        Acceleration (any unit; the duration is scale-free).
    fs : float
        Sampling rate, Hz.
    start, end : float
        Fractions of the total Arias intensity, ``0 <= start < end <= 1``.

    Returns
    -------
    array (...) of durations in s; NaN (with a warning) for traces with zero energy.
    """
    fs = check_fs(fs)
    if not (0.0 <= start < end <= 1.0):
        raise ValueError(f"need 0 <= start < end <= 1; got start={start!r}, end={end!r}")
    curve = arias_curve(acc, fs, g=1.0)
    _warn_zero(curve)
    return _durations(curve, fs, start, end)


def _warn_zero(curve: np.ndarray) -> None:
    if (curve[..., -1] == 0).any():
        warnings.warn("some traces are identically zero; their durations are NaN",
                      RuntimeWarning, stacklevel=3)


def energy_measures(acc, fs: float, g: float = G) -> dict[str, np.ndarray]:
    """Arias intensity (m/s), D5-75 and D5-95 (s) and CAV (m/s) from one pass (...).

    Same definitions as :func:`arias_intensity`, :func:`significant_duration` and
    :func:`cav`, for acceleration in m/s^2; durations of all-zero traces are NaN.
    """
    fs = check_fs(fs)
    a = as_signal(acc, "acc")
    dt = 1.0 / fs
    curve = _cumtrapz(a * a, dt)
    _warn_zero(curve)
    absa = np.abs(a)
    return {"AI": np.pi / (2.0 * _check_g(g)) * curve[..., -1],
            "D5-75": _durations(curve, fs, 0.05, 0.75),
            "D5-95": _durations(curve, fs, 0.05, 0.95),
            "CAV": (absa.sum(axis=-1) - 0.5 * (absa[..., 0] + absa[..., -1])) * dt}


def d5_75(acc, fs: float) -> np.ndarray:
    """Significant duration D5-75 (...), s."""
    return significant_duration(acc, fs, 0.05, 0.75)


def d5_95(acc, fs: float) -> np.ndarray:
    """Significant duration D5-95 (...), s."""
    return significant_duration(acc, fs, 0.05, 0.95)


def cav(acc, fs: float) -> np.ndarray:
    """Cumulative absolute velocity ``int |a| dt`` (...), m/s for acceleration in m/s^2."""
    from scipy.integrate import trapezoid

    fs = check_fs(fs)
    return trapezoid(np.abs(as_signal(acc, "acc")), dx=1.0 / fs, axis=-1)


def rotd_arias(acc_h1, acc_h2, fs: float, percentiles=(50.0, 100.0), g: float = G) -> np.ndarray:
    """RotD percentiles of the Arias intensity of two orthogonal horizontals (..., Q), m/s.

    The Arias intensity of the component rotated by theta is the quadratic form
    ``pi/(2g) [cos^2 S11 + 2 cos sin S12 + sin^2 S22]`` with ``Sij = int a_i a_j dt``,
    evaluated for theta = 0..179 degrees; percentiles as in RotD (Boore, 2010).
    """
    from scipy.integrate import trapezoid

    from quakesynth.metrics._checks import check_percentiles, check_same_shape

    fs = check_fs(fs)
    a = as_signal(acc_h1, "acc_h1")
    b = as_signal(acc_h2, "acc_h2")
    check_same_shape(a, b, "acc_h1", "acc_h2")
    pct = check_percentiles(percentiles)
    dt = 1.0 / fs
    s11 = trapezoid(a * a, dx=dt, axis=-1)
    s12 = trapezoid(a * b, dx=dt, axis=-1)
    s22 = trapezoid(b * b, dx=dt, axis=-1)
    th = np.radians(np.arange(180.0))
    c, s = np.cos(th), np.sin(th)
    ia = np.pi / (2.0 * _check_g(g)) * (s11[..., None] * c**2 + 2 * s12[..., None] * c * s
                                        + s22[..., None] * s**2)
    return np.moveaxis(np.percentile(ia, pct, axis=-1), 0, -1)
