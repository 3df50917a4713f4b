"""The fitted simple ground-motion model of the HighFEM paper (its eqs. 11-12).

A data set's own median trend, used to compute residuals of real and generated records on the
same footing (Bergmeister, Palgunadi et al., "High Resolution Seismic Waveform Generation using
Denoising Diffusion", arXiv:2410.19343):

.. math::

    \\log_{10} Y = c_0 + c_M\\,M + c_R \\log_{10} R_{hyp} + c_V \\log_{10} V_{S30} + \\varepsilon,
    \\qquad \\varepsilon \\sim \\mathcal N(0, \\sigma^2)

fitted by ordinary least squares; the residual of a record is
``delta = log10(Y_obs) - log10(Y_pred)`` and ``sigma`` is the residual standard deviation (with
the ``n - 4`` degrees-of-freedom correction). Units: ``Y`` in whatever unit the caller uses
(g, cm/s...), ``R_hyp`` in km, ``Vs30`` in m/s, magnitude dimensionless; everything in log10.

Several intensity measures can be fitted at once (``log10_im`` of shape (N, K), e.g. PSA at K
periods): the coefficients then have shape (4, K) and ``sigma`` shape (K,).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from quakesynth.plain_json import to_plain

#: coefficient names in order: intercept, magnitude, log10 Rhyp (km), log10 Vs30 (m/s)
COEFFICIENT_NAMES = ("c0", "c_M", "c_R", "c_V")


def _vector(name: str, value: Any, n: int | None = None, positive: bool = False) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one value per record); got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if n is not None and a.size != n:
        raise ValueError(f"{name} has {a.size} values but log10_im has {n} records")
    if not np.all(np.isfinite(a)):
        bad = a[~np.isfinite(a)][0]
        raise ValueError(f"{name} must be finite; got {float(bad)!r} ({int((~np.isfinite(a)).sum())} non-finite)")
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be positive; got {float(a[a <= 0][0])!r}")
    return a


def design_matrix(magnitude, rhyp_km, vs30_mps) -> np.ndarray:
    """The (N, 4) regressors ``[1, M, log10 Rhyp, log10 Vs30]`` of eq. 11 (scalars broadcast)."""
    args = [np.atleast_1d(np.asarray(a, dtype=float)) for a in (magnitude, rhyp_km, vs30_mps)]
    try:
        M, R, V = np.broadcast_arrays(*args)
    except ValueError as e:
        raise ValueError(f"magnitude, rhyp_km, vs30_mps do not broadcast: shapes {[a.shape for a in args]}") from e
    M = _vector("magnitude", M)
    R = _vector("rhyp_km", R, positive=True)
    V = _vector("vs30_mps", V, positive=True)
    return np.column_stack([np.ones_like(M), M, np.log10(R), np.log10(V)])


@dataclass(frozen=True)
class SimpleGMM:
    """``log10 Y = c0 + c_M M + c_R log10 Rhyp + c_V log10 Vs30``, with residual sigma (log10).

    Build it with :meth:`fit`. ``coef`` is (4,) or (4, K); ``sigma`` is a float or (K,);
    ``n`` the number of records fitted.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = 5000
    >>> M, R, V = rng.uniform(4, 7, n), rng.uniform(10, 200, n), rng.uniform(200, 800, n)
    >>> y = -1.0 + 0.5 * M - 1.5 * np.log10(R) - 0.4 * np.log10(V) + rng.normal(0, 0.3, n)
    >>> g = SimpleGMM.fit(y, M, R, V)
    >>> np.round(g.coef, 1).tolist(), round(g.sigma, 1)
    ([-1.0, 0.5, -1.5, -0.4], 0.3)
    """

    coef: np.ndarray  # (4,) or (4, K): c0, c_M, c_R, c_V (log10 units)
    sigma: float | np.ndarray  # residual standard deviation, log10 units
    n: int  # number of records fitted

    @classmethod
    def fit(cls, log10_im, magnitude, rhyp_km, vs30_mps) -> SimpleGMM:
        """Ordinary least squares of ``log10_im`` (N,) or (N, K) on M, log10 Rhyp, log10 Vs30.

        Parameters
        ----------
        log10_im : log10 of the intensity measure(s), one row per record.
        magnitude : (N,) magnitudes.
        rhyp_km : (N,) hypocentral distances, km (> 0).
        vs30_mps : (N,) Vs30, m/s (> 0).

        Raises ValueError on non-finite values, mismatched lengths, fewer than 5 records or a
        rank-deficient design (e.g. a single magnitude).
        """
        y = np.asarray(log10_im, dtype=float)
        if y.ndim not in (1, 2):
            raise ValueError(f"log10_im must have shape (N,) or (N, K); got {y.shape}")
        if y.shape[0] == 0:
            raise ValueError("log10_im is empty: nothing to fit")
        if not np.all(np.isfinite(y)):
            bad = y[~np.isfinite(y)].ravel()[0]
            raise ValueError(f"log10_im must be finite (drop records with zero or missing IMs first); "
                             f"got {float(bad)!r}")
        n = y.shape[0]
        X = np.column_stack([np.ones(n), _vector("magnitude", magnitude, n),
                             np.log10(_vector("rhyp_km", rhyp_km, n, positive=True)),
                             np.log10(_vector("vs30_mps", vs30_mps, n, positive=True))])
        if n < 5:
            raise ValueError(f"need at least 5 records to fit 4 coefficients and a sigma; got {n}")
        coef, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
        if rank < X.shape[1]:
            raise ValueError("the regressors are collinear (e.g. one magnitude, distance or Vs30 for all "
                             "records): the simple GMM cannot be fitted")
        res = y - X @ coef
        sigma = np.sqrt((res ** 2).sum(axis=0) / (n - X.shape[1]))
        return cls(coef=coef, sigma=float(sigma) if y.ndim == 1 else sigma, n=n)

    def predict(self, magnitude, rhyp_km, vs30_mps) -> np.ndarray:
        """log10 median (N,) or (N, K) for scenarios (M, Rhyp in km, Vs30 in m/s)."""
        return design_matrix(magnitude, rhyp_km, vs30_mps) @ self.coef

    def residuals(self, log10_im, magnitude, rhyp_km, vs30_mps) -> np.ndarray:
        """``log10_im - predict(...)`` (log10 units; NaN in ``log10_im`` stays NaN)."""
        y = np.asarray(log10_im, dtype=float)
        pred = self.predict(magnitude, rhyp_km, vs30_mps)
        if y.shape != pred.shape:
            raise ValueError(f"log10_im has shape {y.shape} but the scenarios give {pred.shape}")
        return y - pred

    def coefficients(self) -> dict[str, Any]:
        """``{"c0": ..., "c_M": ..., "c_R": ..., "c_V": ..., "sigma": ...}`` (floats or lists)."""
        out: dict[str, Any] = {k: to_plain(np.asarray(v, dtype=float)) for k, v in zip(COEFFICIENT_NAMES, self.coef)}
        out["sigma"] = to_plain(np.asarray(self.sigma, dtype=float))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (:meth:`from_dict` restores it)."""
        return {**self.coefficients(), "n": self.n, "form": "log10 Y = c0 + c_M M + c_R log10 Rhyp[km] + c_V log10 Vs30[m/s]"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimpleGMM:
        coef = np.array([d[k] for k in COEFFICIENT_NAMES], dtype=float)
        sigma = np.asarray(d["sigma"], dtype=float)
        return cls(coef=coef, sigma=float(sigma) if sigma.ndim == 0 else sigma, n=int(d["n"]))
