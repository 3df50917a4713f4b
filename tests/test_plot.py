"""``quakesynth plot``: the quick-look figure from any of our formats."""

import numpy as np
import pytest

from quakesynth.cli.main import main
from quakesynth.formats import write_records
from quakesynth.records import G, Records


def _records(n=6, T=512, fs=100.0, scale=1.0, seed=0) -> Records:
    rng = np.random.default_rng(seed)
    t = np.arange(T) / fs
    shape = (t / 1.0) * np.exp(1 - t / 1.0)
    data = rng.standard_normal((n, 3, T)) * shape * scale
    import pandas as pd

    meta = pd.DataFrame({"source_magnitude": 6.0, "path_hyp_distance_km": 30.0, "station_vs30_mps": 400.0},
                        index=range(n))
    return Records(data, fs=fs, components="ZNE", metadata=meta)


def test_plot_writes_a_png_of_two_sets(tmp_path, capsys):
    import matplotlib.image as mpimg

    a = write_records(_records(), tmp_path / "a.h5")
    b = write_records(_records(scale=0.1, seed=1), tmp_path / "b.npz")
    out = tmp_path / "fig.png"
    assert main(["plot", str(a), str(b), "-o", str(out)]) == 0
    img = mpimg.imread(out)
    assert img.shape[0] > 600 and img.shape[1] > 1200
    assert main(["plot", str(a), "-o", str(out)]) == 2  # no overwrite without --overwrite
    assert "exists" in capsys.readouterr().err


def test_plotted_medians_are_the_data_medians():
    import matplotlib

    matplotlib.use("Agg")
    from quakesynth.cli import plot as cli_plot
    from quakesynth.metrics.response import response_spectrum
    from quakesynth.plot import PERIODS, plot_records

    assert cli_plot.plot_records is plot_records  # the old import path keeps working
    rec = _records(n=7)
    fig = plot_records([("set", rec)], examples=2)
    axes = np.array(fig.axes).reshape(3, 4)
    for r, c in enumerate("ZNE"):
        psa = response_spectrum(rec.component(c) / G, rec.fs, periods=PERIODS)
        np.testing.assert_allclose(axes[r, 3].lines[0].get_ydata(), np.median(psa, axis=0), rtol=1e-6)
        assert axes[r, 0].get_title(loc="left").startswith(f"{c}: acceleration")
        assert len(axes[r, 0].lines) == 6  # two examples, each with its envelope (+ and -)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_plot_of_velocity_replacing_an_image(tmp_path):
    rec = _records().replace(quantity="velocity", unit="m/s")
    path = write_records(rec, tmp_path / "v.npz")
    (tmp_path / "v.png").write_text("old")
    assert main(["plot", str(path), "-o", str(tmp_path / "v.png"), "--overwrite", "--max-records", "3"]) == 0
    assert (tmp_path / "v.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_input_is_an_error(tmp_path):
    assert main(["plot", str(tmp_path / "nope.h5"), "-o", str(tmp_path / "f.png")]) == 2
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("args", [["--help"]])
def test_help_has_example(capsys, args):
    from conftest import assert_help_has_example

    assert main(["plot", *args]) == 0
    assert_help_has_example(capsys.readouterr().out, "plot")


@pytest.mark.parametrize("name, says", [("x.npz", "not a NumPy .npz (zip) archive"), ("x.h5", "not an HDF5 file")])
def test_random_bytes_are_named_for_what_they_are_not(tmp_path, capsys, name, says):
    """Issue 14: random bytes were reported as "contains pickled data"."""
    from quakesynth.cli.main import main

    f = tmp_path / name
    f.write_bytes(bytes(range(256)) * 8)
    assert main(["plot", str(f), "-o", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "pickled" not in err and len(err.splitlines()) == 1


def test_the_library_writes_the_image_and_reads_the_inputs_the_cli_only_parses(tmp_path):
    """Issue 15 item 6: the atomic write, the overwrite check and the input checks are the
    library's (quakesynth.plot.plot_records, quakesynth.formats.read_records)."""
    import inspect

    import quakesynth.cli.plot as cli_plot
    from quakesynth.formats import read_records
    from quakesynth.plot import plot_records

    rec = _records()
    out = tmp_path / "f.png"
    plot_records([("a", rec)], out, examples=1)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        plot_records([("a", rec)], out, examples=1)
    plot_records([("a", rec)], tmp_path / "f.svg", examples=1)
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:400]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.svg"]  # no temporary left
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="not a NumPy .npz"):
        read_records(bad)
    src = inspect.getsource(cli_plot)
    assert "savefig" not in src and "def _read" not in src and "zipfile" not in src
