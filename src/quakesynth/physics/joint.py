"""The joint (multi-sensor) refiner: refined wavefields that keep the inter-sensor coherence.

A diffusion refiner draws its high frequencies from its noise. With independent noise at every
sensor (the per-sensor refiner of Perrone et al. 2025, and the first version here) the refined
high frequencies are independent between sensors and their coherence is 0, where the
simulated truth has 0.84-0.88 at 1 sensor spacing down to 0.15-0.22 at 4 (1.0-1.8 Hz, the test
split of the 1,000-simulation corpus). Three ways to keep it were open:

1. a backbone over the whole sensor grid (a shared latent): the right long-term answer, but a
   2-D + time network over 16 x 16 x 3 channels is out of a CPU budget;
2. conditioning on the neighbours (k x k blocks refined together, ``RefinerConfig.patch``): it
   couples sensors inside a block only, so pairs 2-4 spacings apart in different blocks stay
   independent;
3. **noise correlated across sensors** (:class:`quakesynth.models.refiner.SpatialNoise`): every
   sensor keeps exactly the N(0, I) noise the model was trained on, so each sensor's sample is
   unchanged in law, and sensors whose conditions are alike receive alike high frequencies.

This module does 3 on top of either refiner (``patch = 1`` or a joint ``patch = 2``): the
field's correlation ``exp(-(d / length)^power)`` is calibrated on training wavefields so that
the coherence of the refined wavefields matches the truth's (:func:`calibrate_noise_correlation`)
and is stored in the refiner's model directory (``noise_correlation``), which
:func:`refine_wavefields` uses by default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from quakesynth.models.refiner import Refiner
from quakesynth.seeds import derive_seed32


def wavefield_seeds(seed: int, n: int) -> list[int]:
    """Seed of wavefield i: ``SeedSequence([seed, i])`` (independent of the batch)."""
    return [derive_seed32(seed, i) for i in range(n)]


def refine_wavefields(refiner: Refiner, y: np.ndarray, seed: int = 0, length: float | list[float] | None = None,
                      power: float | list[float] | None = None, config: dict | None = None, num_steps: int = 18,
                      batch_size: int = 4, progress: bool = False) -> np.ndarray:
    """Refined wavefields (N, C, S, S, T) (data units of ``y``) of surrogate wavefields ``y``.

    ``length`` (sensor spacings) and ``power`` of the noise correlation, one number or one per
    component, default to the model directory's calibrated ``config["noise_correlation"]``, else
    0 (independent sensors).
    """
    cal = (config or {}).get("noise_correlation") or {}
    length = cal.get("length", 0.0) if length is None else length
    power = cal.get("power", 1.0) if power is None else power
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 5:
        raise ValueError(f"y must be (N, C, S, S, T); got shape {y.shape}")
    seeds = wavefield_seeds(seed, len(y))
    out = np.empty_like(y)
    starts = range(0, len(y), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="refine", unit="batch")
    for i in starts:
        b = slice(i, i + batch_size)
        out[b] = refiner.refine_field(torch.as_tensor(y[b]), seeds[b], length=length, power=power,
                                      num_steps=num_steps).numpy()
    return out


def describe_correlation(nc: dict) -> str:
    """``"length 4 spacings, power 1.5"``, or per component ``"length 4/4/2 spacings, power 1.5/1.5/2"``."""
    def fmt(v) -> str:
        return "/".join(f"{float(x):g}" for x in np.atleast_1d(v))
    return f"length {fmt(nc['length'])} spacings, power {fmt(nc['power'])}"


def calibrate_noise_correlation(refine: Callable[[float | list[float], float | list[float]], np.ndarray],
                                coherence: Callable[[np.ndarray], np.ndarray], target: np.ndarray,
                                lengths: Sequence[float] = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
                                powers: Sequence[float] = (1.0, 1.5, 2.0), per_component: bool = False) -> dict:
    """Grid search of the noise correlation whose refined coherence is closest to ``target``.

    Parameters
    ----------
    refine : ``refine(length, power) -> wavefields`` (same wavefields and seeds every call;
        ``length`` and ``power`` one number, or one per component with ``per_component``).
    coherence : wavefields -> coherence curve (C, D) (e.g. ``hf_coherence`` with the band).
    target : (C, D) the truth's coherence curve on the same wavefields.
    lengths, powers : candidates (sensor spacings; powered-exponential exponent).
    per_component : also try, for each component, the candidate closest to that component's
        target (the components of a wavefield decorrelate at different rates: vertical motion
        faster on the simulate-3d corpus). The per-component choice is refined once more to
        measure its error, and kept only where it beats the shared one.

    Returns
    -------
    ``{"length", "power", "max_abs_error", "coherence": (C, D) list, "grid": [...]}``: the
    candidate with the smallest maximum absolute coherence error (ties: the shorter length);
    ``length`` and ``power`` are lists (one per component) when the per-component choice won.
    """
    target = np.asarray(target, dtype=np.float64)
    grid = []
    best = None

    def score(length, power) -> None:  # refine with one candidate, record it, keep the best
        nonlocal best
        coh = np.asarray(coherence(refine(length, power)), dtype=np.float64)
        if coh.shape != target.shape:
            raise ValueError(f"coherence shape {coh.shape} differs from target {target.shape}")
        per = np.abs(coh - target).max(axis=1)
        grid.append({"length": length, "power": power, "max_abs_error": float(per.max()),
                     "component_errors": per.tolist()})
        if best is None or per.max() < best["max_abs_error"] - 1e-12:
            best = {"length": length, "power": power, "max_abs_error": float(per.max()), "coherence": coh.tolist()}

    for length in lengths:
        for power in (powers if length > 0 else powers[:1]):
            score(float(length), float(power))
    if per_component and len(target) > 1:
        picks = [min(grid, key=lambda g, c=c: g["component_errors"][c]) for c in range(len(target))]
        length_c, power_c = [g["length"] for g in picks], [g["power"] for g in picks]
        if len(set(zip(length_c, power_c))) > 1:
            score(length_c, power_c)
    return {**best, "grid": grid}
