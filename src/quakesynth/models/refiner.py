"""Diffusion refiner: adds the high frequencies a surrogate (or a low-frequency physics code)
misses, as an EDM denoiser conditioned on the low-frequency waveform.

Following Perrone et al. (2025), the refiner is a conditional diffusion model trained with the
surrogate frozen: the condition is the surrogate's velocity ``y`` (what MIFNO predicts, or a
low-passed record), the target the simulated (or recorded) ground truth ``x``. Here it is built on
the shared EDM machinery (:class:`quakesynth.models.edm.EDMPrecond`,
:class:`quakesynth.diffusion.loss.EDMLoss`, :func:`quakesynth.diffusion.sampler.edm_sampler`)
with a 1-D U-Net backbone written for it, and differs from the paper in three ways:

- **Residual target, amplitude-normalised condition.** Each example is divided by the peak
  amplitude of its condition, ``s = max |y|`` (over components, sensors and time), and the model
  generates the residual ``r = (x - y) / s``; the refined waveform is ``y + s r``. A surrogate
  output of very small amplitude is thus seen at unit scale (the paper's weak point), and
  ``log10 s`` (standardised with training statistics) is given as an extra input channel so the
  model still knows the absolute amplitude.
- **Joint over neighbouring sensors.** With ``patch = k`` the example is a k x k block of
  sensors, ``3 k^2`` channels, denoised together, so the generated high frequencies can be
  spatially coherent; ``patch = 1`` is the per-sensor model of the paper.
- EDM (Karras et al. 2022) preconditioning, loss and Heun sampler instead of a DDPM.

The backbone follows the style guide: ``forward(x, noise_labels, cond)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from quakesynth.models.layers import Downsample, PositionalEmbedding, ResBlock, Upsample


@dataclass(frozen=True)
class RefinerConfig:
    """Architecture of :class:`RefinerUNet1d` and the data layout of a refiner (tiny default)."""

    components: int = 3  # components per sensor
    patch: int = 1  # sensors per side of a jointly refined block (1 = per sensor)
    model_channels: int = 16  # channels of the first level
    channel_mult: tuple[int, ...] = (1, 2)  # channel multiplier per level (len = levels)
    num_res_blocks: int = 1  # residual blocks per level
    emb_channels: int = 64  # width of the noise-level embedding
    num_groups: int = 8  # GroupNorm groups
    kernel_size: int = 5  # 1-D convolution kernel (odd)
    eps: float = 1e-12  # smallest condition amplitude s (avoids division by zero), data units

    def __post_init__(self) -> None:
        if self.components < 1 or self.patch < 1:
            raise ValueError(f"components and patch must be >= 1; got {self.components}, {self.patch}")
        if not self.channel_mult:
            raise ValueError("channel_mult must have at least one level")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd; got {self.kernel_size}")

    @property
    def channels(self) -> int:
        """Channels of one example: ``components patch^2``."""
        return self.components * self.patch**2


class RefinerUNet1d(nn.Module):
    """1-D U-Net backbone ``F(x, noise_labels, cond)``.

    Parameters of ``forward``: ``x`` (B, C, T) scaled noisy residual, ``noise_labels`` (B,)
    EDM ``c_noise``, ``cond`` (B, C + 1, T): the normalised condition and the standardised
    ``log10 s`` channel. Any T (padded internally to a multiple of ``2^(levels-1)``).
    """

    def __init__(self, cfg: RefinerConfig = RefinerConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        C, ch, E, g, k = cfg.channels, cfg.model_channels, cfg.emb_channels, cfg.num_groups, cfg.kernel_size
        self.noise_embed = nn.Sequential(PositionalEmbedding(ch), nn.Linear(ch, E), nn.SiLU(), nn.Linear(E, E))
        self.inp = nn.Conv1d(2 * C + 1, ch, k, padding=k // 2)
        self.down = nn.ModuleList()
        chans = [ch]
        cur = ch
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                self.down.append(ResBlock(cur, ch * mult, E, kernel_size=k, dims=1, num_groups=g))
                cur = ch * mult
                chans.append(cur)
            if level < len(cfg.channel_mult) - 1:
                self.down.append(Downsample(cur, dims=1))
                chans.append(cur)
        self.mid = ResBlock(cur, cur, E, kernel_size=k, dims=1, num_groups=g)
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(ResBlock(cur + chans.pop(), ch * mult, E, kernel_size=k, dims=1, num_groups=g))
                cur = ch * mult
            if level > 0:
                self.up.append(Upsample(cur, dims=1))
        self.out = nn.Sequential(nn.GroupNorm(g, cur), nn.SiLU(), nn.Conv1d(cur, C, k, padding=k // 2))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, noise_labels: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        C = self.cfg.channels
        if x.ndim != 3 or x.shape[1] != C:
            raise ValueError(f"x must be (B, {C}, T); got shape {tuple(x.shape)}")
        if cond is None or cond.shape != (x.shape[0], C + 1, x.shape[2]):
            raise ValueError(f"cond must be (B, {C + 1}, T) = {(x.shape[0], C + 1, x.shape[2])}; "
                             f"got {None if cond is None else tuple(cond.shape)}")
        T = x.shape[-1]
        m = 2 ** (len(self.cfg.channel_mult) - 1)
        pad = (-T) % m
        h = F.pad(torch.cat([x, cond.to(x.dtype)], dim=1), (0, pad))
        emb = self.noise_embed(noise_labels.to(x.dtype).reshape(-1))
        h = self.inp(h)
        skips = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        h = self.mid(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, skips.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.out(h)[..., :T]


# --------------------------------------------------------------------------------------
# data layout: sensor patches and amplitude normalisation (pure functions)
# --------------------------------------------------------------------------------------
def to_patches(u: np.ndarray | torch.Tensor, k: int):
    """(N, C, S, S, T) wavefields -> (N (S/k)^2, C k^2, T) non-overlapping k x k sensor blocks.

    Channel order inside a block: component-major, then sensor (ix, iy) row-major.
    """
    N, C, Sx, Sy, T = u.shape
    if Sx % k or Sy % k:
        raise ValueError(f"patch {k} must divide the sensor grid {Sx} x {Sy}")
    v = u.reshape(N, C, Sx // k, k, Sy // k, k, T)
    v = v.transpose(0, 2, 4, 1, 3, 5, 6) if isinstance(v, np.ndarray) else v.permute(0, 2, 4, 1, 3, 5, 6)
    return v.reshape(N * (Sx // k) * (Sy // k), C * k * k, T)


def from_patches(p: np.ndarray | torch.Tensor, k: int, C: int, Sx: int, Sy: int):
    """Inverse of :func:`to_patches`: (N (S/k)^2, C k^2, T) -> (N, C, Sx, Sy, T)."""
    T = p.shape[-1]
    v = p.reshape(-1, Sx // k, Sy // k, C, k, k, T)
    v = v.transpose(0, 3, 1, 4, 2, 5, 6) if isinstance(v, np.ndarray) else v.permute(0, 3, 1, 4, 2, 5, 6)
    return v.reshape(-1, C, Sx, Sy, T)


def amplitude_scale(y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-example peak amplitude ``s = max(|y|, eps)`` over all but the first axis: (B,)."""
    return y.detach().abs().flatten(1).amax(dim=1).clamp_min(eps)


class Refiner(nn.Module):
    """EDM denoiser of residuals + the normalisation of its inputs (see the module doc).

    Buffers (saved with the weights): ``log_amp_mean``, ``log_amp_std`` (statistics of
    ``log10 s`` on the training split).
    """

    def __init__(self, cfg: RefinerConfig = RefinerConfig(), sigma_data: float = 0.5) -> None:
        super().__init__()
        from quakesynth.models.edm import EDMPrecond

        self.cfg = cfg
        self.net = EDMPrecond(RefinerUNet1d(cfg), sigma_data=sigma_data)
        self.register_buffer("log_amp_mean", torch.zeros(()))
        self.register_buffer("log_amp_std", torch.ones(()))

    def set_amplitude_stats(self, y_train: torch.Tensor) -> None:
        """Fit ``log_amp_mean``/``log_amp_std`` on training conditions (B, C, T)."""
        la = amplitude_scale(y_train, self.cfg.eps).log10()
        self.log_amp_mean.fill_(float(la.mean()))
        self.log_amp_std.fill_(float(la.std()) if len(la) > 1 and float(la.std()) > 0 else 1.0)

    def condition(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond (B, C + 1, T), s (B,)) from conditions ``y`` (B, C, T) in data units."""
        s = amplitude_scale(y, self.cfg.eps)
        la = (s.log10() - self.log_amp_mean) / self.log_amp_std
        cond = torch.cat([y / s[:, None, None], la[:, None, None].expand(-1, 1, y.shape[-1]).to(y.dtype)], dim=1)
        return cond, s

    def residual(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Normalised training target ``(x - y) / s``: (B, C, T)."""
        return (x - y) / amplitude_scale(y, self.cfg.eps)[:, None, None]

    def loss(self, x: torch.Tensor, y: torch.Tensor, P_mean: float = -1.2, P_std: float = 1.2) -> torch.Tensor:
        """Mean EDM loss of the residual of truths ``x`` given conditions ``y`` (both (B, C, T))."""
        from quakesynth.diffusion.loss import EDMLoss

        cond, _ = self.condition(y)
        return EDMLoss(P_mean, P_std, self.net.sigma_data)(self.net, self.residual(x, y), cond).mean()

    @torch.no_grad()
    def refine(self, y: torch.Tensor, seeds, num_steps: int = 18, S_churn: float = 0.0,
               sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> torch.Tensor:
        """Refined waveforms ``y + s r`` (B, C, T) for conditions ``y``; one seed per example."""
        from quakesynth.diffusion.sampler import StackedRandomGenerator, edm_sampler

        if len(seeds) != y.shape[0]:
            raise ValueError(f"need one seed per example ({y.shape[0]}); got {len(seeds)}")
        y = y.float()
        cond, s = self.condition(y)
        rnd = StackedRandomGenerator(y.device, seeds)
        latents = rnd.randn(y.shape, device=y.device)
        r = edm_sampler(self.net, latents, cond, num_steps=num_steps, sigma_min=sigma_min, sigma_max=sigma_max,
                        rho=rho, S_churn=S_churn, randn_like=rnd.randn_like, dtype=torch.float32)
        return y + s[:, None, None] * r.to(y.dtype)
