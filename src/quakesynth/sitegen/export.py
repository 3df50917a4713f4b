"""Model directories of the site-specific generators (no Lightning import: generation-side).

TimesNet-Gen (``"model": "timesnet_gen"``): ``timesnet.pt`` (fine-tuned, station-conditioned
weights), ``timesnet_pretrained.pt`` (phase-0 weights, used by the zero-shot variant) and
``pools.pt``: the training records' latents ``z_cond`` (N, c_z, T_z) under their station
label and ``z_zero`` unconditioned with the phase-0 weights, ``station`` (N,) indices into
``config["stations"]`` and ``ln_peak`` (N,) ln of the peak acceleration in m/s^2.

CVAE (``"model": "site_cvae"``): ``cvae.pt`` and ``amplitude.pt`` (per-station mean and sd
of ln peak acceleration).

``config.json`` also holds the architecture, ``stations`` (codes in label order),
``waveform`` (fs, components, n_samples, quantity, unit, normalisation) and ``provenance``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from quakesynth.models.cvae import CVAEConfig
from quakesynth.models.timesnet import TimesNetConfig, TimesNetLossConfig


def _waveform(pool, n_samples: int) -> dict[str, Any]:
    return {"fs": pool.fs, "components": pool.components, "n_samples": n_samples,
            "quantity": "acceleration", "unit": "m/s^2",
            "normalisation": "x / max_{c,t}|x| per record; ln peak stored (quakesynth.sitegen.data)"}


@torch.no_grad()
def encode_pool(net, wave: np.ndarray, station: np.ndarray | None, batch_size: int = 64) -> torch.Tensor:
    """Latents (N, c_z, T_z) of normalised waveforms (N, C, T), station labels or None."""
    net.eval()
    out = []
    for a in range(0, len(wave), batch_size):
        x = torch.from_numpy(wave[a:a + batch_size])
        s = None if station is None else torch.from_numpy(station[a:a + batch_size])
        out.append(net.encode(x, s))
    return torch.cat(out)


def timesnet_model(name: str, net_cfg: TimesNetConfig, state: dict[str, torch.Tensor],
                   state0: dict[str, torch.Tensor], pool, loss: TimesNetLossConfig | None = None,
                   provenance: dict[str, Any] | None = None, encode_batch_size: int = 64) -> tuple[dict, dict]:
    """``(config.json dict, state dicts)`` of a TimesNet-Gen model named ``name``: fine-tuned
    (``state``) and pre-trained (``state0``) weights, and the pool's latents (conditioned with
    ``state``, unconditioned with ``state0``), station labels and ln peaks."""
    from quakesynth.config import to_dict
    from quakesynth.models.timesnet import TimesNetAE

    net, net0 = TimesNetAE(net_cfg), TimesNetAE(net_cfg)
    net.load_state_dict(state)
    net0.load_state_dict(state0)
    pools = {"z_cond": encode_pool(net, pool.wave, pool.station, encode_batch_size),
             "z_zero": encode_pool(net0, pool.wave, None, encode_batch_size),
             "station": torch.from_numpy(pool.station), "ln_peak": torch.from_numpy(pool.ln_peak)}
    configs = {"model": "timesnet_gen", "name": name, "timesnet": to_dict(net_cfg),
               "loss": to_dict(loss or TimesNetLossConfig()), "stations": pool.codes,
               "waveform": _waveform(pool, net_cfg.n_samples), "provenance": provenance or {}}
    return configs, {"timesnet": state, "timesnet_pretrained": state0, "pools": pools}


def save_timesnet(path: str | Path, net_cfg: TimesNetConfig, state: dict[str, torch.Tensor],
                  state0: dict[str, torch.Tensor], pool, loss: TimesNetLossConfig | None = None,
                  provenance: dict[str, Any] | None = None, encode_batch_size: int = 64,
                  overwrite: bool = False) -> Path:
    """Write a TimesNet-Gen model directory (:func:`timesnet_model`, named after the folder
    above ``path``)."""
    from quakesynth.modeldir import save_model_dir

    configs, states = timesnet_model(Path(path).resolve().parent.name, net_cfg, state, state0, pool, loss,
                                     provenance, encode_batch_size)
    return save_model_dir(path, configs, states, overwrite=overwrite)


def cvae_model(name: str, net_cfg: CVAEConfig, state: dict[str, torch.Tensor], pool,
               provenance: dict[str, Any] | None = None) -> tuple[dict, dict]:
    """``(config.json dict, state dicts)`` of a CVAE model named ``name``: weights and the
    per-station mean and sd of ln peak acceleration (ln m/s^2)."""
    from quakesynth.config import to_dict

    S = len(pool.codes)
    mu = np.array([pool.ln_peak[pool.station == s].mean() for s in range(S)])
    sd = np.array([pool.ln_peak[pool.station == s].std() if (pool.station == s).sum() > 1 else 0.0
                   for s in range(S)])
    configs = {"model": "site_cvae", "name": name, "cvae": to_dict(net_cfg),
               "stations": pool.codes, "waveform": _waveform(pool, net_cfg.n_samples),
               "provenance": provenance or {}}
    stats = {"ln_peak_mean": torch.from_numpy(mu), "ln_peak_std": torch.from_numpy(sd)}
    return configs, {"cvae": state, "amplitude": stats}


def save_cvae(path: str | Path, net_cfg: CVAEConfig, state: dict[str, torch.Tensor], pool,
              provenance: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write a CVAE model directory (:func:`cvae_model`, named after the folder above ``path``)."""
    from quakesynth.modeldir import save_model_dir

    configs, states = cvae_model(Path(path).resolve().parent.name, net_cfg, state, pool, provenance)
    return save_model_dir(path, configs, states, overwrite=overwrite)
