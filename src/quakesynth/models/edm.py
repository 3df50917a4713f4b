"""EDM preconditioning (Karras et al. 2022, "Elucidating the design space of diffusion-based
generative models", Table 1; NVlabs/edm ``training/networks.py: EDMPrecond``).

A backbone ``F(x, noise_labels, cond)`` becomes the denoiser

    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), cond)

with c_skip = sigma_data^2 / (sigma^2 + sigma_data^2), c_out = sigma sigma_data /
sqrt(sigma^2 + sigma_data^2), c_in = 1 / sqrt(sigma^2 + sigma_data^2), c_noise = ln(sigma) / 4.
Any backbone with that call signature (U-Net, FNO, ...) can be wrapped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EDMConfig:
    """Noise distribution, schedule and data scale of EDM (defaults: Karras et al. 2022 / HighFEM)."""

    sigma_min: float = 0.002  # smallest noise level of the sampling schedule (data units)
    sigma_max: float = 80.0  # largest noise level of the sampling schedule (data units)
    rho: float = 7.0  # exponent of the Karras schedule
    sigma_data: float = 0.5  # standard deviation of the data (latents)
    P_mean: float = -1.2  # mean of ln(sigma) during training
    P_std: float = 1.2  # standard deviation of ln(sigma) during training

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"EDMConfig needs 0 < sigma_min < sigma_max; got {self.sigma_min}, {self.sigma_max}")
        for name in ("rho", "sigma_data", "P_std"):
            if getattr(self, name) <= 0:
                raise ValueError(f"EDMConfig.{name} must be > 0; got {getattr(self, name)}")


class EDMPrecond(nn.Module):
    """Preconditioned denoiser ``D(x, sigma, cond)`` around ``backbone``.

    ``forward`` computes in float32 (as NVlabs/edm and the reference do) and returns float32;
    ``sigma`` (> 0) is a scalar or one value per sample (B,).
    """

    def __init__(self, backbone: nn.Module, sigma_data: float = 0.5) -> None:
        super().__init__()
        if sigma_data <= 0:
            raise ValueError(f"sigma_data must be > 0; got {sigma_data}")
        self.backbone = backbone
        self.sigma_data = float(sigma_data)

    def coefficients(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(c_skip, c_out, c_in, c_noise) for noise levels ``sigma`` (any shape)."""
        sd = self.sigma_data
        c_skip = sd**2 / (sigma**2 + sd**2)
        c_out = sigma * sd / (sigma**2 + sd**2) ** 0.5
        c_in = 1 / (sigma**2 + sd**2) ** 0.5
        c_noise = 0.25 * sigma.log()
        return c_skip, c_out, c_in, c_noise

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, cond: torch.Tensor | None = None,
                **backbone_kwargs) -> torch.Tensor:
        """Denoised estimate of ``x`` (B, C, ...) at noise level ``sigma`` ((B,) or scalar)."""
        x = x.to(torch.float32)
        sigma = torch.as_tensor(sigma, dtype=torch.float32, device=x.device).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(x.shape[0])
        elif sigma.numel() != x.shape[0]:
            raise ValueError(f"sigma must be a scalar or have one value per sample ({x.shape[0]}); got {sigma.numel()}")
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        shape = (-1,) + (1,) * (x.ndim - 1)
        F_x = self.backbone(x * c_in.reshape(shape), c_noise, cond, **backbone_kwargs)
        return F_x.to(torch.float32) * c_out.reshape(shape) + c_skip.reshape(shape) * x
