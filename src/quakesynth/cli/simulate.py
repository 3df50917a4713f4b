"""``quakesynth simulate``: a stochastic-method (Boore 2003) corpus in the dataset format."""

from __future__ import annotations

import os
from pathlib import Path

import click

from quakesynth.cli.main import threads_option


@click.command(context_settings={"show_default": True})
@click.option("--events", type=click.IntRange(min=1), required=True, help="Number of earthquakes.")
@click.option("--stations-per-event", type=click.IntRange(min=1), default=10,
              help="Records per earthquake (stations drawn from the network in trigger range).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Dataset folder to create.")
@click.option("--seed", type=click.IntRange(min=0), default=0,
              help="Seed of everything (network, events, noise); same seed, same bytes.")
@click.option("--config", "config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML with `simulator:` and/or `corpus:` sections (replaces --preset).")
@click.option("--preset", default="bssa14", show_default=True,
              help="Simulator preset: bssa14 (fitted to BooreEtAl2014, global) or japan (the earlier "
                   "Japan-like parameters); see docs/simulator_presets.md. --config replaces it.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set corpus.b_value=0.8 --set simulator.waveform.components=ZRT.")
@click.option("--workers", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1),
              help="Worker processes (the result does not depend on it).")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset folder.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@threads_option(workers_param="workers")
def command(events, stations_per_event, output, seed, config, preset, overrides, workers, overwrite, progress) -> None:
    """Make a stochastic-method (Boore 2003) corpus in the dataset format.

    Events follow a truncated Gutenberg-Richter law (M 4-7.5) with crustal and intraslab
    depths; each is recorded at --stations-per-event stations of a fixed synthetic network
    (Vs30, kappa0, site terms, some with a resonant layer of known f0, stored as
    station_f0_hz), so stations repeat across events. Records are 4,096 samples at 100 Hz,
    acceleration in m/s^2, P at 5 s, causal 0.1 Hz high-pass; the dataset is split by event
    with train-only statistics, and holds the resolved config (simulator.yaml) and the
    network (stations.csv). Streamed to disk; bit-for-bit reproducible from --seed.

    \b
    Example:
      quakesynth simulate --events 2000 --stations-per-event 10 -o corpus --seed 0
      quakesynth simulate --events 50 --stations-per-event 4 -o tiny --set corpus.b_value=0.7
      quakesynth simulate --events 500 --stations-per-event 10 -o japan-like --preset japan
    """
    from quakesynth.config import PRESET_DIR
    from quakesynth.simulate.corpus import write_corpus
    from quakesynth.simulate.stochastic import preset_name

    cfg = config if config is not None else PRESET_DIR / f"{preset_name(preset)}.yaml"
    summary = write_corpus(output, events, stations_per_event, seed=seed, config=cfg, overrides=overrides,
                           workers=workers, overwrite=overwrite, progress=progress,
                           preset=None if config is not None else preset)
    click.echo(f"wrote {summary['records']} records of {summary['events']} events to {output} "
               f"in {summary['seconds']:.1f} s ({summary['records_per_s']:.0f} records/s)")
