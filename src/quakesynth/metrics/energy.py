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


def arias_curve(acc, fs: float, g: float = G) -> np.ndarray:
    """Cumulative Arias intensity ``I_A(t)`` (..., T), m/s, for acceleration in m/s^2."""
    from scipy.integrate import cumulative_trapezoid

    fs = check_fs(fs)
    a = as_signal(acc, "acc")
    return np.pi / (2.0 * _check_g(g)) * cumulative_trapezoid(a * a, dx=1.0 / fs, axis=-1,
                                                               initial=0.0)


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
    h = husid(acc, fs)
    above = h > start
    below = h < end
    # H is non-decreasing: {H > start} is a suffix, {H < end} a prefix of the samples
    i_start = np.argmax(above, axis=-1)
    i_end = below.sum(axis=-1) - 1
    ok = above.any(axis=-1) & (i_end >= i_start) & np.isfinite(h[..., -1])
    return np.where(ok, (i_end - i_start) / fs, np.nan)


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
