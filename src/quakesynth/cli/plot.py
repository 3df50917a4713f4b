"""``quakesynth plot``: a quick-look figure of one or more record sets (thin command).

The figure is made by :func:`quakesynth.plot.plot_records`; this module reads the files and
writes the image. ``PERIODS`` and ``plot_records`` stay importable from here.

One row per component; columns: example waveforms with their envelopes, the envelopes'
median and 16-84 % band, the Fourier amplitude spectra's median and band, and the 5 %-damped
response spectra's median and band -- the views of the HighFEM paper's Figure 2. Several files
are overlaid in different colours (e.g. a generated set against real records).
"""

from __future__ import annotations

from pathlib import Path

import click

from quakesynth.plot import PERIODS, plot_records

__all__ = ["PERIODS", "command", "plot_records"]


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Image file (.png, .pdf, .svg).")
@click.option("--max-records", type=click.IntRange(min=1), default=500, show_default=True,
              help="Use at most this many records of each file (the first ones).")
@click.option("--examples", type=click.IntRange(min=0), default=3, show_default=True,
              help="Example waveforms per file in the first column.")
@click.option("--format", "fmt", default=None, help="Input format [default: from the suffix].")
@click.option("--overwrite", is_flag=True, help="Replace an existing image.")
def command(files, output, max_records, examples, fmt, overwrite) -> None:
    """Quick-look figure of a set of records.

    Waveforms with envelopes, envelope, Fourier and response spectra (median and 16-84 %
    spread) per component. Reads every format `quakesynth generate` writes (and the tqdne
    reference's HDF5 files). Several files are overlaid for comparison.

    \b
    Example:
      quakesynth plot out.h5 -o fig.png
      quakesynth plot generated.h5 real.npz -o compare.png --max-records 200
    """
    from quakesynth.formats import read_records

    sets = [(f.name, read_records(f, format=fmt, limit=max_records)) for f in files]
    plot_records(sets, output, examples=examples, overwrite=overwrite)
    click.echo(f"wrote {output}")

