"""The one training entry: :func:`train` (what ``quakesynth train KIND`` calls) for every kind of
:data:`quakesynth.train.recipes.RECIPES`: it resolves the configuration, writes the run folder,
lets the kind's recipe build its data and modules, and hands them to
:func:`quakesynth.train.fit.run_plan` (the one loop) which exports the model directory.

The run folder::

    RUN/
      config.yaml          {"kind", "preset", "config_file", "overrides", "init", "quakesynth_version",
                            inputs ("data", "vae", "surrogate", "limit"), "config": resolved run config}
      checkpoints/         last.ckpt (+ step-XXXXXXXX.ckpt): resumable Lightning checkpoints
      logs/metrics.csv     loss curves
      phase0/ phase1/      (timesnet) one such checkpoints/ + logs/ pair per stage instead
      model/               the self-describing model directory (:mod:`quakesynth.modeldir`)

Configuration: :func:`quakesynth.train.config.resolve_config`. Resuming reads ``config.yaml``
back (overrides still apply, e.g. a longer ``train.max_steps``; inputs not given again are
those saved) and continues every stage from its ``checkpoints/last.ckpt`` at the exact step (a
stage without a checkpoint starts at step 0). Run folders written by the former
``python -m quakesynth.physics.run`` (sections at the top level of ``config.yaml``, the corpus
under ``corpus``) resume the same way.

Model directories (``RUN/model``, written with :func:`quakesynth.modeldir.save_model_dir`):

- vae: config ``{"model": "vae", "spectrogram", "vae", "waveform", "provenance"}``, weights
  ``vae`` (EMA) and ``vae_raw``.
- edm: a complete generator that :func:`quakesynth.load_model` opens --
  ``{"model": "highfem", "spectrogram", "vae", "unet", "edm", "sampler", "conditioning",
  "waveform", "provenance"}``, weights ``vae``, ``edm`` (EMA, used for generation) and ``edm_raw``.
- classifier: ``{"model": "classifier", "spectrogram", "classifier", "classes", "waveform",
  "provenance"}``, weights ``classifier`` (EMA) and ``classifier_raw``.
- timesnet, site-cvae: :mod:`quakesynth.sitegen.export`.
- surrogate: ``{"model": "mifno", "mifno", "normalisation", "loss", "train", "waveform"}``,
  weights ``mifno`` (EMA); refiner and broadband: ``{"model": "refiner", "refiner",
  "sigma_data", "train", "waveform", ...}``, weights ``refiner`` (EMA, with the amplitude
  statistics); the broadband refiner adds ``broadband``, ``conditioning``, ``components``,
  ``unit`` and ``dataset``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml

from quakesynth.config import apply_overrides, from_dict, to_dict
from quakesynth.train.config import KINDS, RUN_CONFIGS, merge, resolve_config
from quakesynth.train.fit import run_plan
from quakesynth.train.recipes import RECIPES, Inputs, calibrate_refiner

_INPUT_FLAGS = {"data": "--data", "vae": "--vae", "surrogate": "--surrogate"}


def _is_primary() -> bool:
    """True in the launching process (not in a DDP worker re-launched by Lightning or torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0 \
        and int(os.environ.get("RANK", "0")) == 0


def _version() -> str:
    from quakesynth import __version__

    return __version__


def read_run_config(out: str | Path, kind: str) -> tuple[dict, dict]:
    """``(run config dict, everything else)`` of ``RUN/config.yaml`` of a ``kind`` run, in the
    current layout or the former physics layout (sections at the top level, ``corpus``)."""
    path = Path(out) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"cannot resume: {str(path)!r} not found")
    saved = yaml.safe_load(path.read_text()) or {}
    if saved.get("kind") != kind:
        raise ValueError(f"run {str(out)!r} trains a {saved.get('kind')!r} model, not {kind!r}")
    if "config" in saved:
        return saved["config"], {k: v for k, v in saved.items() if k != "config"}
    cls = RUN_CONFIGS[kind]
    sections = {k: v for k, v in saved.items() if k in cls.__dataclass_fields__}
    meta = {k: v for k, v in saved.items() if k not in cls.__dataclass_fields__}
    if "corpus" in meta:
        meta["data"] = meta.pop("corpus")
    return merge(to_dict(cls()), sections), meta


def train(kind: str, data: str | Path | None = None, out: str | Path = "", preset: str | None = None,
          config: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
          resume: bool = False, devices: int = 1, accelerator: str = "cpu", strategy: str | None = None,
          vae: str | Path | None = None, surrogate: str | Path | None = None, init: str | Path | None = None,
          limit: int | None = None, patch: int | None = None, calibrate: bool = False,
          calibration_wavefields: int = 8, progress: bool = True) -> Path | None:
    """Train a model of ``kind``; returns the exported model directory (``None`` in DDP worker
    processes).

    Parameters
    ----------
    kind : one of :data:`quakesynth.train.config.KINDS`.
    data : dataset store folder (splits ``train`` and ``dev``), or the ``quakesynth simulate-3d``
        corpus folder for ``surrogate`` and ``refiner``; when resuming, default: the saved one.
    out : run folder (must not exist, or be empty, unless ``resume``).
    preset : preset name (default: the recipe's, ``"small"``), see
        :func:`~quakesynth.train.config.resolve_config`.
    config : optional YAML file overlaid on the preset.
    overrides : ``section.key=value`` strings, e.g. ``train.max_steps=2000``.
    resume : continue the run in ``out`` from its last checkpoints.
    devices, accelerator, strategy : Lightning execution (``devices > 1``: DDP).
    vae : ``edm``: the trained VAE (model directory or run folder).
    surrogate : ``refiner``: the trained surrogate (model directory or run folder).
    init : warm start: initialise the trained network from this model directory or run folder,
        every tensor whose name and shape match (:func:`warm_start`); ignored when resuming.
    limit : first N simulations (surrogate, refiner), first N training records (broadband),
        records per station (timesnet, site-cvae).
    patch : ``refiner``: sensors per block side (2: the joint refiner); same as
        ``refiner.patch=N``.
    calibrate, calibration_wavefields : ``refiner``: fit the spatial noise correlation on that
        many dev wavefields after training (:func:`~quakesynth.train.recipes.calibrate_refiner`).
    """
    if kind not in RECIPES:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    recipe = RECIPES[kind]
    if kind != "refiner" and (patch is not None or calibrate):
        raise ValueError("--patch and --calibrate apply to the refiner only")
    if limit is not None and kind in ("vae", "edm", "classifier"):
        raise ValueError(f"--limit does not apply to {kind}; use --set data.max_train=N")
    if limit is not None and kind in ("surrogate", "refiner") and limit < 3:
        raise ValueError(f"--limit must be at least 3 simulations (train, dev and test splits); got {limit}")
    for name, value in (("vae", vae), ("surrogate", surrogate)):
        if value is not None and name not in recipe.needs:
            raise ValueError(f"{_INPUT_FLAGS[name]} does not apply to {kind}")
    if init is not None and recipe.warm is None:
        raise ValueError(f"--init is not available for {kind}")
    overrides = tuple(overrides) + ((f"refiner.patch={int(patch)}",) if patch is not None else ())
    out = Path(out)
    primary = _is_primary()
    if resume:
        saved_cfg, meta = read_run_config(out, kind)
        run_cfg = from_dict(RUN_CONFIGS[kind], apply_overrides(saved_cfg, list(overrides)))
        data = data or meta.get("data")
        vae = vae or meta.get("vae")
        surrogate = surrogate or meta.get("surrogate")
        limit = limit if limit is not None else meta.get("limit")
        init = None
    else:
        if primary and out.exists() and any(out.iterdir()):
            raise FileExistsError(f"run folder {str(out)!r} exists; use --resume to continue it or choose another --out")
        run_cfg = resolve_config(kind, preset or recipe.preset, config, overrides)
        meta = {"kind": kind, "preset": preset or recipe.preset, "config_file": str(config) if config else None,
                "overrides": list(overrides), "init": str(init) if init else None,
                "quakesynth_version": _version()}
    inputs = Inputs(data=Path(data) if data else None, vae=Path(vae) if vae else None,
                    surrogate=Path(surrogate) if surrogate else None, limit=limit, progress=progress,
                    device="cuda" if accelerator in ("gpu", "cuda") and torch.cuda.is_available() else "cpu")
    for name in recipe.needs:
        if getattr(inputs, name) is None:
            what = {"data": "a dataset", "vae": "the trained VAE", "surrogate": "the trained surrogate"}[name]
            raise ValueError(f"training {kind} needs {what}: {_INPUT_FLAGS[name]} PATH")
    if not inputs.data.exists():
        raise FileNotFoundError(f"{_INPUT_FLAGS['data']} {str(inputs.data)!r} does not exist")
    meta.update({name: str(getattr(inputs, name)) if getattr(inputs, name) else None for name in recipe.needs})
    if limit is not None or "limit" in meta:
        meta["limit"] = limit

    torch.manual_seed(recipe.seed(run_cfg))
    plan = recipe.prepare(run_cfg, inputs)
    model_dir = run_plan(plan, out, resume=resume, devices=devices, accelerator=accelerator, strategy=strategy,
                         progress=progress, meta=meta,
                         warm=(lambda module: warm_start(module, kind, init)) if init else None)
    if model_dir is not None and calibrate:
        calibrate_refiner(model_dir, inputs, plan.config, calibration_wavefields)
    return model_dir


def _widened_input(old: torch.Tensor, new: torch.Tensor) -> bool:
    """Whether ``new`` is ``old`` with more input channels (axis 1) and every other axis equal."""
    return (old.ndim == new.ndim >= 2 and new.shape[1] > old.shape[1]
            and old.shape[:1] == new.shape[:1] and old.shape[2:] == new.shape[2:])


def warm_start(module: Any, kind: str, init: str | Path) -> dict[str, int]:
    """Copy into the trained network of ``kind`` (the recipe's ``warm`` attribute of ``module``)
    every tensor of the model at ``init`` (model directory or run folder) whose name and shape
    match; returns ``{"copied", "widened", "skipped", "total"}`` counts.

    A weight whose input axis (axis 1) grew and whose other axes match (new input channels of
    the first convolution, e.g. ``unet.coords``; new conditioning variables appended to the
    conditioning MLP) is *widened*: the old weights fill its first input channels and the new
    ones start at zero, so the warm-started network computes the same function as the old one
    and training switches the new inputs on.

    Raises ``ValueError`` when ``init`` has no weights of this kind or no tensor matches.
    """
    from quakesynth.modeldir import load_model_dir, resolve_model_dir

    if RECIPES[kind].warm is None:
        raise ValueError(f"--init is not available for {kind}")
    attr, key = RECIPES[kind].warm
    _, states = load_model_dir(resolve_model_dir(init))
    if key not in states:
        raise ValueError(f"--init {str(init)!r} has no {key!r} weights to warm-start a {kind} (has {sorted(states)})")
    src, net = states[key], getattr(module, attr)
    target = net.state_dict()
    match = {k: v for k, v in src.items() if k in target and tuple(v.shape) == tuple(target[k].shape)}
    widened = {k: v for k, v in src.items() if k in target and k not in match and _widened_input(v, target[k])}
    if not match:
        raise ValueError(f"--init {str(init)!r}: no {key!r} tensor matches the {kind} being trained in name and shape")
    with torch.no_grad():
        for k, v in match.items():
            target[k].copy_(v)
        for k, v in widened.items():  # new inputs start switched off: the same function as before
            target[k].zero_()
            target[k][:, :v.shape[1]].copy_(v)
    counts = {"copied": len(match), "widened": len(widened),
              "skipped": len(target) - len(match) - len(widened), "total": len(target)}
    if counts["skipped"]:
        warnings.warn(f"--init {str(init)!r}: {counts['skipped']} of {counts['total']} {kind} tensors differ in "
                      f"name or shape and keep their fresh initialisation", stacklevel=2)
    return counts
