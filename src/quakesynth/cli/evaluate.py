"""``quakesynth evaluate``: generators against a dataset and GMMs, in one report."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import click

from quakesynth.cli.main import threads_option


@click.command(context_settings={"show_default": True})
@click.option("--data", "data", default=None, metavar="DATASET[:SPLIT]",
              help="Dataset folder (quakesynth ingest / simulate) and optionally its split, e.g. corpus:test.")
@click.option("--flatfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Instead of --data: a table of observed IMs (one row per record; NGA-West2, ESM, GEM or "
                   "quakesynth columns); no waveforms needed.")
@click.option("--flatfile-format", type=click.Choice(["auto", "nga-west2", "esm", "gem", "quakesynth"]),
              default="auto", help="Column mapping of --flatfile.")
@click.option("--model", "models", multiple=True, metavar="[LABEL=]MODEL",
              help="Model name (quakesynth models) or model directory; repeat for several; LABEL= names it. "
                   "A broadband refiner directory is a paired model: each record is low-passed, refined and "
                   "judged against itself (goodness of fit and the broadband section); a site-specific model "
                   "(TimesNet-Gen, site CVAE) generates at each record's station (the site section).")
@click.option("--gmm", "gmms", multiple=True, metavar="NAME[:REGION]",
              help="Ground-motion model, e.g. BooreEtAl2014 or BooreEtAl2014:japan, Kanno2006Shallow; repeatable.")
@click.option("--realizations", "-n", type=click.IntRange(min=1), default=None,
              help="Waveforms per model and record [default: 10, or the --bins file's].")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Report folder.")
@click.option("--classifier", type=click.Path(path_type=Path), default=None,
              help="Classifier model directory (quakesynth train classifier) for accuracy and embedding FD.")
@click.option("--bins", "bins_file", type=click.Path(path_type=Path), default=None,
              help="YAML/JSON file with bins, scenarios and feature settings (see quakesynth.evaluate.config).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed of generation and sub-sampling [default: 0].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Waveforms per batch and work unit [default: 64].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes of the IM stage (1: in this process) [default: 1].")
@click.option("--max-records", type=click.IntRange(min=1), default=None,
              help="Evaluate a seeded random subset of this many records (flatfile rows) [default: all].")
@click.option("--scenarios/--no-scenarios", "scenarios", default=True,
              help="Scenario curves (SA against distance, magnitude, Vs30): with the default scenarios "
                   "320 extra waveforms per model, whatever the size of the data.")
@click.option("--out-of-range", type=click.Choice(["drop", "extrapolate", "error"]), default="drop",
              help="Records outside a model's conditioning range: leave out, extrapolate, or fail.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@threads_option(workers_param="workers")
def command(data, flatfile, flatfile_format, models, gmms, realizations, output, classifier, bins_file, seed,
            batch_size, workers, max_records, scenarios, out_of_range, overwrite, progress) -> None:
    """Evaluate generators against a dataset and GMMs in one report.

    For every record of DATASET[:SPLIT], each model generates N realisations with the record's
    conditioning; intensity measures, log-FAS, envelopes and HVSR of every waveform are
    compared with the data and the GMMs as in the HighFEM paper's Section 4. Writes
    OUTPUT/index.html (self-contained), metrics.json (every number), IMS_TABLE (one row per
    record x model x realisation) and prints a summary table. Horizontal-only datasets (NE,
    12, RT: PEER pairs) are compared on the horizontals; measures that need a vertical are
    left out.

    With --flatfile TABLE instead of --data, each row's observed PGA/PGV/PSA are compared
    with N realisations of each model (default N=1) and with the GMMs; residuals are split
    into bias, between-event (tau), site (phi_S2S) and within-event (phi) terms by a crossed
    random-effects fit, binned by magnitude, distance and Vs30.

    \b
    Example:
      quakesynth evaluate --data corpus:test --model stochastic --model runs/small/model \\
          --gmm BooreEtAl2014 --gmm Kanno2006Shallow --realizations 10 -o report/
      quakesynth evaluate --data corpus:test --max-records 300 --model default -n 2 -o quick/
      quakesynth evaluate --data scratch/knet --model stochastic --gmm BooreEtAl2014 -n 5 \\
          --bins bins.yaml --workers 2 -o report-real/ --overwrite
      quakesynth evaluate --flatfile NGA_West2_flatfile.csv --model stochastic \\
          --gmm BooreEtAl2014 --max-records 2000 -o flatfile-report/
      quakesynth evaluate --data scratch/knet:test --model refiner=runs/broadband/model -n 1 \\
          --no-scenarios -o refiner-report/
    """
    from quakesynth.evaluate.config import config_from_dict, load_config_file
    from quakesynth.evaluate.run import evaluate

    if (data is None) == (flatfile is None):
        raise click.UsageError("give exactly one of --data DATASET or --flatfile TABLE")
    # the models, the output folder and every value are checked once, by the library
    if flatfile is not None:
        from quakesynth.evaluate.flatfile import evaluate_flatfile

        given = {k: v for k, v in (("realizations", realizations), ("seed", seed), ("max_rows", max_records),
                                   ("batch_size", batch_size)) if v is not None}  # else the library's defaults
        if bins_file is not None:
            given["periods"] = config_from_dict(load_config_file(bins_file)).features.periods_s
        res = evaluate_flatfile(flatfile, list(models), list(gmms), output, format=flatfile_format,
                                out_of_range=out_of_range, overwrite=overwrite, progress=progress, **given)
        for n in res.metrics["run"]["notes"]:
            click.echo(f"note: {n}", err=True)
        click.echo(res.summary)
        click.echo(f"report: {output}/index.html  ({res.metrics['run']['rows']} rows, "
                   f"{res.metrics['run']['timing']['total_s']:.1f} s)")
        return
    d = load_config_file(bins_file) if bins_file is not None else {}
    cfg = config_from_dict(d)
    changes = {k: v for k, v in (("realizations", realizations), ("seed", seed), ("batch_size", batch_size),
                                 ("workers", workers), ("max_records", max_records)) if v is not None}
    if not scenarios:
        changes["scenarios"] = ()
    cfg = dataclasses.replace(cfg, **changes)
    result = evaluate(data, list(models), list(gmms), output, cfg, classifier=classifier, overwrite=overwrite,
                      out_of_range=out_of_range, progress=progress)
    for n in result.metrics["run"]["notes"]:
        click.echo(f"note: {n}", err=True)
    n_scen = sum(len(sc.values) * sc.realizations for sc in cfg.scenarios)
    if n_scen:
        click.echo(f"note: the scenario curves added {n_scen} generated waveforms per model, whatever the data "
                   "size (--no-scenarios skips them)", err=True)
    click.echo(result.summary)
    wall = result.metrics["run"]["timing"]["total"]
    click.echo(f"report: {output}/index.html  ({result.metrics['run']['n_records']} records, "
               f"{wall.get('collect_s', 0):.1f} s generation + features, {wall.get('analyse_s', 0):.1f} s analysis)")


def ims_table_name() -> str:
    """The tidy IM table ``evaluate --data`` writes: parquet where pyarrow is installed, else CSV."""
    return "ims.parquet" if importlib.util.find_spec("pyarrow") is not None else "ims.csv"


# the help names the file this installation writes (IMS_TABLE in the docstring above)
command.help = command.help.replace(
    "IMS_TABLE", ims_table_name() + ("" if ims_table_name().endswith(".parquet")
                                     else " (ims.parquet once pyarrow is installed)"))
