"""Site response of the simulator: BSSA14 coefficients, layer resonance, station tables."""

import numpy as np
import pytest

from quakesynth.simulate.site import (
    BSSA14_SITE,
    STATION_COLUMNS,
    StationConfig,
    bssa14_ln_site_amplification,
    layer_transfer_function,
    make_station_table,
)


def test_bssa14_coefficients_match_openquake():
    pytest.importorskip("openquake.hazardlib", reason="OpenQuake (extra 'gmm') is not installed")
    from openquake.hazardlib.gsim.boore_2014 import BooreEtAl2014
    from openquake.hazardlib.imt import SA

    for period, c, vc, f4, f5 in BSSA14_SITE:
        coeffs = BooreEtAl2014.COEFFS[SA(float(period))]
        assert (coeffs["c"], coeffs["Vc"], coeffs["f4"], coeffs["f5"]) == pytest.approx((c, vc, f4, f5), rel=1e-6)


def test_bssa14_term_is_zero_at_reference_and_grows_on_soft_soil():
    f = np.array([0.3, 1.0, 5.0])
    ln = bssa14_ln_site_amplification(f, np.array([760.0, 400.0, 200.0]), 0.0)
    np.testing.assert_allclose(ln[0], 0.0, atol=1e-12)
    assert np.all(ln[2] > ln[1]) and np.all(ln[1] > 0)
    # strong rock shaking de-amplifies soft soil at short periods (nonlinear term), not at 760
    strong = bssa14_ln_site_amplification(f, np.array([760.0, 200.0]), 0.5)
    assert strong[0] == pytest.approx(ln[0], abs=1e-12)
    assert strong[1, 2] < ln[2, 2] - 0.2


def test_layer_resonance_peaks_at_f0():
    f = np.linspace(0.05, 20, 8000)
    alpha, xi = np.array([0.25, 0.25]), np.array([0.0, 0.03])
    h = layer_transfer_function(f, np.array([2.0, 2.0]), alpha, xi)
    assert f[np.argmax(h[1])] == pytest.approx(2.0, rel=0.02)
    assert h[0].max() == pytest.approx(1 / 0.25, rel=1e-3)  # undamped: 1/alpha at f0 (and odd harmonics)
    assert h[1].max() == pytest.approx(1 / (0.25 + np.pi * 0.03 / 2), rel=0.05)
    assert h[1, 0] == pytest.approx(1.0, abs=1e-3)  # no amplification as f -> 0
    none = layer_transfer_function(f, np.array([np.nan]), np.array([np.nan]), np.array([np.nan]))
    np.testing.assert_array_equal(none, 1.0)


def test_station_table_is_deterministic_and_complete():
    cfg = StationConfig(n_stations=200)
    a, b = make_station_table(cfg, seed=3), make_station_table(cfg, seed=3)
    assert list(a.columns) == list(STATION_COLUMNS)
    assert a.equals(b) and not a.equals(make_station_table(cfg, seed=4))
    assert a["station_code"].is_unique
    assert a["vs30_mps"].between(cfg.vs30_min_mps, cfg.vs30_max_mps).all()
    res = a["f0_hz"].notna()
    assert 0.2 < res.mean() < 0.6  # about resonance_fraction of the soil sites
    assert (a.loc[res, "vs30_mps"] < 760).all()
    assert a.loc[res, "f0_hz"].between(cfg.f0_min_hz, cfg.f0_max_hz).all()
    assert a.loc[~res, ["impedance_ratio", "damping"]].isna().all().all()
