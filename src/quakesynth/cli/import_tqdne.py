"""``quakesynth import-tqdne``: convert the published HighFEM (tqdne 0.2.2) checkpoints."""

from __future__ import annotations

import click


@click.command("import-tqdne")
@click.argument("edm", type=click.Path(exists=True, dir_okay=False))
@click.argument("autoencoder", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out", required=True, type=click.Path(),
              help="Model directory to write (config.json + vae.pt + edm.pt).")
@click.option("--weights", type=click.Choice(["raw", "ema"]), default="raw", show_default=True,
              help="raw: the checkpoints' state_dict (what the reference CLI generates with); "
                   "ema: their ema_state (exponential moving average of the weights).")
@click.option("--name", default=None, help="Model name recorded in config.json (default: the directory name).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def command(edm: str, autoencoder: str, out: str, weights: str, name: str | None, overwrite: bool) -> None:
    """Convert tqdne 0.2.2 Lightning checkpoints EDM and AUTOENCODER into a quakesynth model.

    The files are read with weights-only deserialisation; the pickled reference object in the
    EDM hyper-parameters is replaced by an inert stand-in, so no reference code is imported or
    run. The result loads with quakesynth.load_model(OUT) and `quakesynth generate --model OUT`,
    and reproduces the reference outputs for the same initial noise.

    \b
    Example:
      quakesynth import-tqdne edm.ckpt autoencoder.ckpt -o highfem-published
      quakesynth import-tqdne edm.ckpt autoencoder.ckpt -o highfem-ema --weights ema

    To download, verify and register the published archive as the named model `highfem`
    instead, use `quakesynth models pull highfem` (or `--archive tqdne-0.2.2.zip`).
    """
    from pathlib import Path

    from quakesynth._atomic import check_writable
    from quakesynth.modeldir import save_model_dir
    from quakesynth.models.tqdne_import import TQDNE_DESCRIPTION, convert_tqdne

    check_writable(out, overwrite)
    configs, state_dicts = convert_tqdne(edm, autoencoder, weights=weights)
    configs["name"] = name or Path(out).name
    configs["description"] = TQDNE_DESCRIPTION
    path = save_model_dir(out, configs, state_dicts, overwrite=overwrite)
    n_unet = sum(v.numel() for k, v in state_dicts["edm"].items() if not k.endswith(".W"))
    click.echo(f"wrote {path} ({weights} weights; U-Net {n_unet / 1e6:.2f} M parameters, "
               f"{configs['sampler']['num_steps']}-step sampler)")
