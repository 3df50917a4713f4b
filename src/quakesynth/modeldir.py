"""Self-describing model directories: the one way every model kind is saved, found and loaded.

A model directory is what ``quakesynth train`` finishes with, what ``quakesynth import-tqdne``
writes, and what :func:`quakesynth.load_model`, ``quakesynth evaluate``, ``quakesynth refine``,
the classifier and the physics and site-specific loaders read::

    MODEL/
      config.json     every config of the model (plain JSON): "model" (the kind: "highfem",
                      "vae", "classifier", "timesnet_gen", "site_cvae", "mifno", "refiner"...),
                      conditioning variables and their normalisation statistics and ranges,
                      representation parameters, waveform format, provenance; plus "format",
                      "format_version", "quakesynth_version" and "weights" (name -> file)
      vae.pt          one torch state dict per network (``torch.save`` of tensors only),
      edm.pt          loaded with ``torch.load(weights_only=True)``: no pickled code
      ...             (e.g. ``vae_ema.pt``, ``edm_ema.pt``)

The config JSON sits beside weights-only tensors, as SeisBench's ``WaveformModel.save`` does.
The directory is written atomically (:func:`quakesynth._atomic.atomic_path`). JSON keeps
infinities as ``Infinity`` (Python's json reads them back).

A training run folder holds its finished model in ``RUN/model``; every function here that takes
a model directory also takes the run folder (:func:`resolve_model_dir` decides, once, which).

The keys of ``config.json`` for a HighFEM model (``"model": "highfem"``): ``spectrogram``
(:class:`~quakesynth.repr.spectrogram.SpectrogramConfig`), ``vae``
(:class:`~quakesynth.models.vae.VAEConfig`), ``unet``
(:class:`~quakesynth.models.unet.UNetConfig`), ``edm``
(:class:`~quakesynth.models.edm.EDMConfig`), ``sampler``
(:class:`~quakesynth.diffusion.sampler.SamplerConfig`), ``conditioning`` (``variables``,
``units``, ``mean``, ``std``, ``ranges``), ``waveform`` (``fs``, ``components``,
``n_samples``, ``quantity``, ``unit``) and ``provenance``; other keys are kept as they are.

Only the standard library is imported at module level (torch when weights are read or
written), so finding a model's kind is cheap.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

FORMAT = "quakesynth-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
#: The kind of a model directory whose config has no ``"model"`` entry (the first format).
DEFAULT_KIND = "highfem"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _is_model_dir(path: Path) -> bool:
    """Whether ``path/config.json`` is a model directory's config (``"format"`` is ours)."""
    cfg = path / CONFIG_NAME
    if not cfg.is_file():
        return False
    try:
        doc = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return True  # a broken config of a model directory: let the reader say what is wrong
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def resolve_model_dir(path: str | Path) -> Path:
    """The model directory named by ``path``: ``path`` itself, or ``path/model`` of a run folder.

    The rule, the same for every model kind: ``path`` is the model directory when its
    ``config.json`` is a model config (a run folder's own config, whose ``format`` is not
    ``"quakesynth-model"``, does not count); otherwise ``path/model`` when it holds a
    ``config.json``; otherwise ``path`` when it holds any ``config.json`` (the reader then says
    what is wrong with it). Raises ``FileNotFoundError`` naming ``path`` when it does not exist
    or has no ``config.json`` at either place.

    >>> resolve_model_dir("no/such/dir")
    Traceback (most recent call last):
    ...
    FileNotFoundError: model directory 'no/such/dir' not found
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"model directory {str(path)!r} not found")
    if _is_model_dir(p):
        return p
    if (p / "model" / CONFIG_NAME).is_file():
        return p / "model"
    if (p / CONFIG_NAME).is_file():
        return p
    raise FileNotFoundError(f"{str(path)!r} is not a quakesynth model directory (no {CONFIG_NAME}) nor a run "
                            f"folder with a finished model (model/{CONFIG_NAME})")


def read_config(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a model directory or run folder (:func:`resolve_model_dir`),
    checked for format and version; no weights are read (torch is not imported)."""
    p = resolve_model_dir(path)
    cfg_path = p / CONFIG_NAME
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(cfg_path)!r} is not valid JSON: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        got = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"{str(cfg_path)!r} is not a {FORMAT} config (format={got!r})")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{str(p)!r} has format_version {config['format_version']}, newer than this "
                         f"quakesynth reads ({FORMAT_VERSION}); upgrade quakesynth")
    return config


def steps_behind(path: str | Path) -> int | None:
    """Optimiser steps behind the weights of a model directory or run folder: its
    ``provenance.steps_total`` (a warm start records its own steps plus its init's, since session
    18), else ``provenance.steps``; None where the model or the count is missing."""
    try:
        prov = read_config(path).get("provenance") or {}
    except (FileNotFoundError, ValueError):
        return None
    n = prov["steps_total"] if "steps_total" in prov else prov.get("steps")
    return None if n is None else int(n)


def read_kind(path: str | Path) -> str:
    """The kind (``config.json["model"]``, default ``"highfem"``) of a model directory or run
    folder. Raises ``FileNotFoundError`` / ``ValueError`` with a one-line reason."""
    if not Path(path).exists():
        raise FileNotFoundError(f"model directory {str(path)!r} not found")
    try:
        p = resolve_model_dir(path)
    except FileNotFoundError as e:
        raise ValueError(f"{str(path)!r} is not a quakesynth model directory (no {CONFIG_NAME})") from e
    cfg = p / CONFIG_NAME
    try:
        doc = json.loads(cfg.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(cfg)!r} is not valid JSON: {e}") from e
    return str(doc.get("model", DEFAULT_KIND)) if isinstance(doc, dict) else DEFAULT_KIND


def save_model_dir(path: str | Path, configs: dict[str, Any], state_dicts: dict[str, dict[str, torch.Tensor]],
                   overwrite: bool = False) -> Path:
    """Write a model directory atomically.

    Parameters
    ----------
    path : target directory (must not exist unless ``overwrite``).
    configs : JSON-able description (nested dicts of numbers, strings, lists; dataclass
        configs converted with :func:`quakesynth.config.to_dict`); ``configs["model"]`` is the
        kind. ``format``, ``format_version`` and ``quakesynth_version`` are added.
    state_dicts : ``{name: state_dict}``; each is saved as ``<name>.pt`` (tensors moved to CPU).
    overwrite : replace an existing directory.

    Returns
    -------
    The directory path.
    """
    import torch

    from quakesynth import __version__
    from quakesynth._atomic import atomic_path
    from quakesynth.plain_json import to_plain

    if not state_dicts:
        raise ValueError("state_dicts is empty: nothing to save")
    for name, sd in state_dicts.items():
        if not _NAME.match(name) or name == Path(CONFIG_NAME).stem:
            raise ValueError(f"state dict name {name!r} must be a plain file stem (letters, digits, _ . -), not 'config'")
        bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise ValueError(f"state dict {name!r} holds non-tensor entries {bad[:3]}; only tensors are saved")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "quakesynth_version": __version__}
    doc = {**meta, **{k: v for k, v in configs.items() if k not in meta},
           "weights": {name: f"{name}.pt" for name in state_dicts}}
    text = json.dumps(to_plain(doc, other="raise"), indent=2, allow_nan=True)
    with atomic_path(path, overwrite=overwrite, directory=True) as tmp:
        (tmp / CONFIG_NAME).write_text(text + "\n")
        for name, sd in state_dicts.items():
            torch.save({k: v.detach().cpu().contiguous() for k, v in sd.items()}, tmp / f"{name}.pt")
    return Path(path)


def load_model_dir(path: str | Path, names: list[str] | tuple[str, ...] | None = None,
                   map_location: str | torch.device = "cpu", kind: str | tuple[str, ...] | None = None,
                   ) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """Read a model directory (or a run folder's ``model/``): ``(config, {name: state_dict})``
    with weights-only loading.

    ``names`` restricts the state dicts read (default: all listed in ``config["weights"]``;
    ``[]`` reads the config only). ``kind`` (one kind or several) checks ``config["model"]``.
    Raises ``FileNotFoundError`` / ``ValueError`` naming what is missing or malformed.
    """
    p = resolve_model_dir(path)
    config = read_config(p)
    if kind is not None:
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        got = config.get("model", DEFAULT_KIND)
        if got not in kinds:
            want = " or ".join(repr(k) for k in kinds)
            raise ValueError(f"{str(path)!r} holds a {got!r} model, not a {want} model")
    weights = dict(config.get("weights", {}))
    wanted = list(weights) if names is None else list(names)
    unknown = [n for n in wanted if n not in weights]
    if unknown:
        raise ValueError(f"{str(p)!r} has no weights {unknown}; it has {sorted(weights)}")
    state_dicts = {}
    if wanted:
        import torch

        for name in wanted:
            f = p / weights[name]
            if not f.is_file():
                raise FileNotFoundError(f"weights file {str(f)!r} listed in {CONFIG_NAME} is missing")
            state_dicts[name] = torch.load(f, map_location=map_location, weights_only=True)
    return config, state_dicts
