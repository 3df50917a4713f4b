"""The registry of model names and model-directory kinds, and :func:`load_model`.

Names (``"default"``, ``"stochastic"``, published models after ``quakesynth models pull``) map
to factories (:func:`register_model`); saved model directories are dispatched on their kind
(:data:`MODEL_LOADERS`). Adapters are imported lazily, only when their model is loaded, so
``load_model("stochastic")`` never imports torch and nothing here imports Lightning.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

from quakesynth.generate.base import Generator
from quakesynth.modeldir import read_kind

_REGISTRY: dict[str, tuple[Callable[..., Generator], str]] = {}


def register_model(name: str, factory: Callable[..., Generator], summary: str = "") -> None:
    """Make ``load_model(name)`` return ``factory()``."""
    _REGISTRY[name] = (factory, summary)


def _load_stochastic(**kw: Any) -> Generator:
    from quakesynth.generate.stochastic import StochasticGenerator

    return StochasticGenerator(**kw)


def _load_default(**kw: Any) -> Generator:
    from quakesynth.generate.highfem import load_default

    return load_default(**kw)


def _load_broadband(**kw: Any):
    from quakesynth.generate.refiner import load_generator

    return load_generator("broadband", **kw)


def _builtin() -> None:
    """Register the models that ship with the package (imports are lazy; the factories are
    module-level functions, so they can be pickled to data-parallel workers)."""
    if "stochastic" not in _REGISTRY:
        register_model("stochastic", _load_stochastic, "stochastic method (Boore 2003) on pyrvt source/path models")
    if "default" not in _REGISTRY:
        register_model("default", _load_default, "HighFEM small model shipped with the package")
    if "broadband" not in _REGISTRY:
        register_model("broadband", _load_broadband, "broadband refiner shipped with the package (a paired model: "
                       "low-frequency records in, broadband out; quakesynth refine, evaluate --model refiner=broadband)")
    # published models: loaded from the cache after `quakesynth models pull`, never downloaded here
    from quakesynth import hub

    for name, summary in hub.published_summaries().items():
        if name not in _REGISTRY:
            register_model(name, hub.loader(name), summary)


def model_factory(name: str) -> Callable[..., Generator] | None:
    """The factory registered under ``name`` (None if ``name`` is not a registered model)."""
    _builtin()
    entry = _REGISTRY.get(str(name))
    return entry[0] if entry else None


def available_models() -> dict[str, str]:
    """Registered model names and one-line summaries."""
    _builtin()
    return {k: v[1] for k, v in _REGISTRY.items()}


#: The kind of a saved model directory (``config.json["model"]``, :func:`quakesynth.modeldir.read_kind`)
#: -> "module:loader" (imported lazily). A loader takes the directory and keyword arguments.
#: Every kind gives a :class:`Generator`, except ``"refiner"``: a broadband refiner
#: (:class:`quakesynth.generate.refiner.BroadbandRefiner`), which refines records rather than
#: generating them from scenarios (a paired model of :mod:`quakesynth.evaluate.paired`).
MODEL_LOADERS: dict[str, str] = {
    "highfem": "quakesynth.generate.highfem:load_generator",
    "timesnet_gen": "quakesynth.generate.timesnet:load_generator",
    "site_cvae": "quakesynth.generate.sitecvae:load_generator",
    "refiner": "quakesynth.generate.refiner:load_generator",
}


#: The kind of a saved model directory or run folder (``config.json["model"]``).
model_kind = read_kind


def load_model(name_or_path: str | Path, **kwargs: Any) -> Generator:
    """A generator by registered name (``"default"``, ``"stochastic"``, a pulled published
    model) or by the path of a saved model directory or run folder, dispatched on its kind
    (:data:`MODEL_LOADERS`); keyword arguments go to the factory or loader."""
    _builtin()
    key = str(name_or_path)
    if key in _REGISTRY:
        return _REGISTRY[key][0](**kwargs)
    path = Path(key)
    if path.exists():
        kind = model_kind(path)
        if kind not in MODEL_LOADERS:
            raise ValueError(f"{key!r} holds a {kind!r} model, which no generator loads; "
                             f"known kinds: {sorted(MODEL_LOADERS)}")
        module, attr = MODEL_LOADERS[kind].split(":")
        return getattr(import_module(module), attr)(path, **kwargs)
    raise ValueError(f"unknown model {key!r}: not a registered name ({sorted(_REGISTRY)}) nor an existing path")
