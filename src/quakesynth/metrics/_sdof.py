"""Compiled kernels of the damped single-degree-of-freedom oscillator (private).

Imported lazily by :mod:`quakesynth.metrics.response` (numba compiles on first use and
caches the machine code next to this file).

Exact response
--------------
The oscillator ``u'' + 2 zeta omega u' + omega^2 u = -a(t)`` is advanced sample by sample
with the exact state transition of Nigam & Jennings (1969) for an excitation that is linear
between samples::

    [u, v]_{k+1} = A [u, v]_k + b_0 a_k + b_1 a_{k+1}

(coefficients from :func:`quakesynth.metrics.response.nigam_jennings_coefficients`). Inside
a sample interval the exact displacement at ``tau`` after ``t_k`` is again a fixed linear
combination of ``u_k, v_k, a_k, a_{k+1}``; the peak is searched on the samples plus ``r - 1``
interior points ``tau = j dt / r`` per interval.

Pruning the interior points (exact)
-----------------------------------
With slope ``s = (a_{k+1} - a_k) / dt`` the response inside interval ``k`` is
``u(tau) = u_p(tau) + exp(-zeta omega tau) (A cos(omega_d tau) + B sin(omega_d tau))`` with
the particular part ``u_p(tau) = -(a_k + s tau) / omega^2 + 2 zeta s / omega^3`` (linear in
``tau``), ``A = u_k - u_p(0)`` and ``B = (v_k + s / omega^2 + zeta omega A) / omega_d``. Hence
``|u(tau)| <= max(|u_p(0)|, |u_p(dt)|) + sqrt(A^2 + B^2)`` (and the same with vector norms for
two components). Interior points are evaluated only in intervals whose bound exceeds the
current peak (or the RotD pruning level below), so the result equals the full fine-grid
search at a fraction of its cost.

Rotated peaks (RotD)
--------------------
The peak over time of ``|u1 cos(theta) + u2 sin(theta)|`` for the 180 angles 0..179 degrees.
For the percentile ``p`` only the ``m = 180 - floor(p/100 * 179)`` largest angle peaks
matter. If ``R`` is the largest vector norm (attained at polar angle ``phi``), every angle
within ``delta = m/2 + 1/2`` degrees of ``phi`` has a peak of at least ``R cos(delta)``, and
at least ``m`` integer angles lie in that arc; so the needed order statistics are ``>= L =
R cos(delta)`` and are attained at trajectory points of norm ``>= L``. Points below ``L`` are
dropped before the angle loop (angles whose peak is below ``L`` then come out underestimated
but stay below ``L``), and the percentiles are exact. RotD50 keeps points above 0.695 R.
The level is then raised to a lower bound of the needed order statistics computed from every
8th sample point (angle peaks of a subset of points are lower bounds), before the interior
points of the intervals that can still reach it are added.

Speed: the recurrence is sequential in time, so the kernels advance ``LANES`` independent
traces side by side (inner loop over lanes, which the compiler vectorises). The kernels
release the GIL; the callers run chunks of lane groups in parallel threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Traces advanced together in the vectorised inner loop.
LANES = 8
#: Relative safety margin on the interval bounds (floating-point round-off).
_MARGIN = 1e-9


@njit(nogil=True, cache=True, fastmath=True)
def _states(acc, c, u, v):
    """Exact states at the samples: acc (T, LANES) -> u, v (T, LANES), at rest at t = 0."""
    t = acc.shape[0]
    nb = acc.shape[1]
    c0, c1, c2, c3, c4, c5, c6, c7 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    for b in range(nb):
        u[0, b] = 0.0
        v[0, b] = 0.0
    for k in range(t - 1):
        for b in range(nb):
            a0 = acc[k, b]
            a1 = acc[k + 1, b]
            uo = u[k, b]
            vo = v[k, b]
            u[k + 1, b] = (c4 * a0 + c5 * a1 + c1 * vo) + c0 * uo
            v[k + 1, b] = (c6 * a0 + c7 * a1 + c2 * uo) + c3 * vo


@njit(nogil=True, cache=True)
def _decompose(uk, vk, a0, a1, bp):
    """Particular part at both ends and homogeneous amplitudes of one interval.

    ``bp = [1/omega^2, 2 zeta/omega^3, zeta omega, 1/omega_d, 1/dt]``.
    """
    s = (a1 - a0) * bp[4]
    up0 = -a0 * bp[0] + bp[1] * s
    up1 = -a1 * bp[0] + bp[1] * s
    amp_a = uk - up0
    amp_b = (vk + s * bp[0] + bp[2] * amp_a) * bp[3]
    return up0, up1, amp_a, amp_b


@njit(nogil=True, cache=True, fastmath=True)
def _angle_peaks(px, py, k, cos_t, sin_t, peaks):
    """peaks[j] = max over the k points of |x cos_j + y sin_j| (0 for k = 0)."""
    for j in range(cos_t.shape[0]):
        c = cos_t[j]
        s = sin_t[j]
        m = 0.0
        for i in range(k):
            m = max(m, abs(px[i] * c + py[i] * s))
        peaks[j] = m


@njit(nogil=True, cache=True)
def _lower_level(px, py, n_c, need, cos_t, sin_t, peaks):
    """A lower bound of the ``need``-th (ascending) order statistic of the angle peaks.

    The angle peaks over any subset of trajectory points are lower bounds of the true ones,
    so their ``need``-th order statistic bounds the needed true order statistics from below:
    points (and intervals) below it cannot set them (exact pruning). Uses every 8th of the
    ``n_c`` candidates (all when fewer than 64).
    """
    if n_c == 0:
        return 0.0
    step = 8 if n_c >= 64 else 1
    sub = 0
    for i in range(0, n_c, step):
        px[n_c + sub] = px[i]
        py[n_c + sub] = py[i]
        sub += 1
    _angle_peaks(px[n_c:], py[n_c:], sub, cos_t, sin_t, peaks)
    s = np.sort(peaks)
    return s[need] * (1.0 - 1e-9)


@njit(nogil=True, cache=True)
def _compact(px, py, n_c, lev2):
    """Keep the candidates with squared norm >= lev2 at the front; return their count."""
    k = 0
    for i in range(n_c):
        x = px[i]
        y = py[i]
        if x * x + y * y >= lev2:
            px[k] = x
            py[k] = y
            k += 1
    return k


@njit(nogil=True, cache=True)
def _percentile_sorted(s, q):
    """np.percentile(..., method='linear') of an ascending array ``s`` at ``q`` in [0, 100]."""
    n = s.shape[0]
    pos = q / 100.0 * (n - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return s[lo] + frac * (s[hi] - s[lo])


#: Samples per block of the block maxima used to skip quiet stretches.
BLOCK = 32


@njit(nogil=True, cache=True, fastmath=True)
def _pair_scan(u1, u2, nrm, blk_nrm, pk1, pk2, rr):
    """Vectorised pass over the sample states of LANES pairs: squared norms ``nrm`` (T, LANES)
    and their block maxima, sample peaks ``pk1, pk2`` and largest squared norm ``rr``."""
    t = u1.shape[0]
    nb = u1.shape[1]
    for b in range(nb):
        pk1[b] = 0.0
        pk2[b] = 0.0
        rr[b] = 0.0
    for kb in range(blk_nrm.shape[0]):
        for b in range(nb):
            blk_nrm[kb, b] = 0.0
    for k in range(t):
        kb = k // BLOCK
        for b in range(nb):
            x = u1[k, b]
            y = u2[k, b]
            n2 = x * x + y * y
            nrm[k, b] = n2
            pk1[b] = max(pk1[b], abs(x))
            pk2[b] = max(pk2[b], abs(y))
            rr[b] = max(rr[b], n2)
            blk_nrm[kb, b] = max(blk_nrm[kb, b], n2)


@njit(nogil=True, cache=True, fastmath=True)
def _pair_bounds(u1, v1, u2, v2, a1, a2, bp, ubn, blk_ubn):
    """Vectorised bounds of the vector norm inside every interval ``ubn`` (T - 1, LANES), and
    their block maxima; ``ubn`` also bounds |u1| and |u2|."""
    t = u1.shape[0]
    nb = u1.shape[1]
    for kb in range(blk_ubn.shape[0]):
        for b in range(nb):
            blk_ubn[kb, b] = 0.0
    for k in range(t - 1):
        kb = k // BLOCK
        for b in range(nb):
            p0, p1, pa, pb = _decompose(u1[k, b], v1[k, b], a1[k, b], a1[k + 1, b], bp)
            q0, q1, qa, qb = _decompose(u2[k, b], v2[k, b], a2[k, b], a2[k + 1, b], bp)
            en = (np.sqrt(max(p0 * p0 + q0 * q0, p1 * p1 + q1 * q1))
                  + np.sqrt(pa * pa + pb * pb + qa * qa + qb * qb))
            ubn[k, b] = en
            blk_ubn[kb, b] = max(blk_ubn[kb, b], en)


@njit(nogil=True, cache=True)
def _single_bound(u, v, a, k, b, bp):
    x0, x1, xa, xb = _decompose(u[k, b], v[k, b], a[k, b], a[k + 1, b], bp)
    return max(abs(x0), abs(x1)) + np.sqrt(xa * xa + xb * xb)


@njit(nogil=True, cache=True)
def _interior(ci, j, u, v, a, k, b):
    return ci[j, 0] * u[k, b] + ci[j, 1] * v[k, b] + ci[j, 2] * a[k, b] + ci[j, 3] * a[k + 1, b]


@njit(nogil=True, cache=True, fastmath=True)
def _single_scan(u, v, a, bp, with_bounds, ub, blk_ub, peak):
    """Vectorised pass: sample peaks ``peak`` (LANES,) and, if ``with_bounds``, the interval
    bounds of |u| ``ub`` (T - 1, LANES) with their block maxima ``blk_ub``."""
    t = u.shape[0]
    nb = u.shape[1]
    for b in range(nb):
        peak[b] = 0.0
    for k in range(t):
        for b in range(nb):
            peak[b] = max(peak[b], abs(u[k, b]))
    if not with_bounds:
        return
    for kb in range(blk_ub.shape[0]):
        for b in range(nb):
            blk_ub[kb, b] = 0.0
    for k in range(t - 1):
        kb = k // BLOCK
        for b in range(nb):
            e = _single_bound(u, v, a, k, b, bp)
            ub[k, b] = e
            blk_ub[kb, b] = max(blk_ub[kb, b], e)


@njit(nogil=True, cache=True)
def single_peaks(acc, coefs, inner, bounds, rs, out):
    """Peak |u| for traces acc (G, T, LANES) into out (G, LANES, P)."""
    g = acc.shape[0]
    t = acc.shape[1]
    nb = acc.shape[2]
    p = coefs.shape[0]
    nblk = (t + BLOCK - 1) // BLOCK
    u = np.empty((t, nb))
    v = np.empty((t, nb))
    ub = np.empty((t, nb))
    blk_ub = np.empty((nblk, nb))
    peak = np.empty(nb)
    m = 1.0 + _MARGIN
    for i in range(g):
        a = acc[i]
        for q in range(p):
            r = rs[q]
            _states(a, coefs[q], u, v)
            _single_scan(u, v, a, bounds[q], r > 1, ub, blk_ub, peak)
            if r > 1:
                ci = inner[q]
                for b in range(nb):
                    pk = peak[b]
                    for kb in range(nblk):
                        if blk_ub[kb, b] * m <= pk:
                            continue
                        for k in range(kb * BLOCK, min((kb + 1) * BLOCK, t - 1)):
                            if ub[k, b] * m <= pk:
                                continue
                            for j in range(r - 1):
                                pk = max(pk, abs(_interior(ci, j, u, v, a, k, b)))
                    peak[b] = pk
            for b in range(nb):
                out[i, b, q] = peak[b]


@njit(nogil=True, cache=True)
def pair_peaks(h1, h2, coefs, inner, bounds, rs, percentiles, cos_delta, cos_t, sin_t,
               peak1, peak2, vec, rot):
    """Single, vector and rotated peaks of two orthogonal components.

    Parameters
    ----------
    h1, h2 : (G, T, LANES) accelerations (groups of lanes).
    coefs : (P, 8) one-sample-step coefficients; inner : (P, rmax - 1, 4) coefficients of u
        at the interior points; bounds : (P, 5) interval-bound constants; rs : (P,)
        evaluation points per sample interval.
    percentiles : (Q,) RotD percentiles; cos_delta : cosine of the pruning half-angle for the
        smallest pruning level over the percentiles (0 keeps every point).
    cos_t, sin_t : (n_angles,) cosines and sines of the rotation angles.

    Outputs (filled in place)
    -------------------------
    peak1, peak2, vec : (G, LANES, P) peaks of |u1|, |u2| and max_t sqrt(u1^2 + u2^2).
    rot : (G, LANES, Q, P) rotated-peak percentiles.
    """
    g = h1.shape[0]
    t = h1.shape[1]
    nb = h1.shape[2]
    p = coefs.shape[0]
    nq = percentiles.shape[0]
    rmax = 1
    for q in range(p):
        rmax = max(rmax, rs[q])
    nblk = (t + BLOCK - 1) // BLOCK
    u1 = np.empty((t, nb))
    v1 = np.empty((t, nb))
    u2 = np.empty((t, nb))
    v2 = np.empty((t, nb))
    nrm = np.empty((t, nb))
    ubn = np.empty((t, nb))
    blk_nrm = np.empty((nblk, nb))
    blk_ubn = np.empty((nblk, nb))
    pk1 = np.empty(nb)
    pk2 = np.empty(nb)
    rr = np.empty(nb)
    px = np.empty(t * rmax + t * rmax // 8 + 1)
    py = np.empty(t * rmax + t * rmax // 8 + 1)
    peaks = np.empty(cos_t.shape[0])
    m = 1.0 + _MARGIN
    # rank (ascending) of the lowest order statistic any requested percentile needs
    need = cos_t.shape[0] - 1
    for m2 in range(nq):
        need = min(need, int(np.floor(percentiles[m2] / 100.0 * (cos_t.shape[0] - 1))))
    for i in range(g):
        a1 = h1[i]
        a2 = h2[i]
        for q in range(p):
            r = rs[q]
            ci = inner[q]
            bp = bounds[q]
            _states(a1, coefs[q], u1, v1)
            _states(a2, coefs[q], u2, v2)
            _pair_scan(u1, u2, nrm, blk_nrm, pk1, pk2, rr)
            if r > 1:
                _pair_bounds(u1, v1, u2, v2, a1, a2, bp, ubn, blk_ubn)
            for b in range(nb):
                p1 = pk1[b]
                p2 = pk2[b]
                big = np.sqrt(rr[b])
                # interior points where the bounds exceed the running peaks
                if r > 1:
                    for kb in range(nblk):
                        if blk_ubn[kb, b] * m <= min(p1, p2):
                            continue
                        for k in range(kb * BLOCK, min((kb + 1) * BLOCK, t - 1)):
                            un = ubn[k, b] * m
                            if un <= min(p1, p2):
                                continue
                            if (un <= big and _single_bound(u1, v1, a1, k, b, bp) * m <= p1
                                    and _single_bound(u2, v2, a2, k, b, bp) * m <= p2):
                                continue
                            for j in range(r - 1):
                                x = _interior(ci, j, u1, v1, a1, k, b)
                                y = _interior(ci, j, u2, v2, a2, k, b)
                                p1 = max(p1, abs(x))
                                p2 = max(p2, abs(y))
                                big = max(big, np.sqrt(x * x + y * y))
                peak1[i, b, q] = p1
                peak2[i, b, q] = p2
                vec[i, b, q] = big
                # candidate points for the rotated peaks: samples above the level ...
                level = big * cos_delta
                lev2 = level * level
                n_c = 0
                for kb in range(nblk):
                    if blk_nrm[kb, b] >= lev2:
                        for k in range(kb * BLOCK, min((kb + 1) * BLOCK, t)):
                            if nrm[k, b] >= lev2:
                                px[n_c] = u1[k, b]
                                py[n_c] = u2[k, b]
                                n_c += 1
                # ... raised to a lower bound of the needed order statistics ...
                lb = _lower_level(px, py, n_c, need, cos_t, sin_t, peaks)
                if lb > level:
                    level = lb
                    lev2 = level * level
                    n_c = _compact(px, py, n_c, lev2)
                # ... plus interior points of the intervals that can reach the level
                if r > 1:
                    for kb in range(nblk):
                        if blk_ubn[kb, b] * m < level:
                            continue
                        for k in range(kb * BLOCK, min((kb + 1) * BLOCK, t - 1)):
                            if ubn[k, b] * m < level:
                                continue
                            for j in range(r - 1):
                                x = _interior(ci, j, u1, v1, a1, k, b)
                                y = _interior(ci, j, u2, v2, a2, k, b)
                                if x * x + y * y >= lev2:
                                    px[n_c] = x
                                    py[n_c] = y
                                    n_c += 1
                _angle_peaks(px, py, n_c, cos_t, sin_t, peaks)
                s = np.sort(peaks)
                for m2 in range(nq):
                    rot[i, b, m2, q] = _percentile_sorted(s, percentiles[m2])


@njit(nogil=True, cache=True)
def rotated_peak_matrix(h1, h2, cos_delta, cos_t, sin_t, out, vec):
    """Peaks over time of |h1 cos + h2 sin| per angle and the vector peak, for (N, T) series.

    Angles whose peak is below ``cos_delta`` times the vector peak may be underestimated
    (``cos_delta = 0`` makes every angle exact). Fills out (N, n_angles) and vec (N,).
    """
    n = h1.shape[0]
    t = h1.shape[1]
    px = np.empty(t)
    py = np.empty(t)
    peaks = np.empty(cos_t.shape[0])
    for i in range(n):
        r2 = 0.0
        for k in range(t):
            r2 = max(r2, h1[i, k] * h1[i, k] + h2[i, k] * h2[i, k])
        vec[i] = np.sqrt(r2)
        thr2 = r2 * cos_delta * cos_delta
        m = 0
        for k in range(t):
            if h1[i, k] * h1[i, k] + h2[i, k] * h2[i, k] >= thr2:
                px[m] = h1[i, k]
                py[m] = h2[i, k]
                m += 1
        _angle_peaks(px, py, m, cos_t, sin_t, peaks)
        out[i] = peaks
