"""Input validation shared by the metric functions (private).

Every public metric validates its inputs here so that bad input raises one kind of error,
a ``ValueError`` naming the argument and the offending value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _describe(x: np.ndarray) -> str:
    bad = ~np.isfinite(x)
    idx = np.argwhere(bad)[0]
    return f"{x[tuple(idx)]!r} at index {tuple(int(i) for i in idx)}"


def as_array(x, name: str, *, min_ndim: int = 1, dtype=np.float64, finite: bool = True,
             allow_empty: bool = False) -> np.ndarray:
    """``x`` as a float array with at least ``min_ndim`` axes, checked for NaN/Inf and emptiness."""
    try:
        a = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; got {type(x).__name__}: {exc}") from None
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} axis/axes; got shape {a.shape}")
    if a.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {a.shape}); need at least one value")
    if finite and a.size and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or Inf: {_describe(a)}")
    return a


def as_signal(x, name: str, *, min_samples: int = 2) -> np.ndarray:
    """A time series batch (..., T) as float64; T >= ``min_samples``; finite."""
    a = as_array(x, name, min_ndim=1)
    if a.shape[-1] < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples on its last (time) axis; "
                         f"got shape {a.shape}")
    return a


def check_fs(fs) -> float:
    """A positive finite sampling rate in Hz."""
    try:
        f = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"fs must be a positive sampling rate in Hz; got {fs!r}") from None
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"fs must be a positive sampling rate in Hz; got {fs!r}")
    return f


def check_positive(values, name: str, *, unit: str = "") -> np.ndarray:
    """A non-empty 1-D array of positive finite values (periods, frequencies...)."""
    a = as_array(values, name, min_ndim=0)
    a = np.atleast_1d(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence; got shape {a.shape}")
    bad = a <= 0
    if bad.any():
        u = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be positive{u}; got {a[bad][0]!r} at index "
                         f"{int(np.argmax(bad))}")
    return a


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape; got {a.shape} and {b.shape}")


def check_damping(damping) -> float:
    try:
        z = float(damping)
    except (TypeError, ValueError):
        raise ValueError(f"damping must be a ratio in [0, 1); got {damping!r}") from None
    if not (0.0 <= z < 1.0):
        raise ValueError(f"damping must be a ratio of critical in [0, 1); got {damping!r}")
    return z


def check_percentiles(percentiles: Sequence[float] | float, name: str = "percentiles") -> np.ndarray:
    p = np.atleast_1d(as_array(percentiles, name, min_ndim=0))
    if p.ndim != 1 or ((p < 0) | (p > 100)).any():
        raise ValueError(f"{name} must be values in [0, 100]; got {p.tolist()!r}")
    return p


def check_bands(bands, name: str = "bands") -> np.ndarray:
    """A (B, 2) array of frequency bands (f_low < f_high, Hz, f_low >= 0)."""
    b = as_array(bands, name, min_ndim=1)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 2:
        raise ValueError(f"{name} must be a sequence of (f_low, f_high) pairs in Hz; got shape {b.shape}")
    bad = (b[:, 0] < 0) | (b[:, 1] <= b[:, 0])
    if bad.any():
        raise ValueError(f"{name} needs 0 <= f_low < f_high (Hz); got {b[bad][0].tolist()!r}")
    return b
