"""Evaluation of surrogate and refined wavefields against the simulated ground truth.

Per trace (sensor x component) with :mod:`quakesynth.metrics.gof`: rMAE, rRMSE, the frequency
biases of Perrone et al. (2025) in ``bands`` and the Kristekova envelope / phase GOF (EG, PG,
0-10, single-component, global normalisation); summarised per component by the mean (median
for the biases, which are heavy-tailed).

Spatial coherence of the high frequencies (:func:`hf_coherence`, computed by
:mod:`quakesynth.metrics.coherence`): the wavefields are band-passed to ``band`` (zero-phase
Butterworth) and the zero-lag correlation coefficient of every pair of sensors on the same row
or column of the grid is averaged per separation (in sensor spacings), per component. The truth gives the target curve; a per-sensor refiner that invents independent
high frequencies gives too low a curve.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from quakesynth.metrics.gof import frequency_bias, kristekova_gof, rmae, rrmse


def trace_metrics(pred: np.ndarray, truth: np.ndarray, fs: float, bands=((0.0, 0.5), (0.5, 1.0), (1.0, 1.5)),
                  fmin: float | None = None, fmax: float | None = None, nf: int = 32) -> dict[str, np.ndarray]:
    """Metrics of traces (..., C, T) against the truth: ``rmae``, ``rrmse``, ``EG``, ``PG`` (..., C)
    and ``bias`` (..., C, B). ``fmin``/``fmax`` (Hz) of the GOF default to 2 / duration and the
    top of the last band."""
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    T = truth.shape[-1]
    fmin = 2.0 * fs / T if fmin is None else fmin
    fmax = float(bands[-1][1]) if fmax is None else fmax
    g = kristekova_gof(pred.reshape(-1, T), truth.reshape(-1, T), fs, fmin, fmax, nf=nf, multicomponent=False)
    lead = truth.shape[:-1]
    return {"rmae": rmae(pred, truth), "rrmse": rrmse(pred, truth),
            "bias": frequency_bias(pred, truth, fs, bands),
            "EG": g["EG"].reshape(lead), "PG": g["PG"].reshape(lead)}


def summarise(metrics: dict[str, np.ndarray], components: str = "ENZ", mask: np.ndarray | None = None
              ) -> dict[str, dict[str, float]]:
    """Per-component summary of :func:`trace_metrics` output (component axis -2 for bias, -1 else).

    ``mask`` (the leading shape) selects a subset (e.g. small-amplitude wavefields). Returns
    ``{component: {"rmae", "rrmse", "EG", "PG", "bias_0", ...}}``.
    """
    out = {}
    for c, name in enumerate(components):
        row = {}
        for k in ("rmae", "rrmse", "EG", "PG"):
            v = metrics[k][..., c]
            v = v[mask] if mask is not None else v
            row[k] = float(np.nanmean(v))
        b = metrics["bias"][..., c, :]
        b = b[mask] if mask is not None else b
        for j in range(b.shape[-1]):
            row[f"bias_{j}"] = float(np.nanmedian(b[..., j]))
        out[name] = row
    return out


def hf_coherence(u: np.ndarray, fs: float, band: tuple[float, float], max_sep: int = 4,
                 measure: str = "correlation") -> np.ndarray:
    """Mean coherence of band-passed traces vs sensor separation: (C, max_sep) for wavefields
    ``u`` (N, C, S, S, T) at ``fs`` Hz; :func:`quakesynth.metrics.coherence.spatial_coherence`."""
    from quakesynth.metrics.coherence import spatial_coherence

    return spatial_coherence(u, fs, band, max_sep=max_sep, measure=measure)


def phase_randomised(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Traces ``x`` (..., T) with the same Fourier amplitude spectrum and uniformly random phases.

    The DFT magnitude of every trace is kept exactly (the zero-frequency and, for even ``T``, the
    Nyquist coefficients unchanged, the others rotated by independent uniform phases drawn from
    ``seed``), so the power spectrum and the energy are those of ``x`` and only the timing of the
    energy is lost: the classic phase-randomised surrogate of a time series."""
    x = np.asarray(x, dtype=np.float64)
    T = x.shape[-1]
    X = np.fft.rfft(x, axis=-1)
    phi = np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi, X.shape)
    phi[..., 0] = 0.0
    if T % 2 == 0:
        phi[..., -1] = 0.0
    return np.fft.irfft(X * np.exp(1j * phi), n=T, axis=-1)


def residual_oracles(pred: np.ndarray, truth: np.ndarray, fs: float, f_split: float, seed: int = 0
                     ) -> dict[str, np.ndarray]:
    """What a refiner could reach at best: the prediction plus parts of the true residual.

    With ``r = truth - pred`` (..., T) at ``fs`` Hz and ``r_high`` its part at and above
    ``f_split`` Hz (a sharp split of the DFT, so ``r_low + r_high = r`` exactly):

    - ``"random phase"``: ``pred + phase_randomised(r)``, a refiner that knows the residual's
      amplitude spectrum exactly, in every band, but not its phase (what a sampler that is right in
      distribution but independent of the truth's timing can do at most);
    - ``"random phase above"``: ``pred + phase_randomised(r_high)``, the same above ``f_split``
      only, the prediction kept below;
    - ``"exact above"``: ``pred + r_high``, a perfect high-frequency correction.

    Returns arrays of ``pred``'s shape (float64), keyed as above."""
    pred = np.asarray(pred, dtype=np.float64)
    r = np.asarray(truth, dtype=np.float64) - pred
    T = r.shape[-1]
    R = np.fft.rfft(r, axis=-1)
    high = np.fft.rfftfreq(T, 1.0 / fs) >= f_split
    r_high = np.fft.irfft(R * high, n=T, axis=-1)
    return {"random phase": pred + phase_randomised(r, seed),
            "random phase above": pred + phase_randomised(r_high, seed + 1),
            "exact above": pred + r_high}


def seconds_per_call(fn: Callable[[], object], repeat: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls after one warm-up call, s."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
