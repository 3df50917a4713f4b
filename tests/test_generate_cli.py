"""``quakesynth generate`` and ``quakesynth models`` end to end through main([...])."""

import numpy as np
import pandas as pd
import pytest

from quakesynth.cli.main import main
from quakesynth.formats import read_records
from quakesynth.generate import _REGISTRY, Generator, register_model


class ToyGen(Generator):
    name = "toy-cli"
    description = "enveloped noise for the CLI tests"
    ranges = {"magnitude": (4.0, 7.5), "distance": (1.0, 200.0), "vs30": (100.0, 2000.0),
              "depth": (0.0, 100.0), "gap": (0.0, 360.0)}
    n_samples = 128
    default_batch_size = 4

    def _generate(self, cond, seeds, device="cpu"):
        t = np.arange(self.n_samples) / self.fs
        out = np.empty((len(seeds), 3, self.n_samples), np.float32)
        for i, s in enumerate(seeds):
            out[i] = np.random.default_rng(int(s)).standard_normal((3, self.n_samples)) * np.exp(-t) * cond[i, 0]
        return out


@pytest.fixture(autouse=True)
def toy_model():
    register_model("toy-cli", ToyGen, "toy model of the CLI tests")
    yield
    _REGISTRY.pop("toy-cli", None)


SCEN = ["--magnitude", "6.5", "--distance", "30", "--vs30", "400", "--depth", "10", "--gap", "120"]


def run(*args):
    return main(["generate", "--model", "toy-cli", "--no-progress", *args])


@pytest.mark.parametrize("name", ["out.h5", "out.npz", "out.mseed", "out.sac", "out.at2", "dataset"])
def test_generate_every_format(tmp_path, capsys, name):
    if name == "dataset":
        pytest.importorskip("quakesynth.data.store")
    out = tmp_path / name
    assert run(*SCEN, "-n", "5", "-o", str(out), "--seed", "3", "--batch-size", "2") == 0
    assert "wrote 5 waveforms" in capsys.readouterr().out
    rec = read_records(out).select_components("ZNE")
    expected = ToyGen().generate(magnitude=6.5, distance=30, vs30=400, depth=10, gap=120, n=5, seed=3)
    np.testing.assert_allclose(rec.data, expected.data, rtol=0, atol=1e-7 * np.abs(expected.data).max())
    assert rec.metadata["source_magnitude"].eq(6.5).all()


def test_scenarios_csv(tmp_path):
    csv = tmp_path / "scenarios.csv"
    pd.DataFrame([dict(magnitude=6.5, distance=30, vs30=400, depth=10, gap=120, n=2),
                  dict(magnitude=5.0, distance=60, vs30=300, depth=20, gap=90, n=3)]).to_csv(csv, index=False)
    assert run("--scenarios", str(csv), "-o", str(tmp_path / "out.npz")) == 0
    rec = read_records(tmp_path / "out.npz")
    assert rec.metadata["source_magnitude"].tolist() == [6.5, 6.5, 5.0, 5.0, 5.0]
    assert rec.metadata["scenario_index"].tolist() == [0, 0, 1, 1, 1]


def test_no_overwrite_without_flag(tmp_path, capsys):
    out = tmp_path / "out.h5"
    assert run(*SCEN, "-o", str(out)) == 0
    before = out.read_bytes()
    assert run(*SCEN, "-n", "3", "-o", str(out)) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    assert run(*SCEN, "-n", "3", "-o", str(out), "--overwrite") == 0
    assert len(read_records(out)) == 3


@pytest.mark.parametrize("args,message", [
    (["--magnitude", "9.1"], "magnitude=9.1 is outside the range of model 'toy-cli': [4, 7.5]"),
    (["--distance", "nan"], "distance must be finite"),
    (["--vs30", "inf"], "vs30 must be finite"),
])
def test_bad_conditioning_is_one_line_exit_2(tmp_path, capsys, args, message):
    scen = dict(zip(SCEN[::2], SCEN[1::2]))
    scen.update(dict(zip(args[::2], args[1::2])))
    flat = [x for kv in scen.items() for x in kv]
    assert run(*flat, "-o", str(tmp_path / "out.h5")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("quakesynth: error:") and message in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_missing_variable_is_named(tmp_path, capsys):
    assert run(*SCEN[:-2], "-o", str(tmp_path / "out.h5")) == 2
    assert "missing conditioning variable 'gap'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_extrapolation_when_allowed(tmp_path, capsys):
    out = tmp_path / "out.npz"
    assert run("--magnitude", "8", *SCEN[2:], "-o", str(out), "--allow-extrapolation") == 0
    err = capsys.readouterr().err
    assert "quakesynth: warning: magnitude=8 is outside the range of model 'toy-cli'" in err
    assert read_records(out).metadata["source_magnitude"].eq(8).all()


def test_scenarios_and_values_are_exclusive(tmp_path, capsys):
    csv = tmp_path / "s.csv"
    csv.write_text("magnitude,distance,vs30,depth,gap\n6,30,400,10,120\n")
    assert run("--scenarios", str(csv), "--magnitude", "6", "-o", str(tmp_path / "o.h5")) == 2
    assert "not both" in capsys.readouterr().err


def test_unknown_model_and_format(tmp_path, capsys):
    assert main(["generate", *SCEN, "--model", "no-such-model", "-o", str(tmp_path / "o.h5")]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert run(*SCEN, "-o", str(tmp_path / "o.xyz")) == 2
    assert "cannot infer the output format" in capsys.readouterr().err


def test_help_has_example(capsys):
    from conftest import assert_help_has_example

    assert main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    assert_help_has_example(out, "generate")
    assert "quakesynth generate --magnitude 6.5" in out


def test_models_lists_ranges(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "toy-cli: toy model of the CLI tests" in out
    assert "magnitude  4 .. 7.5" in out and "vs30       100 .. 2000 m/s" in out
    assert main(["models", "--json"]) == 0
    import json

    infos = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert infos["toy-cli"]["variables"]["distance"] == {"unit": "km", "range": [1.0, 200.0]}


@pytest.mark.slow
def test_stochastic_model_to_sac_end_to_end(tmp_path):
    """The simulator through the CLI, with its back azimuths carried into the SAC geometry."""
    pytest.importorskip("quakesynth.simulate.stochastic")
    import obspy

    out = tmp_path / "out.sac"
    assert main(["generate", "--model", "stochastic", *SCEN, "-n", "2", "-o", str(out), "--no-progress"]) == 0
    rec = read_records(out)
    assert rec.components == "ZNE" and rec.n_samples == 4096
    st = obspy.read(str(out / "*.sac"))
    assert len(st) == 6
    for tr in st:
        h = tr.stats.sac
        i = int(tr.stats.location, 36)
        assert h.baz == pytest.approx(rec.metadata["path_back_azimuth_deg"][i], abs=1e-3)
        assert h.az == pytest.approx((h.baz + 180) % 360, abs=1e-3)
        assert np.hypot(h.dist, h.evdp) == pytest.approx(30.0, rel=1e-5)
        assert h.mag == 6.5 and h.imagtyp == 55  # imw


@pytest.mark.slow
def test_two_workers_through_the_cli_equal_one(tmp_path):
    args = [*SCEN, "-n", "5", "--seed", "4"]
    assert run(*args, "-o", str(tmp_path / "one.npz")) == 0
    assert run(*args, "-o", str(tmp_path / "two.npz"), "--workers", "2", "--batch-size", "1") == 0
    a, b = read_records(tmp_path / "one.npz"), read_records(tmp_path / "two.npz")
    np.testing.assert_array_equal(a.data, b.data)
    assert a.metadata["trace_name"].tolist() == b.metadata["trace_name"].tolist()


def test_a_failing_worker_is_one_line_exit_1(tmp_path, capsys):
    register_model("toy-cli-lambda", lambda: ToyGen())  # not picklable: workers cannot load it
    try:
        assert main(["generate", "--model", "toy-cli-lambda", "--no-progress", *SCEN, "-n", "2",
                     "-o", str(tmp_path / "o.h5"), "--workers", "2"]) == 1
    finally:
        _REGISTRY.pop("toy-cli-lambda", None)
    err = capsys.readouterr().err.strip()
    assert "data-parallel generation failed" in err and "unknown model 'toy-cli-lambda'" in err
    assert list(tmp_path.iterdir()) == []
