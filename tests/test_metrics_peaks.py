"""Integration, peaks and horizontal combinations: analytic cases and brute-force checks."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.metrics import peaks
from quakesynth.metrics.peaks import (
    geometric_mean,
    gmrotd,
    gmrotd50,
    ground_motion_peaks,
    horizontal_peaks,
    integrate,
    peak_srss,
    pga,
    pgd,
    pgv,
    rotd,
)


def _pulse(fs=100.0, n=2000):
    """A displacement pulse d(t) (m) at rest at both ends and its exact derivatives."""
    t = np.arange(n) / fs
    w = 2 * np.pi
    env = np.exp(-((t - 10) / 2) ** 2)
    denv = -2 * (t - 10) / 4 * env
    d = env * np.sin(w * t)
    v = denv * np.sin(w * t) + env * w * np.cos(w * t)
    d2env = (-0.5 + ((t - 10) / 2) ** 2) * env
    a = d2env * np.sin(w * t) + 2 * denv * w * np.cos(w * t) - env * w**2 * np.sin(w * t)
    return t, d, v, a


@pytest.mark.parametrize("baseline", ["polynomial", "highpass", "demean", "none"])
def test_integrate_recovers_velocity_and_displacement(baseline):
    fs = 100.0
    _, d, v, a = _pulse(fs)
    vel, disp = integrate(a, fs, baseline=baseline)
    assert np.abs(vel - v).max() < 2e-3 * np.abs(v).max()
    assert np.abs(disp - d).max() < 2e-3 * np.abs(d).max()


def test_polynomial_baseline_removes_offset_drift():
    """A constant acceleration offset (a classic baseline error) is removed by the default."""
    fs = 100.0
    _, d, _, a = _pulse(fs)
    _, raw = integrate(a + 1e-3, fs, baseline="none")
    _, corr = integrate(a + 1e-3, fs)
    assert np.abs(raw - d).max() > 0.1  # 1e-3 m/s^2 over 20 s drifts 0.2 m
    assert np.abs(corr - d).max() < 0.02


def test_peaks_batched_and_units(rng):
    fs = 50.0
    acc = rng.standard_normal((3, 2, 500))
    out = ground_motion_peaks(acc, fs)
    assert set(out) == {"PGA", "PGV", "PGD"} and out["PGA"].shape == (3, 2)
    np.testing.assert_allclose(out["PGA"], np.abs(acc).max(-1))
    np.testing.assert_allclose(out["PGV"], pgv(acc, fs))
    np.testing.assert_allclose(out["PGD"], pgd(acc, fs))
    np.testing.assert_allclose(pga(acc[1, 0]), np.abs(acc[1, 0]).max())
    # linear in the input (units carry through)
    np.testing.assert_allclose(pgv(100 * acc, fs), 100 * pgv(acc, fs))


def test_rotd_polarisation_analytic():
    """Linear polarisation: RotD50 / peak SRSS = 1/sqrt(2); circular: RotD50 = SRSS = RotD100."""
    t = np.linspace(0, 10, 4001)
    x = np.sin(2 * np.pi * t)
    y = np.cos(2 * np.pi * t)
    for theta in (0.0, 30.0, 45.0, 113.0):  # any polarisation direction
        c, s = np.cos(np.radians(theta)), np.sin(np.radians(theta))
        r50 = rotd(c * x, s * x, 50.0)
        assert r50 / peak_srss(c * x, s * x) == pytest.approx(1 / np.sqrt(2), rel=0.01)
    assert rotd(x, y, 50.0) == pytest.approx(1.0, rel=1e-4)
    assert rotd(x, y, 100.0) == pytest.approx(1.0, rel=1e-4)
    assert peak_srss(x, y) == pytest.approx(1.0, rel=1e-6)
    assert geometric_mean(x, 2 * y) == pytest.approx(np.sqrt(2), rel=1e-6)
    # GMRotD50 is not the vector peak: linear at 45 deg gives sqrt(P(t) P(t+90)) < SRSS
    assert gmrotd50(x, x) < 0.9 * peak_srss(x, x)


def test_rotd_and_gmrotd_equal_brute_force(rng):
    n = 800
    x1, x2 = rng.standard_normal((2, 4, n)) * np.hanning(n)
    theta = np.radians(np.arange(180))
    pct = (0.0, 10.0, 50.0, 75.0, 100.0)
    got = rotd(x1, x2, pct)
    assert got.shape == (4, 5)
    for i in range(4):
        rot = np.abs(np.outer(np.cos(theta), x1[i]) + np.outer(np.sin(theta), x2[i])).max(1)
        np.testing.assert_allclose(got[i], np.percentile(rot, pct), rtol=1e-12)
        gm = np.sqrt(rot[:90] * rot[90:])
        assert gmrotd(x1[i], x2[i], 50.0) == pytest.approx(np.median(gm), rel=1e-12)
        assert gmrotd(x1[i], x2[i], 90.0) == pytest.approx(np.percentile(gm, 90), rel=1e-12)
    hp = horizontal_peaks(x1, x2)
    assert set(hp) == {"H1", "H2", "GM", "SRSS", "GMRotD50", "RotD50", "RotD100"}
    np.testing.assert_allclose(hp["RotD50"], got[:, 2])
    np.testing.assert_allclose(hp["RotD100"], got[:, 4])
    np.testing.assert_allclose(hp["SRSS"], peak_srss(x1, x2))
    # ordering of the combinations
    assert (hp["RotD100"] <= hp["SRSS"] + 1e-12).all() and (hp["RotD50"] <= hp["RotD100"]).all()


@pytest.mark.parametrize("func, kwargs", [
    (integrate, dict(fs=100.0)),
    (pgv, dict(fs=100.0)),
    (pga, {}),
])
def test_bad_input_raises(func, kwargs):
    with pytest.raises(ValueError, match="acc"):
        func(np.array([0.0, np.inf, 1.0]), **kwargs)
    with pytest.raises(ValueError, match="acc"):
        func(np.zeros((3, 0)), **kwargs)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="fs"):
        integrate(np.ones(10), -1.0)
    with pytest.raises(ValueError, match="baseline"):
        integrate(np.ones(10), 100.0, baseline="spline")
    with pytest.raises(ValueError, match="f_hp"):
        integrate(np.ones(10), 100.0, baseline="highpass", f_hp=80.0)
    with pytest.raises(ValueError, match="x1 and x2"):
        rotd(np.ones(10), np.ones(11))
    with pytest.raises(ValueError, match="percentiles"):
        rotd(np.ones(10), np.ones(10), 101.0)
    with pytest.raises(ValueError, match="x2"):
        peak_srss(np.ones(10), np.full(10, np.nan))


def test_module_names_are_exact():
    """The public names are the exact combination names (no 'GMRotD50' alias of SRSS)."""
    for name in ("rotd50", "rotd100", "gmrotd50", "peak_srss", "geometric_mean"):
        assert callable(getattr(peaks, name))


def test_cumulative_trapezoid_is_scipys_bitwise_without_importing_it():
    """The integration rule equals scipy.integrate.cumulative_trapezoid(initial=0) exactly, and
    importing quakesynth.metrics.peaks (the generation path) does not import scipy.integrate."""
    import subprocess
    import sys

    from scipy.integrate import cumulative_trapezoid as ref

    from quakesynth.metrics.peaks import cumulative_trapezoid

    y = np.random.default_rng(3).standard_normal((2, 3, 1001))
    for dx in (0.01, 0.005, 1.0):
        np.testing.assert_array_equal(cumulative_trapezoid(y, dx), ref(y, dx=dx, axis=-1, initial=0.0))
    np.testing.assert_array_equal(cumulative_trapezoid(np.ones(1), 0.1), [0.0])
    code = ("import sys, numpy as np; from quakesynth.metrics.peaks import pgv; pgv(np.ones((1, 3, 200)), 100.0); "
            "print('scipy.integrate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
