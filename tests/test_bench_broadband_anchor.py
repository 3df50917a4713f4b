"""The record-by-record anchor diagnosis of ``benchmarks/bench_broadband_anchor.py`` (issue 17)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from refcompat import load_script

FS = 100.0


def _bench():
    return load_script("benchmarks/bench_broadband_anchor.py")


def _records(n=3, T=4096, components="ZNE"):
    from quakesynth.records import Records

    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"trace_name": [f"r{i}" for i in range(n)], "source_magnitude": [5.0, 6.0, 7.0][:n],
                         "path_hyp_distance_km": [30.0, 60.0, 90.0][:n], "source_depth_km": 10.0})
    return Records(rng.standard_normal((n, len(components), T)).astype(np.float32), fs=FS, components=components,
                   quantity="acceleration", unit="m/s^2", metadata=meta)


def test_band_residuals_recover_a_known_offset_of_the_horizontals_from_the_anchor():
    """An anchor equal to the record's own horizontal log spectrum minus c gives the residual c in
    the reference band and in every band; the vertical (here 100 times louder) is not used."""
    from quakesynth.metrics.spectra import smoothed_log_fas

    b = _bench()
    rec = _records()
    rec = rec.replace(data=rec.data * np.array([100.0, 1.0, 1.0], np.float32)[None, :, None])
    offsets = np.array([0.3, -0.2, 0.7])

    def anchor(r, table, centres):
        assert table.shape == (len(r), 5)
        return smoothed_log_fas(np.asarray(r.data, np.float64)[:, 1:], FS, centres).mean(axis=1) - offsets[:, None]

    res = b.band_residuals(rec, {"a": anchor})["a"]
    assert res.shape == (3, 1 + len(b.BANDS))
    np.testing.assert_allclose(res, np.repeat(offsets[:, None], res.shape[1], axis=1), atol=1e-9)


def test_floor_is_the_scatter_about_the_mean_and_ignores_a_constant_shift_per_band():
    b = _bench()
    rng = np.random.default_rng(1)
    bias = rng.normal(0.0, 0.3, (40, 4))
    s = b.summary(bias)
    shifted = b.summary(bias + np.array([0.5, -1.0, 2.0, 0.0]))
    np.testing.assert_allclose(shifted["floor"], s["floor"], atol=1e-12)
    np.testing.assert_allclose(s["floor"], np.abs(bias - bias.mean(0)).mean(0))
    assert np.all(np.array(shifted["absbias"])[:3] > np.array(shifted["floor"])[:3])  # the shift is in |bias|
    assert b.summary(np.vstack([bias, np.full((1, 4), np.nan)]))["n"] == 40  # rows with a NaN are left out


def test_band_rho_is_the_band_mean_of_baker_jayaram_from_the_reference_frequency():
    from quakesynth.gmm.correlation import baker_jayaram_2008

    b = _bench()
    rho = b.band_rho()
    assert np.all(np.diff(rho[:3]) < 0) and np.all((rho > 0) & (rho < 1))
    f_ref = np.sqrt(0.4)
    np.testing.assert_allclose(rho[0], baker_jayaram_2008(1 / f_ref, 1 / np.geomspace(1, 2, 32)).mean())
