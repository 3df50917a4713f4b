"""Log-spectrogram representation: shapes from the config, the tqdne reference, round trips,
Griffin-Lim accuracy against the reference's librosa output, per-sample seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quakesynth.repr.spectrogram import (
    LogSpectrogram,
    SpectrogramConfig,
    griffin_lim,
    spectral_convergence,
)


@pytest.fixture(scope="module")
def reference():
    from conftest import shared_path

    return dict(np.load(shared_path("tqdne", "reference.npz")))


def test_shapes_derive_from_config():
    cfg = SpectrogramConfig()
    assert cfg.shape == (128, 128)
    assert cfg.df == pytest.approx(100 / 256) and cfg.dt == pytest.approx(0.32)
    small = SpectrogramConfig(n_fft=64, hop=16, n_samples=1008)
    assert small.shape == (32, 64)
    rep = LogSpectrogram(small)
    x = np.random.default_rng(0).normal(size=(2, 3, 1008)).astype(np.float32)
    R = rep.forward(x)
    assert R.shape == (2, 3, 32, 64) and R.dtype == np.float32
    assert rep.inverse(R, n_iter=2).shape == (2, 3, 1008)
    assert SpectrogramConfig(drop_nyquist=False).shape == (129, 128)


def test_invalid_config_and_input_raise():
    with pytest.raises(ValueError, match="n_fft"):
        SpectrogramConfig(n_fft=255)
    with pytest.raises(ValueError, match="hop"):
        SpectrogramConfig(hop=0)
    with pytest.raises(ValueError, match="pad_mode"):
        SpectrogramConfig(pad_mode="wrap")
    rep = LogSpectrogram()
    with pytest.raises(ValueError, match="n_samples=4064"):
        rep.forward(np.zeros((1, 3, 4000)))
    with pytest.raises(ValueError, match="shape"):
        rep.inverse(np.zeros((1, 3, 64, 64)))
    with pytest.raises(ValueError, match="method"):
        rep.inverse(np.zeros((1, 128, 128)), method="magic")


@pytest.mark.shared
def test_reproduces_tqdne_representation(reference):
    """librosa STFT (centre, zero padding), Nyquist dropped, clip 1e-8, log_max 3: to float32
    rounding (one ulp at 0.7 is 6e-8) from float32 and float64 input."""
    rep = LogSpectrogram()
    ref = reference["representation_in"]
    for x in (reference["waveform_in"], reference["waveform_in"].astype(np.float64)):
        assert np.abs(rep.forward(x) - ref).max() <= 1.2e-7
    t = rep.forward(torch.from_numpy(reference["waveform_in"]))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert (t.numpy() - ref).__abs__().max() <= 1.2e-7


@pytest.mark.shared
def test_reflect_padding_is_not_the_reference(reference):
    """The reference used librosa >= 0.10 (pad_mode 'constant'); 'reflect' (librosa < 0.10)
    differs in the edge frames."""
    rep = LogSpectrogram(SpectrogramConfig(pad_mode="reflect"))
    assert np.abs(rep.forward(reference["waveform_in"]) - reference["representation_in"]).max() > 0.1


def test_scaling_inverts_exactly():
    rep = LogSpectrogram()
    R = torch.linspace(-1, 1, 128 * 128, dtype=torch.float64).reshape(1, 128, 128)
    mag = rep.to_magnitude(R)
    assert float(mag.min()) == pytest.approx(1e-8, rel=1e-12) and float(mag.max()) == pytest.approx(np.exp(3.0), rel=1e-12)
    L = torch.log(mag)
    back = (L - rep.cfg.log_clip) / (rep.cfg.log_max - rep.cfg.log_clip) * 2 - 1
    assert torch.allclose(back, R, atol=1e-12)


def test_fast_stft_pair_matches_torch():
    """The Griffin-Lim STFT pair equals torch.stft(torch.istft(.)) (the projection P1)."""
    from quakesynth.repr.spectrogram import _FastSTFT

    rep = LogSpectrogram()
    ops = _FastSTFT(rep.cfg, torch.device("cpu"))
    C = torch.randn(3, 129, 128, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    ref = rep.stft(rep.istft(C))
    ours = ops.forward_buffer(ops.inverse_buffer(C.transpose(-1, -2).contiguous())).transpose(-1, -2)
    assert (ref - ours).abs().max() <= 2e-6 * ref.abs().max()
    x_ref = rep.istft(C)
    x = ops.signal(ops.inverse_buffer(C.transpose(-1, -2).contiguous()))
    assert (x_ref - x).abs().max() <= 1e-6 * x_ref.abs().max()


def test_consistent_spectrogram_is_a_fixed_point():
    """|STFT| of a real signal with its true phase: zero spectral convergence, signal back."""
    rep = LogSpectrogram(SpectrogramConfig(n_fft=64, hop=16, n_samples=1008))
    x = torch.randn(2, 1008, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    S = rep.stft(x)
    assert torch.allclose(rep.istft(S), x, atol=1e-10)
    assert float(spectral_convergence(S.abs(), rep.stft(rep.istft(S)).abs()).max()) < 1e-12


def _record_like(n: int = 4064, seed: int = 0) -> np.ndarray:
    """Band-limited (0.3-20 Hz) noise under a build-up-and-decay envelope, 3 components."""
    from scipy.signal import butter, sosfilt

    t = np.arange(n) / 100.0
    env = (t / 8) ** 2 * np.exp(2 - t / 8) / 4
    sos = butter(4, [0.3, 20], "bandpass", fs=100, output="sos")
    return sosfilt(sos, np.random.default_rng(seed).normal(size=(1, 3, n))) * env * 0.1


def test_griffin_lim_round_trip_record_like():
    """A record-like signal: SC after 128 iterations below 0.1 (measured 0.046-0.072) and
    no worse than after 16."""
    rep = LogSpectrogram()
    R = rep.forward(_record_like())
    sc = {n: rep.spectral_convergence(rep.inverse(R, n_iter=n), R) for n in (16, 128)}
    assert float(sc[128].max()) < 0.1
    assert float(sc[128].mean()) <= float(sc[16].mean())


@pytest.mark.shared
def test_griffin_lim_round_trip_real_record(reference):
    """The K-NET record of the reference: SC 0.052-0.058 per component after 128 iterations."""
    rep = LogSpectrogram()
    R = rep.forward(reference["waveform_in"])
    wave = rep.inverse(R, n_iter=128)
    assert float(rep.spectral_convergence(wave, R).max()) < 0.07
    # magnitudes come back; the phase is free, so compare energy, not samples
    e_in, e_out = (np.sum(reference["waveform_in"].astype(np.float64) ** 2, axis=-1),
                   np.sum(wave.astype(np.float64) ** 2, axis=-1))
    assert np.allclose(e_out, e_in, rtol=0.1)


@pytest.mark.shared
@pytest.mark.slow
def test_griffin_lim_at_least_as_accurate_as_reference(reference):
    """Spectral convergence of the reference's librosa Griffin-Lim (128 iterations, random
    phases) on decoded_representation_out is 0.1650 (mean of 6 components); ours (PGHI initial
    phase + 128 FGLA iterations) must be no worse (measured 0.1622)."""
    rep = LogSpectrogram()
    spec = reference["decoded_representation_out"]
    sc_ref = rep.spectral_convergence(reference["griffinlim_waveform_out"], spec)
    assert float(sc_ref.mean()) == pytest.approx(0.1650, abs=5e-4)
    wave = rep.inverse(spec, n_iter=128)
    assert wave.shape == (2, 3, 4064) and wave.dtype == np.float32
    sc = rep.spectral_convergence(wave, spec)
    assert float(sc.mean()) <= float(sc_ref.mean())


def test_random_init_seeds_are_per_waveform():
    """With one seed per item, a waveform does not depend on the batch it is inverted in."""
    cfg = SpectrogramConfig(n_fft=64, hop=16, n_samples=1008)
    rep = LogSpectrogram(cfg)
    spec = torch.rand(3, 3, 32, 64, generator=torch.Generator().manual_seed(0)) * 1.6 - 1
    full = rep.inverse(spec, n_iter=8, init="random", seed=[11, 12, 13])
    alone = rep.inverse(spec[1:2], n_iter=8, init="random", seed=[12])
    assert torch.allclose(full[1:2], alone, atol=1e-6)
    other = rep.inverse(spec[1:2], n_iter=8, init="random", seed=[99])
    assert not torch.allclose(other, alone, atol=1e-3)
    # the default PGHI initial phase needs no seed: deterministic and batch-independent
    assert torch.allclose(rep.inverse(spec, n_iter=8)[1:2], rep.inverse(spec[1:2], n_iter=8), atol=1e-6)
    with pytest.raises(ValueError, match="seed"):
        rep.inverse(spec, n_iter=1, init="random", seed=[1, 2])


def test_gla_methods_reduce_inconsistency():
    cfg = SpectrogramConfig(n_fft=64, hop=16, n_samples=1008)
    rep = LogSpectrogram(cfg)
    x = torch.randn(2, 3, 1008, generator=torch.Generator().manual_seed(2))
    x = x * torch.exp(-((torch.arange(1008) - 300.0) / 150) ** 2)  # a transient, like a record
    R = rep.forward(x)
    for method in ("gla", "fgla", "agla"):
        sc0 = rep.spectral_convergence(rep.inverse(R, n_iter=0, method=method), R).mean()
        sc = rep.spectral_convergence(rep.inverse(R, n_iter=32, method=method), R).mean()
        assert float(sc) < 0.6 * float(sc0), method
    with pytest.raises(ValueError, match="momentum"):
        griffin_lim(torch.ones(1, 33, 64), cfg, n_iter=1, momentum=2.5)


def test_out_of_range_representation_is_clipped_with_a_warning():
    """An untrained decoder can emit values far above 1 (|S| beyond float32); the inverse warns,
    clips and stays finite; NaN input is refused."""
    rep = LogSpectrogram(SpectrogramConfig(n_fft=64, hop=16, n_samples=1008))
    spec = torch.zeros(1, 32, 64)
    spec[0, 5, 10] = 9.5
    with pytest.warns(UserWarning, match="clipped"):
        wave = rep.inverse(spec, n_iter=2)
    assert torch.isfinite(wave).all()
    spec[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        rep.inverse(spec, n_iter=2)
