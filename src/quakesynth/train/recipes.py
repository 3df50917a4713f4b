"""The recipe table: what ``quakesynth train KIND`` trains for each kind, on which data, and
what it exports. The loop itself is :func:`quakesynth.train.fit.fit`, driven by
:func:`quakesynth.train.fit.run_plan`; a recipe brings no loop of its own.

A :class:`Recipe` holds the kind's default preset, the inputs it needs and its ``prepare``
function. ``prepare(cfg, inputs)`` is the data builder: it reads the data, fills the derived
values of the run configuration (channels, stations, normalisation...) and returns a
:class:`Plan`: the resolved configuration, the :class:`Stage` list (each stage a module builder
with its training and validation arrays; TimesNet-Gen has two, every other kind one) and the
``export`` function that turns the trained modules and their EMA weights into a model directory
(``config.json`` dict and state dicts, :func:`quakesynth.modeldir.save_model_dir`).

The kinds (data -> module(s) of :mod:`quakesynth.train.modules` -> ``"model"`` of the model directory):

- ``vae``: dataset store -> ``VAEModule`` -> ``"vae"``;
- ``edm``: dataset store + trained VAE -> ``EDMModule`` -> ``"highfem"`` (a generator);
- ``classifier``: dataset store -> ``ClassifierModule`` -> ``"classifier"``;
- ``timesnet``: dataset store of station records -> ``TimesNetModule`` (phase 0, phase 1) ->
  ``"timesnet_gen"``;
- ``site-cvae``: dataset store of station records -> ``CVAEModule`` -> ``"site_cvae"``;
- ``surrogate``: simulate-3d corpus -> ``MIFNOModule`` -> ``"mifno"``;
- ``refiner``: simulate-3d corpus + trained surrogate -> ``RefinerModule`` -> ``"refiner"``;
- ``broadband``: dataset store of broadband records -> ``RefinerModule`` -> ``"refiner"`` with
  the ``broadband`` section.

Library calls of the same recipes: :func:`train_surrogate` and :func:`train_refiner` on a corpus
or pairs already in memory (e.g. :func:`quakesynth.physics.data.lowpass_pairs`),
:func:`train_timesnet` and :func:`train_cvae` on a dataset store.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from quakesynth.config import to_dict
from quakesynth.models.amplitude import (
    amplitude_config_dict,
    fit_amplitude_model,
    normalise_peaks,
    shape_features,
)
from quakesynth.train.config import (
    BroadbandRunConfig,
    ClassifierRunConfig,
    EDMRunConfig,
    RefinerRunConfig,
    SiteGenConfig,
    SurrogateRunConfig,
    TrainConfig,
    VAERunConfig,
)


# -- the table's types -------------------------------------------------------------------------
@dataclass
class Inputs:
    """What a run reads besides its configuration (paths as given on the command line)."""

    data: Path | None = None  # dataset store, or simulate-3d corpus folder (surrogate, refiner)
    vae: Path | None = None  # edm: the trained VAE (model directory or run folder)
    surrogate: Path | None = None  # refiner: the trained surrogate
    limit: int | None = None  # first N simulations (surrogate, refiner), training records (broadband), records per station (timesnet, site-cvae)
    progress: bool = True  # progress bars while preparing data
    device: str = "cpu"  # where data preparation runs (the EDM's latent encoding): "cpu" or "cuda"


@dataclass
class Stage:
    """One call of the fit: ``build(previous)`` makes the module (``previous``: the EMA weights
    of the earlier stages by name), trained with ``train`` on ``arrays`` (validation on
    ``val_arrays``) in the run folder's subfolder ``name`` (``""``: the run folder itself)."""

    build: Callable[[dict[str, dict[str, torch.Tensor]]], Any]
    train: TrainConfig
    arrays: dict[str, Any]
    val_arrays: dict[str, Any] | None = None
    name: str = ""


@dataclass
class Plan:
    """What :func:`Recipe.prepare` returns: the resolved run configuration (derived values
    filled in; written to ``RUN/config.yaml``), the stages and the export function
    ``export(modules, ema_states, provenance) -> (config.json dict, state dicts)``."""

    config: Any
    stages: list[Stage]
    export: Callable[[list[Any], dict[str, dict[str, torch.Tensor]], dict[str, Any]], tuple[dict, dict]]


@dataclass(frozen=True)
class Recipe:
    """One trainable kind (see the module docstring)."""

    kind: str
    prepare: Callable[[Any, Inputs], Plan]  # data builder: (run config, inputs) -> plan
    preset: str = "small"  # default preset
    needs: tuple[str, ...] = ("data",)  # Inputs fields that must be given
    seed: Callable[[Any], int] = field(default=lambda cfg: cfg.train.seed)  # seeds torch before prepare
    warm: tuple[str, str] | None = None  # --init: (module attribute, model-directory weights)


def _cpu(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


def _version() -> str:
    from quakesynth import __version__

    return __version__


# -- HighFEM: vae, edm, classifier ----------------------------------------------------------------
def load_vae(path: str | Path) -> tuple[Any, Any, dict[str, torch.Tensor], dict]:
    """(spectrogram config, VAE config, VAE weights, config dict) from a VAE or generator model
    directory, or a ``train vae`` run folder."""
    from quakesynth.config import from_dict
    from quakesynth.modeldir import load_model_dir, resolve_model_dir
    from quakesynth.models.vae import VAEConfig
    from quakesynth.repr.spectrogram import SpectrogramConfig

    config, states = load_model_dir(resolve_model_dir(path))
    if config.get("model") not in ("vae", "highfem") or "vae" not in states:
        raise ValueError(f"{str(path)!r} holds a {config.get('model')!r} model, not a VAE")
    return (from_dict(SpectrogramConfig, config["spectrogram"]), from_dict(VAEConfig, config["vae"]),
            states["vae"], config)


def _val_limit(cfg: Any) -> int:
    return cfg.data.max_val if cfg.data.val_split else 0


def _splits(cfg: Any, data: Path, n_samples: int, fs: float):
    """(train records, train waves, val records | None, val waves | None, components)."""
    from quakesynth.train.data import read_split, waveforms

    tr = read_split(data, cfg.data.train_split, cfg.data.max_train)
    if tr is None:
        raise ValueError(f"dataset {str(data)!r} has no {cfg.data.train_split!r} records")
    comps = cfg.data.components or tr.components
    w_tr = waveforms(tr, n_samples, fs, comps)
    va = read_split(data, cfg.data.val_split, _val_limit(cfg)) if _val_limit(cfg) > 0 else None
    w_va = waveforms(va, n_samples, fs, comps) if va is not None else None
    return tr, w_tr, va, w_va, comps


def _waveform_info(spec: Any, components: str) -> dict[str, Any]:
    return {"fs": spec.fs, "components": components, "n_samples": spec.n_samples,
            "quantity": "acceleration", "unit": "m/s^2"}


def _check_latent_shape(spec: Any, vae: Any) -> None:
    try:
        vae.latent_shape((vae.in_channels, *spec.shape))
    except ValueError as e:
        raise ValueError(f"spectrogram shape {spec.shape} does not fit the VAE: {e}") from e


def prepare_vae(cfg: VAERunConfig, inputs: Inputs) -> Plan:
    """VAE on log-spectrograms of the store's train split (peak-normalised with ``amplitude.mode: peak``)."""
    from quakesynth.train.modules import VAEModule

    spec = cfg.spectrogram
    _check_latent_shape(spec, cfg.vae)
    _, w_tr, _, w_va, comps = _splits(cfg, Path(inputs.data), spec.n_samples, spec.fs)
    amp = cfg.amplitude
    if amp.mode == "peak":  # the VAE learns peak-normalised shapes (quakesynth.models.amplitude)
        w_tr = normalise_peaks(w_tr, amp.reference)[0]
        w_va = normalise_peaks(w_va, amp.reference)[0] if w_va is not None else None
    if w_tr.shape[1] != cfg.vae.in_channels:
        cfg = dataclasses.replace(cfg, vae=dataclasses.replace(cfg.vae, in_channels=w_tr.shape[1]))

    def export(modules: list, ema: dict, provenance: dict):
        conf = {"model": "vae", "spectrogram": to_dict(spec), "vae": to_dict(cfg.vae),
                "waveform": _waveform_info(spec, comps), "provenance": provenance}
        if amp.mode != "none":
            conf["amplitude"] = {"mode": amp.mode, "reference": amp.reference}
        return conf, {"vae": ema[""], "vae_raw": _cpu(modules[0].vae.state_dict())}

    part = cfg.vae_train
    stage = Stage(lambda prev: VAEModule(spec, cfg.vae, cfg.train, part),
                  cfg.train, {"wave": w_tr}, {"wave": w_va} if w_va is not None else None)
    return Plan(cfg, [stage], export)


def prepare_classifier(cfg: ClassifierRunConfig, inputs: Inputs) -> Plan:
    """Magnitude x distance classifier; records outside the grid are dropped, classes weighted."""
    from quakesynth.models.classifier import bin_labels, class_names
    from quakesynth.train.data import class_weights, drop_unlabelled
    from quakesynth.train.modules import ClassifierModule

    spec, c = cfg.spectrogram, cfg.classifier
    tr, w_tr, va, w_va, comps = _splits(cfg, Path(inputs.data), spec.n_samples, spec.fs)
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
    val = None
    if va is not None:
        y_va = labels(va)
        k = y_va >= 0
        val = {"wave": w_va[k], "label": y_va[k]} if k.any() else None
    weights = torch.from_numpy(class_weights(y_tr[keep], c.num_classes))

    def export(modules: list, ema: dict, provenance: dict):
        conf = {"model": "classifier", "spectrogram": to_dict(spec), "classifier": to_dict(c),
                "classes": class_names(c.mag_bins, c.dist_bins), "waveform": _waveform_info(spec, comps),
                "provenance": {**provenance, "class_counts": np.bincount(y_tr[keep], minlength=c.num_classes).tolist()}}
        return conf, {"classifier": ema[""], "classifier_raw": _cpu(modules[0].net.state_dict())}

    stage = Stage(lambda prev: ClassifierModule(spec, c, cfg.train, weights), cfg.train,
                  {"wave": w_tr[keep], "label": y_tr[keep]}, val)
    return Plan(cfg, [stage], export)


def _reorder(w: np.ndarray, have: str, want: str) -> np.ndarray:
    if sorted(have) != sorted(want):
        raise ValueError(f"the dataset has components {have!r} but the VAE was trained on {want!r}")
    return w[:, [have.index(c) for c in want]]


def _encoder(spec: Any, vae_cfg: Any, vae_state: dict[str, torch.Tensor], device: str = "cpu"):
    """waveforms (B, C, T) -> VAE posterior means (on the CPU), with a frozen VAE in eval mode
    run on ``device``."""
    from quakesynth.models.vae import VAE
    from quakesynth.repr.spectrogram import LogSpectrogram

    rep, vae = LogSpectrogram(spec), VAE(vae_cfg)
    vae.load_state_dict(vae_state)
    vae.requires_grad_(False).eval()
    vae = vae.to(device)  # the spectrogram follows its input's device

    @torch.no_grad()
    def encode(w: torch.Tensor) -> torch.Tensor:
        return vae.encode(rep.forward(w.float().to(device)))[0].cpu()

    return encode


def _encode_all(encode: Any, w: np.ndarray, batch_size: int, progress: bool, desc: str) -> torch.Tensor:
    from tqdm.auto import tqdm

    out = [encode(torch.from_numpy(w[i:i + batch_size]))
           for i in tqdm(range(0, len(w), batch_size), desc=desc, disable=not progress, unit="batch")]
    return torch.cat(out) if out else torch.zeros(0)


def prepare_edm(cfg: EDMRunConfig, inputs: Inputs) -> Plan:
    """Latent EDM on the posterior means of a frozen VAE (``inputs.vae``); conditioning
    statistics and ``sigma_data`` from the training split; the amplitude model is fitted at
    export when the VAE learned peak-normalised shapes."""
    from quakesynth.models.conditioning import Conditioning
    from quakesynth.train.modules import EDMModule

    vae_path = inputs.vae
    spec, vae_cfg, vae_state, vae_conf = load_vae(vae_path)
    tr, w_tr, va, w_va, comps = _splits(cfg, Path(inputs.data), spec.n_samples, spec.fs)
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
    if cfg.latent.s_arrival:
        unet = dataclasses.replace(unet, arrival=fit_s_arrival(tr, cond_tr_phys, cnorm, spec.n_samples / spec.fs))

    # Latents (posterior means) of the frozen VAE; EDM's sigma_data = their standard deviation.
    encode = _encoder(spec, vae_cfg, vae_state, inputs.device)
    bs = cfg.latent.encode_batch_size
    z_tr = _encode_all(encode, w_tr, bs, inputs.progress, "encode train") if cfg.latent.cache else None
    z_va = _encode_all(encode, w_va, bs, False, "") if cfg.latent.cache and w_va is not None else None
    edm = cfg.edm
    if cfg.latent.auto_sigma_data:
        z = z_tr if z_tr is not None else _encode_all(encode, w_tr[:1024], bs, False, "")
        edm = dataclasses.replace(edm, sigma_data=float(z.double().std()))
    cfg = dataclasses.replace(cfg, unet=unet, edm=edm,
                              latent=dataclasses.replace(cfg.latent, auto_sigma_data=False))

    if z_tr is not None:
        arrays = {"latent": z_tr, "cond": c_tr}
        val = {"latent": z_va, "cond": c_va} if z_va is not None else None
    else:
        arrays = {"wave": w_tr, "cond": c_tr}
        val = {"wave": w_va, "cond": c_va} if w_va is not None else None

    def export(modules: list, ema: dict, provenance: dict):
        m = modules[0]
        conf = {"model": "highfem", "spectrogram": to_dict(spec), "vae": to_dict(vae_cfg),
                "unet": to_dict(unet), "edm": to_dict(cfg.edm), "sampler": to_dict(cfg.sampler),
                "sampler_sigma_dtype": "float64", "conditioning": cnorm.to_dict(),
                "waveform": _waveform_info(spec, comps),
                "provenance": {**provenance, "vae": str(vae_path), "cond_dropout": cfg.latent.cond_dropout}}
        states = {"vae": _cpu(m.vae.state_dict()), "edm": ema[""], "edm_raw": _cpu(m.net.state_dict())}
        if amp.mode == "peak":  # the amplitude model: conditioning -> log10 peaks of the 3 components
            conf["amplitude"], states["amplitude"] = _fit_amplitude(amp, spec.fs, (c_tr, w_tr, a_tr),
                                                                    (c_va, w_va, a_va), cfg.train.seed)
        return conf, states

    stage = Stage(lambda prev: EDMModule(spec, vae_cfg, vae_state, unet, edm, cfg.latent, cfg.train),
                  cfg.train, arrays, val)
    return Plan(cfg, [stage], export)


def fit_s_arrival(records: Any, cond_phys: np.ndarray, cnorm: Any, window_s: float) -> tuple[float, ...]:
    """``UNetConfig.arrival`` (index, shift, scale, t0 s, slowness s/km, window s) of a training
    split: the least-squares line ``t_S = t0 + slowness R`` of its S picks (metadata
    ``trace_s_arrival_sample``, seconds after the trace start) against the hypocentral
    distance ``R`` (km, the ``distance`` conditioning variable, which must be log10-transformed),
    and that variable's normalisation, which the U-Net inverts
    (:func:`quakesynth.models.unet.arrival_channel`).

    Raises ValueError without a log10 ``distance`` variable or with fewer than 10 records that
    have both a pick and a distance.
    """
    import pandas as pd

    spec = cnorm.to_dict()
    if "distance" not in spec["variables"]:
        raise ValueError("latent.s_arrival needs 'distance' among the conditioning variables")
    i = list(spec["variables"]).index("distance")
    if spec["transforms"][i] != "log10":
        raise ValueError("latent.s_arrival needs the distance conditioning log10-transformed (conditioning.log10)")
    md = records.metadata
    if "trace_s_arrival_sample" not in md:
        raise ValueError("latent.s_arrival needs S picks (metadata trace_s_arrival_sample) in the training split")
    t_s = pd.to_numeric(md["trace_s_arrival_sample"], errors="coerce").to_numpy(np.float64) / float(records.fs)
    r = np.asarray(cond_phys[:, i], np.float64)
    ok = np.isfinite(t_s) & np.isfinite(r) & (r > 0)
    if ok.sum() < 10:
        raise ValueError(f"latent.s_arrival needs at least 10 training records with an S pick (metadata "
                         f"trace_s_arrival_sample) and a distance; {int(ok.sum())} have both")
    slowness, t0 = np.polyfit(r[ok], t_s[ok], 1)
    return (float(i), float(spec["shift"][i]), float(spec["scale"][i]), float(t0), float(slowness), float(window_s))


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
            return None, None, None
        c, keep = Conditioning.fill_missing(cnorm(rec.conditioning(cnorm.variables)),
                                            ConditioningConfig(variables=cnorm.variables), name)
        w, a = normalise_peaks(waveforms(rec, int(spec["n_samples"]), float(spec["fs"]), wf["components"]),
                               amp.reference)
        return c, w[keep], a[keep]

    train = split(train_split)
    if train[0] is None:
        raise ValueError(f"dataset {str(data)!r} has no {train_split!r} records")
    return _fit_amplitude(amp, float(spec["fs"]), train, split(val_split), seed)


def _fit_amplitude(amp: Any, fs: float, train: tuple, val: tuple, seed: int) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config section, weights) of an amplitude model fitted on ``train = (c, w, a)``: normalised
    conditioning (N, V), peak-normalised waveforms (N, C, T) at ``fs`` Hz (only read for the
    shape features of ``amp.shape``) and log10 peaks (N, C); ``val`` likewise or Nones."""
    def feats(w):
        return shape_features(w, fs, amp.shape) if amp.shape != "none" and w is not None else None

    (c_tr, w_tr, a_tr), (c_va, w_va, a_va) = train, val
    head, report = fit_amplitude_model(c_tr, a_tr, amp, seed=seed, c_val=c_va, a_val=a_va,
                                       s=feats(w_tr), s_val=feats(w_va) if c_va is not None else None)
    return amplitude_config_dict(amp, c_tr.shape[1], a_tr.shape[1], report), _cpu(head.state_dict())


# -- physics-guided: surrogate, refiner, broadband ------------------------------------------------
def surrogate_plan(cfg: SurrogateRunConfig, corpus: dict, train_idx, val_idx=None) -> Plan:
    """MIFNO on samples ``train_idx`` of a loaded corpus (:func:`quakesynth.physics.data.load_corpus`);
    normalisation statistics from those samples only."""
    from quakesynth.physics.data import (
        fit_normalisation,
        normalise_geology,
        normalise_velocity,
        source_inputs,
    )
    from quakesynth.train.modules import MIFNOModule

    train_idx = np.asarray(train_idx)
    norm = fit_normalisation(corpus["vs"][train_idx], corpus["u"][train_idx], corpus["domain_m"])

    def arrays(idx):
        position, moment = source_inputs(corpus["source"][idx], norm)
        return {"geology": normalise_geology(corpus["vs"][idx], norm), "position": position, "moment": moment,
                "u": normalise_velocity(corpus["u"][idx], norm)}

    def export(modules: list, ema: dict, provenance: dict):
        return ({"model": "mifno", "mifno": to_dict(cfg.mifno), "normalisation": to_dict(norm),
                 "loss": to_dict(cfg.loss), "train": to_dict(cfg.train),
                 "waveform": {"fs": float(corpus["fs"]), "components": "ENZ", "quantity": "velocity", "unit": "m/s",
                              "n_sensors": cfg.mifno.n_sensors, "n_samples": cfg.mifno.n_times},
                 "provenance": provenance},
                {"mifno": ema[""]})

    val = arrays(np.asarray(val_idx)) if val_idx is not None and len(val_idx) else None
    stage = Stage(lambda prev: MIFNOModule(cfg.mifno, cfg.train, cfg.loss), cfg.train, arrays(train_idx), val)
    return Plan(cfg, [stage], export)


def _corpus3d(inputs: Inputs) -> tuple[dict, dict[str, np.ndarray]]:
    """The simulate-3d corpus (first ``limit`` simulations) and its 80/10/10 split (seed 0)."""
    from quakesynth.physics.data import load_corpus, split_indices

    corpus = load_corpus(inputs.data, limit=inputs.limit)
    return corpus, split_indices(len(corpus["u"]), (0.8, 0.1, 0.1), seed=0)


def prepare_surrogate(cfg: SurrogateRunConfig, inputs: Inputs) -> Plan:
    """MIFNO on a ``quakesynth simulate-3d`` corpus (split 80/10/10, seed 0; dev for validation)."""
    corpus, sp = _corpus3d(inputs)
    mifno = dataclasses.replace(cfg.mifno, n_sensors=corpus["u"].shape[2], n_times=corpus["u"].shape[-1])
    return surrogate_plan(dataclasses.replace(cfg, mifno=mifno), corpus, sp["train"], sp["dev"])


def refiner_plan(cfg: Any, pairs: dict[str, np.ndarray], fs: float, val_pairs: dict[str, np.ndarray] | None = None,
                 extra: dict[str, Any] | None = None) -> Plan:
    """The refiner on ``pairs`` (``x`` truth, ``y`` condition, (M, C, T); ``extra`` (M, n_extra) when
    ``cfg.refiner.n_extra > 0``); ``sigma_data`` is the std of the normalised training residuals.
    ``extra`` entries are added to the model's config."""
    from quakesynth.models.refiner import amplitude_scale
    from quakesynth.train.modules import RefinerModule

    rcfg = cfg.refiner
    x, y = (torch.as_tensor(pairs[k]) for k in ("x", "y"))
    if x.shape != y.shape or x.ndim != 3 or x.shape[1] != rcfg.channels:
        raise ValueError(f"pairs x, y must both be (M, {rcfg.channels}, T); got {tuple(x.shape)}, {tuple(y.shape)}")
    if rcfg.n_extra and ("extra" not in pairs or np.shape(pairs["extra"]) != (len(x), rcfg.n_extra)):
        raise ValueError(f"pairs need extra of shape ({len(x)}, {rcfg.n_extra}); "
                         f"got {None if 'extra' not in pairs else np.shape(pairs['extra'])}")
    sigma_data = float(((x - y) / amplitude_scale(y, rcfg.eps)[:, None, None]).std()) or 0.5
    keys = ("x", "y", "extra") if rcfg.n_extra else ("x", "y")

    def export(modules: list, ema: dict, provenance: dict):
        return ({"model": "refiner", "refiner": to_dict(rcfg), "sigma_data": sigma_data, "train": to_dict(cfg.train),
                 "waveform": {"fs": float(fs), "n_samples": int(x.shape[-1]), "channels": rcfg.channels},
                 "provenance": provenance, **(extra or {})},
                {"refiner": ema[""]})

    stage = Stage(lambda prev: RefinerModule(rcfg, cfg.train, sigma_data, y), cfg.train,
                  {k: pairs[k] for k in keys}, {k: val_pairs[k] for k in keys} if val_pairs else None)
    return Plan(cfg, [stage], export)


def prepare_refiner(cfg: RefinerRunConfig, inputs: Inputs) -> Plan:
    """The refiner on the paper's pairs: frozen surrogate prediction (``inputs.surrogate``) in,
    simulation out, on the corpus's train split (dev for validation)."""
    from quakesynth.physics.models import Surrogate, surrogate_pairs

    corpus, sp = _corpus3d(inputs)
    sur = Surrogate(inputs.surrogate)
    patch = cfg.refiner.patch
    pairs = surrogate_pairs(sur, corpus, sp["train"], patch=patch)
    val = surrogate_pairs(sur, corpus, sp["dev"], patch=patch) if len(sp["dev"]) else None
    return refiner_plan(cfg, pairs, float(corpus["fs"]), val,
                        extra={"surrogate": str(inputs.surrogate), "num_steps": int(cfg.num_steps)})


def broadband_training_data(dataset, cfg, split: str = "train", limit: int | None = None, seed: int = 0,
                            conditioning=None) -> tuple[dict[str, np.ndarray], Any]:
    """Pairs (:func:`quakesynth.physics.broadband.broadband_pairs`) from split ``split`` of a dataset
    store (e.g. ``quakesynth simulate``'s corpus), its first ``limit`` records; returns
    ``(pairs, (conditioning, components, unit))``, the scenario normalisation fitted on this split
    unless given. ``cfg``: a :class:`~quakesynth.physics.broadband.BroadbandConfig`."""
    from quakesynth.data.preprocess import resample
    from quakesynth.data.store import Dataset
    from quakesynth.generate import to_quantity
    from quakesynth.models.conditioning import Conditioning, ConditioningConfig
    from quakesynth.physics.broadband import broadband_pairs, scenario_table

    ds = Dataset(dataset).split(split)
    n = len(ds) if limit is None else min(int(limit), len(ds))
    if n == 0:
        raise ValueError(f"split {split!r} of {str(dataset)!r} is empty")
    rec = ds.get(np.arange(n))
    if rec.quantity != cfg.quantity:
        rec = to_quantity(rec, cfg.quantity)
    table = scenario_table(rec, cfg.variables, cfg.variables)
    if conditioning is None:
        conditioning = Conditioning.fit(table, ConditioningConfig(variables=tuple(cfg.variables)))
    x = rec.data.astype(np.float64)
    if not np.isclose(rec.fs, cfg.fs):
        x = resample(x, rec.fs, cfg.fs)
    pairs = broadband_pairs(x, cfg.fs, conditioning(table), cfg, seed=seed)
    return pairs, (conditioning, rec.components, rec.unit)


#: Dev records used for the broadband refiner's validation pairs.
BROADBAND_VAL_LIMIT = 256


def prepare_broadband(cfg: BroadbandRunConfig, inputs: Inputs) -> Plan:
    """The broadband refiner on low-passed pairs of a dataset store's train split (first
    ``limit`` records; the dev split's first 256 for validation); the model directory has the
    ``broadband`` layout and the scenario normalisation that
    :class:`quakesynth.generate.refiner.BroadbandRefiner` loads."""
    bb, seed = cfg.broadband, cfg.train.seed
    if cfg.refiner.n_extra != len(bb.variables) + 1:
        cfg = dataclasses.replace(cfg, refiner=dataclasses.replace(cfg.refiner, n_extra=len(bb.variables) + 1))
    pairs, (cond, components, unit) = broadband_training_data(inputs.data, bb, "train", inputs.limit, seed=seed)
    try:
        val, _ = broadband_training_data(inputs.data, bb, "dev", BROADBAND_VAL_LIMIT, seed=seed + 1, conditioning=cond)
    except ValueError:
        val = None
    return refiner_plan(cfg, pairs, bb.fs, val,
                        extra={"broadband": to_dict(bb), "conditioning": cond.to_dict(),
                               "components": components, "unit": unit, "dataset": str(inputs.data)})


def coherence_band(fs: float, fmax: float) -> tuple[float, float]:
    """High-frequency band of the coherence (the top third of the corpus band), Hz."""
    return (2 * fmax / 3, min(fmax * 1.2, fs / 2 * 0.9))


def calibrate_model(model_dir, sur, data: dict, idx, band: tuple[float, float], num_steps: int = 18,
                    seed: int = 0, **grid) -> dict:
    """Fit the noise correlation of a refiner on wavefields ``idx`` of ``data`` (coherence in
    ``band`` Hz against the simulated truth) and store it in the model directory."""
    from quakesynth.modeldir import load_model_dir, save_model_dir
    from quakesynth.physics.evaluate import hf_coherence
    from quakesynth.physics.joint import calibrate_noise_correlation, refine_wavefields
    from quakesynth.physics.models import load_refiner

    idx = np.asarray(idx)
    ref, config = load_refiner(model_dir)
    y = sur.predict(data["vs"][idx], data["source"][idx])
    fs = float(data["fs"])
    target = hf_coherence(data["u"][idx], fs, band, 4)
    result = calibrate_noise_correlation(
        lambda length, power: refine_wavefields(ref, y, seed=seed, length=length, power=power, num_steps=num_steps),
        lambda u: hf_coherence(u, fs, band, 4), target, **grid)
    cfg, sd = load_model_dir(model_dir, map_location="cpu")
    for k in ("format", "format_version", "quakesynth_version", "weights"):
        cfg.pop(k, None)
    cfg["noise_correlation"] = {**{k: result[k] for k in ("length", "power", "max_abs_error", "grid")},
                                "band_hz": list(band), "target": target.tolist(), "wavefields": len(idx)}
    save_model_dir(model_dir, cfg, {k: {n: torch.as_tensor(t) for n, t in v.items()} for k, v in sd.items()},
                   overwrite=True)
    return result


def calibrate_refiner(model_dir: Path, inputs: Inputs, cfg: RefinerRunConfig, wavefields: int = 8) -> dict:
    """``--calibrate``: the joint refiner's spatial noise correlation fitted on the first
    ``wavefields`` dev wavefields of the corpus (:func:`calibrate_model`), per component where
    that fits the truth's coherence better."""
    import json

    from quakesynth.physics.models import Surrogate

    corpus, sp = _corpus3d(inputs)
    fmax = float(json.loads((Path(inputs.data) / "config.json").read_text())["wave3d"]["fmax"])
    return calibrate_model(model_dir, Surrogate(inputs.surrogate), corpus, sp["dev"][:wavefields],
                           coherence_band(float(corpus["fs"]), fmax), int(cfg.num_steps), per_component=True)


# -- site-specific: timesnet, site-cvae -----------------------------------------------------------
def _pool(cfg: SiteGenConfig, inputs: Inputs):
    from quakesynth.sitegen.data import load_pool

    return load_pool(inputs.data, "train", per_station=inputs.limit or 0, components=cfg.components)


def _site_provenance(dataset: Any, pool, t0: float) -> dict[str, Any]:
    return {"dataset": str(dataset), "n_train": len(pool), "stations": pool.codes,
            "train_seconds": time.perf_counter() - t0, "quakesynth_version": _version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def prepare_timesnet(cfg: SiteGenConfig, inputs: Inputs) -> Plan:
    """TimesNet-Gen (arXiv 2512.04694) in two stages on the store's train split: ``phase0``
    unsupervised reconstruction pre-training (no station label), then ``phase1`` fine-tuning
    from the phase-0 EMA weights with the station one-hot."""
    from quakesynth.models.timesnet import TimesNetAE
    from quakesynth.train.modules import TimesNetModule

    pool = _pool(cfg, inputs)
    net_cfg = dataclasses.replace(cfg.timesnet, n_stations=len(pool.codes), in_channels=pool.wave.shape[1],
                                  n_samples=pool.wave.shape[2])
    if net_cfg.compression > 1:
        warnings.warn(f"TimesNet-Gen latent {net_cfg.latent_shape} holds {net_cfg.compression:.2g}x fewer numbers "
                      "than a waveform: a lossy bottleneck whose reconstructions lose the site response "
                      "(use latent_channels >= in_channels * patch * latent_stride)", stacklevel=2)
    cfg = dataclasses.replace(cfg, timesnet=net_cfg)
    arrays = {"wave": pool.wave, "station": pool.station}
    t0 = time.perf_counter()
    net: list[Any] = []

    def phase0(prev):
        net.append(TimesNetAE(net_cfg))
        return TimesNetModule(net[0], cfg.loss, cfg.phase0, conditioned=False)

    def phase1(prev):
        net[0].load_state_dict(prev["phase0"])
        return TimesNetModule(net[0], cfg.loss, cfg.phase1, conditioned=True)

    def export(modules: list, ema: dict, provenance: dict):
        from quakesynth.sitegen.export import timesnet_model

        return timesnet_model(Path(provenance["run"]).resolve().name, net_cfg, ema["phase1"], ema["phase0"], pool,
                              cfg.loss, _site_provenance(inputs.data, pool, t0), cfg.encode_batch_size)

    return Plan(cfg, [Stage(phase0, cfg.phase0, arrays, name="phase0"),
                      Stage(phase1, cfg.phase1, arrays, name="phase1")], export)


def prepare_site_cvae(cfg: SiteGenConfig, inputs: Inputs) -> Plan:
    """The spectrogram CVAE baseline on the store's train split."""
    from quakesynth.train.modules import CVAEModule

    pool = _pool(cfg, inputs)
    net_cfg = dataclasses.replace(cfg.cvae, n_stations=len(pool.codes), in_channels=pool.wave.shape[1],
                                  n_samples=pool.wave.shape[2])
    cfg = dataclasses.replace(cfg, cvae=net_cfg)
    t0 = time.perf_counter()

    def export(modules: list, ema: dict, provenance: dict):
        from quakesynth.sitegen.export import cvae_model

        return cvae_model(Path(provenance["run"]).resolve().name, net_cfg, ema[""], pool,
                          _site_provenance(inputs.data, pool, t0))

    stage = Stage(lambda prev: CVAEModule(net_cfg, cfg.cvae_train), cfg.cvae_train,
                  {"wave": pool.wave, "station": pool.station})
    return Plan(cfg, [stage], export)


# -- the table ------------------------------------------------------------------------------------
RECIPES: dict[str, Recipe] = {r.kind: r for r in (
    Recipe("vae", prepare_vae, warm=("vae", "vae")),
    Recipe("edm", prepare_edm, needs=("data", "vae"), warm=("net", "edm")),
    Recipe("classifier", prepare_classifier, warm=("net", "classifier")),
    Recipe("timesnet", prepare_timesnet, seed=lambda cfg: cfg.phase0.seed),
    Recipe("site-cvae", prepare_site_cvae, seed=lambda cfg: cfg.cvae_train.seed),
    Recipe("surrogate", prepare_surrogate, warm=("net", "mifno")),
    Recipe("refiner", prepare_refiner, needs=("data", "surrogate"), warm=("refiner", "refiner")),
    Recipe("broadband", prepare_broadband, warm=("refiner", "refiner")),
)}


# -- in-memory entry points ------------------------------------------------------------------------
def _fresh_out(out: str | Path, overwrite: bool) -> Path:
    out = Path(out)
    if (out / "model").exists() and not overwrite:
        raise FileExistsError(f"{str(out / 'model')!r} exists; pass overwrite=True to replace it")
    return out


def train_surrogate(corpus: dict, train_idx, run_dir, cfg: Any, train: TrainConfig, loss: Any = None,
                    val_idx=None, resume: bool = False, progress: bool = False, overwrite: bool = False,
                    devices: int = 1, accelerator: str = "cpu") -> Path:
    """Train MIFNO (``cfg``: :class:`~quakesynth.models.fno.MIFNOConfig`) on samples ``train_idx`` of a
    loaded corpus; writes ``run_dir/model`` and returns its path (the ``surrogate`` recipe)."""
    from quakesynth.train.config import SurrogateLoss
    from quakesynth.train.fit import run_plan

    run_cfg = SurrogateRunConfig(mifno=cfg, loss=loss or SurrogateLoss(), train=train)
    torch.manual_seed(train.seed)
    return run_plan(surrogate_plan(run_cfg, corpus, train_idx, val_idx), _fresh_out(run_dir, overwrite or resume),
                    resume=resume, progress=progress, devices=devices, accelerator=accelerator)


def train_refiner(pairs: dict[str, np.ndarray], run_dir, cfg: Any, train: TrainConfig, fs: float,
                  val_pairs: dict[str, np.ndarray] | None = None, resume: bool = False, progress: bool = False,
                  overwrite: bool = False, extra: dict[str, Any] | None = None, devices: int = 1,
                  accelerator: str = "cpu") -> Path:
    """Train the refiner (``cfg``: :class:`~quakesynth.models.refiner.RefinerConfig`) on in-memory
    ``pairs`` (``x`` truth, ``y`` condition, (M, C, T) at ``fs`` Hz; e.g.
    :func:`quakesynth.physics.data.lowpass_pairs`); writes ``run_dir/model`` and returns it."""
    from quakesynth.train.fit import run_plan

    torch.manual_seed(train.seed)
    plan = refiner_plan(RefinerRunConfig(refiner=cfg, train=train), pairs, fs, val_pairs, extra)
    return run_plan(plan, _fresh_out(run_dir, overwrite or resume), resume=resume, progress=progress,
                    devices=devices, accelerator=accelerator)


def _train_site(kind: str, dataset, out, cfg: SiteGenConfig | None, progress: bool, overwrite: bool,
                limit_per_station: int) -> Path:
    from quakesynth.train.fit import run_plan

    cfg = cfg or SiteGenConfig()
    out = _fresh_out(out, overwrite)
    recipe = RECIPES[kind]
    torch.manual_seed(recipe.seed(cfg))
    plan = recipe.prepare(cfg, Inputs(data=Path(dataset), limit=limit_per_station or None, progress=progress))
    return run_plan(plan, out, progress=progress, meta={"kind": kind, "data": str(dataset)})


def train_timesnet(dataset: str | Path, out: str | Path, cfg: SiteGenConfig | None = None,
                   progress: bool = True, overwrite: bool = False, limit_per_station: int = 0) -> Path:
    """Two-phase TimesNet-Gen training on the ``train`` split of a dataset store; returns the
    model directory ``OUT/model`` (the ``timesnet`` recipe)."""
    return _train_site("timesnet", dataset, out, cfg, progress, overwrite, limit_per_station)


def train_cvae(dataset: str | Path, out: str | Path, cfg: SiteGenConfig | None = None, progress: bool = True,
               overwrite: bool = False, limit_per_station: int = 0) -> Path:
    """Train the spectrogram CVAE on the ``train`` split; returns ``OUT/model`` (``site-cvae``)."""
    return _train_site("site-cvae", dataset, out, cfg, progress, overwrite, limit_per_station)
