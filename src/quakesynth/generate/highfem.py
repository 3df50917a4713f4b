"""HighFEM generation: conditioning -> latent diffusion -> VAE decoder -> phase -> m/s^2.

:class:`HighFEMGenerator` implements :meth:`quakesynth.generate.Generator._generate` for any
HighFEM model directory (trained with ``quakesynth train edm`` or converted from the published
weights with ``quakesynth import-tqdne``):

1. normalise the scenario table with the model's stored conditioning statistics;
2. draw the initial latent noise from each waveform's own seed (:class:`StackedRandomGenerator`),
   so a waveform never depends on the batch it is generated in;
3. run the Heun sampler (:func:`edm_sampler`; steps, ``S_churn`` and guidance configurable);
4. decode the latents to log-spectrograms with the VAE decoder;
5. invert the representation to acceleration in m/s^2 by the model's ``phase_retrieval.method``:

   - ``"griffin-lim"`` (the paper's, and the default of a model without the section): undo the
     [-1, 1] log scaling -> |STFT|, then batched fast Griffin-Lim seeded per waveform; with
     ``phase_retrieval.speckle`` the STFT speckle that the decoder's conditional mean smooths
     away is put back first (:meth:`LogSpectrogram.add_speckle`);
   - ``"donor"``: a realisation of the stochastic simulator for the same scenario (its own seed,
     :func:`quakesynth.seeds.donor_seed`; the simulator configuration travels in the model's
     ``phase_retrieval.donor`` section) is reshaped to the decoded envelope smoothed over
     ``phase_retrieval.smooth`` bins (:meth:`LogSpectrogram.transfer_envelope`). The model gives
     the time-frequency envelope, the simulator the phase and speckle; no Griffin-Lim. This
     needs a model whose training records are aligned as the simulator's (P onset at
     ``waveform.p_onset_s``), as a model distilled from a simulator corpus is;
6. pad with zeros or crop to the model's ``n_samples``.

:func:`load_generator` opens a model directory, :func:`load_default` the model shipped in
``quakesynth/weights/default``; :mod:`quakesynth.generate.toy` builds random-weight models and
times every stage. The networks are in :mod:`quakesynth.models`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from quakesynth.generate.base import Generator
from quakesynth.models.amplitude import normalise_peaks, rescale_peaks, shape_features
from quakesynth.seeds import donor_seed, speckle_seed
from quakesynth.signal import fit_length

#: Where the package's default model lives (a model directory).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "weights" / "default"
PRECISIONS = ("float32", "bfloat16", "float16")
#: The phase-retrieval methods of ``phase_retrieval.method`` (see the module docstring).
PHASE_METHODS = ("griffin-lim", "donor")


class HighFEMGenerator(Generator):
    """A HighFEM latent-diffusion generator built from a model description and weights.

    Parameters
    ----------
    config : the model directory's ``config.json`` content (``"model": "highfem"``).
    states : state dicts: ``"vae"`` and the denoiser weights (``"edm"``; see ``weights``).
    weights : key of the denoiser weights to use (``"edm"``; ``"edm_raw"`` for the
        non-averaged weights of a quakesynth-trained model).
    num_steps, S_churn, S_min, S_max, S_noise, guidance, solver, guidance_sigma_min,
    guidance_sigma_max : override the model's sampler settings (``solver``: ``"heun"`` or
        ``"dpmpp2m"``; guidance only at noise levels in ``(guidance_sigma_min,
        guidance_sigma_max]``); see :mod:`quakesynth.diffusion.sampler`.
    gl_iters, gl_method, gl_momentum : Griffin-Lim iterations, ``"fgla"`` or ``"gla"``, momentum.
    speckle : put the speckle of a Gaussian process's STFT on the decoded log-spectrograms
        before Griffin-Lim (default: the model's ``phase_retrieval.speckle``, False if absent,
        as for the paper's models).
    phase : ``"griffin-lim"`` or ``"donor"`` (default: the model's ``phase_retrieval.method``,
        ``"griffin-lim"`` if absent); ``"donor"`` needs the model's ``phase_retrieval.donor``.
    precision : ``"float32"``; ``"bfloat16"`` / ``"float16"`` run the networks under autocast.
    channels_last : use the channels-last memory format for the convolutions.
    compile : ``torch.compile`` the denoiser and decoder (first call compiles).
    name : the generator's name in metadata (default: ``config["name"]`` or ``"highfem"``).
    net_chunk, decode_chunk : evaluate the denoiser / the decoder on this many waveforms at a
        time (results do not depend on it). Default: on CPUs 4 for the denoiser and 1 for the
        decoder, the fastest per waveform on the 2-core development machine (paper preset:
        U-Net 111 GFLOP/s at 4 against 97 at 32; decoder 0.23 s/waveform at 1 against 0.41 at
        32, whose activations leave the cache); on GPUs the whole batch.
    """

    default_batch_size = 32

    def __init__(self, config: Mapping[str, Any], states: Mapping[str, Mapping[str, torch.Tensor]],
                 weights: str = "edm", num_steps: int | None = None, S_churn: float | None = None,
                 S_min: float | None = None, S_max: float | None = None, S_noise: float | None = None,
                 guidance: float | None = None, solver: str | None = None, guidance_sigma_min: float | None = None,
                 guidance_sigma_max: float | None = None, gl_iters: int = 128, gl_method: str = "fgla",
                 gl_momentum: float = 0.99, speckle: bool | None = None, phase: str | None = None,
                 precision: str = "float32",
                 channels_last: bool = False,
                 compile: bool = False, name: str | None = None, net_chunk: int | None = None,
                 decode_chunk: int | None = None) -> None:
        import dataclasses

        from quakesynth.config import from_dict
        from quakesynth.diffusion.sampler import SamplerConfig
        from quakesynth.models.conditioning import Conditioning
        from quakesynth.models.edm import EDMConfig, EDMPrecond
        from quakesynth.models.unet import UNet, UNetConfig
        from quakesynth.models.vae import VAE, VAEConfig
        from quakesynth.repr.spectrogram import LogSpectrogram, SpectrogramConfig

        if config.get("model") != "highfem":
            raise ValueError(f"not a HighFEM generator model (model={config.get('model')!r})")
        for key in ("spectrogram", "vae", "unet", "edm", "conditioning", "waveform"):
            if key not in config:
                raise ValueError(f"HighFEM model config lacks {key!r}")
        if weights not in states:
            raise ValueError(f"weights {weights!r} not in the model (has {sorted(states)})")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
        if gl_iters < 0:
            raise ValueError(f"gl_iters must be >= 0; got {gl_iters}")

        self.config = dict(config)
        self.spectrogram = from_dict(SpectrogramConfig, config["spectrogram"])
        self.vae_config = from_dict(VAEConfig, config["vae"])
        self.unet_config = from_dict(UNetConfig, config["unet"])
        self.edm_config = from_dict(EDMConfig, config["edm"])
        sampler = from_dict(SamplerConfig, config.get("sampler") or {})
        changes = {k: v for k, v in dict(num_steps=num_steps, S_churn=S_churn, S_min=S_min, S_max=S_max,
                                          S_noise=S_noise, guidance=guidance, solver=solver,
                                          guidance_sigma_min=guidance_sigma_min,
                                          guidance_sigma_max=guidance_sigma_max).items()
                   if v is not None}
        self.sampler = dataclasses.replace(sampler, **changes)
        self.sigma_dtype = {"float32": torch.float32, "float64": torch.float64}[
            config.get("sampler_sigma_dtype", "float64")]
        self.conditioning = Conditioning.from_dict(config["conditioning"])
        if len(self.conditioning.variables) != self.unet_config.cond_features:
            raise ValueError(f"conditioning has {len(self.conditioning.variables)} variables but the "
                             f"U-Net expects {self.unet_config.cond_features}")
        wf = config["waveform"]
        self.variables = self.conditioning.variables
        self.ranges = dict(self.conditioning.ranges)
        self.fs = float(wf["fs"])
        self.components = str(wf["components"])
        self.n_samples = int(wf["n_samples"])
        if abs(self.fs - self.spectrogram.fs) > 1e-9:
            raise ValueError(f"waveform fs {self.fs} differs from the representation's {self.spectrogram.fs}")
        self.name = name or str(config.get("name", "highfem"))
        self.description = str(config.get("description", "HighFEM latent diffusion on log-spectrograms"))
        self.gl_iters, self.gl_method, self.gl_momentum = int(gl_iters), gl_method, float(gl_momentum)
        section = config.get("phase_retrieval") or {}
        self.speckle = bool(section.get("speckle", False) if speckle is None else speckle)
        self.phase = str(section.get("method", "griffin-lim") if phase is None else phase)
        if self.phase not in PHASE_METHODS:
            raise ValueError(f"phase must be one of {PHASE_METHODS}; got {self.phase!r}")
        self.envelope_smooth = tuple(int(k) for k in section.get("smooth", (5, 5)))
        self.donor = _donor_generator(section, self.variables) if self.phase == "donor" else None
        self.precision, self.channels_last = precision, bool(channels_last)

        self.rep = LogSpectrogram(self.spectrogram)
        self.vae = VAE(self.vae_config)
        self.vae.load_state_dict(states["vae"])
        self.net = EDMPrecond(UNet(self.unet_config), sigma_data=self.edm_config.sigma_data)
        self.net.load_state_dict(states[weights])
        for m in (self.vae, self.net):
            m.requires_grad_(False).eval()
        self.latent_shape = self.vae_config.latent_shape((self.vae_config.in_channels, *self.spectrogram.shape))
        self.device = torch.device("cpu")
        if self.channels_last:
            self._memory_format(torch.channels_last)
        for k, v in (("net_chunk", net_chunk), ("decode_chunk", decode_chunk)):
            if v is not None and v < 1:
                raise ValueError(f"{k} must be >= 1; got {v}")
        self.net_chunk, self.decode_chunk = net_chunk, decode_chunk
        self._net = torch.compile(self.net) if compile else self.net
        self._vae_decode = torch.compile(self.vae.decode) if compile else self.vae.decode
        self.amplitude = _amplitude_model(config, states)

    def _chunked(self, fn: Any, given: int | None, cpu_default: int, *tensors: torch.Tensor | None) -> torch.Tensor:
        """``fn(*tensors)`` evaluated on exactly ``k`` waveforms at a time (``k = given``; default
        ``cpu_default`` on CPUs, :attr:`default_batch_size` on GPUs); the last group is padded
        with copies of its last waveform, whose outputs are dropped; ``None`` arguments pass
        through. Every waveform thus goes through kernels of the same shapes, whatever the batch
        it arrives in; with the networks' position-invariant linear layers
        (:class:`~quakesynth.models.layers.RowLinear`) its results are bitwise independent of the
        batch size and of its position in a chunk on one device."""
        k = given if given is not None else (cpu_default if self.device.type == "cpu" else self.default_batch_size)
        n, out = len(tensors[0]), []
        for i in range(0, n, k):
            m = min(k, n - i)
            part = [t if t is None or t.ndim == 0 else _pad_rows(t[i:i + m], k) for t in tensors]
            out.append(fn(*part)[:m])
        return out[0] if len(out) == 1 else torch.cat(out)

    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return self._chunked(self._net, self.net_chunk, 4, x, sigma, cond)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._chunked(self._vae_decode, self.decode_chunk, 1, z)

    # -- device / memory format ------------------------------------------------------------
    def to(self, device: str | torch.device) -> HighFEMGenerator:
        """Move the networks to ``device``; returns self."""
        device = torch.device(device)
        if device != self.device:
            self.vae.to(device)
            self.net.to(device)
            self.device = device
        return self

    def _memory_format(self, fmt: torch.memory_format) -> None:
        if self.vae_config.dims == 2:
            self.vae.to(memory_format=fmt)
            self.net.to(memory_format=fmt)

    def _autocast(self):
        if self.precision == "float32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # -- the stages --------------------------------------------------------------------------
    def normalise(self, cond: np.ndarray) -> torch.Tensor:
        """Normalised conditioning (B, V) on the generator's device from a physical table."""
        return torch.from_numpy(self.conditioning(np.asarray(cond, dtype=np.float64))).to(self.device)

    @torch.inference_mode()
    def sample_latents(self, c: torch.Tensor, seeds: np.ndarray | list[int],
                       noise: torch.Tensor | None = None) -> torch.Tensor:
        """Latents (B, C_z, H, W) from normalised conditioning ``c`` (B, V), one seed per sample.

        ``noise`` (B, C_z, H, W), standard normal, replaces the seeded initial noise (the seeds
        still drive the stochastic sampler); it is scaled by ``sigma_max`` inside the sampler.
        """
        from quakesynth.diffusion.sampler import StackedRandomGenerator, edm_sampler, karras_sigmas

        s, e = self.sampler, self.edm_config
        rnd = StackedRandomGenerator(self.device, [int(x) for x in seeds])
        if noise is None:
            latents = rnd.randn((len(seeds), *self.latent_shape), dtype=torch.float32)
        else:
            if tuple(noise.shape) != (len(seeds), *self.latent_shape):
                raise ValueError(f"noise must have shape {(len(seeds), *self.latent_shape)}; got {tuple(noise.shape)}")
            latents = noise.to(self.device)
        if self.channels_last and latents.ndim == 4:
            latents = latents.contiguous(memory_format=torch.channels_last)
        sigmas = karras_sigmas(s.num_steps, e.sigma_min, e.sigma_max, e.rho, dtype=self.sigma_dtype,
                               device=self.device)
        with self._autocast():
            return edm_sampler(self._denoise, latents, c, sigmas=sigmas, S_churn=s.S_churn, S_min=s.S_min,
                               S_max=s.S_max, S_noise=s.S_noise, guidance=s.guidance,
                               guidance_interval=(s.guidance_sigma_min, s.guidance_sigma_max),
                               randn_like=rnd.randn_like, solver=s.solver).to(torch.float32)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Representations (B, C, F, T) in [-1, 1] (approximately) from latents."""
        if self.channels_last and z.ndim == 4:
            z = z.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            return self._decode(z.to(self.device, torch.float32)).float().contiguous()

    @torch.inference_mode()
    def invert(self, spec: torch.Tensor, seeds: np.ndarray | list[int], speckle: bool | None = None,
               scenario: np.ndarray | None = None) -> torch.Tensor:
        """Acceleration (B, C, n_samples of the representation), m/s^2, from decoded
        representations (B, C, F, T), by :attr:`phase`:

        - ``"griffin-lim"``: the speckle put back when ``speckle`` (default :attr:`speckle`;
          pass False for the spectrogram of a real record, which has its own) is set, seeded
          per waveform by :func:`quakesynth.seeds.speckle_seed`; then Griffin-Lim seeded per
          waveform (the inverse of the representation's log scaling is part of it);
        - ``"donor"``: each waveform's donor (:meth:`donors`, needs ``scenario``: (B, V) in
          physical units, the order of :attr:`variables`) given the envelope of ``spec``
          (:meth:`LogSpectrogram.transfer_envelope`); ``speckle`` is ignored (the donor has its
          own).
        """
        if self.phase == "donor":
            if scenario is None:
                raise ValueError("phase retrieval 'donor' needs each waveform's scenario (scenario=...)")
            donor = self.donors(scenario, seeds)
            return self.rep.transfer_envelope(spec, donor.to(spec.device), self.envelope_smooth)
        if self.speckle if speckle is None else speckle:
            spec = self.rep.add_speckle(spec, [speckle_seed(int(s)) for s in seeds])
        return self.rep.inverse(spec, n_iter=self.gl_iters, method=self.gl_method, momentum=self.gl_momentum,
                                seed=[int(s) for s in seeds])

    def donors(self, scenario: np.ndarray, seeds: np.ndarray | list[int]) -> torch.Tensor:
        """The donor waveforms (B, C, n_samples of the representation), float64: one simulator
        realisation per waveform of its scenario (B, V; physical units, order of
        :attr:`variables`), seeded by :func:`quakesynth.seeds.donor_seed` of its seed, in the
        model's components; peak-normalised per component as the model's shapes are when the
        model has the explicit amplitude path, in m/s^2 otherwise."""
        if self.donor is None:
            raise ValueError(f"model {self.name!r} has no donor simulator (phase_retrieval.method is {self.phase!r})")
        cond = np.asarray(scenario, dtype=np.float64).reshape(len(seeds), len(self.variables))
        col = dict(zip(self.variables, cond.T))
        table = np.stack([col.get(v, np.full(len(cond), np.nan)) for v in self.donor.variables], axis=1)
        data, _ = self.donor._generate(table, np.array([donor_seed(int(s)) for s in seeds], dtype=np.int64))
        data = data[:, [self.donor.components.index(c) for c in self.components]]
        data = fit_length(data, self.spectrogram.n_samples, dtype=np.float64)
        if self.amplitude is not None:
            data = normalise_peaks(data, float(self.config["amplitude"]["reference"]))[0]
        return torch.from_numpy(np.ascontiguousarray(data))

    def fit_length(self, wave: np.ndarray) -> np.ndarray:
        """Zero-pad at the end or crop to the model's ``n_samples`` (float32)."""
        return wave if wave.shape[-1] == self.n_samples else fit_length(wave, self.n_samples)

    def _generate(self, cond: np.ndarray, seeds: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, dict]:
        """Acceleration (B, C, n_samples) in m/s^2; no per-record metadata beyond the shared one."""
        self.to(device)
        c = self.normalise(cond)
        wave = self.invert(self.decode(self.sample_latents(c, seeds)), seeds, scenario=cond)
        if self.amplitude is not None:  # explicit amplitude path: peaks drawn per waveform seed
            shape = None  # a shape-aware amplitude model also sees the generated shape's own features
            if self.amplitude.shape_features:
                shape = torch.from_numpy(shape_features(wave.detach().cpu().numpy(), self.spectrogram.fs,
                                                        self.amplitude.shape_kind))
            log_peak = self.amplitude.sample(c.cpu(), [int(s) for s in seeds], shape)
            wave = rescale_peaks(wave, log_peak.to(wave.device))
        return self.fit_length(wave.detach().cpu().numpy().astype(np.float32)), {}

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.update({"sampler": {k: getattr(self.sampler, k) for k in ("solver", "num_steps", "S_churn", "guidance",
                                                                      "guidance_sigma_min", "guidance_sigma_max")},
                    "phase_retrieval": ({"method": "donor", "smooth": list(self.envelope_smooth),
                                         "simulator": self.donor.preset} if self.donor is not None else
                                        {"method": "griffin-lim", "iterations": self.gl_iters,
                                         "gl_method": self.gl_method, "speckle": self.speckle}),
                    "provenance": self.config.get("provenance", {})})
        return out


def _donor_generator(section: Mapping[str, Any], variables: tuple[str, ...]):
    """The stochastic simulator of ``phase_retrieval.donor``: ``simulator`` (a full simulator
    configuration, as the corpus's ``simulator.yaml`` holds it, or a preset name), ``preset``
    (its name, for the record), ``event_term`` and ``site_resonance`` (True for a corpus's own
    distribution; see :class:`~quakesynth.generate.stochastic.StochasticGenerator`)."""
    from quakesynth.generate.stochastic import StochasticGenerator

    donor = section.get("donor")
    if not isinstance(donor, Mapping) or "simulator" not in donor:
        raise ValueError("phase_retrieval.method 'donor' needs phase_retrieval.donor.simulator "
                         "(a simulator configuration or preset name)")
    missing = [v for v in ("magnitude", "distance", "vs30", "depth") if v not in variables]
    if missing:
        raise ValueError(f"phase retrieval 'donor' needs a model conditioned on magnitude, distance, vs30 and "
                         f"depth; this one lacks {missing}")
    sim = donor["simulator"]
    gen = StochasticGenerator(config=sim if isinstance(sim, Mapping) else None,
                              preset=sim if isinstance(sim, str) else None,
                              event_term=bool(donor.get("event_term", True)),
                              site_resonance=bool(donor.get("site_resonance", True)))
    gen.preset = str(donor.get("preset", gen.preset))
    return gen


def _pad_rows(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t`` (m, ...) padded to (k, ...) with copies of its last row."""
    return t if len(t) == k else torch.cat([t, t[-1:].expand(k - len(t), *t.shape[1:])])


def _amplitude_model(config: Mapping[str, Any], states: Mapping[str, Mapping[str, torch.Tensor]]):
    """The amplitude model of a model with ``amplitude.mode = "peak"`` (None for mode "none":
    the paper's amplitude-in-the-spectrogram design); see :mod:`quakesynth.models.amplitude`."""
    from quakesynth.models.amplitude import load_amplitude_model

    section = config.get("amplitude") or {"mode": "none"}
    if section.get("mode", "none") == "none":
        return None
    if section["mode"] != "peak" or "amplitude" not in states:
        raise ValueError(f"amplitude mode {section['mode']!r} needs 'peak' and the 'amplitude' weights "
                         f"(has {sorted(states)}); retrain with quakesynth train edm")
    return load_amplitude_model(section, states["amplitude"])


def load_generator(path: str | Path, weights: str = "ema", **kwargs: Any) -> HighFEMGenerator:
    """A :class:`HighFEMGenerator` from a model directory (or a ``train edm`` run folder).

    ``weights``: ``"ema"`` (the averaged weights stored under ``edm``; for imported tqdne models
    whatever was chosen at import) or ``"raw"`` (``edm_raw``, the last optimiser weights of a
    quakesynth-trained model). Other keyword arguments go to :class:`HighFEMGenerator`.
    """
    from quakesynth.modeldir import load_model_dir, resolve_model_dir

    p = resolve_model_dir(path)
    if weights not in ("ema", "raw"):
        raise ValueError(f"weights must be 'ema' or 'raw'; got {weights!r}")
    config, states = load_model_dir(p, kind="highfem")
    key = "edm" if weights == "ema" else "edm_raw"
    if key not in states:
        raise ValueError(f"{str(path)!r} has no {weights!r} weights ({key!r}); it has {sorted(states)}")
    kwargs.setdefault("name", config.get("name") or p.resolve().name)
    return HighFEMGenerator(config, states, weights=key, **kwargs)


def load_default(**kwargs: Any) -> HighFEMGenerator:
    """The HighFEM model shipped with the package (``quakesynth/weights/default``)."""
    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        raise FileNotFoundError(
            "this quakesynth build ships no default HighFEM model (quakesynth/weights/default is "
            "empty); train one (quakesynth train vae / edm) or convert the published weights "
            "(quakesynth import-tqdne) and load it with quakesynth.load_model(PATH)")
    kwargs.setdefault("name", "default")
    return load_generator(DEFAULT_MODEL_DIR, **kwargs)
