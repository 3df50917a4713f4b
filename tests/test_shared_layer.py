"""The small shared layer (issue 15, item 4): each concept once, with its callers' behaviour."""

import numpy as np
import pytest

from quakesynth.geometry import azimuthal_gap
from quakesynth.seeds import derive_seed, derive_seed32


# -- azimuthal gap --------------------------------------------------------------------------
def test_gap_analytic_cases():
    assert azimuthal_gap([0, 90, 180, 270]) == 90.0
    assert azimuthal_gap([350, 10, 30]) == 320.0
    assert azimuthal_gap([10, 20]) == 350.0


def test_gap_rotation_invariant_and_bounded():
    rng = np.random.default_rng(0)
    for _ in range(20):
        az = rng.uniform(0, 360, rng.integers(2, 12))
        g = azimuthal_gap(az)
        assert 360.0 / len(az) - 1e-9 <= g < 360.0  # at least the mean spacing, less than the circle
        assert azimuthal_gap(az + 123.4) == pytest.approx(g, abs=1e-9)
        assert azimuthal_gap(az - 720.0) == pytest.approx(g, abs=1e-9)


def test_gap_few_stations_decided_once():
    # one station: the whole circle, for every caller
    assert azimuthal_gap([123.0]) == 360.0
    # no station: undefined (NaN) unless the caller states a value
    assert np.isnan(azimuthal_gap([]))
    assert azimuthal_gap([], empty=360.0) == 360.0
    # a station without an azimuth does not close a gap
    assert azimuthal_gap([np.nan, 0.0, 180.0]) == 180.0
    assert np.isnan(azimuthal_gap([np.nan]))


def test_gap_callers_share_the_definition():
    from quakesynth.data import conditioning_columns
    from quakesynth.simulate import corpus

    assert conditioning_columns.azimuthal_gap is azimuthal_gap and corpus.azimuthal_gap is azimuthal_gap
    # data/conditioning_columns: an event whose records have no azimuth gets NaN
    g = conditioning_columns.event_gaps(["a", "a", "b"], [0.0, 180.0, np.nan])
    assert g[:2].tolist() == [180.0, 180.0] and np.isnan(g[2])


# -- seeds ----------------------------------------------------------------------------------
def test_seed_widths_and_key_order():
    s63 = [derive_seed(0, i, k) for i in range(5) for k in range(5)]
    assert all(0 <= s < 2**63 for s in s63) and len(set(s63)) == len(s63)
    s32 = [derive_seed32(0, i, k) for i in range(5) for k in range(5)]
    assert all(0 <= s < 2**32 for s in s32) and len(set(s32)) == len(s32)
    assert derive_seed(3, 1, 2) != derive_seed(3, 2, 1)
    # the documented recipes (SeedSequence of the whole key list), which stored outputs depend on
    st = np.random.SeedSequence([3, 1, 2]).generate_state(1, dtype=np.uint64)[0]
    assert derive_seed(3, 1, 2) == int(st >> np.uint64(1))
    assert derive_seed32(3, 1, 2) == int(np.random.SeedSequence([3, 1, 2]).generate_state(1)[0])
    assert derive_seed32(np.uint64(2**63 + 5), 1) == derive_seed32(2**63 + 5, 1)


def test_seed_callers_use_the_shared_derivation():
    from quakesynth.physics.joint import wavefield_seeds
    from quakesynth.physics.refine import window_seeds
    from quakesynth.simulate.corpus import record_seed

    assert record_seed(4, 2, 1) == derive_seed(4, 2, 2, 1)
    assert window_seeds(11, 2, 3) == [derive_seed32(11, i, w) for i in range(2) for w in range(3)]
    assert wavefield_seeds(11, 3) == [derive_seed32(11, i) for i in range(3)]


def test_waveform_and_amplitude_seeds_keep_their_recipes():
    from quakesynth.generate import waveform_seed
    from quakesynth.models import amplitude
    from quakesynth.seeds import amplitude_seed

    assert waveform_seed(7, 3, 2) == derive_seed(7, 3, 2)
    with pytest.raises(ValueError, match="non-negative"):
        waveform_seed(-1, 0, 0)
    # the amplitude draw: key 0xA3, folded modulo 2**63 (the stored models' bits)
    for s in (0, 9, 2**63 - 1, 2**63 + 4):
        st = np.random.SeedSequence([s % 2**63, 0xA3]).generate_state(1, np.uint64)[0]
        assert amplitude_seed(s) == int(st) % 2**63
    assert amplitude.amplitude_seed is amplitude_seed  # the old import path


def test_fit_length_callers_share_it():
    from quakesynth.records import Records
    from quakesynth.train.data import waveforms

    x = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)
    rec = Records(x, fs=100.0, components="ZNE", quantity="acceleration", unit="m/s^2")
    from quakesynth.signal import fit_length

    for n in (3, 5, 8):
        np.testing.assert_array_equal(waveforms(rec, n, 100.0), fit_length(x, n))


# -- plain JSON -----------------------------------------------------------------------------
def test_plain_json_round_trip_and_choices():
    import json
    from pathlib import Path

    from quakesynth.plain_json import to_plain

    doc = {"a": (np.float32(0.5), np.int64(2), np.bool_(True)), 3: np.array([[1.0, np.nan]]), "p": Path("x/y")}
    plain = to_plain(doc)
    assert plain == {"a": [0.5, 2, True], "3": [[1.0, plain["3"][0][1]]], "p": "x/y"}
    assert np.isnan(plain["3"][0][1])
    assert json.loads(json.dumps(to_plain(doc, nonfinite="none"), allow_nan=False))["3"] == [[1.0, None]]
    assert to_plain([float("nan"), float("inf")], nonfinite="nan")[1] == float("inf")
    assert to_plain(1.23456789, digits=3) == 1.23
    assert to_plain(object(), other="str").startswith("<object")
    with pytest.raises(ValueError, match="no plain JSON form"):
        to_plain({"k": object()}, other="raise")
    with pytest.raises(ValueError, match="nonfinite"):
        to_plain(1.0, nonfinite="drop")


def test_plain_json_serves_the_calibrated_presets():
    import yaml

    from quakesynth.formats import _common
    from quakesynth.simulate.calibration import preset_yaml
    from quakesynth.simulate.stochastic import StochasticConfig

    assert not hasattr(_common, "plain")  # the private copy is gone
    # a preset with NumPy scalars is plain YAML that loads back to the same numbers
    text = preset_yaml(StochasticConfig(), {"gmm": "X", "score": np.float64(0.25), "n": np.int64(3)})
    doc = yaml.safe_load(text)
    assert doc["provenance"] == {"gmm": "X", "score": 0.25, "n": 3}


# -- magnitude-distance bins ----------------------------------------------------------------
def test_bins_edges_and_callers():
    from quakesynth.binning import bin_index, mr_bin_index
    from quakesynth.models.classifier import DIST_BINS, MAG_BINS, bin_labels

    edges = [4.0, 5.0, 7.0]
    assert bin_index([3.9, 4.0, 4.99, 5.0, 7.0, 7.01, np.nan], edges).tolist() == [-1, 0, 0, 1, 1, -1, -1]
    assert bin_index([7.0], edges, include_last_edge=False).tolist() == [-1]
    rng = np.random.default_rng(0)
    m, r = rng.uniform(3, 10, 200), rng.uniform(0, 300, 200)
    flat = mr_bin_index(m, r, MAG_BINS, DIST_BINS)
    assert np.array_equal(bin_labels(m, r), flat)
    n_r = len(DIST_BINS) - 1
    ok = flat >= 0
    assert np.array_equal(flat[ok] // n_r, bin_index(m, MAG_BINS)[ok])
    assert np.array_equal(flat[ok] % n_r, bin_index(r, DIST_BINS)[ok])


# -- Butterworth design -----------------------------------------------------------------------
def test_butterworth_corner_gain_and_errors():
    from scipy.signal import sosfreqz

    from quakesynth.signal import butterworth_sos

    fs = 100.0
    for order, f, btype in [(2, 0.1, "highpass"), (4, 5.0, "low"), (4, (1.0, 10.0), "bandpass")]:
        sos = butterworth_sos(order, f, fs, btype)
        corners = np.atleast_1d(f)
        _, h = sosfreqz(sos, worN=corners, fs=fs)
        np.testing.assert_allclose(np.abs(h), 2 ** -0.5, rtol=1e-6)  # -3 dB at each corner
    with pytest.raises(ValueError, match="order"):
        butterworth_sos(2.5, 1.0, fs, "highpass")
    with pytest.raises(ValueError, match="btype"):
        butterworth_sos(2, 1.0, fs, "notch")
    with pytest.raises(ValueError, match="fs"):
        butterworth_sos(2, 1.0, -1.0, "highpass")


# -- fit to length ----------------------------------------------------------------------------
def test_fit_length_pads_crops_and_round_trips():
    from quakesynth.signal import fit_length

    x = np.random.default_rng(0).normal(size=(2, 3, 100))
    longer = fit_length(x, 130, dtype=np.float64)
    assert longer.shape == (2, 3, 130) and np.array_equal(longer[..., :100], x) and not longer[..., 100:].any()
    assert np.array_equal(fit_length(longer, 100, dtype=np.float64), x)  # pad then crop is the identity
    assert fit_length(x, 64).dtype == np.float32
    with pytest.raises(ValueError, match="n_samples"):
        fit_length(x, 0)


# -- GMM validity -------------------------------------------------------------------------------
def test_gmm_validity_is_a_method_of_the_gmm_class():
    import pandas as pd

    from quakesynth.evaluate.analysis import gmm_validity
    from quakesynth.gmm.models import GroundMotionModel

    class TableGMM(GroundMotionModel):
        name, distance_metric = "table", "rjb"
        validity = {"magnitude": (4.0, 7.0), "rjb_km": (0.0, 100.0), "vs30_mps": (150.0, 1500.0)}

    class DuckGMM:  # a fitted or user GMM that carries only the table
        distance_metric, validity = TableGMM.distance_metric, TableGMM.validity

    cond = pd.DataFrame({"magnitude": [5.0, 3.0, 6.0, 6.0, 5.0, np.nan],
                         "distance_km": [20.0, 20.0, 400.0, 20.0, 20.0, 20.0],
                         "depth_km": [10.0, 10.0, 10.0, 10.0, -1.0, 10.0],
                         "vs30_mps": [400.0, 400.0, 400.0, 100.0, 400.0, 400.0]})
    expected = [True, False, False, False, False, False]  # ok; M low; Rjb far; Vs30 low; depth < 0; NaN
    g = TableGMM()
    args = [cond[c].to_numpy(float) for c in ("magnitude", "distance_km", "depth_km", "vs30_mps")]
    assert g.in_validity(*args).tolist() == expected
    assert gmm_validity(g, cond).tolist() == expected
    assert gmm_validity(DuckGMM(), cond).tolist() == expected


# -- the scenario-variable table ------------------------------------------------------------
def test_scenario_table_is_the_one_source_of_every_view():
    from quakesynth import generate, records, scenario
    from quakesynth.cli import info
    from quakesynth.evaluate import config as ev_config

    table = scenario.SCENARIO_VARIABLES
    assert list(table) == ["magnitude", "distance", "vs30", "depth", "gap"]
    # every column is a declared metadata column, and the views are the same objects
    assert set(scenario.CONDITIONING_COLUMNS.values()) <= set(records.METADATA_COLUMNS)
    assert records.CONDITIONING_COLUMNS is scenario.CONDITIONING_COLUMNS
    assert generate.VARIABLES is scenario.VARIABLES
    assert generate.PHYSICAL_RANGES is scenario.PHYSICAL_RANGES
    assert ev_config.SCENARIO_VARIABLES == {n: table[n].unit for n in ("magnitude", "distance", "vs30")}
    assert "units = {" not in open(info.__file__).read()  # no private copy of the units left
    # unknown names: no unit, taken as a metadata column
    assert scenario.unit("source_latitude_deg") == "" and scenario.column("source_latitude_deg") == "source_latitude_deg"


def test_scenario_default_ranges_drive_validation():
    import pandas as pd

    from quakesynth.generate import ConditioningError, validate_scenarios
    from quakesynth.scenario import SCENARIO_VARIABLES

    names = list(SCENARIO_VARIABLES)
    ok = dict(magnitude=6.0, distance=30.0, vs30=400.0, depth=10.0, gap=90.0)
    validate_scenarios(pd.DataFrame([ok]), names, {}, "m")
    for name, v in SCENARIO_VARIABLES.items():
        if not v.is_bounded():
            continue
        edge = dict(ok, **{name: v.lower})
        if name == "distance":
            edge["depth"] = 0.0
        if v.lower_closed:
            validate_scenarios(pd.DataFrame([edge]), names, {}, "m")  # the bound itself is allowed
        else:
            with pytest.raises(ConditioningError, match=name):
                validate_scenarios(pd.DataFrame([edge]), names, {}, "m")
        if np.isfinite(v.upper):
            with pytest.raises(ConditioningError, match=name):
                validate_scenarios(pd.DataFrame([dict(ok, **{name: v.upper + 1})]), names, {}, "m")


def test_generate_help_texts_come_from_the_table(capsys):
    from quakesynth.cli.main import main
    from quakesynth.scenario import SCENARIO_VARIABLES

    assert main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    for v in SCENARIO_VARIABLES.values():
        assert v.description in " ".join(out.split())


# -- process pools --------------------------------------------------------------------------
def test_ordered_imap_keeps_order_and_bounds_in_flight():
    import time
    from concurrent.futures import ThreadPoolExecutor

    from quakesynth.pool import OrderedPipeline

    running, peak = [0], [0]

    def work(i):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        time.sleep(0.01 * (6 - i))  # later units finish first
        running[0] -= 1
        return i * i

    with ThreadPoolExecutor(4) as ex:
        out = list(OrderedPipeline(ex, max_pending=2).imap(work, range(7)))
    assert out == [i * i for i in range(7)]
    assert peak[0] <= 3  # max_pending queued + the one being waited for
    assert list(OrderedPipeline(None).imap(work, range(3))) == [0, 1, 4]


def test_process_pool_runs_the_callers_initialiser_after_the_thread_limit(tmp_path):
    import os

    from quakesynth.pool import OrderedPipeline, process_pool

    with process_pool(1, os.chdir, (str(tmp_path),)) as pool:
        assert pool.submit(os.getcwd).result() == str(tmp_path)
        assert list(OrderedPipeline(pool).imap(os.getenv, ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])) == ["1", "1"]
    with pytest.raises(ValueError, match="workers"):
        process_pool(0)


def test_corpus_uses_the_shared_pool():
    import inspect

    from quakesynth.simulate import corpus

    src = inspect.getsource(corpus)
    assert "ProcessPoolExecutor" not in src and "process_pool(" in src
