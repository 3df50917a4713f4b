"""Read the published HighFEM checkpoints (tqdne 0.2.2 Lightning files) without their code.

``autoencoder.ckpt`` (``LightningAutoencoder``) and ``edm.ckpt`` (``LightningEDM``) are PyTorch
Lightning checkpoints. Their ``hyper_parameters`` hold the network configurations as plain
dicts, except ``hyper_parameters["edm"]``, a pickled instance of the reference class
``tqdne.edm.EDM``. We load them with ``torch.load(weights_only=True)`` and allow-list every
``tqdne.*`` global as an inert stand-in (:class:`InertObject`) that only records the pickled
state: no reference code is imported or executed, and any other non-tensor global is refused.

Weights: ``state_dict`` (what the reference command ``generate_waveforms.py`` loads; our
default) or ``ema_state`` (the EMA callback's copy). The reference CLI builds the EDM with the
autoencoder passed in and then loads the EDM file's full ``state_dict``, so the decoder it
uses is the copy embedded in ``edm.ckpt`` under ``autoencoder.*``; raw import takes that copy
too (and checks that it equals ``autoencoder.ckpt``'s).

Conditioning: the reference normalises (hypocentral distance, magnitude, vs30, hypocentre
depth, azimuthal gap) with statistics hard-coded in its generation script (computed over the
whole data set); they are reproduced in :data:`TQDNE_CONDITIONING` in physical units.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from quakesynth.diffusion.sampler import SamplerConfig
from quakesynth.models.edm import EDMConfig
from quakesynth.models.unet import UNetConfig
from quakesynth.models.vae import VAEConfig
from quakesynth.repr.spectrogram import SpectrogramConfig

#: Defaults of the reference class ``tqdne.edm.EDM`` (class attributes; the pickled instance
#: normally carries no state of its own).
TQDNE_EDM_DEFAULTS: dict[str, float] = {
    "sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0, "sigma_data": 0.5, "P_mean": -1.2, "P_std": 1.2,
    "S_churn": 40.0, "S_min": 0.05, "S_max": 50.0, "S_noise": 1.003,
}

#: Conditioning of the published model, in the reference's order, physical units. The
#: reference script multiplies km by 1e-3 and normalises with (0.10196523161124325,
#: 0.040784282611932066); the km values below are the same statistics times 1e3.
TQDNE_CONDITIONING: dict[str, Any] = {
    "variables": ["distance", "magnitude", "vs30", "depth", "gap"],
    "units": ["km", "", "m/s", "km", "deg"],
    "mean": [101.96523161124325, 4.730266447282116, 371.9033679970052, 39.06279937237003, 129.88750553380498],
    "std": [40.784282611932066, 0.6278049031313433, 214.68149233229866, 22.487259252475628, 89.67082312013503],
    # Validity ranges: magnitude and distance from the reference classifier's bins
    # (M 4-9.1, 0-200 km); the others are the mean +- 3 std of the statistics, clipped to
    # physical bounds. They are conservative guides, not the training-set extremes.
    "ranges": {"distance": [0.0, 200.0], "magnitude": [4.0, 9.1], "vs30": [60.0, 1016.0],
               "depth": [0.0, 106.5], "gap": [0.0, 360.0]},
    "source": "tqdne 0.2.2 scripts/generate_waveforms.py (statistics of the whole data set)",
}

#: ``config.json["description"]`` of a converted model (import-tqdne and models pull).
TQDNE_DESCRIPTION = "HighFEM latent diffusion, published tqdne 0.2.2 weights"

#: Waveform format of the published model: K-NET/KiK-net accelerograms at 100 Hz, 4064 samples.
TQDNE_WAVEFORM: dict[str, Any] = {"fs": 100.0, "components": "NEZ", "n_samples": 4064,
                                  "quantity": "acceleration", "unit": "m/s^2"}


class InertObject:
    """Stand-in for a pickled reference-class instance: keeps the state, has no behaviour."""

    _qualname = "?"
    # Unpickling creates instances with __new__ (no __init__): class-level defaults.
    args: tuple = ()
    kwargs: dict = {}
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def attributes(self) -> dict[str, Any]:
        """The pickled instance attributes (``{}`` when the class kept its defaults)."""
        if isinstance(self.state, dict):
            return dict(self.state)
        if isinstance(self.state, tuple) and len(self.state) == 2 and isinstance(self.state[0], dict | None):
            return {**(self.state[0] or {}), **(self.state[1] or {})}
        return {}

    def __repr__(self) -> str:
        return f"InertObject({self._qualname}, {self.attributes()})"


def _stand_in(qualname: str) -> type:
    return type(f"Inert_{qualname.replace('.', '_')}", (InertObject,), {"_qualname": qualname})


def safe_load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a tqdne Lightning checkpoint with weights-only deserialisation.

    Globals of the ``tqdne`` package become :class:`InertObject` stand-ins; any other global
    that ``torch.load(weights_only=True)`` does not allow raises ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} not found")
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as e:  # not a torch zip file
        raise ValueError(f"{str(path)!r} is not a PyTorch checkpoint: {e}") from e
    foreign = [g for g in unsafe if not g.startswith("tqdne.")]
    if foreign:
        raise ValueError(f"{str(path)!r} holds pickled globals outside tqdne that a weights-only load refuses: {foreign}")
    stand_ins = [(_stand_in(g), g) for g in unsafe]
    with torch.serialization.safe_globals(stand_ins):
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "hyper_parameters" not in ckpt:
        raise ValueError(f"{str(path)!r} is not a Lightning checkpoint (no state_dict / hyper_parameters)")
    return ckpt


def _tuple(v: Any) -> tuple:
    return tuple(v) if isinstance(v, list | tuple) else (v,)


def vae_config_from_tqdne(hp: dict[str, Any]) -> VAEConfig:
    """Our :class:`VAEConfig` from the autoencoder's ``hyper_parameters``."""
    enc, dec = dict(hp["encoder_config"]), dict(hp["decoder_config"])
    for key in ("model_channels", "channel_mult", "num_res_blocks", "attention_resolutions", "dims",
                "conv_kernel_size"):
        if key in enc and key in dec and _tuple(enc[key]) != _tuple(dec[key]):
            raise ValueError(f"tqdne autoencoder: encoder and decoder differ in {key} ({enc[key]} vs {dec[key]}); "
                             "only symmetric autoencoders are supported")
    if enc["out_channels"] != 2 * dec["in_channels"]:
        raise ValueError(f"tqdne autoencoder: encoder out_channels {enc['out_channels']} != 2 x latent "
                         f"channels {dec['in_channels']}")
    return VAEConfig(
        in_channels=int(enc["in_channels"]),
        model_channels=int(enc["model_channels"]),
        channel_mult=tuple(int(m) for m in enc["channel_mult"]),
        num_res_blocks=int(enc["num_res_blocks"]),
        attention_resolutions=tuple(int(a) for a in enc.get("attention_resolutions", ())),
        mid_attention=False,
        num_heads=int(enc.get("num_heads", 1)),
        latent_channels=int(dec["in_channels"]),
        kernel_size=int(enc.get("conv_kernel_size", 3)),
        dropout=float(enc.get("dropout", 0.0)),
        num_groups=32,
        dims=int(enc.get("dims", 2)),
        kl_weight=float(hp.get("kl_weight", 1e-6)),
    )


def unet_config_from_tqdne(hp: dict[str, Any]) -> UNetConfig:
    """Our :class:`UNetConfig` from the EDM's ``hyper_parameters["unet_config"]``."""
    u = dict(hp["unet_config"])
    if u.get("cond_emb_scale") is not None:
        raise ValueError("tqdne U-Nets with Fourier-embedded conditioning (cond_emb_scale) are not supported")
    if u.get("use_scale_shift_norm"):
        raise ValueError("tqdne U-Nets with use_scale_shift_norm are not supported")
    if u.get("use_causal_mask"):
        raise ValueError("tqdne U-Nets with a causal attention mask are not supported")
    if u.get("conv_resample") is False:
        raise ValueError("tqdne U-Nets without learned resampling (conv_resample=False) are not supported")
    return UNetConfig(
        in_channels=int(u["in_channels"]),
        out_channels=int(u["out_channels"]),
        model_channels=int(u["model_channels"]),
        channel_mult=tuple(int(m) for m in u.get("channel_mult", (1, 2, 4, 8))),
        num_res_blocks=int(u["num_res_blocks"]),
        attention_resolutions=tuple(int(a) for a in u.get("attention_resolutions", (8, 16, 32))),
        num_heads=int(u.get("num_heads", 1)),
        dropout=float(u.get("dropout", 0.0)),
        kernel_size=int(u.get("conv_kernel_size", 3)),
        num_groups=32,
        dims=int(u.get("dims", 2)),
        cond_features=int(u.get("cond_features") or 0),
        noise_embedding="fourier",
        fourier_scale=0.02,
        null_cond="zero",
    )


def edm_settings_from_tqdne(hp: dict[str, Any]) -> tuple[EDMConfig, dict[str, float]]:
    """EDM constants from the pickled ``tqdne.edm.EDM`` (inert) merged over its class defaults.

    Returns the :class:`EDMConfig` and the reference's stochastic-sampler constants
    (S_churn, S_min, S_max, S_noise).
    """
    values = dict(TQDNE_EDM_DEFAULTS)
    obj = hp.get("edm")
    if isinstance(obj, InertObject):
        values.update({k: float(v) for k, v in obj.attributes().items() if k in values})
    elif isinstance(obj, dict):
        values.update({k: float(v) for k, v in obj.items() if k in values})
    edm = EDMConfig(**{k: values[k] for k in ("sigma_min", "sigma_max", "rho", "sigma_data", "P_mean", "P_std")})
    return edm, {k: values[k] for k in ("S_churn", "S_min", "S_max", "S_noise")}


def _strip(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def convert_tqdne(edm_ckpt: str | Path, autoencoder_ckpt: str | Path, weights: str = "raw"
                  ) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """Convert the two reference checkpoints into our configs and state dicts.

    Parameters
    ----------
    edm_ckpt, autoencoder_ckpt : paths of ``edm.ckpt`` and ``autoencoder.ckpt``.
    weights : ``"raw"`` (``state_dict``, what the reference CLI uses) or ``"ema"``
        (``ema_state``).

    Returns
    -------
    (configs, state_dicts): ``configs`` is the JSON-able model description written to
    ``config.json`` (see :func:`quakesynth.modeldir.save_model_dir`);
    ``state_dicts`` maps ``"vae"`` to the :class:`~quakesynth.models.vae.VAE` state dict and
    ``"edm"`` to the :class:`~quakesynth.models.edm.EDMPrecond` (U-Net backbone) state dict.
    """
    from quakesynth.models.edm import EDMPrecond
    from quakesynth.models.unet import UNet
    from quakesynth.models.vae import VAE

    if weights not in ("raw", "ema"):
        raise ValueError(f"weights must be 'raw' or 'ema'; got {weights!r}")
    e = safe_load_checkpoint(edm_ckpt)
    a = safe_load_checkpoint(autoencoder_ckpt)
    e_hp, a_hp = dict(e["hyper_parameters"]), dict(a["hyper_parameters"])
    if "unet_config" not in e_hp:
        raise ValueError(f"{str(edm_ckpt)!r} is not a tqdne EDM checkpoint (no unet_config); did you swap EDM and AUTOENCODER?")
    if "encoder_config" not in a_hp:
        raise ValueError(f"{str(autoencoder_ckpt)!r} is not a tqdne autoencoder checkpoint (no encoder_config)")

    vae_cfg = vae_config_from_tqdne(a_hp)
    unet_cfg = unet_config_from_tqdne(e_hp)
    edm_cfg, churn = edm_settings_from_tqdne(e_hp)

    raw_unet = _strip(e["state_dict"], "unet.")
    embedded_ae = _strip(e["state_dict"], "autoencoder.")
    if weights == "raw":
        unet_sd = raw_unet
        vae_sd = embedded_ae or dict(a["state_dict"])
        if embedded_ae and set(embedded_ae) == set(a["state_dict"]):
            diff = max(float((embedded_ae[k].float() - a["state_dict"][k].float()).abs().max()) for k in embedded_ae)
            if diff > 0:
                warnings.warn(f"the autoencoder weights inside {str(edm_ckpt)!r} differ from {str(autoencoder_ckpt)!r} "
                              f"(max |diff| {diff:.3g}); using the EDM file's copy, as the reference CLI does",
                              stacklevel=2)
    else:
        if "ema_state" not in e or "ema_state" not in a:
            raise ValueError("weights='ema' but a checkpoint has no ema_state (trained without the EMA callback)")
        # Buffers and frozen parameters (the Fourier frequencies W) are not in the EMA.
        unet_sd = {**raw_unet, **_strip(e["ema_state"], "unet.")}
        vae_sd = {**dict(a["state_dict"]), **dict(a["ema_state"])}

    # Build our networks and load strictly: every name must map.
    vae = VAE(vae_cfg)
    _load_strict(vae, vae_sd, "autoencoder")
    net = EDMPrecond(UNet(unet_cfg), sigma_data=edm_cfg.sigma_data)
    _load_strict(net.backbone, unet_sd, "EDM U-Net")

    n_steps = int(e_hp.get("num_sampling_steps", 25))
    deterministic = bool(e_hp.get("deterministic_sampling", True))
    sampler = SamplerConfig(num_steps=n_steps, S_churn=0.0 if deterministic else churn["S_churn"],
                            S_min=churn["S_min"] if not deterministic else 0.0,
                            S_max=churn["S_max"] if not deterministic else math.inf,
                            S_noise=churn["S_noise"] if not deterministic else 1.0)
    configs: dict[str, Any] = {
        "model": "highfem",
        "spectrogram": asdict(SpectrogramConfig()),
        "vae": asdict(vae_cfg),
        "unet": asdict(unet_cfg),
        "edm": asdict(edm_cfg),
        "sampler": asdict(sampler),
        # The reference computes the Karras schedule in float32; keep that for exact outputs.
        "sampler_sigma_dtype": "float32",
        "conditioning": dict(TQDNE_CONDITIONING),
        "waveform": dict(TQDNE_WAVEFORM),
        "provenance": {
            "source": "tqdne 0.2.2 checkpoints (HighFEM)",
            "edm_checkpoint": Path(edm_ckpt).name,
            "autoencoder_checkpoint": Path(autoencoder_ckpt).name,
            "weights": "state_dict" if weights == "raw" else "ema_state",
            "reference_stochastic_sampler": churn,
            "lightning_version": str(e.get("pytorch-lightning_version", "")),
            "global_step": {"edm": int(e.get("global_step", -1)), "autoencoder": int(a.get("global_step", -1))},
        },
    }
    return configs, {"vae": vae.state_dict(), "edm": net.state_dict()}


def _load_strict(module: torch.nn.Module, sd: dict[str, torch.Tensor], what: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        raise ValueError(f"tqdne {what} weights do not match the architecture in its hyper_parameters: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    bad = [k for k in own if tuple(own[k].shape) != tuple(sd[k].shape)]
    if bad:
        raise ValueError(f"tqdne {what} weights: shape mismatch for {bad[:5]}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=True)
