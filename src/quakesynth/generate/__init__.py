"""Generation: one API for every generator of the project.

A generator turns scenarios (magnitude, hypocentral distance, Vs30, depth, azimuthal gap; a
station for the site-specific models) into :class:`~quakesynth.records.Records`::

    >>> import quakesynth
    >>> gen = quakesynth.load_model("stochastic")                      # doctest: +SKIP
    >>> rec = gen.generate(magnitude=6.5, distance=30, vs30=400, depth=10, gap=120, n=5, seed=1)  # doctest: +SKIP

Modules (adapters import :mod:`~quakesynth.generate.base`; nothing imports back up the chain,
and the registry imports adapters only when their model is loaded):

- :mod:`~quakesynth.generate.base` -- :class:`Generator` (validation, per-waveform seeding,
  batching, metadata, start times), :func:`waveform_seed`, :func:`synthetic_codes`.
- :mod:`~quakesynth.generate.registry` -- :func:`load_model`, :func:`register_model`,
  :func:`available_models`, :data:`MODEL_LOADERS` (model-directory kind -> loader).
- :mod:`~quakesynth.generate.output` -- :func:`generate_to_file`, :func:`to_quantity`.
- :mod:`~quakesynth.generate.parallel` -- data-parallel generation over processes, GPUs, nodes
  (also importable as :mod:`quakesynth.parallel`).
- one adapter per model family: :mod:`~quakesynth.generate.highfem` (HighFEM latent
  diffusion), :mod:`~quakesynth.generate.stochastic` (the stochastic method of
  :mod:`quakesynth.simulate.stochastic`), :mod:`~quakesynth.generate.timesnet` and
  :mod:`~quakesynth.generate.sitecvae` (site-specific, sharing
  :mod:`~quakesynth.generate.station`), :mod:`~quakesynth.generate.refiner` (the broadband
  refiner), and :mod:`~quakesynth.generate.toy` (random-weight models, the benchmark).

The networks are in :mod:`quakesynth.models`. Nothing here imports Lightning.
"""

from quakesynth.generate.base import (
    SYNTHETIC_NETWORK,
    ConditioningError,
    GenerateOutput,
    Generator,
    _progress,
    parse_origin_time,
    synthetic_codes,
    validate_scenarios,
    waveform_seed,
)
from quakesynth.generate.output import DEFAULT_ORIGIN_TIME, generate_to_file, to_quantity
from quakesynth.generate.registry import (
    _REGISTRY,
    MODEL_LOADERS,
    available_models,
    load_model,
    model_factory,
    model_kind,
    register_model,
)
from quakesynth.scenario import PHYSICAL_RANGES, VARIABLES

__all__ = [
    "DEFAULT_ORIGIN_TIME", "MODEL_LOADERS", "PHYSICAL_RANGES", "SYNTHETIC_NETWORK", "VARIABLES",
    "ConditioningError", "GenerateOutput", "Generator", "available_models", "generate_to_file", "load_model",
    "model_factory", "model_kind", "parse_origin_time", "register_model", "synthetic_codes", "to_quantity",
    "validate_scenarios", "waveform_seed", "_REGISTRY", "_progress",
]
