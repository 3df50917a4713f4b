"""``quakesynth calibrate``: the stochastic simulator's medians against ground-motion models."""

from __future__ import annotations

from pathlib import Path

import click


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise ValueError(f"--{name} must be comma-separated numbers; got {text!r}") from e
    if not values:
        raise ValueError(f"--{name} is empty")
    return values


@click.command(context_settings={"show_default": True})
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Figure to write (PNG).")
@click.option("--table", type=click.Path(path_type=Path), default=None,
              help="Also write the calibration table (CSV): simulator median / GMM median per IM and scenario.")
@click.option("--durations", type=click.Path(path_type=Path), default=None,
              help="Also write simulated D5-95 against Afshari & Stewart (2016) (CSV).")
@click.option("--magnitudes", default="4,5,6,7,7.5", help="Magnitudes of the grid (Mw).")
@click.option("--distances", default="10,20,50,100,200", help="Hypocentral distances of the grid, km.")
@click.option("--vs30", default="200,400,760", help="Vs30 values of the grid, m/s.")
@click.option("--depth", type=click.FloatRange(min=0), default=10.0, help="Focal depth, km.")
@click.option("-n", "--n", "n", type=click.IntRange(min=2), default=40, help="Records per scenario.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed (the same seeds in every scenario).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Simulator config (YAML with a `simulator:` section) [default: the built-in preset].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a simulator value, e.g. --set source.stress_sigma_ln=0.5.")
@click.option("--vs30-plot", type=float, default=None, help="Vs30 shown in the figure [default: middle of --vs30].")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
def command(output, table, durations, magnitudes, distances, vs30, depth, n, seed, config, overrides,
            vs30_plot, overwrite, progress) -> None:
    """Plot simulator medians against ground-motion models.

    For every scenario of the grid the simulator makes n records; their RotD50 PGA, PGV and
    SA(0.1, 0.3, 1, 3 s) are compared with BooreEtAl2014 (Japan; Rjb from Rhyp for a point
    source) and their peak SRSS with Kanno et al. (2006; Rrup = Rhyp). The figure shows
    medians +/- one sigma versus distance and magnitude; the table gives
    simulator median / GMM median for every IM and scenario. Needs the `gmm` extra.

    \b
    Example:
      quakesynth calibrate -o calib.png --table calib.csv
      quakesynth calibrate -o quick.png --magnitudes 5,6,7 --distances 20,50,100 --vs30 400 -n 20
    """
    import numpy as np

    from quakesynth._atomic import atomic_path, check_writable
    from quakesynth.simulate.calibration import (
        CalibrationGrid,
        calibration_table,
        duration_table,
        plot_calibration,
        simulate_ims,
    )
    from quakesynth.simulate.stochastic import StochasticGenerator

    for p in (output, table, durations):
        if p is not None:
            check_writable(p, overwrite)
    if output.suffix.lower() != ".png":
        raise ValueError(f"--output must be a .png file; got {str(output)!r}")
    grid = CalibrationGrid(magnitudes=_floats(magnitudes, "magnitudes"), distances_km=_floats(distances, "distances"),
                           vs30_mps=_floats(vs30, "vs30"), depth_km=depth, n=n, seed=seed)
    gen = StochasticGenerator(config, overrides)
    gen.check_table(grid.scenarios())  # one-line error for scenarios outside the simulator's range
    records = simulate_ims(gen, grid, durations=durations is not None, progress=progress)
    tab = calibration_table(records=records)
    if table is not None:
        with atomic_path(table, overwrite=overwrite) as tmp:
            tab.to_csv(tmp, index=False, float_format="%.6g")
    if durations is not None:
        with atomic_path(durations, overwrite=overwrite) as tmp:
            duration_table(records).to_csv(tmp, index=False, float_format="%.6g")
    plot_calibration(tab, output, vs30_mps=vs30_plot)
    within = float(np.mean(np.abs(np.log(tab["ratio"].to_numpy(float))) < np.log(1.5)))
    click.echo(f"wrote {output}" + (f" and {table}" if table else "") +
               f": {len(tab)} comparisons, {100 * within:.0f}% within a factor 1.5")
