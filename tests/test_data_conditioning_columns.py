"""Conditioning features (distances, back azimuth, gap, Vs30) and event-metadata conflicts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quakesynth.data import conditioning_columns
from quakesynth.data.events import Event, compare_events, read_event_json, resolve_event, same_event


def test_distances_against_obspy_geodetics():
    from obspy.geodetics import gps2dist_azimuth

    r_epi, r_hyp, baz, az = conditioning_columns.distances([35.0, 0.0, np.nan], [139.0, 0.0, 1.0], [30.0, 10.0, 5.0],
                                               [35.5, 0.0, 1.0], [139.5, 1.0, 1.0])
    d, a, b = gps2dist_azimuth(35.0, 139.0, 35.5, 139.5)
    assert r_epi[0] == pytest.approx(d / 1000) and az[0] == pytest.approx(a) and baz[0] == pytest.approx(b)
    assert r_hyp[0] == pytest.approx(np.hypot(d / 1000, 30.0))
    assert r_epi[1] == pytest.approx(111.3195, abs=1e-3)  # one degree of the WGS84 equator
    assert baz[1] == pytest.approx(270.0) and az[1] == pytest.approx(90.0)
    assert np.isnan([r_epi[2], r_hyp[2], baz[2]]).all()


def test_azimuthal_gap():
    assert conditioning_columns.azimuthal_gap([0, 90, 180, 270]) == 90.0
    assert conditioning_columns.azimuthal_gap([350, 10, 30]) == 320.0
    assert conditioning_columns.azimuthal_gap([123.0]) == 360.0
    assert np.isnan(conditioning_columns.azimuthal_gap([]))
    gaps = conditioning_columns.event_gaps(["a", "a", "a", "b", None, "a"], [0, 120, 240, 45, 10, 120],
                               station_key=["s1", "s2", "s3", "s4", "s5", "s2"])
    np.testing.assert_allclose(gaps, [120, 120, 120, 360, np.nan, 120])


def test_station_table(tmp_path, vs30_table):
    table = conditioning_columns.read_station_table(vs30_table)
    assert table.loc["AOM001", "station_vs30_mps"] == pytest.approx(474.23)
    assert table.loc["KNG001", "station_vs30_source"] == "measured"
    assert table.loc["KNG001", "station_vs30_reference"] == "stations_vs30_japan.csv"
    assert conditioning_columns.read_station_table(vs30_table, kind="inferred").loc["KNG001", "station_vs30_source"] == "inferred"
    assert table["station_vs30_mps"].isna().sum() >= 3  # its -999 placeholders are missing, not values
    meta = pd.DataFrame({"station_code": ["AOM001", "NOPE01"], "station_vs30_mps": [np.nan, np.nan],
                         "station_vs30_source": [None, None]})
    out = conditioning_columns.join_stations(meta, table)
    assert out["station_vs30_mps"].iloc[0] == pytest.approx(474.23) and np.isnan(out["station_vs30_mps"].iloc[1])
    bad = tmp_path / "bad.csv"
    bad.write_text("code,vs30\nA,300\nA,400\n")
    with pytest.raises(ValueError, match="twice"):
        conditioning_columns.read_station_table(bad)
    bad.write_text("name,value\nA,300\n")
    with pytest.raises(ValueError, match="station_code"):
        conditioning_columns.read_station_table(bad)
    bad.write_text("STATION,VS30(m/s)\nA,fast\n")
    with pytest.raises(ValueError, match="not a number"):
        conditioning_columns.read_station_table(bad)


def test_event_json_and_conflicts(tmp_path):
    p = tmp_path / "event.json"
    p.write_text(json.dumps({"id": "us1", "time": "2011-04-11 08:16:12", "lat": 37.0, "lon": 140.4,
                             "depth": 11, "magnitude": 6.6}))
    ev = read_event_json(p)
    assert ev.origin_time == "2011-04-11T08:16:12.000000Z" and ev.depth_km == 11.0 and ev.id == "us1"
    header = Event(origin_time="2011-04-11T08:16:00.000000Z", latitude=37.05, longitude=140.45, depth_km=11.0,
                   magnitude=7.0, magnitude_type="MJMA")
    assert same_event(header, ev)
    fields = [f for f, *_ in compare_events(header, ev)]
    assert fields == ["origin_time", "epicentre", "magnitude"]
    used, conflicts = resolve_event(header, ev, str(p))
    assert used.magnitude == 7.0 and used.id == "us1"  # header values, the catalogue id (same event)
    assert {c.used for c in conflicts} == {"header"}
    used, _ = resolve_event(header, ev, str(p), prefer="json")
    assert used.magnitude == 6.6
    other = Event(origin_time="2011-06-30T14:45:00.000000Z", latitude=36.2, longitude=137.9, depth_km=5.0,
                  magnitude=2.4, magnitude_type="MJMA")
    used, conflicts = resolve_event(other, ev, str(p))
    assert not same_event(other, ev) and used.id is None and used.magnitude == 2.4
    assert all("different event" in c.detail for c in conflicts)
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        read_event_json(p)


def test_vs30_record_then_table_then_fallback(vs30_table):
    """Vs30 from the record (measured), the table (its kind), then a constant (assumed) or a
    proxy table (inferred); the source class and the reference say which."""
    table = conditioning_columns.read_station_table(vs30_table)
    meta = pd.DataFrame({"station_code": ["X1", "AOM001", "NOPE01"], "station_vs30_mps": [555.0, np.nan, np.nan]})
    out = conditioning_columns.fill_vs30(conditioning_columns.join_stations(meta, table), 400.0)
    np.testing.assert_allclose(out["station_vs30_mps"], [555.0, 474.23, 400.0])
    assert out["station_vs30_source"].tolist() == ["measured", "measured", "assumed"]
    assert out["station_vs30_reference"].tolist() == ["record", "stations_vs30_japan.csv", "constant 400 m/s"]
    proxy = table.copy()
    proxy.loc["NOPE01"] = proxy.loc["AOM001"]
    proxy["station_vs30_source"], proxy["station_vs30_reference"] = "inferred", "proxy.csv"
    out = conditioning_columns.fill_vs30(conditioning_columns.join_stations(meta, table), proxy)
    assert out["station_vs30_source"].tolist() == ["measured", "measured", "inferred"]
    assert out["station_vs30_reference"].iloc[2] == "proxy.csv"
    out = conditioning_columns.fill_vs30(meta)  # no fallback: stays missing
    assert np.isnan(out["station_vs30_mps"].iloc[1]) and out["station_vs30_source"].iloc[0] == "measured"
    with pytest.raises(ValueError, match="positive"):
        conditioning_columns.fill_vs30(meta, -1.0)


def test_event_station_counts():
    n = conditioning_columns.event_station_counts(["a", "a", "a", "b", None], [0, 90, 90, 10, 5], ["s1", "s2", "s2", "s3", "s4"])
    assert n.tolist() == [2, 2, 2, 1, 0]
