"""Building blocks shared by the U-Net, the VAE and the classifier.

The blocks follow the ADM / consistency-models layout (Dhariwal & Nichol 2021) that the HighFEM
reference (tqdne 0.2.2) uses, and their sub-module names match it (``in_layers``,
``emb_layers``, ``out_layers``, ``skip_connection``, ``qkv``, ``proj_out``, ``op``, ``conv``) so
that published weights map onto ours name for name. Every block works on 1-D (B, C, T) or 2-D
(B, C, H, W) feature maps (``dims``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv_nd(dims: int, *args, **kwargs) -> nn.Module:
    """A 1-D or 2-D convolution (``torch.nn.Conv1d`` / ``Conv2d`` arguments)."""
    if dims == 1:
        return nn.Conv1d(*args, **kwargs)
    if dims == 2:
        return nn.Conv2d(*args, **kwargs)
    raise ValueError(f"dims must be 1 or 2; got {dims}")


class RowLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state-dict keys) on (B, in) inputs whose row ``b`` of
    the (B, out) output is bitwise the same whatever row of whatever batch it sits in.

    A plain GEMM with few rows is not: on some CPUs (AMD EPYC, torch 2.13, one thread) a row
    rounds differently at position 0 than at position 1 of a 3-row batch. Here every row is its
    own 1-row product of one batched multiply, so the sampler's per-waveform results do not
    depend on where a waveform lands in a network chunk. Inputs of other ranks fall back to
    ``nn.Linear``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            return super().forward(x)
        w = self.weight.t().unsqueeze(0).expand(len(x), -1, -1)
        if self.bias is None:
            return torch.bmm(x.unsqueeze(1), w).squeeze(1)
        return torch.baddbmm(self.bias.expand(len(x), 1, -1), x.unsqueeze(1), w).squeeze(1)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero the parameters of ``module`` (residual branches start as the identity)."""
    for p in module.parameters():
        p.detach().zero_()
    return module


class GroupNorm32(nn.GroupNorm):
    """Group normalisation computed in float32 whatever the input precision."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


def normalization(channels: int, num_groups: int) -> nn.Module:
    """GroupNorm with ``num_groups`` groups; ``channels`` must be divisible by it."""
    if channels % num_groups:
        raise ValueError(f"num_groups={num_groups} does not divide channels={channels}")
    return GroupNorm32(num_groups, channels)


def append_dims(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Append trailing singleton axes to ``x`` until it has ``ndim`` axes."""
    if x.ndim > ndim:
        raise ValueError(f"tensor has {x.ndim} axes, more than ndim={ndim}")
    return x[(...,) + (None,) * (ndim - x.ndim)]


class FourierFeatures(nn.Module):
    """Random Fourier features of a scalar: ``[sin(2 pi x W), cos(2 pi x W)]``.

    ``W`` (channels // 2,) is drawn once from N(0, scale^2) and stored as a buffer (saved with
    the weights, never trained). Input (B,), output (B, channels).
    """

    def __init__(self, channels: int, scale: float = 0.02) -> None:
        super().__init__()
        self.register_buffer("W", torch.randn(channels // 2) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x[:, None] * self.W[None, :].to(x.dtype) * 2 * torch.pi
        return torch.cat([torch.sin(h), torch.cos(h)], dim=-1)


class PositionalEmbedding(nn.Module):
    """Transformer sinusoidal embedding of a scalar (NVlabs/edm ``PositionalEmbedding``).

    Input (B,), output (B, channels) = ``[cos(x f_k), sin(x f_k)]`` with
    ``f_k = (1 / max_positions) ** (k / (channels / 2))``.
    """

    def __init__(self, channels: int, max_positions: int = 10000) -> None:
        super().__init__()
        self.channels = channels
        self.max_positions = max_positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.channels // 2
        freqs = torch.arange(half, dtype=torch.float32, device=x.device) / half
        freqs = (1 / self.max_positions) ** freqs
        h = x.float()[:, None] * freqs[None, :]
        return torch.cat([torch.cos(h), torch.sin(h)], dim=-1).to(x.dtype)


class ResBlock(nn.Module):
    """Residual block: GroupNorm-SiLU-conv, (+ embedding), GroupNorm-SiLU-dropout-conv, + skip.

    Parameters
    ----------
    channels, out_channels : input and output feature channels.
    emb_channels : width of the embedding vector added after the first convolution (per
        channel bias, as in ADM); ``None`` for a block without embedding (the VAE).
    dropout : dropout probability before the second convolution.
    kernel_size : spatial kernel size (odd).
    dims : 1 or 2 spatial axes.
    num_groups : GroupNorm groups.
    """

    def __init__(self, channels: int, out_channels: int | None = None, emb_channels: int | None = None,
                 dropout: float = 0.0, kernel_size: int = 3, dims: int = 2, num_groups: int = 32) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.in_layers = nn.Sequential(
            normalization(channels, num_groups),
            nn.SiLU(),
            conv_nd(dims, channels, out_channels, kernel_size, padding=kernel_size // 2),
        )
        self.emb_layers = (nn.Sequential(nn.SiLU(), RowLinear(emb_channels, out_channels))
                           if emb_channels else None)
        self.out_layers = nn.Sequential(
            normalization(out_channels, num_groups),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(conv_nd(dims, out_channels, out_channels, kernel_size, padding=kernel_size // 2)),
        )
        self.skip_connection = (nn.Identity() if out_channels == channels
                                else conv_nd(dims, channels, out_channels, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.in_layers(x)
        if self.emb_layers is not None:
            if emb is None:
                raise ValueError("this ResBlock needs an embedding (emb is None)")
            h = h + append_dims(self.emb_layers(emb).type(h.dtype), h.ndim)
        h = self.out_layers(h)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions of a feature map, with a residual.

    The 1x1 ``qkv`` convolution gives channels ``[q | k | v]``, each split into ``num_heads``
    contiguous heads; attention uses the scale ``1/sqrt(head_dim)`` and a float32 softmax.
    """

    def __init__(self, channels: int, num_heads: int = 1, dims: int = 2, num_groups: int = 32) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"num_heads={num_heads} does not divide channels={channels}")
        self.num_heads = num_heads
        self.norm = normalization(channels, num_groups)
        self.qkv = conv_nd(dims, channels, 3 * channels, 1)
        self.proj_out = zero_module(conv_nd(dims, channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        length = math.prod(spatial)
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.num_heads, c // self.num_heads, length)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each (B, heads, L, head_dim)
        if q.dtype in (torch.float16, torch.bfloat16) and q.device.type == "cpu":
            q, k, v = q.float(), k.float(), v.float()
        h = F.scaled_dot_product_attention(q, k, v).to(x.dtype)
        h = h.transpose(-1, -2).reshape(b, c, *spatial)
        return x + self.proj_out(h)


class Downsample(nn.Module):
    """Halve every spatial axis with a strided convolution (or average pooling)."""

    def __init__(self, channels: int, use_conv: bool = True, dims: int = 2, out_channels: int | None = None,
                 kernel_size: int = 3) -> None:
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op = conv_nd(dims, channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2)
        else:
            if out_channels != channels:
                raise ValueError("average-pool downsampling cannot change the channel count")
            self.op = nn.AvgPool1d(2) if dims == 1 else nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Double every spatial axis (nearest neighbour), then an optional convolution."""

    def __init__(self, channels: int, use_conv: bool = True, dims: int = 2, out_channels: int | None = None,
                 kernel_size: int = 3) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.conv = (conv_nd(dims, channels, out_channels, kernel_size, padding=kernel_size // 2)
                     if use_conv else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class EmbedSequential(nn.Sequential):
    """A sequence of blocks; ResBlocks receive the embedding, the others only ``x``."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x
