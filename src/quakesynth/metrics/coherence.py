"""Inter-sensor coherence of wavefields recorded on a regular sensor grid.

Two measures, both computed per component for every pair of sensors on the same row or column
of the grid and averaged per separation (in sensor spacings):

- ``"correlation"``: the zero-lag correlation coefficient of the traces band-passed to ``band``
  (zero-phase Butterworth, order 4)::

      rho_ij = sum_t a_i(t) a_j(t) / (||a_i|| ||a_j||)

  For ``a_i = sqrt(alpha) s + sqrt(1 - alpha) n_i`` (a shared signal ``s`` and independent
  noises of equal power) ``rho = alpha``.
- ``"coherency"``: the lagged coherency of Abrahamson et al. (1991), the modulus of the complex
  coherency from Welch cross- and auto-spectra (Hann segments of ``nperseg`` samples, 50 %
  overlap), averaged over the frequencies of ``band``::

      |gamma_ij(f)| = |S_ij(f)| / sqrt(S_ii(f) S_jj(f))

  It is 1 for identical traces, ``alpha`` for the mix above, and for independent traces it is
  biased up to about ``sqrt(pi / (4 K))`` for K averaged segments.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> u = np.repeat(rng.standard_normal((1, 1, 1, 1, 2000)), 5, axis=2).repeat(5, axis=3)
>>> spatial_coherence(u, 100.0, (1.0, 10.0), max_sep=2).round(3).tolist()
[[1.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

MEASURES = ("correlation", "coherency")


def _check(u: np.ndarray, fs: float, band, max_sep: int) -> tuple[float, float]:
    if u.ndim != 5:
        raise ValueError(f"u must be (N, C, Sx, Sy, T); got shape {u.shape}")
    if not fs > 0:
        raise ValueError(f"fs must be > 0 Hz; got {fs}")
    f1, f2 = (float(b) for b in band)
    if not 0 < f1 < f2 < fs / 2:
        raise ValueError(f"band must satisfy 0 < f1 < f2 < fs/2 = {fs / 2} Hz; got {band}")
    if not 1 <= max_sep < max(u.shape[2], u.shape[3]):
        raise ValueError(f"max_sep must be in [1, {max(u.shape[2], u.shape[3]) - 1}] for a "
                         f"{u.shape[2]} x {u.shape[3]} grid; got {max_sep}")
    return f1, f2


def _pairs_mean(prod, d: int) -> np.ndarray:
    """Mean over the N axis and the pairs at separation d along x and y of ``prod(a, b)`` (N, C, ...)."""
    parts = []
    parts.append(prod((slice(d, None), slice(None)), (slice(None, -d), slice(None))))
    parts.append(prod((slice(None), slice(d, None)), (slice(None), slice(None, -d))))
    vals = [p.reshape(p.shape[0], p.shape[1], -1) for p in parts if p.size]
    return np.concatenate(vals, axis=-1).mean(axis=(0, 2))


def spatial_coherence(u, fs: float, band: tuple[float, float], max_sep: int = 4,
                      measure: str = "correlation", nperseg: int = 64) -> np.ndarray:
    """Mean inter-sensor coherence vs separation (see the module doc).

    Parameters
    ----------
    u : (N, C, Sx, Sy, T) wavefields (any unit) sampled at ``fs``.
    fs : sampling rate, Hz.
    band : (f1, f2) Hz: band-pass (``correlation``) or averaged frequencies (``coherency``).
    max_sep : largest separation, in sensor spacings.
    measure : ``"correlation"`` or ``"coherency"``.
    nperseg : Welch segment length in samples (``coherency`` only).

    Returns
    -------
    (C, max_sep) float64: mean coherence at separations 1..max_sep (rows and columns pooled).
    """
    from scipy import signal

    from quakesynth.signal import butterworth_sos

    u = np.asarray(u, dtype=np.float64)
    f1, f2 = _check(u, fs, band, max_sep)
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}; got {measure!r}")
    out = np.empty((u.shape[1], max_sep))
    if measure == "correlation":
        sos = butterworth_sos(4, (f1, f2), fs, "bandpass")
        x = signal.sosfiltfilt(sos, u, axis=-1)
        x = x - x.mean(axis=-1, keepdims=True)
        x = x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-300)
        for d in range(1, max_sep + 1):
            out[:, d - 1] = _pairs_mean(lambda a, b: (x[:, :, a[0], a[1]] * x[:, :, b[0], b[1]]).sum(-1), d)
        return out
    T = u.shape[-1]
    nperseg = int(min(nperseg, T))
    if nperseg < 8:
        raise ValueError(f"nperseg must be >= 8 samples; got {nperseg}")
    f, _, X = signal.stft(u, fs=fs, window="hann", nperseg=nperseg, noverlap=nperseg // 2, axis=-1,
                       boundary=None, padded=False)  # X: (N, C, Sx, Sy, F, K)
    sel = (f >= f1) & (f <= f2)
    if not sel.any():
        raise ValueError(f"no frequency of the {nperseg}-sample segments falls in band {band}; raise nperseg")
    X = X[..., sel, :]
    auto = (np.abs(X) ** 2).sum(-1)  # (N, C, Sx, Sy, F)

    def coh(a, b):
        cross = (X[:, :, a[0], a[1]] * np.conj(X[:, :, b[0], b[1]])).sum(-1)
        g = np.abs(cross) / np.sqrt(auto[:, :, a[0], a[1]] * auto[:, :, b[0], b[1]] + 1e-300)
        return g.mean(-1)

    for d in range(1, max_sep + 1):
        out[:, d - 1] = _pairs_mean(coh, d)
    return out
