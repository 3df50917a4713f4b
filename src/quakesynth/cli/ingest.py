"""``quakesynth ingest``: real records (any supported format) -> a dataset, with a report."""

from __future__ import annotations

import click

from quakesynth.cli.main import threads_option
from quakesynth.data.readers import FORMATS

_INPUT_UNITS = ["counts", "m/s^2", "cm/s^2", "gal", "g", "m/s", "cm/s", "m", "cm"]


def _numbers(ctx, param, value: str) -> tuple[float, ...]:
    """Comma-separated numbers (what they must be is checked by the library: IngestConfig)."""
    try:
        return tuple(float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected numbers like 0.8,0.1,0.1; got {value!r}") from None


@click.command("ingest")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", "output", required=True, type=click.Path(), help="Dataset folder to create.")
@click.option("--format", "fmt", type=click.Choice(("auto",) + FORMATS), default="auto", show_default=True,
              help="Input format; auto recognises each file or folder by its content.")
@click.option("--stations", type=click.Path(exists=True, dir_okay=False),
              help="Station table (CSV with STATION and VS30(m/s); optional coordinates).")
@click.option("--metadata", "metadata_table", type=click.Path(exists=True, dir_okay=False),
              help="Event/station metadata per record (CSV, SeisBench column names) for formats without it.")
@click.option("--window", type=click.IntRange(min=256), default=4096, show_default=True,
              help="Window length, samples.")
@click.option("--p-time", type=click.FloatRange(min=0.5), default=5.0, show_default=True,
              help="P onset after the window start, s.")
@click.option("--fs", type=click.FloatRange(min=1.0, max=10000.0), default=100.0, show_default=True,
              help="Sampling rate of the dataset, Hz.")
@click.option("--components", default="ZNE", show_default=True,
              help="Component order of the dataset (e.g. NE for horizontal pairs such as AT2).")
@click.option("--rotate/--no-rotate", default=False, show_default=True,
              help="Rotate horizontals to radial/transverse (components ZRT).")
@click.option("--split", "split", default="0.8,0.1,0.1", show_default=True, callback=_numbers,
              help="Fractions of records in train,dev,test (assigned by event).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the split.")
@click.option("--borehole", is_flag=True, help="KiK-net: read the borehole sensors (1) instead of the surface ones (2).")
@click.option("--event-metadata", type=click.Choice(["header", "json"]), default="header", show_default=True,
              help="Which wins when event.json and a file header disagree.")
@click.option("--input-unit", type=click.Choice(_INPUT_UNITS), default="counts", show_default=True,
              help="Unit of the samples of generic ObsPy files.")
@click.option("--counts", "keep_counts", is_flag=True,
              help="Make a dataset of raw counts (e.g. from STEAD) instead of acceleration in m/s^2.")
@click.option("--quantity", type=click.Choice(["acceleration", "velocity", "displacement"]),
              default="acceleration", show_default=True, help="Quantity of the dataset.")
@click.option("--require-vs30/--allow-missing-vs30", default=True, show_default=True,
              help="Drop records whose station has no Vs30 (after the table and --vs30-fallback).")
@click.option("--stations-vs30", type=click.Choice(["measured", "inferred"]), default="measured", show_default=True,
              help="What the --stations table's Vs30 are (station_vs30_source of the records it fills).")
@click.option("--vs30-fallback", default=None, metavar="M/S|TABLE",
              help="Vs30 where neither the record nor --stations has one: a constant in m/s (source "
                   "'assumed') or a proxy station table CSV (source 'inferred').")
@click.option("--flatfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Flatfile (NGA-West2, ESM, GEM columns) giving event, station and Vs30 metadata, joined on "
                   "the record sequence number (PEER AT2 RSN).")
@click.option("--flatfile-format", type=click.Choice(["auto", "nga-west2", "esm", "gem", "quakesynth"]),
              default="auto", show_default=True, help="Column mapping of --flatfile.")
@click.option("--min-pre-event", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="Drop records whose P is less than this many s after their start (0: keep all; "
                   "short pre-event windows are zero-padded and the pad recorded).")
@click.option("--triggered", is_flag=True,
              help="Record starts are trigger times (PEER, ITACA...): P may be right after the first sample; "
                   "where no onset is found, P is put at the trigger.")
@click.option("--require-snr", is_flag=True,
              help="Drop records with less than 0.5 s of real pre-P noise (SNR unmeasured); default: keep "
                   "them, marked trace_snr_measured=False.")
@click.option("--sparse-gap", type=click.FloatRange(0.0, 360.0), default=180.0, show_default=True,
              help="Azimuthal gap (degrees) given to events with fewer than 3 stations "
                   "(path_azimuthal_gap_source 'assumed (N station(s))').")
@click.option("--min-snr", type=float, default=10.0, show_default=True,
              help="Minimum peak SNR (after P over before P), dB.")
@click.option("--picker", default="stalta", show_default=True,
              help="P picker: stalta, phasenet or phasenet:<local weights> (never downloaded).")
@click.option("--purpose", type=click.Choice(["generation", "site"]), default="generation", show_default=True,
              help="generation: records need magnitude, depth, distance and Vs30; site (site-specific "
                   "generation, station archives): only the station code, components and sampling rate "
                   "(event metadata and Vs30 kept where present).")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset.")
@click.option("--report", type=click.Path(dir_okay=False),
              help="Also write the report (CSV of dropped records and conflicts) here.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@threads_option()
def command(inputs, output, fmt, stations, metadata_table, window, p_time, fs, components, rotate, split, seed,
            borehole, event_metadata, input_unit, keep_counts, quantity, require_vs30, min_snr,
            picker, purpose, overwrite, report, progress, stations_vs30=None, vs30_fallback=None,
            flatfile=None, flatfile_format="auto", min_pre_event=0.0, triggered=False, require_snr=False,
            sparse_gap=180.0) -> int:
    """Ingest real records into a dataset (SeisBench format), preprocessed as in HighFEM.

    Reads K-NET/KiK-net ASCII, SeisBench datasets, STEAD, PEER NGA AT2 or any ObsPy format;
    demeans and detrends, high-passes (causal Butterworth, 0.1 Hz, order 2), resamples,
    picks P (STA/LTA), cuts a window with P at --p-time seconds (zero-padding triggered
    records that start later), screens (gaps, spikes, re-pick in 2-7 s, SNR where measurable,
    Vs30), computes the conditioning variables and writes the dataset with train/dev/test
    splits by event and train-split statistics.

    Prints a summary; the report lists every dropped file or record with its reason.
    Exit status: 0 nothing dropped, 1 some records dropped, 2 bad input or nothing usable.

    \b
    Example:
      quakesynth ingest ../shared/data/real/knet-kiknet \\
          --stations ../shared/data/real/stations_vs30_japan.csv -o knet-dataset
      quakesynth ingest peer_at2/ --components NE --flatfile NGA_West2_flatfile.csv \\
          --triggered -o peer-dataset
      quakesynth ingest station-archive/ --purpose site -o site-dataset
    """
    from quakesynth.data.ingest import IngestConfig, ingest
    from quakesynth.data.preprocess import PreprocessConfig
    from quakesynth.data.readers import ReadOptions

    cfg = IngestConfig(
        preprocess=PreprocessConfig(fs=fs, n_samples=window, p_time=p_time, rotate=rotate,
                                    min_snr_db=min_snr, min_pre_event_s=min_pre_event,
                                    triggered=triggered, require_snr=require_snr),
        read=ReadOptions(kiknet_sensor="borehole" if borehole else "surface", prefer=event_metadata,
                         input_unit=input_unit, metadata_table=metadata_table),
        components=components, quantity=quantity, unit="counts" if keep_counts else None,
        require_vs30=require_vs30, picker=picker, split_fractions=split, seed=seed, purpose=purpose,
        stations_vs30=stations_vs30 or "measured", vs30_fallback=vs30_fallback,
        flatfile=str(flatfile) if flatfile else None, flatfile_format=flatfile_format, sparse_gap_deg=sparse_gap)
    result = ingest(list(inputs), output, cfg, format=fmt, stations=stations, overwrite=overwrite,
                    report=report, progress=progress)
    click.echo(result.report.summary())
    if result.dataset is None:
        click.echo(f"report: {result.report_path}")
        click.echo("quakesynth: error: no usable record in the input; nothing was written "
                   f"(reasons in {result.report_path})", err=True)
        return 2
    click.echo(f"dataset: {result.dataset}  (quakesynth info {result.dataset})")
    click.echo(f"report: {result.report_path}")
    return result.exit_code
