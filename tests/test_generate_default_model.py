"""The shipped ``default`` model (src/quakesynth/weights/default, docs/model_card_default.md).

It must ship inside the package (no download), stay small, load with weights-only
deserialisation, and generate what it was trained on: three-component accelerograms in m/s^2
whose amplitudes scale with magnitude and distance as its training corpus (the stochastic
simulator) does. Thresholds are loose on purpose (16 waveforms per scenario: the sampling
error of a median PGA is ~0.15 in ln) but far from what an untrained or broken model gives.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import quakesynth
from quakesynth.generate.highfem import DEFAULT_MODEL_DIR, HighFEMGenerator

SCEN = dict(vs30=400.0, depth=15.0, gap=120.0)


@pytest.fixture(scope="module")
def default():
    return quakesynth.load_model("default")


def _median_pga(gen, n=16, seed=0, **scenario) -> float:
    rec = gen.generate(**scenario, n=n, seed=seed)
    pga = np.abs(rec.data[:, 1:]).max(axis=(1, 2))  # larger horizontal peak, m/s^2
    return float(np.exp(np.log(pga).mean()))


def test_ships_small_and_self_describing(default):
    files = [p for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.json", "vae.pt", "edm.pt"}
    assert sum(p.stat().st_size for p in files) <= 50e6
    assert isinstance(default, HighFEMGenerator) and default.name == "default"
    assert set(default.variables) == {"magnitude", "distance", "vs30", "depth", "gap"}
    lo, hi = default.ranges["magnitude"]
    assert lo <= 4.5 and hi >= 6.5  # the corpus's conditioning ranges are stored in the model
    assert default.sampler.solver == "dpmpp2m"


def test_generates_m_per_s2_records_deterministically(default):
    rec = default.generate(magnitude=5.5, distance=40.0, **SCEN, n=4, seed=3)
    assert rec.data.shape[:2] == (4, 3) and rec.data.shape[2] >= 4064
    assert rec.unit == "m/s^2" and rec.fs == 100.0 and rec.components == "ZNE"
    assert np.isfinite(rec.data).all()
    np.testing.assert_array_equal(rec.data, default.generate(magnitude=5.5, distance=40.0, **SCEN, n=4, seed=3).data)
    assert rec.to_obspy()[0].stats.sampling_rate == 100.0


def test_amplitudes_scale_like_the_training_corpus(default):
    """PGA grows with magnitude and falls with distance, and sits within a factor 3 of the
    simulator that made the training corpus, where the corpus has most records."""
    sim = quakesynth.load_model("stochastic")
    near_big = _median_pga(default, magnitude=6.0, distance=20.0, **SCEN)
    far_small = _median_pga(default, magnitude=4.5, distance=150.0, **SCEN)
    assert near_big / far_small > 10.0
    for m, r in ((4.5, 50.0), (5.0, 30.0)):
        ratio = _median_pga(default, magnitude=m, distance=r, **SCEN) / _median_pga(sim, magnitude=m, distance=r, **SCEN)
        assert 1 / 3 < ratio < 3, f"M{m} at {r} km: default / simulator median PGA = {ratio:.2f}"


def test_out_of_range_is_an_error_naming_the_variable(default):
    with pytest.raises(ValueError, match="magnitude"):
        default.generate(magnitude=9.5, distance=40.0, **SCEN, n=1)


def test_generate_cli_uses_the_default_model(tmp_path):
    from quakesynth.cli.main import cli

    out = tmp_path / "out.h5"
    res = CliRunner().invoke(cli, ["generate", "--magnitude", "5.5", "--distance", "30", "--vs30", "400",
                                   "--depth", "10", "--gap", "120", "-n", "2", "-o", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert out.exists() and "wrote 2 waveforms" in res.output
