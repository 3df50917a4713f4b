"""Corpus arrays for the surrogate and the refiner: normalisation and splits.

Geology normalisation (MIFNO's ``scalar_normal``): ``(Vs - mean) / (4 std)`` with scalar
statistics of the training split. Source (:func:`source_inputs`): the position normalised as
MIFNO's ``transform_position`` (x / Lx, y / Ly, z / Lz with z <= 0) and the moment tensor of
the strike, dip and rake for M0 = 1 (:func:`quakesynth.simulate.wave3d.moment_tensor`, Aki &
Richards order Mxx, Myy, Mzz, Mxy, Mxz, Myz), which the surrogate's output is linear in (see
:mod:`quakesynth.models.fno`). Velocities are divided by one scalar ``u_scale`` (std of the
training velocities) so the network works at unit scale (:func:`normalise_velocity`, inverted by
:func:`denormalise_velocity`); the relative losses do not depend on it.
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


def source_inputs(source: np.ndarray, n: Normalisation) -> tuple[np.ndarray, np.ndarray]:
    """(N, 6) x, y, z (m, z <= 0), strike, dip, rake (deg) -> normalised position (N, 3)
    ``(x / Lx, y / Ly, z / Lz)`` and moment tensor (N, 6) for M0 = 1, both float32."""
    from quakesynth.simulate.wave3d import moment_tensor

    s = np.asarray(source, np.float64)
    if s.ndim != 2 or s.shape[1] != 6:
        raise ValueError(f"source must be (N, 6); got shape {s.shape}")
    position = s[:, :3] / np.array([n.domain_x, n.domain_y, n.domain_z])
    moment = np.stack(moment_tensor(s[:, 3], s[:, 4], s[:, 5], M0=1.0), axis=1)
    return position.astype(np.float32), moment.astype(np.float32)


def normalise_velocity(u: np.ndarray, n: Normalisation) -> np.ndarray:
    """Velocities (m/s) -> network units ``u / u_scale``, float32, same shape."""
    return (np.asarray(u, np.float64) / n.u_scale).astype(np.float32)


def denormalise_velocity(v: np.ndarray, n: Normalisation) -> np.ndarray:
    """Network units -> velocities ``v u_scale`` (m/s), float32; inverse of :func:`normalise_velocity`."""
    return (np.asarray(v, np.float64) * n.u_scale).astype(np.float32)


def split_indices(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict[str, np.ndarray]:
    """Random disjoint ``train``/``dev``/``test`` index sets covering ``range(n)``.

    A split of independent simulated wavefields (no events: every sample is its own). Records
    of real or simulated earthquakes are split by event with the one event split,
    :func:`quakesynth.data.store.assign_splits`; this cut of a seeded permutation is kept as
    it is because trained surrogates, and the benchmark that reuses them, depend on its exact
    index sets (moving it onto ``assign_splits`` would put training wavefields in their test
    set).
    """
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


def lowpass_pairs(x: np.ndarray, fs: float, fc: float, order: int = 4) -> dict[str, np.ndarray]:
    """Refiner pairs from broadband records ``x`` (N, C, T) sampled at ``fs`` Hz: ``x`` the
    records, ``y`` their zero-phase low-pass at ``fc`` Hz (float32, same shape)."""
    from quakesynth.data.preprocess import lowpass

    x = np.asarray(x, dtype=np.float32)
    return {"x": x, "y": lowpass(x, fs, fc, order).astype(np.float32)}
