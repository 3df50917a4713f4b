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

``f0`` is the frequency of the largest HVSR value within a band: :data:`F0_BAND_HZ`
(0.5-15 Hz) everywhere in the package, unless a caller passes another band. An f0 is
meaningful only where the curve has a **clear peak** (:func:`clear_peak`, after SESAME 2004's
amplitude and contrast criteria): ``A0 = HVSR(f0) > min_amplitude`` (2), and the curve falls
below ``A0 / min_contrast`` (2) both somewhere in ``[f0 / 4, f0)`` and somewhere in
``(f0, 4 f0]``. :func:`f0_clear` returns NaN ("no clear peak") elsewhere; a flat curve, or
one below 1 everywhere, has no f0 however close its arg-max lands to a site's f0.

Several records of one station: :func:`f0_modes` flags a station whose single-record f0
values fall into two groups (a site with two states, e.g. before and after a change of the
soil or the sensor), which the median curve hides.

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

#: The f0 search band of the package, Hz (metrics, site-specific evaluation, benchmarks).
F0_BAND_HZ = (0.5, 15.0)


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


def f0(curves, freqs, band=F0_BAND_HZ) -> np.ndarray:
    """Frequency (Hz) of the largest HVSR value within ``band`` (Hz), per curve (...), whether
    or not that maximum is a clear peak (see :func:`f0_clear`)."""
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


def hvsr_statistics(curves, freqs, band=F0_BAND_HZ) -> dict[str, np.ndarray | float]:
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


def clear_peak(curves, freqs, band=F0_BAND_HZ, min_amplitude: float = 2.0,
               min_contrast: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arg-max f0 in ``band`` and whether it is a clear peak (module docstring).

    Parameters
    ----------
    curves : (..., F) HVSR curves (dimensionless, linear: not log).
    freqs : (F,) their frequencies, Hz (increasing).
    band : f0 search band, Hz.
    min_amplitude : ``A0`` must exceed this (SESAME: 2).
    min_contrast : the curve must fall below ``A0 / min_contrast`` within a factor 4 of f0 on
        each side (SESAME: 2). The neighbourhood may extend beyond ``band`` but not beyond
        ``freqs``: a peak at the edge of the computed curve cannot be shown to be clear.

    Returns
    -------
    f0 : (...) Hz; amplitude : (...) ``A0``; clear : (...) bool.

    >>> f = np.geomspace(0.1, 20, 200)
    >>> peak = 1 + 5 * np.exp(-np.log(f / 2.0) ** 2 / 0.02)
    >>> fz, a0, ok = clear_peak(np.stack([peak, np.full(200, 0.8)]), f)
    >>> ok.tolist(), round(float(fz[0]), 1)
    ([True, False], 2.0)
    """
    c = as_array(curves, "curves", finite=False)
    f = check_positive(freqs, "freqs", unit="Hz")
    if np.any(np.diff(f) <= 0):
        raise ValueError("freqs must be increasing")
    if min_amplitude < 0 or min_contrast < 1:
        raise ValueError(f"min_amplitude must be >= 0 and min_contrast >= 1; got {min_amplitude}, {min_contrast}")
    fz = f0(c, f, band)
    flat = np.where(np.isfinite(c), c, np.nan).reshape(-1, len(f))
    fz_flat = fz.reshape(-1)
    i0 = np.searchsorted(f, fz_flat)
    a0 = flat[np.arange(len(flat)), i0]
    below = flat < (a0 / min_contrast)[:, None]  # NaN compares False
    lo = (f[None, :] >= fz_flat[:, None] / 4) & (f[None, :] < fz_flat[:, None])
    hi = (f[None, :] > fz_flat[:, None]) & (f[None, :] <= fz_flat[:, None] * 4)
    ok = (a0 > min_amplitude) & (below & lo).any(1) & (below & hi).any(1)
    return fz, a0.reshape(fz.shape), ok.reshape(fz.shape)


def f0_clear(curves, freqs, band=F0_BAND_HZ, min_amplitude: float = 2.0, min_contrast: float = 2.0) -> np.ndarray:
    """f0 (Hz) of each curve (...) where it is a clear peak (:func:`clear_peak`); NaN ("no
    clear peak") elsewhere."""
    fz, _, ok = clear_peak(curves, freqs, band, min_amplitude, min_contrast)
    return np.where(ok, fz, np.nan)


def f0_modes(f0_hz, min_ratio: float = 2.0, min_fraction: float = 0.2, min_records: int = 3,
             curves=None, freqs=None, min_contrast: float = 2.0) -> dict:
    """Spread of single-record f0 values (Hz) of one station, and a two-state flag.

    The finite values (clear peaks) are sorted in ln f0 and split at their largest gap. The
    station is **multi-modal** when that gap exceeds ``ln(min_ratio)`` (a factor 2 in
    frequency) and each side holds at least ``min_records`` records and ``min_fraction`` of
    them. With the records' ``curves`` (N, F) at ``freqs`` (Hz), the peak must also have
    *moved*: in each group, a record's H/V at the other group's f0 must be below its own
    peak over ``min_contrast`` (median over the group). Records whose curves have both peaks, the
    arg-max landing on either, are one state with two peaks, not two states.

    Returns
    -------
    dict with ``n`` (records with an f0), ``f0_median`` (Hz, ``exp(mean ln f0)``),
    ``f0_sigma_ln``, ``f0_p10`` / ``f0_p90`` (Hz), ``multimodal`` (bool) and ``modes``
    (Hz: the geometric means of the two groups when multi-modal, else of all values).

    >>> f0_modes([1.5, 1.6, 1.55, 7.4, 7.9, 7.6])["multimodal"]
    True
    >>> f0_modes([1.5, 1.6, 1.55, 1.7])["multimodal"]
    False
    """
    x = np.asarray(f0_hz, dtype=np.float64).reshape(-1)
    ok = np.isfinite(x) & (x > 0)
    order = np.argsort(np.log(np.where(ok, x, 1.0))[ok])
    x = np.log(x[ok])[order]
    c = None
    if curves is not None:
        c = as_array(curves, "curves", finite=False).reshape(-1, len(check_positive(freqs, "freqs", unit="Hz")))
        if len(c) != ok.size:
            raise ValueError(f"curves has {len(c)} rows for {ok.size} f0 values")
        c = c[ok][order]
    n = len(x)
    if n == 0:
        return {"n": 0, "f0_median": np.nan, "f0_sigma_ln": np.nan, "f0_p10": np.nan, "f0_p90": np.nan,
                "multimodal": False, "modes": []}
    out = {"n": n, "f0_median": float(np.exp(x.mean())), "f0_sigma_ln": float(x.std(ddof=1)) if n > 1 else 0.0,
           "f0_p10": float(np.exp(np.quantile(x, 0.1))), "f0_p90": float(np.exp(np.quantile(x, 0.9))),
           "multimodal": False, "modes": [float(np.exp(x.mean()))]}
    if n >= 2 * min_records:
        gaps = np.diff(x)
        j = int(np.argmax(gaps))
        k = j + 1  # records below the gap
        need = max(min_records, int(np.ceil(min_fraction * n)))
        if gaps[j] > np.log(min_ratio) and k >= need and n - k >= need:
            modes = [float(np.exp(x[:k].mean())), float(np.exp(x[k:].mean()))]
            moved = True
            if c is not None:  # H/V of each record at the other group's f0, over its own peak
                lf = np.log(np.asarray(freqs, dtype=np.float64))
                other = np.where(np.arange(n) < k, np.log(modes[1]), np.log(modes[0]))
                at_other = np.array([np.interp(o, lf, row) for o, row in zip(other, c)])
                at_own = np.array([np.interp(v, lf, row) for v, row in zip(x, c)])
                r = at_other / at_own
                moved = bool(np.median(r[:k]) < 1.0 / min_contrast and np.median(r[k:]) < 1.0 / min_contrast)
            if moved:
                out["multimodal"] = True
                out["modes"] = modes
    return out
