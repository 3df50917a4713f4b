"""quakesynth: generative waveform models of earthquake ground motion.

The public API is small and imports lazily, so ``import quakesynth`` stays cheap:

>>> import quakesynth
>>> quakesynth.__version__  # doctest: +SKIP
'0.1.0'

- :class:`quakesynth.Records` -- a batch of three-component records with units and metadata.
- :func:`quakesynth.load_model` -- any generator of the project by name or path.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Records": ("quakesynth.records", "Records"),
    "load_model": ("quakesynth.generate", "load_model"),
}

__all__ = ["Records", "load_model", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'quakesynth' has no attribute {name!r}")
