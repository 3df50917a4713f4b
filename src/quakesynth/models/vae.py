"""Variational autoencoder of log-spectrograms (the first stage of HighFEM's latent diffusion).

A convolutional encoder of residual blocks (GroupNorm, SiLU) halves every spatial axis once per
level after the first, so ``channel_mult=(1, 2, 4)`` maps a (3, 128, 128) spectrogram to a
latent of ``latent_channels`` x 32 x 32. The encoder outputs a diagonal Gaussian
``q(z|x) = N(mean, exp(log_std)^2)``; the decoder mirrors the encoder. The loss is the mean
squared reconstruction error plus ``kl_weight`` times the KL divergence to N(0, I) (summed over
latent channels, averaged over batch and positions), as in the reference implementation.

Module names follow the reference (``encoder.input_layer``, ``encoder.down_blocks``,
``encoder.output_layer``, ``decoder.up_blocks`` ...), so tqdne weights load by name.

>>> cfg = VAEConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, num_groups=4,
...                 latent_channels=4)
>>> vae = VAE(cfg)
>>> mean, log_std = vae.encode(torch.zeros(2, 3, 32, 32))
>>> tuple(mean.shape)
(2, 4, 16, 16)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from quakesynth.models.layers import AttentionBlock, Downsample, ResBlock, Upsample, conv_nd


@dataclass(frozen=True)
class VAEConfig:
    """Architecture and loss weight of the spectrogram VAE (defaults: the published HighFEM model)."""

    in_channels: int = 3  # channels of the input representation (components)
    model_channels: int = 64  # feature channels of the first level
    channel_mult: tuple[int, ...] = (1, 2, 4)  # channel multiplier per level; len-1 halvings per axis
    num_res_blocks: int = 2  # residual blocks per level
    attention_resolutions: tuple[int, ...] = ()  # downsampling factors (1, 2, 4, ...) with self-attention
    mid_attention: bool = False  # ResBlock-attention-ResBlock at the latent resolution (not in tqdne 0.2.2)
    num_heads: int = 1  # attention heads
    latent_channels: int = 8  # channels of the latent z
    kernel_size: int = 3  # convolution kernel size (odd)
    dropout: float = 0.1  # dropout probability inside residual blocks
    num_groups: int = 32  # GroupNorm groups (must divide every width)
    dims: int = 2  # spatial axes of the representation: 2 (spectrogram) or 1 (time series)
    kl_weight: float = 1e-6  # weight of the KL term in the loss

    def __post_init__(self) -> None:
        for name in ("in_channels", "model_channels", "num_res_blocks", "latent_channels", "num_heads",
                     "num_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"VAEConfig.{name} must be >= 1; got {getattr(self, name)}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ValueError(f"VAEConfig.channel_mult must be non-empty positive ints; got {self.channel_mult}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"VAEConfig.kernel_size must be odd; got {self.kernel_size}")
        if self.dims not in (1, 2):
            raise ValueError(f"VAEConfig.dims must be 1 or 2; got {self.dims}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"VAEConfig.dropout must be in [0, 1); got {self.dropout}")
        if self.kl_weight < 0:
            raise ValueError(f"VAEConfig.kl_weight must be >= 0; got {self.kl_weight}")

    @property
    def downsampling(self) -> int:
        """Factor by which every spatial axis shrinks from input to latent."""
        return 2 ** (len(self.channel_mult) - 1)

    def latent_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Latent shape (latent_channels, *spatial / downsampling) of an input (C, *spatial)."""
        c, *spatial = input_shape
        if c != self.in_channels or len(spatial) != self.dims:
            raise ValueError(f"input_shape {tuple(input_shape)} does not match in_channels={self.in_channels}, dims={self.dims}")
        if any(s % self.downsampling for s in spatial):
            raise ValueError(f"input_shape {tuple(input_shape)}: spatial sizes must be divisible by {self.downsampling}")
        return (self.latent_channels, *(s // self.downsampling for s in spatial))


class Encoder(nn.Module):
    """x (B, in_channels, *S) -> (B, 2 * latent_channels, *S / downsampling) = [mean | log_std]."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        kw = dict(dims=cfg.dims, num_groups=cfg.num_groups)
        ch = cfg.channel_mult[0] * cfg.model_channels
        self.input_layer = conv_nd(cfg.dims, cfg.in_channels, ch, cfg.kernel_size, padding=cfg.kernel_size // 2)
        blocks: list[nn.Module] = []
        ds = 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(ch, mult * cfg.model_channels, dropout=cfg.dropout,
                                       kernel_size=cfg.kernel_size, **kw))
                ch = mult * cfg.model_channels
                if ds in cfg.attention_resolutions:
                    blocks.append(AttentionBlock(ch, cfg.num_heads, **kw))
            if level != len(cfg.channel_mult) - 1:
                blocks.append(Downsample(ch, True, cfg.dims, kernel_size=cfg.kernel_size))
                ds *= 2
        self.down_blocks = nn.Sequential(*blocks)
        self.middle_blocks = _middle(ch, cfg) if cfg.mid_attention else None
        self.output_layer = conv_nd(cfg.dims, ch, 2 * cfg.latent_channels, cfg.kernel_size,
                                    padding=cfg.kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down_blocks(self.input_layer(x))
        if self.middle_blocks is not None:
            h = self.middle_blocks(h)
        return self.output_layer(h)


class Decoder(nn.Module):
    """z (B, latent_channels, *S') -> (B, in_channels, *S' x downsampling)."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        kw = dict(dims=cfg.dims, num_groups=cfg.num_groups)
        ch = cfg.channel_mult[-1] * cfg.model_channels
        self.input_layer = conv_nd(cfg.dims, cfg.latent_channels, ch, cfg.kernel_size, padding=cfg.kernel_size // 2)
        self.middle_blocks = _middle(ch, cfg) if cfg.mid_attention else None
        blocks: list[nn.Module] = []
        ds = cfg.downsampling
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            if level != len(cfg.channel_mult) - 1:
                blocks.append(Upsample(ch, True, cfg.dims, kernel_size=cfg.kernel_size))
                ds //= 2
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(ch, mult * cfg.model_channels, dropout=cfg.dropout,
                                       kernel_size=cfg.kernel_size, **kw))
                ch = mult * cfg.model_channels
                if ds in cfg.attention_resolutions:
                    blocks.append(AttentionBlock(ch, cfg.num_heads, **kw))
        self.up_blocks = nn.Sequential(*blocks)
        self.output_layer = conv_nd(cfg.dims, ch, cfg.in_channels, cfg.kernel_size, padding=cfg.kernel_size // 2)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.input_layer(z)
        if self.middle_blocks is not None:
            h = self.middle_blocks(h)
        return self.output_layer(self.up_blocks(h))


def _middle(ch: int, cfg: VAEConfig) -> nn.Sequential:
    kw = dict(dims=cfg.dims, num_groups=cfg.num_groups)
    return nn.Sequential(ResBlock(ch, dropout=cfg.dropout, kernel_size=cfg.kernel_size, **kw),
                         AttentionBlock(ch, cfg.num_heads, **kw),
                         ResBlock(ch, dropout=cfg.dropout, kernel_size=cfg.kernel_size, **kw))


def gradient_loss(recon: torch.Tensor, x: torch.Tensor, pool: int = 1) -> torch.Tensor:
    """Mean squared error of the finite differences of ``recon`` against those of ``x`` along
    every spatial axis (time and frequency of a (B, C, F, T) spectrogram; the last axis of a
    (B, C, T) one), after ``pool`` x ``pool`` average pooling.

    A reconstruction that smooths the spectrogram's contrast (onsets, the peak against the coda,
    band edges) has too small differences and pays for it here, where the plain MSE barely
    notices. ``pool > 1`` averages the STFT's speckle away first, so the term asks for sharp
    envelopes, not for the speckle that no autoencoder can predict.
    """
    if pool > 1:
        f = nn.functional.avg_pool2d if x.ndim == 4 else nn.functional.avg_pool1d
        recon, x = f(recon, pool), f(x, pool)
    terms = [torch.mean((torch.diff(recon, dim=d) - torch.diff(x, dim=d)) ** 2) for d in range(2, x.ndim)]
    return sum(terms) / len(terms)


def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor, grad_weight: float = 0.0,
                        grad_pool: int = 1) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``mse(recon, x) [+ grad_weight * gradient_loss(recon, x, grad_pool)]`` and its parts
    (detached: ``recon``, and ``grad`` when the contrast term is on)."""
    mse = torch.mean((x - recon) ** 2)
    if grad_weight <= 0:
        return mse, {"recon": mse.detach()}
    g = gradient_loss(recon, x, grad_pool)
    return mse + grad_weight * g, {"recon": mse.detach(), "grad": g.detach()}


class VAE(nn.Module):
    """Gaussian VAE: ``encode`` -> (mean, log_std), ``decode`` z -> representation.

    Shapes: x (B, in_channels, *S) with every spatial size divisible by
    ``cfg.downsampling``; mean, log_std, z (B, latent_channels, *S / downsampling).
    """

    def __init__(self, cfg: VAEConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or VAEConfig()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters (mean, log_std) of q(z | x)."""
        self._check(x, self.cfg.in_channels, "x")
        mean, log_std = torch.chunk(self.encoder(x), 2, dim=1)
        return mean, log_std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Representation (B, in_channels, ...) from latent ``z``."""
        self._check(z, self.cfg.latent_channels, "z")
        return self.decoder(z)

    @staticmethod
    def sample(mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Reparameterised draw ``z = mean + exp(log_std) * noise`` (noise ~ N(0, I) if not given)."""
        if noise is None:
            noise = torch.randn_like(mean)
        return mean + noise * torch.exp(log_std)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction of a posterior draw, mean, log_std)."""
        mean, log_std = self.encode(x)
        return self.decode(self.sample(mean, log_std, noise)), mean, log_std

    @staticmethod
    def kl_divergence(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, exp(log_std)^2) || N(0, I)) summed over channels: (B, *spatial)."""
        log_var = 2 * log_std
        return 0.5 * torch.sum(mean**2 + torch.exp(log_var) - log_var - 1, dim=1)

    def loss(self, x: torch.Tensor, noise: torch.Tensor | None = None, grad_weight: float = 0.0,
             grad_pool: int = 1, return_recon: bool = False):
        """Training loss ``mse(x, recon) + kl_weight * mean(KL) [+ grad_weight * gradient_loss]``
        and its parts (detached); see :func:`gradient_loss` for the optional contrast term.
        ``return_recon``: also return the reconstruction (B, in_channels, ...), with its graph."""
        recon, mean, log_std = self(x, noise)
        rec_loss, parts = reconstruction_loss(recon, x, grad_weight, grad_pool)
        kl = torch.mean(self.kl_divergence(mean, log_std))
        total = rec_loss + self.cfg.kl_weight * kl
        parts = {"loss": total.detach(), **parts, "kl": kl.detach()}
        return (total, parts, recon) if return_recon else (total, parts)

    def _check(self, x: torch.Tensor, channels: int, name: str) -> None:
        if x.ndim != self.cfg.dims + 2 or x.shape[1] != channels:
            raise ValueError(f"{name} must have shape (B, {channels}, ...) with {self.cfg.dims} spatial axes; "
                             f"got {tuple(x.shape)}")
        ds = self.cfg.downsampling if name == "x" else 1
        if any(s % ds for s in x.shape[2:]):
            raise ValueError(f"{name}: spatial sizes {tuple(x.shape[2:])} must be divisible by {ds}")
