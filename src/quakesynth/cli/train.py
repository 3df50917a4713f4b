"""``quakesynth train``: train a HighFEM model (vae, edm, classifier) on a dataset."""

from __future__ import annotations

import click

from quakesynth.train.config import PRECISIONS

KINDS = ("vae", "edm", "classifier")
PRESETS = ("tiny", "small", "paper", "default")


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="Dataset store folder (splits train and dev).")
@click.option("--out", "-o", required=True, type=click.Path(), help="Run folder (new unless --resume).")
@click.option("--preset", type=click.Choice(PRESETS), default="small", show_default=True,
              help="Architecture and schedule preset (configs/train_<kind>_<preset>.yaml).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML file overlaid on the preset.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set train.max_steps=2000 (repeatable).")
@click.option("--vae", type=click.Path(exists=True),
              help="edm only: the trained VAE (model directory or `train vae` run folder).")
@click.option("--init", "init", type=click.Path(exists=True),
              help="Warm start: copy the matching weights (name and shape) of this model directory or run "
                   "folder, e.g. src/quakesynth/weights/default, into the network before training.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="Devices (processes); > 1 trains with DDP.")
@click.option("--accelerator", type=click.Choice(["cpu", "gpu", "auto"]), default="cpu", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Numeric precision (bf16-mixed / 16-mixed on GPUs); default from the preset.")
@click.option("--strategy", type=click.Choice(["ddp", "ddp_spawn"]), default=None,
              help="Multi-device strategy (default ddp when --devices > 1).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(kind: str, data: str, out: str, preset: str, config_file: str | None, overrides: tuple[str, ...],
            vae: str | None, init: str | None, resume: bool, devices: int, accelerator: str, precision: str | None,
            strategy: str | None, quiet: bool) -> None:
    """Train a VAE, a latent EDM or the evaluation classifier.

    Writes OUT/config.yaml (resolved configuration), OUT/checkpoints/last.ckpt (resumable),
    OUT/logs/metrics.csv (loss curves) and, at the end, OUT/model: a self-describing model
    directory. For edm it is a complete generator: `quakesynth generate --model OUT/model`.

    \b
    Example:
      quakesynth train vae --data corpus --preset small --out runs/vae
      quakesynth train edm --data corpus --preset small --vae runs/vae --out runs/edm
      quakesynth train edm --data corpus --vae runs/vae --out runs/edm --resume
      quakesynth train classifier --data corpus --out runs/clf --set train.max_steps=500
      quakesynth train vae --data corpus --preset default --init src/quakesynth/weights/default --out runs/vae-d
    """
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401 -- sets its loggers to INFO on import; quieten them after

    from quakesynth.train.run import train

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    overrides = tuple(overrides) + ((f"train.precision='{precision}'",) if precision else ())
    model_dir = train(kind, data, out, preset=preset, config=config_file, overrides=overrides, resume=resume,
                      devices=devices, accelerator=accelerator, strategy=strategy, vae=vae,
                      progress=not quiet, init=init)
    if model_dir is not None:
        click.echo(f"model written to {model_dir}", err=True)
