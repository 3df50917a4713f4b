"""Evaluation helpers on analytic cases."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.evaluate.physics import (
    hf_coherence,
    phase_randomised,
    residual_oracles,
    summarise,
    trace_metrics,
)
from quakesynth.physics.data import (
    denormalise_velocity,
    fit_normalisation,
    normalise_velocity,
    source_inputs,
    split_indices,
)


def test_trace_metrics_perfect_and_scaled():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((2, 3, 200))
    m = trace_metrics(truth, truth, 20.0)
    np.testing.assert_allclose(m["rmae"], 0, atol=1e-12)
    np.testing.assert_allclose(m["EG"], 10, atol=1e-9)
    np.testing.assert_allclose(m["PG"], 10, atol=1e-9)
    m2 = trace_metrics(2 * truth, truth, 20.0)
    np.testing.assert_allclose(m2["bias"], 1.0, atol=1e-9)  # twice the amplitude: bias +1 in every band
    np.testing.assert_allclose(m2["PG"], 10, atol=1e-9)  # same phase
    s = summarise(m2, "ENZ")
    assert s["E"]["bias_0"] == pytest.approx(1.0) and set(s) == {"E", "N", "Z"}
    assert summarise(m2, "ENZ", mask=np.array([True, False]))["Z"]["rmae"] == pytest.approx(1.0)


@pytest.mark.parametrize("T", [400, 401])
def test_phase_randomised_keeps_the_amplitude_spectrum_and_loses_the_timing(T):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, T)) + 0.3
    y = phase_randomised(x, seed=5)
    np.testing.assert_allclose(np.abs(np.fft.rfft(y)), np.abs(np.fft.rfft(x)), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(y.mean(axis=-1), x.mean(axis=-1), atol=1e-12)  # DC kept
    np.testing.assert_array_equal(y, phase_randomised(x, seed=5))
    xc, yc = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    corr = (xc * yc).sum(-1) / np.sqrt((xc**2).sum(-1) * (yc**2).sum(-1))
    assert np.abs(corr).max() < 0.25  # the timing is gone


def test_residual_oracles_limits_and_spectra():
    fs, T = 20.0, 320
    t = np.arange(T) / fs
    rng = np.random.default_rng(3)
    pred = np.sin(2 * np.pi * 0.3 * t) * np.exp(-((t - 6) / 2) ** 2) + 0.01 * rng.standard_normal((2, 3, T))
    truth = pred + 0.5 * np.sin(2 * np.pi * 1.2 * t) * np.exp(-((t - 7) / 1) ** 2)
    o = residual_oracles(pred, truth, fs, f_split=0.0)
    np.testing.assert_allclose(o["exact above"], truth, atol=1e-12)  # the whole residual
    r = truth - pred
    for key in ("random phase", "random phase above"):  # above 0 Hz = everywhere
        np.testing.assert_allclose(np.abs(np.fft.rfft(o[key] - pred)), np.abs(np.fft.rfft(r)), atol=1e-9)
    np.testing.assert_allclose(residual_oracles(pred, truth, fs, f_split=fs)["exact above"], pred, atol=1e-12)
    # the exact correction is perfect in phase, the random-phase one is not
    assert trace_metrics(o["exact above"], truth, fs)["PG"].min() > 9.99
    assert trace_metrics(o["random phase"], truth, fs)["PG"].max() < 9.9
    mid = residual_oracles(pred, truth, fs, f_split=0.8)
    f = np.fft.rfftfreq(T, 1 / fs)
    added = np.fft.rfft(mid["exact above"] - pred)
    np.testing.assert_allclose(added[..., f < 0.8], 0, atol=1e-9)  # below the split: the prediction
    np.testing.assert_allclose(added[..., f >= 0.8], np.fft.rfft(r)[..., f >= 0.8], atol=1e-9)
    added = np.fft.rfft(mid["random phase above"] - pred)
    np.testing.assert_allclose(added[..., f < 0.8], 0, atol=1e-9)
    np.testing.assert_allclose(np.abs(added), np.abs(np.fft.rfft(r)) * (f >= 0.8), atol=1e-9)


def test_hf_coherence_limits():
    rng = np.random.default_rng(1)
    common = rng.standard_normal(400)
    same = np.broadcast_to(common, (2, 3, 6, 6, 400))
    np.testing.assert_allclose(hf_coherence(same, 20.0, (2.0, 5.0), 3), 1.0, atol=1e-9)
    indep = rng.standard_normal((4, 3, 6, 6, 400))
    assert np.abs(hf_coherence(indep, 20.0, (2.0, 5.0), 3)).max() < 0.1


def test_split_indices_disjoint_and_complete():
    s = split_indices(20, (0.7, 0.15, 0.15), seed=1)
    allidx = np.concatenate(list(s.values()))
    assert sorted(allidx.tolist()) == list(range(20))
    with pytest.raises(ValueError, match="fractions"):
        split_indices(10, (0.5, 0.5, 0.5))


def test_velocity_normalisation_round_trip_and_source_inputs():
    from quakesynth.simulate.wave3d import moment_tensor

    rng = np.random.default_rng(2)
    u = (1e-3 * rng.standard_normal((3, 3, 2, 2, 20))).astype(np.float32)
    n = fit_normalisation(rng.uniform(1500, 4500, (3, 4, 4, 4)), u, (4800.0, 4800.0, 2400.0))
    v = normalise_velocity(u, n)
    assert v.dtype == np.float32 and float(np.std(v)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(denormalise_velocity(v, n), u, rtol=1e-6, atol=0)
    source = np.array([[1200.0, 2400.0, -1800.0, 30.0, 60.0, 270.0]])
    position, moment = source_inputs(source, n)
    np.testing.assert_allclose(position, [[0.25, 0.5, -0.75]])
    np.testing.assert_allclose(moment[0], moment_tensor(30.0, 60.0, 270.0), atol=1e-6)
    # rake + 180 deg flips the moment tensor (so uniform rakes average to a zero wavefield)
    flipped = source_inputs(source + [0, 0, 0, 0, 0, -180.0], n)[1]
    np.testing.assert_allclose(flipped, -moment, atol=1e-6)
    with pytest.raises(ValueError, match="source"):
        source_inputs(source[:, :5], n)
