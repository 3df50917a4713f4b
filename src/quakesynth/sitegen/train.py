"""Training of TimesNet-Gen (two phases) and of the spectrogram CVAE, on the project's
Lightning infrastructure (:mod:`quakesynth.train`: per-step seeding, EMA, resumable
checkpoints, CSV loss curves).

TimesNet-Gen (arXiv 2512.04694):

- **phase 0** -- unsupervised reconstruction pre-training on every record (no station label:
  the one-hot input is zero);
- **phase 1** -- fine-tuning from the phase-0 (EMA) weights with the station one-hot
  concatenated to every TimesBlock grid (:class:`quakesynth.models.timesnet.TimesBlock`).

Loss: :func:`quakesynth.models.timesnet.reconstruction_loss` (MSE + log-Fourier-amplitude L1)
plus ``latent_weight * mean(z^2)`` (keeps the latent scale bounded, so averaging and noise act
on a stable scale). The CVAE trains with ``MSE + beta KL / N`` on amplitude/phase spectrograms
(:meth:`quakesynth.models.cvae.CVAE.loss`; ``beta = 1``: the standard VAE).

The output folder::

    OUT/
      config.yaml       the resolved :class:`SiteGenConfig`
      phase0/ phase1/   (TimesNet-Gen) or cvae/: Lightning run folders (checkpoints, logs)
      model/            self-describing model directory (:mod:`quakesynth.modeldir`)

Both model directories hold the training pool's per-station statistics the generators need:
TimesNet-Gen stores the encoded latents of every training record (station-conditioned and,
for the zero-shot variant, unconditioned with the phase-0 weights) with their ln peak
amplitudes; the CVAE the mean and sd of ln peak per station.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from quakesynth.models.cvae import CVAEConfig
from quakesynth.models.timesnet import TimesNetConfig, TimesNetLossConfig
from quakesynth.sitegen.export import save_cvae, save_timesnet
from quakesynth.train.config import TrainConfig
from quakesynth.train.module import TrainModule


@dataclass(frozen=True)
class SiteGenConfig:
    """Run configuration of site-specific training (presets ``configs/timesnet_<name>.yaml``)."""

    timesnet: TimesNetConfig = field(default_factory=TimesNetConfig)  # TimesNet-Gen architecture (n_stations, n_samples derived)
    loss: TimesNetLossConfig = field(default_factory=TimesNetLossConfig)  # TimesNet-Gen loss weights
    phase0: TrainConfig = field(default_factory=TrainConfig)  # pre-training schedule
    phase1: TrainConfig = field(default_factory=TrainConfig)  # fine-tuning schedule
    cvae: CVAEConfig = field(default_factory=CVAEConfig)  # baseline architecture (n_stations, n_samples derived)
    cvae_train: TrainConfig = field(default_factory=TrainConfig)  # baseline schedule
    components: str = "ZNE"  # component order of the models
    encode_batch_size: int = 64  # records per encoder call when storing the pool latents


def resolve_config(preset: str | None = "small", config: str | Path | None = None,
                   overrides: list[str] | tuple[str, ...] = ()) -> SiteGenConfig:
    """Defaults < ``configs/timesnet_<preset>.yaml`` < YAML file < ``key=value`` overrides."""
    from quakesynth.config import apply_overrides, from_dict, load_preset, to_dict
    from quakesynth.train.config import _merge

    d = to_dict(SiteGenConfig())
    if preset:
        d = _merge(d, load_preset(f"timesnet_{preset}"))
    if config:
        d = _merge(d, load_preset(config))
    d = apply_overrides(d, list(overrides))
    return from_dict(SiteGenConfig, d)


# -- Lightning modules ---------------------------------------------------------------------------
class TimesNetModule(TrainModule):
    """TimesNet-Gen reconstruction training; ``conditioned`` selects phase 1 (station labels)."""

    def __init__(self, net: nn.Module, loss: TimesNetLossConfig, train: TrainConfig, conditioned: bool) -> None:
        super().__init__(train)
        self.net, self.loss_cfg, self.conditioned = net, loss, bool(conditioned)

    def ema_target(self) -> nn.Module:
        return self.net

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from quakesynth.models.timesnet import reconstruction_loss

        x = batch["wave"].float()
        station = batch["station"] if self.conditioned else None
        x_hat, z = self.net(x, station)
        loss, parts = reconstruction_loss(x_hat, x, self.loss_cfg.spectral_weight, self.loss_cfg.spectral_eps)
        reg = z.pow(2).mean()
        return loss + self.loss_cfg.latent_weight * reg, {**parts, "z2": reg}


class CVAEModule(TrainModule):
    """Spectrogram CVAE training (representation computed inside the step)."""

    def __init__(self, cfg: CVAEConfig, train: TrainConfig) -> None:
        from quakesynth.models.cvae import CVAE, AmplitudePhaseSTFT

        super().__init__(train)
        self.rep = AmplitudePhaseSTFT(cfg)
        self.net = CVAE(cfg)

    def ema_target(self) -> nn.Module:
        return self.net

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        X = self.rep(batch["wave"].float())
        return self.net.loss(X, batch["station"])


# -- entry points ------------------------------------------------------------------------------
def _fit(module: TrainModule, pool, run_dir: Path, train: TrainConfig, progress: bool) -> dict[str, torch.Tensor]:
    """Fit ``module`` on the pool; returns the EMA weights."""
    from quakesynth.train.fit import ArrayDataset, StepDataModule, fit

    data = StepDataModule(ArrayDataset(wave=pool.wave, station=pool.station), None, train.batch_size,
                          train.seed, train.max_steps, train.num_workers)
    _, ema = fit(module, data, run_dir, train, progress=progress)
    return ema.averaged_state_dict()


def _prepare_out(out: str | Path, overwrite: bool) -> Path:
    out = Path(out)
    if (out / "model").exists() and not overwrite:
        raise FileExistsError(f"{str(out / 'model')!r} exists; pass overwrite=True to replace it")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _provenance(dataset: str | Path, pool, seconds: float) -> dict[str, Any]:
    from quakesynth import __version__

    return {"dataset": str(dataset), "n_train": len(pool), "stations": pool.codes,
            "train_seconds": seconds, "quakesynth_version": __version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def train_timesnet(dataset: str | Path, out: str | Path, cfg: SiteGenConfig | None = None,
                   progress: bool = True, overwrite: bool = False, limit_per_station: int = 0) -> Path:
    """Two-phase TimesNet-Gen training on the ``train`` split of a dataset store; returns the
    model directory ``OUT/model``."""
    import dataclasses

    from quakesynth.config import dump_yaml, to_dict
    from quakesynth.models.timesnet import TimesNetAE
    from quakesynth.sitegen.data import load_pool

    cfg = cfg or SiteGenConfig()
    out = _prepare_out(out, overwrite)
    pool = load_pool(dataset, "train", per_station=limit_per_station, components=cfg.components)
    net_cfg = dataclasses.replace(cfg.timesnet, n_stations=len(pool.codes), in_channels=pool.wave.shape[1],
                                  n_samples=pool.wave.shape[2])
    if net_cfg.compression > 1:
        warnings.warn(f"TimesNet-Gen latent {net_cfg.latent_shape} holds {net_cfg.compression:.2g}x fewer numbers "
                      "than a waveform: a lossy bottleneck whose reconstructions lose the site response "
                      "(use latent_channels >= in_channels * patch * latent_stride)", stacklevel=2)
    cfg = dataclasses.replace(cfg, timesnet=net_cfg)
    dump_yaml(to_dict(cfg), out / "config.yaml")
    t0 = time.perf_counter()
    torch.manual_seed(cfg.phase0.seed)
    net = TimesNetAE(net_cfg)
    state0 = _fit(TimesNetModule(net, cfg.loss, cfg.phase0, conditioned=False), pool, out / "phase0",
                  cfg.phase0, progress)
    net.load_state_dict(state0)
    state1 = _fit(TimesNetModule(net, cfg.loss, cfg.phase1, conditioned=True), pool, out / "phase1",
                  cfg.phase1, progress)
    seconds = time.perf_counter() - t0
    return save_timesnet(out / "model", net_cfg, state1, state0, pool, loss=cfg.loss,
                         provenance=_provenance(dataset, pool, seconds),
                         encode_batch_size=cfg.encode_batch_size, overwrite=overwrite)


def train_cvae(dataset: str | Path, out: str | Path, cfg: SiteGenConfig | None = None, progress: bool = True,
               overwrite: bool = False, limit_per_station: int = 0) -> Path:
    """Train the spectrogram CVAE on the ``train`` split; returns ``OUT/model``."""
    import dataclasses

    from quakesynth.config import dump_yaml, to_dict
    from quakesynth.sitegen.data import load_pool

    cfg = cfg or SiteGenConfig()
    out = _prepare_out(out, overwrite)
    pool = load_pool(dataset, "train", per_station=limit_per_station, components=cfg.components)
    net_cfg = dataclasses.replace(cfg.cvae, n_stations=len(pool.codes), in_channels=pool.wave.shape[1],
                                  n_samples=pool.wave.shape[2])
    cfg = dataclasses.replace(cfg, cvae=net_cfg)
    dump_yaml(to_dict(cfg), out / "config.yaml")
    t0 = time.perf_counter()
    torch.manual_seed(cfg.cvae_train.seed)
    state = _fit(CVAEModule(net_cfg, cfg.cvae_train), pool, out / "cvae", cfg.cvae_train, progress)
    seconds = time.perf_counter() - t0
    return save_cvae(out / "model", net_cfg, state, pool, _provenance(dataset, pool, seconds), overwrite)
