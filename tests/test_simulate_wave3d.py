"""The devito 3-D elastic solver against the exact whole-space explosion solution, and the
``simulate-3d`` corpus (layout, determinism, resume)."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.simulate.wave3d import Wave3DConfig, elastic_parameters, explosion_velocity

pytest.importorskip("devito", reason="the 3-D solver needs devito (pip install 'quakesynth[operator]')")

pytestmark = pytest.mark.slow

# devito compiles the operator once per process tree (its C code does not depend on the grid size,
# the sensors or the free-surface flag, which are data); the symbolic build is the slow part
CFG = Wave3DConfig(n_cells=24, n_cells_z=24, h=100.0, fmax=3.0, fs=100.0, duration=1.5, vs_min=2000.0,
                   vs_max=2000.0, nbl=10, free_surface=True)


def test_explosion_greens_function_and_free_surface_amplification():
    """Isotropic source (M0 = 1e15 N m) 1.4 km deep in a homogeneous half space.

    Sensors at the source depth 500 and 700 m away see the direct P pulse before any surface
    reflection: amplitude, arrival time and shape of the exact whole-space solution. The sensor
    at the surface above the source sees the P wave at normal incidence, amplified twice by the
    free surface (vertical component).
    """
    from quakesynth.simulate.wave3d import ElasticSolver

    d, x0 = 1400.0, 1200.0
    r = np.array([500.0, 700.0])
    sensors = np.array([[x0 + r[0], x0, d], [x0 + r[1], x0, d], [x0, x0, 0.0]])
    solver = ElasticSolver(CFG, sensors=sensors)
    M0 = 1e15
    u = solver.run(np.full((24, 24, 24), 2000.0), [x0, x0, d], [M0, M0, M0, 0, 0, 0], raw=True)
    vp, rho, _ = elastic_parameters(2000.0, CFG.vp_vs)
    t = solver.t
    ua = explosion_velocity(r[:, None], t[None], float(rho), float(vp), M0, CFG.tau, 4 * CFG.tau)
    for i in range(2):
        peak, peak_a = np.abs(u[0, i]).max(), np.abs(ua[i]).max()
        assert peak == pytest.approx(peak_a, rel=0.08)
        assert abs(t[np.argmax(u[0, i])] - t[np.argmax(ua[i])]) <= 0.02  # s
        assert np.corrcoef(u[0, i], ua[i])[0, 1] > 0.95
        # no transverse motion on the axis until the surface reflection arrives
        early = t < 4 * CFG.tau + np.hypot(r[i], 2 * d) / vp - 2 * CFG.tau
        assert np.abs(u[1:, i, early]).max() < 0.05 * np.abs(u[0, i]).max()
    up = -u[2, 2]  # z is down in the solver
    direct = explosion_velocity(d, t, float(rho), float(vp), M0, CFG.tau, 4 * CFG.tau)
    assert up.max() == pytest.approx(2 * direct.max(), rel=0.1)
    assert abs(t[np.argmax(up)] - t[np.argmax(direct)]) <= 0.06  # s (surface ~h/2 off by the vacuum layer)
    assert np.abs(u[2, 2, -20:]).max() < 0.5 * up.max()  # stable: no late growth


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


def test_wavefield_is_linear_in_the_moment_tensor():
    """The premise of the surrogate's output layer (:mod:`quakesynth.models.fno`): for a given
    geology and source position, u(a M1 + b M2) = a u(M1) + b u(M2), so rake + 180 deg flips u."""
    from quakesynth.simulate.wave3d import (
        default_solver,
        hemew_to_grid_moment,
        moment_tensor,
        random_geology,
        random_source,
    )

    # the configuration of the CLI test above: default_solver reuses its operator in this process
    cfg = Wave3DConfig(n_cells=12, n_cells_z=12, n_sensors=6, h=200.0, duration=2.0, fs=10.0, fmax=1.0, nbl=6)
    solver = default_solver(cfg)
    rng = np.random.default_rng(5)
    vs = random_geology(cfg, rng)
    xyz = random_source(cfg, rng)["xyz"] * np.array([1.0, 1.0, -1.0])  # depth >= 0 for the solver
    M1 = hemew_to_grid_moment(moment_tensor(40.0, 70.0, 120.0)) * cfg.M0
    M2 = hemew_to_grid_moment(moment_tensor(200.0, 30.0, 300.0)) * cfg.M0
    u1, u2, u12 = (solver.run(vs, xyz, M) for M in (M1, M2, 2.0 * M1 - 0.5 * M2))
    peak = np.abs(u12).max()
    assert peak > 0
    np.testing.assert_allclose(u12, 2.0 * u1 - 0.5 * u2, rtol=0, atol=1e-4 * peak)
    flipped = hemew_to_grid_moment(moment_tensor(40.0, 70.0, 300.0)) * cfg.M0
    np.testing.assert_allclose(solver.run(vs, xyz, flipped), -u1, rtol=0, atol=1e-4 * peak)


def test_every_node_is_updated_and_the_sponge_absorbs():
    """The corpus grid: devito's loops cover the whole padded grid, and the surface wavefield with
    the 10-node sponge matches one computed with the boundaries three times farther away.

    Before session 18 the sponge was a node-centred Function without a halo; devito then stopped
    every loop 6 nodes short of the +x, +y and bottom edges (a 4-node sponge ending in a rigid
    wall), and the two wavefields differed by 12-36 % (rel. L2)."""
    import dataclasses

    from quakesynth.simulate.wave3d import ElasticSolver, simulate_one

    cfg = Wave3DConfig()
    solver, far = ElasticSolver(cfg), ElasticSolver(dataclasses.replace(cfg, nbl=30))
    args = solver.op.arguments(time_m=0, time_M=1, dt=np.float32(solver.dt))
    for d, n in zip(solver.v[0].grid.dimensions, solver.shape):
        assert (args[d.min_name], args[d.max_name]) == (0, n - 1), d.name
    for seed in (0, 3):
        u, ref = simulate_one(solver, seed)["u"], simulate_one(far, seed)["u"]
        assert np.linalg.norm(u - ref) / np.linalg.norm(ref) < 0.01
