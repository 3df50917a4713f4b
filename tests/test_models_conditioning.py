"""Conditioning normaliser: training-split statistics, transforms, subsets, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quakesynth.models.conditioning import TQDNE_VARIABLES, Conditioning, ConditioningConfig


def _table(rng, n=200):
    return np.stack([rng.uniform(5, 200, n), rng.uniform(4, 7.5, n), rng.uniform(150, 1200, n),
                     rng.uniform(2, 60, n), rng.uniform(20, 300, n)], axis=1)


def test_zscore_with_log_transforms(rng):
    t = _table(rng)
    c = Conditioning.fit(t, ConditioningConfig())
    assert c.variables == TQDNE_VARIABLES
    assert c.transforms == ("log10", "none", "log10", "none", "none")
    z = c(t)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
    np.testing.assert_allclose(z[:, 0], (np.log10(t[:, 0]) - np.log10(t[:, 0]).mean()) / np.log10(t[:, 0]).std(), rtol=1e-5)
    np.testing.assert_allclose(c.denormalise(z), t, rtol=1e-5)
    assert c.ranges["magnitude"] == (t[:, 1].min(), t[:, 1].max())


def test_minmax_maps_training_range_to_unit_interval(rng):
    t = _table(rng)
    c = Conditioning.fit(t, ConditioningConfig(normalisation="minmax", log10=()))
    z = c(t)
    np.testing.assert_allclose(z.min(0), -1, atol=1e-6)
    np.testing.assert_allclose(z.max(0), 1, atol=1e-6)


def test_subsets_and_extra_columns_in_any_order(rng):
    cfg = ConditioningConfig(variables=("magnitude", "path_rup_distance_km"), log10=("distance", "vs30"))
    c = Conditioning.fit(np.stack([rng.uniform(4, 7, 50), rng.uniform(1, 100, 50)], 1), cfg)
    assert c.transforms == ("none", "none") and c(np.array([[5.5, 10.0]])).shape == (1, 2)
    with pytest.raises(ValueError, match="shape"):
        c(np.zeros((3, 5)))


def test_missing_values_are_ignored_in_stats_then_imputed_or_dropped(rng):
    t = _table(rng, 50)
    t[3, 4] = np.nan
    cfg = ConditioningConfig()
    c = Conditioning.fit(t, cfg)
    assert np.isfinite(c.shift).all()
    with pytest.warns(UserWarning, match="imputed"):
        z, keep = Conditioning.fill_missing(c(t), cfg)
    assert keep.all() and z[3, 4] == 0
    with pytest.warns(UserWarning, match="dropped"):
        z, keep = Conditioning.fill_missing(c(t), ConditioningConfig(missing="drop"))
    assert len(z) == 49 and not keep[3]


def test_bad_input_named():
    with pytest.raises(ValueError, match="cannot be log10"):
        Conditioning.fit(np.array([[-1.0, 5, 300, 10, 100], [10, 5, 300, 10, 100]]), ConditioningConfig())
    with pytest.raises(ValueError, match="duplicates"):
        ConditioningConfig(variables=("magnitude", "magnitude"))
    with pytest.raises(ValueError, match="normalisation"):
        ConditioningConfig(normalisation="rank")


def test_json_round_trip_and_imported_mean_std_form(rng):
    c = Conditioning.fit(_table(rng), ConditioningConfig())
    again = Conditioning.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    from quakesynth.models.tqdne_import import TQDNE_CONDITIONING

    ref = Conditioning.from_dict(TQDNE_CONDITIONING)
    # the reference normalises km * 1e-3 with (0.10196..., 0.04078...): the same numbers
    d_km = 120.0
    z = ref(np.array([[d_km, 5.0, 400.0, 20.0, 90.0]]))
    assert z[0, 0] == pytest.approx((d_km * 1e-3 - 0.10196523161124325) / 0.040784282611932066, rel=1e-6)
    assert ref.ranges["magnitude"] == (4.0, 9.1)
