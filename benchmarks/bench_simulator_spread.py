"""Within-scenario and between-event spread of the stochastic simulator against a GMM's phi and tau.

For every cell of the calibration grid (M 4.5-7.5 x Rjb 5-200 km x Vs30 250/400/760 m/s, depth
10 km) the simulator makes ``n`` records of one median event at random sites
(``event_term=False``: their sd of ln IM is the within-event sd, to compare with phi) and
``n`` records each with its own stress-parameter deviate (``event_term=True``: the total sd);
the implied between-event sd is ``tau = sqrt(total^2 - within^2)``. Per magnitude, averaged
over the cells, against BooreEtAl2014's phi and tau.

Run: ``python benchmarks/bench_simulator_spread.py --preset bssa14 -n 30``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from quakesynth.gmm import get_gmm
from quakesynth.simulate.calibration import FitGrid, cell_log_ims, gmm_cell_targets
from quakesynth.simulate.stochastic import load_config

IMTS = ("PGA", "PGV", "SA(0.3)", "SA(1.0)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="bssa14")
    ap.add_argument("--gmm", default="BooreEtAl2014:global")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=2000)
    args = ap.parse_args()
    name, _, region = args.gmm.partition(":")
    gmm = get_gmm(name, region=region or None)
    cfg = load_config(args.preset)
    grid = FitGrid(n=args.n, seed=args.seed)
    t0 = time.perf_counter()
    within = cell_log_ims(cfg, grid, IMTS, event_term=False)
    total = cell_log_ims(cfg, grid, IMTS, event_term=True)
    targets = gmm_cell_targets(gmm, grid, IMTS)
    cells = grid.cells()
    rows = []
    for imt in IMTS:
        w = within[imt].std(axis=1, ddof=1)
        t = total[imt].std(axis=1, ddof=1)
        tau = np.sqrt(np.clip(t**2 - w**2, 0, None))
        df = cells.assign(imt=imt, within=w, total=t, tau_sim=tau, phi=targets[imt]["phi"], tau=targets[imt]["tau"])
        rows.append(df)
    df = pd.concat(rows)
    by_m = df.groupby(["imt", "magnitude"])[["within", "phi", "tau_sim", "tau", "total"]].mean().round(3)
    print(f"preset {args.preset}, {args.n} records per cell and option, {len(cells)} cells, "
          f"{time.perf_counter() - t0:.0f} s; stress_sigma_ln = {cfg.source.stress_sigma_ln}")
    print(by_m.to_string())
    pga = df[df.imt == "PGA"]
    d = pga["within"] - pga["phi"]
    print(f"PGA within-scenario sd - phi: median {d.median():+.3f}, share of cells within +/-0.1: "
          f"{np.mean(np.abs(d) <= 0.1):.2f}")


if __name__ == "__main__":
    main()
