"""``quakesynth refine``: add realistic high frequencies to low-frequency records."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("input", type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Refiner model directory (trained on low-passed broadband records or surrogate pairs).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output path; the format follows its suffix (.mseed, .sac folder, SeisBench folder, .h5, .npz).")
@click.option("--format", "fmt", type=click.Choice(["mseed", "sac", "seisbench", "hdf5", "npz"]), default=None,
              help="Output format [default: from the OUTPUT suffix].")
@click.option("--input-format", type=click.Choice(["mseed", "sac", "seisbench", "hdf5", "npz"]), default=None,
              help="Input format [default: from the INPUT suffix].")
@click.option("--steps", type=click.IntRange(min=1, max=1000), default=18, help="Heun sampler steps.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed; record i, window w uses (seed, i, w).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, help="Windows per refiner call.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
def command(input, model, output, fmt, input_format, steps, seed, batch_size, overwrite, progress) -> None:
    """Add realistic high frequencies to low-frequency records.

    INPUT holds records (e.g. 0-1 Hz velocities from a physics code) with the refiner's
    components; they are resampled to the refiner's rate, refined window by window (EDM
    sampler, per-record seeds) and written with their metadata and a `refine` processing step.

    \b
    Example:
      quakesynth refine lowfreq.mseed --model refiner_model -o broadband.mseed
      quakesynth refine sims_sac.sac --model refiner_model -o out_seisbench --steps 32 --seed 1
    """
    from quakesynth.formats import read_records, write_records
    from quakesynth.physics.refine import refine_records

    records = read_records(input, format=input_format)
    out = refine_records(records, model, num_steps=steps, seed=seed, batch_size=batch_size, progress=progress)
    write_records(out, output, format=fmt, overwrite=overwrite)
    click.echo(f"refined {len(out)} records -> {output}")
