"""Train a HighFEM model -- ``vae``, ``edm`` (latent diffusion on a trained VAE) or
``classifier`` -- from a dataset store into a run folder, and export a self-describing model
directory at the end.

Configuration: see :func:`quakesynth.train.config.resolve_config`; the resolved configuration
is written to ``RUN/config.yaml``. Resuming reads it back (overrides still apply, e.g. a longer
``train.max_steps``) and continues from ``RUN/checkpoints/last.ckpt`` at the exact step.

Model directories (``RUN/model``, written with :func:`quakesynth.modeldir.save_model_dir`):

- vae: config ``{"model": "vae", "spectrogram", "vae", "waveform", "provenance"}``, weights
  ``vae`` (EMA) and ``vae_raw``.
- edm: a complete generator that :func:`quakesynth.load_model` opens --
  ``{"model": "highfem", "spectrogram", "vae", "unet", "edm", "sampler", "conditioning",
  "waveform", "provenance"}``, weights ``vae``, ``edm`` (EMA, used for generation) and ``edm_raw``.
- classifier: ``{"model": "classifier", "spectrogram", "classifier", "classes", "waveform",
  "provenance"}``, weights ``classifier`` (EMA) and ``classifier_raw``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from quakesynth._atomic import atomic_path
from quakesynth.config import apply_overrides, from_dict, to_dict
from quakesynth.models.amplitude import amplitude_config_dict, fit_amplitude_model, normalise_peaks
from quakesynth.models.vae import VAEConfig
from quakesynth.repr.spectrogram import SpectrogramConfig
from quakesynth.train.config import (
    KINDS,
    RUN_CONFIGS,
    ClassifierRunConfig,
    EDMRunConfig,
    VAERunConfig,
    resolve_config,
)


def _is_primary() -> bool:
    """True in the launching process (not in a DDP worker re-launched by Lightning or torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0 \
        and int(os.environ.get("RANK", "0")) == 0


def _version() -> str:
    from quakesynth import __version__

    return __version__


# -- loading trained parts -------------------------------------------------------------------
def _model_dir(path: str | Path) -> Path:
    """A model directory: ``path`` itself or ``path/model`` of a run folder."""
    from quakesynth.modeldir import resolve_model_dir

    return resolve_model_dir(path)


def load_vae(path: str | Path) -> tuple[SpectrogramConfig, VAEConfig, dict[str, torch.Tensor], dict]:
    """(spectrogram config, VAE config, VAE weights, config dict) from a VAE or generator model
    directory, or a ``train vae`` run folder."""
    from quakesynth.modeldir import load_model_dir

    config, states = load_model_dir(_model_dir(path))
    if config.get("model") not in ("vae", "highfem") or "vae" not in states:
        raise ValueError(f"{str(path)!r} holds a {config.get('model')!r} model, not a VAE")
    return (from_dict(SpectrogramConfig, config["spectrogram"]), from_dict(VAEConfig, config["vae"]),
            states["vae"], config)


# -- training --------------------------------------------------------------------------------
def train(kind: str, data: str | Path, out: str | Path, preset: str | None = "small",
          config: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
          resume: bool = False, devices: int = 1, accelerator: str = "cpu", strategy: str | None = None,
          vae: str | Path | None = None, progress: bool = True, init: str | Path | None = None) -> Path | None:
    """Train a model; returns the exported model directory (``None`` in DDP worker processes).

    Parameters
    ----------
    kind : ``"vae"``, ``"edm"`` or ``"classifier"``.
    data : dataset store folder (splits ``train`` and ``dev``).
    out : run folder (must not exist unless ``resume``).
    preset : ``"tiny"``, ``"small"`` or ``"paper"`` (``configs/train_<kind>_<preset>.yaml``).
    config : optional YAML file overlaid on the preset.
    overrides : ``section.key=value`` strings, e.g. ``train.max_steps=2000``.
    resume : continue the run in ``out`` from its last checkpoint.
    devices, accelerator, strategy : Lightning execution (``devices > 1``: DDP).
    vae : for ``edm``, the trained VAE (model directory or run folder).
    init : warm start: initialise the trained network from this model directory or run folder
        (``vae``: its VAE; ``edm``: its EMA denoiser; ``classifier``: its classifier), every
        tensor whose name and shape match (see :func:`warm_start`); ignored when resuming.
    """
    if kind not in RUN_CONFIGS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    out = Path(out)
    primary = _is_primary()
    cls = RUN_CONFIGS[kind]
    meta: dict[str, Any]
    if resume:
        saved_path = out / "config.yaml"
        if not saved_path.exists():
            raise FileNotFoundError(f"cannot resume: {str(saved_path)!r} not found")
        saved = yaml.safe_load(saved_path.read_text())
        if saved.get("kind") != kind:
            raise ValueError(f"run {str(out)!r} trains a {saved.get('kind')!r} model, not {kind!r}")
        run_cfg = from_dict(cls, apply_overrides(saved["config"], list(overrides)))
        vae = vae or saved.get("vae")
        meta = {k: v for k, v in saved.items() if k != "config"}
    else:
        if primary and out.exists() and any(out.iterdir()):
            raise FileExistsError(f"run folder {str(out)!r} exists; use --resume to continue it or choose another --out")
        run_cfg = resolve_config(kind, preset, config, overrides)
        meta = {"kind": kind, "preset": preset, "config_file": str(config) if config else None,
                "overrides": list(overrides), "init": str(init) if init else None,
                "quakesynth_version": _version()}
    meta.update({"data": str(data), "vae": str(vae) if vae else None})
    if kind == "edm" and not vae:
        raise ValueError("training an edm needs the trained VAE: --vae RUN_OR_MODEL")

    torch.manual_seed(run_cfg.train.seed)
    builder = {"vae": _prepare_vae, "edm": _prepare_edm, "classifier": _prepare_classifier}[kind]
    module, dm, run_cfg, export = builder(run_cfg, Path(data), vae, progress)
    if init and not resume:
        warm_start(module, kind, init)

    if primary:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "config.yaml", overwrite=True) as tmp:
            tmp.write_text(yaml.safe_dump({**meta, "config": to_dict(run_cfg)}, sort_keys=False))

    from quakesynth.train.fit import fit

    trainer, ema = fit(module, dm, out, run_cfg.train, resume=resume, devices=devices,
                       accelerator=accelerator, strategy=strategy, progress=progress)
    if not trainer.is_global_zero:
        return None
    provenance = {"kind": kind, "dataset": str(data), "run": str(out), "steps": int(trainer.global_step),
                  "quakesynth_version": _version(), "weights": f"EMA (decay {run_cfg.train.ema_decay:g})"}
    config_dict, states = export(module, ema.averaged_state_dict(), provenance)
    from quakesynth.modeldir import save_model_dir

    model_dir = out / "model"
    save_model_dir(model_dir, config_dict, states, overwrite=True)
    return model_dir


def _val_limit(cfg: Any) -> int:
    return cfg.data.max_val if cfg.data.val_split else 0


def _splits(cfg: Any, data: Path, n_samples: int, fs: float):
    """(train records, train waves, val records | None, val waves | None)."""
    from quakesynth.train.data import read_split, waveforms

    tr = read_split(data, cfg.data.train_split, cfg.data.max_train)
    if tr is None:
        raise ValueError(f"dataset {str(data)!r} has no {cfg.data.train_split!r} records")
    comps = cfg.data.components or tr.components
    w_tr = waveforms(tr, n_samples, fs, comps)
    va = read_split(data, cfg.data.val_split, _val_limit(cfg)) if _val_limit(cfg) > 0 else None
    w_va = waveforms(va, n_samples, fs, comps) if va is not None else None
    return tr, w_tr, va, w_va, comps


def _waveform_info(spec: SpectrogramConfig, components: str) -> dict[str, Any]:
    return {"fs": spec.fs, "components": components, "n_samples": spec.n_samples,
            "quantity": "acceleration", "unit": "m/s^2"}


def _datamodule(cfg: Any, train_set, val_set):
    from quakesynth.train.fit import StepDataModule

    t = cfg.train
    return StepDataModule(train_set, val_set, t.batch_size, t.seed, t.max_steps, t.num_workers)


def _prepare_vae(cfg: VAERunConfig, data: Path, vae_path: Any, progress: bool):
    from quakesynth.train.fit import ArrayDataset
    from quakesynth.train.modules import VAEModule

    spec = cfg.spectrogram
    _check_latent_shape(spec, cfg.vae)
    _, w_tr, _, w_va, comps = _splits(cfg, data, spec.n_samples, spec.fs)
    amp = cfg.amplitude
    if amp.mode == "peak":  # the VAE learns peak-normalised shapes (quakesynth.models.amplitude)
        w_tr = normalise_peaks(w_tr, amp.reference)[0]
        w_va = normalise_peaks(w_va, amp.reference)[0] if w_va is not None else None
    if w_tr.shape[1] != cfg.vae.in_channels:
        cfg = dataclasses.replace(cfg, vae=dataclasses.replace(cfg.vae, in_channels=w_tr.shape[1]))
    module = VAEModule(spec, cfg.vae, cfg.train)
    dm = _datamodule(cfg, ArrayDataset(wave=w_tr), ArrayDataset(wave=w_va) if w_va is not None else None)

    def export(m: VAEModule, ema: dict, provenance: dict):
        conf = {"model": "vae", "spectrogram": to_dict(spec), "vae": to_dict(cfg.vae),
                "waveform": _waveform_info(spec, comps), "provenance": provenance}
        if amp.mode != "none":
            conf["amplitude"] = {"mode": amp.mode, "reference": amp.reference}
        return conf, {"vae": ema, "vae_raw": _cpu(m.vae.state_dict())}

    return module, dm, cfg, export


def _check_latent_shape(spec: SpectrogramConfig, vae: VAEConfig) -> None:
    try:
        vae.latent_shape((vae.in_channels, *spec.shape))
    except ValueError as e:
        raise ValueError(f"spectrogram shape {spec.shape} does not fit the VAE: {e}") from e


def _prepare_classifier(cfg: ClassifierRunConfig, data: Path, vae_path: Any, progress: bool):
    from quakesynth.models.classifier import bin_labels, class_names
    from quakesynth.train.data import class_weights, drop_unlabelled
    from quakesynth.train.fit import ArrayDataset
    from quakesynth.train.modules import ClassifierModule

    spec, c = cfg.spectrogram, cfg.classifier
    tr, w_tr, va, w_va, comps = _splits(cfg, data, spec.n_samples, spec.fs)
    if w_tr.shape[1] != c.in_channels:
        c = dataclasses.replace(c, in_channels=w_tr.shape[1])
        cfg = dataclasses.replace(cfg, classifier=c)

    def labels(rec):
        cond = rec.conditioning(("magnitude", "distance"))
        return bin_labels(cond[:, 0], cond[:, 1], c.mag_bins, c.dist_bins)

    y_tr = labels(tr)
    keep = drop_unlabelled(y_tr, "training")
    if not keep.any():
        raise ValueError("no training record falls inside the classifier's magnitude x distance grid")
    train_set = ArrayDataset(wave=w_tr[keep], label=y_tr[keep])
    val_set = None
    if va is not None:
        y_va = labels(va)
        k = y_va >= 0
        val_set = ArrayDataset(wave=w_va[k], label=y_va[k]) if k.any() else None
    weights = torch.from_numpy(class_weights(y_tr[keep], c.num_classes))
    module = ClassifierModule(spec, c, cfg.train, weights)
    dm = _datamodule(cfg, train_set, val_set)

    def export(m: ClassifierModule, ema: dict, provenance: dict):
        conf = {"model": "classifier", "spectrogram": to_dict(spec), "classifier": to_dict(c),
                "classes": class_names(c.mag_bins, c.dist_bins), "waveform": _waveform_info(spec, comps),
                "provenance": {**provenance, "class_counts": np.bincount(y_tr[keep], minlength=c.num_classes).tolist()}}
        return conf, {"classifier": ema, "classifier_raw": _cpu(m.net.state_dict())}

    return module, dm, cfg, export


def _prepare_edm(cfg: EDMRunConfig, data: Path, vae_path: Any, progress: bool):
    from quakesynth.models.conditioning import Conditioning
    from quakesynth.train.fit import ArrayDataset
    from quakesynth.train.modules import EDMModule

    spec, vae_cfg, vae_state, vae_conf = load_vae(vae_path)
    tr, w_tr, va, w_va, comps = _splits(cfg, data, spec.n_samples, spec.fs)
    vae_comps = vae_conf.get("waveform", {}).get("components")
    if vae_comps and vae_comps != comps:
        if cfg.data.components:
            raise ValueError(f"data.components={comps!r} but the VAE was trained on {vae_comps!r}")
        w_tr = _reorder(w_tr, comps, vae_comps)
        w_va = _reorder(w_va, comps, vae_comps) if w_va is not None else None
        comps = vae_comps
    lat_shape = vae_cfg.latent_shape((vae_cfg.in_channels, *spec.shape))
    vae_amp = vae_conf.get("amplitude") or {"mode": "none"}
    cfg = dataclasses.replace(cfg, amplitude=dataclasses.replace(
        cfg.amplitude, mode=vae_amp["mode"], reference=float(vae_amp.get("reference", cfg.amplitude.reference))))

    # Conditioning: statistics from the training split only.
    ccfg = cfg.conditioning
    cond_tr_phys = tr.conditioning(ccfg.variables)
    cnorm = Conditioning.fit(cond_tr_phys, ccfg)
    c_tr, keep = Conditioning.fill_missing(cnorm(cond_tr_phys), ccfg, "training")
    w_tr = w_tr[keep]
    c_va = None
    if va is not None:
        c_va, keep_va = Conditioning.fill_missing(cnorm(va.conditioning(ccfg.variables)), ccfg, "validation")
        w_va = w_va[keep_va]
    amp = cfg.amplitude
    a_tr = a_va = None
    if amp.mode == "peak":  # the latents are those of peak-normalised shapes, as the VAE was trained
        w_tr, a_tr = normalise_peaks(w_tr, amp.reference)
        if w_va is not None:
            w_va, a_va = normalise_peaks(w_va, amp.reference)

    unet = dataclasses.replace(cfg.unet, in_channels=lat_shape[0], out_channels=lat_shape[0],
                               cond_features=len(ccfg.variables), dims=vae_cfg.dims)

    # Latents (posterior means) of the frozen VAE; EDM's sigma_data = their standard deviation.
    encode = _encoder(spec, vae_cfg, vae_state)
    bs = cfg.latent.encode_batch_size
    z_tr = _encode_all(encode, w_tr, bs, progress, "encode train") if cfg.latent.cache else None
    z_va = _encode_all(encode, w_va, bs, False, "") if cfg.latent.cache and w_va is not None else None
    edm = cfg.edm
    if cfg.latent.auto_sigma_data:
        z = z_tr if z_tr is not None else _encode_all(encode, w_tr[:1024], bs, False, "")
        edm = dataclasses.replace(edm, sigma_data=float(z.double().std()))
    cfg = dataclasses.replace(cfg, unet=unet, edm=edm,
                              latent=dataclasses.replace(cfg.latent, auto_sigma_data=False))
    module = EDMModule(spec, vae_cfg, vae_state, unet, edm, cfg.latent, cfg.train)

    if z_tr is not None:
        train_set = ArrayDataset(latent=z_tr, cond=c_tr)
        val_set = ArrayDataset(latent=z_va, cond=c_va) if z_va is not None else None
    else:
        train_set = ArrayDataset(wave=w_tr, cond=c_tr)
        val_set = ArrayDataset(wave=w_va, cond=c_va) if w_va is not None else None
    dm = _datamodule(cfg, train_set, val_set)

    def export(m: EDMModule, ema: dict, provenance: dict):
        conf = {"model": "highfem", "spectrogram": to_dict(spec), "vae": to_dict(vae_cfg),
                "unet": to_dict(unet), "edm": to_dict(cfg.edm), "sampler": to_dict(cfg.sampler),
                "sampler_sigma_dtype": "float64", "conditioning": cnorm.to_dict(),
                "waveform": _waveform_info(spec, comps),
                "provenance": {**provenance, "vae": str(vae_path), "cond_dropout": cfg.latent.cond_dropout}}
        states = {"vae": _cpu(m.vae.state_dict()), "edm": ema, "edm_raw": _cpu(m.net.state_dict())}
        if amp.mode == "peak":  # the amplitude model: conditioning -> log10 peaks of the 3 components
            head, report = fit_amplitude_model(c_tr, a_tr, amp, seed=cfg.train.seed, c_val=c_va, a_val=a_va)
            conf["amplitude"] = amplitude_config_dict(amp, c_tr.shape[1], a_tr.shape[1], report)
            states["amplitude"] = _cpu(head.state_dict())
        return conf, states

    return module, dm, cfg, export


def _reorder(w: np.ndarray, have: str, want: str) -> np.ndarray:
    if sorted(have) != sorted(want):
        raise ValueError(f"the dataset has components {have!r} but the VAE was trained on {want!r}")
    return w[:, [have.index(c) for c in want]]


def _encoder(spec: SpectrogramConfig, vae_cfg: VAEConfig, vae_state: dict[str, torch.Tensor]):
    """waveforms (B, C, T) -> VAE posterior means, with a frozen VAE in eval mode."""
    from quakesynth.models.vae import VAE
    from quakesynth.repr.spectrogram import LogSpectrogram

    rep, vae = LogSpectrogram(spec), VAE(vae_cfg)
    vae.load_state_dict(vae_state)
    vae.requires_grad_(False).eval()

    @torch.no_grad()
    def encode(w: torch.Tensor) -> torch.Tensor:
        return vae.encode(rep.forward(w.float()))[0]

    return encode


def _encode_all(encode: Any, w: np.ndarray, batch_size: int, progress: bool, desc: str) -> torch.Tensor:
    from tqdm.auto import tqdm

    out = [encode(torch.from_numpy(w[i:i + batch_size]))
           for i in tqdm(range(0, len(w), batch_size), desc=desc, disable=not progress, unit="batch")]
    return torch.cat(out) if out else torch.zeros(0)


def _cpu(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


def refit_amplitude(config: dict, data: str | Path, amp: Any = None, seed: int = 0,
                    train_split: str = "train", val_split: str = "dev") -> tuple[dict, dict[str, torch.Tensor]]:
    """(``amplitude`` config section, weights) of a new amplitude model for a HighFEM model with
    ``amplitude.mode: peak``, fitted on a dataset store's ``train_split`` with the model's own
    conditioning normaliser (the same fit as at the end of ``train edm``).

    ``amp``: an :class:`~quakesynth.models.amplitude.AmplitudeConfig` for the fit settings (its
    mode and reference are taken from the model).
    """
    from quakesynth.models.amplitude import AmplitudeConfig
    from quakesynth.models.conditioning import Conditioning, ConditioningConfig
    from quakesynth.train.data import read_split, waveforms

    section = config.get("amplitude") or {}
    if section.get("mode") != "peak":
        raise ValueError("the model has no amplitude path (amplitude.mode is not 'peak'); nothing to refit")
    amp = dataclasses.replace(amp or AmplitudeConfig(), mode="peak", reference=float(section["reference"]))
    cnorm = Conditioning.from_dict(config["conditioning"])
    wf, spec = config["waveform"], config["spectrogram"]

    def split(name: str):
        rec = read_split(data, name) if name else None
        if rec is None:
            return None, None
        c, keep = Conditioning.fill_missing(cnorm(rec.conditioning(cnorm.variables)),
                                            ConditioningConfig(variables=cnorm.variables), name)
        a = normalise_peaks(waveforms(rec, int(spec["n_samples"]), float(spec["fs"]), wf["components"]),
                            amp.reference)[1]
        return c, a[keep]

    c_tr, a_tr = split(train_split)
    if c_tr is None:
        raise ValueError(f"dataset {str(data)!r} has no {train_split!r} records")
    c_va, a_va = split(val_split)
    head, report = fit_amplitude_model(c_tr, a_tr, amp, seed=seed, c_val=c_va, a_val=a_va)
    return amplitude_config_dict(amp, c_tr.shape[1], a_tr.shape[1], report), _cpu(head.state_dict())


#: The network each kind trains and the model-directory weights that warm-start it.
_WARM_KEYS = {"vae": ("vae", "vae"), "edm": ("net", "edm"), "classifier": ("net", "classifier")}


def warm_start(module: Any, kind: str, init: str | Path) -> dict[str, int]:
    """Copy into the trained network every tensor of the model at ``init`` (model directory or
    run folder) whose name and shape match; returns ``{"copied", "skipped", "total"}`` counts.

    Raises ``ValueError`` when ``init`` has no weights of this kind or no tensor matches.
    """
    from quakesynth.modeldir import load_model_dir

    attr, key = _WARM_KEYS[kind]
    _, states = load_model_dir(_model_dir(init))
    if key not in states:
        raise ValueError(f"--init {str(init)!r} has no {key!r} weights to warm-start a {kind} (has {sorted(states)})")
    src, net = states[key], getattr(module, attr)
    target = net.state_dict()
    match = {k: v for k, v in src.items() if k in target and tuple(v.shape) == tuple(target[k].shape)}
    if not match:
        raise ValueError(f"--init {str(init)!r}: no {key!r} tensor matches the {kind} being trained in name and shape")
    with torch.no_grad():
        for k, v in match.items():
            target[k].copy_(v)
    counts = {"copied": len(match), "skipped": len(target) - len(match), "total": len(target)}
    if counts["skipped"]:
        import warnings

        warnings.warn(f"--init {str(init)!r}: {counts['skipped']} of {counts['total']} {kind} tensors differ in "
                      f"name or shape and keep their fresh initialisation", stacklevel=2)
    return counts
