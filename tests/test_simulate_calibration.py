"""Calibration of the stochastic simulator against BSSA14 (Japan) and Kanno et al. (2006).

A reduced grid (M 5-7, Rhyp 20-50 km, Vs30 400 and 760 m/s, 40 records per scenario with the
same seeds everywhere): simulator medians within a factor 1.5 of each GMM, like with like
(RotD50 vs BSSA14, peak SRSS vs Kanno), wherever the two GMMs themselves agree within a
factor 2 (elsewhere no single median can be within 1.5 of both); total sigma of ln PGA in
0.55-0.8; D5-95 growing with magnitude and distance and within a factor 1.5 of Afshari &
Stewart (2016). The full grid is in ``benchmarks/results/simulate.md``
(``quakesynth calibrate``).
"""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("openquake.hazardlib", reason="the calibration needs the 'gmm' extra (OpenQuake)")

from quakesynth.simulate.calibration import (  # noqa: E402
    CalibrationGrid,
    calibration_table,
    duration_table,
    plot_calibration,
    simulate_ims,
)

GRID = CalibrationGrid(magnitudes=(5.0, 6.0, 7.0), distances_km=(20.0, 50.0), vs30_mps=(400.0, 760.0), n=40)


@pytest.fixture(scope="module")
def records():
    return simulate_ims(grid=GRID, durations=True)


@pytest.mark.slow
def test_medians_within_a_factor_1_5_of_both_gmms(records, tmp_path):
    table = calibration_table(records=records)
    keys = ["magnitude", "rhyp_km", "vs30_mps", "imt"]
    wide = table.pivot_table(index=keys, columns="gmm", values=["ratio", "gmm_median"])
    # the GMMs' own disagreement (peak SRSS is ~1.1-1.2 x RotD50 for random phases)
    agree = np.abs(np.log(wide["gmm_median"]["Kanno2006Shallow"] / 1.15 / wide["gmm_median"]["BooreEtAl2014"])) < np.log(2.0)
    ratios = wide["ratio"][agree]
    assert agree.mean() > 0.6, "the reduced grid should be mostly where the GMMs agree"
    bad = ratios[(np.abs(np.log(ratios)) > np.log(1.5)).any(axis=1)]
    assert bad.empty, f"simulator / GMM median beyond a factor 1.5:\n{bad.round(2)}"
    # and never wildly off anywhere on the grid
    assert np.all(np.abs(np.log(table["ratio"])) < np.log(2.5))
    png = plot_calibration(table, tmp_path / "calib.png")
    assert png.stat().st_size > 10_000


@pytest.mark.slow
def test_total_sigma_of_ln_pga(records):
    sig = records.groupby(["magnitude", "rhyp_km", "vs30_mps"])["PGA_RotD50"].apply(lambda x: np.std(np.log(x), ddof=1))
    assert 0.55 <= sig.median() <= 0.8
    assert sig.min() > 0.4 and sig.max() < 0.95


@pytest.mark.slow
def test_durations_follow_afshari_stewart_2016(records):
    d = duration_table(records)
    med = d.groupby(["magnitude", "rhyp_km"])["sim_D5-95_s"].mean().unstack()
    assert np.all(np.diff(med.to_numpy(), axis=0) > 0), f"D5-95 must grow with M:\n{med}"
    assert np.all(np.diff(med.to_numpy(), axis=1) > 0), f"D5-95 must grow with R:\n{med}"
    assert np.all(np.abs(np.log(d["ratio"])) < np.log(1.5)), d.round(2).to_string()
    assert isinstance(d, pd.DataFrame)
