"""The SeisBench dataset output: written by the store, read back by SeisBench itself."""

import numpy as np
import pandas as pd
import pytest

from quakesynth.formats import iter_records, open_writer, read_records, write_records
from quakesynth.records import Records

pytest.importorskip("quakesynth.data.store")


@pytest.fixture
def records() -> Records:
    rng = np.random.default_rng(3)
    n = 5
    meta = pd.DataFrame({"trace_name": [f"toy_{i}" for i in range(n)], "source_id": [f"ev{i // 2}" for i in range(n)],
                         "source_magnitude": 5.0 + 0.1 * np.arange(n), "path_hyp_distance_km": 30.0,
                         "station_vs30_mps": 400.0, "source_depth_km": 10.0, "path_azimuthal_gap_deg": 90.0})
    return Records(rng.standard_normal((n, 3, 200)), fs=100.0, components="ZNE", metadata=meta)


@pytest.mark.slow  # imports seisbench, hence torch
def test_dataset_round_trip_through_seisbench(tmp_path, records):
    import seisbench.data as sbd

    path = write_records(records, tmp_path / "dataset")
    assert (path / "metadata.csv").exists() and (path / "waveforms.hdf5").exists()
    back = read_records(path)
    order = np.argsort(back.metadata["trace_name"].to_numpy())  # the store restores our names
    np.testing.assert_array_equal(back.data[order], records.data)
    np.testing.assert_array_equal(back.conditioning()[order], records.conditioning())
    sb = sbd.WaveformDataset(path, component_order="ZNE")
    assert len(sb) == 5 and float(sb.data_format["sampling_rate"]) == 100.0
    for i in range(5):
        j = int(np.flatnonzero(sb.metadata["trace_name_original"].to_numpy() == f"toy_{i}")[0])
        np.testing.assert_array_equal(sb.get_waveforms(j), records.data[i])
    chunks = list(iter_records(path, chunk_size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]


def test_dataset_is_atomic_and_not_overwritten(tmp_path, records):
    with pytest.raises(RuntimeError):
        with open_writer(tmp_path / "ds") as w:
            w.add(records)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    write_records(records, tmp_path / "ds")
    with pytest.raises(FileExistsError):
        write_records(records, tmp_path / "ds")
