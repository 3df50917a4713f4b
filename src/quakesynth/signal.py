"""Filter design shared by the package, in the style of ``obspy.signal.filter``: one Butterworth.

Every Butterworth filter in quakesynth (pre-processing high- and low-pass, the STA/LTA
picker's band-pass, the peak-metric high-pass, the Anderson GOF bands, the coherence band) is
designed here (:func:`butterworth_sos`), as second-order sections for ``scipy.signal.sosfilt`` / ``sosfiltfilt``. The
sampling rate is explicit (``fs``, Hz), as STYLE.md asks. Applying the filter (causal or zero
phase, padding) stays with the caller, whose choice it is.

:func:`fit_length` is the one zero-pad-at-the-end-or-crop of waveforms to a model's length.
"""

from __future__ import annotations

import numpy as np

__all__ = ["butterworth_sos", "fit_length"]

_BTYPES = ("lowpass", "low", "highpass", "high", "bandpass", "band", "bandstop")


def butterworth_sos(order: int, freq_hz, fs: float, btype: str) -> np.ndarray:
    """Digital Butterworth filter as second-order sections, shape (n_sections, 6).

    Parameters
    ----------
    order : filter order N (a band-pass or band-stop has 2N poles), a positive integer.
    freq_hz : corner frequency in Hz, or the two corners ``(f1, f2)`` of a band, each in
        (0, fs/2).
    fs : sampling rate in Hz.
    btype : ``"lowpass"``, ``"highpass"``, ``"bandpass"`` or ``"bandstop"`` (``"low"``,
        ``"high"``, ``"band"`` are accepted as in SciPy).

    >>> sos = butterworth_sos(4, 1.0, 100.0, "highpass")
    >>> sos.shape
    (2, 6)
    """
    from scipy.signal import butter

    if btype not in _BTYPES:
        raise ValueError(f"btype must be one of {_BTYPES}; got {btype!r}")
    if int(order) != order or order < 1:
        raise ValueError(f"order must be a positive integer; got {order!r}")
    if not (np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs must be a positive sampling rate in Hz; got {fs!r}")
    return butter(int(order), freq_hz, btype=btype, fs=fs, output="sos")


def fit_length(x, n_samples: int, dtype=np.float32) -> np.ndarray:
    """Waveforms zero-padded at the end or cropped to ``n_samples`` samples: a new array.

    Parameters
    ----------
    x : array (..., T) of samples (any unit; kept).
    n_samples : output length (samples), positive.
    dtype : output dtype (default float32, the models' input type).

    Returns
    -------
    array (..., n_samples): ``x[..., :n_samples]`` followed by zeros.

    >>> fit_length(np.ones((1, 3)), 5).tolist(), fit_length(np.arange(4.0), 2).tolist()
    ([[1.0, 1.0, 1.0, 0.0, 0.0]], [0.0, 1.0])
    """
    x = np.asarray(x)
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}")
    out = np.zeros((*x.shape[:-1], int(n_samples)), dtype=dtype)
    m = min(int(n_samples), x.shape[-1])
    out[..., :m] = x[..., :m]
    return out
