"""quakesynth.models: the networks only (the generators that use them are in
:mod:`quakesynth.generate`); :func:`pull` brings a published model into the local cache
(:mod:`quakesynth.hub`; ``quakesynth.models.pull("highfem")``), imported on first use so that
importing a network does not import the hub."""

from __future__ import annotations

from typing import Any

__all__ = ["pull"]


def __getattr__(name: str) -> Any:
    if name == "pull":
        from quakesynth.hub import pull

        return pull
    raise AttributeError(f"module 'quakesynth.models' has no attribute {name!r}")
