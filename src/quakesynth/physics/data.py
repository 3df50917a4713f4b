"""Corpus arrays for the surrogate and the refiner: normalisation and splits.

Geology normalisation (MIFNO's ``scalar_normal``): ``(Vs - mean) / (4 std)`` with scalar
statistics of the training split. Source normalisation (MIFNO's ``transform_position`` and
``transform_angle='unit'``): x / Lx, y / Ly, z / Lz (z <= 0), (strike - 180) / 180,
(dip - 45) / 45, (rake - 180) / 180. Velocities are divided by one scalar ``u_scale`` (std of the
training velocities) so the network works at unit scale; the relative losses do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """Statistics of the training split (saved with the surrogate)."""

    vs_mean: float  # mean Vs of the training geologies, m/s
    vs_std: float  # standard deviation of Vs of the training geologies, m/s
    u_scale: float  # standard deviation of the training velocities, m/s
    domain_x: float  # domain size along x, m
    domain_y: float  # domain size along y, m
    domain_z: float  # domain size along z, m


def fit_normalisation(vs: np.ndarray, u: np.ndarray, domain_m) -> Normalisation:
    """Statistics from training arrays ``vs`` (N, X, Y, Z) m/s and ``u`` (N, 3, S, S, T) m/s."""
    return Normalisation(float(np.mean(vs)), float(np.std(vs)) or 1.0, float(np.std(u)) or 1.0,
                         *map(float, domain_m))


def normalise_geology(vs: np.ndarray, n: Normalisation) -> np.ndarray:
    """``(Vs - mean) / (4 std)``, float32, same shape."""
    return ((np.asarray(vs, np.float64) - n.vs_mean) / (4 * n.vs_std)).astype(np.float32)


def normalise_source(source: np.ndarray, n: Normalisation) -> np.ndarray:
    """(N, 6) x, y, z (m), strike, dip, rake (deg) -> (N, 6) of order one (see module doc)."""
    s = np.asarray(source, np.float64)
    if s.ndim != 2 or s.shape[1] != 6:
        raise ValueError(f"source must be (N, 6); got shape {s.shape}")
    out = np.empty_like(s)
    out[:, 0] = s[:, 0] / n.domain_x
    out[:, 1] = s[:, 1] / n.domain_y
    out[:, 2] = s[:, 2] / n.domain_z
    out[:, 3] = (s[:, 3] - 180) / 180
    out[:, 4] = (s[:, 4] - 45) / 45
    out[:, 5] = (s[:, 5] - 180) / 180
    return out.astype(np.float32)


def split_indices(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, np.ndarray]:
    """Random disjoint ``train``/``dev``/``test`` index sets covering ``range(n)``."""
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1; got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    a = int(round(f[0] * n))
    b = a + int(round(f[1] * n))
    return {"train": np.sort(perm[:a]), "dev": np.sort(perm[a:b]), "test": np.sort(perm[b:])}


def load_corpus(folder, limit: int | None = None) -> dict:
    """All samples of a HEMEW-layout folder as arrays (:meth:`HemewDataset.arrays`) + ``domain_m``."""
    import h5py

    from quakesynth.simulate.hemew import HEMEW_DOMAIN_M, HemewDataset

    ds = HemewDataset(folder, limit=limit)
    arr = ds.arrays()
    with h5py.File(ds.files[0], "r") as f:
        arr["domain_m"] = tuple(float(v) for v in f.attrs.get("domain_m", HEMEW_DOMAIN_M))
    return arr
