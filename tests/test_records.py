import numpy as np
import pandas as pd
import pytest

from quakesynth.records import CONDITIONING_COLUMNS, METADATA_COLUMNS, Records


def make(n=4, t=200, rng=None):
    rng = rng or np.random.default_rng(0)
    meta = pd.DataFrame({
        "trace_name": [f"r{i}" for i in range(n)],
        "source_id": ["ev1"] * n,
        "source_magnitude": np.linspace(4, 7, n),
        "path_hyp_distance_km": np.linspace(10, 100, n),
        "station_vs30_mps": [400.0] * n,
        "source_depth_km": [10.0] * n,
        "path_azimuthal_gap_deg": [120.0] * n,
        "station_network_code": ["BW"] * n,
        "station_code": [f"S{i}" for i in range(n)],
        "trace_start_time": ["2020-01-01T00:00:00"] * n,
    })
    return Records(rng.standard_normal((n, 3, t)), fs=100.0, components="ZNE", metadata=meta)


def test_container_basics():
    r = make()
    assert r.data.dtype == np.float32 and r.data.shape == (4, 3, 200)
    assert list(r.metadata.columns[: len(METADATA_COLUMNS)]) == list(METADATA_COLUMNS)
    assert len(r[1:3]) == 2 and len(r[0]) == 1
    assert r[np.array([True, False, True, False])].metadata["trace_name"].tolist() == ["r0", "r2"]
    c = r.conditioning()
    assert c.shape == (4, len(CONDITIONING_COLUMNS))
    np.testing.assert_allclose(c[:, 0], np.linspace(4, 7, 4))
    both = Records.concat([r, r[:2]])
    assert len(both) == 6
    sub = r.select_components("NEZ")
    np.testing.assert_array_equal(sub.component("Z"), r.component("Z"))
    np.testing.assert_allclose(r.to_unit("g"), r.data / 9.80665, rtol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(data=np.zeros((2, 100))), "shape"),
    (dict(fs=0.0), "fs"),
    (dict(fs=float("nan")), "fs"),
    (dict(components="ZN"), "components"),
    (dict(components="ZZE"), "distinct"),
    (dict(quantity="jerk"), "quantity"),
    (dict(unit="g"), "unit"),
])
def test_container_rejects_bad_input(kwargs, match):
    base = dict(data=np.zeros((2, 3, 100)), fs=100.0, components="ZNE")
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Records(**base)


def test_processing_history_records_parameters():
    r = make()
    r.add_processing("highpass", freq=0.1, corners=2, zerophase=False)
    r.add_processing("resample", fs=100.0)
    hist = r.processing(2)
    assert [h["step"] for h in hist] == ["highpass", "resample"]
    assert hist[0]["corners"] == 2


def test_obspy_round_trip():
    r = make()
    st = r.to_obspy()
    assert len(st) == 12
    assert st[0].stats.channel == "HNZ" and st[0].stats.network == "BW"
    assert st[0].stats.quakesynth["source_magnitude"] == pytest.approx(4.0)
    back = Records.from_obspy(st, components="ZNE")
    np.testing.assert_array_equal(back.data, r.data)
    assert back.fs == r.fs
    pd.testing.assert_series_equal(back.metadata["source_magnitude"], r.metadata["source_magnitude"])
    assert back.metadata["station_code"].tolist() == r.metadata["station_code"].tolist()


def test_from_obspy_real_example(obspy_stream):
    r = Records.from_obspy(obspy_stream, components="ZNE", quantity="velocity", unit="m/s")
    assert len(r) == 1 and r.n_components == 3 and r.fs == 100.0
    np.testing.assert_allclose(r.component("Z")[0], obspy_stream.select(component="Z")[0].data[: r.n_samples])


def test_from_obspy_applies_calibration():
    r = make(n=1)
    st = r.to_obspy()
    for tr in st:
        tr.stats.calib = 0.5
    np.testing.assert_allclose(Records.from_obspy(st).data, r.data * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(Records.from_obspy(st, apply_calib=False).data, r.data)
