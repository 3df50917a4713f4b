"""Goodness of fit: Kristekova (vs ObsPy tf_misfit), Anderson, frequency bias, rMAE/rRMSE."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.metrics.gof import (
    ANDERSON_CRITERIA,
    anderson_gof,
    anderson_score,
    frequency_bias,
    kristekova_gof,
    morlet_cwt,
    rmae,
    rrmse,
)


def _wavelet_pair(rng, n=600, fs=50.0):
    t = np.arange(n) / fs
    env = np.exp(-((t - 6) / 1.5) ** 2)
    ref = env * np.sin(2 * np.pi * 2.0 * t)
    sig = 1.2 * np.exp(-((t - 6.2) / 1.5) ** 2) * np.sin(2 * np.pi * 2.0 * (t - 0.05))
    return sig + 0.01 * rng.standard_normal(n), ref, fs


def test_cwt_and_gof_equal_obspy_tf_misfit(rng):
    tf_misfit = pytest.importorskip("obspy.signal.tf_misfit")
    sig, ref, fs = _wavelet_pair(rng)
    kw = dict(fmin=0.5, fmax=10.0, nf=30, w0=6)
    w = morlet_cwt(sig, fs, **kw)
    np.testing.assert_allclose(w, tf_misfit.cwt(sig, 1 / fs, 6, 0.5, 10.0, 30), rtol=1e-10, atol=1e-14)
    # single-component traces (N, T)
    out = kristekova_gof(sig[None], ref[None], fs, **kw)
    assert out["EG"][0] == pytest.approx(tf_misfit.eg(sig, ref, dt=1 / fs, **kw), rel=1e-10)
    assert out["PG"][0] == pytest.approx(tf_misfit.pg(sig, ref, dt=1 / fs, **kw), rel=1e-10)
    assert out["EM"][0] == pytest.approx(tf_misfit.em(sig, ref, dt=1 / fs, **kw), rel=1e-10)
    # multi-component records (N, C, T), global and local normalisation
    s3 = np.stack([sig, 0.5 * ref, sig[::-1]])
    r3 = np.stack([ref, ref, ref[::-1]])
    for norm in ("global", "local"):
        got = kristekova_gof(s3[None], r3[None], fs, norm=norm, **kw)
        np.testing.assert_allclose(got["EG"][0], tf_misfit.eg(s3, r3, dt=1 / fs, norm=norm, **kw), rtol=1e-10)
        np.testing.assert_allclose(got["PG"][0], tf_misfit.pg(s3, r3, dt=1 / fs, norm=norm, **kw), rtol=1e-10)


def test_kristekova_identical_and_scaled():
    t = np.arange(500) / 50.0
    x = np.exp(-((t - 5) / 1.0) ** 2) * np.sin(2 * np.pi * 3 * t)
    same = kristekova_gof(x[None], x[None], 50.0, 1.0, 10.0, nf=20)
    assert same["EG"][0] == pytest.approx(10.0) and same["PG"][0] == pytest.approx(10.0)
    # pure amplitude scaling: no phase misfit, envelope misfit = scale - 1
    sc = kristekova_gof(2 * x[None], x[None], 50.0, 1.0, 10.0, nf=20)
    assert sc["PM"][0] == pytest.approx(0.0, abs=1e-12)
    assert sc["EM"][0] == pytest.approx(1.0, rel=1e-10)


def test_anderson_score_and_identical_records(rng):
    assert anderson_score(2.0, 2.0) == 10.0
    assert anderson_score(1.0, 2.0) == pytest.approx(10 * np.exp(-1.0))
    assert anderson_score(2.0, 1.0) == pytest.approx(10 * np.exp(-1.0))
    assert anderson_score(0.0, 1.0) == 0.0
    fs = 100.0
    t = np.arange(3000) / fs
    x = rng.standard_normal((2, 3000)) * np.exp(-((t - 10) / 4) ** 2)
    out = anderson_gof(x, x, fs)
    assert out["criteria"].shape == (2, 8, 10) and len(ANDERSON_CRITERIA) == 10
    np.testing.assert_allclose(out["criteria"], 10.0)
    np.testing.assert_allclose(out["score"], 10.0)
    # a different record scores lower, in [0, 10]
    other = anderson_gof(x[0], 0.5 * x[1], fs)
    assert 0 <= other["score"] < 8 and np.nanmax(other["criteria"]) <= 10


def test_anderson_bands_above_nyquist_are_nan(rng):
    x = rng.standard_normal(2000)
    out = anderson_gof(x, 1.1 * x, 25.0, bands=[(1.0, 2.0), (10.0, 20.0)])
    assert np.isfinite(out["band_score"][0]) and np.isnan(out["band_score"][1])
    assert np.isfinite(out["score"])


def test_frequency_bias_rmae_rrmse(rng):
    fs = 100.0
    x = rng.standard_normal((4, 2048))
    bias = frequency_bias(1.5 * x, x, fs)
    assert bias.shape == (4, 3)
    np.testing.assert_allclose(bias, 0.5, rtol=1e-12)
    np.testing.assert_allclose(frequency_bias(x, x, fs, bands=[(0.5, 3.0)]), 0.0, atol=1e-14)
    np.testing.assert_allclose(rmae(1.1 * x, x), 0.1, rtol=1e-12)
    np.testing.assert_allclose(rrmse(0.8 * x, x), 0.2, rtol=1e-12)


def test_bad_input_raises():
    x = np.ones(256)
    with pytest.raises(ValueError, match="x and ref"):
        rmae(x, x[:-1])
    with pytest.raises(ValueError, match="fmax"):
        kristekova_gof(x[None], x[None], 50.0, 1.0, 40.0)
    with pytest.raises(ValueError, match="norm"):
        kristekova_gof(x[None], x[None], 50.0, 1.0, 10.0, norm="weird")
    with pytest.raises(ValueError, match="bands"):
        frequency_bias(x, x, 50.0, bands=[(2.0, 1.0)])
    with pytest.raises(ValueError, match="ref"):
        anderson_gof(x, np.full(256, np.inf), 50.0)


@pytest.mark.shared
def test_kristekova_on_real_records_matches_obspy(knet_dir):
    """Two stations of one event (3 components each) as signal and reference."""
    import obspy

    tf_misfit = pytest.importorskip("obspy.signal.tf_misfit")

    def load(stem):
        out = []
        for c in ("NS", "EW", "UD"):
            tr = obspy.read(str(knet_dir / "us2000cnnl" / f"{stem}.{c}"), format="KNET")[0]
            x = tr.data * tr.stats.calib
            out.append((x - x.mean())[2000:3024])
        return np.stack(out), tr.stats.sampling_rate

    a, fs = load("AOM0011801241951")
    b, _ = load("AOM0021801241951")
    kw = dict(fmin=0.5, fmax=20.0, nf=40, w0=6)
    got = kristekova_gof(a[None], b[None], fs, **kw)
    np.testing.assert_allclose(got["EG"][0], tf_misfit.eg(a, b, dt=1 / fs, **kw), rtol=1e-9)
    np.testing.assert_allclose(got["PG"][0], tf_misfit.pg(a, b, dt=1 / fs, **kw), rtol=1e-9)
