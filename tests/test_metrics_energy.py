"""Arias intensity, Husid curve, significant durations and CAV: analytic cases and eqsig."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.metrics.energy import (
    arias_curve,
    arias_intensity,
    cav,
    d5_75,
    d5_95,
    energy_measures,
    husid,
    rotd_arias,
    significant_duration,
)
from quakesynth.records import G


def test_arias_and_cav_analytic():
    fs = 200.0
    t = np.arange(0, 10 + 1 / fs, 1 / fs)
    acc = 3.0 * np.sin(2 * np.pi * t)  # 10 whole cycles
    # int a^2 dt = 9 * 10 / 2 = 45; pi/(2g) * 45
    assert arias_intensity(acc, fs) == pytest.approx(np.pi / (2 * G) * 45, rel=1e-6)
    # int |a| dt = 3 * 10 * 2/pi
    assert cav(acc, fs) == pytest.approx(3 * 10 * 2 / np.pi, rel=1e-4)
    curve = arias_curve(acc, fs)
    assert curve[0] == 0 and curve[-1] == pytest.approx(arias_intensity(acc, fs))
    assert (np.diff(curve) >= 0).all()


def test_durations_of_uniform_energy():
    """Constant |a|: the Husid curve is a straight line, D5-95 = 0.9 T, D5-75 = 0.7 T."""
    fs = 100.0
    acc = np.ones(2001)  # 20 s
    h = husid(acc, fs)
    np.testing.assert_allclose(h, np.linspace(0, 1, 2001), atol=1e-12)
    assert d5_95(acc, fs) == pytest.approx(18.0, abs=2 / fs)
    assert d5_75(acc, fs) == pytest.approx(14.0, abs=2 / fs)
    assert significant_duration(acc, fs, 0.2, 0.8) == pytest.approx(12.0, abs=2 / fs)


def test_batching_and_zero_trace(rng):
    acc = rng.standard_normal((2, 3, 300))
    assert arias_intensity(acc, 50.0).shape == (2, 3)
    assert d5_95(acc, 50.0).shape == (2, 3)
    with pytest.warns(RuntimeWarning, match="zero"):
        d = d5_95(np.zeros((2, 100)), 50.0)
    assert np.isnan(d).all()
    en = energy_measures(acc, 50.0)
    np.testing.assert_allclose(en["AI"], arias_intensity(acc, 50.0), rtol=1e-12)
    np.testing.assert_allclose(en["CAV"], cav(acc, 50.0), rtol=1e-12)
    np.testing.assert_array_equal(en["D5-75"], d5_75(acc, 50.0))
    np.testing.assert_array_equal(en["D5-95"], d5_95(acc, 50.0))


def test_rotd_arias_is_a_rotation_of_the_components(rng):
    fs = 100.0
    a1, a2 = rng.standard_normal((2, 1000))
    rot = rotd_arias(a1, a2, fs, (0.0, 50.0, 100.0))
    theta = np.radians(np.arange(180))
    ia = np.array([arias_intensity(np.cos(t) * a1 + np.sin(t) * a2, fs) for t in theta])
    np.testing.assert_allclose(rot, np.percentile(ia, [0, 50, 100]), rtol=1e-10)
    # the trace of the quadratic form: IA(theta) + IA(theta + 90) = IA1 + IA2
    assert ia[0] + ia[90] == pytest.approx(arias_intensity(a1, fs) + arias_intensity(a2, fs))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="acc"):
        arias_intensity(np.array([1.0, np.nan]), 100.0)
    with pytest.raises(ValueError, match="fs"):
        cav(np.ones(10), 0)
    with pytest.raises(ValueError, match="start"):
        significant_duration(np.ones(10), 100.0, 0.9, 0.1)
    with pytest.raises(ValueError, match="g must"):
        arias_intensity(np.ones(10), 100.0, g=-9.81)


@pytest.mark.shared
def test_cross_check_against_eqsig(knet_dir):
    """Same numbers as eqsig on real records (its g = 9.81 m/s^2 is passed explicitly)."""
    pytest.importorskip("eqsig")
    import eqsig.im
    import obspy

    for path in sorted((knet_dir / "us2000cnnl").glob("AOM00[12]*.[NE][SW]")):
        tr = obspy.read(str(path), format="KNET")[0]
        acc = tr.data * tr.stats.calib
        acc = acc - acc[:500].mean()
        dt = tr.stats.delta
        sig = eqsig.AccSignal(acc, dt)
        fs = tr.stats.sampling_rate
        assert arias_intensity(acc, fs, g=9.81) == pytest.approx(
            eqsig.im.calc_arias_intensity(sig)[-1], rel=1e-10)
        assert cav(acc, fs) == pytest.approx(eqsig.im.calc_cav(sig)[-1], rel=1e-10)
        for start, end in ((0.05, 0.95), (0.05, 0.75)):
            assert significant_duration(acc, fs, start, end) == pytest.approx(
                eqsig.im.calc_sig_dur(sig, start, end), abs=1e-9)
