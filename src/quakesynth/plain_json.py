"""Plain-JSON conversion: NumPy, pandas and torch values to the Python types JSON and YAML take.

The one converter for configs, dataset info, checkpoints, processing records and metrics
files. Its callers differ only in three stated choices, passed as arguments:

- ``nonfinite``: ``"keep"`` NaN/inf as floats (the writer decides), ``"none"`` (JSON null), or
  ``"nan"`` (only NaN, i.e. a missing value, becomes null; +-inf stay);
- ``digits``: round floats to that many significant digits (a compact metrics file) or not;
- ``other``: what to do with a value that has no plain form (``"keep"``, ``"str"``, ``"raise"``).

Always: dict keys become ``str``; lists and tuples become lists; NumPy arrays become (nested)
lists; NumPy and torch scalars become Python numbers; ``pathlib.Path`` becomes ``str``;
``None`` and ``pandas.NA`` become ``None``.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any, Literal

import numpy as np

__all__ = ["to_plain"]


def to_plain(x: Any, nonfinite: Literal["keep", "none", "nan"] = "keep", digits: int | None = None,
             other: Literal["keep", "str", "raise"] = "keep") -> Any:
    """``x`` as plain Python values (dict with str keys, list, str, int, float, bool, None).

    Parameters
    ----------
    x : any nesting of dicts, lists, tuples, NumPy arrays and scalars, torch scalars, paths.
    nonfinite : ``"none"`` writes NaN and +-inf as None, ``"nan"`` only NaN; ``"keep"`` leaves them as
        floats.
    digits : if given, floats are rounded to this many significant digits (``f"{v:.{digits}g}"``).
    other : a value of any other type is kept, converted with ``str`` or rejected with ValueError.

    >>> to_plain({"a": (np.float32(0.5), np.int64(2)), 3: np.array([1.0, np.nan])}, nonfinite="none")
    {'a': [0.5, 2], '3': [1.0, None]}
    >>> to_plain([1.23456789, float("inf")], digits=3)
    [1.23, inf]
    """
    if nonfinite not in ("keep", "none", "nan"):
        raise ValueError(f"nonfinite must be 'keep', 'none' or 'nan'; got {nonfinite!r}")
    if other not in ("keep", "str", "raise"):
        raise ValueError(f"other must be 'keep', 'str' or 'raise'; got {other!r}")
    return _plain(x, nonfinite, digits, other)


def _plain(x: Any, nonfinite: str, digits: int | None, other: str) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v, nonfinite, digits, other) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v, nonfinite, digits, other) for v in x]
    if isinstance(x, np.ndarray):
        v = x.tolist()  # nested lists of Python scalars; a 0-d array gives a scalar
        return _plain(v, nonfinite, digits, other)
    if x is None or isinstance(x, bool | str):
        return str(x) if isinstance(x, str) and type(x) is not str else x
    if isinstance(x, np.generic) or (hasattr(x, "item") and getattr(x, "ndim", None) == 0):  # NumPy/torch scalars
        return _plain(x.item(), nonfinite, digits, other)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        x = float(x)
        if not math.isfinite(x):
            return None if nonfinite == "none" or (nonfinite == "nan" and math.isnan(x)) else x
        return float(f"{x:.{digits}g}") if digits is not None else x
    if isinstance(x, PurePath):
        return str(x)
    if _is_na(x):
        return None
    if other == "str":
        return str(x)
    if other == "raise":
        raise ValueError(f"value {x!r} of type {type(x).__name__} has no plain JSON form")
    return x


def _is_na(x: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a core dependency
        return False
    return x is pd.NA or x is pd.NaT
