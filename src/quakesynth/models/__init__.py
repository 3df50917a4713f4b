"""quakesynth.models: the networks; :func:`pull` brings a published model into the local cache
(:mod:`quakesynth.hub`; ``quakesynth.models.pull("highfem")``)."""

from quakesynth.hub import pull

__all__ = ["pull"]
