"""A thin CLI (issue 15, item 6): each option is validated once, by the library.

The defects these tests catch: ``generate`` opened a throwaway writer and validated its
scenario table twice (once in the CLI, once in the library); ``evaluate`` checked its output
folder twice; ``ingest`` computed preprocessing parameters in the command.
"""

from __future__ import annotations

import pytest

from quakesynth.cli.main import main
from quakesynth.formats import check_output, read_records
from quakesynth.generate import _REGISTRY, Generator, register_model
from test_reliability_generate import Toy  # the shared noise generator of the CLI tests

SCEN = ["--magnitude", "8", "--distance", "30", "--vs30", "400", "--depth", "10", "--gap", "120"]


class ThinGen(Toy):
    name = "toy-thin"
    description = "noise for the thin-CLI tests"


@pytest.fixture(autouse=True)
def toy_model():
    register_model("toy-thin", ThinGen, "toy model of the thin-CLI tests")
    yield
    _REGISTRY.pop("toy-thin", None)


def test_generate_validates_its_table_once_and_warns_in_one_line(tmp_path, capsys, monkeypatch):
    calls = []
    original = Generator.check_table

    def counted(self, *a, **k):
        calls.append(1)
        return original(self, *a, **k)

    monkeypatch.setattr(Generator, "check_table", counted)
    out = tmp_path / "o.npz"
    assert main(["generate", "--model", "toy-thin", "--no-progress", *SCEN, "-n", "3", "-o", str(out),
                 "--allow-extrapolation"]) == 0
    assert len(calls) == 1
    err = capsys.readouterr().err
    assert err.count("quakesynth: warning: magnitude=8 is outside the range of model 'toy-thin'") == 1
    assert "UserWarning" not in err  # one line, not Python's warning format
    assert len(read_records(out)) == 3


def test_generate_fails_on_the_output_before_loading_the_model(tmp_path, capsys, monkeypatch):
    import quakesynth.cli.generate as cli_generate

    loaded = []
    monkeypatch.setattr(cli_generate, "load_generator", lambda m: loaded.append(m))
    (tmp_path / "o.h5").write_text("")
    assert main(["generate", "--model", "toy-thin", *SCEN, "-o", str(tmp_path / "o.h5")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["generate", "--model", "toy-thin", *SCEN, "-o", str(tmp_path / "no" / "o.h5")]) == 2
    assert main(["generate", "--model", "toy-thin", *SCEN, "-o", str(tmp_path / "o.xyz")]) == 2
    assert loaded == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.h5"]  # nothing created


def test_check_output_names_the_format_and_creates_nothing(tmp_path):
    assert check_output(tmp_path / "a.h5") == "hdf5"
    assert check_output(tmp_path / "a.mseed") == "mseed"
    (tmp_path / "a.stations.xml").write_text("")  # the mseed writer's StationXML sidecar
    with pytest.raises(FileExistsError):
        check_output(tmp_path / "a.mseed")
    assert check_output(tmp_path / "a.mseed", overwrite=True) == "mseed"
    with pytest.raises(ValueError, match="format must be one of"):
        check_output(tmp_path / "a.h5", format="nope")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.stations.xml"]


def test_evaluate_checks_its_output_once_in_the_library(tmp_path, capsys, monkeypatch):
    import quakesynth._atomic as atomic

    calls = []
    original = atomic.check_writable
    monkeypatch.setattr(atomic, "check_writable", lambda *a, **k: (calls.append(a), original(*a, **k))[1])
    import quakesynth.evaluate.run as run

    monkeypatch.setattr(run, "check_writable", atomic.check_writable)
    (tmp_path / "report").mkdir()
    assert main(["evaluate", "--data", str(tmp_path / "none"), "--model", "toy-thin", "-o",
                 str(tmp_path / "report")]) == 2
    assert "exists" in capsys.readouterr().err and len(calls) == 1
    # no model: the library's one-line message, exit 2
    assert main(["evaluate", "--data", str(tmp_path / "none"), "-o", str(tmp_path / "r2")]) == 2
    assert "no model given" in capsys.readouterr().err


def test_evaluate_flatfile_options_reach_the_library_unchanged(tmp_path, capsys):
    """--out-of-range error was silently turned into drop in flatfile mode; now the library
    says it does not support it (one line, exit 2)."""
    table = tmp_path / "ff.csv"
    table.write_text("magnitude\n5\n")
    assert main(["evaluate", "--flatfile", str(table), "--model", "toy-thin", "--out-of-range", "error",
                 "-o", str(tmp_path / "r")]) == 2
    assert "out_of_range must be drop or extrapolate in flatfile mode; got 'error'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
