"""Training configurations: optimisation shared by every model kind, and the run
configuration of each kind (``vae``, ``edm``, ``classifier``) with its presets.

A run configuration is resolved (:func:`resolve_config`) from, in increasing priority: the
dataclass defaults; the architecture preset ``configs/highfem_<preset>.yaml`` (representation,
VAE, U-Net, EDM and sampler sections, :func:`quakesynth.config.highfem_preset`);
the training preset ``configs/train_<kind>_<preset>.yaml`` (schedule, data, latent handling,
classifier architecture); an optional YAML file; ``section.key=value`` overrides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quakesynth.config import PRESET_DIR, apply_overrides, from_dict, load_preset, to_dict
from quakesynth.diffusion.sampler import SamplerConfig
from quakesynth.models.amplitude import AmplitudeConfig
from quakesynth.models.classifier import ClassifierConfig
from quakesynth.models.conditioning import ConditioningConfig
from quakesynth.models.cvae import CVAEConfig
from quakesynth.models.edm import EDMConfig
from quakesynth.models.fno import MIFNOConfig
from quakesynth.models.refiner import RefinerConfig
from quakesynth.models.timesnet import TimesNetConfig, TimesNetLossConfig
from quakesynth.models.unet import UNetConfig
from quakesynth.models.vae import VAEConfig
from quakesynth.physics.broadband import BroadbandConfig
from quakesynth.repr.spectrogram import SpectrogramConfig
from quakesynth.train.data import DataConfig

PRECISIONS = ("32", "bf16-mixed", "16-mixed", "64")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of one training run."""

    max_steps: int = 1000  # optimiser steps in the whole run (the cosine schedule spans them)
    max_minutes: float = 0.0  # wall-clock budget of this (re)start in minutes; 0: none. Training stops at
    # whichever of max_steps and max_minutes comes first, and the cosine schedule follows whichever is
    # further along (a time budget for a lent accelerator whose speed is not known beforehand)
    batch_size: int = 32  # records per optimiser step on each device (global batch = batch_size x devices)
    lr: float = 1e-4  # peak learning rate of Adam
    lr_min: float = 0.0  # learning rate at the end of the cosine schedule
    warmup_steps: int = 0  # linear warm-up steps before the cosine decay
    adam_beta1: float = 0.9  # Adam beta_1
    adam_beta2: float = 0.999  # Adam beta_2
    weight_decay: float = 0.0  # decoupled weight decay (AdamW) when > 0
    grad_clip: float = 0.0  # clip the gradient norm to this value; 0 disables
    ema_decay: float = 0.999  # exponential moving average of the weights, per step
    ema_rampup: bool = True  # use decay min(ema_decay, (1 + t) / (10 + t)) at update t, so short runs average recent weights
    seed: int = 0  # seeds weight init, data order and every per-step random draw
    precision: str = "32"  # "32", "bf16-mixed", "16-mixed" (GPUs) or "64"
    checkpoint_every: int = 500  # steps between resumable checkpoints (and at the end)
    keep_checkpoints: int = 1  # step-numbered checkpoints kept besides last.ckpt (0: only last.ckpt)
    log_every: int = 10  # steps between logged loss values (CSV)
    val_every: int = 0  # steps between validation passes on the dev split; 0 disables
    val_batches: int = 4  # batches per validation pass
    num_workers: int = 0  # data-loader worker processes

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "checkpoint_every", "log_every", "val_batches"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}")
        for name in ("warmup_steps", "val_every", "num_workers", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); got {self.ema_decay}")
        if not (self.max_minutes >= 0.0 and math.isfinite(self.max_minutes)):
            raise ValueError(f"max_minutes must be finite and >= 0; got {self.max_minutes}")
        if self.lr <= 0 or self.lr_min < 0 or self.lr_min > self.lr:
            raise ValueError(f"need 0 <= lr_min <= lr and lr > 0; got lr={self.lr}, lr_min={self.lr_min}")
        if str(self.precision) not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {self.precision!r}")


@dataclass(frozen=True)
class LatentConfig:
    """How the latent diffusion model sees the VAE latents."""

    cache: bool = True  # encode the training split once before training (posterior means) instead of every step
    auto_sigma_data: bool = True  # set edm.sigma_data to the std of the training latents (the resolved value is saved)
    cond_dropout: float = 0.1  # probability of dropping a sample's conditioning (classifier-free guidance); 0 disables
    encode_batch_size: int = 64  # records per encoder call when caching latents
    s_arrival: bool = False  # give the U-Net the expected S arrival as an input channel (unet.arrival), fitted to the training split's S picks against hypocentral distance (no measured gain on the default model: RESULTS, issue 18, session 12)


#: Every trainable kind (``quakesynth train KIND``).
KINDS = ("vae", "edm", "classifier", "timesnet", "site-cvae", "surrogate", "refiner", "broadband")
#: Presets of the HighFEM kinds (vae, edm, classifier).
PRESETS = ("tiny", "small", "paper", "default")
HIGHFEM_KINDS = ("vae", "edm", "classifier")


@dataclass(frozen=True)
class VAEPartConfig:
    """Which part of the VAE a run trains."""

    part: str = "all"  # "all" (encoder and decoder: loss = MSE + KL) or "decoder" (the encoder frozen; loss = MSE of decoding its posterior means, as the generator decodes; the latent space a denoiser learned stays valid)
    grad_weight: float = 0.0  # weight of a contrast term added to the loss: the MSE of the spectrogram's finite differences (models.vae.gradient_loss); 0: off
    grad_pool: int = 1  # average pooling before those differences (> 1 ignores the STFT speckle)
    adv_weight: float = 0.0  # weight of the hinge adversarial loss of a patch discriminator on the decoded log-spectrogram (models.discriminator), after the adaptive scaling of train.modules.adaptive_weight (1: pulls the output layer as hard as the reconstruction loss); 0: no discriminator
    fm_weight: float = 0.0  # weight of its feature-matching loss (L1 of the discriminator's features, decoded vs real); needs the discriminator (adv_weight > 0)
    disc_channels: int = 32  # discriminator width of its first layer
    disc_layers: int = 3  # discriminator stride-2 layers (3: patches of 46 x 46 bins/frames)
    disc_lr: float = 2e-4  # discriminator learning rate (Adam, betas 0.5 / 0.9, constant)
    adv_start: int = 0  # steps during which only the discriminator learns (the decoder keeps its MSE); then both

    def __post_init__(self) -> None:
        if self.part not in ("all", "decoder"):
            raise ValueError(f"vae_train.part must be 'all' or 'decoder'; got {self.part!r}")
        if not (self.grad_weight >= 0 and math.isfinite(self.grad_weight)) or self.grad_pool < 1:
            raise ValueError(f"vae_train needs grad_weight >= 0 and grad_pool >= 1; got {self.grad_weight}, {self.grad_pool}")
        for name in ("adv_weight", "fm_weight", "disc_lr"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"vae_train.{name} must be finite and >= 0; got {v}")
        if self.fm_weight > 0 and self.adv_weight <= 0:
            raise ValueError("vae_train.fm_weight needs the discriminator: set vae_train.adv_weight > 0")
        if self.disc_channels < 1 or self.disc_layers < 1 or self.adv_start < 0:
            raise ValueError(f"vae_train needs disc_channels >= 1, disc_layers >= 1, adv_start >= 0; got "
                             f"{self.disc_channels}, {self.disc_layers}, {self.adv_start}")
        if self.adv_weight > 0 and self.disc_lr <= 0:
            raise ValueError("vae_train.disc_lr must be > 0 when the discriminator is on")


@dataclass(frozen=True)
class VAERunConfig:
    """Run configuration of ``quakesynth train vae``."""

    spectrogram: SpectrogramConfig = field(default_factory=SpectrogramConfig)  # representation
    vae: VAEConfig = field(default_factory=VAEConfig)  # autoencoder architecture and KL weight
    vae_train: VAEPartConfig = field(default_factory=VAEPartConfig)  # all of the VAE, or only its decoder
    amplitude: AmplitudeConfig = field(default_factory=AmplitudeConfig)  # mode "peak": learn peak-normalised shapes (the edm inherits mode and reference)
    data: DataConfig = field(default_factory=DataConfig)  # records used
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation


@dataclass(frozen=True)
class EDMRunConfig:
    """Run configuration of ``quakesynth train edm`` (representation and VAE come from --vae)."""

    unet: UNetConfig = field(default_factory=UNetConfig)  # denoiser backbone (in/out channels and cond_features are derived)
    edm: EDMConfig = field(default_factory=EDMConfig)  # noise distribution and schedule
    sampler: SamplerConfig = field(default_factory=SamplerConfig)  # default sampler of the exported generator
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)  # scenario variables
    latent: LatentConfig = field(default_factory=LatentConfig)  # latent caching, sigma_data, CFG dropout
    amplitude: AmplitudeConfig = field(default_factory=AmplitudeConfig)  # amplitude-model settings; mode and reference come from the VAE
    data: DataConfig = field(default_factory=DataConfig)  # records used
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation


@dataclass(frozen=True)
class ClassifierRunConfig:
    """Run configuration of ``quakesynth train classifier``."""

    spectrogram: SpectrogramConfig = field(default_factory=SpectrogramConfig)  # representation
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)  # architecture and bins
    data: DataConfig = field(default_factory=DataConfig)  # records used
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation


@dataclass(frozen=True)
class SurrogateLoss:
    """Weights of the relative errors of :func:`quakesynth.models.fno.relative_loss`.

    Relative L2 only by default: the wavefields are short pulses with most samples near zero,
    and L1 pulls a coarse prediction towards zero (on the simulate-3d corpus the truth low-passed
    at 0.5 Hz is best scaled by 0.87 under L1, 1.22 under L2, and gains 0.12 over a zero
    prediction in relative L1 against 0.22 in relative L2). With ``w_l1 = 1`` the early training
    sat at relative errors of 1 (zero prediction) where L2 alone learns (see
    ``tests/test_physics_models.py``). MIFNO trains with L1; add it (``w_l1 > 0``) to fine-tune a
    surrogate that already fits. ``w_trace`` adds the relative L2 error per trace
    (:func:`quakesynth.models.fno.trace_relative_loss`, the evaluation's rRMSE), which weighs the
    weak traces far from the source as much as the strong ones.
    """

    w_l1: float = 0.0  # weight of the relative L1 error
    w_l2: float = 1.0  # weight of the relative L2 error
    w_trace: float = 0.0  # weight of the per-trace relative L2 error
    trace_floor: float = 0.01  # its floor, a fraction of the sample's mean trace norm


@dataclass(frozen=True)
class SurrogateRunConfig:
    """Run configuration of ``quakesynth train surrogate`` (presets ``configs/fno_<name>.yaml``)."""

    mifno: MIFNOConfig = field(default_factory=MIFNOConfig)  # architecture (n_sensors, n_times derived from the corpus)
    loss: SurrogateLoss = field(default_factory=SurrogateLoss)  # relative L1 / L2 weights
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation


@dataclass(frozen=True)
class RefinerRunConfig:
    """Run configuration of ``quakesynth train refiner`` (presets ``configs/refiner_<name>.yaml``)."""

    refiner: RefinerConfig = field(default_factory=RefinerConfig)  # architecture; patch 2: the joint refiner
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation
    num_steps: int = 18  # Heun steps of the sampler stored with the model (and used by --calibrate)


@dataclass(frozen=True)
class BroadbandRunConfig:
    """Run configuration of ``quakesynth train broadband`` (``configs/refiner_broadband_<name>.yaml``)."""

    refiner: RefinerConfig = field(default_factory=RefinerConfig)  # architecture (n_extra derived from the variables)
    broadband: BroadbandConfig = field(default_factory=BroadbandConfig)  # pairs: crossover, windows, crops
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation
    num_steps: int = 18  # Heun steps of the sampler at inference


@dataclass(frozen=True)
class SiteGenConfig:
    """Run configuration of ``quakesynth train timesnet`` and ``site-cvae`` (presets
    ``configs/timesnet_<name>.yaml``; each kind uses its own sections)."""

    timesnet: TimesNetConfig = field(default_factory=TimesNetConfig)  # TimesNet-Gen architecture (n_stations, n_samples derived)
    loss: TimesNetLossConfig = field(default_factory=TimesNetLossConfig)  # TimesNet-Gen loss weights
    phase0: TrainConfig = field(default_factory=TrainConfig)  # TimesNet-Gen pre-training schedule
    phase1: TrainConfig = field(default_factory=TrainConfig)  # TimesNet-Gen fine-tuning schedule
    cvae: CVAEConfig = field(default_factory=CVAEConfig)  # baseline architecture (n_stations, n_samples derived)
    cvae_train: TrainConfig = field(default_factory=TrainConfig)  # baseline schedule
    components: str = "ZNE"  # component order of the models
    encode_batch_size: int = 64  # records per encoder call when storing the pool latents


RUN_CONFIGS: dict[str, type] = {
    "vae": VAERunConfig, "edm": EDMRunConfig, "classifier": ClassifierRunConfig,
    "timesnet": SiteGenConfig, "site-cvae": SiteGenConfig,
    "surrogate": SurrogateRunConfig, "refiner": RefinerRunConfig, "broadband": BroadbandRunConfig,
}
#: Preset file name of each non-HighFEM kind; ``{}`` is the preset.
PRESET_FILES: dict[str, str] = {
    "timesnet": "timesnet_{}", "site-cvae": "timesnet_{}", "surrogate": "fno_{}",
    "refiner": "refiner_{}", "broadband": "refiner_broadband_{}",
}


def merge(base: dict, new: dict, where: str = "") -> dict:
    """``base`` updated by ``new`` recursively; a key of ``new`` unknown to ``base`` is an error."""
    out = dict(base)
    for k, v in (new or {}).items():
        if k not in out:
            raise ValueError(f"unknown config key {where + k!r}; known: {sorted(out)}")
        out[k] = merge(out[k], v, f"{where}{k}.") if isinstance(out[k], dict) and isinstance(v, dict) else v
    return out


def preset_file(kind: str, preset: str) -> str | Path:
    """The preset file (name in ``configs/`` or a path) that ``preset`` names for a non-HighFEM
    ``kind``: ``"tiny"`` -> ``"fno_tiny"`` for ``surrogate``; a full name (``"fno_cpu"``) or a
    YAML path is taken as it is."""
    p = Path(preset)
    if p.suffix or "/" in str(preset):
        return p
    name = PRESET_FILES[kind].format(preset)
    if (PRESET_DIR / f"{name}.yaml").exists():
        return name
    if (PRESET_DIR / f"{preset}.yaml").exists() and str(preset).startswith(PRESET_FILES[kind].split("{}")[0]):
        return str(preset)
    prefix = PRESET_FILES[kind].split("{}")[0]
    known = sorted(q.stem[len(prefix):] for q in PRESET_DIR.glob(f"{prefix}*.yaml")
                   if kind != "refiner" or not q.stem.startswith("refiner_broadband_"))
    raise ValueError(f"unknown {kind} preset {preset!r}; presets: {known}")


def preset_dict(kind: str, preset: str) -> dict:
    """The plain dict of preset ``preset`` of ``kind`` (not yet merged over the defaults)."""
    from quakesynth.config import highfem_preset

    if kind in HIGHFEM_KINDS:
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}; got {preset!r}")
        fields = {f for f in RUN_CONFIGS[kind].__dataclass_fields__}
        arch = {k: v for k, v in highfem_preset(preset).items() if k in fields}
        return merge(merge(to_dict(RUN_CONFIGS[kind]()), arch), load_preset(f"train_{kind}_{preset}"))
    return load_preset(preset_file(kind, preset))


def resolve_config(kind: str, preset: str | None = "small", config: str | Path | None = None,
                   overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """The run configuration of ``kind`` (:data:`RUN_CONFIGS`): defaults < preset (see the
    module docstring) < config file < ``key=value`` overrides."""
    if kind not in RUN_CONFIGS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    cls = RUN_CONFIGS[kind]
    d = to_dict(cls())
    if preset:
        d = merge(d, preset_dict(kind, preset))
    if config:
        if not Path(config).exists():
            raise FileNotFoundError(f"config file {str(config)!r} not found")
        d = merge(d, load_preset(Path(config)))
    d = apply_overrides(d, list(overrides))
    return from_dict(cls, d)


def train_sections(kind: str) -> tuple[str, ...]:
    """The :class:`TrainConfig` sections of ``kind``'s run configuration (``("train",)`` for most)."""
    return {"timesnet": ("phase0", "phase1"), "site-cvae": ("cvae_train",)}.get(kind, ("train",))
