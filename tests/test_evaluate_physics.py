"""Evaluation helpers on analytic cases."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.evaluate.physics import hf_coherence, summarise, trace_metrics
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
