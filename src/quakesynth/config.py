"""Frozen-dataclass configs, YAML presets and validated ``key=value`` overrides.

Every component has a frozen dataclass of plain numbers and strings (one-line comment and unit
per field). Presets are YAML files in ``quakesynth/configs/``; a run writes its resolved config.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
PRESET_DIR = Path(__file__).parent / "configs"


def to_dict(cfg: Any) -> dict:
    """A (nested) dataclass as a plain dict of numbers, strings, lists and dicts."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], d: dict | None) -> T:
    """Build dataclass ``cls`` from a (nested) dict, rejecting unknown keys by name."""
    d = dict(d or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kw = {}
    for name, value in d.items():
        t = hints[name]
        if dataclasses.is_dataclass(t) and isinstance(value, dict):
            value = from_dict(t, value)
        elif _origin_is_tuple(t) and isinstance(value, list):
            value = tuple(value)
        elif isinstance(value, str) and _is_float_field(t):
            value = _float(value, f"{cls.__name__}.{name}")
        kw[name] = value
    return cls(**kw)


def _is_float_field(t: Any) -> bool:
    return t is float or float in typing.get_args(t)


def _float(value: str, where: str) -> float:
    """A number written as text (YAML 1.1 reads ``1e-4``, without a dot, as a string)."""
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{where} must be a number; got {value!r}") from None


def _origin_is_tuple(t: Any) -> bool:
    return typing.get_origin(t) is tuple or t is tuple


def load_preset(name_or_path: str | Path) -> dict:
    """Read a preset by name (``"small"`` -> configs/small.yaml) or a YAML file path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = PRESET_DIR / f"{name_or_path}.yaml"
    if not p.exists():
        known = sorted(q.stem for q in PRESET_DIR.glob("*.yaml"))
        raise ValueError(f"preset or config file {str(name_or_path)!r} not found; presets: {known}")
    with open(p) as f:
        return yaml.safe_load(f) or {}


def apply_overrides(d: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Apply ``section.key=value`` overrides (values parsed as YAML scalars) to a nested dict."""
    d = _deepcopy(d)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value (e.g. train.max_steps=100)")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw)
        node = d
        parts = key.strip().split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"override {key!r}: {p!r} is not a config section")
            node = node[p]
        if parts[-1] not in node:
            raise ValueError(f"override {key!r}: unknown key {parts[-1]!r}; known: {sorted(node)}")
        node[parts[-1]] = value
    return d


def _deepcopy(d: dict) -> dict:
    return {k: _deepcopy(v) if isinstance(v, dict) else v for k, v in d.items()}


def dump_yaml(d: dict, path: str | Path) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(d, f, sort_keys=False)


def highfem_preset(name: str) -> dict[str, Any]:
    """The resolved HighFEM preset ``name`` (``"paper"``, ``"small"``, ``"tiny"``) as plain dicts.

    ``configs/highfem_<name>.yaml`` names its network presets (``vae: <preset>``, ``unet:
    <preset>``, read from ``configs/vae_<preset>.yaml`` and ``configs/unet_<preset>.yaml``) and
    holds the ``spectrogram``, ``edm`` and ``sampler`` sections. Returns ``{"spectrogram",
    "vae", "unet", "edm", "sampler"}`` validated against their dataclasses.
    """
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

