"""The dataset store: exact round trip, SeisBench compatibility, splits, statistics, atomicity."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from quakesynth.data.store import Dataset, DatasetWriter, assign_splits
from quakesynth.records import Records


def make_records(n: int, seed: int = 0, t: int = 256, offset: int = 0, events: int | None = None) -> Records:
    """Random records with every conditioning variable and a few extra columns."""
    rng = np.random.default_rng(seed)
    ev = rng.integers(0, events or max(1, n // 3), n)
    meta = pd.DataFrame({
        "trace_name": [f"rec{offset + i:05d}" for i in range(n)],
        "source_id": [f"ev{e:03d}" for e in ev],
        "source_origin_time": ["2020-01-01T00:00:00.000000Z"] * n,
        "source_magnitude": rng.uniform(3, 7, n).round(1),
        "source_magnitude_type": ["MJMA"] * n,
        "source_depth_km": rng.uniform(1, 60, n),
        "station_code": [f"S{i % 7}" for i in range(n)],
        "station_vs30_mps": rng.uniform(150, 900, n),
        "path_hyp_distance_km": rng.uniform(5, 300, n),
        "path_azimuthal_gap_deg": rng.uniform(20, 350, n),
        "trace_p_arrival_sample": np.full(n, 500.0),
        "trace_processing": ['[{"step": "demean_detrend", "type": "linear"}]'] * n,
        "trace_pad_start_samples": rng.integers(0, 5, n),
        "note": ['text, with "quotes"'] * n,
    })
    data = rng.normal(size=(n, 3, t)).astype(np.float32) * rng.uniform(0.01, 1, (n, 1, 1)).astype(np.float32)
    return Records(data, fs=100.0, components="ZNE", metadata=meta)


def write(path, batches, **kw) -> None:
    with DatasetWriter(path, **kw) as w:
        for b in batches:
            w.add(b)


def test_round_trip_is_exact(tmp_path):
    batches = [make_records(7, seed=1), make_records(13, seed=2, offset=100), make_records(1, seed=3, offset=200)]
    write(tmp_path / "ds", batches, bucket_size=5)
    ds = Dataset(tmp_path / "ds")
    ref = Records.concat(batches)
    back = ds.get(np.arange(len(ds)))
    assert len(ds) == 21 and ds.fs == 100.0 and ds.components == "ZNE" and ds.n_samples == 256
    np.testing.assert_array_equal(back.data, ref.data)
    assert back.data.dtype == np.float32
    pd.testing.assert_frame_equal(back.metadata.drop(columns="split"), ref.metadata.drop(columns="split"))
    # any order, any subset, one record
    idx = [20, 3, 3, 11]
    np.testing.assert_array_equal(ds.get(idx).data, ref.data[idx])
    assert ds[5].metadata["trace_name"].tolist() == ["rec00005"]
    np.testing.assert_array_equal(ds[2:9:3].data, ref.data[2:9:3])


@pytest.mark.slow  # importing SeisBench imports torch (several seconds)
@pytest.mark.filterwarnings("ignore:The inplace keyword")
def test_seisbench_reads_what_we_write(tmp_path):
    sbd = pytest.importorskip("seisbench.data")
    rec = make_records(12, seed=4)
    write(tmp_path / "ds", [rec], bucket_size=5)
    sb = sbd.WaveformDataset(tmp_path / "ds", component_order="ZNE", dimension_order="NCW", cache=None)
    assert len(sb) == 12
    assert sb.data_format["component_order"] == "ZNE" and sb.data_format["dimension_order"] == "CW"
    assert float(sb.data_format["sampling_rate"]) == 100.0
    assert sb.data_format["measurement"] == "acceleration" and sb.data_format["unit"] == "m/s^2"
    np.testing.assert_array_equal(sb.get_waveforms(np.arange(12)), rec.data)
    m = sb.metadata
    assert m["trace_name_original"].tolist() == rec.metadata["trace_name"].tolist()
    np.testing.assert_array_equal(m["source_magnitude"].to_numpy(), rec.metadata["source_magnitude"].to_numpy())
    np.testing.assert_array_equal(m["path_hyp_distance_km"].to_numpy(), rec.metadata["path_hyp_distance_km"].to_numpy())
    ours = Dataset(tmp_path / "ds").metadata
    assert m["split"].tolist() == ours["split"].tolist()
    assert len(sb.train()) + len(sb.dev()) + len(sb.test()) == 12


def test_same_input_and_seed_give_identical_bytes(tmp_path):
    import time

    batches = [make_records(20, seed=5, events=20), make_records(4, seed=6, offset=50)]
    write(tmp_path / "a", batches, bucket_size=4, seed=3)
    time.sleep(1.1)  # a timestamp in the files would now differ
    write(tmp_path / "b", batches, bucket_size=4, seed=3)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["dataset.json", "metadata.csv", "stats.json", "waveforms.hdf5"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    write(tmp_path / "c", batches, bucket_size=4, seed=4)
    assert Dataset(tmp_path / "c").metadata["split"].tolist() != Dataset(tmp_path / "a").metadata["split"].tolist()


def test_no_event_crosses_splits_and_fractions_are_met(rng):
    n = 3000
    sid = rng.integers(0, 400, n).astype(str)
    split = assign_splits(sid, (0.8, 0.1, 0.1), seed=0)
    per_event = pd.DataFrame({"e": sid, "s": split}).groupby("e")["s"].nunique()
    assert (per_event == 1).all()
    frac = pd.Series(split).value_counts(normalize=True)
    assert abs(frac["train"] - 0.8) < 0.02 and abs(frac["dev"] - 0.1) < 0.02 and abs(frac["test"] - 0.1) < 0.02
    # deterministic from the seed, independent of the record order
    assert (assign_splits(sid, seed=0) == split).all()
    perm = rng.permutation(n)
    assert (assign_splits(sid[perm], seed=0) == split[perm]).all()
    assert (assign_splits(sid, seed=1) != split).any()


def test_preset_splits_are_kept_and_missing_ids_are_own_events():
    sid = ["a", "a", "a", "b", "b", None, None]
    preset = ["test", None, None, None, "dev", None, "dev"]
    out = assign_splits(sid, (1.0, 0.0, 0.0), seed=0, preset=preset)
    assert out.tolist() == ["test", "test", "test", "dev", "dev", "train", "dev"]
    with pytest.raises(ValueError, match="split_fractions"):
        assign_splits(sid, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="preset"):
        assign_splits(["a"], preset=["validation"])


def test_dataset_splits_and_train_only_statistics(tmp_path):
    rec = make_records(60, seed=7, events=15)
    write(tmp_path / "ds", [rec], split_fractions=(0.6, 0.2, 0.2), seed=2)
    ds = Dataset(tmp_path / "ds")
    meta = ds.metadata
    assert (meta.groupby("source_id")["split"].nunique() == 1).all()
    train = ds.split("train")
    assert len(train) + len(ds.split("dev")) + len(ds.split("test")) == 60
    tr = train.get(np.arange(len(train)))
    x = tr.data.astype(np.float64)
    st = ds.stats
    assert st["split"] == "train" and st["waveform"]["n_records"] == len(train)
    np.testing.assert_allclose(st["waveform"]["mean"], x.mean(axis=(0, 2)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(st["waveform"]["std"], x.std(axis=(0, 2)), rtol=1e-7)
    np.testing.assert_allclose(st["waveform"]["abs_max"], np.abs(x).max(axis=(0, 2)), rtol=1e-7)
    mag = tr.metadata["source_magnitude"].to_numpy()
    c = st["conditioning"]["magnitude"]
    assert c["count"] == len(train) and c["mean"] == pytest.approx(mag.mean()) and c["max"] == mag.max()
    assert c["std"] == pytest.approx(mag.std())
    all_mag = meta["source_magnitude"].to_numpy()
    assert c["mean"] != pytest.approx(all_mag.mean())  # not the whole dataset's
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["split_counts"]["train"] == len(train)


def test_batches_stream_every_record_once(tmp_path):
    rec = make_records(23, seed=8)
    write(tmp_path / "ds", [rec], bucket_size=4)
    ds = Dataset(tmp_path / "ds")
    names = [n for b in ds.batches(5) for n in b.metadata["trace_name"]]
    assert names == rec.metadata["trace_name"].tolist()
    sh = [b for b in ds.batches(5, shuffle=True, seed=1)]
    assert [len(b) for b in sh] == [5, 5, 5, 5, 3]
    got = np.concatenate([b.data for b in sh])
    order = [int(n[3:]) for b in sh for n in b.metadata["trace_name"]]
    np.testing.assert_array_equal(got, rec.data[order])
    assert sorted(order) == list(range(23)) and order != list(range(23))
    assert order == [int(n[3:]) for b in ds.batches(5, shuffle=True, seed=1) for n in b.metadata["trace_name"]]
    assert [len(b) for b in ds.batches(5, drop_last=True)] == [5, 5, 5, 5]


def test_views_select_and_torch_dataset(tmp_path):
    rec = make_records(10, seed=9)
    write(tmp_path / "ds", [rec])
    ds = Dataset(tmp_path / "ds")
    view = ds.select(np.arange(10) % 2 == 0).select([4, 0])
    assert view.metadata["trace_name"].tolist() == ["rec00008", "rec00000"]
    np.testing.assert_array_equal(view.get([0, 1]).data, rec.data[[8, 0]])
    tds = ds.torch_dataset()
    item = tds[3]
    np.testing.assert_array_equal(item["waveform"], rec.data[3])
    np.testing.assert_allclose(item["cond"], rec.conditioning()[3].astype(np.float32))
    clone = pickle.loads(pickle.dumps(tds))  # what DataLoader workers receive
    np.testing.assert_array_equal(clone[7]["waveform"], rec.data[7])
    norm = ds.torch_dataset(normalise=True)
    st = ds.stats["conditioning"]["magnitude"]
    assert norm[0]["cond"][0] == pytest.approx((rec.metadata["source_magnitude"][0] - st["mean"]) / st["std"], rel=1e-5)


@pytest.mark.slow
def test_torch_dataloader_workers_open_hdf5_lazily(tmp_path):
    torch = pytest.importorskip("torch")
    rec = make_records(16, seed=10)
    write(tmp_path / "ds", [rec], bucket_size=4)
    loader = torch.utils.data.DataLoader(Dataset(tmp_path / "ds").torch_dataset(), batch_size=4, num_workers=2)
    batches = list(loader)
    got = torch.cat([b["waveform"] for b in batches]).numpy()
    np.testing.assert_array_equal(got, rec.data)


def test_interrupted_or_failed_write_leaves_nothing(tmp_path):
    rec = make_records(8, seed=11)
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with DatasetWriter(tmp_path / "ds", bucket_size=2) as w:
                w.add(rec)
                raise exc
        assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no records"):
        with DatasetWriter(tmp_path / "ds"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_existing_dataset_is_kept_unless_overwrite(tmp_path):
    write(tmp_path / "ds", [make_records(3, seed=12)])
    with pytest.raises(FileExistsError):
        DatasetWriter(tmp_path / "ds")
    write(tmp_path / "ds", [make_records(5, seed=13)], overwrite=True)
    assert len(Dataset(tmp_path / "ds")) == 5


def test_writer_rejects_inconsistent_records(tmp_path):
    rec = make_records(4, seed=14)
    with pytest.raises(ValueError, match="fs"):
        with DatasetWriter(tmp_path / "a", fs=50.0) as w:
            w.add(rec)
    with pytest.raises(ValueError, match="components"):
        with DatasetWriter(tmp_path / "b", components="ZRT") as w:
            w.add(rec)
    with pytest.raises(ValueError, match="samples"):
        with DatasetWriter(tmp_path / "c") as w:
            w.add(rec)
            w.add(make_records(2, seed=15, t=128, offset=10))
    with pytest.raises(ValueError, match="duplicate trace_name"):
        with DatasetWriter(tmp_path / "d") as w:
            w.add(rec)
            w.add(rec)
    bad = rec.replace(data=np.where(np.arange(256) == 3, np.nan, rec.data))
    with pytest.raises(ValueError, match="NaN"):
        with DatasetWriter(tmp_path / "e") as w:
            w.add(bad)
    with pytest.raises(ValueError, match="split_fractions"):
        DatasetWriter(tmp_path / "f", split_fractions=(0.9, 0.2, 0.0))
    assert list(tmp_path.iterdir()) == []


def test_counts_and_rotated_components_are_stored_as_such(tmp_path):
    rec = make_records(3, seed=16)
    raw = Records(rec.data, fs=100.0, components="ZRT", quantity="velocity", unit="counts", metadata=rec.metadata)
    write(tmp_path / "ds", [raw], components="ZRT", quantity="velocity", unit="counts")
    ds = Dataset(tmp_path / "ds")
    assert (ds.components, ds.quantity, ds.unit) == ("ZRT", "velocity", "counts")
    assert ds.data_format["instrument_response"] == "not restituted"
    r = ds[0]
    assert r.unit == "counts" and r.components == "ZRT"
    with pytest.raises(ValueError, match="counts"):
        r.to_unit("g")


def test_reads_a_seisbench_dataset_written_by_others():
    import h5py

    from conftest import shared_path

    path = shared_path("fixtures", "seisbench_dummy")
    ds = Dataset(path)
    assert (len(ds), ds.fs, ds.components, ds.unit) == (100, 20.0, "ZNE", "counts")
    with h5py.File(path / "waveforms.hdf5", "r") as f:
        ref = np.concatenate([f[f"data/bucket{k}"][()] for k in range(3)]).astype(np.float32)
    np.testing.assert_array_equal(ds.get(np.arange(100)).data, ref)
    assert len(ds.split("dev")) == 10 and ds.metadata["trace_name"][0] == "2007_01_01 01_42_45_08"
