"""HVSR of earthquake records: synthetic site amplification and a cross-check with hvsrpy."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.metrics.hvsr import default_hvsr_frequencies, f0, hvsr_curves, hvsr_statistics


def _import_hvsrpy():
    """hvsrpy, imported with the shims it needs here (tests only)."""
    from refcompat import install_shims

    install_shims()
    return pytest.importorskip("hvsrpy")


def _site_records(rng, f_site=(2.0, 5.0), n=4096, fs=100.0):
    """Vertical: white noise; horizontals: the same noise band-amplified around f_site."""
    from scipy.signal import lfilter

    out = []
    for fr in f_site:
        v = rng.standard_normal(n)
        w = 2 * np.pi * fr / fs
        r = 0.99  # resonator pole radius (bandwidth ~ 0.3 Hz)
        b, a = [1.0], [1.0, -2 * r * np.cos(w), r * r]
        h1 = v + 0.02 * lfilter(b, a, rng.standard_normal(n))
        h2 = v + 0.02 * lfilter(b, a, rng.standard_normal(n))
        out.append((h1, h2, v))
    return np.array(out).transpose(1, 0, 2), fs  # (3, N, T)


def test_f0_of_amplified_site(rng):
    (h1, h2, v), fs = _site_records(rng)
    freqs, curves = hvsr_curves(h1, h2, v, fs)
    assert curves.shape == (2, len(freqs))
    np.testing.assert_allclose(f0(curves, freqs), [2.0, 5.0], rtol=0.05)
    stats = hvsr_statistics(curves, freqs)
    assert stats["median"].shape == freqs.shape and (stats["sigma_ln"] >= 0).all()
    assert stats["f0_median"] == pytest.approx(np.sqrt(2.0 * 5.0), rel=0.05)
    # identical horizontals and vertical give HVSR = 1
    _, ones = hvsr_curves(v, v, v, fs)
    np.testing.assert_allclose(ones, 1.0, rtol=1e-10)
    assert default_hvsr_frequencies(fs).max() == pytest.approx(50.0)


def test_bad_input_raises(rng):
    x = rng.standard_normal(512)
    with pytest.raises(ValueError, match="acc_h1 and acc_v"):
        hvsr_curves(x, x, x[:500], 100.0)
    with pytest.raises(ValueError, match="Nyquist"):
        hvsr_curves(x, x, x, 100.0, freqs=[1.0, 60.0])
    with pytest.raises(ValueError, match="band"):
        f0(np.ones(5), np.arange(1.0, 6.0), band=(10.0, 20.0))
    with pytest.raises(ValueError, match="acc_v"):
        hvsr_curves(x, x, np.full(512, np.nan), 100.0)


@pytest.mark.shared
@pytest.mark.slow
def test_cross_check_against_hvsrpy(knet_dir):
    """hvsrpy's traditional earthquake HVSR (geometric mean, KO b = 40) on a real record."""
    import obspy

    hp = _import_hvsrpy()
    comps = []
    for c in ("NS", "EW", "UD"):
        tr = obspy.read(str(knet_dir / "us2000cnnl" / f"AOM0011801241951.{c}"), format="KNET")[0]
        comps.append(tr.data * tr.stats.calib)
    fs = tr.stats.sampling_rate
    fcs = np.geomspace(0.2, 20, 100)
    rec = hp.SeismicRecording3C(*(hp.TimeSeries(x.copy(), 1 / fs) for x in comps))
    pre = hp.HvsrPreProcessingSettings(window_length_in_seconds=None, detrend="linear",
                                       orient_to_degrees_from_north=None)
    proc = hp.HvsrTraditionalProcessingSettings(smoothing=dict(
        operator="konno_and_ohmachi", bandwidth=40, center_frequencies_in_hz=fcs))
    res = hp.process(hp.preprocess([rec], pre), proc)
    freqs, ours = hvsr_curves(*comps, fs, freqs=fcs, n_fft=proc.fft_settings["n"])
    np.testing.assert_allclose(ours, res.amplitude[0], rtol=1e-8)
    assert f0(ours, freqs, band=(0.2, 20.0)) == pytest.approx(res.mean_curve_peak()[0])


def _peaked(f, f0_hz, a0, width=0.05):
    """1 + (a0 - 1) exp(-ln(f / f0)^2 / width): a lognormal bump of height a0 at f0 (Hz)."""
    return 1 + (a0 - 1) * np.exp(-np.log(f / f0_hz) ** 2 / width)


def test_clear_peak_rule():
    from quakesynth.metrics.hvsr import clear_peak, f0_clear

    f = np.geomspace(0.1, 25, 300)
    curves = np.stack([
        _peaked(f, 3.0, 6.0),  # clear
        np.full_like(f, 0.8) + 0.05 * np.sin(5 * np.log(f)),  # flat, below 1: arg-max anywhere
        _peaked(f, 3.0, 1.8),  # a bump, but H/V < 2
        _peaked(f, 3.0, 6.0, width=20.0),  # H/V > 2 but no fall to half within a factor 4
    ])
    fz, a0, ok = clear_peak(curves, f)
    assert ok.tolist() == [True, False, False, False]
    assert fz[0] == pytest.approx(3.0, rel=0.02) and a0[0] == pytest.approx(6.0, rel=0.01)
    got = f0_clear(curves, f)
    assert got[0] == pytest.approx(3.0, rel=0.02) and np.isnan(got[1:]).all()
    # the arg-max of the flat curve is still a number: f0() alone cannot tell
    assert np.isfinite(f0(curves[1], f))
    with pytest.raises(ValueError, match="increasing"):
        clear_peak(curves, f[::-1])


def test_one_band_for_the_package():
    """metrics.f0 and the site evaluation search the same band: a curve whose maximum lies
    at 18 Hz, above the band, with a clear peak at 5 Hz, has f0 = 5 Hz for both."""
    from quakesynth.evaluate import site as ev
    from quakesynth.metrics.hvsr import F0_BAND_HZ

    f = np.geomspace(0.1, 25, 300)
    curve = _peaked(f, 5.0, 4.0) + _peaked(f, 18.0, 8.0, width=0.005) - 1
    assert ev.F0_BAND == F0_BAND_HZ
    assert f0(curve, f) == pytest.approx(f0(curve, f, band=ev.F0_BAND)) == pytest.approx(5.0, rel=0.02)
    assert hvsr_statistics(np.stack([curve, curve]), f)["f0_of_median"] == pytest.approx(5.0, rel=0.02)


def test_f0_modes_two_states_versus_two_peaks():
    from quakesynth.metrics.hvsr import f0_modes

    f = np.geomspace(0.2, 20, 200)
    rng = np.random.default_rng(0)
    f0s = np.r_[1.5 * np.exp(rng.normal(0, 0.03, 6)), 7.6 * np.exp(rng.normal(0, 0.03, 6))]
    moved = np.stack([_peaked(f, x, 5.0) for x in f0s])  # the peak moved between the groups
    both = np.stack([_peaked(f, 1.5, 5.0) + _peaked(f, 7.6, 5.0) - 1 for _ in f0s])  # two peaks in every record
    m = f0_modes(f0s, curves=moved, freqs=f)
    assert m["multimodal"] and m["modes"] == pytest.approx([1.5, 7.6], rel=0.05)
    assert m["f0_p90"] / m["f0_p10"] > 4 and m["n"] == 12
    assert not f0_modes(f0s, curves=both, freqs=f)["multimodal"]
    one = f0_modes(2.0 * np.exp(rng.normal(0, 0.2, 12)))
    assert not one["multimodal"] and one["f0_median"] == pytest.approx(2.0, rel=0.2)
    assert f0_modes([np.nan, np.nan])["n"] == 0
    assert not f0_modes([1.5, 1.5, 7.5, 7.5])["multimodal"]  # two records a side are too few
