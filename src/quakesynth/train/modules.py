"""Every LightningModule of quakesynth: the base :class:`TrainModule` (optimiser, schedule,
per-step seeding) and one small module per trained network.

Subclasses implement :meth:`TrainModule.ema_target` (the network that is optimised, averaged
and saved) and :meth:`TrainModule.compute_loss` (a scalar loss and extra values to log). Which
module trains which kind, on which data, is decided in :mod:`quakesynth.train.recipes`.

Reproducibility: before every training step the global torch RNG (CPU and CUDA) is seeded
from ``(seed, global_step, rank)``; validation batches from ``(seed, "val", batch_idx)``.
Every random draw of a step (noise levels, noise, dropout, conditioning dropout) is thus a
function of the step, so a resumed run repeats the uninterrupted one without having to
restore generator states, and validation losses are comparable between evaluations.

Batches are dicts of tensors:

- HighFEM (:class:`VAEModule`, :class:`EDMModule`, :class:`ClassifierModule`): ``wave``
  (B, C, n_samples) acceleration in m/s^2, ``cond`` (B, V) normalised conditioning, ``label``
  (B,) class index (-1: outside the classifier grid), ``latent`` (B, C_z, H, W) cached VAE
  posterior means. The log-spectrogram is computed on the batch's device inside the step, so
  data loading stays cheap and identical for every model.
- Physics (:class:`MIFNOModule`, :class:`RefinerModule`): see each class.
- Site-specific (:class:`TimesNetModule`, :class:`CVAEModule`): ``wave`` (B, C, T)
  peak-normalised records and ``station`` (B,) station indices.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from quakesynth.seeds import derive_seed
from quakesynth.train.config import LatentConfig, SurrogateLoss, TrainConfig

step_seed = derive_seed  # a training step's 63-bit seed from (seed, step, rank...): quakesynth.seeds


def cosine_factor(step: int, max_steps: int, warmup_steps: int = 0, floor: float = 0.0,
                  elapsed: float = 0.0) -> float:
    """Learning-rate multiplier: linear warm-up, then half a cosine from 1 down to ``floor``.

    ``elapsed``: the fraction of a wall-clock budget already spent (``TrainConfig.max_minutes``);
    after the warm-up the cosine follows whichever of the step and time fractions is larger.

    >>> cosine_factor(0, 100), cosine_factor(50, 100), cosine_factor(100, 100)
    (1.0, 0.5, 0.0)
    >>> cosine_factor(10, 100, elapsed=0.5)
    0.5
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(max_steps - warmup_steps, 1)
    t = min(max(step - warmup_steps, 0), span) / span
    t = min(max(t, float(elapsed)), 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


class TrainModule(pl.LightningModule):
    """Base class; see the module docstring."""

    def __init__(self, train: TrainConfig) -> None:
        super().__init__()
        self.train_cfg = train

    # -- to implement ----------------------------------------------------------------------
    def ema_target(self) -> nn.Module:
        """The trained network (its parameters are optimised, averaged and saved)."""
        raise NotImplementedError

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Scalar loss of a batch and other scalars to log."""
        raise NotImplementedError

    # -- Lightning hooks -------------------------------------------------------------------
    def on_train_start(self) -> None:
        self._t_start = time.monotonic()

    def budget_spent(self) -> float:
        """Fraction of ``train.max_minutes`` spent since this (re)start of training (0 without a budget)."""
        minutes = self.train_cfg.max_minutes
        t0 = getattr(self, "_t_start", None)
        if minutes <= 0 or t0 is None:
            return 0.0
        return (time.monotonic() - t0) / (60.0 * minutes)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(step_seed(self.train_cfg.seed, self.global_step, self.global_rank))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logs = self.compute_loss(batch)
        self.log("train/loss", loss.detach(), prog_bar=True)
        for k, v in logs.items():
            self.log(f"train/{k}", v.detach() if torch.is_tensor(v) else v)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        state = torch.random.get_rng_state()
        torch.manual_seed(step_seed(self.train_cfg.seed, 2**31, batch_idx))
        try:
            loss, logs = self.compute_loss(batch)
        finally:
            torch.random.set_rng_state(state)
        self.log("val/loss", loss, sync_dist=True, prog_bar=True)
        for k, v in logs.items():
            self.log(f"val/{k}", v, sync_dist=True)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.train_cfg
        params = [p for p in self.ema_target().parameters() if p.requires_grad]
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        if cfg.weight_decay > 0:
            opt = torch.optim.AdamW(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, betas=betas)
        floor = cfg.lr_min / cfg.lr
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: cosine_factor(s, cfg.max_steps, cfg.warmup_steps, floor, self.budget_spent()))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}



# -- HighFEM -----------------------------------------------------------------------------------
def adaptive_weight(rec_loss: torch.Tensor, adv_loss: torch.Tensor, layer_weight: torch.Tensor,
                    max_weight: float = 1e4) -> float:
    """``||d rec_loss / d W|| / (||d adv_loss / d W|| + 1e-4)`` at the parameter ``W`` (the
    decoder's last layer), clamped to ``[0, max_weight]``: the factor that makes both losses
    pull ``W`` equally hard (VQGAN's adaptive discriminator weight). Graphs are kept."""
    g_rec = torch.autograd.grad(rec_loss, layer_weight, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adv_loss, layer_weight, retain_graph=True)[0]
    return float(torch.clamp(g_rec.norm() / (g_adv.norm() + 1e-4), 0.0, max_weight))


class VAEModule(TrainModule):
    """VAE on log-spectrograms: loss = MSE + kl_weight * KL (:meth:`VAE.loss`); with
    ``part="decoder"`` the encoder is frozen and the loss is the MSE of decoding its posterior
    means (what a latent denoiser trained on those means produces at generation). Either adds
    ``grad_weight`` times the contrast term :func:`quakesynth.models.vae.gradient_loss`.

    With ``adv_weight > 0`` a :class:`~quakesynth.models.discriminator.PatchDiscriminator`
    learns to tell decoded log-spectrograms from real ones, and the autoencoder's loss adds
    ``adv_weight`` times the hinge generator loss and ``fm_weight`` times feature matching (from
    step ``adv_start`` on). As in VQGAN (Esser et al. 2021), the generator loss is first scaled by
    :func:`adaptive_weight`, so that ``adv_weight = 1`` pulls the decoder's output layer as hard
    as the reconstruction loss does, whatever the scale of either. The discriminator has its own
    Adam, stepped inside the training step on the detached reconstruction; it is not part of the
    exported model, and its optimiser state travels in the Lightning checkpoint, so a resumed run
    repeats the uninterrupted one.
    """

    def __init__(self, spectrogram: Any, vae: Any, train: TrainConfig, part: Any = None) -> None:
        from quakesynth.models.discriminator import PatchDiscriminator
        from quakesynth.models.vae import VAE
        from quakesynth.repr.spectrogram import LogSpectrogram
        from quakesynth.train.config import VAEPartConfig

        super().__init__(train)
        self.part_cfg = part = part or VAEPartConfig()
        self.rep = LogSpectrogram(spectrogram)
        self.vae = VAE(vae)
        if part.part == "decoder":
            self.vae.encoder.requires_grad_(False)
        self.disc = (PatchDiscriminator(self.vae.cfg.in_channels, part.disc_channels, part.disc_layers)
                     if part.adv_weight > 0 else None)
        self._disc_opt: torch.optim.Optimizer | None = None
        self._disc_opt_state: dict | None = None  # restored from a checkpoint, loaded into the optimiser when it is made
        self._adv_scale = 1.0  # ||grad rec|| / ||grad adv|| at the decoder's output layer (last training step)

    def ema_target(self) -> nn.Module:
        return self.vae

    def train(self, mode: bool = True) -> VAEModule:
        super().train(mode)
        if self.part_cfg.part == "decoder":  # the frozen encoder always gives its inference-time means
            self.vae.encoder.eval()
        return self

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from quakesynth.models.vae import reconstruction_loss

        cfg = self.part_cfg
        x = self.rep.forward(batch["wave"].float())
        if cfg.part == "decoder":
            with torch.no_grad():
                mean = self.vae.encode(x)[0]
            recon = self.vae.decode(mean)
            loss, parts = reconstruction_loss(recon, x, cfg.grad_weight, cfg.grad_pool)
        else:
            loss, parts, recon = self.vae.loss(x, grad_weight=cfg.grad_weight, grad_pool=cfg.grad_pool,
                                               return_recon=True)
            parts.pop("loss")
        if self.disc is None:
            return loss, parts
        return self._adversarial(loss, parts, recon, x)

    def _adversarial(self, loss: torch.Tensor, parts: dict[str, torch.Tensor], recon: torch.Tensor,
                     x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One discriminator step (training only), then the decoder's adversarial terms."""
        from quakesynth.models.discriminator import (
            discriminator_loss,
            feature_matching_loss,
            generator_loss,
        )

        cfg, disc = self.part_cfg, self.disc
        if self.training and torch.is_grad_enabled():
            opt = self._discriminator_optimizer()
            disc.requires_grad_(True)
            opt.zero_grad(set_to_none=True)
            d_loss = discriminator_loss(disc(x)[0], disc(recon.detach())[0])
            d_loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            parts["disc"] = d_loss.detach()
        disc.requires_grad_(False)  # the decoder's terms reach the decoder only
        fake_logits, fake_feats = disc(recon)
        with torch.no_grad():
            real_feats = disc(x)[1]
        g_adv = generator_loss(fake_logits)
        fm = feature_matching_loss(fake_feats, real_feats)
        if self.training and torch.is_grad_enabled():
            self._adv_scale = adaptive_weight(loss, g_adv, self.vae.decoder.output_layer.weight)
        parts.update(adv=g_adv.detach(), fm=fm.detach(), adv_scale=torch.tensor(self._adv_scale))
        if self.global_step >= cfg.adv_start:
            loss = loss + cfg.adv_weight * self._adv_scale * g_adv + cfg.fm_weight * fm
        return loss, parts

    def _discriminator_optimizer(self) -> torch.optim.Optimizer:
        if self._disc_opt is None:
            self._disc_opt = torch.optim.Adam(self.disc.parameters(), lr=self.part_cfg.disc_lr, betas=(0.5, 0.9))
            if self._disc_opt_state is not None:
                self._disc_opt.load_state_dict(self._disc_opt_state)
                self._disc_opt_state = None
        return self._disc_opt

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._disc_opt is not None:
            checkpoint["discriminator_optimizer"] = self._disc_opt.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._disc_opt_state = checkpoint.get("discriminator_optimizer")


class EDMModule(TrainModule):
    """EDM denoiser on VAE latents (the VAE is frozen and kept in eval mode)."""

    def __init__(self, spectrogram: Any, vae: Any, vae_state: dict[str, torch.Tensor] | None, unet: Any,
                 edm: Any, latent: LatentConfig, train: TrainConfig) -> None:
        from quakesynth.diffusion.loss import EDMLoss
        from quakesynth.models.edm import EDMPrecond
        from quakesynth.models.unet import UNet
        from quakesynth.models.vae import VAE
        from quakesynth.repr.spectrogram import LogSpectrogram

        super().__init__(train)
        self.rep = LogSpectrogram(spectrogram)
        self.vae = VAE(vae)
        if vae_state is not None:
            self.vae.load_state_dict(vae_state)
        self.vae.requires_grad_(False).eval()
        self.net = EDMPrecond(UNet(unet), sigma_data=edm.sigma_data)
        self.loss_fn = EDMLoss(edm.P_mean, edm.P_std, edm.sigma_data, latent.cond_dropout)

    def ema_target(self) -> nn.Module:
        return self.net

    def train(self, mode: bool = True) -> EDMModule:
        super().train(mode)
        self.vae.eval()
        return self

    @torch.no_grad()
    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """VAE posterior means (B, C_z, H, W) of waveforms (B, C, n_samples)."""
        mean, _ = self.vae.encode(self.rep.forward(wave.float()))
        return mean

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z = batch["latent"] if "latent" in batch else self.encode(batch["wave"])
        loss = self.loss_fn(self.net, z.float(), batch.get("cond")).mean()
        return loss, {}


class ClassifierModule(TrainModule):
    """Magnitude x distance classifier; class-weighted cross entropy, accuracy logged."""

    def __init__(self, spectrogram: Any, classifier: Any, train: TrainConfig,
                 class_weights: torch.Tensor | None = None) -> None:
        from quakesynth.models.classifier import SpectrogramClassifier
        from quakesynth.repr.spectrogram import LogSpectrogram

        super().__init__(train)
        self.rep = LogSpectrogram(spectrogram)
        self.net = SpectrogramClassifier(classifier)
        w = class_weights if class_weights is not None else torch.ones(classifier.num_classes)
        self.register_buffer("class_weights", torch.as_tensor(w, dtype=torch.float32))

    def ema_target(self) -> nn.Module:
        return self.net

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.net(self.rep.forward(batch["wave"].float()))
        y = batch["label"].long()
        loss = F.cross_entropy(logits.float(), y, weight=self.class_weights, ignore_index=-1)
        valid = y >= 0
        acc = (logits.argmax(1)[valid] == y[valid]).float().mean() if valid.any() else logits.new_zeros(())
        return loss, {"accuracy": acc}


# -- physics-guided models ---------------------------------------------------------------------
class MIFNOModule(TrainModule):
    """MIFNO surrogate; loss ``w_l1 * rel_L1 + w_l2 * rel_L2 + w_trace * rel_trace`` (:class:`SurrogateLoss`).

    Batches ``geology`` (B, X, Y, Z), ``position`` (B, 3), ``moment`` (B, 6), ``u`` (B, 3, S, S, T),
    normalised (:mod:`quakesynth.physics.data`)."""

    def __init__(self, cfg: Any, train: TrainConfig, loss: SurrogateLoss | None = None) -> None:
        from quakesynth.models.fno import MIFNO

        super().__init__(train)
        self.net = MIFNO(cfg)
        self.loss_cfg = loss or SurrogateLoss()

    def ema_target(self) -> nn.Module:
        return self.net

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from quakesynth.models.fno import relative_loss, trace_relative_loss

        pred = self.net(batch["geology"].float(), batch["position"].float(), batch["moment"].float())
        u = batch["u"].float()
        l1 = relative_loss(pred, u, p=1)
        l2 = relative_loss(pred, u, p=2)
        lt = trace_relative_loss(pred, u, self.loss_cfg.trace_floor)
        c = self.loss_cfg
        return c.w_l1 * l1 + c.w_l2 * l2 + c.w_trace * lt, {"rel_l1": l1, "rel_l2": l2, "rel_trace": lt}


class RefinerModule(TrainModule):
    """Diffusion refiner (EDM loss on the normalised residual, :meth:`Refiner.loss`).

    Batches ``x`` (B, C, T) truth and ``y`` (B, C, T) condition, in data units, and ``extra``
    (B, n_extra) normalised features when the refiner takes them; ``y_train`` (M, C, T) sets the
    refiner's amplitude statistics."""

    def __init__(self, cfg: Any, train: TrainConfig, sigma_data: float, y_train: torch.Tensor,
                 P_mean: float = -1.2, P_std: float = 1.2) -> None:
        from quakesynth.models.refiner import Refiner

        super().__init__(train)
        self.refiner = Refiner(cfg, sigma_data=sigma_data)
        self.refiner.set_amplitude_stats(torch.as_tensor(y_train))
        self.P_mean, self.P_std = P_mean, P_std

    def ema_target(self) -> nn.Module:
        return self.refiner

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        extra = batch["extra"].float() if "extra" in batch else None
        return self.refiner.loss(batch["x"].float(), batch["y"].float(), self.P_mean, self.P_std, extra), {}


# -- site-specific models ----------------------------------------------------------------------
class TimesNetModule(TrainModule):
    """TimesNet-Gen reconstruction training: :func:`~quakesynth.models.timesnet.reconstruction_loss`
    (MSE + log-Fourier-amplitude L1) + ``latent_weight * mean(z^2)``; ``conditioned`` selects
    phase 1 (station labels concatenated to every TimesBlock grid)."""

    def __init__(self, net: nn.Module, loss: Any, train: TrainConfig, conditioned: bool) -> None:
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
    """Spectrogram CVAE: ``MSE + beta KL / N`` on amplitude/phase spectrograms computed inside
    the step (:meth:`quakesynth.models.cvae.CVAE.loss`)."""

    def __init__(self, cfg: Any, train: TrainConfig) -> None:
        from quakesynth.models.cvae import CVAE, AmplitudePhaseSTFT

        super().__init__(train)
        self.rep = AmplitudePhaseSTFT(cfg)
        self.net = CVAE(cfg)

    def ema_target(self) -> nn.Module:
        return self.net

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        X = self.rep(batch["wave"].float())
        return self.net.loss(X, batch["station"])
