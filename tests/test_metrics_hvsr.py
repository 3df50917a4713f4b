"""HVSR of earthquake records: synthetic site amplification and a cross-check with hvsrpy."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.metrics.hvsr import default_hvsr_frequencies, f0, hvsr_curves, hvsr_statistics


def _import_hvsrpy():
    """hvsrpy, imported with the shims it needs here (tests only)."""
    from quakesynth._refcompat import install_shims

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
