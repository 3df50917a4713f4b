"""quakesynth evaluate end to end on a tiny dataset with toy models.

One module-scoped run writes a full report (toy generators, a toy paired model, a toy GMM and
a toy classifier); the tests check its tidy table, that the HTML's numbers are those of
metrics.json, that every section is rendered, determinism, one worker == two workers, and
one-line errors for bad input.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quakesynth.cli.main import main
from quakesynth.evaluate.config import (
    EvaluateConfig,
    FeatureConfig,
    ScenarioConfig,
    config_from_dict,
)
from quakesynth.evaluate.harness import RecordSet, mr_bin_index
from quakesynth.evaluate.report import SECTIONS, fmt
from quakesynth.evaluate.run import evaluate, open_data
from quakesynth.generate import Generator, register_model, waveform_seed
from quakesynth.records import Records

FS, T = 100.0, 1024
RANGES = {"magnitude": (3.0, 8.0), "distance": (1.0, 400.0), "vs30": (100.0, 2000.0), "depth": (0.0, 100.0),
          "gap": (0.0, 360.0)}


class Toy(Generator):
    """Noise in a Gaussian envelope; amplitude from magnitude and distance; ``amp`` scales it."""

    ranges = RANGES
    n_samples = T
    fs = FS

    def __init__(self, amp: float = 1.0, name: str = "toy") -> None:
        self.amp, self.name = amp, name

    def _generate(self, cond, seeds, device="cpu"):
        t = np.arange(self.n_samples) / self.fs
        env = np.exp(-(((t - 3.0) / 1.5) ** 2))
        out = np.empty((len(seeds), 3, self.n_samples), np.float32)
        for i, s in enumerate(seeds):
            a = self.amp * 10 ** (0.5 * cond[i, 0] - 1.3 * np.log10(cond[i, 1]) - 2.0)
            out[i] = np.random.default_rng(int(s)).standard_normal((3, self.n_samples)) * env * a
        return out


class ToyRefiner:
    """A paired model: the record plus 10 % seeded noise."""

    name = "refiner"
    variables = ()

    def reproduce(self, records: Records, seeds: np.ndarray) -> Records:
        noise = np.stack([np.random.default_rng(int(s)).standard_normal(records.data.shape[1:]) for s in seeds])
        scale = np.abs(records.data).max(axis=-1, keepdims=True)
        return records.replace(data=records.data + 0.1 * scale * noise.astype(np.float32))


class ToyGMM:
    """ln PGA (g) = -5 + M - 1.3 ln R, sigma 0.6; PGV and SA alike."""

    component = "RotD50"

    def predict(self, imt, magnitude, rhyp_km, depth_km, vs30_mps):
        if imt not in ("PGA", "PGV") and not imt.startswith("SA("):
            raise KeyError(imt)
        mu = -5.0 + np.asarray(magnitude, float) - 1.3 * np.log(np.asarray(rhyp_km, float))
        return mu, np.full_like(mu, 0.6)


class ToyClassifier:
    """Embedding: log peak and log energy per component; class: M-R bin from log PGA."""

    def embed_predict(self, records):
        x = np.abs(records.data).astype(np.float64)
        e = np.concatenate([np.log10(x.max(-1)), np.log10((x ** 2).mean(-1))], axis=1).astype(np.float32)
        pred = np.clip(((np.log10(x.max(-1).max(-1)) + 3) * 2).astype(int), 0, 3)
        return e, pred

    def labels(self, meta):
        return mr_bin_index(meta["source_magnitude"].to_numpy(float), meta["path_hyp_distance_km"].to_numpy(float),
                            [3, 5, 8], [0, 50, 400])


def _config(**kw) -> EvaluateConfig:
    """A tiny configuration: 3 realisations, short grids, one scenario curve, 2 x 2 M-R bins."""
    import dataclasses

    from quakesynth.evaluate.config import BinsConfig

    base = dict(realizations=3, batch_size=8, hvsr_min_records=2, max_bins_plotted=1,
                features=FeatureConfig(periods_s=(0.1, 1.0), fas_fmin_hz=0.5, fas_fmax_hz=30.0, fas_points=24,
                                       envelope_points=32, envelope_duration_s=10.24),
                scenarios=(ScenarioConfig(name="M5.5 vs distance", values=(10.0, 40.0, 120.0), magnitude=5.5,
                                          realizations=3),),
                bins=BinsConfig(magnitude_edges=(3.0, 5.0, 8.0), distance_edges_km=(0.0, 50.0, 400.0)))
    base.update(kw)
    return dataclasses.replace(EvaluateConfig(), **base)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """24 records of 'truth' (= Toy amp 1, other seeds): 12 test, 12 train; 4 stations."""
    from quakesynth.data.store import DatasetWriter

    rng = np.random.default_rng(5)
    n = 24
    scen = pd.DataFrame({"magnitude": rng.uniform(4.0, 7.0, n), "distance": 10 ** rng.uniform(1.0, 2.3, n),
                         "vs30": rng.uniform(200, 800, n), "depth": rng.uniform(5, 20, n),
                         "gap": rng.uniform(30, 200, n)})
    scen["distance"] = np.hypot(scen["distance"], scen["depth"])  # hypocentral: never below the depth
    rec = Toy(1.0, "truth").generate_table(scen, seed=1234)
    meta = rec.metadata.copy()
    meta["station_network_code"] = "XX"
    meta["station_code"] = [f"ST{i % 4}" for i in range(n)]
    meta["station_location_code"] = ""
    meta["source_id"] = [f"ev{i // 2}" for i in range(n)]
    meta["trace_name"] = [f"rec{i:03d}" for i in range(n)]
    meta["split"] = ["test" if (i // 2) % 2 == 0 else "train" for i in range(n)]
    rec.metadata = meta
    path = tmp_path_factory.mktemp("eval") / "toyds"
    with DatasetWriter(path, fs=FS, components=rec.components) as w:
        w.add(rec)
    return path


@pytest.fixture(scope="module")
def models():
    register_model("toyA", lambda **kw: Toy(1.0, "toyA"), "test toy")
    register_model("toyB", lambda **kw: Toy(2.0, "toyB"), "test toy x2")
    return {"toyA": Toy(1.0, "toyA"), "toyB": Toy(2.0, "toyB"), "refiner": ToyRefiner()}


@pytest.fixture(scope="module")
def report(dataset, models, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "report"
    res = evaluate(f"{dataset}:test", models, {"ToyGMM": ToyGMM()}, out, _config(), classifier=ToyClassifier())
    return res, out


# -- the tidy table ------------------------------------------------------------------------
def test_tidy_table_shape_and_content(report, dataset):
    from quakesynth.data.store import Dataset
    from quakesynth.metrics import ims_of_records

    res, out = report
    table = pd.read_parquet(out / "ims.parquet")  # the full table, streamed to disk
    mem = res.collection.table  # what stays in memory: keys and the analysis columns (float32)
    assert {"PGA_RotD50_g", "PGV_RotD50_cm/s", "PSA1.0_RotD50_g", "PGA_SRSS_g", "D5-95_H1_s"} <= set(mem.columns)
    assert "PGA_H1_g" not in mem and "PGA_H1_g" in table and "trace_name" in table
    pd.testing.assert_frame_equal(table[mem.columns].astype({c: np.float32 for c in mem.columns[3:]}), mem,
                                  check_dtype=False, check_categorical=False)
    test = Dataset(dataset).split("test")
    n, N = len(test), 3
    assert len(table) == n * (1 + 3 * N)
    counts = table.groupby("source").size().to_dict()
    assert counts == {"data": n, "toyA": n * N, "toyB": n * N, "refiner": n * N}
    for col in ("source", "record", "realization", "trace_name", "event", "station", "magnitude",
                "distance_km", "vs30_mps", "depth_km", "gap_deg", "PGA_RotD50_g", "PGV_RotD50_cm/s", "f0_HVSR_Hz"):
        assert col in table
    # data rows: the IMs of the stored records
    recs = test.get(np.arange(n))
    ref = ims_of_records(recs, periods=[0.1, 1.0])
    d = table[table.source == "data"].sort_values("record")
    np.testing.assert_allclose(d["PGA_RotD50_g"].to_numpy(), ref["PGA_RotD50_g"].to_numpy(), rtol=1e-12)
    assert d["trace_name"].tolist() == recs.metadata["trace_name"].tolist()
    np.testing.assert_allclose(d["magnitude"], recs.metadata["source_magnitude"])
    # model rows: realisation k of record i is the waveform of seed waveform_seed(0, i, k)
    i, k = 5, 2
    row = table[(table.source == "toyB") & (table.record == i) & (table.realization == k)]
    wf = Toy(2.0)._generate(recs.conditioning()[[i]], np.array([waveform_seed(0, i, k)]))
    one = ims_of_records(Records(wf, fs=FS, components="ZNE"), periods=[0.1, 1.0])
    np.testing.assert_allclose(row["PGA_RotD50_g"].to_numpy(), one["PGA_RotD50_g"].to_numpy(), rtol=1e-12)


def test_bias_of_scaled_model_is_log10_2(report):
    """toyB is toyA x 2 with the same seeds: its PGA bias exceeds toyA's by exactly log10(2)."""
    res, _ = report
    s = res.metrics["summary"]
    assert s["toyB"]["PGA_RotD50_bias_log10"] - s["toyA"]["PGA_RotD50_bias_log10"] == pytest.approx(math.log10(2), abs=1e-5)
    assert abs(s["toyA"]["PGA_RotD50_bias_log10"]) < 0.15  # the true model is nearly unbiased
    fr = res.metrics["frechet"]["per_component"]["H1"]
    assert fr["toyB"]["eq14"] > fr["toyA"]["eq14"]
    # the true model's residual sigma matches the data's
    r = res.metrics["residuals"]["PGA_RotD50"]["sources"]
    assert r["toyA"]["sigma"] == pytest.approx(r["data"]["sigma"], rel=0.6)


def test_sections_of_a_model_scaled_by_two(report):
    """toyB is toyA x 2 with the same seeds (scenario curves included): its scenario medians
    are exactly twice toyA's, its durations and convergence equal toyA's (both scale-free),
    as do its HVSR curves; the true model (toyA) has the higher model probability; toyA's
    scenario curve has the generator's distance slope (-1.3 in log-log, to within the noise
    of 3 realisations)."""
    res, out = report
    m = res.metrics
    for name, sc in m["scenarios"].items():
        a, b = sc["sources"]["toyA"]["PGA_RotD50"], sc["sources"]["toyB"]["PGA_RotD50"]
        np.testing.assert_allclose(b["median"], 2 * np.array(a["median"]), rtol=1e-5)
        np.testing.assert_allclose(b["sigma_log10"], a["sigma_log10"], atol=1e-5)
        slope = np.polyfit(np.log10(sc["values"]), np.log10(a["median"]), 1)[0]
        assert slope == pytest.approx(-1.3, abs=0.2), name
    d = m["duration"]["sources"]
    assert d["toyB"]["median"] == d["toyA"]["median"] and d["toyB"]["bias_log10"] == d["toyA"]["bias_log10"]
    c = m["convergence"]["sources"]
    for key in ("median_minus_final_mean", "sigma_mean"):
        np.testing.assert_allclose(np.array(c["toyB"][key], float), np.array(c["toyA"][key], float), atol=1e-5)
    assert c["toyA"]["median_minus_final_mean"][-1] == 0.0 and c["toyA"]["sigma_minus_final_rms"][-1] == 0.0
    p = m["model_probability"]["ims"]["PGA_RotD50"]["sources"]
    assert p["toyA"]["overall"] > p["toyB"]["overall"]
    # the paired section summarises paired.parquet
    paired = pd.read_parquet(out / "paired.parquet")
    for col in ("EG_H1", "PG_H1", "Anderson_H1"):
        assert m["paired"]["refiner"][col]["mean"] == pytest.approx(paired[col].mean(), rel=1e-5)
    # HVSR: three independent, identical noise components give H/V = 1 on average; the
    # ratio is scale-free, so toyB's curves and f0 are toyA's
    for sta, e in m["hvsr"]["stations"].items():
        assert abs(np.mean(e["data"]["curve_log10"])) < 0.1, sta
        np.testing.assert_allclose(e["toyB"]["curve_log10"], e["toyA"]["curve_log10"], atol=2e-4)
        assert e["toyB"]["f0_Hz"] == e["toyA"]["f0_Hz"]


# -- the HTML page against metrics.json ----------------------------------------------------
class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.sections, self.imgs, self._cur, self._sec = [], {}, 0, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._sec = a["id"]
            self.sections[self._sec] = {"img": 0, "table": 0, "note": 0}
        if tag == "img" and a.get("src", "").startswith("data:image/png;base64,"):
            self.sections[self._sec]["img"] += 1
        if tag == "table" and self._sec:
            self.sections[self._sec]["table"] += 1
        if tag == "p" and a.get("class") == "note" and self._sec:
            self.sections[self._sec]["note"] += 1
        if tag == "td" and "data-key" in a:
            self._cur = [json.loads(a["data-key"]), json.loads(a["data-value"]), ""]

    def handle_data(self, data):
        if self._cur is not None:
            self._cur[2] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cur is not None:
            self.cells.append(tuple(self._cur))
            self._cur = None


def _parse(out: Path) -> _Cells:
    p = _Cells()
    p.feed((out / "index.html").read_text(encoding="utf-8"))
    return p


def test_html_numbers_equal_metrics_json(report):
    _, out = report
    metrics = json.loads((out / "metrics.json").read_text())
    cells = _parse(out).cells
    assert len(cells) > 100
    for path, value, text in cells:
        node = metrics
        for key in path:
            node = node[key]
        assert node == value, path
        assert text == fmt(node), path
        if isinstance(node, float):
            assert float(text) == pytest.approx(node, rel=1e-3)


def test_every_section_rendered(report):
    _, out = report
    sections = _parse(out).sections
    assert list(sections) == list(SECTIONS)
    with_figures = ["envelopes", "log-fas", "bias", "residuals", "duration", "convergence", "scenarios",
                    "model-probability", "frechet", "classifier", "hvsr"]
    for sid in with_figures:
        assert sections[sid]["img"] >= 1, sid
    for sid in SECTIONS:
        assert sections[sid]["table"] >= 1, sid
    html = (out / "index.html").read_text()
    assert "src=\"http" not in html and "<script" not in html  # self-contained
    files = sorted(p.name for p in out.iterdir())
    assert files == ["config.yaml", "ims.parquet", "index.html", "metrics.json", "paired.parquet",
                     "scenarios.parquet", "summary.txt"]
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["paired"]["refiner"]) >= {"n_records", "EG_H1", "PG_H1", "Anderson_H1"}
    assert m["classifier"]["embedding_fd"]["floor"] is not None
    assert m["frechet"]["floor_method"] == "train split vs evaluation split"
    assert m["hvsr"]["stations"]


# -- determinism, workers ------------------------------------------------------------------
def _strip(metrics: dict) -> dict:
    m = json.loads(json.dumps(metrics))
    m["run"].pop("timing")
    return m


@pytest.mark.slow
def test_deterministic_and_workers_agree(dataset, models):
    """Two runs give identical numbers; two local worker processes give the one-worker numbers."""
    from quakesynth.evaluate.pipeline import process_pool

    data, floor, _ = open_data(f"{dataset}:test")
    cfg = _config(realizations=2, scenarios=())
    sub = {k: models[k] for k in ("toyA", "refiner")}
    one = evaluate(data, sub, {"ToyGMM": ToyGMM()}, None, cfg, floor=floor)
    again = evaluate(data, sub, {"ToyGMM": ToyGMM()}, None, cfg, floor=floor)
    assert _strip(one.metrics) == _strip(again.metrics)
    with process_pool(2) as pool:
        two = evaluate(data, sub, {"ToyGMM": ToyGMM()}, None, cfg, floor=floor, executor=pool)
    assert _strip(one.metrics) == _strip(two.metrics)
    pd.testing.assert_frame_equal(one.collection.table, two.collection.table)
    for src, a in one.collection.logfas.items():
        np.testing.assert_array_equal(a, two.collection.logfas[src])


# -- the command line ----------------------------------------------------------------------
def test_cli_runs_and_prints_summary(dataset, models, tmp_path, capsys):
    out = tmp_path / "r"
    bins = tmp_path / "bins.yaml"
    bins.write_text("bins:\n  magnitude_edges: [3, 5, 8]\n  distance_edges_km: [0, 50, 400]\n"
                    "scenarios: []\nperiods_s: [1.0]\nfas_points: 16\nenvelope_points: 16\n"
                    "envelope_duration_s: 10.24\nfas_fmin_hz: 0.5\nmax_bins_plotted: 1\n")
    rc = main(["evaluate", "--data", f"{dataset}:test", "--model", "toyA", "--realizations", "2",
               "--bins", str(bins), "-o", str(out), "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "toyA" in printed and "PGA_bias" in printed and "report:" in printed
    assert (out / "summary.txt").read_text().strip() in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["run"]["realizations"] == 2 and m["run"]["config"]["features"]["periods_s"] == [1.0]
    # an existing report is not replaced without --overwrite
    rc = main(["evaluate", "--data", f"{dataset}:test", "--model", "toyA", "-o", str(out), "--no-progress"])
    assert rc == 2 and "exists" in capsys.readouterr().err


@pytest.mark.parametrize("args,match", [
    (["--model", "no-such-model"], "unknown model 'no-such-model'"),
    (["--model", "toyA", "--gmm", "NoSuchGMM2099"], "NoSuchGMM2099"),
    (["--model", "toyA", "--data-split", "dev"], "no split 'dev'"),
])
def test_bad_input_is_one_line_exit_2(dataset, models, tmp_path, capsys, args, match):
    data = f"{dataset}:test"
    if "--data-split" in args:
        args = [a for a in args if a not in ("--data-split", "dev")]
        # the tiny dataset has no dev split
        data = f"{dataset}:dev"
    rc = main(["evaluate", "--data", data, *args, "-o", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("quakesynth: error:") and "\n" not in err and match in err
    assert not (tmp_path / "r").exists()


def test_config_file_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="unknown BinsConfig field"):
        config_from_dict({"bins": {"magnitude_edge": [1, 2]}})
    with pytest.raises(ValueError, match="increasing"):
        config_from_dict({"bins": {"magnitude_edges": [5, 4]}})
    with pytest.raises(ValueError, match="vary must be one of"):
        config_from_dict({"scenarios": [{"vary": "depth"}]})
    cfg = config_from_dict({"periods_s": [0.2], "scenarios": [{"name": "x", "values": [5.0, 6.0], "vary": "magnitude"}]})
    assert cfg.features.periods_s == (0.2,) and cfg.scenarios[0].values == (5.0, 6.0)


def test_in_memory_record_set(models):
    """The library call takes any RecordSet (no dataset on disk needed)."""
    scen = pd.DataFrame({"magnitude": [5.0, 6.0, 6.5, 5.5, 4.5, 6.2], "distance": [20, 40, 80, 30, 15, 60],
                         "vs30": 400.0, "depth": 10.0, "gap": 90.0})
    rec = Toy(1.0, "truth").generate_table(scen, seed=7)
    res = evaluate(RecordSet.from_records(rec), {"toyA": models["toyA"]}, {}, None, _config(scenarios=()))
    assert res.metrics["run"]["n_records"] == 6
    assert res.metrics["frechet"]["floor_method"] == "two random halves of the evaluation split"
    assert "toyA" in res.summary


# -- a look in a real browser (skipped where Chromium is absent) ---------------------------
@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    _, out = report
    shot = tmp_path / "shot.png"
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--screenshot={shot}", "--window-size=1280,2400", (out / "index.html").as_uri()],
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-500:]
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape[0] >= 2000 and img.std() > 10  # a rendered page, not a blank one
    assert re.search(r"chromium|chrome", exe, re.I)


def test_max_records_is_a_seeded_subset(dataset):
    full, _, _ = open_data(f"{dataset}:test")
    sub, floor, _ = open_data(f"{dataset}:test", seed=3, max_records=5)
    again, _, _ = open_data(f"{dataset}:test", seed=3, max_records=5)
    assert len(sub) == 5 < len(full) and len(floor) == 5  # the floor follows the evaluated size
    assert list(sub.metadata.index) == list(again.metadata.index)
    assert set(sub.metadata["trace_name"]) <= set(full.metadata["trace_name"])
    assert len(open_data(f"{dataset}:test", max_records=10 ** 6)[0]) == len(full)


@pytest.mark.parametrize("split", ["test", None])
def test_dataset_with_zero_rows_is_one_line_exit_2(dataset, models, tmp_path, capsys, split):
    """Issue 14 item 5: zero records say so (naming dataset and split), not a conditioning error."""
    empty = tmp_path / "empty"
    shutil.copytree(dataset, empty)
    meta = empty / "metadata.csv"
    meta.write_text(meta.read_text().splitlines(keepends=True)[0])  # the header row only
    spec = f"{empty}:{split}" if split else str(empty)
    rc = main(["evaluate", "--data", spec, "--model", "toyA", "-o", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("quakesynth: error:") and "\n" not in err, err
    where = f"split {split!r} of dataset {str(empty)!r}" if split else f"dataset {str(empty)!r}"
    assert f"{where} has no records" in err and "conditioning" not in err
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="has no records"):
        evaluate(RecordSet(pd.read_csv(meta), lambda idx: None, name="none"), {"toyA": models["toyA"]})



@pytest.mark.parametrize("hide_pyarrow", [False, True])
def test_help_names_the_ims_table_this_installation_writes(monkeypatch, hide_pyarrow):
    """Issue 14 item 5: the help promised ims.parquet where pyarrow is absent (CSV is written)."""
    import importlib
    import importlib.util

    from click.testing import CliRunner

    import quakesynth.cli.evaluate as cli_evaluate
    from quakesynth.evaluate.harness import TidyWriter

    find_spec = importlib.util.find_spec
    if hide_pyarrow:  # as if pyarrow were not installed: the help is made at import
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow"
                            else find_spec(name, *a))
    try:
        mod = importlib.reload(cli_evaluate)
        text = " ".join(CliRunner().invoke(mod.command, ["--help"], terminal_width=200).output.split())
    finally:
        monkeypatch.undo()
        importlib.reload(cli_evaluate)
    written = "ims.parquet" if importlib.util.find_spec("pyarrow") is not None and not hide_pyarrow else "ims.csv"
    if not hide_pyarrow:
        assert written == TidyWriter.default_name()
    assert f"metrics.json (every number), {written} (" in text and "IMS_TABLE" not in text


# -- the sections' values: analytic cases --------------------------------------------------
# Each analysis function is given a tiny collection whose answer is known by construction
# (the features come from the harness's own feature functions where a waveform is involved).
DATA_SRC = "data"


def _coll(table=None, cond=None, **kw):
    """A minimal stand-in for :class:`~quakesynth.evaluate.harness.Collection`."""
    from types import SimpleNamespace

    cfg = kw.pop("config", None) or _config()
    return SimpleNamespace(config=cfg, table=table, conditioning=cond, **kw)


def _bins(**kw):
    """The tiny configuration's bins with ``kw`` replaced."""
    import dataclasses

    from quakesynth.evaluate.config import BinsConfig

    base = dict(magnitude_edges=(3.0, 5.0, 8.0), distance_edges_km=(0.0, 50.0, 400.0))
    base.update(kw)
    return dataclasses.replace(BinsConfig(), **base)


def _tidy(values: dict[str, np.ndarray], column: str = "PGA_RotD50_g") -> pd.DataFrame:
    """A tidy table from ``source -> (n,) data values or (n, N) model values``."""
    parts = []
    for src, v in values.items():
        v = np.asarray(v, float).reshape(len(v), -1)
        rec, k = np.meshgrid(np.arange(v.shape[0]), np.arange(v.shape[1]), indexing="ij")
        parts.append(pd.DataFrame({"source": src, "record": rec.ravel(), "realization": k.ravel(),
                                   column: v.ravel()}))
    return pd.concat(parts, ignore_index=True)


def test_convergence_of_known_realisations():
    """Realisations c_i + (0, 1, 3) d (log10): the median after k of them is c_i + (0, d/2, d),
    the mean sigma (-, d/sqrt 2, d sqrt(7/3)), and Shapiro-Wilk's W of three points
    (0, 1, 3) is 27/28 with the exact n = 3 p-value (6/pi)(asin sqrt W - pi/3)."""
    from quakesynth.evaluate.analysis import Matrices, convergence, im_specs

    rng = np.random.default_rng(0)
    n, N, d = 6, 3, 0.2
    c = rng.uniform(-3, -1, n)
    y = c[:, None] + d * np.array([0.0, 1.0, 3.0])
    table = _tidy({"m": 10.0 ** y})
    coll = _coll(table, config=_config(realizations=N))
    Y = Matrices(table, n, N)
    e = convergence(coll, Y, im_specs(list(table.columns), ()), ["m"])["sources"]["m"]
    np.testing.assert_allclose(e["median_minus_final_mean"], [-d, -d / 2, 0.0], atol=1e-9)
    np.testing.assert_allclose(e["median_minus_final_rms"], [d, d / 2, 0.0], atol=1e-9)
    assert e["sigma_mean"][0] is None and e["sigma_minus_final_rms"][0] is None
    s3 = d * math.sqrt(7 / 3)
    np.testing.assert_allclose(e["sigma_mean"][1:], [d / math.sqrt(2), s3], rtol=1e-5)
    np.testing.assert_allclose(e["sigma_minus_final_rms"][1:], [s3 - d / math.sqrt(2), 0.0], atol=1e-6)
    assert e["n_records"] == n
    W = 27 / 28
    sw = e["shapiro_wilk"]
    assert sw["W_median"] == pytest.approx(W, rel=1e-5) and sw["n_records"] == n
    assert sw["p_median"] == pytest.approx(6 / math.pi * (math.asin(math.sqrt(W)) - math.pi / 3), rel=1e-4)
    assert sw["fraction_p_above_0.05"] == 1.0


def test_model_probability_is_the_normal_density_at_the_observation():
    """Eq. 13 by hand: model realisations mu + (-s, 0, +s) (ln) in each bin make a normal of
    median mu and 16-84 half-width s, so data at mu score 1/(s sqrt(2 pi)) and data one s off
    score exp(-1/2) of that; a GMM with sigma 0.6 (ln) whose median is the data scores
    1/(0.6 sqrt(2 pi)); the model/GMM ratio is their quotient. Their biases are 0, 0 and
    s / ln 10."""
    from quakesynth.evaluate.analysis import (
        Matrices,
        bias_vs_distance,
        gmm_predict,
        im_specs,
        model_probability,
    )

    # 2 records in each of the 4 M-R bins (M edges 3, 5, 8; R edges 0, 50, 400 km)
    mags = np.array([4.0, 4.0, 4.0, 4.0, 6.0, 6.0, 6.0, 6.0])
    dists = np.array([20.0, 20.0, 100.0, 100.0, 20.0, 20.0, 100.0, 100.0])
    cond = pd.DataFrame({"magnitude": mags, "distance_km": dists, "depth_km": 10.0, "vs30_mps": 400.0})
    mu_ln = -5.0 + mags - 1.3 * np.log(dists)  # ToyGMM's median: the data
    s = 0.3
    z = np.array([-s, 0.0, s])
    data = np.exp(mu_ln)
    table = _tidy({DATA_SRC: data, "exact": np.exp(mu_ln[:, None] + z), "off": np.exp(mu_ln[:, None] + s + z)})
    coll = _coll(table, cond, mr_bin=mr_bin_index(mags, dists, [3, 5, 8], [0, 50, 400]))
    Y = Matrices(table, len(mags), 3)
    specs = im_specs(list(table.columns), ())
    gmm_pred = {"G": {"PGA_RotD50": gmm_predict(ToyGMM(), "PGA", cond)}}
    e = model_probability(coll, Y, specs, gmm_pred, {"G": "RotD50"}, ["exact", "off"])["ims"]["PGA_RotD50"]
    peak = 1.0 / (s * math.sqrt(2 * math.pi))
    assert e["n"] == [2, 2, 2, 2]
    np.testing.assert_allclose(e["sources"]["exact"]["per_bin"], peak, rtol=1e-5)
    np.testing.assert_allclose(e["sources"]["off"]["per_bin"], peak * math.exp(-0.5), rtol=1e-5)
    assert e["sources"]["exact"]["overall"] == pytest.approx(peak, rel=1e-5)
    g = 1.0 / (0.6 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(e["sources"]["G"]["per_bin"], g, rtol=1e-5)
    assert e["sources"]["G"]["n_valid"] == 8
    np.testing.assert_allclose(e["ratios"]["exact/G"], 0.6 / s, rtol=1e-4)
    # the same models' bias (Fig. 4): zero for the model centred on the data (and for the GMM
    # whose median the data are), s / ln 10 for the one shifted by s in ln IM
    bias = bias_vs_distance(coll, Y, specs, gmm_pred, {"G": "RotD50"}, ["exact", "off"])["PGA_RotD50"]["sources"]
    assert bias["exact"]["overall_bias"] == pytest.approx(0.0, abs=1e-9)
    assert bias["G"]["overall_bias"] == pytest.approx(0.0, abs=1e-9)
    assert bias["off"]["overall_bias"] == pytest.approx(s / math.log(10), rel=1e-5)
    assert bias["off"]["overall_n"] == 8


def _boxcar_sine(length_s: np.ndarray, amp: np.ndarray, n: int = 2048, fs: float = FS) -> np.ndarray:
    """(N, 3, n) records: a 5 Hz sine of amplitude ``amp`` (m/s^2) lasting ``length_s`` from 2 s;
    the same on the three components. Its Husid curve is a straight line over the boxcar
    (to within 1/(4 pi f) = 0.016 s), so D5-95 = 0.9 x the boxcar length."""
    t = np.arange(n) / fs
    on = (t[None] >= 2.0) & (t[None] < 2.0 + np.asarray(length_s)[:, None])
    x = np.asarray(amp)[:, None] * np.sin(2 * np.pi * 5.0 * t)[None] * on
    return np.repeat(x[:, None], 3, axis=1)


def test_duration_of_a_boxcar_is_nine_tenths_of_its_length():
    """D5-95 through the harness's IM function: 0.9 L for a boxcar of length L; a model whose
    boxcars are twice as long has median 1.8 L and a duration bias of log10(2)."""
    from quakesynth.evaluate.analysis import duration_vs_magnitude
    from quakesynth.evaluate.features import intensity_measures

    mags = np.array([4.2, 4.3, 5.2, 5.3, 6.2, 6.4])
    L = 2.0 * (mags - 3.0)  # s: 2.4 ... 6.8
    amp = 10 ** (0.5 * mags - 3)
    cols = ["D5-95_H1_s", "D5-95_H2_s"]
    d_data = intensity_measures(_boxcar_sine(L, amp), FS, "ZNE", ())[cols]
    np.testing.assert_allclose(d_data["D5-95_H1_s"], 0.9 * L, atol=0.04)
    d_model = intensity_measures(_boxcar_sine(2 * L, amp), FS, "ZNE", ())[cols]
    n = len(mags)
    parts = [pd.DataFrame({"source": DATA_SRC, "record": np.arange(n), "realization": 0}).join(d_data)]
    for k in range(2):
        parts.append(pd.DataFrame({"source": "long", "record": np.arange(n), "realization": k}).join(d_model))
    table = pd.concat(parts, ignore_index=True)
    cond = pd.DataFrame({"magnitude": mags})
    edges = (4.0, 5.0, 6.0, 7.0)
    cfg = _config(bins=_bins(duration_magnitude_edges=edges))
    out = duration_vs_magnitude(_coll(table, cond, config=cfg), ["long"])
    assert out["edges"] == list(edges) and out["unit"] == "s"
    med = [0.9 * np.median(L[(mags >= lo) & (mags < hi)]) for lo, hi in zip(edges[:-1], edges[1:])]
    np.testing.assert_allclose(out["sources"][DATA_SRC]["median"], med, atol=0.04)
    np.testing.assert_allclose(out["sources"]["long"]["median"], 2 * np.array(med), atol=0.08)
    assert out["sources"][DATA_SRC]["n"] == [2, 2, 2] and out["sources"]["long"]["n"] == [4, 4, 4]
    assert out["sources"]["long"]["bias_log10"] == pytest.approx(math.log10(2), abs=0.01)


def test_scenario_curve_has_the_models_distance_scaling():
    """A model with log10 PGA = 0.5 M - 1.3 log10 R - 2 + (-e, 0, e): the scenario median is
    10^(0.5 M - 1.3 log10 R - 2) (slope -1.3 in log-log) with sigma_log10 = e; ToyGMM's
    median is exp(0.5) R^-1.3 with sigma 0.6/ln 10; the data mean is that of the records at
    the scenario points, none where no record is near."""
    from quakesynth.evaluate.analysis import im_specs, scenario_curves

    sc = ScenarioConfig(name="M5.5 vs R", values=(10.0, 40.0, 160.0), magnitude=5.5, realizations=3)
    R = np.asarray(sc.values)
    e = 0.1
    rows = []
    for p, r in enumerate(R):
        for k, dz in enumerate((-e, 0.0, e)):
            rows.append({"source": "toy", "scenario": sc.name, "point": p, "realization": k, "distance": r,
                         "PGA_RotD50_g": 10 ** (0.5 * 5.5 - 1.3 * np.log10(r) - 2 + dz)})
    st = pd.DataFrame(rows)
    # data: two records at 10 km (PGA 1e-2 and 4e-2 g: geometric mean 2e-2), one at 40 km
    cond = pd.DataFrame({"magnitude": 5.5, "distance_km": [10.0, 10.0, 40.0, 400.0], "vs30_mps": 400.0,
                         "depth_km": 10.0})
    table = _tidy({DATA_SRC: [1e-2, 4e-2, 3e-3, 1e-5]})
    coll = _coll(table, cond, scenario_table=st, config=_config(scenarios=(sc,)))
    out, _ = scenario_curves(coll, im_specs(list(table.columns), ()), {"G": ToyGMM()})
    entry = out[sc.name]
    assert entry["vary"] == "distance" and entry["values"] == list(R) and entry["fixed"]["magnitude"] == 5.5
    med = np.array(entry["sources"]["toy"]["PGA_RotD50"]["median"])
    np.testing.assert_allclose(med, 10 ** (0.5 * 5.5 - 1.3 * np.log10(R) - 2), rtol=1e-5)
    assert np.polyfit(np.log10(R), np.log10(med), 1)[0] == pytest.approx(-1.3, abs=1e-5)
    np.testing.assert_allclose(entry["sources"]["toy"]["PGA_RotD50"]["sigma_log10"], e, rtol=1e-5)
    g = entry["gmms"]["G"]["PGA_RotD50"]
    np.testing.assert_allclose(g["median"], math.exp(0.5) * R ** -1.3, rtol=1e-5)
    np.testing.assert_allclose(g["sigma_log10"], 0.6 / math.log(10), rtol=1e-5)
    assert entry["gmm_components"]["G"] == "RotD50"
    dat = entry["data"]["PGA_RotD50"]
    assert dat["n"] == [2, 1, 0]
    assert dat["geometric_mean"][0] == pytest.approx(2e-2, rel=1e-5)
    assert dat["geometric_mean"][1] == pytest.approx(3e-3, rel=1e-5) and dat["geometric_mean"][2] is None


def _resonant_records(rng, f_site: float, n_rec: int, n: int = 4096, fs: float = FS) -> np.ndarray:
    """(n_rec, 3, n) ZNE records: vertical white noise; horizontals the same noise plus a
    narrow resonance at ``f_site`` Hz (H/V peaks there)."""
    from scipy.signal import lfilter

    w, r = 2 * np.pi * f_site / fs, 0.99
    out = np.empty((n_rec, 3, n))
    for i in range(n_rec):
        v = rng.standard_normal(n)
        out[i, 0] = v
        for c in (1, 2):
            out[i, c] = v + 0.02 * lfilter([1.0], [1.0, -2 * r * np.cos(w), r * r], rng.standard_normal(n))
    return out


def test_hvsr_section_finds_each_stations_resonance():
    """HVSR through the harness's curve function of records with a site resonance at 2 Hz
    (station A) and 6 Hz (station B): each station's f0 is its resonance (within a grid step);
    a model that reproduces the data has the same curves and a f0 similarity of 1."""
    import dataclasses

    from quakesynth.evaluate.analysis import hvsr_summary
    from quakesynth.evaluate.features import canonical, waveform_curves

    rng = np.random.default_rng(3)
    x = np.concatenate([_resonant_records(rng, 2.0, 3), _resonant_records(rng, 6.0, 3)])
    feats = dataclasses.replace(_config().features, fas_points=64)
    cfg = _config(features=feats)
    h = waveform_curves(canonical(x, "ZNE"), FS, feats)["hvsr"]
    freqs = np.logspace(np.log10(feats.fas_fmin_hz), np.log10(feats.fas_fmax_hz), feats.fas_points)
    step = freqs[1] / freqs[0]
    cond = pd.DataFrame({"station": ["A"] * 3 + ["B"] * 3})
    coll = _coll(None, cond, config=cfg, hvsr_records=np.arange(6), hvsr={DATA_SRC: h, "same": h.copy()},
                 freqs=freqs)
    out = hvsr_summary(coll, ["same"])
    assert set(out["stations"]) == {"A", "B"} and out["stations"]["A"]["n"] == 3
    for sta, f_site in (("A", 2.0), ("B", 6.0)):
        e = out["stations"][sta]
        assert abs(math.log(e[DATA_SRC]["f0_Hz"] / f_site)) <= math.log(step) + 1e-9, (sta, e[DATA_SRC]["f0_Hz"])
        assert e["same"]["f0_Hz"] == e[DATA_SRC]["f0_Hz"]
        curve = np.array(e[DATA_SRC]["curve_log10"], float)
        assert curve.max() > 0.25 and np.nanmedian(np.abs(curve)) < 0.05  # one peak (H/V ~ 2) on a flat 1
    assert out["js_similarity_f0"]["same"] == pytest.approx(1.0)


def test_paired_section_of_perfect_and_scaled_reproductions():
    """Kristekova and Anderson GOF through the harness's paired function: a reproduction equal
    to the record scores 10 everywhere with zero frequency bias; twice the record keeps a
    perfect phase GOF (10) and a frequency bias of exactly +1 (100 %) in every band, while
    its envelope GOF drops below 10."""
    from quakesynth.evaluate.analysis import paired_summary
    from quakesynth.evaluate.features import canonical, paired_measures

    rng = np.random.default_rng(4)
    t = np.arange(1024) / FS
    ref = canonical(rng.standard_normal((3, 3, 1024)) * np.exp(-(((t - 3.0) / 1.5) ** 2)), "ZNE")
    feats = _config().features
    parts = []
    for src, x in (("same", ref), ("twice", 2.0 * ref)):
        p = paired_measures(x, ref, FS, feats)
        p.insert(0, "source", src)
        p.insert(1, "record", np.arange(3))
        parts.append(p)
    out = paired_summary(_coll(paired=pd.concat(parts, ignore_index=True)))
    same, twice = out["same"], out["twice"]
    assert same["n_records"] == twice["n_records"] == 3
    for c in ("H1", "H2", "V"):
        for m in ("EG", "PG", "Anderson"):
            assert same[f"{m}_{c}"]["mean"] == pytest.approx(10.0, abs=1e-6), (m, c)
        assert twice[f"PG_{c}"]["mean"] == pytest.approx(10.0, abs=1e-6)
        assert twice[f"EG_{c}"]["mean"] < 9.0
        for key in [k for k in same if k.startswith("freqbias_") and k.endswith(c)]:
            assert same[key]["mean"] == pytest.approx(0.0, abs=1e-9)
            assert twice[key]["mean"] == pytest.approx(1.0, rel=1e-9)
