"""The intensity-measure table of Records (engine of the ``ims`` CLI) and the package API."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from quakesynth.metrics import ims_of_records
from quakesynth.metrics.energy import arias_intensity, d5_95
from quakesynth.metrics.ims import format_period
from quakesynth.metrics.peaks import horizontal_peaks, integrate
from quakesynth.metrics.response import horizontal_spectra, response_spectrum
from quakesynth.records import G, Records


@pytest.fixture
def records(rng):
    n, t, fs = 3, 1500, 50.0
    time = np.arange(t) / fs
    env = np.exp(-((time - 12) / 4) ** 2)
    data = rng.standard_normal((n, 3, t)) * env * np.array([0.3, 1.0, 0.8])[None, :, None]
    return Records(data, fs=fs, components="ZNE")


def test_columns_units_and_values(records):
    periods = (0.1, 1.0, 2.5)
    df = ims_of_records(records, periods=periods)
    assert len(df) == len(records)
    for col in ("PGA_RotD50_g", "PSA1.0_RotD50_g", "PGV_GM_cm/s", "D5-95_H1_s", "AI_H1_m/s",
                "CAV_GM_m/s", "PGD_SRSS_cm", "PSA2.5_V_g", "PGA_GMRotD50_g", "AI_RotD100_m/s"):
        assert col in df.columns, col
    acc = records.data.astype(float)
    n_e = acc[:, 1], acc[:, 2]  # H1 = N, H2 = E
    hp = horizontal_peaks(*n_e)
    np.testing.assert_allclose(df["PGA_RotD50_g"], hp["RotD50"] / G, rtol=1e-6)
    np.testing.assert_allclose(df["PGA_V_g"], np.abs(acc[:, 0]).max(-1) / G, rtol=1e-6)
    vel, _ = integrate(acc, records.fs)
    np.testing.assert_allclose(df["PGV_H2_cm/s"], 100 * np.abs(vel[:, 2]).max(-1), rtol=1e-6)
    hs = horizontal_spectra(*n_e, records.fs, periods)
    np.testing.assert_allclose(df["PSA1.0_RotD50_g"], hs["RotD50"][:, 1] / G, rtol=1e-6)
    np.testing.assert_allclose(df["PSA0.1_SRSS_g"], hs["SRSS"][:, 0] / G, rtol=1e-6)
    np.testing.assert_allclose(df["PSA2.5_V_g"], response_spectrum(acc[:, 0], records.fs, [2.5])[:, 0] / G,
                               rtol=1e-6)
    np.testing.assert_allclose(df["AI_H1_m/s"], arias_intensity(acc[:, 1], records.fs), rtol=1e-6)
    np.testing.assert_allclose(df["D5-95_H1_s"], d5_95(acc[:, 1], records.fs))
    assert (df["PGA_RotD100_g"] >= df["PGA_RotD50_g"]).all()
    assert (df["PSA1.0_SRSS_g"] >= df["PSA1.0_RotD50_g"]).all()
    assert np.isfinite(df.to_numpy()).all()


def test_component_names_and_subsets(records):
    df = ims_of_records(records, periods=[0.5], component_names="letters")
    assert "PGA_N_g" in df and "PGA_Z_g" in df and "PSA0.5_RotD50_g" in df
    only_z = ims_of_records(records.select_components("Z"), periods=[0.5])
    assert "PGA_V_g" in only_z and "PGA_RotD50_g" not in only_z and "PSA0.5_V_g" in only_z
    assert list(ims_of_records(records, periods=[]).filter(like="PSA").columns) == []


def test_rejects_non_acceleration(records):
    vel = records.replace(quantity="velocity", unit="m/s")
    with pytest.raises(ValueError, match="acceleration"):
        ims_of_records(vel)
    with pytest.raises(ValueError, match="component_names"):
        ims_of_records(records, component_names="xyz")
    with pytest.raises(ValueError, match="periods"):
        ims_of_records(records, periods=[0.0])


def test_format_period():
    assert [format_period(t) for t in (1, 1.0, 0.3, 0.05, 10, 0.30000000000000004)] == \
        ["1.0", "1.0", "0.3", "0.05", "10.0", "0.3"]


def test_package_import_is_light():
    """``import quakesynth.metrics`` adds neither numba nor scipy (lazy API)."""
    code = ("import sys, quakesynth; before = set(sys.modules); import quakesynth.metrics as m; "
            "new = set(sys.modules) - before; "
            "assert not any(n.split('.')[0] in ('numba', 'scipy') for n in new), sorted(new); "
            "assert callable(m.rotd50_psa) and callable(m.ims_of_records)")
    subprocess.run([sys.executable, "-c", code], check=True)
