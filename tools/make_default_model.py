"""Turn a trained HighFEM model directory into the package's shipped ``default`` model.

Keeps the VAE and the EMA denoiser weights (the non-averaged ``edm_raw`` copy is dropped to
halve the size), names the model ``default``, records the training commands and sets the
sampler chosen with ``benchmarks/bench_highfem.py fd-check`` (docs/model_card_default.md)::

    python tools/make_default_model.py runs/edm-small/model src/quakesynth/weights/default \
        --solver dpmpp2m --steps 10
"""

from __future__ import annotations

import argparse

from quakesynth.models.checkpoint import load_model_dir, save_model_dir

DESCRIPTION = ("HighFEM small (VAE 8x32x32 latent + EDM U-Net 1.1 M parameters) trained on the "
               "20,000-record stochastic-method corpus `quakesynth simulate --events 2000 "
               "--stations-per-event 10 --seed 0`; see docs/model_card_default.md")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="trained model directory (RUN/model of `quakesynth train edm`)")
    p.add_argument("target", help="output model directory (replaced)")
    p.add_argument("--solver", choices=["heun", "dpmpp2m"], default="dpmpp2m")
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args(argv)
    config, states = load_model_dir(args.source, names=["vae", "edm"])
    if config.get("model") != "highfem":
        raise SystemExit(f"{args.source!r} is not a HighFEM generator (model={config.get('model')!r})")
    for key in ("format", "format_version", "quakesynth_version", "weights"):
        config.pop(key, None)
    config["name"] = "default"
    config["description"] = DESCRIPTION
    config["sampler"] = {**config.get("sampler", {}), "solver": args.solver, "num_steps": args.steps}
    save_model_dir(args.target, config, states, overwrite=True)
    print(f"wrote {args.target} ({args.solver}, {args.steps} steps)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
