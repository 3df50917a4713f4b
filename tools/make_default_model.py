"""Turn a trained HighFEM model directory into the package's shipped ``default`` model.

Keeps the VAE, the EMA denoiser weights and, for models with the explicit amplitude path
(``amplitude.mode: peak``), the amplitude model (the non-averaged ``edm_raw`` copy is dropped to
halve the size; ``--amplitude-data STORE`` refits the amplitude model first), names the model ``default``, records the training commands and sets the
sampler chosen with ``benchmarks/bench_highfem.py fd-check`` (docs/model_card_default.md)::

    python tools/make_default_model.py runs/edm-default/model src/quakesynth/weights/default \
        --solver dpmpp2m --steps 10 --description "..."

``--speckle on`` makes the model put the STFT speckle back on its decoded log-spectrograms
before Griffin-Lim (``phase_retrieval.speckle``; :meth:`LogSpectrogram.add_speckle`).

``--phase donor --donor-simulator bssa14`` replaces Griffin-Lim by the envelope transfer onto a
realisation of the stochastic simulator for the same scenario (``phase_retrieval.method:
donor``; :meth:`LogSpectrogram.transfer_envelope`). Name the simulator configuration the training
corpus was drawn with (a preset or the corpus's ``simulator.yaml``): its full configuration is
stored in the model, so later changes of the preset do not change the model.

``--decoder RUN/model`` takes the VAE decoder of a decoder-only fine-tune (``quakesynth train vae
--set vae_train.part=decoder``); its encoder must equal the model's, so the latent space the
denoiser learned is unchanged.
"""

from __future__ import annotations

import argparse

from quakesynth.modeldir import load_model_dir, save_model_dir

DESCRIPTION = ("HighFEM default (VAE {latent} latent + EDM U-Net {unet_m} M parameters) with the explicit "
               "amplitude path (peak-normalised shapes + a conditional Gaussian of the three log10 "
               "peaks given the scenario and scale-free features of each shape), trained on training-design "
               "stochastic-method corpora (uniform magnitudes, log-uniform distances); see docs/model_card_default.md")


def describe(template: str, config: dict, states: dict) -> str:
    """``template`` with ``{latent}`` (C x H x W of the VAE latent) and ``{unet_m}`` (millions of
    U-Net parameters, one decimal) filled in from the model itself; other text, braces included,
    is kept as it is."""
    from quakesynth.config import from_dict
    from quakesynth.models.vae import VAEConfig
    from quakesynth.repr.spectrogram import SpectrogramConfig

    vae = from_dict(VAEConfig, config["vae"])
    latent = "x".join(str(n) for n in vae.latent_shape((vae.in_channels, *from_dict(SpectrogramConfig, config["spectrogram"]).shape)))
    unet_m = sum(v.numel() for v in states["edm"].values() if v.is_floating_point()) / 1e6
    return template.replace("{latent}", latent).replace("{unet_m}", f"{unet_m:.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="trained model directory (RUN/model of `quakesynth train edm`)")
    p.add_argument("target", help="output model directory (replaced)")
    p.add_argument("--solver", choices=["heun", "dpmpp2m"], default="dpmpp2m")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default: keep)")
    p.add_argument("--description", default=DESCRIPTION, help="the model's one-paragraph description")
    p.add_argument("--amplitude-data", metavar="STORE",
                   help="refit the amplitude model (amplitude.mode: peak) on this dataset store's train split")
    p.add_argument("--amplitude-steps", type=int, default=None, help="AdamW steps of that refit (default 2000)")
    p.add_argument("--amplitude-shape", choices=("none", "pgv", "spectral"), default="none",
                   help="condition the refitted amplitude model on the shape's log10(PGV / PGA) (pgv) or on 8 "
                        "scale-free features per component (spectral; quakesynth.models.amplitude) (default none)")
    p.add_argument("--decoder", metavar="VAE_MODEL",
                   help="take the VAE decoder of this model directory (a decoder-only fine-tune of the same encoder)")
    p.add_argument("--guidance-interval", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="guide only at noise levels LO < sigma <= HI (default: keep)")
    p.add_argument("--speckle", choices=("on", "off"), default=None,
                   help="put the STFT speckle back on decoded spectrograms (phase_retrieval.speckle; default: keep)")
    p.add_argument("--phase", choices=("griffin-lim", "donor"), default=None,
                   help="phase retrieval (phase_retrieval.method; default: keep)")
    p.add_argument("--donor-simulator", metavar="PRESET_OR_YAML", default=None,
                   help="the simulator configuration of the training corpus (with --phase donor)")
    p.add_argument("--donor-smooth", type=int, nargs=2, metavar=("KF", "KT"), default=(5, 5),
                   help="envelope smoothing in frequency bins and frames (with --phase donor; default 5 5)")
    args = p.parse_args(argv)
    if (args.phase == "donor") != (args.donor_simulator is not None):
        p.error("--phase donor and --donor-simulator go together")
    config, states = load_model_dir(args.source)
    states = {k: v for k, v in states.items() if k in ("vae", "edm", "amplitude")}
    if config.get("model") != "highfem":
        raise SystemExit(f"{args.source!r} is not a HighFEM generator (model={config.get('model')!r})")
    if args.decoder:
        states["vae"] = swap_decoder(states["vae"], load_model_dir(args.decoder)[1]["vae"])
        config.setdefault("provenance", {})["vae_decoder"] = str(args.decoder)
    for key in ("format", "format_version", "quakesynth_version", "weights"):
        config.pop(key, None)
    config["name"] = "default"
    config["description"] = describe(args.description, config, states)
    config["sampler"] = {**config.get("sampler", {}), "solver": args.solver, "num_steps": args.steps}
    if args.guidance is not None:
        config["sampler"]["guidance"] = args.guidance
    if args.guidance_interval is not None:
        config["sampler"]["guidance_sigma_min"], config["sampler"]["guidance_sigma_max"] = args.guidance_interval
    if args.speckle is not None:
        config["phase_retrieval"] = {**config.get("phase_retrieval", {}), "speckle": args.speckle == "on"}
    if args.phase is not None:
        config["phase_retrieval"] = phase_section(args.phase, args.donor_simulator, args.donor_smooth,
                                                  config.get("phase_retrieval"))
    if args.amplitude_shape != "none" and not args.amplitude_data:
        p.error("--amplitude-shape needs --amplitude-data (the store to refit the amplitude model on)")
    if args.amplitude_data:
        import dataclasses

        from quakesynth.models.amplitude import AmplitudeConfig
        from quakesynth.train.recipes import refit_amplitude

        amp = AmplitudeConfig(shape=args.amplitude_shape)
        if args.amplitude_steps:
            amp = dataclasses.replace(amp, steps=args.amplitude_steps)
        config["amplitude"], states["amplitude"] = refit_amplitude(config, args.amplitude_data, amp)
    save_model_dir(args.target, config, states, overwrite=True)
    print(f"wrote {args.target} ({args.solver}, {args.steps} steps)")
    return 0


def phase_section(method: str, simulator: str | None, smooth, old: dict | None = None) -> dict:
    """The model's ``phase_retrieval`` section: Griffin-Lim (keeping ``old``'s speckle setting),
    or the donor method with the full configuration of ``simulator`` (a preset name or a
    ``simulator.yaml`` path, as ``quakesynth simulate`` writes it beside a corpus)."""
    import dataclasses
    from pathlib import Path

    import yaml

    from quakesynth.simulate.stochastic import load_config, preset_name

    if method == "griffin-lim":
        return {"method": method, "speckle": bool((old or {}).get("speckle", False))}
    path = Path(simulator)
    if path.is_file():
        raw = yaml.safe_load(path.read_text())
        cfg, preset = load_config(raw.get("simulator", raw)), str(path)
    else:
        cfg, preset = load_config(simulator), preset_name(simulator)
    return {"method": "donor", "smooth": [int(k) for k in smooth],
            "donor": {"preset": preset, "event_term": True, "site_resonance": True,
                      "simulator": dataclasses.asdict(cfg)}}


def swap_decoder(vae: dict, other: dict) -> dict:
    """The VAE state ``vae`` with the ``decoder.*`` tensors of ``other``; SystemExit unless the
    two share every encoder tensor exactly (the latent space must not move under the denoiser)."""
    import torch

    enc = sorted(k for k in vae if k.startswith("encoder."))
    if sorted(k for k in other if k.startswith("encoder.")) != enc or not enc:
        raise SystemExit("the decoder's VAE has a different encoder layout")
    if not all(torch.equal(vae[k], other[k]) for k in enc):
        raise SystemExit("the decoder's VAE has a different encoder: fine-tune it with vae_train.part=decoder from this model")
    dec = [k for k in vae if k.startswith("decoder.")]
    if sorted(dec) != sorted(k for k in other if k.startswith("decoder.")):
        raise SystemExit("the decoder's VAE has a different decoder layout")
    return {**vae, **{k: other[k].clone() for k in dec}}


if __name__ == "__main__":
    raise SystemExit(main())
