"""Goodness of fit between a signal and a reference: Kristekova, Anderson, frequency bias, rMAE.

Kristekova et al. (2006, 2009) time-frequency misfits and goodness of fit
---------------------------------------------------------------------------
Both signals are transformed once with the Morlet continuous wavelet transform ``W(t, f)``
(the same discretisation as ``obspy.signal.tf_misfit.cwt``: wavelet parameter ``w0``, ``nf``
log-spaced frequencies ``fmin..fmax``); then with the reference ``W_ref``::

    EM = sqrt(sum (|W| - |W_ref|)^2) / sqrt(sum |W_ref|^2)              (single-valued
    PM = sqrt(sum (|W_ref| arg(W / W_ref) / pi)^2) / sqrt(sum |W_ref|^2)   global misfits)
    EG = A exp(-|EM|^k),   PG = A (1 - |PM|^k)                           (A = 10, k = 1)

sums over time and frequency. For multi-component records the global normalisation uses
the largest reference energy over the components (Kristekova et al., 2009, Table 1), as
``tf_misfit`` does for a (components, samples) array. ``tf_misfit.eg``/``pg`` recompute the
transform for every call; here it is computed once per signal, batched, for both.

Anderson (2004) ten-criterion score
-----------------------------------
For each frequency band the two records are band-passed (zero-phase Butterworth, order 2,
as in the SCEC Broadband Platform implementation) and compared with the score
``S(p1, p2) = 10 exp(-((p1 - p2) / min(p1, p2))^2)``:

- C1 Arias duration: ``10 (1 - max_t |H1(t) - H2(t)|)`` on the normalised Arias (Husid) curves,
- C2 energy duration: the same on the normalised integrals of velocity squared,
- C3 Arias intensity ``S(I_A1, I_A2)``, C4 energy integral ``S(int v1^2, int v2^2)``,
- C5 PGA, C6 PGV, C7 PGD (peaks of the band-passed acceleration and of its integrals),
- C8 response spectra: mean of ``S`` over the 5 %-damped PSA of the *unfiltered* records at
  the periods inside the band,
- C9 Fourier spectra: mean of ``S`` over the unfiltered Fourier amplitudes at the
  frequencies inside the band (optionally Konno-Ohmachi smoothed),
- C10 cross correlation: ``10 max(0, <a1, a2> / (|a1| |a2|))`` at zero lag.

The band score is the mean of C1..C10 and the overall score the mean over bands. Default
bands (Hz): 0.1-0.2, 0.2-0.5, 0.5-1, 1-2, 2-5, 5-10, 10-20 and the broadband 0.1-20 (the
Broadband Platform set below 20 Hz); bands reaching beyond 0.95 of the Nyquist frequency
give NaN.

Frequency bias (Perrone et al., 2025)
-------------------------------------
``bias_b = (mean_{f in b} |X(f)| - mean_{f in b} |X_ref(f)|) / mean_{f in b} |X_ref(f)|``,
the relative difference of the mean Fourier amplitude in each band ``f_low < f <= f_high``
(default bands 0-1, 1-2 and 2-5 Hz); positive means the signal is stronger.

rMAE and rRMSE
--------------
``rMAE = sum |x - x_ref| / sum |x_ref|`` and ``rRMSE = sqrt(sum (x - x_ref)^2 / sum x_ref^2)``
over the last axis (time, or frequency for spectra).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from quakesynth.metrics._checks import (
    as_array,
    as_signal,
    check_bands,
    check_fs,
    check_same_shape,
)

#: Anderson (2004) bands in Hz (the SCEC Broadband Platform set up to 20 Hz + broadband).
ANDERSON_BANDS = ((0.1, 0.2), (0.2, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, 10.0),
                  (10.0, 20.0), (0.1, 20.0))
#: Frequency-bias bands of Perrone et al. (2025), Hz.
BIAS_BANDS = ((0.0, 1.0), (1.0, 2.0), (2.0, 5.0))
ANDERSON_CRITERIA = ("C1_arias_duration", "C2_energy_duration", "C3_arias_intensity",
                     "C4_energy_integral", "C5_pga", "C6_pgv", "C7_pgd", "C8_response_spectra",
                     "C9_fourier_spectra", "C10_cross_correlation")


# --------------------------------------------------------------------------------------
# Kristekova
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _morlet_bank(n: int, dt: float, w0: float, fmin: float, fmax: float, nf: int):
    """FFT of the sampled, time-reversed, conjugated Morlet wavelets, (nf, nfft), as in
    ``obspy.signal.tf_misfit.cwt``; also the FFT length and the output offset.

    The wavelets are sampled on 2 n points, as in tf_misfit; any FFT length of at least
    3 n - 1 gives the same linear convolution, so a fast length near 3 n is used (tf_misfit
    uses 2 next_pow_2(2 n), 4 n for powers of two).
    """
    import scipy.fft

    npts = 2 * n
    t = np.linspace(0.0, (npts - 1) * dt, npts)
    f = np.logspace(np.log10(fmin), np.log10(fmax), nf)
    nfft = scipy.fft.next_fast_len(3 * n - 1)
    scale = w0 / (2.0 * np.pi * f)  # (nf,)
    tau = -(t[None, :] - t[-1] / 2.0) / scale[:, None]
    with np.errstate(under="ignore"):
        psi = np.pi ** -0.25 * np.exp(1j * w0 * tau) * np.exp(-(tau**2) / 2.0)
        psih = psi.conjugate() / np.sqrt(np.abs(scale))[:, None]
    bank = scipy.fft.fft(psih, n=nfft, axis=-1, workers=-1)
    offset = int(t[-1] / 2.0 / (t[1] - t[0]))
    bank.setflags(write=False)
    return bank, nfft, offset


def morlet_cwt(x, fs: float, fmin: float, fmax: float, nf: int = 100, w0: float = 6.0,
               chunk: int = 2) -> np.ndarray:
    """Morlet continuous wavelet transform (..., nf, T), complex, as ``tf_misfit.cwt``.

    Frequencies are ``np.logspace(log10(fmin), log10(fmax), nf)`` Hz; the wavelet bank is
    computed once per (T, fs, fmin, fmax, nf, w0) and cached; signals are transformed in
    chunks of ``chunk`` traces on all cores.
    """
    import scipy.fft

    fs = check_fs(fs)
    a = as_signal(x, "x")
    if not (0 < fmin < fmax <= fs / 2):
        raise ValueError(f"need 0 < fmin < fmax <= Nyquist {fs / 2} Hz; got fmin={fmin!r}, "
                         f"fmax={fmax!r}")
    if int(nf) != nf or nf < 1:
        raise ValueError(f"nf must be a positive integer; got {nf!r}")
    n = a.shape[-1]
    dt = 1.0 / fs
    bank, nfft, off = _morlet_bank(n, dt, float(w0), float(fmin), float(fmax), int(nf))
    flat = a.reshape(-1, n)
    out = np.empty((len(flat), int(nf), n), dtype=complex)
    buf = np.empty((min(chunk, len(flat)), int(nf), nfft), dtype=complex)
    for lo in range(0, len(flat), chunk):
        m = min(chunk, len(flat) - lo)
        sf = scipy.fft.fft(flat[lo:lo + m], n=nfft, axis=-1, workers=-1)
        np.multiply(bank[None], sf[:, None, :], out=buf[:m])
        w = scipy.fft.ifft(buf[:m], axis=-1, workers=-1, overwrite_x=True)
        np.multiply(w[..., off:off + n], dt, out=out[lo:lo + m])
    return out.reshape(a.shape[:-1] + (int(nf), n))


def kristekova_gof(x, ref, fs: float, fmin: float, fmax: float, nf: int = 100,
                   w0: float = 6.0, norm: str = "global", a: float = 10.0, k: float = 1.0,
                   multicomponent: bool | None = None) -> dict[str, np.ndarray]:
    """Envelope and phase misfits and goodness of fit (Kristekova et al., 2006, 2009).

    Parameters
    ----------
    x, ref : arrays (N, T) or (N, C, T)
        The signal and the reference (same shape). With three axes each record's C
        components are normalised together (``tf_misfit``'s multi-component form); with two
        axes every trace is a single-component signal.
    fs : float
        Sampling rate, Hz.
    fmin, fmax, nf, w0
        Wavelet frequencies (Hz) and parameter, as in ``obspy.signal.tf_misfit``.
    norm : {"global", "local"}
        Normalisation of the misfits.
    a, k : float
        GOF maximum and sensitivity.
    multicomponent : bool, optional
        Override the shape rule above (True: the second-to-last axis is components).

    Returns
    -------
    dict of arrays shaped like ``x`` without the time axis:
        ``"EM"``, ``"PM"`` (single-valued envelope and phase misfits) and ``"EG"``, ``"PG"``
        (envelope and phase goodness of fit, 0..``a``; ``tf_misfit.eg`` and ``pg``).
    """
    sx = as_signal(x, "x")
    sr = as_signal(ref, "ref")
    check_same_shape(sx, sr, "x", "ref")
    if norm not in ("global", "local"):
        raise ValueError(f"norm must be 'global' or 'local'; got {norm!r}")
    multi = (sx.ndim >= 3) if multicomponent is None else bool(multicomponent)
    if multi and sx.ndim < 2:
        raise ValueError(f"multicomponent needs (..., C, T) input; got shape {sx.shape}")
    # misfit sums per trace, computed in chunks of traces (bounded memory: the transforms of
    # a chunk only), each signal transformed once for both envelope and phase
    n = sx.shape[-1]
    fx = sx.reshape(-1, n)
    fr = sr.reshape(-1, n)
    e_num = np.empty(len(fx))
    p_num = np.empty(len(fx))
    energy = np.empty(len(fx))
    step = max(1, int(2**22 // (int(nf) * n)))  # ~4 M complex values (64 MB) per transform
    for lo in range(0, len(fx), step):
        w1 = morlet_cwt(fx[lo:lo + step], fs, fmin, fmax, nf, w0)
        w2 = morlet_cwt(fr[lo:lo + step], fs, fmin, fmax, nf, w0)
        a2 = np.abs(w2)
        e_num[lo:lo + step] = np.sqrt(((np.abs(w1) - a2) ** 2).sum(axis=(-2, -1)))
        with np.errstate(divide="ignore", invalid="ignore"):
            phase = np.nan_to_num(np.angle(w1 / w2) / np.pi)
        p_num[lo:lo + step] = np.sqrt(((a2 * phase) ** 2).sum(axis=(-2, -1)))
        energy[lo:lo + step] = np.sqrt((a2**2).sum(axis=(-2, -1)))
    shape = sx.shape[:-1]
    e_num, p_num, energy = (v.reshape(shape) for v in (e_num, p_num, energy))
    if multi and norm == "global":
        energy = np.broadcast_to(energy.max(axis=-1, keepdims=True), energy.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        em = e_num / energy
        pm = p_num / energy
    return {"EM": em, "PM": pm, "EG": a * np.exp(-np.abs(em) ** k), "PG": a * (1 - np.abs(pm) ** k)}


# --------------------------------------------------------------------------------------
# Anderson (2004)
# --------------------------------------------------------------------------------------
def anderson_score(p1, p2) -> np.ndarray:
    """``S(p1, p2) = 10 exp(-((p1 - p2) / min(p1, p2))^2)`` element-wise (0..10).

    Equal values (including two zeros) score 10; a zero against a non-zero value scores 0.
    """
    p1 = np.asarray(p1, dtype=float)
    p2 = np.asarray(p2, dtype=float)
    lo = np.minimum(p1, p2)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = 10.0 * np.exp(-(((p1 - p2) / lo) ** 2))
    return np.where((p1 == p2), 10.0, np.where(lo > 0, s, 0.0))


def _duration_score(y1: np.ndarray, y2: np.ndarray, dt: float) -> np.ndarray:
    from quakesynth.metrics.peaks import cumulative_trapezoid

    c1 = cumulative_trapezoid(y1 * y1, dt)
    c2 = cumulative_trapezoid(y2 * y2, dt)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.abs(c1 / c1[..., -1:] - c2 / c2[..., -1:]).max(axis=-1)
    return np.clip(10.0 * (1.0 - d), 0.0, 10.0), c1[..., -1], c2[..., -1]


def anderson_gof(x, ref, fs: float, bands=ANDERSON_BANDS, periods=None, damping: float = 0.05,
                 fas_smoothing_b: float | None = None) -> dict[str, np.ndarray]:
    """Anderson (2004) goodness of fit of acceleration records against references.

    Parameters
    ----------
    x, ref : arrays (..., T)
        Acceleration of the signal and the reference, m/s^2 (single components).
    fs : float
        Sampling rate, Hz.
    bands : sequence of (f_low, f_high)
        Frequency bands, Hz (default :data:`ANDERSON_BANDS`).
    periods : array, optional
        Oscillator periods for C8 (s); default 100 log-spaced periods spanning the bands.
    damping : float
        Oscillator damping for C8.
    fas_smoothing_b : float, optional
        Konno-Ohmachi bandwidth for C9 (None: raw amplitudes, as the Broadband Platform).

    Returns
    -------
    dict with ``"criteria"`` (..., B, 10) (order :data:`ANDERSON_CRITERIA`), ``"band_score"``
    (..., B), ``"score"`` (...) (mean over the valid bands) and ``"bands"`` (B, 2).
    """
    from scipy.signal import sosfiltfilt

    from quakesynth.metrics.peaks import integrate
    from quakesynth.metrics.response import response_spectrum
    from quakesynth.metrics.spectra import fourier_amplitude, konno_ohmachi_smooth
    from quakesynth.signal import butterworth_sos

    fs = check_fs(fs)
    sx = as_signal(x, "x")
    sr = as_signal(ref, "ref")
    check_same_shape(sx, sr, "x", "ref")
    bnd = check_bands(bands)
    dt = 1.0 / fs
    lead = sx.shape[:-1]
    both = np.stack([sx.reshape(-1, sx.shape[-1]), sr.reshape(-1, sr.shape[-1])])  # (2, M, T)
    fpos = bnd[bnd > 0]
    if periods is None:
        periods = np.logspace(np.log10(1.0 / min(fpos.max(), fs / 2)), np.log10(1.0 / fpos.min()), 100)
    periods = np.asarray(periods, dtype=float)
    psa = response_spectrum(both, fs, periods, damping)  # (2, M, P)
    freqs, fas = fourier_amplitude(both, fs)
    if fas_smoothing_b is not None:
        fas = konno_ohmachi_smooth(fas, freqs, freqs[1:], fas_smoothing_b)
        freqs = freqs[1:]
    m = both.shape[1]
    crit = np.full((m, len(bnd), 10), np.nan)
    for ib, (f1, f2) in enumerate(bnd):
        if f2 > 0.95 * fs / 2:
            continue
        sos = butterworth_sos(2, [f1, f2] if f1 > 0 else f2, fs, "bandpass" if f1 > 0 else "lowpass")
        acc = sosfiltfilt(sos, both, axis=-1)
        vel, disp = integrate(acc, fs, baseline="none")
        c1, ia1, ia2 = _duration_score(acc[0], acc[1], dt)
        c2, ie1, ie2 = _duration_score(vel[0], vel[1], dt)
        crit[:, ib, 0] = c1
        crit[:, ib, 1] = c2
        crit[:, ib, 2] = anderson_score(ia1, ia2)
        crit[:, ib, 3] = anderson_score(ie1, ie2)
        for j, y in enumerate((acc, vel, disp)):
            pk = np.abs(y).max(axis=-1)
            crit[:, ib, 4 + j] = anderson_score(pk[0], pk[1])
        sel_p = (periods >= 1.0 / f2) & (periods <= (1.0 / f1 if f1 > 0 else np.inf))
        if sel_p.any():
            crit[:, ib, 7] = anderson_score(psa[0][:, sel_p], psa[1][:, sel_p]).mean(axis=-1)
        sel_f = (freqs >= f1) & (freqs <= f2) & (freqs > 0)
        if sel_f.any():
            crit[:, ib, 8] = anderson_score(fas[0][:, sel_f], fas[1][:, sel_f]).mean(axis=-1)
        num = (acc[0] * acc[1]).sum(axis=-1)
        den = np.sqrt((acc[0] ** 2).sum(axis=-1) * (acc[1] ** 2).sum(axis=-1))
        with np.errstate(divide="ignore", invalid="ignore"):
            crit[:, ib, 9] = 10.0 * np.maximum(num / den, 0.0)
    import warnings

    with warnings.catch_warnings():  # all-NaN bands (above Nyquist) stay NaN silently
        warnings.simplefilter("ignore", RuntimeWarning)
        band_score = np.nanmean(crit, axis=-1)
        score = np.nanmean(band_score, axis=-1)
    return {"criteria": crit.reshape(lead + crit.shape[1:]),
            "band_score": band_score.reshape(lead + (len(bnd),)),
            "score": score.reshape(lead), "bands": bnd}


# --------------------------------------------------------------------------------------
# frequency bias, rMAE, rRMSE
# --------------------------------------------------------------------------------------
def frequency_bias(x, ref, fs: float, bands=BIAS_BANDS) -> np.ndarray:
    """Relative difference of the mean Fourier amplitude per band (..., B) (Perrone et al.).

    ``(mean |X| - mean |X_ref|) / mean |X_ref|`` over the FFT frequencies with
    ``f_low < f <= f_high`` (Hz); dimensionless.
    """
    from quakesynth.metrics.spectra import fourier_amplitude

    sx = as_signal(x, "x")
    sr = as_signal(ref, "ref")
    check_same_shape(sx, sr, "x", "ref")
    bnd = check_bands(bands)
    freqs, amp = fourier_amplitude(np.stack([sx, sr]), fs)
    out = np.empty(sx.shape[:-1] + (len(bnd),))
    for i, (f1, f2) in enumerate(bnd):
        sel = (freqs > f1) & (freqs <= f2)
        if not sel.any():
            raise ValueError(f"band ({f1}, {f2}) Hz contains no FFT frequency "
                             f"(resolution {freqs[1]:.3g} Hz)")
        m1 = amp[0][..., sel].mean(axis=-1)
        m2 = amp[1][..., sel].mean(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., i] = (m1 - m2) / m2
    return out


def rmae(x, ref) -> np.ndarray:
    """Relative mean absolute error ``sum |x - ref| / sum |ref|`` over the last axis (...)."""
    a = as_array(x, "x")
    b = as_array(ref, "ref")
    check_same_shape(a, b, "x", "ref")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(a - b).sum(axis=-1) / np.abs(b).sum(axis=-1)


def rrmse(x, ref) -> np.ndarray:
    """Relative root-mean-square error ``sqrt(sum (x - ref)^2 / sum ref^2)`` over the last axis."""
    a = as_array(x, "x")
    b = as_array(ref, "ref")
    check_same_shape(a, b, "x", "ref")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(((a - b) ** 2).sum(axis=-1) / (b**2).sum(axis=-1))
