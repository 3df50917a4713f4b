"""The old import path of :mod:`quakesynth.pool` (ordered work units and the process pool)."""

from quakesynth.pool import OrderedPipeline, process_pool

__all__ = ["OrderedPipeline", "process_pool"]
