"""Mixed-effects decomposition of ground-motion residuals (between-event, site, within-event).

Ground-motion modellers split the total residual of record ``i`` of event ``e`` at station
``s`` (natural-log units) as (Abrahamson & Youngs, 1992; Al Atik et al., 2010)::

    r_es = c + eta_e + dS2S_s + eps_es,
    eta_e ~ N(0, tau^2),  dS2S_s ~ N(0, phi_S2S^2),  eps_es ~ N(0, phi_0^2),

with ``c`` the overall bias (fixed effect), ``eta_e`` the between-event term (standard
deviation ``tau``), ``dS2S_s`` the site term where stations repeat (``phi_S2S``) and
``eps`` the remaining within-event, within-site residual (``phi_0``). The within-event
standard deviation is ``phi = sqrt(phi_S2S^2 + phi_0^2)`` and the total
``sigma = sqrt(tau^2 + phi^2)``. Event and station effects are *crossed* (a station records
several events, an event several stations), as in lme4's ``(1|event) + (1|station)``
(Bates et al., 2015).

:func:`fit_mixed_effects` maximises the restricted likelihood (REML) over the log standard
deviations (L-BFGS-B). For given variances, Henderson's mixed-model equations give the bias,
the terms (BLUPs) and ``-2 l_R = log|V| + log|X'V^-1 X| + y'Py = n log phi_0^2 + log|G| +
log|C / phi_0^2| + (y'y - b'rhs) / phi_0^2`` with ``C = [X'X, X'Z; Z'X, Z'Z + phi_0^2 G^-1]``
(X: a column of ones; Z: event and station indicators; G: the diagonal random-effect
covariance). Both indicator blocks have a diagonal ``Z'Z``, so the larger one is eliminated
and only a ``1 + min(n_events, n_stations)`` square matrix is factored: 20,000 rows with
hundreds of events and thousands of stations take seconds. A station recorded
once carries no site information: without a repeated station the site term is left out
(``phi_S2S`` is None, ``phi_0 = phi``).

statsmodels' ``MixedLM`` fits the nested (single grouping) case and cross-checks this code in
``tests/test_evaluate_mixed.py``; for crossed effects it needs one all-covering group with
variance components, which is dense in the number of records and too slow at 20,000 rows.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ev = np.repeat(np.arange(40), 25); st = np.tile(np.arange(25), 40)
>>> r = 0.1 + rng.normal(0, 0.4, 40)[ev] + rng.normal(0, 0.3, 25)[st] + rng.normal(0, 0.5, 1000)
>>> fit = fit_mixed_effects(r, ev, st)
>>> bool(abs(fit.tau - 0.4) < 0.12 and abs(fit.phi_0 - 0.5) < 0.05)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Largest number of levels of the smaller random effect (its block is solved densely).
MAX_LEVELS = 8000
#: -2 log REML returned where the equations cannot be factored (instead of inf).
_PENALTY = 1e12


@dataclass
class MixedEffectsFit:
    """The decomposition of one set of residuals (natural-log units unless stated).

    Attributes
    ----------
    bias : the fixed effect ``c`` (mean residual corrected for the event and site terms).
    bias_se : its standard error.
    tau, phi_s2s, phi_0 : standard deviations of the between-event, site and remaining terms
        (``phi_s2s`` None when no station repeats).
    event_terms, site_terms : BLUPs of ``eta_e`` and ``dS2S_s`` by label.
    within : (n,) within-event residuals ``r - c - eta_e`` (site term included).
    n, n_events, n_stations : records, events and stations (stations with >= 2 records).
    converged : whether the optimiser reported success.
    """

    bias: float
    bias_se: float
    tau: float
    phi_s2s: float | None
    phi_0: float
    event_terms: dict
    site_terms: dict
    within: np.ndarray
    n: int
    n_events: int
    n_stations: int
    converged: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def phi(self) -> float:
        """Within-event standard deviation ``sqrt(phi_S2S^2 + phi_0^2)``."""
        return math.sqrt((self.phi_s2s or 0.0) ** 2 + self.phi_0 ** 2)

    @property
    def sigma(self) -> float:
        """Total standard deviation ``sqrt(tau^2 + phi^2)``."""
        return math.sqrt(self.tau ** 2 + self.phi ** 2)


def _codes(labels) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return uniq, inv.astype(np.int64)


class _Equations:
    """Henderson's mixed-model equations of ``y = c + Z u + e`` with one or two indicator blocks.

    Both blocks' ``Z'Z`` are diagonal (one level per record), so the larger block is
    eliminated (its Schur complement) and only a ``1 + q_small`` square matrix is factored.
    """

    def __init__(self, y: np.ndarray, blocks: list[np.ndarray], sizes: list[int]) -> None:
        import scipy.sparse as sp

        self.y, self.n, self.sizes = y, y.size, sizes
        self.big = int(np.argmax(sizes))  # eliminated block
        small = [j for j in range(len(sizes)) if j != self.big]
        ones = np.ones(self.n)

        def Z(j):
            m = blocks[j] >= 0
            return sp.csr_matrix((ones[m], (np.flatnonzero(m), blocks[j][m])), shape=(self.n, sizes[j]))

        Zb = Z(self.big)
        Xs = sp.hstack([sp.csr_matrix(ones[:, None])] + [Z(j) for j in small]).tocsr()  # intercept + small
        self.small = small
        self.A = (Xs.T @ Xs).toarray()  # (1 + q_small)^2, diagonal apart from the intercept row/column
        self.B = (Xs.T @ Zb).tocsr()  # (1 + q_small, q_big)
        self.d = np.asarray(Zb.sum(axis=0)).ravel()  # diag(Zb'Zb)
        self.ra = Xs.T @ y
        self.rb = Zb.T @ y
        self.yy = float(y @ y)

    def solve(self, log_sd: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """``-2 log REML`` (up to a constant), the solution for the intercept + small block,
        the big block's solution, and ``(C^-1)_00 * s2e`` (the bias variance)."""
        sd2 = np.exp(2.0 * np.asarray(log_sd, dtype=np.float64))
        s2e = sd2[-1]
        A = self.A.copy()
        k = 1
        for j in self.small:
            idx = np.arange(k, k + self.sizes[j])
            A[idx, idx] += s2e / sd2[j]
            k += self.sizes[j]
        D = self.d + s2e / sd2[self.big]
        BD = self.B.multiply(1.0 / D[None, :]).tocsr()
        S = A - (BD @ self.B.T).toarray()
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:  # numerically indefinite at extreme variance ratios: a finite
            return _PENALTY, np.zeros(len(A)), np.zeros(len(D)), math.nan  # penalty keeps the optimiser's differences finite
        rhs = self.ra - BD @ self.rb
        xa = np.linalg.solve(L.T, np.linalg.solve(L, rhs))
        xb = (self.rb - self.B.T @ xa) / D
        logdetC = 2.0 * np.log(np.diag(L)).sum() + np.log(D).sum()
        q1 = len(A) + len(D)  # 1 + q unknowns
        logdetG = sum(self.sizes[j] * math.log(sd2[j]) for j in range(len(self.sizes)))
        yPy = (self.yy - xa @ self.ra - xb @ self.rb) / s2e
        # log|V| + log|X'V^-1 X| = n log s2e + log|G| + log|C / s2e|
        val = self.n * math.log(s2e) + logdetG + logdetC - q1 * math.log(s2e) + yPy
        e0 = np.zeros(len(A))
        e0[0] = 1.0
        v00 = float(np.linalg.solve(L.T, np.linalg.solve(L, e0))[0]) * s2e
        return float(val), xa, xb, v00

    def terms(self, xa: np.ndarray, xb: np.ndarray) -> list[np.ndarray]:
        """BLUPs of each block in the original block order."""
        out: list[np.ndarray] = [np.zeros(0)] * len(self.sizes)
        out[self.big] = xb
        k = 1
        for j in self.small:
            out[j] = xa[k:k + self.sizes[j]]
            k += self.sizes[j]
        return out


def fit_mixed_effects(residual, event, station=None, min_station_records: int = 2) -> MixedEffectsFit:
    """Decompose residuals into bias, between-event, site and within-event parts (REML).

    Parameters
    ----------
    residual : (n,) total residuals, e.g. ``ln IM_obs - ln IM_pred`` (any log unit; the
        standard deviations come out in the same unit).
    event : (n,) event label of each residual.
    station : (n,) station label, or None (no site term). Stations with fewer than
        ``min_station_records`` records get no site term (their residual stays in ``phi_0``).
    min_station_records : records needed for a site term.

    Returns
    -------
    :class:`MixedEffectsFit`. Raises ``ValueError`` for fewer than 3 finite residuals, mismatched
    lengths, or more than :data:`MAX_LEVELS` events plus stations.
    """
    from scipy.optimize import minimize

    r = np.asarray(residual, dtype=np.float64)
    ev = np.asarray(event)
    if ev.shape != r.shape or r.ndim != 1:
        raise ValueError(f"residual and event must be 1-D of the same length; got {r.shape} and {ev.shape}")
    st = None if station is None else np.asarray(station)
    if st is not None and st.shape != r.shape:
        raise ValueError(f"station must have the length of residual ({r.size}); got {st.shape}")
    ok = np.isfinite(r)
    r, ev = r[ok], ev[ok]
    st = st[ok] if st is not None else None
    if r.size < 3:
        raise ValueError(f"need at least 3 finite residuals; got {r.size}")
    notes: list[str] = []
    ev_labels, ev_idx = _codes(ev)
    blocks, sizes = [ev_idx], [len(ev_labels)]
    st_labels = np.array([], dtype=str)
    if st is not None:
        lab, idx = _codes(st)
        counts = np.bincount(idx, minlength=len(lab))
        rep = counts >= min_station_records
        if rep.any():
            remap = np.full(len(lab), -1)
            remap[rep] = np.arange(int(rep.sum()))
            st_labels = lab[rep]
            blocks.append(remap[idx])
            sizes.append(len(st_labels))
        else:
            notes.append("no station has several records: no site term")
    q = sum(sizes)
    if min(sizes) > MAX_LEVELS:
        raise ValueError(f"{min(sizes)} levels in the smaller random effect exceed the {MAX_LEVELS} "
                         "solved densely; fit a seeded subset of the rows")
    eqs = _Equations(r, blocks, sizes)
    s0 = max(float(np.std(r)), 1e-6)
    x0 = np.log(np.full(len(sizes) + 1, s0 / math.sqrt(len(sizes) + 1)))
    lo, hi = math.log(s0) - 9.0, math.log(s0) + 3.0  # sd from 1e-4 to 20 times the raw spread
    res = minimize(lambda x: eqs.solve(x)[0], x0, method="L-BFGS-B", bounds=[(lo, hi)] * len(x0))
    _, xa, xb, v00 = eqs.solve(res.x)
    sd = np.where(res.x <= lo + 1e-3, 0.0, np.exp(res.x))  # at the lower bound: a zero variance
    terms = eqs.terms(xa, xb)
    eta = terms[0]
    site = terms[1] if len(sizes) > 1 else np.zeros(0)
    bias = float(xa[0])
    within = r - bias - eta[ev_idx]
    n = r.size
    del q
    return MixedEffectsFit(
        bias=bias, bias_se=math.sqrt(max(v00, 0.0)), tau=float(sd[0]),
        phi_s2s=float(sd[1]) if len(sizes) > 1 else None, phi_0=float(sd[-1]),
        event_terms=dict(zip(ev_labels.tolist(), eta.tolist())),
        site_terms=dict(zip(st_labels.tolist(), site.tolist())),
        within=within, n=int(n), n_events=len(ev_labels), n_stations=len(st_labels),
        converged=bool(res.success), notes=notes)
