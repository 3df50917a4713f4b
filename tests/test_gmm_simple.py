"""The fitted simple GMM (HighFEM eqs. 11-12): recovers known coefficients, residual algebra."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quakesynth.gmm import SimpleGMM

TRUE = np.array([-1.2, 0.55, -1.6, -0.45])  # c0, c_M, c_R, c_V


def _synthetic(rng, n=4000, sigma=0.25, coef=TRUE):
    M = rng.uniform(4.0, 7.5, n)
    R = 10 ** rng.uniform(1.0, 2.5, n)
    V = rng.uniform(150.0, 1200.0, n)
    y = coef[0] + coef[1] * M + coef[2] * np.log10(R) + coef[3] * np.log10(V) + rng.normal(0, sigma, n)
    return y, M, R, V


def test_recovers_known_coefficients_and_sigma(rng):
    y, M, R, V = _synthetic(rng)
    g = SimpleGMM.fit(y, M, R, V)
    # within 4 OLS standard errors (the intercept trades off against c_V: wide error bar)
    X = np.column_stack([np.ones_like(M), M, np.log10(R), np.log10(V)])
    se = g.sigma * np.sqrt(np.diag(np.linalg.inv(X.T @ X)))
    assert np.all(np.abs(g.coef - TRUE) < 4 * se), (g.coef, se)
    np.testing.assert_allclose(g.coef[1:3], TRUE[1:3], atol=0.03)
    assert g.sigma == pytest.approx(0.25, rel=0.05)
    assert g.n == len(y)
    res = g.residuals(y, M, R, V)
    assert abs(res.mean()) < 1e-10  # OLS with an intercept: residuals sum to zero
    assert res.std(ddof=4) == pytest.approx(g.sigma)
    # noise-free data are fitted exactly
    y0 = TRUE[0] + TRUE[1] * M + TRUE[2] * np.log10(R) + TRUE[3] * np.log10(V)
    g0 = SimpleGMM.fit(y0, M, R, V)
    np.testing.assert_allclose(g0.coef, TRUE, atol=1e-10)
    assert g0.sigma < 1e-10


def test_several_ims_at_once_equal_separate_fits(rng):
    y1, M, R, V = _synthetic(rng, n=500)
    y2 = y1 * 0.5 + 0.1 + rng.normal(0, 0.1, 500)
    both = SimpleGMM.fit(np.column_stack([y1, y2]), M, R, V)
    assert both.coef.shape == (4, 2) and both.sigma.shape == (2,)
    for k, y in enumerate((y1, y2)):
        one = SimpleGMM.fit(y, M, R, V)
        np.testing.assert_allclose(both.coef[:, k], one.coef)
        assert both.sigma[k] == pytest.approx(one.sigma)
    assert both.predict(M[:3], R[:3], V[:3]).shape == (3, 2)


def test_predict_broadcasts_and_dict_round_trip(rng):
    y, M, R, V = _synthetic(rng, n=300)
    g = SimpleGMM.fit(y, M, R, V)
    p = g.predict(6.0, np.array([10.0, 100.0]), 400.0)
    assert p.shape == (2,)
    assert p[0] - p[1] == pytest.approx(-g.coef[2])  # one decade of distance
    d = json.loads(json.dumps(g.to_dict()))
    assert set(g.coefficients()) == {"c0", "c_M", "c_R", "c_V", "sigma"}
    g2 = SimpleGMM.from_dict(d)
    np.testing.assert_allclose(g2.predict(M, R, V), g.predict(M, R, V))
    assert g2.sigma == pytest.approx(g.sigma) and g2.n == g.n


def test_bad_input_raises_valueerror(rng):
    y, M, R, V = _synthetic(rng, n=50)
    with pytest.raises(ValueError, match="log10_im must be finite"):
        SimpleGMM.fit(np.r_[y[:-1], -np.inf], M, R, V)
    with pytest.raises(ValueError, match="rhyp_km must be positive"):
        SimpleGMM.fit(y, M, np.r_[R[:-1], 0.0], V)
    with pytest.raises(ValueError, match="vs30_mps has 49 values"):
        SimpleGMM.fit(y, M, R, V[:-1])
    with pytest.raises(ValueError, match="magnitude must be finite"):
        SimpleGMM.fit(y, np.r_[M[:-1], np.nan], R, V)
    with pytest.raises(ValueError, match="at least 5 records"):
        SimpleGMM.fit(y[:4], M[:4], R[:4], V[:4])
    with pytest.raises(ValueError, match="collinear"):
        SimpleGMM.fit(y, np.full_like(M, 6.0), R, V)
    with pytest.raises(ValueError, match="empty"):
        SimpleGMM.fit([], [], [], [])
