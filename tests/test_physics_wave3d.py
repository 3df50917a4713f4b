"""The devito 3-D elastic solver against the exact whole-space explosion solution, and the
``simulate-3d`` corpus (layout, determinism, resume)."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.simulate.wave3d import Wave3DConfig, elastic_parameters, explosion_velocity

pytest.importorskip("devito", reason="the 3-D solver needs devito (pip install 'quakesynth[operator]')")

pytestmark = pytest.mark.slow

# one grid for every test: devito compiles the operator once (the C code does not depend on
# the grid size or the number of sensors), the later runs reuse it
CFG = Wave3DConfig(n_cells=20, n_cells_z=20, h=100.0, fmax=2.0, fs=50.0, duration=1.6, vs_min=2000.0,
                   vs_max=2000.0, nbl=10, free_surface=False)


def test_explosion_matches_the_whole_space_greens_function():
    """P pulse of an isotropic source (M0 = 1e15 N m): amplitude, arrival time and shape."""
    from quakesynth.simulate.wave3d import ElasticSolver

    r = np.array([400.0, 600.0, 800.0])
    sensors = np.stack([1000 + r, np.full(3, 1000.0), np.full(3, 1000.0)], axis=1)
    solver = ElasticSolver(CFG, sensors=sensors)
    M0 = 1e15
    u = solver.run(np.full((20, 20, 20), 2000.0), [1000, 1000, 1000], [M0, M0, M0, 0, 0, 0], raw=True)
    vp, rho, _ = elastic_parameters(2000.0, CFG.vp_vs)
    ua = explosion_velocity(r[:, None], solver.t[None], float(rho), float(vp), M0, CFG.tau, 4 * CFG.tau)
    for i in range(3):
        peak, peak_a = np.abs(u[0, i]).max(), np.abs(ua[i]).max()
        assert peak == pytest.approx(peak_a, rel=0.08)
        assert abs(solver.t[np.argmax(u[0, i])] - solver.t[np.argmax(ua[i])]) <= 0.02  # s
        assert np.corrcoef(u[0, i], ua[i])[0, 1] > 0.95
    # transverse components vanish on the x axis
    assert np.abs(u[1:]).max() < 0.05 * np.abs(u[0]).max()


def test_simulate_3d_cli_writes_a_readable_resumable_corpus(tmp_path):
    from quakesynth.cli.main import main
    from quakesynth.simulate.hemew import HemewDataset

    sets = ["--set", "n_cells=12", "--set", "n_cells_z=12", "--set", "n_sensors=6", "--set", "h=200",
            "--set", "duration=2.0", "--set", "fs=10", "--set", "fmax=1.0", "--set", "nbl=6"]
    out = tmp_path / "c"
    assert main(["simulate-3d", "--n", "2", "-o", str(out), "--seed", "3", "--no-progress", *sets]) == 0
    assert main(["simulate-3d", "--n", "2", "-o", str(out), "--seed", "3", "--no-progress", *sets]) == 2
    first = (out / "sample1.h5").read_bytes()
    (out / "sample1.h5").unlink()
    assert main(["simulate-3d", "--n", "3", "-o", str(out), "--seed", "3", "--resume", "--no-progress",
                 *sets]) == 0
    ds = HemewDataset(out)
    assert len(ds) == 3
    s = ds[1]
    assert s.u.shape == (3, 6, 6, 20) and s.fs == 10.0 and s.vs.shape == (12, 12, 12)
    assert np.isfinite(s.u).all() and np.abs(s.u).max() > 0
    again = HemewDataset(out)[1]
    np.testing.assert_array_equal(again.u, s.u)
    import h5py

    with h5py.File(out / "sample1.h5") as f:  # the regenerated sample has the same data
        np.testing.assert_array_equal(f["uZ"][()], s.u[2])
    assert len(first) > 0
    # another seed or config in the same folder is refused
    assert main(["simulate-3d", "--n", "3", "-o", str(out), "--seed", "4", "--resume", "--no-progress", *sets]) == 2
