"""Fourier amplitudes, Konno-Ohmachi smoothing, log spectra and the moving-average envelope."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.metrics.spectra import (
    fourier_amplitude,
    konno_ohmachi_matrix,
    konno_ohmachi_smooth,
    konno_ohmachi_window,
    log_fourier_amplitude,
    log_spectrum,
    moving_average_envelope,
)


def test_fourier_amplitude_normalisation():
    """|FFT| / fs approximates the continuous transform: Gaussian -> s sqrt(2 pi) e^{-2 pi^2 s^2 f^2}."""
    fs, s = 100.0, 0.5
    t = np.arange(-2000, 2000) / fs
    x = np.exp(-(t**2) / (2 * s**2))
    f, amp = fourier_amplitude(x, fs)
    exact = s * np.sqrt(2 * np.pi) * np.exp(-2 * np.pi**2 * s**2 * f**2)
    np.testing.assert_allclose(amp, exact, atol=1e-10)
    assert f[1] == pytest.approx(fs / len(x)) and f[-1] == pytest.approx(fs / 2)
    f2, amp2 = fourier_amplitude(np.stack([x, 2 * x]), fs, n_fft=8192)
    assert amp2.shape == (2, 4097) and np.allclose(amp2[1], 2 * amp2[0])
    _, lg = log_fourier_amplitude(x, fs, base=10)
    np.testing.assert_allclose(lg, np.log10(np.maximum(amp, 1e-12)))


def test_konno_ohmachi_window_against_formula():
    fc, b = 2.0, 40.0
    f = np.array([0.0, 1.0, 1.9, 2.0, 2.1, 4.0])
    z = b * np.log10(f[1:] / fc)
    with np.errstate(invalid="ignore"):
        expect = (np.sin(z) / z) ** 4
    expect[2] = 1.0
    np.testing.assert_allclose(konno_ohmachi_window(f, fc, b), np.r_[0.0, expect], rtol=1e-12)
    # first zero of the window at b log10(f/fc) = pi
    assert konno_ohmachi_window(fc * 10 ** (np.pi / b), fc, b) == pytest.approx(0, abs=1e-30)


def test_smoothing_matrix_matches_brute_force(rng):
    freqs = np.fft.rfftfreq(1024, 0.01)
    fcs = np.geomspace(0.3, 40, 37)
    amp = np.abs(rng.standard_normal((3, len(freqs))))
    got = konno_ohmachi_smooth(amp, freqs, fcs, b=40)
    for j, fc in enumerate(fcs):
        w = konno_ohmachi_window(freqs, fc, 40)
        w[np.abs(40 * np.log10(np.maximum(freqs, 1e-300) / fc)) > 3] = 0
        np.testing.assert_allclose(got[:, j], amp @ w / w.sum(), rtol=1e-12)
    # a constant spectrum stays constant; the matrix is built once and reused (cached)
    np.testing.assert_allclose(konno_ohmachi_smooth(np.ones_like(freqs), freqs, fcs), 1.0)
    assert konno_ohmachi_matrix(freqs, fcs) is konno_ohmachi_matrix(freqs, fcs)
    m = konno_ohmachi_matrix(freqs, fcs)
    assert m.nnz < 0.2 * m.shape[0] * m.shape[1]  # sparse, not O(n^2)


@pytest.mark.slow
def test_smoothing_against_hvsrpy(rng):
    """Same operator as hvsrpy's konno_and_ohmachi (which truncates at |b log10| <= 3)."""
    from refcompat import install_shims

    install_shims()  # hvsrpy's plotting module imports IPython
    smoothing = pytest.importorskip("hvsrpy.smoothing")
    freqs = np.fft.rfftfreq(1024, 0.01)
    fcs = np.geomspace(0.2, 30, 30)
    amp = np.abs(rng.standard_normal((2, len(freqs))))
    ko = getattr(smoothing.konno_and_ohmachi, "py_func", smoothing.konno_and_ohmachi)  # skip JIT
    ref = ko(freqs, amp, fcs, 40.0)
    np.testing.assert_allclose(konno_ohmachi_smooth(amp, freqs, fcs, 40.0), ref, rtol=1e-10)


@pytest.mark.parametrize("kernel", [1, 2, 5, 128])
def test_moving_average_envelope_equals_convolution(rng, kernel):
    x = rng.standard_normal((2, 3, 700))
    env = moving_average_envelope(x, kernel)
    assert env.shape == x.shape
    for i in range(2):
        for j in range(3):
            ref = np.convolve(np.abs(x[i, j]), np.ones(kernel) / kernel, mode="same")
            np.testing.assert_allclose(env[i, j], ref, rtol=1e-10, atol=1e-12)
    inside = moving_average_envelope(np.ones(50), kernel, edges="inside")
    np.testing.assert_allclose(inside, 1.0)


def test_log_spectrum_and_errors():
    assert log_spectrum(np.array([np.e, 0.0]), eps=1e-3)[0] == pytest.approx(1.0)
    assert log_spectrum(np.array([0.0]), eps=1e-3)[0] == pytest.approx(np.log(1e-3))
    with pytest.raises(ValueError, match="non-negative"):
        log_spectrum(np.array([-1.0]))
    with pytest.raises(ValueError, match="kernel"):
        moving_average_envelope(np.ones(10), 0)
    with pytest.raises(ValueError, match="n_fft"):
        fourier_amplitude(np.ones(10), 100.0, n_fft=5)
    with pytest.raises(ValueError, match="fcs"):
        konno_ohmachi_smooth(np.ones(5), np.arange(5.0), [-1.0])
    with pytest.raises(ValueError, match="x"):
        fourier_amplitude(np.array([np.nan]), 100.0)
