"""``quakesynth simulate-3d``: a small 3-D elastic corpus (devito) in the HEMEW^S-3D layout."""

from __future__ import annotations

from pathlib import Path

import click

from quakesynth.cli.main import threads_option


@click.command(context_settings={"show_default": True})
@click.option("-n", "--n", "n", type=click.IntRange(min=1), required=True, help="Number of simulations.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Folder of sample<i>.h5 files to create (or continue with --resume).")
@click.option("--seed", type=click.IntRange(min=0), default=0,
              help="Corpus seed; sample i depends only on (seed, i).")
@click.option("--resume", is_flag=True, help="Continue an interrupted or shorter corpus in OUTPUT.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a Wave3DConfig field, e.g. --set n_cells=24 --set fmax=1.0.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@threads_option()
def command(n, output, seed, resume, overrides, progress) -> None:
    """Make a 3-D wave-propagation corpus (HEMEW^S-3D layout) with devito.

    Each simulation draws a random layered + heterogeneous geology and a random double-couple
    point source, solves 3-D elastodynamics (staggered finite differences, free surface,
    sponge) and stores the surface velocity (uE, uN, uZ; n_sensors x n_sensors x T) low-passed
    at fmax. Defaults: 16^3 cells of 300 m, 1.5 Hz, 20 Hz sampling, 8 s. Needs devito
    (pip install 'quakesynth[operator]'). Files are read back by
    quakesynth.simulate.hemew.HemewDataset (and by MIFNO's own loader).

    \b
    Example:
      quakesynth simulate-3d --n 1000 -o corpus3d --seed 0
      quakesynth simulate-3d --n 2000 -o corpus3d --seed 0 --resume
      quakesynth simulate-3d --n 10 -o tiny3d --set n_cells=12 --set n_sensors=12
    """
    from quakesynth.config import apply_overrides, from_dict, to_dict
    from quakesynth.simulate.wave3d import Wave3DConfig, make_corpus

    cfg = from_dict(Wave3DConfig, apply_overrides(to_dict(Wave3DConfig()), list(overrides)))
    written = make_corpus(output, n, seed=seed, cfg=cfg, resume=resume, progress=progress)
    click.echo(f"wrote {len(written)} simulations to {output} ({n} in the corpus)")
