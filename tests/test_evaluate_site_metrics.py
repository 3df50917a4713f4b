"""Evaluation of site-specific generation on analytic cases."""

import numpy as np
import pytest

from quakesynth.evaluate import site as ev

FS = 50.0


def _resonant(n, f0, T=1024, seed=0):
    """Records whose HVSR peaks at f0 (conftest.resonant_records)."""
    from conftest import resonant_records

    return resonant_records(n, f0, FS, T, seed)


def test_hvsr_f0_of_resonant_records():
    from quakesynth.metrics import f0 as f0_of

    for f0 in (2.0, 6.0):
        freqs, c = ev.hvsr_of(_resonant(16, f0), FS)
        got = f0_of(c, freqs, ev.F0_BAND)  # single white-noise records scatter; most find f0
        assert np.mean(np.abs(got / f0 - 1) < 0.1) >= 0.6
        st = ev.station_hvsr(c, freqs, np.zeros(16, int), 2)
        assert st[1] is None and abs(st[0]["f0_of_median"] / f0 - 1) < 0.1
    with pytest.raises(ValueError, match="components"):
        ev.hvsr_of(np.zeros((1, 3, 64)), FS, components="XYZ")


def test_f0_alignment_identical_and_disjoint():
    f_real = np.array([2.0, 2.1, 1.9, 5.0, 5.2, 4.9])
    s = np.array([0, 0, 0, 1, 1, 1])
    same = ev.f0_alignment(f_real, s, f_real.copy(), s, ["A", "B"], {"A": 2.0, "B": 5.0})
    assert same["js_mean"] == pytest.approx(1.0)
    assert same["f0_err_gen_mean"] == pytest.approx(same["f0_err_real_mean"])
    assert same["f0_err_gen_mean"] < 0.02
    swapped = ev.f0_alignment(f_real, s, f_real[::-1].copy(), s, ["A", "B"], {"A": 2.0, "B": 5.0})
    assert swapped["js_mean"] == pytest.approx(0.0)
    assert swapped["per_station"][0]["err_gen"] == pytest.approx(abs(np.exp(np.log([5.0, 5.2, 4.9]).mean()) - 2) / 2)


def test_classifier_and_confusion_ncc():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    y = np.repeat(np.arange(3), 20)
    x = centres[y] + rng.normal(0, 0.5, (60, 2))
    clf = ev.HVSRClassifier(3).fit(x, y)
    res = ev.confusion_alignment(clf, x, y, x + rng.normal(0, 0.01, x.shape), y)
    assert res["acc_real"] == 1.0 and res["acc_gen"] == 1.0 and res["ncc"] == pytest.approx(1.0)
    # generated records that all look like class 0: confusion unlike the real one
    res = ev.confusion_alignment(clf, x, y, np.zeros_like(x) + centres[0], y)
    assert res["acc_gen"] == pytest.approx(1 / 3) and res["ncc"] < 0.5


def test_pairwise_distance_and_collapse():
    assert ev.mean_pairwise_distance(np.array([[0.0, 0], [3, 4], [0, 0]])) == pytest.approx((5 + 0 + 5) / 3)
    with pytest.raises(ValueError):
        ev.mean_pairwise_distance(np.zeros((1, 3)))


def test_picks_and_diversity_on_synthetic_arrivals():
    T, n = 1024, 6
    rng = np.random.default_rng(1)
    t = np.arange(T) / FS
    x = 1e-3 * rng.standard_normal((n, 3, T))
    p_true, s_true = 3.0 + 0.2 * np.arange(n), 7.0 + 0.5 * np.arange(n)
    for i in range(n):
        on_p, on_s = t >= p_true[i], t >= s_true[i]
        x[i, 0] += on_p * 0.2 * np.exp(-(t - p_true[i]).clip(0) / 4) * np.sin(2 * np.pi * 6 * t)
        x[i, 1:] += on_s * np.exp(-(t - s_true[i]).clip(0) / 3) * rng.standard_normal((2, T))
    p, s = ev.pick_ps(x, FS)
    assert np.nanmax(np.abs(p / FS - p_true)) < 0.3
    assert np.nanmax(np.abs(s / FS - s_true)) < 0.5
    st = np.zeros(n, int)
    collapsed = np.repeat(x[:1], n, axis=0)
    d = ev.diversity(x, st, collapsed, st, 1, FS)
    assert d["dist_ratio_wave"] == pytest.approx(0.0, abs=1e-6) and d["p_sd_gen_s"] == pytest.approx(0.0)
    d = ev.diversity(x, st, x.copy(), st, 1, FS)
    assert d["dist_ratio_wave"] == pytest.approx(1.0) and d["sp_sd_gen_s"] == pytest.approx(d["sp_sd_real_s"])
