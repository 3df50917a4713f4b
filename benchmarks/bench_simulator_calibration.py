"""Simulator presets against a GMM on the calibration grid, and the record-length check.

``--presets``: median residual log10(simulator / GMM) of each preset on M 4.5-7.5 x Rjb
5-200 km x Vs30 250/400/760 m/s (depth 10 km, ``-n`` realisations per cell, one median event
at random sites), with the share of cells within +/-0.1 log10 per IM, and the tables by
magnitude and by distance.

``--truncation``: the same records simulated in the 4,096-sample (41 s) window and in a
16,384-sample window (M 6-7.5 x 20/100/200 km, Vs30 400 m/s): how much the record length cuts
from each IM (log10).

Run: ``python benchmarks/bench_simulator_calibration.py --presets japan bssa14 -n 30 --truncation``
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from quakesynth.gmm import get_gmm
from quakesynth.simulate.calibration import (
    FIT_IMS,
    FitGrid,
    cell_log_ims,
    residual_summary,
    residual_table,
)
from quakesynth.simulate.stochastic import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=["japan", "bssa14"])
    ap.add_argument("--gmm", default="BooreEtAl2014:global")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1_000_000)
    ap.add_argument("--truncation", action="store_true")
    args = ap.parse_args()
    name, _, region = args.gmm.partition(":")
    gmm = get_gmm(name, region=region or None)
    for preset in args.presets:
        t = residual_table(preset, gmm, FitGrid(n=args.n, seed=args.seed))
        s = residual_summary(t)
        print(f"## {preset}: share within +/-0.1 log10: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in s.items()))
        print(t.groupby("magnitude")[list(FIT_IMS)].mean().round(2).to_string())
        print(t.groupby("distance_km")[list(FIT_IMS)].mean().round(2).to_string())
    if args.truncation:
        cfg = load_config("japan")
        grid = FitGrid(magnitudes=(6.0, 7.0, 7.5), distances_km=(20.0, 100.0, 200.0), vs30_mps=(400.0,), n=8)
        imts = ("PGA", "PGV", "SA(1.0)", "SA(3.0)")
        short = cell_log_ims(cfg, grid, imts)
        long = cell_log_ims(dataclasses.replace(cfg, waveform=dataclasses.replace(cfg.waveform, n_samples=16384)),
                            grid, imts)
        cells = grid.cells()
        print("## 41 s window minus 164 s window, log10 (M, Rjb km):")
        for imt in imts:
            d = (short[imt].mean(1) - long[imt].mean(1)) / np.log(10)
            print(imt, {(m, r): round(float(x), 3) for m, r, x in zip(cells.magnitude, cells.distance_km, d)})


if __name__ == "__main__":
    main()
