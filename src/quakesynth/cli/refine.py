"""``quakesynth refine``: add realistic high frequencies to low-frequency records."""

from __future__ import annotations

from pathlib import Path

import click

from quakesynth.cli.main import threads_option

FORMATS = ["mseed", "sac", "seisbench", "hdf5", "npz", "at2", "obspy"]


def read_input(path: Path, fmt: str | None, input_unit: str | None = None):
    """Records of ``path``: a dataset store / quakesynth output format by suffix, else any file
    ObsPy reads (``fmt="obspy"`` forces it; ``input_unit`` names the samples' unit, e.g. m/s)."""
    from quakesynth.formats import read_records

    if fmt not in (None, "obspy", "at2"):
        return read_records(path, format=fmt)
    if fmt is None and not (path.is_dir() and not (path / "metadata.csv").exists()):
        try:
            from quakesynth.formats import infer_format

            return read_records(path, format=infer_format(path))
        except ValueError:
            pass
    from quakesynth.data.readers import ReadOptions, read
    from quakesynth.records import Records

    options = ReadOptions(input_unit=input_unit or "counts")
    items = list(read([path], format="at2" if fmt == "at2" or path.suffix.lower() == ".at2" else "auto",
                      options=options))
    recs = [r for r in items if isinstance(r, Records)]
    if not recs:
        reasons = [getattr(i, "detail", "") or getattr(i, "reason", "") for i in items]
        raise ValueError(f"no record could be read from {str(path)!r}" + (f": {reasons[0]}" if reasons else ""))
    shapes = {(r.data.shape[1:], r.fs, r.components) for r in recs}
    if len(shapes) > 1:
        raise ValueError(f"{str(path)!r} holds records of different shapes or rates; refine them one by one")
    return Records.concat(recs)


@click.command(context_settings={"show_default": True})
@click.argument("input", type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model", default="broadband",
              help="Refiner model directory or shipped model name (a broadband refiner, or a refiner of "
                   "surrogate pairs).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output path; the format follows its suffix (.mseed, .sac, SeisBench folder, .h5, .npz).")
@click.option("--format", "fmt", type=click.Choice(["mseed", "sac", "seisbench", "hdf5", "npz"]), default=None,
              help="Output format [default: from the OUTPUT suffix].")
@click.option("--input-format", type=click.Choice(FORMATS), default=None,
              help="Input format [default: from the INPUT suffix; anything else is read with ObsPy].")
@click.option("--input-unit", type=click.Choice(["m/s^2", "m/s", "m"]), default=None,
              help="Unit of the samples of a generic ObsPy file (K-NET, SAC... carry theirs).")
@click.option("--fc", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Crossover frequency, Hz: the input is trusted below it [default: the model's, 1 Hz].")
@click.option("--magnitude", type=float, default=None, help="Scenario magnitude (overrides the metadata).")
@click.option("--distance", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Scenario hypocentral distance, km (overrides the metadata).")
@click.option("--vs30", type=click.FloatRange(min=0, min_open=True), default=None, help="Site Vs30, m/s.")
@click.option("--depth", type=click.FloatRange(min=0), default=None, help="Hypocentral depth, km.")
@click.option("--hf-level", type=click.Choice(["model", "scenario"]), default=None,
              help="Where the level above fc comes from: the network's ('model', scales with the input) or the "
                   "scenario's median spectrum plus the input's correlated deviation ('scenario') "
                   "[default: the refiner's].")
@click.option("--steps", type=click.IntRange(min=1, max=1000), default=18, help="Heun sampler steps.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed; record i, window w uses (seed, i, w).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, help="Windows per refiner call.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@threads_option()
def command(input, model, output, fmt, input_format, input_unit, fc, magnitude, distance, vs30, depth, hf_level,
            steps, seed, batch_size, overwrite, progress) -> None:
    """Add realistic high frequencies to low-frequency records.

    A broadband refiner takes records trusted below a crossover fc (1 Hz by default; e.g. a
    physics simulation, or a record low-passed at fc) and their scenario (magnitude and
    distance from the metadata or the options; Vs30 and depth when known) and returns broadband
    records at 100 Hz: the input exactly below 0.8 fc, blended to the generated record at fc,
    the refiner's high frequencies above, at the level of the scenario's median spectrum plus
    the input's correlated deviation from it (--hf-level scenario, the default). INPUT: any
    ObsPy-readable file (miniSEED, SAC, K-NET, ...), a PEER AT2 file, or a dataset store. A
    refiner of surrogate pairs refines window by window at its own rate.

    \b
    Example (the first uses the shipped `broadband` refiner, docs/model_card_broadband.md):
      quakesynth refine lowfreq.mseed --magnitude 6.5 --distance 30 -o broadband.mseed
      quakesynth refine lowfreq.mseed --model runs/broadband/model --magnitude 6.5 --distance 30 -o broadband.mseed
      quakesynth refine dataset_lp --model runs/broadband/model --fc 0.5 -o broadband_ds --steps 32
      quakesynth refine sim_lf.mseed --magnitude 6.7 --distance 20 --vs30 300 --hf-level scenario -o bb.mseed
      quakesynth refine sims_sac.sac --model refiner_model -o out.mseed
    """
    from quakesynth._atomic import check_writable
    from quakesynth.formats import write_records
    from quakesynth.generate.refiner import resolve_model
    from quakesynth.modeldir import load_model_dir

    check_writable(output, overwrite)
    path = resolve_model(model)
    config, _ = load_model_dir(path, names=[])
    if config.get("model") != "refiner":
        raise ValueError(f"{path!r} is not a refiner model (model={config.get('model')!r})")
    records = read_input(input, input_format, input_unit)
    if "broadband" in config:
        from quakesynth.generate.refiner import BroadbandRefiner

        scenario = {"magnitude": magnitude, "distance": distance, "vs30": vs30, "depth": depth}
        out = BroadbandRefiner(path).refine(records, fc=fc, seed=seed, num_steps=steps, batch_size=batch_size,
                                            scenario=scenario, progress=progress, hf_level=hf_level)
    else:
        from quakesynth.physics.refine import refine_records

        if fc is not None or hf_level is not None or any(v is not None for v in (magnitude, distance, vs30, depth)):
            raise ValueError("--fc, --hf-level and the scenario options apply to broadband refiners only; this refiner "
                             "takes the surrogate's records as they are")
        out = refine_records(records, path, num_steps=steps, seed=seed, batch_size=batch_size, progress=progress)
    write_records(out, output, format=fmt, overwrite=overwrite)
    click.echo(f"refined {len(out)} records -> {output}")
