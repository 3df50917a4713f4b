"""Evaluation helpers on analytic cases."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.physics.data import split_indices
from quakesynth.physics.evaluate import hf_coherence, summarise, trace_metrics


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
