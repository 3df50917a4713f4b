import numpy as np
import pandas as pd
import pytest

from quakesynth.generate import ConditioningError, Generator, waveform_seed


class NoiseGen(Generator):
    """A toy generator: amplitude from magnitude, noise from the per-waveform seed."""

    name = "toy"
    ranges = {"magnitude": (4.0, 7.5), "distance": (1.0, 200.0), "vs30": (100.0, 2000.0),
              "depth": (0.0, 100.0), "gap": (0.0, 360.0)}
    n_samples = 64

    def _generate(self, cond, seeds, device="cpu"):
        out = np.empty((len(seeds), 3, self.n_samples), np.float32)
        for i, s in enumerate(seeds):
            out[i] = np.random.default_rng(int(s)).standard_normal((3, self.n_samples)) * cond[i, 0]
        return out


SCEN = dict(magnitude=6.5, distance=30, vs30=400, depth=10, gap=120)


def test_waveform_does_not_depend_on_batch():
    g = NoiseGen()
    a = g.generate(**SCEN, n=7, seed=3, batch_size=2)
    b = g.generate(**SCEN, n=7, seed=3, batch_size=7)
    np.testing.assert_array_equal(a.data, b.data)
    c = g.generate(**SCEN, n=7, seed=4)
    assert not np.allclose(a.data, c.data)
    assert a.metadata["source_magnitude"].eq(6.5).all()
    assert a.metadata["path_hyp_distance_km"].eq(30).all()
    assert a.unit == "m/s^2" and a.components == "ZNE"


def test_table_and_row_slices_match_whole_table():
    g = NoiseGen()
    table = pd.DataFrame([{**SCEN, "n": 3}, {**SCEN, "magnitude": 5.0, "n": 2}])
    whole = g.generate_table(table, seed=1)
    assert len(whole) == 5
    parts = [r for sl in (slice(0, 2), slice(2, 5)) for r in g.iter_table(table, seed=1, rows=sl)]
    np.testing.assert_array_equal(np.concatenate([p.data for p in parts]), whole.data)
    # the second row of the table is the same waveform whether generated alone or in the table
    alone = g.generate_table(table.iloc[[1]].reset_index(drop=True), seed=1)
    assert not np.allclose(alone.data, whole.data[3:])  # different row index -> different seed
    assert waveform_seed(1, 1, 0) != waveform_seed(1, 0, 1)


@pytest.mark.parametrize("change,match", [
    (dict(magnitude=9.0), "magnitude=9 is outside"),
    (dict(distance=float("nan")), "distance must be finite"),
    (dict(vs30=None), "missing conditioning variable 'vs30'"),
])
def test_bad_conditioning_is_named(change, match):
    with pytest.raises(ConditioningError, match=match):
        NoiseGen().generate(**{**SCEN, **change})


def test_extrapolation_warns_when_allowed():
    with pytest.warns(UserWarning, match="extrapolating"):
        NoiseGen().generate(**{**SCEN, "magnitude": 8.0}, allow_extrapolation=True)


@pytest.mark.parametrize("n", [0, -1, 1.5])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be"):
        NoiseGen().generate(**SCEN, n=n)


def test_load_model_dispatches_on_model_kind(tmp_path):
    import json

    from quakesynth.generate import load_model, model_kind

    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model": "no-such-kind"}))
    assert model_kind(d) == "no-such-kind"
    with pytest.raises(ValueError, match="no-such-kind"):
        load_model(d)
    with pytest.raises(ValueError, match="not a quakesynth model directory"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="unknown model"):
        load_model(tmp_path / "missing")
