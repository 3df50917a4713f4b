"""Conditional U-Net backbone of the HighFEM latent diffusion model.

Architecture only (``forward(x, noise_labels, cond)``); the EDM preconditioning that turns it
into a denoiser lives in :mod:`quakesynth.models.edm`. ADM-style (Dhariwal & Nichol 2021, as
adapted by openai/consistency_models and the tqdne reference): residual blocks, self-attention
at the downsampling factors in ``attention_resolutions`` and in the middle block, Fourier
features of the noise label through an MLP, and an MLP embedding of the conditioning vector
added to it; the sum is added in every residual block.

Classifier-free guidance: ``cond=None`` (or ``drop_cond`` True for a sample) replaces the
conditioning embedding by the null embedding -- zero (``null_cond="zero"``, no extra
parameter, compatible with the published weights) or a learned vector (``"learned"``).

>>> cfg = UNetConfig(in_channels=4, out_channels=4, model_channels=8, channel_mult=(1, 2),
...                  num_res_blocks=1, attention_resolutions=(2,), num_heads=1, num_groups=4,
...                  cond_features=5)
>>> net = UNet(cfg)
>>> net(torch.zeros(2, 4, 16, 16), torch.zeros(2), torch.zeros(2, 5)).shape
torch.Size([2, 4, 16, 16])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from quakesynth.models.layers import (
    AttentionBlock,
    Downsample,
    EmbedSequential,
    FourierFeatures,
    PositionalEmbedding,
    ResBlock,
    RowLinear,
    Upsample,
    conv_nd,
    normalization,
    zero_module,
)


@dataclass(frozen=True)
class UNetConfig:
    """U-Net architecture (defaults: the published HighFEM denoiser, ~101 M parameters)."""

    in_channels: int = 8  # channels of the (latent) input
    out_channels: int = 8  # channels of the output
    model_channels: int = 128  # feature channels of the first level
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)  # channel multiplier per level; len-1 halvings per axis
    num_res_blocks: int = 2  # residual blocks per level (decoder: one more)
    attention_resolutions: tuple[int, ...] = (8,)  # downsampling factors with self-attention (+ middle block)
    num_heads: int = 4  # attention heads
    dropout: float = 0.1  # dropout probability inside residual blocks
    kernel_size: int = 3  # convolution kernel size (odd)
    num_groups: int = 32  # GroupNorm groups (must divide every width)
    dims: int = 2  # spatial axes: 2 (spectrogram latents) or 1 (time series)
    cond_features: int = 5  # length of the conditioning vector; 0 = unconditional
    noise_embedding: str = "fourier"  # noise-label features: "fourier" (random, fixed) or "positional"
    fourier_scale: float = 0.02  # std of the random Fourier frequencies (per unit noise label)
    null_cond: str = "zero"  # conditioning embedding when dropped/absent: "zero" or "learned"
    coords: bool = False  # append one coordinate channel per spatial axis (linear, -1 -> 1) to the input (published HighFEM: False)
    arrival: tuple[float, ...] = ()  # S-arrival time channel: (cond index, shift, scale, t0 s, slowness s/km, window s); () = none; see arrival_channel

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "model_channels", "num_res_blocks", "num_heads",
                     "num_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"UNetConfig.{name} must be >= 1; got {getattr(self, name)}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ValueError(f"UNetConfig.channel_mult must be non-empty positive ints; got {self.channel_mult}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"UNetConfig.kernel_size must be odd; got {self.kernel_size}")
        if self.dims not in (1, 2):
            raise ValueError(f"UNetConfig.dims must be 1 or 2; got {self.dims}")
        if self.cond_features < 0:
            raise ValueError(f"UNetConfig.cond_features must be >= 0; got {self.cond_features}")
        if self.noise_embedding not in ("fourier", "positional"):
            raise ValueError(f"UNetConfig.noise_embedding must be 'fourier' or 'positional'; got {self.noise_embedding!r}")
        if self.null_cond not in ("zero", "learned"):
            raise ValueError(f"UNetConfig.null_cond must be 'zero' or 'learned'; got {self.null_cond!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"UNetConfig.dropout must be in [0, 1); got {self.dropout}")
        if self.arrival:
            if len(self.arrival) != 6:
                raise ValueError("UNetConfig.arrival must be () or (cond index, shift, scale, t0 s, slowness s/km, "
                                 f"window s); got {self.arrival}")
            if not 0 <= int(self.arrival[0]) < self.cond_features or self.arrival[0] != int(self.arrival[0]):
                raise ValueError(f"UNetConfig.arrival's conditioning index {self.arrival[0]} is not an entry of the "
                                 f"{self.cond_features} conditioning features")
            if not self.arrival[5] > 0:
                raise ValueError(f"UNetConfig.arrival's window must be > 0 s; got {self.arrival[5]}")

    @property
    def downsampling(self) -> int:
        """Factor by which every spatial axis shrinks at the lowest level."""
        return 2 ** (len(self.channel_mult) - 1)

    @property
    def coord_channels(self) -> int:
        """Channels appended to the input: ``dims`` coordinates with ``coords``, then one
        S-arrival channel with ``arrival``."""
        return (self.dims if self.coords else 0) + (1 if self.arrival else 0)

    @property
    def embed_dim(self) -> int:
        """Width of the noise + conditioning embedding."""
        return 4 * self.model_channels


class UNet(nn.Module):
    """``forward(x (B, in, *S), noise_labels (B,), cond (B, cond_features) | None) -> (B, out, *S)``.

    Every spatial size of ``x`` must be divisible by ``cfg.downsampling``.
    """

    def __init__(self, cfg: UNetConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or UNetConfig()
        emb = cfg.embed_dim
        mc = cfg.model_channels
        kw = dict(dims=cfg.dims, num_groups=cfg.num_groups)
        res = dict(emb_channels=emb, dropout=cfg.dropout, kernel_size=cfg.kernel_size, **kw)
        pad = cfg.kernel_size // 2

        self.time_embed = (FourierFeatures(mc, cfg.fourier_scale) if cfg.noise_embedding == "fourier"
                           else PositionalEmbedding(mc))
        self.time_mlp = nn.Sequential(RowLinear(mc, emb), nn.SiLU(), RowLinear(emb, emb))
        self.cond_mlp = (nn.Sequential(RowLinear(cfg.cond_features, emb), nn.SiLU(), RowLinear(emb, emb))
                         if cfg.cond_features else None)
        self.null_cond_emb = (nn.Parameter(torch.zeros(emb))
                              if cfg.cond_features and cfg.null_cond == "learned" else None)

        ch = cfg.channel_mult[0] * mc
        self.input_blocks = nn.ModuleList([EmbedSequential(conv_nd(cfg.dims, cfg.in_channels + cfg.coord_channels, ch,
                                                                   cfg.kernel_size, padding=pad))])
        skip_chans = [ch]
        ds = 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, mult * mc, **res)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, cfg.num_heads, **kw))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                self.input_blocks.append(EmbedSequential(Downsample(ch, True, cfg.dims,
                                                                    kernel_size=cfg.kernel_size)))
                skip_chans.append(ch)
                ds *= 2

        self.middle_block = EmbedSequential(ResBlock(ch, **res), AttentionBlock(ch, cfg.num_heads, **kw),
                                            ResBlock(ch, **res))

        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + skip_chans.pop(), mult * mc, **res)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, cfg.num_heads, **kw))
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch, True, cfg.dims, kernel_size=cfg.kernel_size))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(normalization(ch, cfg.num_groups), nn.SiLU(),
                                 zero_module(conv_nd(cfg.dims, ch, cfg.out_channels, cfg.kernel_size, padding=pad)))

    def embedding(self, noise_labels: torch.Tensor, cond: torch.Tensor | None = None,
                  drop_cond: torch.Tensor | None = None) -> torch.Tensor:
        """Noise + conditioning embedding (B, embed_dim)."""
        emb = self.time_mlp(self.time_embed(noise_labels))
        if self.cond_mlp is None:
            if cond is not None:
                raise ValueError("this U-Net is unconditional (cond_features=0) but cond was given")
            return emb
        null = (self.null_cond_emb.to(emb.dtype) if self.null_cond_emb is not None
                else torch.zeros((), dtype=emb.dtype, device=emb.device))
        if cond is None:
            return emb + null
        if cond.ndim != 2 or cond.shape[1] != self.cfg.cond_features:
            raise ValueError(f"cond must have shape (B, {self.cfg.cond_features}); got {tuple(cond.shape)}")
        c = self.cond_mlp(cond.to(emb.dtype))
        if drop_cond is not None:
            c = torch.where(drop_cond.reshape(-1, 1).to(torch.bool), null, c)
        return emb + c

    def forward(self, x: torch.Tensor, noise_labels: torch.Tensor, cond: torch.Tensor | None = None,
                drop_cond: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the U-Net.

        Parameters
        ----------
        x : (B, in_channels, *S) input.
        noise_labels : (B,) or scalar noise labels (EDM: ``log(sigma) / 4``).
        cond : (B, cond_features) normalised conditioning, or None for the null embedding.
        drop_cond : optional (B,) bool; True replaces that sample's conditioning by the null
            embedding (classifier-free guidance training).
        """
        if x.ndim != self.cfg.dims + 2 or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"x must have shape (B, {self.cfg.in_channels}, ...) with {self.cfg.dims} "
                             f"spatial axes; got {tuple(x.shape)}")
        if any(s % self.cfg.downsampling for s in x.shape[2:]):
            raise ValueError(f"x spatial sizes {tuple(x.shape[2:])} must be divisible by {self.cfg.downsampling}")
        noise_labels = torch.as_tensor(noise_labels, dtype=torch.float32, device=x.device).reshape(-1)
        noise_labels = noise_labels.expand(x.shape[0])
        emb = self.embedding(noise_labels, cond, drop_cond)
        hs = []
        h = torch.cat([x, coordinate_channels(x)], dim=1) if self.cfg.coords else x
        if self.cfg.arrival:
            h = torch.cat([h, arrival_channel(x, cond, self.cfg.arrival, drop_cond)], dim=1)
        for module in self.input_blocks:
            h = module(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


def coordinate_channels(x: torch.Tensor) -> torch.Tensor:
    """Coordinates (B, dims, *S) of the grid of ``x`` (B, C, *S): channel ``i`` is a linear ramp
    from -1 to 1 along spatial axis ``i``, constant along the others (CoordConv, Liu et al. 2018).

    A convolutional network with zero padding learns absolute position only from the borders,
    so features far from them (an S-wave onset in the middle of the window) are hard to place
    at a conditioned time; with the coordinates, a bias that depends on the conditioning
    (the embedding added in every residual block) can put a threshold at any position.
    """
    spatial = x.shape[2:]
    ramps = []
    for i, n in enumerate(spatial):
        shape = [1] * len(spatial)
        shape[i] = n
        r = torch.linspace(-1.0, 1.0, n, dtype=x.dtype, device=x.device).reshape(shape)
        ramps.append(r.expand(*spatial))
    return torch.stack(ramps).unsqueeze(0).expand(x.shape[0], -1, *spatial)


def arrival_channel(x: torch.Tensor, cond: torch.Tensor | None, arrival: tuple[float, ...],
                    drop_cond: torch.Tensor | None = None) -> torch.Tensor:
    """The expected S arrival as an input channel (B, 1, *S) for ``x`` (B, C, *S).

    ``arrival = (index, shift, scale, t0, slowness, window)``: the hypocentral distance is
    ``R = 10 ** (shift + scale * cond[:, index])`` km (the inverse of a log10 z-scored
    conditioning entry), the S wave arrives at ``t_S = t0 + slowness * R`` seconds after the
    window's start, and the channel is ``clip((t - t_S) / dt, -2, 2)`` at the centre time ``t``
    of each cell of the last (time) axis (``dt = window / n`` the cell length), constant along
    the others: a ramp over the two cells either side of the expected S onset, -2 before, +2
    after, zero at the onset.

    The CoordConv ramps (:func:`coordinate_channels`) let the network place a feature at a
    conditioned time only by learning that threshold from the conditioning embedding; a
    record's S-P time is a known function of its distance, so here the threshold is given
    (the S onset of a 200-km record sits 27 s into a 32-cell latent of 1.27-s cells). The
    channel varies by O(1) across the onset, as the latent does (a ramp over the whole window,
    0.06 per cell, was left unused in training). It is zero where the conditioning is absent
    (``cond`` None) or dropped (``drop_cond`` True), like the conditioning embedding, so
    classifier-free guidance's unconditional branch sees no distance.

    Measured on the default model (benchmarks/RESULTS.md, issue 18, session 12): a 4,500-step
    continuation with this channel matches one without it within the sampling noise (classifier
    0.507 against 0.493 on 300 test records, validation loss equal); the network keeps its
    first-convolution weights small (norm 0.005 against 1.1-1.2 per latent channel), as the
    distance in the conditioning embedding already carries what it gives. Off by default and in
    the shipped model.
    """
    index, shift, scale, t0, slowness, window = (float(a) for a in arrival)
    b, spatial = x.shape[0], x.shape[2:]
    if cond is None:
        return x.new_zeros((b, 1, *spatial))
    r_km = torch.pow(10.0, shift + scale * cond[:, int(index)].to(torch.float32))
    n = spatial[-1]
    dt = window / n
    t = (torch.arange(n, dtype=torch.float32, device=x.device) + 0.5) * dt
    ch = ((t.unsqueeze(0) - (t0 + slowness * r_km).unsqueeze(1)) / dt).clamp(-2.0, 2.0)  # (B, n)
    if drop_cond is not None:
        ch = torch.where(drop_cond.reshape(-1, 1).to(torch.bool), torch.zeros_like(ch), ch)
    shape = (b, 1) + (1,) * (len(spatial) - 1) + (n,)
    return ch.reshape(shape).expand(b, 1, *spatial).to(x.dtype)
