"""Self-describing model directories (weights + config), and the HighFEM presets.

A model directory is what ``quakesynth train`` finishes with, what ``quakesynth import-tqdne``
writes and what :func:`quakesynth.load_model` reads::

    MODEL/
      config.json     every config of the model (plain JSON), conditioning variables and their
                      normalisation statistics and ranges, representation parameters, waveform
                      format, provenance; plus "format", "format_version", "quakesynth_version"
      vae.pt          one torch state dict per network (``torch.save`` of tensors only),
      edm.pt          loaded with ``torch.load(weights_only=True)``: no pickled code
      ...             (e.g. ``vae_ema.pt``, ``edm_ema.pt``)

The directory is written atomically (:func:`quakesynth._atomic.atomic_path`). JSON keeps
infinities as ``Infinity`` (Python's json reads them back).

The keys of ``config.json`` for a HighFEM model (``"model": "highfem"``): ``spectrogram``
(:class:`~quakesynth.repr.spectrogram.SpectrogramConfig`), ``vae``
(:class:`~quakesynth.models.vae.VAEConfig`), ``unet``
(:class:`~quakesynth.models.unet.UNetConfig`), ``edm``
(:class:`~quakesynth.models.edm.EDMConfig`), ``sampler``
(:class:`~quakesynth.diffusion.sampler.SamplerConfig`), ``conditioning`` (``variables``,
``units``, ``mean``, ``std``, ``ranges``), ``waveform`` (``fs``, ``components``,
``n_samples``, ``quantity``, ``unit``) and ``provenance``; other keys are kept as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from quakesynth._atomic import atomic_path
from quakesynth.plain_json import to_plain

FORMAT = "quakesynth-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def save_model_dir(path: str | Path, configs: dict[str, Any], state_dicts: dict[str, dict[str, torch.Tensor]],
                   overwrite: bool = False) -> Path:
    """Write a model directory atomically.

    Parameters
    ----------
    path : target directory (must not exist unless ``overwrite``).
    configs : JSON-able description (nested dicts of numbers, strings, lists; dataclass
        configs converted with :func:`quakesynth.config.to_dict`). ``format``,
        ``format_version`` and ``quakesynth_version`` are added.
    state_dicts : ``{name: state_dict}``; each is saved as ``<name>.pt`` (tensors moved to CPU).
    overwrite : replace an existing directory.

    Returns
    -------
    The directory path.
    """
    from quakesynth import __version__

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
                   map_location: str | torch.device = "cpu"
                   ) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """Read a model directory: ``(config, {name: state_dict})`` with weights-only loading.

    ``names`` restricts the state dicts read (default: all listed in ``config["weights"]``).
    Raises ``FileNotFoundError`` / ``ValueError`` naming what is missing or malformed.
    """
    path = Path(path)
    cfg_path = path / CONFIG_NAME
    if not path.is_dir():
        raise FileNotFoundError(f"model directory {str(path)!r} not found")
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is not a quakesynth model directory (no {CONFIG_NAME})")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(cfg_path)!r} is not valid JSON: {e}") from e
    if config.get("format") != FORMAT:
        raise ValueError(f"{str(cfg_path)!r} is not a {FORMAT} config (format={config.get('format')!r})")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format_version {config['format_version']}, newer than this "
                         f"quakesynth reads ({FORMAT_VERSION}); upgrade quakesynth")
    weights = dict(config.get("weights", {}))
    wanted = list(weights) if names is None else list(names)
    unknown = [n for n in wanted if n not in weights]
    if unknown:
        raise ValueError(f"{str(path)!r} has no weights {unknown}; it has {sorted(weights)}")
    state_dicts = {}
    for name in wanted:
        f = path / weights[name]
        if not f.is_file():
            raise FileNotFoundError(f"weights file {str(f)!r} listed in {CONFIG_NAME} is missing")
        state_dicts[name] = torch.load(f, map_location=map_location, weights_only=True)
    return config, state_dicts


def highfem_preset(name: str) -> dict[str, Any]:
    """The resolved HighFEM preset ``name`` (``"paper"``, ``"small"``, ``"tiny"``) as plain dicts.

    ``configs/highfem_<name>.yaml`` names its network presets (``vae: <preset>``, ``unet:
    <preset>``, read from ``configs/vae_<preset>.yaml`` and ``configs/unet_<preset>.yaml``) and
    holds the ``spectrogram``, ``edm`` and ``sampler`` sections. Returns ``{"spectrogram",
    "vae", "unet", "edm", "sampler"}`` validated against their dataclasses.
    """
    from quakesynth.config import from_dict, load_preset, to_dict
    from quakesynth.diffusion.sampler import SamplerConfig
    from quakesynth.models.edm import EDMConfig
    from quakesynth.models.unet import UNetConfig
    from quakesynth.models.vae import VAEConfig
    from quakesynth.repr.spectrogram import SpectrogramConfig

    if "/" in name or name.endswith(".yaml"):
        doc = load_preset(name)
    else:
        doc = load_preset(f"highfem_{name}")
    out: dict[str, Any] = {}
    for section, cls in (("spectrogram", SpectrogramConfig), ("vae", VAEConfig), ("unet", UNetConfig),
                         ("edm", EDMConfig), ("sampler", SamplerConfig)):
        value = doc.get(section, {})
        if isinstance(value, str):
            value = load_preset(f"{section}_{value}")
        out[section] = to_dict(from_dict(cls, value))
    extra = sorted(set(doc) - set(out))
    if extra:
        raise ValueError(f"HighFEM preset {name!r}: unknown section(s) {extra}")
    return out

