"""``quakesynth train KIND``: train any model kind (parse, then :func:`quakesynth.train.run.train`)."""

from __future__ import annotations

import click

from quakesynth.cli.main import threads_option
from quakesynth.train.config import KINDS, PRECISIONS, train_sections


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--data", "--corpus", "data", type=click.Path(file_okay=False),
              help="Dataset store (splits train, dev), or for surrogate and refiner the simulate-3d corpus "
                   "folder. Required unless --resume (then the saved one).")
@click.option("--out", "-o", required=True, type=click.Path(), help="Run folder (new unless --resume).")
@click.option("--preset", default=None,
              help="Preset [default: small]: tiny, small, paper, default for vae/edm/classifier "
                   "(configs/highfem_<p>.yaml + train_<kind>_<p>.yaml); for the others the suffix of "
                   "configs/fno_<p> (surrogate), refiner_<p>, refiner_broadband_<p>, timesnet_<p> "
                   "(timesnet, site-cvae), the full preset name, or a YAML file.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML file overlaid on the preset.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set train.max_steps=2000 (repeatable).")
@click.option("--vae", type=click.Path(exists=True),
              help="edm only: the trained VAE (model directory or `train vae` run folder).")
@click.option("--surrogate", type=click.Path(exists=True),
              help="refiner only: the trained surrogate (model directory or run folder).")
@click.option("--init", "init", type=click.Path(exists=True),
              help="Warm start: copy the matching weights (name and shape) of this model directory or run "
                   "folder, e.g. src/quakesynth/weights/default, into the network before training.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use the first N simulations (surrogate, refiner; at least 3), the first N training records "
                   "(broadband) or N records per station (timesnet, site-cvae).")
@click.option("--patch", type=click.IntRange(min=1), default=None,
              help="refiner only: sensors per block side (2: the joint refiner) [default: preset].")
@click.option("--calibrate/--no-calibrate", default=False,
              help="refiner only: fit the spatial noise correlation on dev wavefields after training.")
@click.option("--calibration-wavefields", type=click.IntRange(min=1), default=8, show_default=True,
              help="Dev wavefields used by --calibrate.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="Devices (processes); > 1 trains with DDP.")
@click.option("--accelerator", type=click.Choice(["cpu", "gpu", "auto"]), default="cpu", show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Numeric precision (bf16-mixed / 16-mixed on GPUs); default from the preset.")
@click.option("--strategy", type=click.Choice(["ddp", "ddp_spawn"]), default=None,
              help="Multi-device strategy (default ddp when --devices > 1).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@threads_option(workers_param="devices")
def command(kind: str, data: str | None, out: str, preset: str | None, config_file: str | None,
            overrides: tuple[str, ...], vae: str | None, surrogate: str | None, init: str | None,
            limit: int | None, patch: int | None, calibrate: bool, calibration_wavefields: int, resume: bool,
            devices: int, accelerator: str, precision: str | None, strategy: str | None,
            quiet: bool) -> None:
    """Train a model: vae, edm, classifier (HighFEM), timesnet, site-cvae (site-specific),
    surrogate, refiner, broadband (physics-guided).

    Writes OUT/config.yaml (resolved configuration), OUT/checkpoints/last.ckpt (resumable;
    timesnet: OUT/phase0, OUT/phase1), OUT/logs/metrics.csv (loss curves) and, at the end,
    OUT/model: a self-describing model directory. For edm it is a complete generator:
    `quakesynth generate --model OUT/model`.

    \b
    Example (one per kind):
      quakesynth train vae --data corpus --preset small -o runs/vae
      quakesynth train edm --data corpus --preset small --vae runs/vae -o runs/edm
      quakesynth train edm --data corpus --vae runs/vae -o runs/edm --resume
      quakesynth train classifier --data corpus -o runs/clf --set train.max_steps=500
      quakesynth train timesnet --data stations --preset small -o runs/timesnet
      quakesynth train site-cvae --data stations --preset small -o runs/cvae
      quakesynth train surrogate --corpus corpus3d --preset cpu --set train.max_steps=2000 -o runs/surrogate
      quakesynth train refiner --corpus corpus3d --surrogate runs/surrogate --patch 2 --calibrate -o runs/joint
      quakesynth train broadband --data corpus --preset cpu --limit 8000 -o runs/broadband
      quakesynth train broadband --resume -o runs/broadband
      quakesynth train vae --data corpus --preset default --init src/quakesynth/weights/default -o runs/vae-d
    """
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401 -- sets its loggers to INFO on import; quieten them after

    from quakesynth.train.run import train

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    if precision:
        overrides = tuple(overrides) + tuple(f"{s}.precision='{precision}'" for s in train_sections(kind))
    model_dir = train(kind, data, out, preset=preset, config=config_file, overrides=overrides, resume=resume,
                      devices=devices, accelerator=accelerator, strategy=strategy, vae=vae, surrogate=surrogate,
                      init=init, limit=limit, patch=patch, calibrate=calibrate,
                      calibration_wavefields=calibration_wavefields, progress=not quiet)
    if model_dir is not None:
        if calibrate:
            from quakesynth.modeldir import read_config
            from quakesynth.physics.joint import describe_correlation

            nc = read_config(model_dir)["noise_correlation"]
            click.echo(f"noise correlation: {describe_correlation(nc)}, "
                       f"max |coherence error| {nc['max_abs_error']:.3f}", err=True)
        click.echo(f"model written to {model_dir}", err=True)
