"""Conditioning vectors: scenario variables in physical units -> normalised network inputs.

HighFEM conditions the diffusion model on five scenario variables. Each variable ``v`` is
first transformed (``log10`` for the strictly positive, heavy-tailed ones, or left as is) and
then standardised with statistics of the **training split only**:

    c_v = (T_v(v) - mu_v) / s_v

with ``zscore`` (``mu`` = mean, ``s`` = standard deviation of ``T_v(v)`` over the training
records) or ``minmax`` (``mu`` = midpoint, ``s`` = half-range, so the training range maps to
[-1, 1]). The statistics, the transform per variable and the physical range of each variable
over the training split are stored in every model directory, so a model always normalises
the way it was trained and states its validity range.

The variable set is configurable without code changes: any subset of the five HighFEM
variables (names of :data:`quakesynth.records.CONDITIONING_COLUMNS`) or extra scalar metadata
columns (e.g. ``path_rup_distance_km``) in any order.

Defaults. :data:`TQDNE_VARIABLES` is the order of the published HighFEM weights (hypocentral
distance, magnitude, Vs30, depth, azimuthal gap). The published model uses plain z-scores
(no log) with its own dataset statistics (``quakesynth.models.tqdne_import.TQDNE_CONDITIONING``,
read by :meth:`Conditioning.from_dict`); quakesynth-trained models default to ``log10`` of
distance and Vs30 followed by a z-score, because ground motion scales with ``log R`` and
``log Vs30``.

>>> import numpy as np
>>> table = np.array([[10.0, 5.0], [100.0, 6.0]])        # distance km, magnitude
>>> cond = Conditioning.fit(table, ConditioningConfig(variables=("distance", "magnitude")))
>>> cond(table).round(3).tolist()
[[-1.0, -1.0], [1.0, 1.0]]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Order of the conditioning vector of the published HighFEM (tqdne 0.2.2) weights.
TQDNE_VARIABLES: tuple[str, ...] = ("distance", "magnitude", "vs30", "depth", "gap")

TRANSFORMS = ("none", "log10")
NORMALISATIONS = ("zscore", "minmax")


@dataclass(frozen=True)
class ConditioningConfig:
    """Which scenario variables condition a model and how they are normalised."""

    variables: tuple[str, ...] = TQDNE_VARIABLES  # names (magnitude, distance, vs30, depth, gap) or metadata columns, in network order
    log10: tuple[str, ...] = ("distance", "vs30")  # variables log10-transformed before normalising (must be > 0); names not in variables are ignored
    normalisation: str = "zscore"  # "zscore" (mean/std) or "minmax" (training range -> [-1, 1])
    missing: str = "mean"  # training records with a missing value: "mean" (impute the training mean) or "drop"

    def __post_init__(self) -> None:
        if not self.variables:
            raise ValueError("variables is empty: a conditioned model needs at least one variable")
        if len(set(self.variables)) != len(self.variables):
            raise ValueError(f"variables has duplicates: {self.variables}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}; got {self.normalisation!r}")
        if self.missing not in ("mean", "drop"):
            raise ValueError(f"missing must be 'mean' or 'drop'; got {self.missing!r}")


class Conditioning:
    """A fitted conditioning normaliser (plain numbers, stored as JSON in model directories).

    Parameters
    ----------
    variables : names in network order.
    transforms : ``"none"`` or ``"log10"`` per variable.
    shift, scale : per variable, in transformed units: ``c = (T(v) - shift) / scale``.
    ranges : per variable, (min, max) in physical units over the training split: the model's
        validity range.
    normalisation : how ``shift``/``scale`` were obtained (``"zscore"``, ``"minmax"``,
        ``"fixed"`` for imported statistics); informational.
    """

    def __init__(self, variables: tuple[str, ...] | list[str], transforms: tuple[str, ...] | list[str],
                 shift: np.ndarray | list[float], scale: np.ndarray | list[float],
                 ranges: Mapping[str, tuple[float, float]] | None = None,
                 normalisation: str = "zscore") -> None:
        self.variables = tuple(variables)
        self.transforms = tuple(transforms)
        self.shift = np.asarray(shift, dtype=np.float64).reshape(-1)
        self.scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        self.ranges = {k: (float(v[0]), float(v[1])) for k, v in (ranges or {}).items()}
        self.normalisation = normalisation
        n = len(self.variables)
        if not (len(self.transforms) == len(self.shift) == len(self.scale) == n):
            raise ValueError(f"variables ({n}), transforms ({len(self.transforms)}), shift "
                             f"({len(self.shift)}) and scale ({len(self.scale)}) differ in length")
        bad = [t for t in self.transforms if t not in TRANSFORMS]
        if bad:
            raise ValueError(f"transforms must be in {TRANSFORMS}; got {bad}")
        if not np.all(np.isfinite(self.scale)) or np.any(self.scale <= 0):
            raise ValueError(f"scale must be positive and finite; got {self.scale.tolist()}")

    # -- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, table: np.ndarray, config: ConditioningConfig = ConditioningConfig()) -> Conditioning:
        """Statistics of a training-split table (N, len(config.variables)) in physical units.

        Missing values (NaN) are ignored in the statistics; a constant variable gets scale 1.
        """
        x = np.asarray(table, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(config.variables):
            raise ValueError(f"table must have shape (N, {len(config.variables)}) for variables "
                             f"{config.variables}; got {x.shape}")
        transforms = tuple("log10" if v in config.log10 else "none" for v in config.variables)
        shift, scale, ranges = [], [], {}
        for j, (var, t) in enumerate(zip(config.variables, transforms)):
            col = x[:, j]
            col = col[np.isfinite(col)]
            if col.size == 0:
                raise ValueError(f"conditioning variable {var!r} has no finite value in the training split")
            if t == "log10" and np.any(col <= 0):
                raise ValueError(f"conditioning variable {var!r} has values <= 0 ({col.min():g}) "
                                 f"and cannot be log10-transformed; remove it from log10")
            ranges[var] = (float(col.min()), float(col.max()))
            y = np.log10(col) if t == "log10" else col
            if config.normalisation == "zscore":
                mu, s = float(y.mean()), float(y.std())
            else:
                mu, s = float(0.5 * (y.max() + y.min())), float(0.5 * (y.max() - y.min()))
            shift.append(mu)
            scale.append(s if s > 0 else 1.0)
        return cls(config.variables, transforms, shift, scale, ranges, config.normalisation)

    # -- applying --------------------------------------------------------------------------
    def __call__(self, table: np.ndarray) -> np.ndarray:
        """Normalised conditioning (N, V) float32 from a physical table (N, V).

        NaN stays NaN (see :meth:`fill_missing`).
        """
        x = np.asarray(table, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.variables):
            raise ValueError(f"table must have shape (N, {len(self.variables)}) for variables "
                             f"{self.variables}; got {x.shape}")
        y = x.copy()
        for j, t in enumerate(self.transforms):
            if t == "log10":
                with np.errstate(divide="ignore", invalid="ignore"):
                    y[:, j] = np.where(x[:, j] > 0, np.log10(np.where(x[:, j] > 0, x[:, j], 1.0)), np.nan)
        return ((y - self.shift) / self.scale).astype(np.float32)

    normalise = __call__

    def denormalise(self, c: np.ndarray) -> np.ndarray:
        """Physical table (N, V) from normalised conditioning (the inverse of :meth:`__call__`)."""
        y = np.asarray(c, dtype=np.float64) * self.scale + self.shift
        for j, t in enumerate(self.transforms):
            if t == "log10":
                y[:, j] = 10.0 ** y[:, j]
        return y

    @staticmethod
    def fill_missing(c: np.ndarray, config: ConditioningConfig, what: str = "training") -> tuple[np.ndarray, np.ndarray]:
        """Handle NaN rows of a normalised table: impute 0 (the training mean) or drop.

        Returns the table and a boolean mask of the rows kept (all True for ``"mean"``).
        """
        bad = ~np.isfinite(c)
        keep = np.ones(len(c), dtype=bool)
        if bad.any():
            rows = int(bad.any(axis=1).sum())
            if config.missing == "drop":
                keep = ~bad.any(axis=1)
                c = c[keep]
                warnings.warn(f"{rows} {what} record(s) with missing conditioning dropped", stacklevel=2)
            else:
                c = np.where(bad, 0.0, c).astype(np.float32)
                warnings.warn(f"{rows} {what} record(s) with missing conditioning: imputed the "
                              f"training mean", stacklevel=2)
        return c, keep

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stored in a model directory's config.json)."""
        return {"variables": list(self.variables), "transforms": list(self.transforms),
                "shift": self.shift.tolist(), "scale": self.scale.tolist(),
                "ranges": {k: list(v) for k, v in self.ranges.items()},
                "normalisation": self.normalisation}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Conditioning:
        """Inverse of :meth:`to_dict`; also reads the ``mean``/``std`` form of imported models
        (plain z-scores, e.g. ``tqdne_import.TQDNE_CONDITIONING``)."""
        known = {"variables", "transforms", "shift", "scale", "ranges", "normalisation",
                 "mean", "std", "units", "source"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown conditioning field(s) {unknown}; known: {sorted(known)}")
        if "shift" in d:
            shift, scale, how = d["shift"], d["scale"], d.get("normalisation", "zscore")
        elif "mean" in d:
            shift, scale, how = d["mean"], d["std"], d.get("normalisation", "fixed")
        else:
            raise ValueError("conditioning needs shift/scale (or mean/std) statistics")
        transforms = d.get("transforms") or ["none"] * len(d["variables"])
        return cls(d["variables"], transforms, shift, scale,
                   {k: tuple(v) for k, v in (d.get("ranges") or {}).items()}, how)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Conditioning) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        parts = [f"{v}{'(log10)' if t == 'log10' else ''}" for v, t in zip(self.variables, self.transforms)]
        return f"Conditioning({', '.join(parts)}; {self.normalisation})"

