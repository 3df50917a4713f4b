"""HEMEW^S-3D reader: formatted samples, the raw download layout, preprocessing, sources, geologies."""

from __future__ import annotations

import zipfile

import h5py
import numpy as np
import pandas as pd
import pytest

from quakesynth.data.preprocess import lowpass
from quakesynth.simulate.hemew import (
    HemewDataset,
    HemewPreprocess,
    preprocess_velocity,
    read_hemew_raw,
    read_hemew_sample,
    write_sample,
)
from quakesynth.simulate.wave3d import (
    Wave3DConfig,
    moment_tensor,
    random_geology,
    random_source,
)


def _fields(rng, S=4, T=800):
    return {k: rng.standard_normal((S, S, T)).astype(np.float32) for k in ("uE", "uN", "uZ")}


def test_write_read_roundtrip_exact(tmp_path):
    rng = np.random.default_rng(0)
    vs = rng.uniform(1000, 4000, (4, 4, 4)).astype(np.float32)
    u = rng.standard_normal((3, 4, 4, 50)).astype(np.float32)
    m = moment_tensor(10, 60, 90)
    write_sample(tmp_path / "sample3.h5", vs, [100, 200, -300], [10, 60, 90], m, u, 20.0, fmax=1.5)
    s = read_hemew_sample(tmp_path / "sample3.h5")
    assert s.fs == 20.0
    np.testing.assert_array_equal(s.vs, vs)
    np.testing.assert_array_equal(s.u, u)
    np.testing.assert_array_equal(s.source_xyz, np.float32([100, 200, -300]))
    np.testing.assert_allclose(s.moment, m)
    with pytest.raises(FileExistsError):
        write_sample(tmp_path / "sample3.h5", vs, [0, 0, 0], [0, 0, 0], m, u, 20.0)


def test_mifno_formatted_files_and_dataset(tmp_path):
    """MIFNO's create_data_*.py layout: no attributes, 320 steps at 50 Hz, a_mean/a_std beside."""
    rng = np.random.default_rng(1)
    for i in (10, 2):  # sorted by sample number, not by name
        with h5py.File(tmp_path / f"sample{i}.h5", "w") as f:
            f["a"] = np.full((4, 4, 4), 1000.0 + i, np.float32)
            f["s"] = np.float32([4800, 4800, -8400])
            f["angle"] = np.float32([48, 45, 88])
            f["moment"] = np.asarray(moment_tensor(48, 45, 88))
            for k, v in _fields(rng, T=320).items():
                f[k] = v
    np.save(tmp_path / "a_mean.npy", np.zeros((4, 4, 4), np.float32))
    ds = HemewDataset(tmp_path, preprocess=HemewPreprocess())
    assert [p.name for p in ds.files] == ["sample2.h5", "sample10.h5"]
    s = ds[0]
    assert s.fs == 50.0 and s.u.shape == (3, 4, 4, 320) and s.vs[0, 0, 0] == 1002.0
    arr = ds.arrays()
    assert arr["u"].shape == (2, 3, 4, 4, 320) and arr["source"].shape == (2, 6) and arr["fs"] == 50.0
    assert ds.a_mean is not None and ds.a_std is None


def test_raw_download_layout(tmp_path):
    """velocity<I>-<I+99>.zip + material<I>-<I+1999>.npy + source_properties.csv."""
    rng = np.random.default_rng(2)
    fields = {}
    with zipfile.ZipFile(tmp_path / "velocity100000-100099.zip", "w") as z:
        for i in (100000, 100001):
            fields[i] = _fields(rng)
            p = tmp_path / f"tmp{i}.h5"
            with h5py.File(p, "w") as f:
                for k, v in fields[i].items():
                    f[k] = v
            z.write(p, f"velocity100000-100099/sample{i}.h5")
    mats = rng.uniform(1000, 4500, (3, 4, 4, 4)).astype(np.float32)
    np.save(tmp_path / "materials100000-101999.npy", mats)
    pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0], "z": [-5.0, -6.0], "strike": [10.0, 20.0],
                  "dip": [30.0, 40.0], "rake": [50.0, 60.0]}).to_csv(tmp_path / "source_properties.csv")
    out = read_hemew_raw(tmp_path, [100001])
    s = out[0]
    assert s.fs == 50.0 and s.u.shape == (3, 4, 4, 320)
    ref = preprocess_velocity(np.stack([fields[100001][k] for k in ("uE", "uN", "uZ")]), 100.0)
    np.testing.assert_allclose(s.u, ref, rtol=1e-6)
    np.testing.assert_array_equal(s.vs, mats[1])
    np.testing.assert_allclose(s.angles, [20, 40, 60])
    np.testing.assert_allclose(s.moment, moment_tensor(20, 40, 60))
    raw = read_hemew_raw(tmp_path, [100000], preprocess=None)[0]
    assert raw.fs == 100.0 and raw.u.shape[-1] == 800
    with pytest.raises(FileNotFoundError):
        read_hemew_raw(tmp_path, [100200])


def test_preprocess_is_mifno_lowpass_decimate():
    fs = 100.0
    t = np.arange(800) / fs
    u = np.sin(2 * np.pi * 1.0 * t) + np.sin(2 * np.pi * 15.0 * t)
    y = preprocess_velocity(u[None], fs)[0]
    assert y.shape == (320,)
    # 15 Hz removed, 1 Hz kept (away from the edges), decimated by 2
    np.testing.assert_allclose(y[40:280], np.sin(2 * np.pi * 1.0 * t[::2][40:280]), atol=0.02)
    with pytest.raises(ValueError, match="fs"):
        preprocess_velocity(u[None], 75.0)
    with pytest.raises(ValueError, match="freq"):
        lowpass(u, fs, 60.0)


def test_moment_tensor_against_obspy():
    """Traceless, eigenvalues (M0, 0, -M0), and ObsPy recovers one of the two nodal planes."""
    from obspy.imaging.beachball import MomentTensor, mt2plane

    rng = np.random.default_rng(3)
    for _ in range(5):
        strike, dip, rake = rng.uniform(0, 360), rng.uniform(5, 85), rng.uniform(-180, 180)
        Mxx, Myy, Mzz, Mxy, Mxz, Myz = moment_tensor(strike, dip, rake, M0=2.0)
        M = np.array([[Mxx, Mxy, Mxz], [Mxy, Myy, Myz], [Mxz, Myz, Mzz]])
        assert abs(np.trace(M)) < 1e-12
        np.testing.assert_allclose(np.linalg.eigvalsh(M), [-2, 0, 2], atol=1e-12)
        # NED -> USE (r = up, t = south, p = east)
        mt = MomentTensor([Mzz, Mxx, Myy, Mxz, -Myz, -Mxy], 0)
        plane = mt2plane(mt)
        from obspy.imaging.beachball import aux_plane

        aux = aux_plane(plane.strike, plane.dip, plane.rake)
        cands = [(plane.strike, plane.dip), (aux[0], aux[1])]
        assert any(abs((s - strike + 180) % 360 - 180) < 0.5 and abs(d - dip) < 0.5 for s, d in cands)


def test_random_geology_and_source_ranges():
    cfg = Wave3DConfig(n_cells=8, n_cells_z=8)
    rng = np.random.default_rng(4)
    vs = random_geology(cfg, rng)
    assert vs.shape == (8, 8, 8) and vs.min() >= cfg.vs_min and vs.max() <= cfg.vs_max
    np.testing.assert_array_equal(vs, random_geology(cfg, np.random.default_rng(4)))
    src = random_source(cfg, rng)
    Lx, Ly, Lz = cfg.domain_m
    assert 0 < src["xyz"][0] < Lx and 0 < src["xyz"][1] < Ly and -Lz < src["xyz"][2] <= -cfg.depth_min
    assert 0 <= src["angles"][1] <= 90
    with pytest.raises(ValueError, match="fmax"):
        Wave3DConfig(fmax=20.0, fs=20.0)


def test_a_corpus_of_the_old_solver_is_not_extended(tmp_path):
    """A folder whose config.json predates the sponge fix (no ``solver_revision``) is refused on
    resume, before any simulation: mixing the two would put reflections in part of the corpus."""
    import json

    from quakesynth.config import to_dict
    from quakesynth.simulate.wave3d import SOLVER_REVISION, Wave3DConfig, make_corpus

    cfg = Wave3DConfig()
    (tmp_path / "config.json").write_text(json.dumps({"wave3d": to_dict(cfg), "seed": 0}))
    with pytest.raises(ValueError, match=f"solver revision 1 \\(this is {SOLVER_REVISION}"):
        make_corpus(tmp_path, 2, seed=0, cfg=cfg, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
