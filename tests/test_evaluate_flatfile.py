"""Flatfile mode: column mappings, recovery of known event/site terms, models and CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quakesynth.evaluate.flatfile import evaluate_flatfile, read_flatfile


class ToyGMM:
    """ln median = a + b M - 1.2 ln(R + 10) - 0.5 ln(Vs30 / 760) (g; cm/s for PGV)."""

    component = "RotD50"
    validity: dict = {}

    def supports(self, imt):
        return imt in ("PGA", "PGV", "SA(1)")

    def predict(self, imt, magnitude, rhyp_km, depth_km, vs30_mps):
        a = {"PGA": -4.0, "PGV": -0.5, "SA(1)": -5.0}[imt]
        mu = a + 1.0 * magnitude - 1.2 * np.log(rhyp_km + 10.0) - 0.5 * np.log(vs30_mps / 760.0)
        return mu, np.full_like(mu, 0.6)


def synthetic_flatfile(seed=0, n_ev=50, n_st=60, per_event=24, c=0.15, tau=0.4, phi_s2s=0.35, phi_0=0.45):
    """Rows with known event and site terms around :class:`ToyGMM` (quakesynth columns)."""
    rng = np.random.default_rng(seed)
    mags = rng.uniform(4.5, 7.0, n_ev)
    depth = rng.uniform(5, 20, n_ev)
    vs30 = rng.uniform(200, 900, n_st)
    eta = rng.normal(0, tau, n_ev)
    s2s = rng.normal(0, phi_s2s, n_st)
    ev = np.repeat(np.arange(n_ev), per_event)
    st = np.concatenate([rng.choice(n_st, per_event, replace=False) for _ in range(n_ev)])
    R = np.hypot(rng.uniform(5, 150, ev.size), depth[ev])
    mu, _ = ToyGMM().predict("PGA", mags[ev], R, depth[ev], vs30[st])
    pga = np.exp(mu + c + eta[ev] + s2s[st] + rng.normal(0, phi_0, ev.size))
    df = pd.DataFrame({"event_id": [f"ev{e}" for e in ev], "station_id": [f"st{s}" for s in st],
                       "magnitude": mags[ev], "distance_km": R, "depth_km": depth[ev], "vs30_mps": vs30[st],
                       "PGA_g": pga})
    return df, eta, s2s


def test_recovers_known_terms_through_a_gmm(tmp_path):
    df, eta, s2s = synthetic_flatfile()
    path = tmp_path / "ff.csv"
    df.to_csv(path, index=False)
    res = evaluate_flatfile(path, {}, {"toy": ToyGMM()}, tmp_path / "rep")
    e = res.metrics["residuals"]["toy"]["PGA"]
    assert res.metrics["run"]["format"] == "quakesynth"
    # stated tolerances: bias within 3 standard errors; tau within 25 % (50 events),
    # phi_S2S within 25 % (60 stations), phi_0 within 8 % (1,200 records)
    assert abs(e["bias"] - 0.15) < 3 * e["bias_se"]
    assert e["tau"] == pytest.approx(0.4, rel=0.25)
    assert e["phi_s2s"] == pytest.approx(0.35, rel=0.25)
    assert e["phi_0"] == pytest.approx(0.45, rel=0.08)
    r = res.residuals[res.residuals["source"] == "toy"]
    est = r.groupby("event_id")["event_term"].first()
    true = pd.Series(eta, index=[f"ev{i}" for i in range(len(eta))])
    assert np.corrcoef(est[true.index], true)[0, 1] > 0.9
    est_s = r.groupby("station_id")["site_term"].first()
    true_s = pd.Series(s2s, index=[f"st{i}" for i in range(len(s2s))])
    common = est_s.index.intersection(true_s.index)
    assert np.corrcoef(est_s[common], true_s[common])[0, 1] > 0.85
    # the report shows the numbers of metrics.json
    html = (tmp_path / "rep" / "index.html").read_text()
    m = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert m["residuals"]["toy"]["PGA"]["tau"] == e["tau"]
    assert f'data-value="{json.dumps(e["tau"])}"' in html
    assert "<img" in html


def test_column_mappings_and_units(tmp_path):
    base = {"magnitude": [6.0, 5.0], "depth": [10.0, 8.0], "repi": [30.0, 40.0], "vs30": [400.0, 300.0]}
    nga = pd.DataFrame({"Record Sequence Number": [1, 2], "EQID": [7, 8], "Earthquake Magnitude": base["magnitude"],
                        "Hypocenter Depth (km)": base["depth"], "EpiD (km)": base["repi"],
                        "Vs30 (m/s) selected for analysis": base["vs30"], "Measured/Inferred Class": [0, 1],
                        "Station Sequence Number": [3, 4], "PGA (g)": [0.1, 0.2], "PGV (cm/sec)": [5.0, 6.0],
                        "T1.000S": [0.05, 0.07]})
    esm = pd.DataFrame({"event_id": ["a", "b"], "Mw": base["magnitude"], "ev_depth_km": base["depth"],
                        "epi_dist": base["repi"], "vs30_m_sec": base["vs30"], "vs30_meas_type": ["measured", "inferred"],
                        "station_code": ["X", "Y"], "rotD50_pga": [98.0665, 196.133], "rotD50_pgv": [5.0, 6.0],
                        "rotD50_T1_000": [49.03325, 68.64655]})
    gem = pd.DataFrame({"event_id": ["a", "b"], "mag": base["magnitude"], "event_depth": base["depth"],
                        "repi": base["repi"], "vs30": base["vs30"], "vs30measured": [True, False],
                        "station_id": ["X", "Y"], "PGA": [0.1, 0.2], "PGV": [5.0, 6.0], "SA(1.0)": [0.05, 0.07]})
    for name, df in (("nga-west2", nga), ("esm", esm), ("gem", gem)):
        p = tmp_path / f"{name}.csv"
        df.to_csv(p, index=False)
        t, fmt = read_flatfile(p)
        assert fmt == name
        np.testing.assert_allclose(t["PGA"], [0.1, 0.2], rtol=1e-6)
        np.testing.assert_allclose(t["SA(1)"], [0.05, 0.07], rtol=1e-6)
        np.testing.assert_allclose(t["PGV"], [5.0, 6.0])
        np.testing.assert_allclose(t["rhyp_km"], np.hypot(base["repi"], base["depth"]))
        assert t["vs30_source"].tolist() == ["measured", "inferred"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x": [1]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="not recognised"):
        read_flatfile(bad)


@pytest.mark.slow
def test_stochastic_model_subset_and_cli(tmp_path, capsys):
    from quakesynth.cli.main import main

    df, _, _ = synthetic_flatfile(n_ev=6, n_st=8, per_event=4)
    df["PSA1.0_g"] = df["PGA_g"] * 0.5
    df["PGV_cm/s"] = df["PGA_g"] * 80
    path = tmp_path / "ff.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "rep"
    rc = main(["evaluate", "--flatfile", str(path), "--model", "stochastic", "--max-records", "12",
               "-n", "2", "--seed", "3", "-o", str(out), "--no-progress"])
    assert rc in (0, None)
    m = json.loads((out / "metrics.json").read_text())
    assert m["run"]["rows"] == 12 and m["run"]["realizations"] == 2
    assert "seeded random subset of 12" in " ".join(m["run"]["notes"])
    e = m["residuals"]["stochastic"]["PGA"]
    assert e["n"] == 12 and e["sigma"] is not None and e["model_sigma_within_row"] > 0
    assert set(m["run"]["ims"]) == {"PGA", "PGV", "SA(1)"}
    # the same seed gives the same subset and numbers
    rc = main(["evaluate", "--flatfile", str(path), "--model", "stochastic", "--max-records", "12",
               "-n", "2", "--seed", "3", "-o", str(out), "--no-progress", "--overwrite"])
    m2 = json.loads((out / "metrics.json").read_text())
    assert m2["residuals"] == m["residuals"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        from quakesynth.cli.main import cli

        cli.main(args=["evaluate", "--flatfile", str(path), "--data", "x", "-o", str(tmp_path / "z")],
                 standalone_mode=True)
    assert e.value.code == 2
