"""Every output format round-trips through its standard reader, atomically and without
overwriting."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from quakesynth.formats import infer_format, open_writer, read_records, write_records
from quakesynth.generate import Generator
from quakesynth.records import G, Records


class ToyGen(Generator):
    """Enveloped noise whose amplitude grows with magnitude; depends only on the seed."""

    name = "toy"
    ranges = {"magnitude": (4.0, 7.5), "distance": (1.0, 200.0), "vs30": (100.0, 2000.0),
              "depth": (0.0, 100.0), "gap": (0.0, 360.0)}
    n_samples = 256

    def _generate(self, cond, seeds, device="cpu"):
        t = np.arange(self.n_samples) / self.fs
        out = np.empty((len(seeds), 3, self.n_samples), np.float32)
        for i, s in enumerate(seeds):
            noise = np.random.default_rng(int(s)).standard_normal((3, self.n_samples))
            out[i] = noise * (t / 0.3) * np.exp(1 - t / 0.3) * 10 ** (cond[i, 0] - 6.5)
        return out


SCENARIOS = pd.DataFrame([dict(magnitude=6.5, distance=30.0, vs30=400.0, depth=10.0, gap=120.0, n=2),
                          dict(magnitude=5.0, distance=80.0, vs30=760.0, depth=40.0, gap=200.0, n=1)])
FILES = ["out.h5", "out.npz", "out.mseed", "out.sac", "out.at2"]


@pytest.fixture(scope="module")
def records() -> Records:
    return ToyGen().generate_table(SCENARIOS, seed=7)


def _same_metadata(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            np.testing.assert_allclose(pd.to_numeric(x).to_numpy(float, na_value=np.nan),
                                       pd.to_numeric(y).to_numpy(float, na_value=np.nan), rtol=1e-12, err_msg=col)
        else:
            assert x.astype(str).tolist() == y.astype(str).tolist(), col


@pytest.mark.parametrize("name", FILES)
def test_round_trip_through_our_reader(tmp_path, records, name):
    path = write_records(records, tmp_path / name)
    back = read_records(path).select_components(records.components)
    assert (back.fs, back.quantity, back.unit) == (records.fs, records.quantity, records.unit)
    if name.endswith(".at2"):  # 8 significant digits of text
        np.testing.assert_allclose(back.data, records.data, rtol=0, atol=1e-7 * np.abs(records.data).max())
    else:
        np.testing.assert_array_equal(back.data, records.data)
    _same_metadata(records.metadata, back.metadata)


def test_hdf5_has_the_reference_layout(tmp_path, records):
    import h5py

    path = write_records(records, tmp_path / "out.hdf5")
    with h5py.File(path, "r") as f:
        assert f["waveforms"].shape == (3, 3, 256) and f["waveforms"].dtype == np.float32
        assert f.attrs["components"] == "NEZ" and f.attrs["unit"] == "m/s^2" and f.attrs["fs"] == 100.0
        np.testing.assert_array_equal(f["waveforms"][:, 0], records.component("N"))
        np.testing.assert_array_equal(f["waveforms"][:, 2], records.component("Z"))
        np.testing.assert_array_equal(f["hypocentral_distance"][:], [30, 30, 80])
        np.testing.assert_array_equal(f["magnitude"][:], [6.5, 6.5, 5.0])
        np.testing.assert_array_equal(f["vs30s"][:], f["vs30"][:])
        np.testing.assert_array_equal(f["hypocentre_depth"][:], [10, 10, 40])
        np.testing.assert_array_equal(f["azimuthal_gap"][:], [120, 120, 200])
        assert f["hypocentral_distance"].attrs["unit"] == "km"


def test_hdf5_written_by_the_reference_tool_is_read(tmp_path):
    """A file with only the datasets tqdne's generate_waveforms.py writes."""
    import h5py

    w = np.random.default_rng(0).standard_normal((2, 3, 64)).astype(np.float32)
    with h5py.File(tmp_path / "tqdne.h5", "w") as f:
        f["waveforms"] = w
        for k, v in dict(hypocentral_distance=[10, 20], magnitude=[5, 6], vs30s=[300, 500],
                         hypocentre_depth=[5, 15], azimuthal_gap=[90, 180]).items():
            f[k] = np.asarray(v, float)
    rec = read_records(tmp_path / "tqdne.h5")
    assert rec.components == "NEZ" and rec.fs == 100.0 and rec.unit == "m/s^2"
    np.testing.assert_array_equal(rec.data, w)
    np.testing.assert_array_equal(rec.conditioning(), [[5, 10, 300, 5, 90], [6, 20, 500, 15, 180]])


def test_sac_headers_read_by_obspy(tmp_path, records):
    import obspy

    path = write_records(records, tmp_path / "out.sac")
    files = sorted(p for p in os.listdir(path) if p.endswith(".sac"))
    assert len(files) == 9 and files[0].startswith("0000000.QS.A0000.00.HN")
    st = obspy.read(str(path / "*.sac"))
    assert len(st) == 9
    for tr in st:
        h = tr.stats.sac
        i = int(tr.stats.location, 36) + (2 if tr.stats.station == "A0001" else 0)
        row = records.metadata.iloc[i]
        assert tr.data.dtype == np.float32
        assert (h.evla, h.evlo, h.stlo) == (0.0, 0.0, 0.0)
        assert h.evdp == pytest.approx(row.source_depth_km)
        assert h.mag == pytest.approx(row.source_magnitude)
        assert h.user0 == pytest.approx(row.path_hyp_distance_km)  # hypocentral distance, km
        assert h.user1 == pytest.approx(row.station_vs30_mps)
        assert h.user2 == pytest.approx(row.path_azimuthal_gap_deg)
        # the synthetic geometry reproduces the hypocentral distance
        assert np.hypot(h.dist, h.evdp) == pytest.approx(row.path_hyp_distance_km, rel=1e-6)
        assert h.stla == pytest.approx(np.degrees(h.dist / 6371.0), rel=1e-6)
        comp = tr.stats.channel[-1]
        assert (h.cmpaz, h.cmpinc) == {"Z": (0, 0), "N": (0, 90), "E": (90, 90)}[comp]
        assert h.kuser0 == "m/s^2" and h.kuser2 == "ZNE" and h.lcalda == 0
        np.testing.assert_array_equal(tr.data, records.component(comp)[i])


def test_mseed_float32_with_station_xml(tmp_path, records):
    import obspy

    path = write_records(records, tmp_path / "out.mseed")
    assert {p.name for p in tmp_path.iterdir()} == {"out.mseed", "out.stations.xml", "out.metadata.csv"}
    st = obspy.read(str(path))
    assert len(st) == 9
    assert {tr.stats.mseed.encoding for tr in st} == {"FLOAT32"}
    assert st[0].id == "QS.A0000.00.HNZ" and st[8].id == "QS.A0001.00.HNE"
    np.testing.assert_array_equal(st[4].data, records.component("N")[1])
    inv = obspy.read_inventory(str(tmp_path / "out.stations.xml"))
    coords = inv.get_coordinates("QS.A0001.00.HNZ")
    assert coords["latitude"] == pytest.approx(np.degrees(np.sqrt(80**2 - 40**2) / 6371.0))
    cha = inv.select(channel="HNE")[0][0][0]
    assert (cha.azimuth, cha.dip) == (90.0, 0.0)
    assert inv.select(channel="HNZ")[0][0][0].dip == -90.0
    assert cha.response.instrument_sensitivity.input_units == "M/S**2"


def test_at2_read_by_independent_parser(tmp_path, records):
    from pyrvt.tools import read_at2  # an independent PEER reader

    path = write_records(records, tmp_path / "out.at2")
    files = sorted(path.glob("*.AT2"))
    assert len(files) == 9
    first = path / f"{records.metadata.trace_name[0]}_HNN.AT2"
    lines = first.read_text().splitlines()
    assert lines[2] == "ACCELERATION TIME SERIES IN UNITS OF G"
    assert lines[3].startswith("NPTS=    256, DT=") and lines[1].endswith(", HNN")
    assert all(len(line.split()) == 5 for line in lines[4:-1])
    dt, values = read_at2(first)
    assert dt == 0.01
    np.testing.assert_allclose(values, records.component("N")[0] / G, atol=1e-7 * np.abs(values).max())


def test_at2_folder_is_read_by_the_ingest_reader(tmp_path, records):
    """`quakesynth ingest`'s PEER reader groups our files back into Z, N, E records."""
    from quakesynth.formats.peer import group_files, read_group

    path = write_records(records, tmp_path / "out.at2")
    groups = group_files(path.glob("*.AT2"))
    assert len(groups) == 3
    for i, files in enumerate(groups):
        (rec,) = list(read_group(files))
        assert rec.components == "ZNE" and rec.fs == 100.0 and rec.unit == "m/s^2"
        np.testing.assert_allclose(rec.data[0], records.data[i], atol=1e-7 * np.abs(records.data).max())


def test_npz_loads_with_plain_numpy(tmp_path, records):
    path = write_records(records, tmp_path / "out.npz")
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["data"], records.data)
        assert (float(z["fs"]), str(z["components"]), str(z["unit"])) == (100.0, "ZNE", "m/s^2")
        np.testing.assert_array_equal(z["conditioning"], records.conditioning())
        assert json.loads(str(z["metadata"]))["data"][0]["trace_name"] == records.metadata.trace_name[0]


@pytest.mark.parametrize("name", FILES)
def test_streamed_chunks_equal_one_write(tmp_path, records, name):
    (tmp_path / "chunks").mkdir()
    (tmp_path / "whole").mkdir()
    with open_writer(tmp_path / "chunks" / name) as w:
        for start in range(0, 3, 2):
            w.add(records[start:start + 2])
    a = read_records(tmp_path / "chunks" / name)
    b = read_records(write_records(records, tmp_path / "whole" / name))
    np.testing.assert_array_equal(a.data, b.data)
    _same_metadata(a.metadata, b.metadata)


@pytest.mark.parametrize("name", FILES)
def test_never_overwrites_without_permission(tmp_path, records, name):
    path = write_records(records[:1], tmp_path / name)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_records(records, path)
    assert len(read_records(path)) == 1
    write_records(records, path, overwrite=True)
    assert len(read_records(path)) == 3


@pytest.mark.parametrize("name", FILES)
def test_failure_leaves_nothing_behind(tmp_path, records, name):
    with pytest.raises(RuntimeError, match="boom"):
        with open_writer(tmp_path / name) as w:
            w.add(records[:2])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_mismatched_chunks_and_empty_output_are_errors(tmp_path, records):
    with pytest.raises(ValueError, match="fs"):
        with open_writer(tmp_path / "a.h5") as w:
            w.add(records)
            w.add(records.replace(fs=50.0))
    with pytest.raises(ValueError, match="no records"):
        with open_writer(tmp_path / "b.npz"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_mseed_refuses_if_a_sidecar_exists(tmp_path, records):
    (tmp_path / "out.stations.xml").write_text("keep me")
    with pytest.raises(FileExistsError, match="stations.xml"):
        write_records(records, tmp_path / "out.mseed")
    assert (tmp_path / "out.stations.xml").read_text() == "keep me"
    assert not (tmp_path / "out.mseed").exists()


@pytest.mark.parametrize("path,fmt", [("a.h5", "hdf5"), ("a.HDF5", "hdf5"), ("a.npz", "npz"),
                                      ("a.mseed", "mseed"), ("a.sac", "sac"), ("a.at2", "at2"),
                                      ("dataset", "seisbench")])
def test_infer_format(path, fmt):
    assert infer_format(path) == fmt


def test_unknown_suffix_is_named():
    with pytest.raises(ValueError, match=r"'\.xyz'"):
        infer_format("out.xyz")


def test_synthetic_geometry_reproduces_the_distances():
    from obspy.geodetics import gps2dist_azimuth, locations2degrees

    from quakesynth.formats._common import synthetic_geometry

    meta = pd.DataFrame({"path_hyp_distance_km": [30.0, 80.0, 5.0, np.nan],
                         "source_depth_km": [10.0, 40.0, 5.0, 10.0],
                         "path_back_azimuth_deg": [np.nan, 30.0, np.nan, np.nan],
                         "source_latitude_deg": [np.nan, np.nan, np.nan, 35.0],
                         "source_longitude_deg": [np.nan, np.nan, np.nan, 139.0],
                         "station_latitude_deg": [np.nan, np.nan, np.nan, 35.5],
                         "station_longitude_deg": [np.nan, np.nan, np.nan, 139.0]})
    g = synthetic_geometry(meta)
    gc = locations2degrees(g.source_latitude_deg, g.source_longitude_deg, g.station_latitude_deg,
                           g.station_longitude_deg)
    np.testing.assert_allclose(gc, g.gcarc_deg, atol=1e-9)
    np.testing.assert_allclose(np.radians(gc[:3]) * 6371.0, g.path_ep_distance_km[:3], rtol=1e-9)
    np.testing.assert_allclose(np.hypot(g.path_ep_distance_km[:3], [10, 40, 5]), [30, 80, 5], rtol=1e-9)
    assert g.azimuth_deg.tolist()[:3] == [0.0, 210.0, 0.0]
    assert g.back_azimuth_deg.tolist()[:3] == [180.0, 30.0, 180.0]
    _, az, baz = gps2dist_azimuth(g.source_latitude_deg[1], g.source_longitude_deg[1],
                                  g.station_latitude_deg[1], g.station_longitude_deg[1])
    assert az == pytest.approx(210.0, abs=0.3) and baz == pytest.approx(30.0, abs=0.3)  # WGS84 vs sphere
    # real coordinates are kept: 0.5 degrees due north
    assert (g.source_latitude_deg[3], g.station_latitude_deg[3]) == (35.0, 35.5)
    assert g.path_ep_distance_km[3] == pytest.approx(np.radians(0.5) * 6371.0)
    assert g.azimuth_deg[3] == pytest.approx(0.0, abs=1e-9) and g.back_azimuth_deg[3] == pytest.approx(180.0)
