"""Each reader on its fixture: K-NET/KiK-net, STEAD, SeisBench, PEER AT2, generic ObsPy files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path
from quakesynth.data import knet, readers, stead
from quakesynth.data.ingest_report import Conflict, Dropped
from quakesynth.formats import peer
from quakesynth.records import G, Records


def _records(items) -> list[Records]:
    return [i for i in items if isinstance(i, Records)]


def test_knet_calibration_reproduces_header_max_acc(knet_dir):
    """Every real file: peak of the demeaned calibrated record == header "Max. Acc. (gal)"."""
    files = sorted(p for p in knet_dir.rglob("*") if knet.sniff(p))
    assert len(files) >= 54
    groups, unmatched = knet.group_files(files, "both")
    assert not unmatched
    checked = 0
    for g in groups:
        (rec,) = _records(knet.read_group(g))
        for f in g:
            comp = knet.DIRECTIONS[f.suffix[1:3]]
            x = rec.component(comp)[0].astype(np.float64)
            peak_gal = np.max(np.abs(x - x.mean())) * 100.0
            header = float(knet._header_value(f, "Max. Acc. (gal)"))
            assert peak_gal == pytest.approx(header, abs=6e-4), f.name  # header: 3 decimals
            checked += 1
    assert checked == len(files)


def test_knet_groups_three_files_into_zne(knet_dir):
    import obspy

    g = sorted((knet_dir / "knet_20240809_kanagawa").glob("KNG001*"))
    (rec,) = _records(knet.read_group(g))
    assert rec.components == "ZNE" and rec.fs == 100.0 and rec.data.shape == (1, 3, 8700)
    assert (rec.quantity, rec.unit) == ("acceleration", "m/s^2")
    ud = obspy.read(str(g[2]), format="KNET")[0]
    np.testing.assert_allclose(rec.data[0, 0], (ud.data * ud.stats.calib).astype(np.float32))
    m = rec.metadata.iloc[0]
    assert (m.station_code, m.station_network_code, m.source_magnitude_type) == ("KNG001", "BO", "MJMA")
    assert m.source_origin_time == "2024-08-09T10:57:00.000000Z"  # header JST -> UTC
    assert m.trace_start_time == "2024-08-09T10:57:36.000000Z"  # record time - 15 s, in UTC


def test_kiknet_surface_by_default_borehole_on_request(knet_dir):
    files = sorted((knet_dir / "kiknet_20240101_noto").glob("ISKH01*"))
    (g,), _ = knet.group_files(files)
    assert {f.suffix for f in g} == {".EW2", ".NS2", ".UD2"}
    (surf,) = _records(knet.read_group(g))
    (g1,), _ = knet.group_files(files, "borehole")
    (bore,) = _records(knet.read_group(g1))
    assert surf.metadata["trace_name"][0] == "ISKH012401011610.2"
    assert bore.metadata["trace_sensor"][0] == "borehole" and bore.metadata["station_elevation_m"][0] < 0
    assert len(knet.group_files(files, "both")[0]) == 2
    assert not np.allclose(surf.data, bore.data)


def test_event_json_conflicts_are_reported_and_header_wins(knet_dir):
    g = sorted((knet_dir / "usb000syza").glob("CHB002*"))
    items = list(knet.read_group(g))
    conflicts = [i for i in items if isinstance(i, Conflict)]
    (rec,) = _records(items)
    assert {c.field for c in conflicts} >= {"origin_time", "epicentre", "depth_km", "magnitude"}
    assert all("different event" in c.detail for c in conflicts)
    m = rec.metadata.iloc[0]
    assert m.source_magnitude == 4.2 and m.source_depth_km == 84.0  # the header's (Chiba, 84 km)
    assert m.source_id.startswith("knet_20141231")  # not the json's id of another event
    (rec_json,) = _records(knet.read_group(g, prefer="json"))
    assert rec_json.metadata["source_magnitude"][0] == 6.2 and rec_json.metadata["source_id"][0] == "usb000syza"
    # same event, other catalogue: the catalogue id is kept, the header values used
    (tottori,) = _records(knet.read_group(sorted((knet_dir / "usp000a1b0").glob("AICH04*"))))
    assert tottori.metadata["source_id"][0] == "usp000a1b0" and tottori.metadata["source_magnitude"][0] == 7.3
    assert tottori.fs == 200.0


def test_stead_reader_on_fixture():
    import h5py

    path = shared_path("fixtures", "stead_sample")
    assert readers.detect_format(path) == "stead"
    recs = _records(stead.read(path, batch_size=20))
    assert [len(r) for r in recs] == [20, 20, 10]
    r = recs[0]
    assert (r.components, r.fs, r.unit, r.quantity, r.n_samples) == ("ZNE", 100.0, "counts", "velocity", 6000)
    name = r.metadata["trace_name"][0]
    with h5py.File(path / "waveforms.hdf5", "r") as f:
        raw = f[f"earthquake/local/{name}"][()]  # (6000, 3), E N Z
    np.testing.assert_array_equal(r.data[0], raw.T[[2, 1, 0]].astype(np.float32))
    m = r.metadata.iloc[0]
    assert m.trace_p_arrival_sample == 700.0 and m.station_code == "109C"
    assert m.path_azimuthal_gap_deg == pytest.approx(107.466) and m.source_origin_time.startswith("2006-07-23T15:58:50.88")


@pytest.mark.slow  # imports SeisBench (torch)
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_seisbench_reader_on_fixture():
    import seisbench.data as sbd

    from quakesynth.data import seisbench_dataset

    path = shared_path("fixtures", "seisbench_dummy")
    assert readers.detect_format(path) == "seisbench"
    recs = _records(seisbench_dataset.read(path, batch_size=64))
    assert sum(len(r) for r in recs) == 100
    ref = sbd.WaveformDataset(path, component_order="ZNE", dimension_order="NCW")
    np.testing.assert_allclose(recs[0].data, ref.get_waveforms(np.arange(64)).astype(np.float32))
    assert (recs[0].fs, recs[0].unit) == (20.0, "counts")
    splits = np.concatenate([r.metadata["split"].to_numpy(dtype=str) for r in recs])
    assert (splits == ref.metadata["split"].to_numpy(dtype=str)).all()  # preset splits carried along


def test_at2_reader_on_fixture():
    path = shared_path("fixtures", "peer_at2")
    files = sorted(path.glob("*.AT2"))
    assert all(readers.detect_format(f) == "at2" for f in files)
    recs = {r.metadata["trace_name"][0]: r for g in peer.group_files(files) for r in _records(peer.read_group(g))}
    assert len(recs) == 5
    pth = recs["RSN1059_NORTHR_PTH"]
    assert pth.components == "NE" and pth.fs == 50.0
    _, x180 = peer.read_file(path / "RSN1059_NORTHR_PTH180.AT2")
    _, x090 = peer.read_file(path / "RSN1059_NORTHR_PTH090.AT2")
    np.testing.assert_allclose(pth.data[0, 0], (-x180 * G).astype(np.float32))  # 180 points south
    np.testing.assert_allclose(pth.data[0, 1], (x090 * G).astype(np.float32))
    scs = recs["RSN1084_NORTHR_SCS"]
    assert scs.components == "12" and scs.metadata["trace_component_azimuth_deg"][0] == "52;142"
    assert np.abs(scs.data).max() / G == pytest.approx(0.92, abs=0.01)  # Sylmar converter station, ~0.9 g
    assert recs["RSN1140_DINAR_DEN"].fs == 256.0  # DT printed as .0039
    assert recs["RSN107_OROVILLE_B-OAP"].n_samples == 2405  # pair trimmed to the shorter file
    assert pth.metadata["source_id"][0] == recs["RSN1090_NORTHR_SYC"].metadata["source_id"][0] == "northridge-01_1994-01-17"


def test_obspy_files_with_event_json_sac_headers_and_table(tmp_path, obspy_stream):
    (tmp_path / "a").mkdir()
    obspy_stream.write(str(tmp_path / "a" / "rjob.mseed"), format="MSEED")
    (tmp_path / "a" / "event.json").write_text(json.dumps(
        {"id": "ev1", "time": "2009-08-24T00:19:45", "lat": 47.5, "lon": 12.5, "depth": 10, "magnitude": 4.5}))
    (tmp_path / "b").mkdir()
    for tr in obspy_stream.copy():
        tr.data = tr.data.astype(np.float32)
        tr.stats.network = "XX"
        tr.stats.sac = {"stla": 47.737, "stlo": 12.796, "evla": 47.0, "evlo": 12.0, "evdp": 8.0, "mag": 3.0}
        tr.write(str(tmp_path / "b" / f"{tr.id}.sac"), format="SAC")
    table = tmp_path / "meta.csv"
    table.write_text("station_code,station_network_code,station_latitude_deg,station_longitude_deg\n"
                     "RJOB,BW,47.737,12.796\n")
    items = list(readers.read([tmp_path], options=readers.ReadOptions(input_unit="m/s", metadata_table=str(table))))
    recs = {r.metadata["station_network_code"][0]: r for r in _records(items)}
    assert set(recs) == {"BW", "XX"} and not [i for i in items if isinstance(i, Dropped)]
    bw = recs["BW"].metadata.iloc[0]
    assert (bw.source_id, bw.source_magnitude, bw.station_latitude_deg) == ("ev1", 4.5, 47.737)
    assert recs["BW"].quantity == "velocity" and recs["BW"].components == "ZNE"
    np.testing.assert_allclose(recs["BW"].data[0, 0], obspy_stream.select(component="Z")[0].data.astype(np.float32))
    xx = recs["XX"].metadata.iloc[0]
    assert (xx.source_magnitude, xx.source_depth_km, xx.station_longitude_deg) == (3.0, 8.0, pytest.approx(12.796))


def test_format_detection_and_forced_formats(tmp_path, knet_dir):
    (tmp_path / "notes.txt").write_text("not a seismogram\n")
    (tmp_path / "x.EW").write_bytes(b"\x00\x01garbage")
    assert readers.detect_format(tmp_path / "notes.txt") is None
    assert readers.detect_format(next(knet_dir.rglob("*.UD"))) == "knet"
    found = readers.discover([tmp_path])
    assert not found.units and {Path(d.source).name for d in found.dropped} == {"notes.txt", "x.EW"}
    with pytest.raises(ValueError, match="dataset"):
        readers.discover([tmp_path], format="stead")
    with pytest.raises(FileNotFoundError):
        readers.discover([tmp_path / "missing"])
    with pytest.raises(ValueError, match="format"):
        readers.discover([tmp_path], format="sac")


@pytest.mark.parametrize("header_lines", [17, 16])
def test_knet_header_only_file_is_dropped_naming_the_file(tmp_path, knet_dir, header_lines):
    """Issue 14 item 5: a header-only K-NET file (full header, or cut inside it) is dropped
    with a reason that says what is wrong and names the file, not "knet reader failed"."""
    src = knet_dir / "knet_20240809_kanagawa"
    if not (src / "KNG0012408091957.EW").exists():
        pytest.skip(f"needs {src}/KNG0012408091957.EW")
    for comp in ("EW", "NS", "UD"):
        lines = (src / f"KNG0012408091957.{comp}").read_text().splitlines(keepends=True)
        body = lines if comp != "EW" else lines[:header_lines]
        (tmp_path / f"KNG0012408091957.{comp}").write_text("".join(body))
    items = list(readers.read([tmp_path]))
    (drop,) = [i for i in items if isinstance(i, Dropped)]
    assert not _records(items)
    header_only = tmp_path / "KNG0012408091957.EW"
    assert drop.detail == f"no samples after the header in {header_only}"
    assert drop.reason == "truncated" and drop.trace_name == "KNG0012408091957"
    assert "reader failed" not in drop.detail
