"""Elastic response spectra: SD, PSV and PSA of damped oscillators, per component and rotated.

The oscillator of natural period ``T`` (``omega = 2 pi / T``) and damping ratio ``zeta``
under ground acceleration ``a(t)``::

    u'' + 2 zeta omega u' + omega^2 u = -a(t)

is solved exactly for the piecewise-linear excitation through the samples (Nigam & Jennings,
1969: the state transition over a sample interval is a fixed linear map, a 2nd-order linear
recurrence; coefficients in closed form). The peak of the continuous response is searched on
the samples plus ``r - 1`` interior points per sample interval (exact values from the same
closed form), with ``r = ceil(points_per_period / (T fs))`` so that every oscillator period
holds at least ``points_per_period`` evaluation points. The worst case for a sinusoid is
``1 - cos(pi / points_per_period)`` (0.5 % for the default 32); on real records the error
against a converged reference is below 0.3 % for 0.01-10 s (``tests/test_metrics_response.py``).
Note that "exact for the sampled record" means for its piecewise-linear interpolation, whose
content at frequency f is that of the samples times ``sinc^2(f / fs)``.

Free vibration after the record (``free_vibration=True``, the default): a record cut by a
window while still shaking leaves the oscillator ringing, and its peak may come after the
last sample (AOM003 of the 2018 M 6.3 Aomori event, cut by the 41-s ingest window: RotD50
PSA(1 s) 8 % too low without it). The record is zero-padded, as pyrotd and most
strong-motion codes do: the excitation goes linearly to zero over one sample after the last
one and stays zero, and the oscillator runs on in free vibration. A damped free vibration
satisfies ``|u(t + T_d/2)| = exp(-zeta omega T_d/2) |u(t)|`` (``T_d = T / sqrt(1 - zeta^2)``),
so its peak comes within half a damped period: the padding is one sample plus half the
damped period of the longest period asked for, and the result is the exact peak of the
padded record. The same holds for any rotation of two horizontals (a linear combination of
free vibrations of one oscillator is one). ``free_vibration=False`` stops at the last sample.

Spectral values, for input acceleration in unit ``U`` (e.g. m/s^2):

- ``SD = max_t |u(t)|`` in ``U s^2`` (m for m/s^2),
- ``PSV = omega SD`` in ``U s`` (m/s),
- ``PSA = omega^2 SD`` in ``U`` (m/s^2).

Horizontal combinations of two orthogonal components ``u1, u2`` (same oscillator):

- ``RotD<p>`` (Boore, 2010): the ``p``-th percentile over the 180 rotation angles
  0, 1, ..., 179 degrees of ``max_t |u1 cos(theta) + u2 sin(theta)|`` (linear interpolation
  between order statistics, as ``numpy.percentile``); RotD100 is the largest rotated peak,
  RotD50 the median.
- ``GM``: the geometric mean of the two as-recorded spectral values.
- ``SRSS`` (peak SRSS, the quantity of Kanno et al., 2006): ``max_t sqrt(u1^2 + u2^2)``.

The heavy lifting is a compiled kernel (numba, see :mod:`quakesynth.metrics._sdof`) that
releases the GIL; records are split over ``workers`` threads (default: every CPU available).

>>> import numpy as np
>>> fs, T = 100.0, 1.0
>>> t = np.arange(6000) / fs
>>> acc = np.sin(2 * np.pi * t / T)  # harmonic excitation at resonance, 1 m/s^2
>>> psa = response_spectrum(acc, fs, periods=[T], damping=0.05)
>>> round(float(psa[0]) * 2 * 0.05, 4)  # steady state A sinc^2(f/fs) / (2 zeta)
0.9997
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from quakesynth.metrics._checks import (
    as_signal,
    check_damping,
    check_fs,
    check_percentiles,
    check_positive,
    check_same_shape,
)

#: Default oscillator periods: 100 log-spaced periods from 0.01 s to 10 s (read-only).
DEFAULT_PERIODS = np.logspace(-2, 1, 100)
DEFAULT_PERIODS.setflags(write=False)
#: Default minimum number of evaluation points per oscillator period (sets the interior points).
POINTS_PER_PERIOD = 32
#: Rotation angles of RotD, degrees.
ROTATION_ANGLES_DEG = np.arange(180)
KINDS = ("sd", "psv", "psa")


def default_periods() -> np.ndarray:
    """The default periods (s): 100 log-spaced values from 0.01 to 10 s (a fresh copy)."""
    return DEFAULT_PERIODS.copy()


def _check_periods(periods) -> np.ndarray:
    return check_positive(DEFAULT_PERIODS if periods is None else periods, "periods", unit="s")


def nigam_jennings_coefficients(periods, h: float, damping: float = 0.05) -> np.ndarray:
    """Exact one-step coefficients of the damped oscillator for linear excitation.

    Parameters
    ----------
    periods : (P,) oscillator periods, s.
    h : step length, s.
    damping : damping ratio zeta (fraction of critical, < 1).

    Returns
    -------
    (P, 8) array ``[A11, A12, A21, A22, b_u0, b_u1, b_v0, b_v1]`` such that
    ``u1 = A11 u0 + A12 v0 + b_u0 a0 + b_u1 a1`` and
    ``v1 = A21 u0 + A22 v0 + b_v0 a0 + b_v1 a1`` for the relative displacement ``u`` (m for
    a in m/s^2) and velocity ``v`` when the ground acceleration goes linearly from ``a0`` to
    ``a1`` over the step (Nigam & Jennings, 1969).
    """
    p = np.asarray(periods, dtype=float)
    return _transition(p, np.array([float(h)]), float(h), float(damping))[:, 0]


def _transition(periods: np.ndarray, tau: np.ndarray, dt: float, damping: float) -> np.ndarray:
    """State transition over ``tau`` (J,) for an excitation linear over a sample interval ``dt``.

    Closed form (vectorised over periods and tau), (P, J, 8) as in
    :func:`nigam_jennings_coefficients`. With ``E = exp(-zeta omega tau)``,
    ``S, C = sin, cos(omega_d tau)``, the free vibration is ``A11 = E (C + zeta omega/omega_d S)``,
    ``A12 = E S / omega_d``, ``A21 = -E omega^2 / omega_d S``,
    ``A22 = E (C - zeta omega/omega_d S)``; the forced part follows from the particular solution
    ``u_p(t) = -(a0 + s t)/omega^2 + 2 zeta s/omega^3`` for the slope ``s = (a1 - a0)/dt``.
    """
    w = (2.0 * np.pi / np.asarray(periods, dtype=float))[:, None]
    t = np.asarray(tau, dtype=float)[None, :]
    z = damping
    wd = w * np.sqrt(1.0 - z * z)
    e = np.exp(-z * w * t)
    sn = np.sin(wd * t)
    cs = np.cos(wd * t)
    a11 = e * (cs + z * w / wd * sn)
    a12 = e * sn / wd
    a21 = -e * w * w / wd * sn
    a22 = e * (cs - z * w / wd * sn)
    # u(tau) = A11 u0 + A12 v0 + a0 [-(1 - A11)/w^2] + s K_u ;  v likewise
    k_u = -t / w**2 + 2.0 * z * (1.0 - a11) / w**3 + a12 / w**2
    k_v = -(1.0 - a22) / w**2 - 2.0 * z * a21 / w**3
    out = np.stack([a11, a12, a21, a22,
                    -(1.0 - a11) / w**2 - k_u / dt, k_u / dt,
                    a21 / w**2 - k_v / dt, k_v / dt], axis=-1)
    # omega tau << 1: the forced terms cancel to O((omega tau)^2); use the matrix exponential
    # of the augmented system [u, v, a, a'] there instead (rare: very long periods)
    small = np.argwhere(np.broadcast_to(w * t, out.shape[:2]) < 2e-3)
    if len(small):
        from scipy.linalg import expm

        for i, j in small:
            wi, tj = float(w[i, 0]), float(t[0, j])
            e = expm(np.array([[0.0, 1.0, 0.0, 0.0], [-wi * wi, -2.0 * z * wi, -1.0, 0.0],
                               [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]) * tj)
            out[i, j] = [e[0, 0], e[0, 1], e[1, 0], e[1, 1], e[0, 2] - e[0, 3] / dt, e[0, 3] / dt,
                         e[1, 2] - e[1, 3] / dt, e[1, 3] / dt]
    return out


def substeps(periods, fs: float, points_per_period: int = POINTS_PER_PERIOD) -> np.ndarray:
    """Evaluation points per sample interval, ``r = max(1, ceil(points_per_period / (T fs)))``."""
    periods = np.asarray(periods, dtype=float)
    return np.maximum(1, np.ceil(points_per_period / (periods * fs) - 1e-9)).astype(np.int64)


def _kernel_coefficients(periods: np.ndarray, fs: float, damping: float, points_per_period: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One-step coefficients (P, 8), interior-point coefficients (P, rmax-1, 4), interval-bound
    constants (P, 5) ``[1/omega^2, 2 zeta/omega^3, zeta omega, 1/omega_d, 1/dt]`` and r (P,);
    cached per (periods, fs, damping, points_per_period), read-only."""
    periods = np.ascontiguousarray(periods, dtype=float)
    key = (periods.tobytes(), float(fs), float(damping), int(points_per_period))
    return _kernel_coefficients_cached(*key)


@lru_cache(maxsize=32)
def _kernel_coefficients_cached(pbytes: bytes, fs: float, damping: float, points_per_period: int):
    periods = np.frombuffer(pbytes, dtype=float)
    dt = 1.0 / fs
    rs = substeps(periods, fs, points_per_period)
    omega = 2.0 * np.pi / periods
    omega_d = omega * np.sqrt(1.0 - damping**2)
    bounds = np.stack([omega**-2, 2.0 * damping * omega**-3, damping * omega, 1.0 / omega_d,
                       np.full_like(omega, fs)], axis=1)
    coefs = nigam_jennings_coefficients(periods, dt, damping)
    inner = np.zeros((len(periods), max(int(rs.max()) - 1, 1), 4))
    for r in np.unique(rs[rs > 1]):
        sel = np.flatnonzero(rs == r)
        c = _transition(periods[sel], np.arange(1, r) * dt / r, dt, damping)  # (n, r-1, 8)
        inner[sel, : r - 1] = c[..., [0, 1, 4, 5]]
    for x in (coefs, inner, bounds, rs):
        x.setflags(write=False)
    return coefs, inner, bounds, rs


def _scale(kind: str, periods: np.ndarray) -> np.ndarray:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    omega = 2.0 * np.pi / periods
    return {"sd": np.ones_like(omega), "psv": omega, "psa": omega**2}[kind]


def _check_points(points_per_period) -> int:
    if int(points_per_period) != points_per_period or points_per_period < 1:
        raise ValueError(f"points_per_period must be a positive integer; got {points_per_period!r}")
    return int(points_per_period)


def free_vibration_samples(periods, fs: float, damping: float = 0.05) -> int:
    """Zeros appended for the free vibration: one sample plus half the damped period of the
    longest period, ``1 + ceil(max(T) / (2 sqrt(1 - zeta^2)) fs)``.

    >>> free_vibration_samples([0.1, 1.0], 100.0, 0.05)
    52
    """
    t_max = float(np.max(np.asarray(periods, dtype=float)))
    return 1 + int(np.ceil(0.5 * t_max / np.sqrt(1.0 - damping * damping) * fs))


def _pad_free(a: np.ndarray, periods: np.ndarray, fs: float, damping: float, free_vibration: bool) -> np.ndarray:
    if not free_vibration:
        return a
    n = free_vibration_samples(periods, fs, damping)
    return np.concatenate([a, np.zeros(a.shape[:-1] + (n,))], axis=-1)


def response_spectrum(acc, fs: float, periods=None, damping: float = 0.05, kind: str = "psa",
                      points_per_period: int = POINTS_PER_PERIOD, workers: int | None = None,
                      free_vibration: bool = True) -> np.ndarray:
    """Elastic response spectrum of single components.

    Parameters
    ----------
    acc : array (..., T)
        Ground acceleration, any unit ``U`` (m/s^2 or g), batched over leading axes.
    fs : float
        Sampling rate, Hz.
    periods : (P,) array, optional
        Oscillator periods in s (positive); default :data:`DEFAULT_PERIODS`.
    damping : float
        Damping ratio (0.05 = 5 % of critical).
    kind : {"psa", "psv", "sd"}
        Pseudo-spectral acceleration (``U``), pseudo-spectral velocity (``U s``) or spectral
        displacement (``U s^2``).
    points_per_period : int
        Minimum evaluation points per oscillator period (sets the interior points).
    workers : int, optional
        Threads for the compiled kernel (default: all CPUs available).
    free_vibration : bool
        Let the oscillator run on in free vibration after the last sample (zero padding,
        see the module docstring); False stops at the last sample.

    Returns
    -------
    array (..., P)
    """
    fs = check_fs(fs)
    a = as_signal(acc, "acc")
    periods = _check_periods(periods)
    damping = check_damping(damping)
    a = _pad_free(a, periods, fs, damping, free_vibration)
    scale = _scale(kind, periods)
    coefs, inner, bounds, rs = _kernel_coefficients(periods, fs, damping,
                                                    _check_points(points_per_period))
    from quakesynth.metrics import _sdof

    flat = a.reshape(-1, a.shape[-1])
    lanes = _to_lanes(flat, _sdof.LANES)
    out = np.empty((lanes.shape[0], _sdof.LANES, len(periods)))
    run_chunked(_sdof.single_peaks, lanes.shape[0], _check_workers(workers), [lanes], [out],
                coefs, inner, bounds, rs)
    sd = _from_lanes(out, len(flat))
    return (sd * scale).reshape(a.shape[:-1] + (len(periods),))


def default_workers() -> int:
    """Threads used by the compiled kernels: the CPUs available to this process."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _check_workers(workers) -> int:
    if workers is None:
        return default_workers()
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a positive integer or None; got {workers!r}")
    return int(workers)


def run_chunked(kernel, n_groups: int, workers: int, inputs, outputs, *args) -> None:
    """Run ``kernel(*[x[lo:hi] for x in inputs], *args, *[y[lo:hi] for y in outputs])``
    over ``workers`` threads, splitting the leading (lane-group) axis into chunks.

    The kernels release the GIL, so the threads run on separate cores.
    """
    n_chunks = min(n_groups, workers)
    bounds = np.linspace(0, n_groups, n_chunks + 1).astype(int)

    def job(lo: int, hi: int) -> None:
        kernel(*[x[lo:hi] for x in inputs], *args, *[y[lo:hi] for y in outputs])

    if n_chunks <= 1:
        job(0, n_groups)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n_chunks) as pool:
        for f in [pool.submit(job, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]:
            f.result()


def _to_lanes(flat: np.ndarray, lanes: int) -> np.ndarray:
    """(M, T) -> (G, T, lanes), zero-padded to a whole number of lane groups."""
    m, t = flat.shape
    g = -(-m // lanes)
    out = np.zeros((g * lanes, t))
    out[:m] = flat
    return np.ascontiguousarray(out.reshape(g, lanes, t).transpose(0, 2, 1))


def _from_lanes(x: np.ndarray, m: int) -> np.ndarray:
    """(G, lanes, ...) -> (M, ...), dropping the padding."""
    return x.reshape((-1,) + x.shape[2:])[:m]


def _cos_delta(percentiles: np.ndarray, n_angles: int = 180) -> float:
    """Cosine of the pruning half-angle for exact rotated percentiles (see ``_sdof``)."""
    m = n_angles - np.floor(percentiles / 100.0 * (n_angles - 1))
    delta = m.max() / 2.0 + 0.5
    return 0.0 if delta >= 90.0 else float(np.cos(np.radians(delta)))


def _angles() -> tuple[np.ndarray, np.ndarray]:
    theta = np.radians(ROTATION_ANGLES_DEG.astype(float))
    return np.cos(theta), np.sin(theta)


def horizontal_spectra(acc_h1, acc_h2, fs: float, periods=None, damping: float = 0.05,
                       kind: str = "psa", percentiles=(50.0, 100.0),
                       points_per_period: int = POINTS_PER_PERIOD, workers: int | None = None,
                       free_vibration: bool = True) -> dict[str, np.ndarray]:
    """Response spectra of two orthogonal horizontals and their combinations, in one pass.

    Parameters
    ----------
    acc_h1, acc_h2 : arrays (..., T)
        Two orthogonal horizontal accelerations (same unit ``U``, same shape).
    fs, periods, damping, kind, points_per_period, workers, free_vibration
        As in :func:`response_spectrum`.
    percentiles : sequence of float
        RotD percentiles to return (0-100).

    Returns
    -------
    dict of arrays (..., P), unit of ``kind``:
        ``"H1"``, ``"H2"`` (as recorded), ``"GM"`` (geometric mean of H1 and H2),
        ``"SRSS"`` (peak SRSS ``max_t sqrt(u1^2 + u2^2)``) and ``"RotD<p>"`` for each
        percentile (``"RotD50"``, ``"RotD100"``; non-integer percentiles keep their decimal).
    """
    fs = check_fs(fs)
    h1 = as_signal(acc_h1, "acc_h1")
    h2 = as_signal(acc_h2, "acc_h2")
    check_same_shape(h1, h2, "acc_h1", "acc_h2")
    periods = _check_periods(periods)
    damping = check_damping(damping)
    h1 = _pad_free(h1, periods, fs, damping, free_vibration)
    h2 = _pad_free(h2, periods, fs, damping, free_vibration)
    pct = check_percentiles(percentiles)
    scale = _scale(kind, periods)
    coefs, inner, bounds, rs = _kernel_coefficients(periods, fs, damping,
                                                    _check_points(points_per_period))
    from quakesynth.metrics import _sdof

    lead = h1.shape[:-1]
    m = int(np.prod(lead, dtype=int))
    f1 = _to_lanes(h1.reshape(m, -1), _sdof.LANES)
    f2 = _to_lanes(h2.reshape(m, -1), _sdof.LANES)
    cos_t, sin_t = _angles()
    g, nb, npd = f1.shape[0], _sdof.LANES, len(periods)
    res = [np.empty((g, nb, npd)) for _ in range(3)] + [np.empty((g, nb, len(pct), npd))]
    run_chunked(_sdof.pair_peaks, g, _check_workers(workers), [f1, f2], res,
                coefs, inner, bounds, rs, pct, _cos_delta(pct), cos_t, sin_t)
    p1, p2, vec, rot = (_from_lanes(x, m) for x in res)
    shape = lead + (len(periods),)
    out = {"H1": (p1 * scale).reshape(shape), "H2": (p2 * scale).reshape(shape)}
    out["GM"] = np.sqrt(out["H1"] * out["H2"])
    out["SRSS"] = (vec * scale).reshape(shape)
    for k, p in enumerate(pct):
        out[f"RotD{p:g}"] = (rot[:, k] * scale).reshape(shape)
    return out


def rotd_spectrum(acc_h1, acc_h2, fs: float, periods=None, damping: float = 0.05,
                  percentile: float = 50.0, kind: str = "psa",
                  points_per_period: int = POINTS_PER_PERIOD, workers: int | None = None,
                  free_vibration: bool = True) -> np.ndarray:
    """RotD``percentile`` response spectrum (Boore, 2010) of two orthogonal horizontals.

    Same parameters as :func:`horizontal_spectra`; returns an array (..., P) in the unit of
    ``kind``.
    """
    out = horizontal_spectra(acc_h1, acc_h2, fs, periods, damping, kind, (percentile,),
                             points_per_period, workers, free_vibration)
    return out[f"RotD{float(percentile):g}"]


def rotd50_psa(acc_h1, acc_h2, fs: float, periods=None, damping: float = 0.05) -> np.ndarray:
    """RotD50 pseudo-spectral acceleration (..., P), in the unit of the input acceleration."""
    return rotd_spectrum(acc_h1, acc_h2, fs, periods, damping, 50.0, "psa")
