"""Pieces of the evaluation harness: bins, running moments, ordered pipeline, record selection."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from quakesynth.evaluate.config import FeatureConfig, ScenarioConfig
from quakesynth.evaluate.features import (
    _block_means,
    component_order,
    envelope_times,
    fas_frequencies,
)
from quakesynth.evaluate.harness import (
    Moments,
    RecordSet,
    mr_bin_index,
    select_records,
    station_keys,
)
from quakesynth.evaluate.run import parse_data_spec, parse_model_spec
from quakesynth.pool import OrderedPipeline
from quakesynth.records import Records


def test_mr_bins_edges_and_outside():
    m = np.array([4.0, 4.99, 5.0, 7.0, 3.9, np.nan, 6.0])
    r = np.array([0.0, 49.9, 50.0, 200.0, 10.0, 10.0, 250.0])
    assert mr_bin_index(m, r, [4, 5, 7], [0, 50, 200]).tolist() == [0, 0, 3, 3, -1, -1, -1]


def test_moments_match_numpy_and_ignore_nan():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 3, 7))
    x[3, 1, 2] = np.nan
    bins = rng.integers(-1, 4, 50)
    mo = Moments(4, (3, 7))
    for a in range(0, 50, 13):  # in chunks, as the harness adds them
        mo.add(bins[a:a + 13], x[a:a + 13])
    mean, std, cnt = mo.mean_std()
    for b in range(4):
        sel = x[bins == b]
        np.testing.assert_allclose(mean[b], np.nanmean(sel, axis=0), rtol=1e-12)
        np.testing.assert_allclose(std[b], np.nanstd(sel, axis=0), rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(cnt[b], np.isfinite(sel).sum(axis=0))
    np.testing.assert_allclose(mean[4], np.nanmean(x, axis=0), rtol=1e-12)  # "all"


def test_pipeline_callbacks_run_in_submission_order():
    def work(i):
        time.sleep(0.02 * (5 - i))  # later units finish first
        return i

    seen = []
    with ThreadPoolExecutor(4) as ex:
        pipe = OrderedPipeline(ex, max_pending=3)
        for i in range(6):
            pipe.submit(work, i, callback=seen.append)
        pipe.drain()
    assert seen == list(range(6))
    inline = []
    OrderedPipeline(None).submit(work, 5, callback=inline.append)
    assert inline == [5]


def test_grids_and_component_order():
    cfg = FeatureConfig(fas_fmin_hz=0.1, fas_fmax_hz=10.0, fas_points=3, envelope_points=4, envelope_duration_s=4.0)
    np.testing.assert_allclose(fas_frequencies(cfg), [0.1, 1.0, 10.0])
    np.testing.assert_allclose(envelope_times(cfg), [0.5, 1.5, 2.5, 3.5])
    assert component_order("ZNE") == [1, 2, 0] and component_order("NEZ") == [0, 1, 2]
    assert component_order("NE") == [0, 1, -1] and component_order("12") == [0, 1, -1]  # horizontal pairs
    for bad in ("NE1", "N", "ZZN"):
        with pytest.raises(ValueError, match="two horizontal components"):
            component_order(bad)
    # block means: exact on a ramp; NaN past the end of a short record
    x = np.arange(300, dtype=float)[None]  # 3 s at 100 Hz
    out = _block_means(x, 100.0, cfg)
    np.testing.assert_allclose(out[0, :3], [49.5, 149.5, 249.5])
    assert np.isnan(out[0, 3])


def _set(n=6, vs30=400.0):
    meta = pd.DataFrame({"source_magnitude": np.linspace(4, 7, n), "path_hyp_distance_km": np.linspace(10, 300, n),
                         "station_vs30_mps": vs30, "source_depth_km": 10.0, "path_azimuthal_gap_deg": 90.0,
                         "trace_name": [f"r{i}" for i in range(n)], "station_code": ["A", "A", "B", "C", "C", "C"][:n],
                         "station_network_code": "XX"})
    rec = Records(np.zeros((n, 3, 16)), fs=100.0, components="ZNE", metadata=meta)
    return RecordSet.from_records(rec)


class _Ranged:
    variables = ("magnitude", "distance", "vs30", "depth", "gap")
    ranges = {"distance": (1.0, 200.0)}


def test_select_records_policies():
    data = _set()
    kept, notes = select_records(data, {"m": _Ranged()}, "drop")
    assert len(kept) == 4 and "outside the distance range" in notes[0]
    assert kept.metadata["trace_name"].tolist() == ["r0", "r1", "r2", "r3"]
    assert len(kept.chunks(3).__next__()[1]) == 3
    kept, _ = select_records(data, {"m": _Ranged()}, "extrapolate")
    assert len(kept) == 6
    with pytest.raises(ValueError, match="distance=242 is outside the range of model 'm'"):
        select_records(data, {"m": _Ranged()}, "error")
    with pytest.raises(ValueError, match="no record of the evaluation set"):
        select_records(_set(vs30=np.nan), {"m": _Ranged()}, "drop")
    assert station_keys(data.metadata).tolist()[:3] == ["XX.A.", "XX.A.", "XX.B."]


def test_specs_parse():
    assert parse_data_spec("some/dir:test") == ("some/dir", "test")
    assert parse_data_spec("some/dir") == ("some/dir", None)
    assert parse_model_spec("small=runs/x/model") == ("small", "runs/x/model")
    assert parse_model_spec("stochastic") == ("stochastic", "stochastic")
    sc = ScenarioConfig(vary="vs30", values=(200.0, 800.0), realizations=4)
    t = sc.table()
    assert t["vs30"].tolist() == [200.0, 800.0] and (t["n"] == 4).all() and (t["magnitude"] == 6.0).all()


def test_core_ims_equal_ims_of_records():
    """The fast IM set is the same numbers as quakesynth.metrics.ims_of_records."""
    from quakesynth.evaluate.features import intensity_measures
    from quakesynth.metrics import ims_of_records

    rng = np.random.default_rng(3)
    t = np.arange(1024) / 100.0
    data = (rng.standard_normal((5, 3, 1024)) * np.exp(-(((t - 4) / 1.5) ** 2))).astype(np.float32)
    core = intensity_measures(data, 100.0, "ENZ", (0.1, 1.0), which="core")
    full = ims_of_records(Records(data, fs=100.0, components="ENZ"), periods=[0.1, 1.0])
    assert set(core.columns) <= set(full.columns)
    assert {"PGA_RotD50_g", "PGV_SRSS_cm/s", "PSA1.0_RotD50_g", "PSA0.1_GM_g", "D5-95_V_s"} <= set(core.columns)
    np.testing.assert_allclose(core.to_numpy(), full[core.columns].to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="which must be"):
        intensity_measures(data, 100.0, "ENZ", (1.0,), which="some")


def test_horizontal_pairs_give_the_same_horizontal_measures():
    """A horizontal pair (NE) is first-class: every horizontal measure equals that of the same
    record with a vertical; V measures, HVSR and f0 are NaN; paired GOF on the horizontals."""
    from quakesynth.evaluate.config import FeatureConfig
    from quakesynth.evaluate.features import canonical, compute_unit, paired_measures

    rng = np.random.default_rng(7)
    t = np.arange(2048) / 100.0
    env = np.exp(-((t - 8.0) / 3.0) ** 2)
    zne = rng.standard_normal((3, 3, 2048)) * env
    cfg = FeatureConfig(periods_s=(0.3, 1.0))
    full = compute_unit(zne, 100.0, "ZNE", cfg, hvsr_rows=np.ones(3, bool))
    pair = compute_unit(zne[:, 1:], 100.0, "NE", cfg, hvsr_rows=np.ones(3, bool))
    h = [c for c in full["ims"].columns if "_V_" not in c]
    pd.testing.assert_frame_equal(pair["ims"][h], full["ims"][h])
    assert pair["ims"].filter(like="_V_").isna().all().all()
    np.testing.assert_allclose(pair["logfas"][:, :2], full["logfas"][:, :2], rtol=1e-5)
    np.testing.assert_allclose(pair["logenv"][:, :2], full["logenv"][:, :2], rtol=1e-5)
    assert np.isnan(pair["logfas"][:, 2]).all() and np.isnan(pair["hvsr"]).all() and np.isnan(pair["f0"]).all()
    assert np.isfinite(full["logfas"][:, 2]).any()
    g = paired_measures(canonical(zne[:, 1:], "NE"), canonical(zne[:, 1:] * 1.2, "NE"), 100.0, cfg)
    assert np.isfinite(g["Anderson_H1"]).all() and g["Anderson_V"].isna().all()
