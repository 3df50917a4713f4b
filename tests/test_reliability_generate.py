"""Issue 14, items 4-8 on the generation side: streaming with an absurd n, one scenario
validation, one-line errors, origin and start times, string station codes, folder modes,
the --threads default."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from quakesynth.cli.main import main
from quakesynth.generate import (
    _REGISTRY,
    DEFAULT_ORIGIN_TIME,
    ConditioningError,
    Generator,
    register_model,
)

SCEN = dict(magnitude=5.0, distance=30.0, vs30=400.0, depth=10.0, gap=120.0)


class Toy(Generator):
    """No validation of its own: everything it gets comes from the shared check."""

    name = "toy-rel"
    ranges = {"magnitude": (4.0, 7.5)}
    n_samples = 64
    default_batch_size = 4

    def _generate(self, cond, seeds, device="cpu"):
        return np.stack([np.random.default_rng(int(s)).standard_normal((3, self.n_samples)) for s in seeds]
                        ).astype(np.float32)


@pytest.fixture()
def toy_cli():
    register_model("toy-rel", Toy, "toy of the reliability tests")
    yield
    _REGISTRY.pop("toy-rel", None)


def test_absurd_n_streams_its_first_chunk_at_once():
    it = Toy().iter_table(pd.DataFrame([{**SCEN, "n": 10**15}]), batch_size=4)
    tracemalloc.start()
    try:
        first, second = next(it), next(it)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6
    assert first.metadata["realization"].tolist() == [0, 1, 2, 3]
    assert second.metadata["realization"].tolist() == [4, 5, 6, 7]


def test_streamed_rows_match_the_flattened_table():
    table = pd.DataFrame([{**SCEN, "n": 3}, {**SCEN, "magnitude": 6.0, "n": 2}])
    rec = Toy().generate_table(table, seed=1, batch_size=2)
    assert rec.metadata["scenario_index"].tolist() == [0, 0, 0, 1, 1]
    assert rec.metadata["realization"].tolist() == [0, 1, 2, 0, 1]
    sl = list(Toy().iter_table(table, seed=1, batch_size=5, rows=slice(2, 4)))[0]
    np.testing.assert_array_equal(sl.data, rec.data[2:4])


@pytest.mark.parametrize("change, match", [
    (dict(distance=5.0, depth=10.0), r"distance=5 km is smaller than depth=10 km.*scenario row 2"),
    (dict(vs30=0.0), r"vs30=0 m/s is not physical: it must be > 0 m/s \(scenario row 2\)"),
    (dict(gap=400.0), r"gap=400 deg is not physical"),
    (dict(depth=-1.0), r"depth=-1 km is not physical"),
    (dict(distance=float("nan")), r"distance must be finite; got nan in scenario row 2$"),
])
def test_one_validation_for_every_model_even_when_extrapolating(change, match):
    table = pd.DataFrame([SCEN, {**SCEN, **change}])
    with pytest.raises(ConditioningError, match=match):
        Toy().check_table(table, allow_extrapolation=True)


def test_bad_rows_of_a_scenario_file_are_numbered(tmp_path, toy_cli, capsys):
    csv = tmp_path / "s.csv"
    csv.write_text("magnitude,distance,vs30,depth,gap\n5,30,400,10,120\n5,abc,400,10,120\n")
    assert main(["generate", "--model", "toy-rel", "--scenarios", str(csv), "-o", str(tmp_path / "o.h5"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "quakesynth: error: distance must be finite; got 'abc' in scenario row 2"


def test_missing_output_folder_is_reported_not_created(tmp_path, toy_cli, capsys):
    out = tmp_path / "no" / "such" / "out.h5"
    args = ["generate", "--model", "toy-rel", "--no-progress", *sum(([f"--{k}", str(v)] for k, v in SCEN.items()), [])]
    assert main([*args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "output folder" in err and "does not exist" in err
    assert not (tmp_path / "no").exists()


def test_origin_and_start_times():
    rec = Toy().generate(**SCEN, n=2)
    assert rec.metadata["source_origin_time"].eq(DEFAULT_ORIGIN_TIME).all()
    assert rec.metadata["trace_start_time"].eq(DEFAULT_ORIGIN_TIME).all()
    rec = Toy().generate(**SCEN, n=1, origin_time="2011-03-11T14:46:18+09:00")
    assert rec.metadata["source_origin_time"].iloc[0] == "2011-03-11T05:46:18"
    with pytest.raises(ValueError, match="ISO 8601"):
        Toy().generate(**SCEN, n=1, origin_time="yesterday")


def test_p_pick_is_origin_plus_travel_time():
    """A model that states its P pick gets start = origin + tP - pick / fs."""
    from quakesynth.simulate.velocity_model import travel_times

    class Picked(Toy):
        def _metadata(self, rows, k, seeds, seed):
            meta = super()._metadata(rows, k, seeds, seed)
            meta["trace_p_arrival_sample"] = 500.0
            return meta

    meta = Picked().generate(**SCEN, n=1).metadata
    tp = float(travel_times(np.array([10.0]), np.array([30.0]))["tP"][0])
    start = pd.Timestamp(meta["trace_start_time"].iloc[0])
    assert abs((start + pd.Timedelta(seconds=5.0) - pd.Timestamp(DEFAULT_ORIGIN_TIME)).total_seconds() - tp) < 1e-5


def test_station_codes_stay_strings_through_seisbench(tmp_path, toy_cli):
    sbd = pytest.importorskip("seisbench.data")
    out = tmp_path / "ds"
    args = sum(([f"--{k}", str(v)] for k, v in SCEN.items()), [])
    assert main(["generate", "--model", "toy-rel", "--no-progress", *args, "-n", "3", "-o", str(out)]) == 0
    meta = sbd.WaveformDataset(out, component_order="ZNE").metadata
    assert meta["station_code"].tolist() == ["A0000"] * 3
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    from quakesynth._atomic import umask

    return umask()


def test_threads_default_never_oversubscribes(monkeypatch):
    from quakesynth.parallel import available_cores, default_threads

    monkeypatch.delenv("QUAKESYNTH_THREADS", raising=False)
    for workers in (1, 2, 3, 64):
        assert default_threads(workers) * workers <= max(available_cores(), workers)
        # one thread per process whatever the cores: the same bits on every machine, and no
        # oversubscription when another process competes (the old default was the cores / workers)
        assert default_threads(workers) == 1
    monkeypatch.setenv("QUAKESYNTH_THREADS", "3")
    assert default_threads(2) == 3
    monkeypatch.setenv("QUAKESYNTH_THREADS", "lots")
    with pytest.raises(ValueError, match="QUAKESYNTH_THREADS"):
        default_threads()


def test_corrupt_weights_are_one_line_naming_the_file(tmp_path, capsys):
    import shutil

    from quakesynth.generate.highfem import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip("no default model shipped")
    model = tmp_path / "m"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    (model / "edm.pt").write_bytes((DEFAULT_MODEL_DIR / "edm.pt").read_bytes()[:5000])  # truncated
    args = sum(([f"--{k}", str(v)] for k, v in SCEN.items()), [])
    assert main(["generate", "--model", str(model), "--no-progress", *args, "-o", str(tmp_path / "o.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot load weights file {str(model / 'edm.pt')!r}" in err[0]
