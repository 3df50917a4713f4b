"""Hypocentral distance to Rjb / Rrup: the point source exactly, the finite rupture by its limits."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.gmm import rhyp_to_repi, rhyp_to_rjb, rhyp_to_rrup, rupture_dimensions


def test_point_source_is_exact_geometry():
    rhyp = np.array([10.0, 50.0, 100.0, 30.0])
    depth = np.array([10.0, 30.0, 60.0, 0.0])
    np.testing.assert_allclose(rhyp_to_rjb(rhyp, depth), [0.0, 40.0, 80.0, 30.0])
    np.testing.assert_allclose(rhyp_to_repi(rhyp, depth), [0.0, 40.0, 80.0, 30.0])
    np.testing.assert_allclose(rhyp_to_rrup(rhyp, depth), rhyp)
    # broadcasting: one depth for a grid of distances
    assert rhyp_to_rjb(np.array([[20.0], [40.0]]), np.array([5.0, 10.0])).shape == (2, 2)


def test_wells_coppersmith_dimensions():
    L, W = rupture_dimensions([5.0, 6.0, 7.0])
    # Table 2A, all slip types: log10 RLD = -2.44 + 0.59 M, log10 RW = -1.01 + 0.32 M
    np.testing.assert_allclose(np.log10(L), -2.44 + 0.59 * np.array([5.0, 6.0, 7.0]))
    np.testing.assert_allclose(np.log10(W), -1.01 + 0.32 * np.array([5.0, 6.0, 7.0]))


def test_finite_rupture_limits_and_bounds():
    rhyp = np.linspace(12.0, 300.0, 50)
    depth = 10.0
    # a tiny rupture is a point source
    np.testing.assert_allclose(rhyp_to_rjb(rhyp, depth, magnitude=1.0, method="finite"),
                               rhyp_to_rjb(rhyp, depth), rtol=1e-3, atol=5e-3)
    np.testing.assert_allclose(rhyp_to_rrup(rhyp, depth, magnitude=1.0, method="finite"), rhyp, rtol=1e-2)
    for M in (1.0, 5.0, 6.5, 8.0):
        rjb = rhyp_to_rjb(rhyp, depth, magnitude=M, method="finite")
        rrup = rhyp_to_rrup(rhyp, depth, magnitude=M, method="finite")
        # the hypocentre lies on the rupture, so no rupture point is farther from it than L and W allow
        assert np.all(rhyp - rrup <= np.hypot(*rupture_dimensions(M)) + 1e-9)
        assert np.all(rjb <= rhyp_to_rjb(rhyp, depth) + 1e-9)  # a rupture is never farther than its hypocentre
        assert np.all(rrup <= rhyp + 1e-9)
        assert np.all(rrup >= rjb)
        assert np.all(np.diff(rjb) > 0)  # monotone in distance
    # larger magnitude, longer rupture, shorter average distance
    d = [float(rhyp_to_rjb(40.0, 10.0, magnitude=M, method="finite")) for M in (5.0, 6.0, 7.0, 8.0)]
    assert d == sorted(d, reverse=True)
    # far away the rupture size hardly matters
    far = rhyp_to_rjb(1000.0, 10.0, magnitude=6.0, method="finite")
    assert float(far) == pytest.approx(float(rhyp_to_rjb(1000.0, 10.0)), rel=0.01)


def test_finite_rupture_azimuth_average_against_direct_quadrature():
    # M 7: L ~ 50 km, W ~ 17 km; a site 30 km from the epicentre, focal depth 15 km
    M, repi, depth = 7.0, 30.0, 15.0
    L, W = rupture_dimensions(M)
    ztop = max(depth - W / 2, 0.0)
    phi = np.linspace(0, 2 * np.pi, 200001)[:-1]
    x, y = repi * np.cos(phi), repi * np.sin(phi)
    rjb = np.sqrt(np.maximum(np.abs(x) - L / 2, 0) ** 2 + y ** 2)
    rhyp = np.hypot(repi, depth)
    assert float(rhyp_to_rjb(rhyp, depth, M, method="finite")) == pytest.approx(rjb.mean(), rel=1e-3)
    assert float(rhyp_to_rrup(rhyp, depth, M, method="finite")) == pytest.approx(
        np.sqrt(rjb ** 2 + ztop ** 2).mean(), rel=1e-3)


def test_bad_inputs_raise_valueerror():
    with pytest.raises(ValueError, match="shorter than depth_km"):
        rhyp_to_rjb(5.0, 10.0)
    with pytest.raises(ValueError, match="rhyp_km must be finite; got nan"):
        rhyp_to_rjb([20.0, np.nan], 10.0)
    with pytest.raises(ValueError, match="depth_km must be >= 0"):
        rhyp_to_rrup(20.0, -1.0)
    with pytest.raises(ValueError, match="magnitude is required"):
        rhyp_to_rjb(20.0, 10.0, method="finite")
    with pytest.raises(ValueError, match="method must be one of"):
        rhyp_to_rjb(20.0, 10.0, method="line")
    # rounding: a hypocentral distance a hair shorter than the depth is the epicentre
    assert float(rhyp_to_rjb(9.9999999, 10.0)) == 0.0
