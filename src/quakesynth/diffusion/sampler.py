"""Samplers of EDM (Karras et al. 2022) in one function, :func:`edm_sampler`.

- ``solver="heun"``: Heun's second-order method (Karras et al. Algorithm 2; NVlabs/edm
  ``generate.py: edm_sampler``), deterministic (``S_churn=0``, Algorithm 1) or stochastic; ``N``
  steps cost ``2N - 1`` denoiser evaluations (the last step, to sigma = 0, is first order).
- ``solver="dpmpp2m"``: DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided
  Sampling of Diffusion Probabilistic Models", Algorithm 2), a multistep second-order solver of
  the same probability-flow ODE written for the data prediction ``D(x; sigma)`` that EDM's
  denoiser is; ``N`` steps cost ``N`` evaluations (one per step, the previous step's denoised
  estimate supplies the second order), so at equal quality it needs far fewer evaluations than
  Heun. Deterministic only.
Per-sample seeds (:class:`StackedRandomGenerator`) make every sample depend only on its own
seed, never on the batch it is computed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

SOLVERS = ("heun", "dpmpp2m")


@dataclass(frozen=True)
class SamplerConfig:
    """Settings of :func:`edm_sampler` (defaults: deterministic 25-step Heun, as HighFEM)."""

    num_steps: int = 25  # Heun steps N (2N - 1 denoiser evaluations)
    S_churn: float = 0.0  # total stochasticity; 0 = deterministic sampler
    S_min: float = 0.0  # lowest sigma at which noise is added (data units)
    S_max: float = math.inf  # highest sigma at which noise is added (data units)
    S_noise: float = 1.0  # standard deviation multiplier of the added noise
    guidance: float = 1.0  # classifier-free guidance scale; 1 = no guidance
    guidance_sigma_min: float = 0.0  # guidance only where guidance_sigma_min < sigma <= guidance_sigma_max
    guidance_sigma_max: float = math.inf  # (Kynkaanniemi et al. 2024); default: at every step
    solver: str = "heun"  # "heun" (2N - 1 evaluations) or "dpmpp2m" (N evaluations, deterministic)

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ValueError(f"SamplerConfig.num_steps must be >= 1; got {self.num_steps}")
        _check_solver(self.solver, self.S_churn)
        if self.S_churn < 0 or self.S_noise < 0:
            raise ValueError(f"S_churn and S_noise must be >= 0; got {self.S_churn}, {self.S_noise}")
        if not 0 <= self.guidance_sigma_min < self.guidance_sigma_max:
            raise ValueError("the guidance interval needs 0 <= guidance_sigma_min < guidance_sigma_max; got "
                             f"({self.guidance_sigma_min}, {self.guidance_sigma_max}]")


def _check_solver(solver: str, S_churn: float) -> None:
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    if solver != "heun" and S_churn > 0:
        raise ValueError(f"S_churn > 0 (stochastic sampling) needs solver='heun'; got {solver!r}")


def karras_sigmas(num_steps: int = 25, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                  dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """The Karras et al. (2022, Eq. 5) noise levels with a final 0: (num_steps + 1,).

    ``sigma_i = (sigma_max^(1/rho) + i / (N - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho``.
    Computed in ``dtype`` (``torch.float32`` reproduces the tqdne reference exactly).

    >>> karras_sigmas(3, 0.002, 80.0, 7.0).tolist()[0], karras_sigmas(3).tolist()[-1]
    (80.0, 0.0)
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1; got {num_steps}")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max; got {sigma_min}, {sigma_max}")
    if rho <= 0:
        raise ValueError(f"rho must be > 0; got {rho}")
    step = torch.arange(num_steps, dtype=dtype, device=device)
    denom = max(num_steps - 1, 1)
    sigmas = (sigma_max ** (1 / rho) + step / denom * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([sigmas, torch.zeros_like(sigmas[:1])])


@torch.no_grad()
def edm_sampler(net: Callable, latents: torch.Tensor, cond: torch.Tensor | None = None, num_steps: int = 25,
                sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0, S_churn: float = 0.0,
                S_min: float = 0.0, S_max: float = math.inf, S_noise: float = 1.0, guidance: float = 1.0,
                randn_like: Callable[[torch.Tensor], torch.Tensor] = torch.randn_like,
                dtype: torch.dtype = torch.float64, sigmas: torch.Tensor | None = None,
                callback: Callable[[int], None] | None = None, solver: str = "heun",
                guidance_interval: tuple[float, float] = (0.0, math.inf)) -> torch.Tensor:
    """Sample with Heun's second-order method (deterministic for ``S_churn=0``) or DPM-Solver++(2M).

    Parameters
    ----------
    net : denoiser ``net(x, sigma, cond) -> D(x; sigma)`` (an :class:`EDMPrecond`).
    latents : (B, C, ...) standard normal initial noise; it is scaled by the first sigma.
    cond : (B, F) conditioning, or None (unconditional / null embedding).
    num_steps, sigma_min, sigma_max, rho : Karras schedule (ignored when ``sigmas`` is given).
    S_churn, S_min, S_max, S_noise : stochasticity (Karras et al. Algorithm 2); the noise level is
        raised by ``gamma = min(S_churn / N, sqrt(2) - 1)`` while ``S_min <= sigma <= S_max``.
    guidance : classifier-free guidance scale w; ``D = D(x; None) + w (D(x; cond) - D(x; None))``.
        1 evaluates the conditional denoiser only.
    guidance_interval : (lo, hi): guide only at noise levels ``lo < sigma <= hi`` and evaluate the
        conditional denoiser alone elsewhere (Kynkaanniemi et al. 2024, "Applying guidance in a
        limited interval improves sample and distribution quality in diffusion models"): most of
        guidance's effect at a fraction of its cost. Default: every step.
    randn_like : noise source of the stochastic steps (``StackedRandomGenerator.randn_like`` for
        per-sample seeds).
    dtype : dtype of the sampler state (float64 as NVlabs/edm and the reference).
    sigmas : explicit decreasing noise levels ending in 0, (N + 1,); its dtype is kept, so
        ``karras_sigmas(..., dtype=torch.float32)`` reproduces the reference arithmetic.
    callback : called with the step index after every step (progress bars).
    solver : ``"heun"`` or ``"dpmpp2m"`` (deterministic; ``S_churn`` must be 0).

    Returns
    -------
    (B, C, ...) tensor of ``dtype``: the sample at sigma = 0.
    """
    if sigmas is None:
        sigmas = karras_sigmas(num_steps, sigma_min, sigma_max, rho, dtype=torch.float64, device=latents.device)
    else:
        sigmas = torch.as_tensor(sigmas, device=latents.device)
        if sigmas.ndim != 1 or len(sigmas) < 2 or float(sigmas[-1]) != 0:
            raise ValueError(f"sigmas must be a 1-D schedule ending in 0; got shape {tuple(sigmas.shape)}")
    if guidance != 1.0 and cond is None:
        raise ValueError("guidance != 1 needs a conditioning (cond is None)")
    _check_solver(solver, S_churn)
    n = len(sigmas) - 1
    batch = latents.shape[0]

    lo, hi = guidance_interval

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.to(torch.float32).repeat(batch)
        d = net(x.to(torch.float32), s, cond).to(dtype)
        if guidance != 1.0 and lo < float(sigma) <= hi:
            d_uncond = net(x.to(torch.float32), s, None).to(dtype)
            d = d_uncond + guidance * (d - d_uncond)
        return d

    if solver == "dpmpp2m":
        return _dpmpp_2m(denoise, latents.to(dtype) * sigmas[0], sigmas, callback)
    x_next = latents.to(dtype) * sigmas[0]
    for i, (t_cur, t_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        x_cur = x_next
        # Raise the noise level temporarily (stochastic sampler only).
        gamma = min(S_churn / n, math.sqrt(2) - 1) if S_churn > 0 and S_min <= float(t_cur) <= S_max else 0.0
        if gamma > 0:
            t_hat = t_cur + gamma * t_cur
            x_hat = x_cur + (t_hat**2 - t_cur**2).sqrt() * S_noise * randn_like(x_cur)
        else:
            t_hat, x_hat = t_cur, x_cur
        # Euler step.
        d_cur = (x_hat - denoise(x_hat, t_hat)) / t_hat
        x_next = x_hat + d_cur * (t_next - t_hat)
        # Second-order correction (not on the last step to sigma = 0).
        if i < n - 1:
            d_prime = (x_next - denoise(x_next, t_next)) / t_next
            x_next = x_hat + (t_next - t_hat) * (0.5 * d_cur + 0.5 * d_prime)
        if callback is not None:
            callback(i)
    return x_next


def _dpmpp_2m(denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
              sigmas: torch.Tensor, callback: Callable[[int], None] | None) -> torch.Tensor:
    """DPM-Solver++(2M) on the EDM ODE ``dx/dsigma = (x - D(x; sigma)) / sigma``.

    With ``lambda = -ln sigma`` and step ``h = lambda_next - lambda``, the exact solution is
    ``x_next = (sigma_next / sigma) x + (1 - e^-h) D``, integrated with ``D`` held at a linear
    extrapolation of the last two denoised estimates (Lu et al. 2022, Algorithm 2: ``r = h_prev / h``,
    ``D_eff = (1 + 1 / 2r) D_i - (1 / 2r) D_{i-1}``). The first step is first order (DPM-Solver++1,
    i.e. DDIM) and so is the last one, to sigma = 0, which returns the denoised estimate itself.
    """
    n = len(sigmas) - 1
    d_prev, h_prev = None, None
    for i in range(n):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        d = denoise(x, sigma)
        if float(sigma_next) == 0.0:
            x = d
        else:
            h = torch.log(sigma) - torch.log(sigma_next)
            d_eff = d
            if d_prev is not None:
                r = h_prev / h
                d_eff = (1 + 1 / (2 * r)) * d - (1 / (2 * r)) * d_prev
            x = (sigma_next / sigma) * x - torch.expm1(-h) * d_eff
            h_prev = h
        d_prev = d
        if callback is not None:
            callback(i)
    return x


def num_evaluations(num_steps: int, guidance: float = 1.0, solver: str = "heun",
                    sigmas: torch.Tensor | None = None, guidance_interval: tuple[float, float] = (0.0, math.inf)) -> int:
    """Denoiser evaluations of :func:`edm_sampler`: ``2 N - 1`` for Heun, ``N`` for DPM-Solver++(2M);
    with guidance, one more at each evaluated noise level inside ``guidance_interval`` (all of
    them when ``sigmas``, the schedule, is not given)."""
    per = 2 * num_steps - 1 if solver == "heun" else num_steps
    if guidance == 1.0:
        return per
    if sigmas is None:
        return 2 * per
    lo, hi = guidance_interval
    s = [float(x) for x in sigmas]
    levels = s[:-1] if solver != "heun" else s[:-1] + s[1:-1]  # Heun: Euler at t_cur, correction at t_next
    return per + sum(lo < x <= hi for x in levels)


class StackedRandomGenerator:
    """One torch generator per sample, stacked (NVlabs/edm ``generate.py``).

    ``randn((B, ...))`` draws row ``b`` from ``seeds[b]``'s own stream, so a sample depends on
    its seed only, not on its batch.

    >>> g = StackedRandomGenerator("cpu", [1, 2])
    >>> a = g.randn((2, 3))
    >>> bool(torch.equal(a[1], StackedRandomGenerator("cpu", [2]).randn((1, 3))[0]))
    True
    """

    def __init__(self, device: torch.device | str, seeds: Sequence[int]) -> None:
        self.device = torch.device(device)
        self.generators = []
        for s in seeds:
            s = int(s)
            if s < 0:
                raise ValueError(f"seeds must be non-negative; got {s}")
            self.generators.append(torch.Generator(self.device).manual_seed(s))

    def __len__(self) -> int:
        return len(self.generators)

    def _check(self, size: Sequence[int]) -> None:
        if size[0] != len(self.generators):
            raise ValueError(f"leading size {size[0]} != number of seeds {len(self.generators)}")

    def randn(self, size: Sequence[int], **kwargs) -> torch.Tensor:
        self._check(size)
        kwargs.setdefault("device", self.device)
        return torch.stack([torch.randn(tuple(size[1:]), generator=g, **kwargs) for g in self.generators])

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        return self.randn(x.shape, dtype=x.dtype, layout=x.layout, device=x.device)

    def rand(self, size: Sequence[int], **kwargs) -> torch.Tensor:
        self._check(size)
        kwargs.setdefault("device", self.device)
        return torch.stack([torch.rand(tuple(size[1:]), generator=g, **kwargs) for g in self.generators])

    def randint(self, *args, size: Sequence[int], **kwargs) -> torch.Tensor:
        self._check(size)
        kwargs.setdefault("device", self.device)
        return torch.stack([torch.randint(*args, size=tuple(size[1:]), generator=g, **kwargs)
                            for g in self.generators])
