"""MIFNO: a multiple-input factorised Fourier neural operator for 3-D surface wavefields.

Lehmann et al. (2024, "Multiple-input Fourier neural operator (MIFNO) for source-dependent 3D
elastodynamics"; code lehmannfa/MIFNO) predict the surface velocity of a 3-D elastic simulation
from the geology and the source:

- **geology branch**: the normalised Vs cube (B, 1, X, Y, Z) plus coordinate channels is lifted
  to ``width`` channels and passed through factorised Fourier layers in (x, y, z);
- **source branch**: the source position (B, 3) goes through its own MLP and is added,
  broadcast over space, after ``n_layers_geology`` layers;
- **depth -> time**: the depth axis is resampled to the T time steps (MIFNO's
  "uplift"), the horizontal axes to the sensor grid, and further layers act on (x, y, t), with
  ``modes_time`` Fourier modes along t (the band: ``modes_time / duration`` Hz);
- **moment tensor**: the projection gives one wavefield per moment-tensor component,
  G_k (B, 6, 3, S, S, T), and the output is ``u = sum_k M_k G_k`` (B, 3, S, S, T).

The last step is the representation theorem (Aki & Richards 2002, Eq. 3.23): for a point source
``u_n(x, t) = M_pq(t) * d_q G_np(x, t; xi)``, linear in the moment tensor M for a given geology
and source position. MIFNO feeds M (or the strike, dip, rake angles) to its source branch
with the position, and combines the result with the geology features (sum, difference and
product). With the angles added only as a bias (the first version here), the network must
learn the sign of the wavefield from a periodic function of the angles; and since rake +
180 deg gives -M, for HEMEW's (and ``simulate-3d``'s) uniform rakes the mean wavefield given
the geology and the position is exactly zero, so a network that has not learnt that sign
minimises its loss by predicting 0 (what the first CPU run did: relative errors 1.00). Linear
in M by construction, ``u(-M) = -u(M)`` holds exactly and the network only learns the
Green's-function fields G_k(geology, position).

Factorised Fourier layer (F-FNO, Tran et al. 2023): ``K x = sum_d IFFT_d(W_d . FFT_d(x))``
(one 1-D spectral convolution per axis, ``modes`` Fourier modes kept), then ``x + MLP(K x)``.
Implemented with ``torch.fft``: ``neuraloperator``'s ``SpectralConv`` does a full d-D
convolution (weights modes^d), and importing any ``neuralop`` module imports ``wandb`` (10 s).

Losses (:func:`relative_loss`): relative L1 / L2 errors per sample as in MIFNO;
:func:`trace_relative_loss`: the relative L2 error per trace, the evaluation's rRMSE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MIFNOConfig:
    """Architecture of :class:`MIFNO` (tiny default for tests; the paper uses width 16, 16 layers)."""

    width: int = 8  # channels of the Fourier layers
    modes: int = 4  # Fourier modes kept per spatial axis (x, y, z; sensor axes)
    modes_time: int = 8  # Fourier modes kept along time in the time layers (covers modes_time / duration Hz)
    n_layers_geology: int = 2  # factorised layers on (x, y, z) before the source is added
    n_layers_source: int = 1  # factorised layers on (x, y, z) after the source is added
    n_layers_time: int = 2  # factorised layers on (x, y, t)
    n_position: int = 3  # source-position parameters fed to the source branch (x, y, z, normalised)
    n_moment: int = 6  # moment-tensor components M_k; the output is linear in them (sum_k M_k G_k)
    source_hidden: int = 32  # hidden units of the source MLP
    n_sensors: int = 16  # sensors per horizontal axis of the output
    n_times: int = 160  # output time steps T
    n_components: int = 3  # output components (E, N, Z)

    def __post_init__(self) -> None:
        for name in ("width", "modes", "modes_time", "n_position", "n_moment", "source_hidden", "n_sensors",
                     "n_times", "n_components"):
            if getattr(self, name) < 1:
                raise ValueError(f"MIFNOConfig.{name} must be >= 1; got {getattr(self, name)}")
        for name in ("n_layers_geology", "n_layers_source", "n_layers_time"):
            if getattr(self, name) < 0:
                raise ValueError(f"MIFNOConfig.{name} must be >= 0; got {getattr(self, name)}")


class SpectralConv1dAxis(nn.Module):
    """1-D spectral convolution along one axis of a (B, C, ...) tensor: ``IFFT(W . FFT(x))``."""

    def __init__(self, channels: int, modes: int, dim: int) -> None:
        super().__init__()
        self.modes, self.dim = int(modes), int(dim)
        scale = 1.0 / (channels * channels)
        self.weight = nn.Parameter(scale * torch.randn(channels, channels, self.modes, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[self.dim]
        xf = torch.fft.rfft(x, dim=self.dim, norm="ortho")
        m = min(self.modes, xf.shape[self.dim])
        xf = xf.movedim(self.dim, -1)[..., :m]  # (B, C, ..., m)
        w = torch.view_as_complex(self.weight[:, :, :m].contiguous())  # (C_in, C_out, m)
        yf = torch.einsum("bi...m,iom->bo...m", xf, w)
        yf = F.pad(yf, (0, n // 2 + 1 - m))
        return torch.fft.irfft(yf.movedim(-1, self.dim), n=n, dim=self.dim, norm="ortho")


class FactorizedFourierLayer(nn.Module):
    """F-FNO layer on a (B, C, d1, ..., dn) tensor: ``x + MLP(sum_d K_d x)`` (Tran et al. 2023).

    ``modes``: Fourier modes kept, one number for every axis or one per axis.
    """

    def __init__(self, channels: int, modes: int | tuple[int, ...], ndim: int) -> None:
        super().__init__()
        modes = (int(modes),) * ndim if isinstance(modes, int) else tuple(int(m) for m in modes)
        if len(modes) != ndim:
            raise ValueError(f"modes must be one number or {ndim} numbers; got {modes}")
        self.convs = nn.ModuleList(SpectralConv1dAxis(channels, m, 2 + d) for d, m in enumerate(modes))
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[ndim]
        self.mlp = nn.Sequential(conv(channels, 2 * channels, 1), nn.GELU(), conv(2 * channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(sum(c(x) for c in self.convs))


def _grid(shape: tuple[int, ...], device, dtype) -> torch.Tensor:
    axes = [torch.linspace(0, 1, n, device=device, dtype=dtype) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))  # (ndim, *shape)


class MIFNO(nn.Module):
    """Geology (B, X, Y, Z), source position (B, 3) and moment tensor (B, 6) -> surface velocity
    (B, C, S, S, T), linear in the moment tensor; see the module doc.

    The geology is expected normalised (zero mean, unit-ish scale) with z index 0 at the bottom
    (HEMEW layout); any X, Y, Z work (Fourier layers are resolution independent).
    """

    def __init__(self, cfg: MIFNOConfig = MIFNOConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.lift = nn.Conv3d(1 + 3, w, 1)
        self.source_mlp = nn.Sequential(nn.Linear(cfg.n_position, cfg.source_hidden), nn.GELU(),
                                        nn.Linear(cfg.source_hidden, w))
        self.geology_layers = nn.ModuleList(FactorizedFourierLayer(w, cfg.modes, 3) for _ in range(cfg.n_layers_geology))
        self.source_layers = nn.ModuleList(FactorizedFourierLayer(w, cfg.modes, 3) for _ in range(cfg.n_layers_source))
        time_modes = (cfg.modes, cfg.modes, cfg.modes_time)
        self.time_layers = nn.ModuleList(FactorizedFourierLayer(w, time_modes, 3) for _ in range(cfg.n_layers_time))
        self.project = nn.Sequential(nn.Conv3d(w, 4 * w, 1), nn.GELU(),
                                     nn.Conv3d(4 * w, cfg.n_moment * cfg.n_components, 1))

    def greens(self, geology: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """The fields G_k (B, n_moment, C, S, S, T) of unit moment-tensor components."""
        if geology.ndim != 4:
            raise ValueError(f"geology must be (B, X, Y, Z); got shape {tuple(geology.shape)}")
        if position.ndim != 2 or position.shape != (geology.shape[0], self.cfg.n_position):
            raise ValueError(f"position must be (B, {self.cfg.n_position}) with B = {geology.shape[0]}; "
                             f"got shape {tuple(position.shape)}")
        B = geology.shape[0]
        g = geology.unsqueeze(1)
        coords = _grid(tuple(g.shape[2:]), g.device, g.dtype).expand(B, -1, -1, -1, -1)
        h = self.lift(torch.cat([g, coords], dim=1))
        for layer in self.geology_layers:
            h = layer(h)
        h = h + self.source_mlp(position)[:, :, None, None, None]
        for layer in self.source_layers:
            h = layer(h)
        S, T = self.cfg.n_sensors, self.cfg.n_times
        h = F.interpolate(h, size=(S, S, T), mode="trilinear", align_corners=True)  # depth -> time
        for layer in self.time_layers:
            h = layer(h)
        return self.project(h).unflatten(1, (self.cfg.n_moment, self.cfg.n_components))

    def forward(self, geology: torch.Tensor, position: torch.Tensor, moment: torch.Tensor) -> torch.Tensor:
        """``u = sum_k M_k G_k(geology, position)``, (B, C, S, S, T)."""
        if moment.ndim != 2 or moment.shape != (geology.shape[0], self.cfg.n_moment):
            raise ValueError(f"moment must be (B, {self.cfg.n_moment}) with B = {geology.shape[0]}; "
                             f"got shape {tuple(moment.shape)}")
        return torch.einsum("bk,bkcxyt->bcxyt", moment, self.greens(geology, position))


def relative_loss(pred: torch.Tensor, target: torch.Tensor, p: int = 1, eps: float = 1e-12) -> torch.Tensor:
    """Mean over samples of ``||pred - target||_p / ||target||_p`` (norms over all but axis 0)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p}")
    d = (pred - target).flatten(1)
    t = target.flatten(1)
    return (d.norm(p=p, dim=1) / (t.norm(p=p, dim=1) + eps)).mean()


def trace_relative_loss(pred: torch.Tensor, target: torch.Tensor, floor: float = 0.01, eps: float = 1e-12
                        ) -> torch.Tensor:
    """Mean over traces of ``||pred - target||_2 / (||target||_2 + floor m)`` (norms over time, the
    last axis; ``m`` the mean trace norm of the sample, over all but the first and last axes).

    The per-trace relative RMSE of the evaluation (:func:`quakesynth.metrics.gof.rrmse`, averaged over
    sensors and components) as a loss: :func:`relative_loss` weighs each trace by its energy, so the
    weak traces far from the source barely count there. ``floor`` keeps a near-nodal trace from
    dominating; with ``floor = 0`` this is exactly the mean rRMSE.
    """
    if pred.shape != target.shape or pred.ndim < 3:
        raise ValueError(f"pred and target must share a shape (B, ..., T); got {tuple(pred.shape)}, {tuple(target.shape)}")
    if floor < 0:
        raise ValueError(f"floor must be >= 0; got {floor}")
    tn = target.norm(dim=-1)  # (B, ...)
    m = tn.flatten(1).mean(dim=1).reshape(-1, *([1] * (tn.ndim - 1)))
    return ((pred - target).norm(dim=-1) / (tn + floor * m + eps)).mean()
