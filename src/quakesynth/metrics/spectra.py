"""Fourier amplitude spectra, Konno-Ohmachi smoothing, log spectra and moving-average envelopes.

Normalisation: :func:`fourier_amplitude` returns ``|FFT(x)| / fs``, the discrete
approximation of the amplitude of the continuous Fourier transform
``|X(f)| = |int x(t) exp(-2 pi i f t) dt|``; for acceleration in m/s^2 it is in m/s.

Konno & Ohmachi (1998) smoothing at centre frequency ``fc`` with bandwidth ``b``::

    W(f, fc) = [sin(b log10(f / fc)) / (b log10(f / fc))]^4,   W(fc, fc) = 1,

    S(fc) = sum_f W(f, fc) A(f) / sum_f W(f, fc)

over the positive frequencies with ``|b log10(f / fc)| <= cutoff`` (default 3, i.e. the
main lobe, which ends at pi; the same truncation as ``hvsrpy``). The weights are a sparse
matrix built once per frequency grid and reused (cached), so smoothing a batch is one
sparse-dense product, not O(n^2) work per call.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from quakesynth.metrics._checks import as_array, as_signal, check_fs, check_positive


def rfft_frequencies(n_fft: int, fs: float) -> np.ndarray:
    """Frequencies (Hz) of the one-sided spectrum of an ``n_fft``-point FFT."""
    return np.fft.rfftfreq(int(n_fft), 1.0 / check_fs(fs))


def fourier_amplitude(x, fs: float, n_fft: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Fourier amplitude spectrum ``|FFT(x)| / fs``.

    Parameters
    ----------
    x : array (..., T)
        Time series (acceleration in m/s^2 gives m/s).
    fs : float
        Sampling rate, Hz.
    n_fft : int, optional
        FFT length (zero-padding); default ``T``.

    Returns
    -------
    freqs : (F,) Hz, ``F = n_fft // 2 + 1``.
    amplitude : (..., F) in the unit of ``x`` times s.
    """
    fs = check_fs(fs)
    a = as_signal(x, "x", min_samples=1)
    n = a.shape[-1] if n_fft is None else int(n_fft)
    if n < a.shape[-1]:
        raise ValueError(f"n_fft must be >= the number of samples {a.shape[-1]}; got {n_fft!r}")
    import scipy.fft

    spec = scipy.fft.rfft(a, n=n, axis=-1, workers=-1)
    return rfft_frequencies(n, fs), np.abs(spec) / fs


def konno_ohmachi_window(f, fc: float, b: float = 40.0) -> np.ndarray:
    """The Konno-Ohmachi window ``[sin(b log10(f/fc)) / (b log10(f/fc))]^4`` (untruncated).

    ``W = 1`` at ``f = fc`` and 0 for ``f <= 0``.
    """
    f = np.asarray(f, dtype=float)
    if not fc > 0:
        raise ValueError(f"fc must be a positive frequency in Hz; got {fc!r}")
    if not b > 0:
        raise ValueError(f"b must be a positive bandwidth coefficient; got {b!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = b * np.log10(f / fc)
        w = (np.sin(z) / z) ** 4
    w = np.where(f <= 0, 0.0, w)
    return np.where(z == 0, 1.0, w)


def konno_ohmachi_matrix(freqs, fcs, b: float = 40.0, cutoff: float = 3.0):
    """Row-normalised sparse Konno-Ohmachi weights (len(fcs), len(freqs)), CSR.

    ``freqs`` must be ascending (an FFT grid); entries with ``|b log10(f/fc)| > cutoff`` or
    ``f <= 0`` are zero. Rows whose window holds no frequency are all zero (smoothed value
    0). Cached per (grid, fcs, b, cutoff).
    """
    f = as_array(freqs, "freqs")
    c = check_positive(fcs, "fcs", unit="Hz")
    if f.ndim != 1 or (np.diff(f) <= 0).any():
        raise ValueError("freqs must be a strictly ascending 1-D frequency grid")
    if not b > 0:
        raise ValueError(f"b must be a positive bandwidth coefficient; got {b!r}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive; got {cutoff!r}")
    return _ko_matrix(f.tobytes(), len(f), c.tobytes(), float(b), float(cutoff))[0]


@lru_cache(maxsize=32)
def _ko_matrix(fbytes: bytes, nf: int, cbytes: bytes, b: float, cutoff: float):
    import scipy.sparse

    f = np.frombuffer(fbytes, dtype=float)
    c = np.frombuffer(cbytes, dtype=float)
    lo = np.searchsorted(f, c * 10.0 ** (-cutoff / b), side="left")
    hi = np.searchsorted(f, c * 10.0 ** (cutoff / b), side="right")
    lo = np.maximum(lo, np.searchsorted(f, 0.0, side="right"))  # positive frequencies only
    width = np.maximum(hi - lo, 0)
    rows = np.repeat(np.arange(len(c)), width)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(width)[:-1]]), width)
    cols = starts + np.arange(width.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        z = b * np.log10(f[cols] / c[rows])
        w = np.where(z == 0, 1.0, (np.sin(z) / z) ** 4)
    sums = np.bincount(rows, weights=w, minlength=len(c))
    w = w / np.where(sums > 0, sums, 1.0)[rows]
    mat = scipy.sparse.csr_matrix((w, (rows, cols)), shape=(len(c), nf))
    # the same weights restricted to the columns in use (smaller products)
    c0 = int(cols.min()) if cols.size else 0
    c1 = int(cols.max()) + 1 if cols.size else 0
    sub = scipy.sparse.csr_matrix((w, (rows, cols - c0)), shape=(len(c), c1 - c0))
    return mat, sub, c0, c1


def konno_ohmachi_smooth(amplitude, freqs, fcs=None, b: float = 40.0, cutoff: float = 3.0
                         ) -> np.ndarray:
    """Konno-Ohmachi smoothed spectra (..., len(fcs)) at the centre frequencies ``fcs`` (Hz).

    Parameters
    ----------
    amplitude : array (..., F)
        Spectra on the ascending grid ``freqs`` (F,).
    fcs : array, optional
        Centre frequencies, Hz; default the positive ``freqs``.
    b, cutoff : float
        Bandwidth coefficient and window truncation (see the module notes).
    """
    amp = as_array(amplitude, "amplitude")
    f = as_array(freqs, "freqs")
    if amp.shape[-1] != f.shape[-1]:
        raise ValueError(f"amplitude has {amp.shape[-1]} frequencies but freqs has {f.shape[-1]}")
    c = f[f > 0] if fcs is None else fcs
    konno_ohmachi_matrix(f, c, b, cutoff)  # validates and builds (cached)
    _, sub, c0, c1 = _ko_matrix(f.tobytes(), len(f), check_positive(c, "fcs").tobytes(),
                                float(b), float(cutoff))
    flat = amp.reshape(-1, amp.shape[-1])
    out = sub @ np.ascontiguousarray(flat[:, c0:c1].T)
    return np.ascontiguousarray(np.asarray(out).T).reshape(amp.shape[:-1] + (sub.shape[0],))


def log_spectrum(amplitude, eps: float = 1e-12, base: float | str = "e") -> np.ndarray:
    """Log amplitude ``log(max(A, eps))`` (natural log by default; ``base=10`` for log10)."""
    a = as_array(amplitude, "amplitude")
    if (a < 0).any():
        raise ValueError("amplitude must be non-negative")
    if not eps > 0:
        raise ValueError(f"eps must be positive; got {eps!r}")
    x = np.maximum(a, eps)
    if base == "e":
        return np.log(x)
    if base == 10 or base == "10":
        return np.log10(x)
    raise ValueError(f"base must be 'e' or 10; got {base!r}")


def log_fourier_amplitude(x, fs: float, n_fft: int | None = None, eps: float = 1e-12,
                          base: float | str = "e") -> tuple[np.ndarray, np.ndarray]:
    """``freqs`` (Hz) and ``log(max(|FFT(x)| / fs, eps))`` (..., F) (ln by default)."""
    freqs, amp = fourier_amplitude(x, fs, n_fft)
    return freqs, log_spectrum(amp, eps, base)


def smoothed_log_fas(x, fs: float, centres, b: float = 40.0) -> np.ndarray:
    """``log10`` of the Konno-Ohmachi (bandwidth ``b``) smoothed Fourier amplitude of ``x``
    (..., T) sampled at ``fs`` Hz, at ``centres`` (Hz): (..., F), in log10 of the unit of ``x``
    times s (m/s for m/s^2); all-zero records give -300."""
    f, a = fourier_amplitude(np.asarray(x, np.float64), fs)
    return np.log10(np.maximum(konno_ohmachi_smooth(a, f, np.asarray(centres, float), b), 1e-300))


def moving_average_envelope(x, kernel: int = 128, edges: str = "zero") -> np.ndarray:
    """The moving-average envelope of HighFEM: a centred running mean of ``|x|``.

    Returns an array of the same shape as ``x`` (..., T), in the unit of ``x``:
    ``E[n] = (1/kernel) * sum_{j=0}^{kernel-1} |x[n + (kernel-1)//2 - j]|``. With
    ``edges="zero"`` (default, the HighFEM reference) ``x = 0`` outside the record, i.e.
    exactly ``np.convolve(np.abs(x), np.ones(kernel) / kernel, mode="same")`` per trace, so
    the first and last ``kernel//2`` samples are biased low; ``edges="inside"`` divides by
    the number of window samples inside the record instead (no edge bias). The envelope is
    linear (not logarithmic); the HighFEM log envelope is ``log10(E + offset)`` of this,
    taken by the caller.

    >>> import numpy as np
    >>> x = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    >>> moving_average_envelope(x, kernel=2).tolist()
    [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    a = as_signal(x, "x", min_samples=1)
    k = int(kernel)
    if k != kernel or k < 1:
        raise ValueError(f"kernel must be a positive integer number of samples; got {kernel!r}")
    if edges not in ("zero", "inside"):
        raise ValueError(f"edges must be 'zero' or 'inside'; got {edges!r}")
    t = a.shape[-1]
    absx = np.abs(a)
    # running sums with zero padding: window for output n covers [n - k + 1 + s, n + s]
    s = (k - 1) // 2
    csum = np.concatenate([np.zeros(a.shape[:-1] + (1,)), np.cumsum(absx, axis=-1)], axis=-1)
    n = np.arange(t)
    hi = np.clip(n + s + 1, 0, t)
    lo = np.clip(n + s + 1 - k, 0, t)
    count = k if edges == "zero" else (hi - lo)
    return (csum[..., hi] - csum[..., lo]) / count
