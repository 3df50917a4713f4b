"""LightningModules of the HighFEM models: VAE, latent EDM and the spectrogram classifier.

Batches are dicts of tensors: ``wave`` (B, C, n_samples) acceleration in m/s^2, ``cond``
(B, V) normalised conditioning, ``label`` (B,) class index (-1: outside the classifier grid),
``latent`` (B, C_z, H, W) cached VAE posterior means. The log-spectrogram is computed on the
batch's device inside the step, so data loading stays cheap and identical for every model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from quakesynth.train.config import LatentConfig, TrainConfig
from quakesynth.train.module import TrainModule


class VAEModule(TrainModule):
    """VAE on log-spectrograms: loss = MSE + kl_weight * KL (:meth:`VAE.loss`)."""

    def __init__(self, spectrogram: Any, vae: Any, train: TrainConfig) -> None:
        from quakesynth.models.vae import VAE
        from quakesynth.repr.spectrogram import LogSpectrogram

        super().__init__(train)
        self.rep = LogSpectrogram(spectrogram)
        self.vae = VAE(vae)

    def ema_target(self) -> nn.Module:
        return self.vae

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.rep.forward(batch["wave"].float())
        loss, parts = self.vae.loss(x)
        return loss, {"recon": parts["recon"], "kl": parts["kl"]}


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
