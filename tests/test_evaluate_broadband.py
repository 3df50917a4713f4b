"""The broadband section of the evaluation: a paired model with a low-passed input (issue 15, item 5).

Oracle paired models stand in for a trained refiner, so every figure has an analytic value:
a model that returns its record times 2 has FAS and PSA bias log10(2) in every band and period
and a kept-band error of 1; one that returns its record has zero bias. The harness's figures
are also cross-checked against the stand-alone measures of ``quakesynth.evaluate.broadband``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quakesynth.evaluate import EvaluateConfig, RecordSet, evaluate
from quakesynth.evaluate.broadband import FAS_BANDS, paired_metrics, score, summarise
from quakesynth.evaluate.paired import PairedModel, input_lowpass
from quakesynth.physics.broadband import crossover_lowpass
from quakesynth.records import Records

FS, T, N = 100.0, 2048, 4


def _records(n=N, components="ZNE") -> Records:
    from scipy import signal

    rng = np.random.default_rng(3)
    t = np.arange(T) / FS
    env = np.clip(t - 2, 0, None) ** 2 * np.exp(-np.clip(t - 2, 0, None) / 2)
    sos = signal.butter(4, (0.2, 30), btype="bandpass", fs=FS, output="sos")
    x = signal.sosfiltfilt(sos, rng.standard_normal((n, len(components), T)), axis=-1) * env * 1e-2
    meta = pd.DataFrame({"source_id": [f"ev{i // 2}" for i in range(n)], "trace_name": [f"r{i}" for i in range(n)],
                         "source_magnitude": np.linspace(4.5, 6.5, n), "path_hyp_distance_km": np.linspace(20, 120, n),
                         "station_vs30_mps": 400.0, "source_depth_km": 10.0, "path_azimuthal_gap_deg": 90.0,
                         "station_code": [f"S{i}" for i in range(n)]})
    return Records(x.astype(np.float32), fs=FS, components=components, metadata=meta)


class Scaled:
    """reproduce(): the record times ``gain`` (a perfect refiner for gain 1)."""

    variables = ()

    def __init__(self, gain: float, lowpass=(1.0, 8)):
        self.gain, self.lowpass, self.name = gain, lowpass, f"x{gain:g}"

    def reproduce(self, records: Records, seeds: np.ndarray) -> Records:
        return records.replace(data=(records.data * self.gain).astype(np.float32))


class NoLowpass(Scaled):
    lowpass = None

    def __init__(self):
        self.gain, self.name = 1.0, "plain"


def _run(models, tmp_path, components="ZNE"):
    rec = _records(components=components)
    cfg = EvaluateConfig(realizations=1, scenarios=(), batch_size=8)
    return rec, evaluate(RecordSet.from_records(rec), models, {}, tmp_path / "report", cfg)


def test_broadband_section_analytic_values_and_cross_check(tmp_path):
    rec, res = _run({"twice": Scaled(2.0), "same": Scaled(1.0), "plain": NoLowpass()}, tmp_path)
    bb = res.metrics["broadband"]
    assert set(bb) == {"fas_bands_Hz", "psa_periods_s", "twice", "same"}  # not the model without a low-pass
    two = bb["twice"]
    assert two["fc_Hz"] == 1.0 and two["order"] == 8 and two["n_records"] == N
    for lo, hi in FAS_BANDS:
        assert two[f"fas_bias_{lo:g}-{hi:g}"] == pytest.approx(np.log10(2.0), abs=1e-5)
        assert bb["same"][f"fas_absbias_{lo:g}-{hi:g}"] == pytest.approx(0.0, abs=1e-5)
    assert two["psa_bias_per_period"] == pytest.approx([np.log10(2.0)] * 10, abs=1e-5)
    assert two["kept_median"] == pytest.approx(1.0, abs=0.02)  # 2y - Ly ~ y below 0.8 fc
    assert two["rmae_median"] == pytest.approx(1.0) and two["rrmse_median"] == pytest.approx(1.0)  # |2y - y| / |y|
    assert bb["same"]["rmae_median"] == 0.0 and bb["same"]["rrmse_median"] == 0.0
    assert bb["same"]["psa_bias_maxabs"] == pytest.approx(0.0, abs=1e-5)
    assert bb["same"]["PG"] == pytest.approx(10.0, abs=1e-3) and bb["same"]["EG"] == pytest.approx(10.0, abs=1e-3)
    assert two["EG"] < bb["same"]["EG"] - 1.0  # a factor 2 is an envelope misfit, not a phase misfit
    # the same figures as the stand-alone measures on the same records
    low = rec.replace(data=crossover_lowpass(rec.data, FS, 1.0, 8).astype(np.float32))
    ref = summarise(paired_metrics(rec.replace(data=rec.data * 2), rec, low, 1.0))
    ref["score"] = score(ref)
    for k, v in ref.items():
        assert two[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
    # written to metrics.json and rendered as its own section after the paired one
    on_disk = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert on_disk["broadband"]["twice"]["n_records"] == N
    keys = list(on_disk)
    assert keys.index("broadband") == keys.index("paired") + 1
    html = (tmp_path / "report" / "index.html").read_text()
    assert html.index('id="paired"') < html.index('id="broadband"') < html.index('id="hvsr"')


def test_no_low_passed_model_no_section(tmp_path):
    _, res = _run({"plain": NoLowpass()}, tmp_path)
    assert "broadband" not in res.metrics
    assert 'id="broadband"' not in (tmp_path / "report" / "index.html").read_text()


def test_horizontal_pairs_get_the_section_on_two_components(tmp_path):
    _, res = _run({"twice": Scaled(2.0)}, tmp_path, components="NE")
    two = res.metrics["broadband"]["twice"]
    assert two["fas_bias_2-5"] == pytest.approx(np.log10(2.0), abs=1e-5)
    assert two["n_records"] == N


def test_lowpass_attribute_is_checked_before_any_work(tmp_path):
    assert isinstance(Scaled(1.0), PairedModel)
    assert input_lowpass(Scaled(1.0, (2, 4))) == (2.0, 4) and input_lowpass(NoLowpass()) is None
    for bad in ((0.0, 8), (1.0, 0), "fc", (float("nan"), 8)):
        with pytest.raises(ValueError, match="lowpass"):
            _run({"bad": Scaled(1.0, bad)}, tmp_path)
    assert not (tmp_path / "report").exists()


def test_evaluate_cli_judges_the_shipped_broadband_refiner(tmp_path, capsys):
    """``quakesynth evaluate --model refiner=DIR``: the shipped refiner (a broadband refiner
    model directory) is loaded as a paired model and gets both paired sections."""
    from pathlib import Path

    import quakesynth
    from quakesynth.cli.main import main
    from test_physics_broadband import synthetic_corpus

    model = Path(quakesynth.__file__).parent / "weights" / "broadband"
    if not (model / "config.json").exists():
        pytest.skip("the shipped broadband refiner is not installed")
    data = synthetic_corpus(tmp_path / "corpus", n_events=2, per_event=2, T=2048)
    out = tmp_path / "report"
    assert main(["evaluate", "--data", str(data), "--model", f"refiner={model}", "-n", "1", "--no-scenarios",
                 "-o", str(out), "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    bb = m["broadband"]["refiner"]
    assert bb["fc_Hz"] == 1.0 and bb["order"] == 8 and bb["n_records"] == 4
    assert bb["kept_max"] < 1e-4  # the refiner returns its input exactly below 0.8 fc
    assert all(np.isfinite(bb[f"fas_bias_{lo:g}-{hi:g}"]) for lo, hi in FAS_BANDS)
    assert m["paired"]["refiner"]["n_records"] == 4
    assert m["run"]["paired_models"] == ["refiner"]
    assert 'id="broadband"' in (out / "index.html").read_text()
