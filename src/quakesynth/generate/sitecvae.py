"""The site-specific conditional-VAE baseline as a :class:`~quakesynth.generate.Generator`.

One conditioning variable, ``station`` (:mod:`quakesynth.generate.station`); the network is
:mod:`quakesynth.models.cvae`::

    gen = quakesynth.load_model("runs/cvae/model")       # a "site_cvae" model directory
    rec = gen.generate(station="ST01", n=20, seed=0)     # Records (20, 3, T), m/s^2

CVAE sampling: ``z ~ N(0, I)`` decoded under the station label; the amplitude is
``exp(N(mu_s, sd_s))`` with the mean and sd of the station's training ln peaks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from quakesynth.generate.station import StationGenerator, _unit_peak, load_station_model


class CVAEGenerator(StationGenerator):
    """Spectrogram CVAE generator (module docstring)."""

    name = "site_cvae"
    description = "Conditional VAE on STFT amplitude/phase spectrograms, station-conditioned"
    default_batch_size = 64

    def __init__(self, config: dict[str, Any], states: dict[str, dict[str, torch.Tensor]],
                 name: str | None = None) -> None:
        from quakesynth.config import from_dict
        from quakesynth.models.cvae import CVAE, AmplitudePhaseSTFT, CVAEConfig

        self.config = config
        self.net_cfg = from_dict(CVAEConfig, config["cvae"])
        self.net = CVAE(self.net_cfg).eval()
        self.net.load_state_dict(states["cvae"])
        self.rep = AmplitudePhaseSTFT(self.net_cfg)
        self.ln_mu = states["amplitude"]["ln_peak_mean"].double().numpy()
        self.ln_sd = states["amplitude"]["ln_peak_std"].double().numpy()
        self.codes = list(config["stations"])
        w = config["waveform"]
        self.fs, self.components, self.n_samples = float(w["fs"]), str(w["components"]), int(w["n_samples"])
        if name:
            self.name = name

    @torch.no_grad()
    def _generate(self, cond: np.ndarray, seeds: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, dict]:
        station = cond[:, 0].astype(int)
        d = self.net_cfg.latent_dim
        z = np.empty((len(seeds), d), np.float32)
        amp = np.empty(len(seeds))
        for b, seed in enumerate(seeds):
            rng = np.random.default_rng([int(seed), 23])
            z[b] = rng.standard_normal(d)
            amp[b] = np.exp(self.ln_mu[station[b]] + self.ln_sd[station[b]] * rng.standard_normal())
        net = self.net.to(device)
        X = net.decode(torch.from_numpy(z).to(device), torch.from_numpy(station).to(device))
        x = self.rep.inverse(X.cpu()).double().numpy()
        return (_unit_peak(x) * amp[:, None, None]).astype(np.float32), {}  # normalised like the training records


def load_generator(path: str | Path, **kwargs: Any) -> CVAEGenerator:
    """A :class:`CVAEGenerator` from a ``"site_cvae"`` model directory or run folder."""
    return load_station_model(path, "site_cvae", CVAEGenerator, **kwargs)
