"""--quantity: velocity and displacement by integration with baseline correction."""

import numpy as np
import pandas as pd
import pytest

from quakesynth.generate import Generator, to_quantity
from quakesynth.records import Records

FS, T = 100.0, 4096


def wavelet(t: np.ndarray, t0=20.0, s=2.0, f=1.0):
    """Displacement d = g sin(w (t - t0)) with a Gaussian g, and its exact derivatives."""
    w, u = 2 * np.pi * f, t - t0
    g = np.exp(-0.5 * (u / s) ** 2)
    g1, g2 = -u / s**2 * g, (u**2 / s**4 - 1 / s**2) * g
    sn, cs = np.sin(w * u), np.cos(w * u)
    d = g * sn
    v = g1 * sn + g * w * cs
    a = g2 * sn + 2 * g1 * w * cs - g * w**2 * sn
    return a, v, d


class WaveletGen(Generator):
    name = "wavelet"
    n_samples = T
    fs = FS

    def _generate(self, cond, seeds, device="cpu"):
        a, _, _ = wavelet(np.arange(T) / FS)
        return np.stack([np.stack([a, 0.5 * a, -a]) * c for c in cond[:, 0]])


@pytest.fixture
def acc() -> Records:
    a, _, _ = wavelet(np.arange(T) / FS)
    return Records(np.stack([a, 0.5 * a, -a])[None] * 0.1, fs=FS, components="ZNE")


def test_integration_of_an_analytic_acceleration(acc):
    _, v, d = wavelet(np.arange(T) / FS)
    vel = to_quantity(acc, "velocity")
    assert (vel.quantity, vel.unit) == ("velocity", "m/s")
    np.testing.assert_allclose(vel.data[0, 0], 0.1 * v, atol=0.01 * 0.1 * np.abs(v).max())
    np.testing.assert_allclose(vel.data[0, 2], -0.1 * v, atol=0.01 * 0.1 * np.abs(v).max())
    disp = to_quantity(acc, "displacement")
    assert (disp.quantity, disp.unit) == ("displacement", "m")
    np.testing.assert_allclose(disp.data[0, 1], 0.05 * d, atol=0.02 * 0.05 * np.abs(d).max())
    assert disp.processing(0)[-1]["step"] == "integrate" and disp.processing(0)[-1]["times"] == 2
    assert to_quantity(acc, "acceleration") is acc


def test_integration_uses_the_metrics_routine(acc):
    from quakesynth.metrics import integrate

    np.testing.assert_array_equal(to_quantity(acc, "velocity").data,
                                  integrate(acc.data.astype(np.float64), FS)[0].astype(np.float32))
    np.testing.assert_array_equal(to_quantity(acc, "displacement").data,
                                  integrate(acc.data.astype(np.float64), FS)[1].astype(np.float32))


def test_generator_quantity_equals_converting_afterwards():
    gen = WaveletGen()
    table = pd.DataFrame({"magnitude": [5.0, 6.0], "distance": 30, "vs30": 400, "depth": 10, "gap": 90})
    vel = gen.generate_table(table, quantity="velocity")
    np.testing.assert_array_equal(vel.data, to_quantity(gen.generate_table(table), "velocity").data)


@pytest.mark.parametrize("quantity,match", [("jerk", "quantity must be one of"),
                                            ("acceleration", "only integration")])
def test_bad_conversions(acc, quantity, match):
    rec = to_quantity(acc, "velocity") if quantity == "acceleration" else acc
    with pytest.raises(ValueError, match=match):
        to_quantity(rec, quantity)


def test_cli_quantity_reaches_every_format(tmp_path):
    from quakesynth.cli.main import main
    from quakesynth.formats import read_records
    from quakesynth.generate import _REGISTRY, register_model

    register_model("wavelet", WaveletGen)
    try:
        args = ["generate", "--model", "wavelet", "--magnitude", "1", "--distance", "30", "--vs30", "400",
                "--depth", "10", "--gap", "90", "--no-progress", "--quantity", "velocity"]
        assert main([*args, "-o", str(tmp_path / "v.h5")]) == 0
        assert main([*args, "-o", str(tmp_path / "v.at2")]) == 0
    finally:
        _REGISTRY.pop("wavelet", None)
    h5 = read_records(tmp_path / "v.h5")
    assert (h5.quantity, h5.unit) == ("velocity", "m/s")
    (vt2,) = sorted((tmp_path / "v.at2").glob("*HHZ.VT2"))
    lines = vt2.read_text().splitlines()
    assert lines[2] == "VELOCITY TIME SERIES IN UNITS OF CM/S"
    values = np.array(" ".join(lines[4:]).split(), float)
    np.testing.assert_allclose(values, 100 * h5.component("Z")[0], atol=1e-6 * np.abs(values).max())
