"""Data-parallel generation: a thin re-export of :mod:`quakesynth.generate.parallel`, kept
because ``quakesynth.parallel`` is public (docs/formats.md, the CLI's thread settings)."""

from quakesynth.generate.parallel import (
    THREADS_ENV,
    ModelSpec,
    available_cores,
    default_threads,
    generate_parallel,
    generate_rank,
    iter_part,
    merge_parts,
    rank_slice,
    set_threads,
)

__all__ = ["THREADS_ENV", "ModelSpec", "available_cores", "default_threads", "generate_parallel", "generate_rank", "iter_part",
           "merge_parts", "rank_slice", "set_threads"]
