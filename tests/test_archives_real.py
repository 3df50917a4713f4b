"""Real archives as they come, through the CLI: PEER AT2 pairs (horizontal only) with a
flatfile, triggered K-NET records cut 1 s before P, records without Vs30, a single-station
event. Fixtures are built from ../shared/data (skipped with a reason where it is absent)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from quakesynth.cli.main import main
from quakesynth.data.store import Dataset

#: A small NGA-West2-style flatfile for the five shared PEER pairs (values written for this
#: test, close to the NGA-West2 flatfile's; Measured/Inferred Class 0 = measured Vs30).
PEER_FLATFILE = [
    ["Record Sequence Number", "EQID", "Earthquake Name", "Earthquake Magnitude", "Hypocenter Latitude (deg)",
     "Hypocenter Longitude (deg)", "Hypocenter Depth (km)", "Station Name", "Station Sequence Number",
     "Station Latitude", "Station Longitude", "Vs30 (m/s) selected for analysis", "Measured/Inferred Class"],
    [107, 36, "Oroville-02", 4.79, 39.47, -121.53, 6.6, "Oroville Airport", 106, 39.495, -121.621, 371.1, 1],
    [1059, 127, "Northridge-01", 6.69, 34.2057, -118.5539, 17.5, "Port Hueneme - Naval Lab.", 425, 34.145, -119.206,
     248.98, 0],
    [1084, 127, "Northridge-01", 6.69, 34.2057, -118.5539, 17.5, "Sylmar - Converter Sta", 432, 34.311, -118.49,
     251.24, 0],
    [1090, 127, "Northridge-01", 6.69, 34.2057, -118.5539, 17.5, "Tustin - E Sycamore", 438, 33.747, -117.817, 382.0, 1],
    [1140, 137, "Dinar, Turkey", 6.40, 38.11, 30.05, 5.0, "Denizli", 1019, 37.8128, 29.1111, 338.0, 1],
]


def write_peer_flatfile(path):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(PEER_FLATFILE)
    return path


class ToyGMM:
    """A GMM stand-in (ln median in g / cm/s, ln sigma 0.6) so that the test needs no OpenQuake."""

    component = "RotD50"
    validity: dict = {}

    def supports(self, imt):
        return imt in ("PGA", "PGV") or imt.startswith("SA(")

    def predict(self, imt, magnitude, rhyp_km, depth_km, vs30_mps):
        mu = -3.5 + 0.9 * magnitude - 1.2 * np.log(rhyp_km + 10.0) - 0.4 * np.log(vs30_mps / 760.0)
        return mu + (4.0 if imt == "PGV" else 0.0), np.full_like(mu, 0.6)


def _evaluate(data, out, *extra):
    from quakesynth.evaluate.run import evaluate

    return evaluate(data, ["stochastic"], {"toy": ToyGMM()}, out, _quick_config(*extra))


def _quick_config(*_):
    from quakesynth.evaluate.config import EvaluateConfig

    return EvaluateConfig(realizations=2, scenarios=())


@pytest.fixture(scope="module")
def peer_dataset(tmp_path_factory):
    from conftest import shared_path

    src = shared_path("fixtures", "peer_at2")
    tmp = tmp_path_factory.mktemp("peer")
    ff = write_peer_flatfile(tmp / "flatfile.csv")
    out = tmp / "ds"
    rc = main(["ingest", str(src), "--components", "NE", "--flatfile", str(ff), "--triggered", "-o", str(out),
               "--no-progress"])
    assert rc == 1  # RSN1059 is sampled at 50 Hz, below the dataset's 100 Hz
    return out


@pytest.mark.shared
def test_peer_pairs_ingest_with_flatfile_metadata(peer_dataset):
    ds = Dataset(peer_dataset)
    m = ds.metadata.set_index("trace_rsn")
    assert ds.components == "NE" and len(ds) == 4
    assert m.loc[1084, "source_magnitude"] == pytest.approx(6.69)
    assert m.loc[1084, "station_vs30_mps"] == pytest.approx(251.24)
    assert m.loc[1084, "station_vs30_source"] == "measured" and m.loc[1090, "station_vs30_source"] == "inferred"
    # Northridge: three stations in the input (one later dropped) give a computed gap
    assert m.loc[1084, "path_azimuthal_gap_source"] == "input stations"
    # single-station events: the stated rule, flagged
    assert m.loc[1140, "path_azimuthal_gap_deg"] == 180.0
    assert m.loc[1140, "path_azimuthal_gap_source"] == "assumed (1 station(s))"
    # triggered records are padded, not dropped, and the pad is recorded
    assert (m["trace_pad_start_samples"] >= 0).all() and "trace_pre_event_s" in m
    rep = pd.read_csv(peer_dataset / "ingest_report.csv")
    row = rep[rep["reason"] == "sampling_rate_below_target"].iloc[0]
    assert "RSN1059" in row["station"] and "Port Hueneme" in row["station"] and "Northridge" in row["event"]


@pytest.mark.shared
@pytest.mark.slow
def test_peer_pairs_ims_and_evaluate(peer_dataset, tmp_path):
    out = tmp_path / "ims.csv"
    assert main(["ims", str(peer_dataset), "-o", str(out), "--periods", "1.0", "--workers", "1", "--no-progress"]) == 0
    t = pd.read_csv(out)
    assert len(t) == 4 and np.isfinite(t["PSA1.0_RotD50_g"]).all() and np.isfinite(t["D5-95_H1_s"]).all()
    assert not any(c.endswith("_V_g") for c in t.columns) or t.filter(like="_V_").isna().all().all()
    res = _evaluate(str(peer_dataset), tmp_path / "rep")
    s = res.metrics["summary"]
    assert s["stochastic"]["PGA_RotD50_bias_log10"] is not None
    assert s["stochastic"]["PGA_RotD50_sigma_log10"] is not None and s["data"]["PGA_RotD50_sigma_log10"] is not None
    assert res.collection.components == ("H1", "H2")
    # 4 records: the simple GMM cannot be fitted, so the residuals are taken against the GMM, said so
    assert "median of GMM toy" in res.metrics["residuals"]["PGA_RotD50"]["reference"]
    # two halves of 2 records: the floor is marked, not shown as a number
    assert "small sample" in res.metrics["summary_flags"]["floor"]["FD_logFAS_H1"]
    assert "small sample" in res.summary
    assert res.metrics["bias_vs30_source"]["classes"] == ["inferred", "measured"]


@pytest.fixture(scope="module")
def knet_raw():
    """The K-NET records of the 2018 Aomori event as read (m/s^2, with their metadata)."""
    from conftest import shared_path
    from quakesynth.data import readers

    src = shared_path("real", "knet-kiknet", "us2000cnnl")
    recs = [r for r in readers.read([src]) if hasattr(r, "fs")]
    return recs


def _write_cut(recs, folder, pre_s=1.0, table=None):
    """Cut each record to start ``pre_s`` before its P (picked on the whole record) and write
    SAC files plus a metadata table; returns the table path and the cut lengths."""
    from quakesynth.data import conditioning_columns, preprocess
    from quakesynth.data.picking import STALTAPicker

    folder.mkdir()
    rows = []
    for rec in recs:
        meta = conditioning_columns.add_path_features(conditioning_columns.join_stations(rec.metadata, table))
        r = preprocess.highpass_records(preprocess.detrend_records(rec.replace(metadata=meta)))
        p = STALTAPicker().pick(r, preprocess.earliest_p_sample(r))[0]
        start = int(p - pre_s * rec.fs)
        cut = rec.replace(data=rec.data[:, :, start:])
        from obspy import UTCDateTime

        t0 = UTCDateTime(rec.metadata["trace_start_time"].iloc[0]) + start / rec.fs
        st = cut.to_obspy()
        for tr in st:
            tr.stats.starttime = t0
            tr.stats.network = ""
            tr.stats.station = str(rec.metadata["station_code"].iloc[0])  # SAC holds 8 characters
            tr.write(str(folder / f"{tr.stats.station}.{tr.stats.channel}.SAC"), format="SAC")
        keep = ["station_code", "source_id", "source_origin_time", "source_latitude_deg", "source_longitude_deg",
                "source_depth_km", "source_magnitude", "station_latitude_deg", "station_longitude_deg"]
        rows.append({k: rec.metadata[k].iloc[0] for k in keep})
    path = folder.parent / f"{folder.name}_meta.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.shared
@pytest.mark.slow
def test_knet_cut_one_second_before_p_is_padded_not_dropped(knet_raw, vs30_table, tmp_path):
    recs = [r for r in knet_raw if r.components == "ZNE"][:3]
    meta = _write_cut(recs, tmp_path / "cut", 1.0)
    base = ["ingest", str(tmp_path / "cut"), "--format", "obspy", "--input-unit", "m/s^2", "--metadata", str(meta),
            "--stations", str(vs30_table), "--no-progress"]
    # what a user asks: a minimum pre-event window drops them, named
    assert main(base + ["-o", str(tmp_path / "strict"), "--min-pre-event", "2"]) == 2
    rep = pd.read_csv(tmp_path / "strict.report.csv")
    assert (rep["reason"] == "insufficient_pre_event").sum() == 3 and rep["station"].str.startswith("AOM").all()
    # the default: padded and kept, the pad and the (short) noise window recorded
    rc = main(base + ["-o", str(tmp_path / "ds"), "--triggered"])
    assert rc == 0
    m = Dataset(tmp_path / "ds").metadata
    assert len(m) == 3
    pre = m["trace_pre_event_s"].to_numpy(float)
    assert np.all((pre > 0.3) & (pre < 1.7))  # P re-found within ~0.7 s of the true 1 s
    assert (m["trace_pad_start_samples"] > 300).all()
    res = _evaluate(str(tmp_path / "ds"), tmp_path / "rep")
    assert res.metrics["summary"]["stochastic"]["PGA_RotD50_bias_log10"] is not None


@pytest.mark.shared
@pytest.mark.slow
def test_missing_vs30_fallback_and_single_station_event(knet_raw, tmp_path):
    from conftest import shared_path

    one = shared_path("real", "knet-kiknet", "knet_20240809_kanagawa")
    # no station table: every record lacks Vs30
    assert main(["ingest", str(one), "-o", str(tmp_path / "no"), "--no-progress"]) == 2
    rc = main(["ingest", str(one), "-o", str(tmp_path / "ds"), "--vs30-fallback", "400", "--no-progress"])
    assert rc == 0
    m = Dataset(tmp_path / "ds").metadata
    assert len(m) == 1 and m["station_vs30_mps"].iloc[0] == 400.0
    assert m["station_vs30_source"].iloc[0] == "assumed"
    assert m["station_vs30_reference"].iloc[0] == "constant 400 m/s"
    assert m["path_azimuthal_gap_source"].iloc[0] == "assumed (1 station(s))"
    assert m["path_azimuthal_gap_deg"].iloc[0] == 180.0
    res = _evaluate(str(tmp_path / "ds"), tmp_path / "rep")
    # one event, one record: the sigmas say why instead of showing a number or "-"
    flags = res.metrics["summary_flags"]
    assert flags["data"]["PGA_RotD50_sigma_log10"].startswith(("1 event", "n/a"))
    assert "-" not in res.summary.splitlines()[2].split()[1:2]
    assert res.metrics["bias_vs30_source"]["classes"] == ["assumed"]
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "station_vs30_source" in html
    json.loads((tmp_path / "rep" / "metrics.json").read_text())
