"""Preprocessing: filter response, resampling, gaps, spikes, picking, windowing, rotation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from quakesynth.data import preprocess as pp
from quakesynth.data.picking import PhaseNetPicker, STALTAPicker
from quakesynth.records import Records


def synthetic_event(n: int = 1, fs: float = 100.0, t: int = 6000, onset_s=None, seed: int = 0,
                    noise: float = 1e-4) -> tuple[Records, np.ndarray]:
    """Noise, then a decaying 2-15 Hz burst from ``onset_s`` (a P onset), 3 components."""
    rng = np.random.default_rng(seed)
    onset_s = np.full(n, 20.0) if onset_s is None else np.asarray(onset_s, dtype=float)
    x = noise * rng.normal(size=(n, 3, t))
    tt = np.arange(t) / fs
    sos = signal.butter(4, [2, 15], "bandpass", fs=fs, output="sos")
    for i in range(n):
        burst = signal.sosfilt(sos, rng.normal(size=(3, t)), axis=-1)
        env = np.where(tt >= onset_s[i], np.exp(-(tt - onset_s[i]) / 8.0), 0.0)
        env *= np.where(tt >= onset_s[i] + 3, 5.0, 1.0)  # an "S wave" 3 s later
        x[i] += 0.05 * burst * env
    meta = pd.DataFrame({"trace_name": [f"syn{i}" for i in range(n)],
                         "trace_start_time": ["2020-01-01T00:00:00.000000Z"] * n})
    return Records(x, fs=fs, components="ZNE", metadata=meta), onset_s


# -- the high-pass -------------------------------------------------------------------------

def test_highpass_is_a_causal_order_2_butterworth():
    fs, f0 = 100.0, 0.1
    n = 2 ** 16
    imp = np.zeros(n)
    imp[100] = 1.0
    h = pp.highpass(imp, fs)  # defaults: 0.1 Hz, order 2, causal
    assert np.all(h[:100] == 0)  # causal: nothing before the impulse
    # identical to scipy's order-2 Butterworth run forward once
    ref = signal.sosfilt(signal.butter(2, f0, "highpass", fs=fs, output="sos"), imp)
    np.testing.assert_allclose(h, ref, atol=1e-15)
    # the measured response (FFT of the impulse response) is the analytic order-2 response
    f = np.fft.rfftfreq(n, 1 / fs)
    measured = np.fft.rfft(np.roll(h, -100))
    w, expected = signal.sosfreqz(signal.butter(2, f0, "highpass", fs=fs, output="sos"), worN=f, fs=fs)
    band = (f > 0.02) & (f < 40)
    np.testing.assert_allclose(np.abs(measured[band]), np.abs(expected[band]), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(np.angle(measured[f == f[band][50]]), np.angle(expected[f == f[band][50]]),
                               atol=1e-3)
    # -3 dB at the corner; 40 dB/decade (order 2, not ObsPy's default 4) below it
    g = lambda fr: np.interp(fr, f, np.abs(measured))  # noqa: E731
    assert 20 * np.log10(g(0.1)) == pytest.approx(-3.01, abs=0.05)
    assert 20 * np.log10(g(0.01) / g(0.02)) == pytest.approx(-12.04, abs=0.3)  # 2 poles: -6 dB/octave each
    # same as ObsPy's high-pass with corners=2, zerophase=False
    from obspy.signal.filter import highpass as obspy_highpass

    x = np.random.default_rng(0).normal(size=5000)
    np.testing.assert_allclose(pp.highpass(x, fs), obspy_highpass(x, f0, fs, corners=2, zerophase=False),
                               rtol=1e-10, atol=1e-12)


def test_highpass_is_batched_and_validates():
    x = np.random.default_rng(1).normal(size=(2, 3, 500))
    y = pp.highpass(x, 100.0)
    np.testing.assert_allclose(y[1, 2], pp.highpass(x[1, 2], 100.0))
    assert pp.highpass(x, 100.0, causal=False).shape == x.shape
    for kw, name in ((dict(fs=0.0), "fs"), (dict(fs=100.0, freq=60.0), "freq"), (dict(fs=100.0, order=1.5), "order")):
        with pytest.raises(ValueError, match=name):
            pp.highpass(x, **kw)


def test_demean_detrend_resample():
    t = np.arange(1000) / 100.0
    x = 3.0 + 0.5 * t + np.sin(2 * np.pi * 5 * t)
    y = pp.demean_detrend(x)
    assert abs(y.mean()) < 1e-12
    assert abs(np.polyfit(t, y, 1)[0]) < 2e-3
    # 200 Hz -> 100 Hz keeps a 5 Hz sine (amplitude, phase) and halves the length
    t2 = np.arange(4000) / 200.0
    s = np.sin(2 * np.pi * 5 * t2)
    r = pp.resample(s[None, None], 200.0, 100.0)[0, 0]
    assert r.shape == (2000,)
    np.testing.assert_allclose(r[200:-200], np.sin(2 * np.pi * 5 * np.arange(2000) / 100.0)[200:-200], atol=2e-3)
    assert pp.resample_ratio(256.0, 100.0) == (25, 64)
    with pytest.raises(ValueError, match="fs_new"):
        pp.resample(s, 200.0, -1.0)


# -- gaps and spikes -------------------------------------------------------------------------

def test_gaps_short_interpolated_long_or_most_dropped():
    rec, _ = synthetic_event(3, t=2000)
    x = rec.data.astype(np.float64).copy()
    x[0, 0, 500:503] = np.nan  # 0.03 s: interpolated
    x[1, 1, 100:400] = np.nan  # 3 s: too long
    x[2, :, :1200] = np.nan  # 60 % missing
    rec = rec.replace(data=x)
    out, drops = pp.repair_gaps_records(rec, max_gap_s=1.0, max_missing_fraction=0.5)
    assert out.metadata["trace_name"].tolist() == ["syn0"]
    assert {(d.trace_name, d.reason) for d in drops} == {("syn1", "long_gap"), ("syn2", "too_many_gaps")}
    filled = out.data[0, 0, 499:504].astype(np.float64)
    np.testing.assert_allclose(filled, np.linspace(filled[0], filled[-1], 5), rtol=1e-5)
    assert out.processing(0)[-1]["step"] == "repair_gaps"


def test_spikes_are_caught_real_motion_is_not(obspy_stream):
    rec = Records.from_obspy(obspy_stream, components="ZNE", quantity="velocity", unit="m/s")
    x = pp.demean_detrend(rec.data)
    clean = pp.spike_ratio(x)[0]
    assert clean < 10  # a real earthquake record
    spiky = x.copy()
    spiky[0, 1, 1234] += 3 * np.abs(x).max()  # one glitch, three times the record's peak
    assert pp.spike_ratio(spiky)[0] > 15
    both = Records(np.concatenate([x, spiky]), fs=rec.fs, quantity="velocity", unit="m/s",
                   metadata=pd.DataFrame({"trace_name": ["clean", "spiky"]}))
    kept, drops = pp.screen_spikes(both, threshold=15.0)
    assert kept.metadata["trace_name"].tolist() == ["clean"] and [d.reason for d in drops] == ["spike"]


# -- picking, window, screening ----------------------------------------------------------

def test_stalta_picker_finds_onsets_and_respects_earliest():
    rec, onset = synthetic_event(4, onset_s=[12.0, 20.0, 33.3, 45.0], seed=2)
    p = STALTAPicker().pick(rec) / rec.fs
    np.testing.assert_allclose(p, onset, atol=0.1)
    # a small earlier event is not the P of the strong motion
    x = rec.data.copy()
    x[1, :, 500:700] += 2e-3 * np.random.default_rng(3).normal(size=(3, 200))
    assert STALTAPicker().pick(rec.replace(data=x))[1] / rec.fs == pytest.approx(20.0, abs=0.1)
    # noise only: no pick
    quiet, _ = synthetic_event(1, seed=4)
    assert np.isnan(STALTAPicker().pick(quiet.replace(data=quiet.data * 0 + 1e-4 * np.random.default_rng(5)
                                                      .normal(size=quiet.data.shape)))[0])
    with pytest.raises(ValueError, match="sta_s"):
        STALTAPicker(sta_s=20.0)


def test_window_puts_p_at_5_s_and_pads_with_zeros():
    rec, onset = synthetic_event(3, onset_s=[20.0, 3.0, 1.0], t=3000, seed=6)
    rec = rec.replace(metadata=rec.metadata.assign(trace_p_arrival_sample=onset * 100, trace_s_arrival_sample=onset * 100 + 300))
    out, drops = pp.window_records(rec, n_samples=4096, p_time=5.0, min_pre_event_s=2.0)
    assert [d.reason for d in drops] == ["insufficient_pre_event"] and drops[0].trace_name == "syn2"
    assert out.n_samples == 4096 and (out.metadata["trace_p_arrival_sample"] == 500).all()
    assert out.metadata["trace_s_arrival_sample"].tolist() == [800.0, 800.0]
    np.testing.assert_array_equal(out.data[0, :, 500:600], rec.data[0, :, 2000:2100])
    assert out.metadata["trace_pad_start_samples"].tolist() == [0, 200]
    assert out.metadata["trace_pad_end_samples"].tolist() == [4096 - 1500, 4096 - 3200]
    assert (out.data[1, :, :200] == 0).all() and (out.data[1, :, -896:] == 0).all()
    assert out.metadata["trace_start_time"].tolist() == ["2020-01-01T00:00:15.000000Z", "2019-12-31T23:59:58.000000Z"]
    assert out.processing(1)[-1] == {"step": "window", "n_samples": 4096, "p_time": 5.0,
                                     "start_sample": -200, "pad_start": 200, "pad_end": 896}


def test_snr_uses_peaks_and_ignores_padding():
    x = np.zeros((2, 3, 1000))
    x[:, :, 100:480] = 0.01
    x[:, :, 500:520] = 1.0
    snr = pp.snr_db(x, [500, 500], 100.0, first_sample=[0, 100])
    assert snr[0] == pytest.approx(40.0) and snr[1] == pytest.approx(40.0)
    assert np.isnan(pp.snr_db(x[:1], [500], 100.0, first_sample=[450])[0])  # < 0.5 s of noise


def test_preprocess_chain_records_every_step_and_drops_with_reasons():
    rec, onset = synthetic_event(3, fs=200.0, t=16000, onset_s=[25.0, 30.0, 30.0], seed=7)
    x = rec.data.copy()
    x[2] = 1e-4 * np.random.default_rng(8).normal(size=x[2].shape)  # noise only: no P
    rec = rec.replace(data=x)
    out, drops = pp.preprocess(rec, pp.PreprocessConfig())
    assert out.fs == 100.0 and out.n_samples == 4096 and len(out) == 2
    assert [(d.trace_name, d.reason) for d in drops] == [("syn2", "no_p_pick")]
    steps = [s["step"] for s in out.processing(0)]
    assert steps == ["demean_detrend", "highpass", "resample", "pick_p", "window"]
    hp = out.processing(0)[1]
    assert (hp["freq"], hp["order"], hp["causal"]) == (0.1, 2, True)
    # P of the aligned window at 5 s (the synthetic onset lands within 0.1 s of it)
    t_on = STALTAPicker().pick(out) / out.fs
    np.testing.assert_allclose(t_on, 5.0, atol=0.1)
    assert (out.metadata["trace_snr_db"] > 20).all()


def test_rotation_preserves_horizontal_energy():
    rng = np.random.default_rng(9)
    n, e = rng.normal(size=(4, 500)), rng.normal(size=(4, 500))
    baz = np.array([0.0, 45.0, 200.0, 359.0])
    r, t = pp.rotate_ne_rt(n, e, baz)
    np.testing.assert_allclose(r ** 2 + t ** 2, n ** 2 + e ** 2, rtol=1e-12)
    np.testing.assert_allclose(r[0], -n[0]) and np.testing.assert_allclose(t[0], -e[0])  # ObsPy convention
    meta = pd.DataFrame({"trace_name": list("abcd"), "path_back_azimuth_deg": [10.0, np.nan, 100.0, 300.0]})
    rec = Records(np.stack([rng.normal(size=(4, 500)), n, e], axis=1), fs=100.0, metadata=meta)
    out, drops = pp.rotate_records(rec)
    assert out.components == "ZRT" and [d.reason for d in drops] == ["missing_metadata"]
    np.testing.assert_array_equal(out.data[:, 0], rec.data[[0, 2, 3], 0])
    np.testing.assert_allclose((out.data[:, 1:] ** 2).sum(axis=1), (rec.data[[0, 2, 3], 1:] ** 2).sum(axis=1), rtol=1e-5)
    assert json.loads(out.metadata["trace_processing"][1])[-1]["back_azimuth_deg"] == 100.0


def test_orient_12_to_ne():
    rng = np.random.default_rng(10)
    n, e = rng.normal(size=(1, 300)), rng.normal(size=(1, 300))
    a1 = np.radians(52.0)
    h1 = n * np.cos(a1) + e * np.sin(a1)  # component pointing to 52 deg
    h2 = -n * np.sin(a1) + e * np.cos(a1)  # component pointing to 142 deg
    rec = Records(np.stack([h1, h2], axis=1), fs=100.0, components="12",
                  metadata=pd.DataFrame({"trace_name": ["x"], "trace_component_azimuth_deg": ["52;142"]}))
    out, drops = pp.orient_ne_records(rec)
    assert out.components == "NE" and not drops
    np.testing.assert_allclose(out.data[0, 0], n[0], atol=1e-5)
    np.testing.assert_allclose(out.data[0, 1], e[0], atol=1e-5)


@pytest.mark.slow  # imports seisbench.models (torch)
def test_phasenet_picker_never_downloads(tmp_path, monkeypatch):
    seisbench = pytest.importorskip("seisbench")
    monkeypatch.setattr(seisbench, "cache_model_root", tmp_path / "models")
    rec, _ = synthetic_event(1, seed=11)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        PhaseNetPicker("stead").pick(rec)
    # weights saved locally (here untrained) are used
    import seisbench.models as sbm

    sbm.PhaseNet().save(tmp_path / "pn")
    p = PhaseNetPicker(str(tmp_path / "pn"), threshold=0.5).pick(rec)
    assert p.shape == (1,)
