"""The stochastic simulator: windows, normalisation, reproducibility, arrivals, HVSR, bad input."""

import numpy as np
import pytest

from quakesynth.generate import ConditioningError
from quakesynth.generate.stochastic import StochasticGenerator
from quakesynth.records import Records
from quakesynth.simulate.stochastic import (
    SourceConfig,
    load_config,
    saragoni_hart_energy,
    saragoni_hart_window,
    simulate,
    two_corner_factor,
)

SCEN = dict(magnitude=5.5, distance=40.0, vs30=400.0, depth=10.0, gap=90.0)


@pytest.fixture(scope="module")
def gen_zrt():
    return StochasticGenerator(overrides=["waveform.components=ZRT"])


def _params(n, **kw):
    base = dict(magnitude=5.5, distance=40.0, depth=10.0, vs30=400.0, stress_drop_bar=80.0, kappa0_s=0.02,
                site_term_low=0.0, site_term_mid=0.0, site_term_high=0.0, f0_hz=np.nan,
                impedance_ratio=np.nan, damping=np.nan, noise_rms_mps2=3e-6, back_azimuth=30.0)
    base.update(kw)
    return {k: np.full(n, v, dtype=float) for k, v in base.items()}


def test_saragoni_hart_window_and_energy():
    t = np.linspace(0, 30, 300001)
    w = saragoni_hart_window(t, 10.0)
    assert t[np.argmax(w)] == pytest.approx(0.2 * 2 * 10.0, abs=1e-3)  # peak at eps * t_eta
    assert w.max() == pytest.approx(1.0, rel=1e-6)
    assert saragoni_hart_window(np.array([20.0 - 1e-9]), 10.0)[0] == pytest.approx(0.05, rel=1e-6)
    assert saragoni_hart_window(np.array([20.1, -1.0]), 10.0).tolist() == [0.0, 0.0]
    assert saragoni_hart_energy(10.0) == pytest.approx(np.trapezoid(w**2, t), rel=1e-6)


def test_two_corner_keeps_both_spectral_ends():
    f = np.geomspace(1e-4, 1e4, 400)
    k = two_corner_factor(f, 7.0, 0.08, SourceConfig())
    assert k[0] == pytest.approx(1.0, abs=1e-3) and k[-1] == pytest.approx(1.0, abs=1e-3)
    assert k.min() < 0.7 and k.max() <= 1.0 + 1e-9  # the sag between the corners
    brune = SourceConfig(two_corner=False)
    np.testing.assert_array_equal(two_corner_factor(f, 7.0, 0.08, brune), 1.0)


def test_fourier_amplitude_follows_target():
    """Boore's normalisation: the average FAS of the simulated S wave is the target FAS."""
    from quakesynth.simulate.stochastic import _FREQS_COARSE, fourier_spectra

    cfg = load_config(overrides=["waveform.components=ZRT", "site.p_transverse_ratio=0.0",
                                 "path.coda_energy_ratio=0.0", "waveform.antialias_hz=45.0"])
    n = 24
    p = _params(n, vs30=760.0, distance=20.0, magnitude=5.0, noise_rms_mps2=0.0)
    data = simulate(p, np.arange(n), cfg)
    fas = np.abs(np.fft.rfft(data[:, 2].astype(float), axis=-1)) / cfg.waveform.fs  # transverse: S only
    f = np.fft.rfftfreq(data.shape[-1], 1 / cfg.waveform.fs)
    target = fourier_spectra({k: v[:1] for k, v in p.items()}, cfg)["S"][0]
    band = (f > 1.0) & (f < 15.0)
    sim = np.sqrt(np.mean(fas[:, band] ** 2, axis=0))
    tgt = np.exp(np.interp(np.log(f[band]), np.log(_FREQS_COARSE), np.log(target)))
    ratio = np.exp(np.mean(np.log(sim / tgt)))
    assert ratio == pytest.approx(1.0, abs=0.15)


def test_waveform_depends_only_on_its_seed():
    cfg = load_config()
    p = _params(5, magnitude=6.0, distance=60.0)
    seeds = np.array([11, 12, 13, 14, 15])
    whole = simulate(p, seeds, cfg)
    single = simulate({k: v[3:4] for k, v in p.items()}, seeds[3:4], cfg)
    np.testing.assert_array_equal(whole[3], single[0])
    np.testing.assert_array_equal(whole, simulate(p, seeds, cfg))
    assert not np.allclose(whole[0], whole[1])
    assert whole.dtype == np.float32 and whole.shape == (5, 3, 4096)


def test_generator_reproducible_and_batch_independent(gen_zrt):
    a = gen_zrt.generate(**SCEN, n=4, seed=7, batch_size=1)
    b = gen_zrt.generate(**SCEN, n=4, seed=7, batch_size=4)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.components == "ZRT" and a.unit == "m/s^2" and a.quantity == "acceleration"
    assert np.isfinite(a.data).all()
    c = gen_zrt.generate(**SCEN, n=4, seed=8)
    assert not np.allclose(a.data, c.data)


def test_zne_is_the_rotated_zrt():
    from quakesynth.data.preprocess import rotate_ne_rt

    zne = StochasticGenerator().generate(**SCEN, n=3, seed=2)
    zrt = StochasticGenerator(overrides=["waveform.components=ZRT"]).generate(**SCEN, n=3, seed=2)
    assert zne.components == "ZNE"
    baz = zne.metadata["path_back_azimuth_deg"].to_numpy()
    r, t = rotate_ne_rt(zne.component("N"), zne.component("E"), baz)
    np.testing.assert_allclose(r, zrt.component("R"), atol=1e-6 * np.abs(r).max())
    np.testing.assert_allclose(t, zrt.component("T"), atol=1e-6 * np.abs(t).max())
    np.testing.assert_array_equal(zne.component("Z"), zrt.component("Z"))


def test_p_and_s_onsets(gen_zrt):
    """The project's STA/LTA picker finds P at 5 s; on the transverse component it finds S at
    the S-P time of the velocity model."""
    from quakesynth.data.picking import STALTAPicker

    rec = gen_zrt.generate(magnitude=5.0, distance=60.0, vs30=500.0, depth=15.0, gap=90, n=4, seed=3)
    fs = rec.fs
    p_expected = rec.metadata["trace_p_arrival_sample"].to_numpy()
    s_expected = rec.metadata["trace_s_arrival_sample"].to_numpy()
    assert np.all(p_expected == 5.0 * fs)
    # source in ak135's top layer: straight rays, S-P = R (1/Vs - 1/Vp)
    np.testing.assert_allclose((s_expected - p_expected) / fs, 60.0 * (1 / 3.46 - 1 / 5.8), rtol=1e-6)
    picker = STALTAPicker()
    p_pick = picker.pick(rec)
    np.testing.assert_allclose(p_pick / fs, 5.0, atol=0.3)
    transverse = Records(rec.data[:, 2:3], fs=fs, components="Z")
    s_pick = picker.pick(transverse, earliest=p_expected + 1.0 * fs)
    np.testing.assert_allclose(s_pick / fs, s_expected / fs, atol=0.5)
    # pre-event noise: quiet but not zero, at the station's level
    pre = rec.data[:, :, : int(4.5 * fs)]
    assert np.all(pre.std(axis=-1) > 0)
    assert np.all(pre.std(axis=-1) < 1e-3 * np.abs(rec.data).max(axis=-1))


def test_hvsr_peaks_at_f0_of_resonant_station():
    """A resonant layer (SH on horizontals, P on the vertical) puts the HVSR peak at f0
    (the project's earthquake HVSR, Konno-Ohmachi b = 40, median of 8 records): within 15 %."""
    from quakesynth.metrics.hvsr import hvsr_curves, hvsr_statistics

    cfg = load_config()
    n = 8
    for f0 in (1.5, 5.0):
        p = _params(n, magnitude=5.5, distance=50.0, vs30=250.0, f0_hz=f0, impedance_ratio=0.25, damping=0.03)
        data = simulate(p, np.arange(n) + 100, cfg).astype(float)
        freqs, curves = hvsr_curves(data[:, 1], data[:, 2], data[:, 0], cfg.waveform.fs)
        stats = hvsr_statistics(curves, freqs)
        assert stats["f0_of_median"] == pytest.approx(f0, rel=0.15)
        assert stats["median"].max() > 2.0


@pytest.mark.parametrize("change,match", [
    (dict(magnitude=8.0), r"magnitude=8 is outside .*\[4, 7.5\]"),
    (dict(distance=250.0), r"distance=250 km is outside .*\[1, 200\] km"),
    (dict(vs30=50.0), r"vs30=50 m/s is outside"),
    (dict(depth=120.0, distance=150.0), r"depth=120 km is outside"),
    (dict(distance=5.0, depth=20.0), "smaller than depth"),
    (dict(magnitude=float("nan")), "magnitude must be finite"),
])
def test_bad_input_is_named(change, match):
    with pytest.raises(ConditioningError, match=match):
        StochasticGenerator().generate(**{**SCEN, **change})


@pytest.mark.parametrize("n", [0, -2])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be"):
        StochasticGenerator().generate(**SCEN, n=n)


def test_extrapolation_allowed_with_warning():
    with pytest.warns(UserWarning, match="extrapolating"):
        rec = StochasticGenerator().generate(**{**SCEN, "magnitude": 7.8}, allow_extrapolation=True)
    assert np.isfinite(rec.data).all()


def test_bad_config_is_named():
    with pytest.raises(ValueError, match="components"):
        load_config(overrides=["waveform.components=NEZ"])
    with pytest.raises(ValueError, match="unknown key"):
        load_config(overrides=["source.no_such_field=1"])


def test_registry_loads_the_simulator():
    import quakesynth

    gen = quakesynth.load_model("stochastic")
    assert isinstance(gen, StochasticGenerator)
    info = gen.info()
    assert info["variables"]["magnitude"]["range"] == [4.0, 7.5]
    assert info["fs"] == 100.0 and info["n_samples"] == 4096
