"""The EDM training loss (Karras et al. 2022, Eq. 2 and Table 1; NVlabs/edm ``training/loss.py``).

Noise levels are log-normal, ``ln(sigma) ~ N(P_mean, P_std^2)``; the squared error of the
denoiser is weighted by ``lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2``,
which makes the effective target of the backbone unit-variance at every noise level.
"""

from __future__ import annotations

import torch


class EDMLoss:
    """``EDMLoss(P_mean, P_std, sigma_data)(net, x, cond)`` -> per-element weighted loss.

    Parameters
    ----------
    P_mean, P_std : mean and standard deviation of ``ln(sigma)``.
    sigma_data : standard deviation of the data.
    cond_dropout : probability of replacing a sample's conditioning by the null embedding
        (classifier-free guidance training); the network must accept ``drop_cond``.

    Calling it with a denoiser ``net(x, sigma, cond)`` and clean data ``x`` (B, C, ...) returns
    ``lambda(sigma) * (D(x + n; sigma) - x)^2`` of the same shape as ``x``; take its mean.
    Random numbers come from torch's global generator (or ``generator``).
    """

    def __init__(self, P_mean: float = -1.2, P_std: float = 1.2, sigma_data: float = 0.5,
                 cond_dropout: float = 0.0) -> None:
        if P_std <= 0 or sigma_data <= 0:
            raise ValueError(f"P_std and sigma_data must be > 0; got {P_std}, {sigma_data}")
        if not 0 <= cond_dropout < 1:
            raise ValueError(f"cond_dropout must be in [0, 1); got {cond_dropout}")
        self.P_mean = float(P_mean)
        self.P_std = float(P_std)
        self.sigma_data = float(sigma_data)
        self.cond_dropout = float(cond_dropout)

    def weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2."""
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2

    def __call__(self, net, x: torch.Tensor, cond: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        rnd_normal = torch.randn(shape, device=x.device, generator=generator)
        sigma = (rnd_normal * self.P_std + self.P_mean).exp()
        n = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator) * sigma
        kwargs = {}
        if self.cond_dropout > 0 and cond is not None:
            u = torch.rand(x.shape[0], device=x.device, generator=generator)
            kwargs["drop_cond"] = u < self.cond_dropout
        D_yn = net(x + n, sigma.reshape(-1), cond, **kwargs)
        return self.weight(sigma) * (D_yn - x) ** 2
