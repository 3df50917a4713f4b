"""Training data: dataset splits -> in-memory arrays for the HighFEM models.

Waveforms are acceleration in m/s^2, cut to the representation's ``n_samples`` (the first
``n_samples`` samples, zero-padded at the end when a record is shorter), in a fixed component
order. Conditioning is normalised with statistics of the training split only; classifier
labels come from the magnitude x distance grid.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quakesynth.records import Records
from quakesynth.signal import fit_length


@dataclass(frozen=True)
class DataConfig:
    """Which records a run trains on."""

    components: str = ""  # component order of the model ("ZNE", "NEZ"...); "" = as stored in the dataset
    train_split: str = "train"  # split the model is fitted on (and the conditioning statistics from)
    val_split: str = "dev"  # split used for validation losses ("" = none)
    max_train: int = 0  # use at most this many training records (first ones); 0 = all
    max_val: int = 256  # use at most this many validation records; 0 = none


def read_split(dataset: str | Path, split: str, limit: int = 0) -> Records | None:
    """The first ``limit`` (all if 0) records of one split of a dataset store, in memory;
    ``None`` when the split is empty."""
    from quakesynth.data.store import Dataset

    path = Path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"dataset {str(path)!r} not found")
    part = Dataset(path).split(split)
    n = len(part) if limit <= 0 else min(len(part), limit)
    if n == 0:
        return None  # type: ignore[return-value]
    return part.get(np.arange(n))


def waveforms(records: Records, n_samples: int, fs: float, components: str = "") -> np.ndarray:
    """(N, C, n_samples) float32 acceleration in m/s^2, first ``n_samples`` samples (zero-padded).

    Raises ValueError when the records are not acceleration in m/s^2 or not sampled at ``fs``.
    """
    if records.quantity != "acceleration" or records.unit != "m/s^2":
        raise ValueError(f"training needs acceleration in m/s^2; the dataset holds {records.quantity} in {records.unit}")
    if abs(records.fs - fs) > 1e-6 * fs:
        raise ValueError(f"the dataset is sampled at {records.fs:g} Hz but the model expects fs={fs:g} Hz; "
                         f"resample the dataset or set spectrogram.fs")
    if components:
        records = records.select_components(components)
    x = records.data
    out = fit_length(x, n_samples)
    if not np.all(np.isfinite(out)):
        raise ValueError("the dataset holds non-finite samples (NaN/inf)")
    return out


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency class weights (num_classes,), mean 1 over the classes present; absent
    classes get 0. Labels < 0 are ignored."""
    y = labels[labels >= 0]
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    w = np.zeros(num_classes)
    present = counts > 0
    w[present] = 1.0 / counts[present]
    if present.any():
        w[present] *= present.sum() / w[present].sum()
    return w.astype(np.float32)


def drop_unlabelled(labels: np.ndarray, what: str) -> np.ndarray:
    """Mask of records inside the classifier grid; warns with the count of those outside."""
    keep = labels >= 0
    if not keep.all():
        warnings.warn(f"{int((~keep).sum())} {what} record(s) outside the magnitude x distance grid "
                      f"(or without magnitude/distance) are not used", stacklevel=2)
    return keep
