"""Travel times of the layered crustal model: analytic cases and a cross-check against TauP."""

import numpy as np
import pytest

from quakesynth.simulate.velocity_model import (
    AK135_CRUST,
    VelocityModel,
    first_arrival,
    travel_times,
)


def test_vertical_ray_is_the_sum_of_layer_times():
    t, p = first_arrival(np.array([30.0]), np.array([0.0]), AK135_CRUST, "S")
    assert t[0] == pytest.approx(20 / 3.46 + 10 / 3.85, rel=1e-9)
    assert p[0] == 0.0


def test_half_space_is_straight_line():
    model = VelocityModel(name="hs", layer_tops_km=(0.0,), vp_kms=(6.0,), vs_kms=(3.5,))
    z, x = np.array([5.0, 12.0, 0.0]), np.array([7.0, 100.0, 40.0])
    t, p = first_arrival(z, x, model, "P")
    np.testing.assert_allclose(t, np.hypot(z, x) / 6.0, rtol=1e-9)
    np.testing.assert_allclose(p, x / np.hypot(z, x) / 6.0, rtol=1e-6)


def test_head_wave_beyond_crossover():
    """Two layers: far away the refraction along the interface arrives first."""
    model = VelocityModel(name="2l", layer_tops_km=(0.0, 30.0), vp_kms=(6.0, 8.0), vs_kms=(3.5, 4.5))
    z, x = 10.0, 300.0
    t, p = first_arrival(np.array([z]), np.array([x]), model, "P")
    eta = np.sqrt(1 / 6.0**2 - 1 / 8.0**2)
    t_head = x / 8.0 + (30.0 + 20.0) * eta
    assert t[0] == pytest.approx(t_head, rel=1e-9)
    assert p[0] == pytest.approx(1 / 8.0)
    assert t_head < np.hypot(z, x) / 6.0


def test_matches_obspy_taup_ak135():
    from obspy.taup import TauPyModel

    taup = TauPyModel("ak135")
    for z, r in [(10.0, 30.0), (10.0, 120.0), (60.0, 100.0), (5.0, 190.0)]:
        tt = travel_times(np.array([z]), np.array([r]))
        deg = tt["epicentral_km"][0] / 111.19
        arr = taup.get_travel_times(source_depth_in_km=z, distance_in_degree=deg,
                                    phase_list=["p", "P", "Pn", "s", "S", "Sn"])
        tp = min(a.time for a in arr if a.name.upper().startswith("P"))
        ts = min(a.time for a in arr if a.name.upper().startswith("S"))
        # flat layers vs spherical gradients: agree to 0.5 % (a few tenths of a second)
        assert tt["tP"][0] == pytest.approx(tp, rel=5e-3)
        assert tt["tS"][0] - tt["tP"][0] == pytest.approx(ts - tp, rel=1e-2)


def test_bad_geometry_is_named():
    with pytest.raises(ValueError, match="smaller than the depth"):
        travel_times(np.array([50.0]), np.array([20.0]))
    with pytest.raises(ValueError, match="depth_km"):
        first_arrival(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="layer_tops_km"):
        VelocityModel(layer_tops_km=(0.0, 10.0, 5.0))
