"""Integration to velocity and displacement, peak ground motions and horizontal combinations.

``integrate`` is the project's one integration routine (the product layer imports it to
write velocity or displacement). Peaks are absolute maxima over time of each trace.

Horizontal combinations of two orthogonal horizontal traces ``x1(t), x2(t)`` (named
exactly; ``theta`` in degrees):

- ``RotD<p>`` (Boore, 2010): the ``p``-th percentile over theta = 0, 1, ..., 179 of the
  rotated peak ``P(theta) = max_t |x1 cos(theta) + x2 sin(theta)|``; RotD100 is the
  largest, RotD50 the median (``numpy.percentile`` linear interpolation).
- ``GMRotD<p>`` (Boore et al., 2006): the ``p``-th percentile over theta = 0, ..., 89 of the
  geometric mean of the two orthogonal rotated peaks, ``sqrt(P(theta) P(theta + 90))``.
- ``GM``: the geometric mean of the as-recorded peaks, ``sqrt(max|x1| max|x2|)``.
- ``SRSS`` (peak SRSS; the quantity Kanno et al., 2006 is defined on):
  ``max_t sqrt(x1^2 + x2^2)``, the rotation-invariant vector peak. Not to be confused with
  GMRotD50 (the HighFEM reference code's "GMRotD50" returns this vector peak, about 12 % above
  RotD50 for typical records).

For a linearly polarised motion RotD50 / SRSS = 1/sqrt(2); for a circular one it is 1.

Speed: the angle loop runs in a compiled kernel on the points of the 2-D trajectory whose
norm can reach the needed order statistics (see :mod:`quakesynth.metrics._sdof`), on all
cores.
"""

from __future__ import annotations

import numpy as np

from quakesynth.metrics._checks import (
    as_signal,
    check_fs,
    check_percentiles,
    check_same_shape,
)

BASELINES = ("polynomial", "highpass", "demean", "none")


def _poly_detrend(y: np.ndarray, order: int) -> np.ndarray:
    """Subtract the least-squares polynomial of degree ``order`` in time from each trace."""
    t = y.shape[-1]
    x = np.linspace(-1.0, 1.0, t)
    basis = np.polynomial.legendre.legvander(x, order)  # (T, order + 1), well conditioned
    proj = np.linalg.pinv(basis)  # (order + 1, T)
    coef = y @ proj.T
    return y - coef @ basis.T


def _highpass(y: np.ndarray, fs: float, f_hp: float, order: int) -> np.ndarray:
    from scipy.signal import sosfiltfilt

    from quakesynth.signal import butterworth_sos

    sos = butterworth_sos(order, f_hp, fs, "highpass")
    return sosfiltfilt(sos, y, axis=-1, padtype="odd", padlen=min(y.shape[-1] - 1, 3 * int(fs / f_hp)))


def cumulative_trapezoid(y: np.ndarray, dx: float) -> np.ndarray:
    """Cumulative trapezoidal integral of ``y`` (..., T) with step ``dx`` along the last axis,
    starting at 0 (same shape): the arithmetic of ``scipy.integrate.cumulative_trapezoid(y,
    dx=dx, axis=-1, initial=0)``, bitwise, without importing ``scipy.integrate`` (0.5-1.6 s of
    start-up on the generation path)."""
    y = np.asarray(y)
    res = np.cumsum(dx * (y[..., 1:] + y[..., :-1]) / 2.0, axis=-1)
    return np.concatenate([np.zeros(res.shape[:-1] + (1,), dtype=res.dtype), res], axis=-1)


def integrate(acc, fs: float, baseline: str = "polynomial", order: int = 2,
              f_hp: float = 0.05, filter_order: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Velocity and displacement of acceleration records, with baseline correction.

    Parameters
    ----------
    acc : array (..., T)
        Ground acceleration in any unit ``U`` (m/s^2 gives m/s and m), batched.
    fs : float
        Sampling rate, Hz.
    baseline : {"polynomial", "highpass", "demean", "none"}
        How integration drift is removed:

        - ``"polynomial"`` (default): subtract the mean of ``acc``; integrate (trapezoidal
          rule, zero initial value) to velocity and subtract the least-squares polynomial of
          degree ``order`` in time from it; integrate to displacement and subtract the
          least-squares polynomial of degree ``order`` from that. A quadratic (default) on
          velocity is Boore's (2001) correction of a constant-plus-linear acceleration
          offset; on displacement it removes the residual long-period drift.
        - ``"highpass"``: subtract the mean, then apply a zero-phase (forward-backward)
          Butterworth high-pass of order ``filter_order`` and corner ``f_hp`` Hz to the
          acceleration, and the same filter to velocity and displacement after each
          integration (acausal processing as in PEER NGA records).
        - ``"demean"``: subtract the mean of ``acc`` only.
        - ``"none"``: integrate as given.
    order : int
        Polynomial degree for ``"polynomial"``.
    f_hp : float
        High-pass corner, Hz, for ``"highpass"``.
    filter_order : int
        Butterworth order for ``"highpass"`` (doubled by the forward-backward pass).

    Returns
    -------
    velocity, displacement : arrays (..., T), in ``U s`` and ``U s^2``.

    Notes
    -----
    With ``"polynomial"`` and ``"highpass"`` the returned displacement is the corrected
    integral of the corrected velocity, so the two are consistent up to the last correction
    step (its time derivative differs from the returned velocity by the derivative of the
    subtracted polynomial or filtered-out part).

    >>> import numpy as np
    >>> fs = 100.0
    >>> t = np.arange(2000) / fs
    >>> d = np.exp(-((t - 10) / 2) ** 2) * np.sin(2 * np.pi * t)  # displacement, m
    >>> acc = np.gradient(np.gradient(d, 1 / fs), 1 / fs)  # m/s^2, at rest at both ends
    >>> vel, disp = integrate(acc, fs)
    >>> bool(np.abs(disp - d).max() < 0.003)
    True
    """
    fs = check_fs(fs)
    a = as_signal(acc, "acc")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}; got {baseline!r}")
    if int(order) != order or order < 0:
        raise ValueError(f"order must be a non-negative integer; got {order!r}")
    dt = 1.0 / fs
    if baseline != "none":
        a = a - a.mean(axis=-1, keepdims=True)
    if baseline == "highpass":
        if not (0 < f_hp < fs / 2):
            raise ValueError(f"f_hp must be between 0 and the Nyquist frequency {fs / 2} Hz; got {f_hp!r}")
        a = _highpass(a, fs, f_hp, filter_order)
    vel = cumulative_trapezoid(a, dt)
    if baseline == "polynomial":
        vel = _poly_detrend(vel, int(order))
    elif baseline == "highpass":
        vel = _highpass(vel, fs, f_hp, filter_order)
    disp = cumulative_trapezoid(vel, dt)
    if baseline == "polynomial":
        disp = _poly_detrend(disp, int(order))
    elif baseline == "highpass":
        disp = _highpass(disp, fs, f_hp, filter_order)
    return vel, disp


def peak(x) -> np.ndarray:
    """Peak absolute value over time: ``max_t |x|``, (..., T) -> (...), unit of ``x``."""
    return np.abs(as_signal(x, "x", min_samples=1)).max(axis=-1)


def pga(acc) -> np.ndarray:
    """Peak ground acceleration ``max_t |a|`` (...), in the unit of ``acc``."""
    return np.abs(as_signal(acc, "acc", min_samples=1)).max(axis=-1)


def pgv(acc, fs: float, baseline: str = "polynomial", **kwargs) -> np.ndarray:
    """Peak ground velocity (...), in the unit of ``acc`` times s (m/s for m/s^2).

    Integration and baseline as :func:`integrate`.
    """
    return np.abs(integrate(acc, fs, baseline, **kwargs)[0]).max(axis=-1)


def pgd(acc, fs: float, baseline: str = "polynomial", **kwargs) -> np.ndarray:
    """Peak ground displacement (...), in the unit of ``acc`` times s^2 (m for m/s^2).

    Integration and baseline as :func:`integrate`.
    """
    return np.abs(integrate(acc, fs, baseline, **kwargs)[1]).max(axis=-1)


def ground_motion_peaks(acc, fs: float, baseline: str = "polynomial", **kwargs
                        ) -> dict[str, np.ndarray]:
    """PGA, PGV and PGD of every trace with one integration: dict of arrays (...).

    Units: ``U``, ``U s``, ``U s^2`` for acceleration in ``U`` (m/s^2, m/s, m).
    """
    a = as_signal(acc, "acc")
    vel, disp = integrate(a, fs, baseline, **kwargs)
    return {"PGA": np.abs(a).max(axis=-1), "PGV": np.abs(vel).max(axis=-1),
            "PGD": np.abs(disp).max(axis=-1)}


# --------------------------------------------------------------------------------------
# horizontal combinations
# --------------------------------------------------------------------------------------
def _rotated(x1, x2, cos_delta: float, workers) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Rotated peaks P(theta) for theta = 0..179 deg (N, 180) and vector peaks (N,)."""
    from quakesynth.metrics import _sdof
    from quakesynth.metrics.response import _angles, _check_workers, run_chunked

    a = as_signal(x1, "x1", min_samples=1)
    b = as_signal(x2, "x2", min_samples=1)
    check_same_shape(a, b, "x1", "x2")
    lead = a.shape[:-1]
    fa = np.ascontiguousarray(a.reshape(-1, a.shape[-1]))
    fb = np.ascontiguousarray(b.reshape(-1, b.shape[-1]))
    cos_t, sin_t = _angles()
    out = np.empty((len(fa), len(cos_t)))
    vec = np.empty(len(fa))
    run_chunked(_sdof.rotated_peak_matrix, len(fa), _check_workers(workers), [fa, fb],
                [out, vec], cos_delta, cos_t, sin_t)
    return out, vec, lead


def rotd(x1, x2, percentiles=(50.0, 100.0), workers: int | None = None) -> np.ndarray:
    """RotD percentiles (Boore, 2010) of two orthogonal horizontal traces.

    Parameters
    ----------
    x1, x2 : arrays (..., T)
        Orthogonal horizontal components (same unit, same shape).
    percentiles : float or sequence of float
        Percentiles in [0, 100] over the 180 rotation angles 0..179 degrees.
    workers : int, optional
        Threads (default: all CPUs available).

    Returns
    -------
    array (..., Q) (or (...) for a scalar ``percentile``), unit of the input.

    >>> import numpy as np
    >>> t = np.linspace(0, 10, 2001)
    >>> x = np.sin(2 * np.pi * t)
    >>> float(np.round(rotd(x, x, 50.0) / peak_srss(x, x), 3))  # linearly polarised
    0.707
    """
    from quakesynth.metrics.response import _cos_delta

    scalar = np.ndim(percentiles) == 0
    pct = check_percentiles(percentiles)
    rot, _, lead = _rotated(x1, x2, _cos_delta(pct), workers)
    vals = np.percentile(rot, pct, axis=-1).T  # (N, Q)
    vals = vals.reshape(lead + (len(pct),))
    return vals[..., 0] if scalar else vals


def rotd50(x1, x2) -> np.ndarray:
    """RotD50 of two orthogonal horizontal traces (...): the median rotated peak."""
    return rotd(x1, x2, 50.0)


def rotd100(x1, x2) -> np.ndarray:
    """RotD100 of two orthogonal horizontal traces (...): the largest rotated peak."""
    return rotd(x1, x2, 100.0)


def gmrotd(x1, x2, percentile: float = 50.0, workers: int | None = None) -> np.ndarray:
    """GMRotD``percentile`` (Boore et al., 2006) of two orthogonal horizontal traces (...).

    The percentile over theta = 0..89 degrees of ``sqrt(P(theta) P(theta + 90))``, the
    geometric mean of the peaks of the two orthogonal components rotated by theta.
    """
    pct = float(check_percentiles(percentile)[0])
    rot, _, lead = _rotated(x1, x2, 0.0, workers)
    gm = np.sqrt(rot[:, :90] * rot[:, 90:])
    return np.percentile(gm, pct, axis=-1).reshape(lead)


def gmrotd50(x1, x2) -> np.ndarray:
    """GMRotD50 (Boore et al., 2006) of two orthogonal horizontal traces (...)."""
    return gmrotd(x1, x2, 50.0)


def geometric_mean(x1, x2) -> np.ndarray:
    """Geometric mean of the as-recorded peaks, ``sqrt(max|x1| max|x2|)`` (...)."""
    a = as_signal(x1, "x1", min_samples=1)
    b = as_signal(x2, "x2", min_samples=1)
    check_same_shape(a, b, "x1", "x2")
    return np.sqrt(np.abs(a).max(axis=-1) * np.abs(b).max(axis=-1))


def peak_srss(x1, x2) -> np.ndarray:
    """Peak SRSS ``max_t sqrt(x1^2 + x2^2)`` (Kanno et al., 2006), the vector peak (...)."""
    a = as_signal(x1, "x1", min_samples=1)
    b = as_signal(x2, "x2", min_samples=1)
    check_same_shape(a, b, "x1", "x2")
    return np.sqrt((a * a + b * b).max(axis=-1))


def horizontal_peaks(x1, x2, percentiles=(50.0, 100.0), workers: int | None = None
                     ) -> dict[str, np.ndarray]:
    """Every horizontal combination of the peaks of two orthogonal traces, in one pass.

    Returns a dict of arrays (...): ``"H1"``, ``"H2"`` (as recorded), ``"GM"``, ``"SRSS"``,
    ``"GMRotD50"`` and ``"RotD<p>"`` for each percentile, all in the unit of the input.
    """
    pct = check_percentiles(percentiles)
    rot, vec, lead = _rotated(x1, x2, 0.0, workers)
    a = np.abs(as_signal(x1, "x1", min_samples=1)).max(axis=-1)
    b = np.abs(as_signal(x2, "x2", min_samples=1)).max(axis=-1)
    out = {"H1": a, "H2": b, "GM": np.sqrt(a * b), "SRSS": vec.reshape(lead),
           "GMRotD50": np.percentile(np.sqrt(rot[:, :90] * rot[:, 90:]), 50.0, axis=-1).reshape(lead)}
    vals = np.percentile(rot, pct, axis=-1)
    for k, p in enumerate(pct):
        out[f"RotD{p:g}"] = vals[k].reshape(lead)
    return out
