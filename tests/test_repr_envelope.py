"""Moving-average envelope representation: exact inverse, envelope properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quakesynth.repr.envelope import EnvelopeConfig, MovingAverageEnvelope


def test_round_trip_is_exact_and_shapes(rng):
    rep = MovingAverageEnvelope(EnvelopeConfig(window=50, n_samples=1000))
    x = rng.normal(size=(4, 3, 1000)) * np.exp(-np.arange(1000) / 300)
    r = rep.forward(x)
    assert r.shape == (4, 6, 1000) and r.dtype == np.float64
    assert np.allclose(rep.inverse(r), x, rtol=1e-12, atol=1e-300)
    t = rep.forward(torch.from_numpy(x).float())
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert torch.allclose(rep.inverse(t), torch.from_numpy(x).float(), rtol=1e-5, atol=1e-9)


def test_envelope_of_a_constant_amplitude_signal():
    """A +-A square wave has envelope A everywhere (edges included) and |x/e| = 1."""
    x = np.where(np.arange(400) % 2, 1.0, -1.0)[None] * 0.3
    rep = MovingAverageEnvelope(EnvelopeConfig(window=20, n_samples=400))
    e = rep.envelope(x)
    assert np.allclose(e, 0.3, rtol=1e-9)
    assert np.allclose(np.abs(rep.forward(x)[0]), 1.0)


def test_uses_the_metrics_envelope_without_edge_bias():
    """The envelope is metrics.spectra.moving_average_envelope (edges inside the record) + eps."""
    from quakesynth.metrics.spectra import moving_average_envelope

    x = np.random.default_rng(3).normal(size=(2, 300))
    rep = MovingAverageEnvelope(EnvelopeConfig(window=31, n_samples=300, eps=1e-10))
    e = rep.envelope(x)
    assert np.allclose(e, moving_average_envelope(x, kernel=31, edges="inside") + 1e-10)
    assert float(e[0, 0]) == pytest.approx(float(np.abs(x[0, :16]).mean()) + 1e-10)


def test_invalid_input():
    with pytest.raises(ValueError, match="window"):
        EnvelopeConfig(window=0)
    rep = MovingAverageEnvelope(EnvelopeConfig(n_samples=100))
    with pytest.raises(ValueError, match="shape"):
        rep.forward(np.zeros((3, 99)))
    with pytest.raises(ValueError, match="2C"):
        rep.inverse(np.zeros((3, 100)))
