"""``quakesynth calibrate``: the stochastic simulator's medians against ground-motion models."""

from __future__ import annotations

from pathlib import Path

import click

from quakesynth.cli.main import threads_option


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
@click.option("--preset", default=None,
              help="Simulator preset to check or to start the fit from (japan, bssa14) [default: japan].")
@click.option("--fit", "fit", type=click.Path(path_type=Path), default=None,
              help="Fit the preset's free parameters to --gmm and write the new preset (YAML) here; the "
                   "grid is then magnitude x the GMM's distance (Rjb/Rrup) x Vs30 (defaults: M 4.5-7.5, "
                   "5-200 km, 250/400/760 m/s), --table gets the residuals per cell.")
@click.option("--gmm", "gmm_name", default="BooreEtAl2014:global",
              help="With --fit: the reference GMM as NAME[:REGION] (any quakesynth.gmm model).")
@click.option("--iterations", type=click.IntRange(min=1), default=4, help="With --fit: Levenberg-Marquardt iterations.")
@click.option("--params", default="all",
              help="With --fit: comma-separated free parameters (stress, pseudo_depth, corner_fa, q0, q_eta, kappa0, "
                   "spreading_slope1, spreading_slope2, adjust) or 'all'.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@threads_option()
def command(output, table, durations, magnitudes, distances, vs30, depth, n, seed, config, overrides,
            vs30_plot, preset, fit, gmm_name, iterations, params, overwrite, progress) -> None:
    """Plot simulator medians against ground-motion models, or fit a preset to one (--fit).

    With --fit, the preset's free parameters (stress parameter per magnitude, finite-fault
    pseudo-depth per magnitude, the two-corner source's lower corner per magnitude, Q0 and eta, kappa0, the two geometric-spreading slopes and a
    smooth distance-frequency adjustment) are fitted by least squares in ln PGA, ln PGV and
    ln PSA(0.1, 0.3, 1, 3 s) to the GMM's medians over the grid, weighting cells by the GMM's
    data support; the within-event path sd is then set per magnitude so that the simulator's
    within-scenario sd of ln PGA matches the GMM's phi. The new preset file records its
    provenance (GMM, region, grid, residuals). The figure shows the residuals per cell.

    For every scenario of the grid the simulator makes n records; their RotD50 PGA, PGV and
    SA(0.1, 0.3, 1, 3 s) are compared with BooreEtAl2014 (Japan; Rjb from Rhyp for a point
    source) and their peak SRSS with Kanno et al. (2006; Rrup = Rhyp). The figure shows
    medians +/- one sigma versus distance and magnitude; the table gives
    simulator median / GMM median for every IM and scenario. Needs the `gmm` extra.

    \b
    Example:
      quakesynth calibrate -o calib.png --table calib.csv
      quakesynth calibrate -o quick.png --magnitudes 5,6,7 --distances 20,50,100 --vs30 400 -n 20
      quakesynth calibrate --fit my_preset.yaml --gmm BooreEtAl2014:global -o fit.png --table resid.csv -n 16
    """
    if fit is not None:
        from quakesynth.simulate.calibration import run_fit_command

        run_fit_command(fit=fit, figure=output, table=table, gmm_name=gmm_name, preset=preset or "japan",
                        config=config, overrides=overrides, n=n, seed=seed, iterations=iterations, params=params,
                        magnitudes=None if magnitudes == "4,5,6,7,7.5" else _floats(magnitudes, "magnitudes"),
                        distances=None if distances == "10,20,50,100,200" else _floats(distances, "distances"),
                        vs30=None if vs30 == "200,400,760" else _floats(vs30, "vs30"), depth=depth,
                        overwrite=overwrite, progress=progress, echo=click.echo)
        return
    import numpy as np

    from quakesynth._atomic import atomic_path, check_writable
    from quakesynth.generate.stochastic import StochasticGenerator
    from quakesynth.simulate.calibration import (
        CalibrationGrid,
        calibration_table,
        duration_table,
        plot_calibration,
        simulate_ims,
    )

    for p in (output, table, durations):
        if p is not None:
            check_writable(p, overwrite)
    if output.suffix.lower() != ".png":
        raise ValueError(f"--output must be a .png file; got {str(output)!r}")
    grid = CalibrationGrid(magnitudes=_floats(magnitudes, "magnitudes"), distances_km=_floats(distances, "distances"),
                           vs30_mps=_floats(vs30, "vs30"), depth_km=depth, n=n, seed=seed)
    gen = StochasticGenerator(config, overrides, preset=preset)
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
