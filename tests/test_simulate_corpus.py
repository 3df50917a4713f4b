"""Corpus generation: scenario sampling, metadata, store layout, reproducibility, CLI."""

import dataclasses

import numpy as np
import pytest

from quakesynth.cli.main import main
from quakesynth.simulate.corpus import (
    CorpusConfig,
    azimuthal_gap,
    iter_corpus,
    load_corpus_config,
    sample_event,
    write_corpus,
)
from quakesynth.simulate.site import StationConfig, make_station_table
from quakesynth.simulate.stochastic import StochasticConfig

SMALL = ["simulator.stations.n_stations=120"]


@pytest.fixture(scope="module")
def small():
    cfg, sim = load_corpus_config(None, SMALL)
    return cfg, sim, make_station_table(sim.stations, seed=1)


def test_events_follow_the_stated_distributions(small):
    cfg, sim, stations = small
    events = [sample_event(i, 1, stations, 3, cfg, sim) for i in range(300)]
    m = np.array([e["magnitude"] for e in events])
    z = np.array([e["depth"] for e in events])
    assert m.min() >= 4.0 and m.max() <= 7.5
    # truncated Gutenberg-Richter with b = 1: mean magnitude above 4 is ~ 4 + log10(e) = 4.43
    assert np.mean(m) == pytest.approx(4.0 + 1 / np.log(10), abs=0.08)
    assert z.min() >= 0 and z.max() <= 100 and 0.5 < np.mean(z < 25) < 0.8
    for e in events[:50]:
        assert len(set(e["stations"])) == 3
        assert np.all(e["distance"] >= max(cfg.distance_min_km, e["depth"]) - 1e-9)
        assert np.all(e["distance"] <= cfg.distance_max_km)
        assert 10.0 <= e["gap"] <= 360.0
    # the same event whatever else is sampled
    assert sample_event(7, 1, stations, 3, cfg, sim)["magnitude"] == events[7]["magnitude"]


def test_azimuthal_gap():
    assert azimuthal_gap(np.array([10.0])) == 360.0
    assert azimuthal_gap(np.array([350.0, 10.0])) == pytest.approx(340.0)
    assert azimuthal_gap(np.array([0.0, 120.0, 240.0])) == pytest.approx(120.0)


def test_chunks_have_complete_metadata(small):
    cfg, sim, stations = small
    cfg = dataclasses.replace(cfg, chunk_events=3)
    chunks = list(iter_corpus(5, 3, seed=1, cfg=cfg, sim=sim, stations=stations))
    assert [len(c) for c in chunks] == [9, 6]
    rec = chunks[0]
    meta = rec.metadata
    for col in ("source_id", "source_magnitude", "source_depth_km", "source_latitude_deg", "station_code",
                "station_vs30_mps", "path_hyp_distance_km", "path_ep_distance_km", "path_back_azimuth_deg",
                "path_azimuthal_gap_deg", "trace_p_arrival_sample", "trace_s_arrival_sample",
                "trace_start_time", "source_origin_time"):
        assert meta[col].notna().all(), col
    assert (meta["station_vs30_source"] == "simulated").all()
    assert "station_f0_hz" in meta and rec.components == "ZNE" and rec.data.shape[1:] == (3, 4096)
    assert meta.groupby("source_id")["path_azimuthal_gap_deg"].nunique().eq(1).all()
    assert (meta["trace_s_arrival_sample"] > meta["trace_p_arrival_sample"]).all()
    np.testing.assert_allclose(np.hypot(meta["path_ep_distance_km"], meta["source_depth_km"]),
                               meta["path_hyp_distance_km"], rtol=1e-9)
    # the station's own Vs30 and f0 are what the record carries
    st = stations.set_index("station_code").loc[meta["station_code"]]
    np.testing.assert_array_equal(st["vs30_mps"].to_numpy(), meta["station_vs30_mps"].to_numpy())
    np.testing.assert_array_equal(st["f0_hz"].to_numpy(), meta["station_f0_hz"].to_numpy())


def test_bad_corpus_arguments(small):
    cfg, sim, stations = small
    with pytest.raises(ValueError, match="n_events"):
        next(iter_corpus(0, 3, cfg=cfg, sim=sim))
    with pytest.raises(ValueError, match="stations_per_event"):
        next(iter_corpus(2, 0, cfg=cfg, sim=sim))
    with pytest.raises(ValueError, match="exceeds the network"):
        next(iter_corpus(2, 500, cfg=cfg, sim=sim))
    with pytest.raises(ValueError, match="unknown config section"):
        load_corpus_config({"simulatr": {}})
    with pytest.raises(ValueError, match="no epicentre"):
        tiny = dataclasses.replace(sim, stations=StationConfig(n_stations=3))
        sample_event(0, 0, make_station_table(tiny.stations, 0), 3,
                     dataclasses.replace(cfg, max_placement_tries=5), tiny)


def test_preset_file_is_the_defaults():
    """configs/simulator.yaml states every value; it must equal the dataclass defaults."""
    from quakesynth.config import PRESET_DIR

    cfg, sim = load_corpus_config(PRESET_DIR / "simulator.yaml")
    assert cfg == CorpusConfig() and sim == StochasticConfig()


def test_cli_end_to_end(tmp_path):
    from quakesynth.data.store import Dataset

    out = tmp_path / "corpus"
    args = ["simulate", "--events", "6", "--stations-per-event", "3", "-o", str(out), "--seed", "4",
            "--workers", "1", "--no-progress", *sum((["--set", s] for s in SMALL), [])]
    assert main(args) == 0
    ds = Dataset(out)
    assert len(ds) == 18 and ds.components == "ZNE" and ds.fs == 100.0 and ds.unit == "m/s^2"
    meta = ds.metadata
    assert meta.groupby("source_id")["split"].nunique().eq(1).all()  # splits by event
    assert (out / "simulator.yaml").exists() and (out / "stations.csv").exists()
    first = ds.get([0]).data
    assert main(args) == 2  # exists: one-line error, no overwrite
    assert main([*args, "--overwrite"]) == 0
    np.testing.assert_array_equal(Dataset(out).get([0]).data, first)  # same seed, same bytes
    assert main(["simulate", "--events", "0", "-o", str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_result_does_not_depend_on_workers(tmp_path):
    """Two worker processes write byte-identical files to one."""
    one = write_corpus(tmp_path / "w1", 12, 3, seed=9, overrides=SMALL, workers=1)
    two = write_corpus(tmp_path / "w2", 12, 3, seed=9, overrides=SMALL, workers=2)
    assert one["records"] == two["records"] == 36
    for name in ("waveforms.hdf5", "metadata.csv", "stats.json", "stations.csv"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name


def test_training_design_covers_magnitudes_and_log_distances_evenly(small):
    """corpus.magnitude_distribution=uniform + distance_distribution=log-uniform: magnitudes
    uniform, no trigger range, and more near records than the network's r-density draw."""
    cfg, sim, stations = small
    even = dataclasses.replace(cfg, magnitude_distribution="uniform", distance_distribution="log-uniform")
    ev_d = [sample_event(i, 1, stations, 3, cfg, sim) for i in range(300)]
    ev_e = [sample_event(i, 1, stations, 3, even, sim) for i in range(300)]
    m = np.array([e["magnitude"] for e in ev_e])
    assert m.min() >= 4.0 and m.max() <= 7.5
    assert np.mean(m) == pytest.approx(5.75, abs=0.15) and np.mean(m > 6.5) == pytest.approx(1 / 3.5, abs=0.07)
    r_d = np.concatenate([e["distance"] for e in ev_d])
    r_e = np.concatenate([e["distance"] for e in ev_e])
    assert np.all((r_e >= cfg.distance_min_km) & (r_e <= cfg.distance_max_km))
    flat = dataclasses.replace(even, distance_distribution="uniform")
    r_f = np.concatenate([sample_event(i, 1, stations, 3, flat, sim)["distance"] for i in range(300)])
    assert np.mean(r_e < 40) > 1.3 * max(np.mean(r_d < 40), np.mean(r_f < 40))
    assert np.median(r_f) > np.median(r_e)
    # no trigger range: small events are recorded beyond the M4 trigger distance too
    small_far = [np.any(e["distance"] > 1.2 * cfg.trigger_distance_m4_km) for e in ev_e if e["magnitude"] < 4.3]
    assert any(small_far)
    # the same event index draws the same depth in both designs (only M and stations differ)
    assert [e["depth"] for e in ev_e[:20]] == [e["depth"] for e in ev_d[:20]]
    with pytest.raises(ValueError, match="magnitude_distribution"):
        CorpusConfig(magnitude_distribution="gr")
    with pytest.raises(ValueError, match="distance_distribution"):
        CorpusConfig(distance_distribution="log")
