"""Loading trained physics models for inference, without Lightning.

:class:`Surrogate` (a MIFNO model directory) and :func:`load_refiner` (a refiner model
directory) only need torch and the architectures; training lives in
:mod:`quakesynth.train`, which imports Lightning.
"""

from __future__ import annotations

import numpy as np
import torch

from quakesynth.models.fno import MIFNO, MIFNOConfig
from quakesynth.models.refiner import Refiner, RefinerConfig, to_patches
from quakesynth.physics.data import (
    Normalisation,
    denormalise_velocity,
    normalise_geology,
    source_inputs,
)


class Surrogate:
    """A loaded MIFNO model directory: ``predict(vs, source)`` in physical units."""

    def __init__(self, path, device: str = "cpu") -> None:
        from quakesynth.config import from_dict
        from quakesynth.modeldir import load_model_dir

        config, sd = load_model_dir(path, ["mifno"], map_location=device)
        if config.get("model") != "mifno":
            raise ValueError(f"{str(path)!r} is not a MIFNO model (model={config.get('model')!r})")
        self.config = config
        self.norm = from_dict(Normalisation, config["normalisation"])
        self.net = MIFNO(from_dict(MIFNOConfig, config["mifno"])).to(device).eval()
        self.net.load_state_dict(sd["mifno"])
        self.device = device
        self.fs = float(config["waveform"]["fs"])

    @torch.no_grad()
    def predict(self, vs: np.ndarray, source: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """(N, X, Y, Z) Vs m/s and (N, 6) source x, y, z (m), strike, dip, rake (deg) -> (N, 3, S, S, T)
        velocity, m/s."""
        g = normalise_geology(vs, self.norm)
        position, moment = source_inputs(source, self.norm)
        out = []
        for i in range(0, len(g), batch_size):
            b = slice(i, i + batch_size)
            p = self.net(*(torch.as_tensor(a[b], device=self.device) for a in (g, position, moment)))
            out.append(denormalise_velocity(p.cpu().numpy(), self.norm))
        return np.concatenate(out)


def surrogate_pairs(surrogate: Surrogate, corpus: dict, idx, patch: int = 1) -> dict[str, np.ndarray]:
    """Refiner pairs from the frozen surrogate: ``x`` truth, ``y`` prediction, (M, 3 k^2, T)."""
    idx = np.asarray(idx)
    y = surrogate.predict(corpus["vs"][idx], corpus["source"][idx])
    return {"x": to_patches(corpus["u"][idx].astype(np.float32), patch), "y": to_patches(y, patch)}


def load_refiner(path, device: str = "cpu") -> tuple[Refiner, dict]:
    """``(refiner in eval mode, config)`` from a refiner model directory."""
    from quakesynth.config import from_dict
    from quakesynth.modeldir import load_model_dir

    config, sd = load_model_dir(path, ["refiner"], map_location=device)
    if config.get("model") != "refiner":
        raise ValueError(f"{str(path)!r} is not a refiner model (model={config.get('model')!r})")
    ref = Refiner(from_dict(RefinerConfig, config["refiner"]), sigma_data=float(config["sigma_data"]))
    ref.load_state_dict(sd["refiner"])
    return ref.to(device).eval(), config
