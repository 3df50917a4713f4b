"""Distribution metrics: Frechet distances, residuals, model probability, JS, NCC, classifiers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from quakesynth.metrics.distribution import (
    accuracy,
    average_model_probability,
    average_model_probability_parametric,
    confusion_matrix,
    confusion_ncc,
    embedding_frechet_distance,
    embedding_statistics,
    frechet_distance,
    frechet_distance_diagonal,
    frechet_distance_samples,
    histogram_similarity,
    jensen_shannon_similarity,
    log_fas_frechet_distance,
    log_residuals,
    residual_statistics,
    shapiro_wilk_log,
    softmax,
)


def test_frechet_identical_sets_is_zero(rng):
    x = rng.standard_normal((200, 6))
    assert frechet_distance_samples(x, x) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance_samples(x, x, kind="diagonal") == pytest.approx(0.0, abs=1e-12)
    assert embedding_frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_frechet_shifted_gaussian_is_squared_shift(rng):
    x = rng.standard_normal((500, 4))
    dmu = np.array([0.5, -1.0, 2.0, 0.0])
    assert frechet_distance_samples(x, x + dmu) == pytest.approx(dmu @ dmu, rel=1e-9)
    assert frechet_distance_samples(x, x + dmu, kind="diagonal") == pytest.approx(dmu @ dmu, rel=1e-9)
    mu, cov = embedding_statistics(x)
    assert frechet_distance(mu, cov, mu + dmu, cov) == pytest.approx(dmu @ dmu, rel=1e-9)


def test_frechet_closed_forms():
    # 1-D: (mu1 - mu2)^2 + (s1 - s2)^2 for both forms
    assert frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(1 + 1)
    assert frechet_distance_diagonal([0.0], [2.0], [1.0], [1.0]) == pytest.approx(2.0)
    # commuting covariances: sum (sqrt(a_i) - sqrt(b_i))^2
    a, b = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 4.0, 1.0])
    assert frechet_distance(np.zeros(3), a, np.zeros(3), b) == pytest.approx(1 + 0 + 4)


def test_frechet_is_real_for_singular_covariances(rng):
    """Rank-deficient covariances (fewer samples than features) stay real and non-negative,
    where scipy.linalg.sqrtm(C1 @ C2) goes complex."""
    x = rng.standard_normal((5, 30))
    y = rng.standard_normal((5, 30)) + 0.1
    fd = frechet_distance_samples(x, y)
    assert np.isfinite(fd) and fd >= 0 and isinstance(fd, float)


def test_log_fas_frechet(rng):
    x = rng.standard_normal((40, 512))
    assert log_fas_frechet_distance(x, x, 100.0) == pytest.approx(0.0, abs=1e-12)
    # scaling by e shifts every log-amplitude by 1: distance = number of frequencies
    d = log_fas_frechet_distance(x, np.e * x, 100.0, fmin=1.0, fmax=10.0)
    nf = ((np.fft.rfftfreq(512, 0.01) >= 1) & (np.fft.rfftfreq(512, 0.01) <= 10)).sum()
    assert d == pytest.approx(nf, rel=1e-9)
    assert log_fas_frechet_distance(x[:, :256], x[:, :256], 100.0, kind="full") == pytest.approx(0.0, abs=1e-6)


def test_residual_statistics_between_within(rng):
    n_ev, n_per = 30, 20
    tau, phi = 0.4, 0.6
    ev = np.repeat(np.arange(n_ev), n_per)
    eta = rng.normal(0, tau, n_ev)
    r = 0.1 + eta[ev] + rng.normal(0, phi, ev.size)
    st = residual_statistics(r, ev)
    assert st["bias"] == pytest.approx(r.mean())
    assert st["sigma"] == pytest.approx(r.std(ddof=1))
    assert st["tau"] == pytest.approx(tau, rel=0.3) and st["phi"] == pytest.approx(phi, rel=0.1)
    assert st["n_events"] == n_ev
    np.testing.assert_allclose(log_residuals([np.e, 1.0], [1.0, 1.0]), [1.0, 0.0])


def test_shapiro_wilk_log(rng):
    w, p = shapiro_wilk_log(np.exp(rng.normal(size=300)))
    assert p > 0.01 and 0.9 < w <= 1
    w2, p2 = shapiro_wilk_log(rng.uniform(1, 2, size=300) ** 8)
    assert p2 < 1e-3


def test_average_model_probability(rng):
    """Eq. 13: mean normal density of observed ln IM under each bin's model distribution."""
    mu = np.array([0.0, 1.0])
    sig = np.array([0.5, 0.8])
    bm = np.repeat([0, 1], 20000)
    im_model = np.exp(rng.normal(mu[bm], sig[bm]))
    obs = np.array([0.9, 1.5, 3.0])
    bo = np.array([0, 0, 1])
    got = average_model_probability(obs, bo, im_model, bm)
    expect0 = norm.pdf(np.log(obs[:2]), 0.0, 0.5).mean()
    expect1 = norm.pdf(np.log(3.0), 1.0, 0.8)
    np.testing.assert_allclose(got, [expect0, expect1], rtol=0.03)
    # parametric (GMM) form
    assert average_model_probability_parametric(obs, np.zeros(3), np.ones(3)) == pytest.approx(
        norm.pdf(np.log(obs)).mean())
    # a bin without observations is NaN
    assert np.isnan(average_model_probability(obs, bo, im_model, bm, n_bins=3)[2])


def test_jensen_shannon_and_histograms(rng):
    p = np.array([1.0, 2.0, 3.0])
    assert jensen_shannon_similarity(p, 10 * p) == pytest.approx(1.0)
    assert jensen_shannon_similarity([1.0, 0.0], [0.0, 1.0]) == pytest.approx(0.0, abs=1e-12)
    x = rng.lognormal(0, 0.5, 5000)
    assert histogram_similarity(x, rng.lognormal(0, 0.5, 5000), log=True) > 0.98
    assert histogram_similarity(x, rng.lognormal(2, 0.5, 5000), log=True) < 0.3


def test_confusion_ncc_and_classifier_helpers():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    c = confusion_matrix(y, pred)
    np.testing.assert_array_equal(c, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    np.testing.assert_allclose(confusion_matrix(y, pred, normalize="true").sum(1), 1.0)
    assert confusion_ncc(c, 3 * c) == pytest.approx(1.0)
    assert confusion_ncc(c, -c) == pytest.approx(-1.0)
    assert accuracy(y, pred) == pytest.approx(4 / 6)
    logits = np.eye(3)[pred] * 5
    assert accuracy(y, logits) == pytest.approx(4 / 6)
    np.testing.assert_allclose(softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="x and y"):
        frechet_distance_samples(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance_samples(np.ones((1, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="kind"):
        frechet_distance_samples(np.ones((3, 2)), np.ones((3, 2)), kind="kl")
    with pytest.raises(ValueError, match="positive"):
        log_residuals([-1.0], [1.0])
    with pytest.raises(ValueError, match="event_id"):
        residual_statistics(np.ones(4), event_id=[1, 2])
    with pytest.raises(ValueError, match="p and q"):
        jensen_shannon_similarity([1.0, -1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="residuals"):
        residual_statistics([1.0, np.nan])
    with pytest.raises(ValueError, match="integers"):
        average_model_probability([1.0], [0.5], [1.0, 2.0], [0, 0])
