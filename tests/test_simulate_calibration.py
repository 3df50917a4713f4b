"""Calibration of the stochastic simulator against BSSA14 (Japan) and Kanno et al. (2006).

A reduced grid (M 5, 6, 7 x Rhyp 20, 50 km at Vs30 = 400 m/s, depth 10 km; 100 records per
scenario with the same seeds everywhere, so the sampling error of a median is ~0.07 in ln):
simulator medians within a factor 1.5 of each GMM, like with like (RotD50 vs BSSA14, peak
SRSS vs Kanno), wherever the two GMMs themselves agree within a factor 1.5; within 1.5 of at
least one of them everywhere (where they disagree by nearly 2.25 or more no median can be
within 1.5 of both); total sigma of ln PGA in 0.55-0.8; D5-95 growing with magnitude and
distance and within a factor 1.5 of Afshari & Stewart (2016). The full grid is in
``benchmarks/results/simulate.md`` (``quakesynth calibrate``).
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

GRID = CalibrationGrid(magnitudes=(5.0, 6.0, 7.0), distances_km=(20.0, 50.0), vs30_mps=(400.0,), n=100)


@pytest.fixture(scope="module")
def records():
    # the Japan-like preset with an event term per record (total variability), the
    # configuration this grid was calibrated for; the fitted bssa14 preset has its own tests
    # (tests/test_simulate_presets.py)
    from quakesynth.generate.stochastic import StochasticGenerator

    return simulate_ims(StochasticGenerator(preset="japan", event_term=True), grid=GRID, durations=True)


@pytest.mark.slow
def test_medians_within_a_factor_1_5_of_both_gmms(records, tmp_path):
    table = calibration_table(records=records)
    keys = ["magnitude", "rhyp_km", "vs30_mps", "imt"]
    wide = table.pivot_table(index=keys, columns="gmm", values=["ratio", "gmm_median"])
    # the GMMs' own disagreement (peak SRSS is ~1.15 x RotD50 for random phases)
    gmm_ratio = wide["gmm_median"]["Kanno2006Shallow"] / 1.15 / wide["gmm_median"]["BooreEtAl2014"]
    ok = np.abs(np.log(wide["ratio"])) < np.log(1.5)
    agree = np.abs(np.log(gmm_ratio)) < np.log(1.5)
    assert agree.mean() > 0.5, "the reduced grid should be mostly where the GMMs agree"
    bad = wide["ratio"][agree & ~ok.all(axis=1)]
    assert bad.empty, f"simulator / GMM median beyond a factor 1.5 where the GMMs agree:\n{bad.round(2)}"
    assert ok.any(axis=1).all(), f"beyond 1.5 of both GMMs:\n{wide['ratio'][~ok.any(axis=1)].round(2)}"
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


@pytest.mark.slow
def test_calibrate_cli(tmp_path):
    from quakesynth.cli.main import main

    png, csv = tmp_path / "calib.png", tmp_path / "calib.csv"
    args = ["calibrate", "-o", str(png), "--table", str(csv), "--magnitudes", "5,6.5", "--distances", "20,60",
            "--vs30", "400", "-n", "3", "--preset", "japan", "--no-progress"]
    assert main(args) == 0
    table = pd.read_csv(csv)
    assert set(table["gmm"]) == {"BooreEtAl2014", "Kanno2006Shallow"}
    assert len(table) == 2 * 2 * 6 * 2 and (table["ratio"] > 0).all()
    assert png.stat().st_size > 10_000
    assert main(args) == 2  # outputs exist
    assert main([*args[:-1], "--magnitudes", "9", "--overwrite"]) == 2  # outside the simulator's range
    assert main(["calibrate", "-o", str(tmp_path / "x.jpg"), "-n", "3"]) == 2
    assert main([*args[:-1], "--preset", "mars", "--overwrite"]) == 2  # unknown preset: one line, exit 2


@pytest.mark.slow
def test_calibrate_fit_cli_writes_a_preset_with_provenance(tmp_path):
    import yaml

    from quakesynth.cli.main import main
    from quakesynth.simulate.stochastic import load_config

    out, png, csv = tmp_path / "mine.yaml", tmp_path / "fit.png", tmp_path / "resid.csv"
    args = ["calibrate", "--fit", str(out), "-o", str(png), "--table", str(csv), "--magnitudes", "6",
            "--distances", "20", "--vs30", "400", "-n", "2", "--iterations", "1", "--params", "q0",
            "--preset", "japan", "--no-progress"]
    assert main(args) == 0
    prov = yaml.safe_load(out.read_text())["provenance"]
    assert prov["gmm"] == "BooreEtAl2014" and prov["free_parameters"] == ["q0"]
    assert prov["grid"]["n_check"] == 30 and len(prov["rms_history_log10"]) >= 1
    cfg = load_config(str(out))  # the written preset loads like a built-in one
    assert cfg.path.q0 > 0 and len(cfg.variability.path_sigma_ln_nodes) == 1
    assert len(pd.read_csv(csv)) == 1 and png.stat().st_size > 5_000
    assert main(args) == 2  # outputs exist, no --overwrite
