"""Horizontal-to-vertical spectral ratios (HVSR) of earthquake records, f0 and batch statistics.

The ratio, per record (the "traditional" earthquake HVSR, as ``hvsrpy``'s
``HvsrTraditionalProcessingSettings(method_to_combine_horizontals="geometric_mean")``):

1. each component is detrended (least-squares line removed) and tapered with a Tukey window
   (``taper`` = 0.1: 5 % cosine taper at each end) over the whole window given;
2. Fourier amplitudes ``|FFT|`` with ``n_fft`` points (zero padding);
3. horizontal: the geometric mean of the two raw horizontal amplitudes,
   ``H(f) = sqrt(|F_1(f)| |F_2(f)|)``; vertical ``V(f) = |F_Z(f)|``;
4. both Konno-Ohmachi smoothed (``b`` = 40, main lobe; :mod:`quakesynth.metrics.spectra`) at
   the centre frequencies, then ``HVSR(f) = KO[H](f) / KO[V](f)`` (dimensionless).

``f0`` is the frequency of the largest HVSR value within a band (default 0.2-20 Hz).

Batch statistics use the lognormal convention of SESAME (2004) and hvsrpy: the median curve
``exp(mean(ln HVSR))`` and its standard deviation ``sigma_ln`` (natural log, ddof = 1); the
same for f0 across records.
"""

from __future__ import annotations

import numpy as np

from quakesynth.metrics._checks import (
    as_array,
    as_signal,
    check_fs,
    check_positive,
    check_same_shape,
)


def default_hvsr_frequencies(fs: float) -> np.ndarray:
    """200 log-spaced centre frequencies from 0.1 Hz to min(50 Hz, Nyquist)."""
    return np.geomspace(0.1, min(50.0, check_fs(fs) / 2.0), 200)


def _prepare(x: np.ndarray, taper: float, detrend: bool) -> np.ndarray:
    from scipy.signal.windows import tukey

    if detrend:  # least-squares line, as scipy.signal.detrend(type="linear"), vectorised
        t = np.linspace(-1.0, 1.0, x.shape[-1])
        x = x - x.mean(axis=-1, keepdims=True)
        x = x - ((x @ t) / (t @ t))[..., None] * t
    return x * tukey(x.shape[-1], taper)


def hvsr_curves(acc_h1, acc_h2, acc_v, fs: float, freqs=None, b: float = 40.0, taper: float = 0.1,
         n_fft: int | None = None, detrend: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """HVSR curves of three-component records.

    Parameters
    ----------
    acc_h1, acc_h2, acc_v : arrays (..., T)
        Two orthogonal horizontals and the vertical (same unit; the ratio is unitless).
    fs : float
        Sampling rate, Hz.
    freqs : array, optional
        Centre frequencies, Hz (default :func:`default_hvsr_frequencies`).
    b : float
        Konno-Ohmachi bandwidth coefficient.
    taper : float
        Tukey window fraction (0 = none).
    n_fft : int, optional
        FFT length; default the next power of two >= T.
    detrend : bool
        Remove the least-squares line first.

    Returns
    -------
    freqs : (F,) Hz; hvsr : (..., F) dimensionless.
    """
    import scipy.fft

    from quakesynth.metrics.spectra import konno_ohmachi_smooth, rfft_frequencies

    fs = check_fs(fs)
    h1 = as_signal(acc_h1, "acc_h1")
    h2 = as_signal(acc_h2, "acc_h2")
    v = as_signal(acc_v, "acc_v")
    check_same_shape(h1, h2, "acc_h1", "acc_h2")
    check_same_shape(h1, v, "acc_h1", "acc_v")
    fc = default_hvsr_frequencies(fs) if freqs is None else check_positive(freqs, "freqs", unit="Hz")
    if fc.max() > fs / 2:
        raise ValueError(f"freqs must not exceed the Nyquist frequency {fs / 2} Hz; got {fc.max()}")
    if not (0.0 <= taper <= 1.0):
        raise ValueError(f"taper must be a Tukey fraction in [0, 1]; got {taper!r}")
    t = h1.shape[-1]
    n = int(2 ** np.ceil(np.log2(t))) if n_fft is None else int(n_fft)
    if n < t:
        raise ValueError(f"n_fft must be >= the number of samples {t}; got {n_fft!r}")
    f = rfft_frequencies(n, fs)
    lead = h1.shape[:-1]
    flat = [x.reshape(-1, t) for x in (h1, h2, v)]
    m = flat[0].shape[0]
    ratio = np.empty((m, len(fc)))
    chunk = max(1, min(m, int(2**22 // n)))  # bounded memory: ~4 M samples per chunk
    buf = np.zeros((3, chunk, n))  # zero-padded FFT input, reused
    for lo in range(0, m, chunk):
        k = min(chunk, m - lo)
        buf[:, :k, :t] = _prepare(np.stack([x[lo:lo + k] for x in flat]), taper, detrend)
        amp = np.abs(scipy.fft.rfft(buf[:, :k], axis=-1, workers=-1))
        horiz = np.sqrt(amp[0] * amp[1])
        smooth = konno_ohmachi_smooth(np.stack([horiz, amp[2]]), f, fc, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio[lo:lo + k] = smooth[0] / smooth[1]
    return fc, ratio.reshape(lead + (len(fc),))


def f0(curves, freqs, band=(0.2, 20.0)) -> np.ndarray:
    """Frequency (Hz) of the largest HVSR value within ``band`` (Hz), per curve (...)."""
    c = as_array(curves, "curves", finite=False)
    f = check_positive(freqs, "freqs", unit="Hz")
    if c.shape[-1] != len(f):
        raise ValueError(f"curves has {c.shape[-1]} frequencies but freqs has {len(f)}")
    sel = (f >= band[0]) & (f <= band[1])
    if not sel.any():
        raise ValueError(f"band {band!r} Hz contains none of the frequencies "
                         f"({f.min():.3g}-{f.max():.3g} Hz)")
    sub = np.where(np.isfinite(c[..., sel]), c[..., sel], -np.inf)
    return f[sel][np.argmax(sub, axis=-1)]


def hvsr_statistics(curves, freqs, band=(0.2, 20.0)) -> dict[str, np.ndarray | float]:
    """Lognormal batch statistics of HVSR curves (N, F) and their f0.

    Returns
    -------
    dict with
        ``"median"`` (F,): ``exp(mean(ln HVSR))`` over records;
        ``"sigma_ln"`` (F,): standard deviation of ``ln HVSR`` (ddof = 1; 0 for one record);
        ``"f0"`` (N,): f0 of each curve, Hz;
        ``"f0_median"``: ``exp(mean(ln f0))``, Hz; ``"f0_sigma_ln"``: std of ``ln f0``;
        ``"f0_of_median"``: f0 of the median curve, Hz.
    """
    c = as_array(curves, "curves", min_ndim=2)
    if (c <= 0).any():
        raise ValueError("curves must be positive to take logarithms")
    f = check_positive(freqs, "freqs", unit="Hz")
    ln = np.log(c.reshape(-1, c.shape[-1]))
    ddof = 1 if ln.shape[0] > 1 else 0
    median = np.exp(ln.mean(axis=0))
    f0s = f0(ln, f, band)
    lf0 = np.log(f0s)
    return {"median": median, "sigma_ln": ln.std(axis=0, ddof=ddof), "f0": f0s,
            "f0_median": float(np.exp(lf0.mean())), "f0_sigma_ln": float(lf0.std(ddof=ddof)),
            "f0_of_median": float(f0(median, f, band))}
