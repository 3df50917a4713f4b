"""TimesNet-Gen (k-sample latent averaging) as a :class:`~quakesynth.generate.Generator`.

One conditioning variable, ``station`` (a station code of the training network,
:mod:`quakesynth.generate.station`); the network is :mod:`quakesynth.models.timesnet`::

    gen = quakesynth.load_model("runs/timesnet/model")   # a "timesnet_gen" model directory
    rec = gen.generate(station="ST01", n=20, seed=0)     # Records (20, 3, T), m/s^2

TimesNet-Gen sampling (arXiv 2512.04694), per waveform from its own seed:

1. draw ``k`` records (default 5; without replacement when the pool is large enough) from the
   station's pool of training latents ``z_i`` (encoded under the station label);
2. ``z = mean(z_i) + noise_scale * sigma_s * eps``, ``eps ~ N(0, I)``, with ``sigma_s`` the
   element-wise standard deviation of the station's latents (default ``noise_scale`` 0.1:
   the latent is a full-rate feature sequence, and element-wise noise at the station's full
   spread (1.0) decodes to white noise that hides the site resonance -- confusion-matrix NCC
   0.26 against 1.00 at 0.1 and 0.93 at 0.5, benchmarks/results/sitegen.md);
3. decode ``z`` under the station label, divide the decoded waveform by its own peak
   ``max_{c,t} |x_dec|`` and multiply by ``A = exp(mean(ln A_i))``, the geometric mean of the
   peak accelerations (m/s^2) of the k records drawn (**amplitude de-normalisation**): the
   generated peak acceleration is ``A`` exactly, for every k and noise scale. (Dividing by
   the decoded peak matters: the mean of k incoherent latents decodes to a waveform whose
   peak falls with k -- about 0.4 at k = 5 -- and assuming a decoded peak of 1 gave records
   3 times too weak; issue 19.)

``sampling``: ``"noise"`` (default, steps 1-3), ``"mean"`` (k-averaging without noise),
``"single"`` (k = 1, no noise: a re-decoded training latent). ``mode="zeroshot"`` uses the
phase-0 (never station-conditioned) network and unconditioned latents: the paper's zero-shot
variant, which needs only a record pool of the station -- :meth:`TimesNetGenerator.add_station`
adds a new station from its records that way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from quakesynth.generate.station import StationGenerator, _unit_peak, load_station_model

SAMPLINGS = ("noise", "mean", "single")
MODES = ("conditioned", "zeroshot")


class TimesNetGenerator(StationGenerator):
    """TimesNet-Gen generator (module docstring); ``k``, ``sampling``, ``noise_scale``,
    ``mode`` are attributes that may be changed between calls."""

    name = "timesnet_gen"
    description = "TimesNet-Gen: TimesNet autoencoder, station-conditioned, k-sample latent averaging"
    default_batch_size = 32

    def __init__(self, config: dict[str, Any], states: dict[str, dict[str, torch.Tensor]], k: int = 5,
                 sampling: str = "noise", noise_scale: float = 0.1, mode: str = "conditioned",
                 name: str | None = None) -> None:
        from quakesynth.config import from_dict
        from quakesynth.models.timesnet import TimesNetAE, TimesNetConfig

        self.config = config
        # model directories written before TimesNetConfig.upsample existed used interpolation
        self.net_cfg = from_dict(TimesNetConfig, {"upsample": "interpolate", **config["timesnet"]})
        self.net = TimesNetAE(self.net_cfg).eval()
        self.net.load_state_dict(states["timesnet"])
        self.net0 = TimesNetAE(self.net_cfg).eval()
        self.net0.load_state_dict(states.get("timesnet_pretrained", states["timesnet"]))
        pools = states["pools"]
        self.z = {"conditioned": pools["z_cond"].float(), "zeroshot": pools["z_zero"].float()}
        self.pool_station = pools["station"].long().numpy()
        self.pool_ln_peak = pools["ln_peak"].double().numpy()
        self.codes = list(config["stations"])
        w = config["waveform"]
        self.fs, self.components, self.n_samples = float(w["fs"]), str(w["components"]), int(w["n_samples"])
        self.k, self.sampling, self.noise_scale, self.mode = int(k), sampling, float(noise_scale), mode
        if name:
            self.name = name
        self._check_options()

    def _check_options(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1; got {self.k}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}; got {self.sampling!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {self.mode!r}")
        if self.noise_scale < 0:
            raise ValueError(f"noise_scale must be >= 0; got {self.noise_scale}")

    def add_station(self, code: str, records) -> None:
        """Add a station unseen in training from its records (zero-shot: unconditioned encoder
        and decoder; use with ``mode="zeroshot"``)."""
        from quakesynth.sitegen.data import station_pool
        from quakesynth.sitegen.export import encode_pool

        if code in self.codes:
            raise ValueError(f"station {code!r} already exists")
        rec = records.replace(metadata=records.metadata.assign(station_code=code))
        pool = station_pool(rec, [code], self.components, self.n_samples, fs=self.fs)
        z0 = encode_pool(self.net0, pool.wave, None)
        new = len(self.codes)
        self.codes = [*self.codes, code]
        self.z["zeroshot"] = torch.cat([self.z["zeroshot"], z0])
        # no conditioned latents exist for a new station: its rows are NaN there
        self.z["conditioned"] = torch.cat([self.z["conditioned"], torch.full_like(z0, float("nan"))])
        self.pool_station = np.concatenate([self.pool_station, np.full(len(z0), new)])
        self.pool_ln_peak = np.concatenate([self.pool_ln_peak, pool.ln_peak])

    def sample_latents(self, station: np.ndarray, seeds: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Latents (B, c_z, T_z) and amplitudes A (B,) in m/s^2 for station indices and seeds
        (steps 1-2 and the amplitude of step 3 of the module docstring)."""
        self._check_options()
        z_all = self.z[self.mode]
        k = 1 if self.sampling == "single" else self.k
        out, amp = [], np.empty(len(seeds))
        for b, (s, seed) in enumerate(zip(station.astype(int), seeds)):
            rows = np.flatnonzero(self.pool_station == s)
            if len(rows) == 0:
                raise ValueError(f"station {self.codes[s]!r} has no record pool")
            if self.mode == "conditioned" and s >= self.net_cfg.n_stations:
                raise ValueError(f"station {self.codes[s]!r} was added zero-shot; use mode='zeroshot'")
            rng = np.random.default_rng([int(seed), 17])
            pick = rng.choice(rows, size=k, replace=len(rows) < k)
            z = z_all[pick].mean(0)
            if self.sampling == "noise" and self.noise_scale > 0:
                sigma = z_all[rows].std(0, unbiased=len(rows) > 1) if len(rows) > 1 else torch.zeros_like(z)
                eps = torch.from_numpy(rng.standard_normal(z.shape).astype(np.float32))
                z = z + self.noise_scale * sigma * eps
            out.append(z)
            amp[b] = np.exp(self.pool_ln_peak[pick].mean())
        return torch.stack(out), amp

    @torch.no_grad()
    def _generate(self, cond: np.ndarray, seeds: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, dict]:
        station = cond[:, 0].astype(int)
        z, amp = self.sample_latents(station, seeds)
        if self.mode == "zeroshot":
            net, label = self.net0.to(device), None
        else:
            net, label = self.net.to(device), torch.from_numpy(station).to(device)
        x = net.decode(z.to(device), label).double().cpu().numpy()
        return (_unit_peak(x) * amp[:, None, None]).astype(np.float32), {}


def load_generator(path: str | Path, **kwargs: Any) -> TimesNetGenerator:
    """A :class:`TimesNetGenerator` from a ``"timesnet_gen"`` model directory or run folder;
    keyword arguments go to the generator (``k``, ``sampling``, ``noise_scale``, ``mode``)."""
    return load_station_model(path, "timesnet_gen", TimesNetGenerator, **kwargs)
