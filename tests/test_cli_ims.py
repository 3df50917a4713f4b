"""``quakesynth ims`` end to end on a tiny dataset: values against direct metric calls,
streaming over batches and workers, splits, component selection, one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quakesynth.cli.main import main
from quakesynth.data.store import Dataset, DatasetWriter
from quakesynth.records import G, Records

N, T, FS = 10, 1024, 100.0


def _records(seed: int = 0) -> Records:
    """Enveloped, band-limited noise in m/s^2 with conditioning metadata."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / FS
    env = (t / 2.0) ** 2 * np.exp(-t / 1.5)  # peaks at 3 s
    x = rng.normal(size=(N, 3, T))
    kernel = np.hanning(9) / np.hanning(9).sum()
    x = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), -1, x)
    amp = rng.uniform(0.05, 2.0, (N, 1, 1))
    meta = pd.DataFrame({
        "trace_name": [f"rec{i:03d}" for i in range(N)],
        "source_id": [f"ev{i // 2}" for i in range(N)],
        "source_magnitude": rng.uniform(4, 7, N).round(1),
        "source_depth_km": rng.uniform(5, 40, N),
        "station_vs30_mps": rng.uniform(200, 800, N),
        "path_hyp_distance_km": rng.uniform(20, 200, N),
    })
    return Records((x * env * amp).astype(np.float32), fs=FS, components="ZNE", metadata=meta)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("ims") / "ds"
    with DatasetWriter(path, fs=FS, components="ZNE", split_fractions=(0.6, 0.2, 0.2), bucket_size=4) as w:
        w.add(_records())
    return path


def _run(args, capsys=None):
    rc = main(["ims", *map(str, args)])
    err = capsys.readouterr().err if capsys is not None else ""
    return rc, err


def test_table_matches_direct_metric_calls(dataset, tmp_path):
    from quakesynth.metrics.energy import d5_95
    from quakesynth.metrics.peaks import geometric_mean, pgv, rotd50
    from quakesynth.metrics.response import rotd50_psa

    out = tmp_path / "ims.csv"
    assert _run([dataset, "-o", out, "--periods", "0.3,1", "--workers", "1", "--batch-size", "3", "--no-progress"])[0] == 0
    table = pd.read_csv(out)
    rec = Dataset(dataset).get(np.arange(N))
    assert len(table) == N
    assert table["trace_name"].tolist() == rec.metadata["trace_name"].tolist()  # dataset order
    np.testing.assert_allclose(table["source_magnitude"], rec.metadata["source_magnitude"])
    assert {"split", "station_vs30_mps", "path_hyp_distance_km"} <= set(table.columns)
    n_, e_ = rec.component("N").astype(np.float64), rec.component("E").astype(np.float64)
    np.testing.assert_allclose(table["PGA_RotD50_g"], rotd50(n_, e_) / G, rtol=1e-6)
    np.testing.assert_allclose(table["PSA1.0_RotD50_g"], rotd50_psa(n_, e_, FS, [1.0])[:, 0] / G, rtol=1e-6)
    np.testing.assert_allclose(table["PGV_GM_cm/s"], geometric_mean(*(pgv(h, FS)[:, None] for h in (n_, e_))) * 100,
                               rtol=1e-6)
    np.testing.assert_allclose(table["D5-95_H1_s"], d5_95(n_, FS), rtol=1e-6)
    for col in ("PGD_H2_cm", "PSA0.3_RotD100_g", "PGA_SRSS_g", "AI_V_m/s", "D5-75_GM_s", "CAV_H1_m/s"):
        assert col in table and np.all(np.isfinite(table[col])), col
    assert np.all(table["PGA_RotD100_g"] >= table["PGA_RotD50_g"])


@pytest.mark.slow
def test_workers_and_batch_size_do_not_change_the_table(dataset, tmp_path):
    from quakesynth.metrics.tables import ims_table

    one, two, three = tmp_path / "one.csv", tmp_path / "two.csv", tmp_path / "three.csv"
    assert _run([dataset, "-o", one, "--workers", "1", "--batch-size", "10", "--no-progress"])[0] == 0
    assert _run([dataset, "-o", two, "--workers", "2", "--batch-size", "3"])[0] == 0  # progress bar on
    # a process pool of 2 spawned workers, each opening the dataset itself
    assert ims_table(dataset, three, workers=2, batch_size=3, min_records_per_worker=1) == N
    ref = pd.read_csv(one)
    pd.testing.assert_frame_equal(ref, pd.read_csv(two))
    pd.testing.assert_frame_equal(ref, pd.read_csv(three))


def test_split_and_component_selection(dataset, tmp_path):
    out = tmp_path / "test_split.csv"
    rc, _ = _run([dataset, "-o", out, "--split", "test", "--components", "RotD50,GM", "--periods", "1",
                  "--workers", "1", "--no-progress"])
    assert rc == 0
    table = pd.read_csv(out)
    meta = Dataset(dataset).metadata
    assert table["trace_name"].tolist() == meta.loc[meta["split"] == "test", "trace_name"].tolist()
    assert (table["split"] == "test").all()
    ims = [c for c in table.columns if c.count("_") == 2 and c.split("_")[1] in ("RotD50", "GM", "H1", "SRSS")]
    assert {c.split("_")[1] for c in ims} == {"RotD50", "GM"}
    assert "PSA1.0_RotD50_g" in table and "PGA_H1_g" not in table and "PGA_SRSS_g" not in table


def test_bad_input_is_one_line_error_exit_2(dataset, tmp_path, capsys):
    out = tmp_path / "t.csv"
    for args, msg in (([dataset, "-o", out, "--periods", "0.1,-1"], "--periods"),
                      ([dataset, "-o", out, "--periods", "abc"], "not a number"),
                      ([dataset, "-o", out, "--components", "RotD50,Bogus", "--workers", "1"], "Bogus")):
        rc, err = _run([*args, "--no-progress"], capsys)
        assert rc == 2, args
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("quakesynth: error:") and msg in lines[0], err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    out.write_text("keep me")
    rc, err = _run([dataset, "-o", out, "--workers", "1", "--no-progress"], capsys)
    assert rc == 2 and "exists" in err and out.read_text() == "keep me"
    assert _run([dataset, "-o", out, "--workers", "1", "--no-progress", "--overwrite", "--periods", "1"])[0] == 0
    assert len(pd.read_csv(out)) == N
    assert main(["ims", str(tmp_path / "missing"), "-o", str(out)]) == 2


def test_help_has_example(capsys):
    from conftest import assert_help_has_example

    assert main(["ims", "--help"]) == 0
    out = capsys.readouterr().out
    assert_help_has_example(out, "ims")
    assert "--periods" in out
