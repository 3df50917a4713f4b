"""Random-weight HighFEM models and the stage-by-stage generation benchmark
(``quakesynth bench``): :func:`random_model`, :func:`count_flops`, :func:`benchmark`.

Not a model family of its own: a HighFEM generator (:mod:`quakesynth.generate.highfem`) with
random weights and the architecture of a preset, so timings reflect real arithmetic.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from quakesynth.generate.highfem import HighFEMGenerator


def random_model(preset: str = "paper", seed: int = 0, cond_features: int = 5) -> tuple[dict, dict]:
    """(config, states) of a HighFEM generator with random weights and the architecture of a
    preset (``configs/highfem_<preset>.yaml``: ``tiny``, ``small``, ``paper``); every parameter, including the ones
    initialised to zero, is random, so timings reflect real arithmetic."""
    import dataclasses

    from quakesynth.config import from_dict, highfem_preset, to_dict
    from quakesynth.diffusion.sampler import SamplerConfig
    from quakesynth.models.conditioning import TQDNE_VARIABLES
    from quakesynth.models.edm import EDMConfig, EDMPrecond
    from quakesynth.models.unet import UNet, UNetConfig
    from quakesynth.models.vae import VAE, VAEConfig
    from quakesynth.repr.spectrogram import SpectrogramConfig

    arch = highfem_preset(preset)
    spec, vae_cfg = from_dict(SpectrogramConfig, arch["spectrogram"]), from_dict(VAEConfig, arch["vae"])
    edm_cfg, sampler = from_dict(EDMConfig, arch["edm"]), from_dict(SamplerConfig, arch["sampler"])
    lat = vae_cfg.latent_shape((vae_cfg.in_channels, *spec.shape))
    unet_cfg = dataclasses.replace(from_dict(UNetConfig, arch["unet"]), in_channels=lat[0], out_channels=lat[0],
                                   cond_features=cond_features)
    g = torch.Generator().manual_seed(seed)
    vae, net = VAE(vae_cfg), EDMPrecond(UNet(unet_cfg), edm_cfg.sigma_data)
    with torch.no_grad():
        for m in (vae, net):
            for p in m.parameters():
                if not p.abs().sum():
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    variables = TQDNE_VARIABLES[:cond_features]
    config = {"model": "highfem", "name": f"random-{preset}", "spectrogram": to_dict(spec),
              "vae": to_dict(vae_cfg), "unet": to_dict(unet_cfg), "edm": to_dict(edm_cfg),
              "sampler": to_dict(sampler), "sampler_sigma_dtype": "float64",
              "conditioning": {"variables": list(variables), "transforms": ["none"] * len(variables),
                               "shift": [0.0] * len(variables), "scale": [1.0] * len(variables),
                               "ranges": {}, "normalisation": "fixed"},
              "waveform": {"fs": spec.fs, "components": "ZNE"[:vae_cfg.in_channels] if vae_cfg.in_channels <= 3 else "ZNE",
                           "n_samples": spec.n_samples, "quantity": "acceleration", "unit": "m/s^2"},
              "provenance": {"source": f"random weights, seed {seed}"}}
    return config, {"vae": vae.state_dict(), "edm": net.state_dict()}


def count_flops(fn, *args: Any) -> int:
    """Floating-point operations (multiply and add counted separately) of ``fn(*args)``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn(*args)
    return int(counter.get_total_flops())


def benchmark(preset: str = "paper", batch_size: int = 1, num_steps: int = 25, device: str = "cpu",
              gl_iters: int = 128, repeats: int = 1, warmup: bool = True, threads: int | None = None,
              **generator_kwargs: Any) -> dict[str, Any]:
    """Seconds per waveform of each generation stage with random weights.

    Returns a dict with ``sampling``, ``decoding``, ``phase_retrieval`` and ``end_to_end``
    (seconds per waveform, best of ``repeats``), ``gflop_per_waveform`` (denoiser evaluations
    + decoder, FlopCounterMode), ``gflops`` (GFLOP/s achieved over sampling + decoding),
    ``unet_gflop`` (one denoiser evaluation of one waveform), ``decoder_gflop``, the number of
    denoiser evaluations and the settings.
    """
    from quakesynth.diffusion.sampler import karras_sigmas, num_evaluations

    if threads:
        torch.set_num_threads(int(threads))
    config, states = random_model(preset)
    gen = HighFEMGenerator(config, states, num_steps=num_steps, gl_iters=gl_iters, **generator_kwargs).to(device)
    rng = np.random.default_rng(0)
    seeds = rng.integers(0, 2**62, size=batch_size)
    c = torch.zeros(batch_size, len(gen.variables), device=gen.device)

    z1 = torch.randn(1, *gen.latent_shape, device=gen.device)
    unet_flops = count_flops(lambda x: gen.net(x, torch.ones(1, device=gen.device), c[:1]), z1)
    dec_flops = count_flops(gen.vae.decode, z1)
    sm = gen.sampler
    sigmas = karras_sigmas(sm.num_steps, gen.edm_config.sigma_min, gen.edm_config.sigma_max, gen.edm_config.rho)
    nfe = num_evaluations(sm.num_steps, sm.guidance, sm.solver, sigmas, (sm.guidance_sigma_min, sm.guidance_sigma_max))

    def sync() -> None:
        if gen.device.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn, *args):
        sync()
        t0 = time.perf_counter()
        out = fn(*args)
        sync()
        return time.perf_counter() - t0, out

    import warnings

    warnings.filterwarnings("ignore", message="representation values up to")  # random weights
    if warmup:  # one cheap untimed pass (allocations, oneDNN primitive caches, compilation)
        import dataclasses

        full, gen.sampler = gen.sampler, dataclasses.replace(gen.sampler, num_steps=1)
        gen.invert(gen.decode(gen.sample_latents(c[:1], seeds[:1])), seeds[:1])
        gen.sampler = full
    best: dict[str, float] = {}
    for _ in range(max(1, repeats)):
        t_s, z = timed(gen.sample_latents, c, seeds)
        t_d, spec = timed(gen.decode, z)
        t_g, _ = timed(gen.invert, spec, seeds)
        t_e, _ = timed(gen._generate, np.zeros((batch_size, len(gen.variables))), seeds, device)
        for k, t in (("sampling", t_s), ("decoding", t_d), ("phase_retrieval", t_g), ("end_to_end", t_e)):
            best[k] = min(best.get(k, np.inf), t / batch_size)
    flops_per_wf = nfe * unet_flops + dec_flops
    return {
        "preset": preset, "batch_size": batch_size, "solver": gen.sampler.solver,
        "num_steps": gen.sampler.num_steps, "evaluations": nfe,
        "device": str(gen.device), "threads": torch.get_num_threads(), "gl_iters": gl_iters,
        "gl_method": gen.gl_method, "precision": gen.precision, "channels_last": gen.channels_last,
        "unet_params_M": sum(p.numel() for p in gen.net.parameters()) / 1e6,
        "unet_gflop": unet_flops / 1e9, "decoder_gflop": dec_flops / 1e9,
        "gflop_per_waveform": flops_per_wf / 1e9,
        **best,
        "gflops": flops_per_wf / 1e9 / (best["sampling"] + best["decoding"]),
    }
