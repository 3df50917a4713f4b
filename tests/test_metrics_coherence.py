"""Inter-sensor coherence on analytic wavefields (quakesynth.metrics.coherence)."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.metrics.coherence import spatial_coherence


def _mix(alpha: float, n: int = 2, S: int = 6, T: int = 4096, seed: int = 0) -> np.ndarray:
    """a_i = sqrt(alpha) s + sqrt(1 - alpha) n_i on an S x S grid, 2 components: (n, 2, S, S, T)."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n, 2, 1, 1, T))
    noise = rng.standard_normal((n, 2, S, S, T))
    return np.sqrt(alpha) * s + np.sqrt(1 - alpha) * noise


@pytest.mark.parametrize("measure", ["correlation", "coherency"])
def test_identical_traces_have_coherence_one(measure):
    u = np.broadcast_to(_mix(1.0, S=1), (2, 2, 5, 5, 4096))
    np.testing.assert_allclose(spatial_coherence(u, 100.0, (2.0, 20.0), 4, measure=measure), 1.0, atol=1e-9)


def test_independent_noise_has_coherence_near_zero():
    u = _mix(0.0)
    assert np.abs(spatial_coherence(u, 100.0, (2.0, 20.0), 4)).max() < 0.03
    # the lagged coherency of independent traces is biased to ~sqrt(pi / 4K) (K = 127 segments here)
    c = spatial_coherence(u, 100.0, (2.0, 20.0), 4, measure="coherency")
    assert np.abs(c - np.sqrt(np.pi / (4 * 127))).max() < 0.03


@pytest.mark.parametrize("alpha", [0.3, 0.7])
def test_known_mix_gives_its_fraction_at_every_separation(alpha):
    u = _mix(alpha)
    np.testing.assert_allclose(spatial_coherence(u, 100.0, (2.0, 20.0), 4), alpha, atol=0.03)
    np.testing.assert_allclose(spatial_coherence(u, 100.0, (2.0, 20.0), 4, measure="coherency"), alpha, atol=0.05)


def test_separation_dependence_of_a_smooth_field():
    """A field correlated as exp(-d / 2) along the grid: correlation falls as exp(-d/2)."""
    from quakesynth.models.refiner import sensor_correlation

    S, T = 8, 4096
    R = sensor_correlation(S, S, 2.0, 1.0)
    L = np.linalg.cholesky(R)
    z = np.random.default_rng(1).standard_normal((2, 1, S * S, T))
    u = np.einsum("ij,ncjt->ncit", L, z).reshape(2, 1, S, S, T)
    c = spatial_coherence(u, 100.0, (2.0, 20.0), 4)[0]
    np.testing.assert_allclose(c, np.exp(-np.arange(1, 5) / 2.0), atol=0.04)


def test_bad_arguments_name_the_argument():
    u = np.zeros((1, 1, 4, 4, 256))
    with pytest.raises(ValueError, match="u must be"):
        spatial_coherence(u[0], 100.0, (1.0, 5.0))
    with pytest.raises(ValueError, match="band"):
        spatial_coherence(u, 100.0, (5.0, 1.0), 2)
    with pytest.raises(ValueError, match="max_sep"):
        spatial_coherence(u, 100.0, (1.0, 5.0), 4)
    with pytest.raises(ValueError, match="measure"):
        spatial_coherence(u, 100.0, (1.0, 5.0), 2, measure="xcorr")
