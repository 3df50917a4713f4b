"""``quakesynth ims``: the intensity-measure table of a dataset (see :mod:`quakesynth.metrics.tables`)."""

from __future__ import annotations

import click

from quakesynth.cli.main import threads_option
from quakesynth.metrics.tables import (
    DEFAULT_PERIODS,
    MIN_RECORDS_PER_WORKER,
    ims_table,
    parse_components,
    parse_periods,
)


@click.command("ims")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="CSV table to write (one row per record).")
@click.option("--periods", default=DEFAULT_PERIODS, show_default=True,
              help="PSA periods in s, comma-separated.")
@click.option("--components", default="all", show_default=True,
              help="Components/combinations to keep, comma-separated (e.g. RotD50,RotD100,GM,SRSS,H1,H2).")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default=None,
              help="Only the records of this split (default: all records).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Records per work unit.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help=f"Worker processes (1: compute in this process; tables of fewer than "
                   f"{MIN_RECORDS_PER_WORKER} records per worker are computed in this process).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@threads_option(workers_param="workers")
def command(dataset, output, periods, components, split, batch_size, workers, overwrite, progress) -> int:
    """Compute the intensity measures of every record of a dataset.

    PGA, PGV, PGD, PSA at the periods, Arias intensity (AI), D5-75, D5-95 and CAV, per
    component (H1, H2, V) and as RotD50, RotD100, geometric mean (GM) and peak SRSS (peaks
    also GMRotD50); one row per record with its metadata; columns <IM>_<component>_<unit>
    (PGA_RotD50_g, PSA1.0_RotD50_g, PGV_GM_cm/s, D5-95_H1_s). Streams in batches into an
    atomically written CSV, over worker processes for large tables.

    \b
    Example:
      quakesynth ims knet-dataset -o knet_ims.csv --periods 0.1,0.3,1,3 --split test --workers 2
    """
    n = ims_table(dataset, output, periods=parse_periods(periods), components=parse_components(components),
                  split=split, batch_size=batch_size, workers=workers, overwrite=overwrite, progress=progress)
    click.echo(f"wrote {n} records to {output}", err=True)
    return 0
