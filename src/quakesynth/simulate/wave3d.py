"""Small 3-D elastic wave-propagation corpora in the HEMEW^S-3D layout, computed with devito.

The physics (velocity-stress elastodynamics on a staggered grid, Virieux 1986)::

    rho dv/dt     = div(tau) + f
    dtau/dt       = lambda tr(grad v) I + mu (grad v + grad v^T) - dM/dt delta(x - x_s)

solved with devito's finite differences (order ``space_order`` in space, 2 in time, explicit),
a Cerjan et al. (1985) sponge on the four sides and the bottom, and a free surface at depth 0
by the vacuum formulation (Zahradnik et al. 1993; Graves 1996): ``space_order`` rows of
"air" above the surface with lambda = mu = 0 (so every stress vanishes there) and the density
of the surface. It keeps the staggered scheme's energy stability (stress imaging, tried first,
grew without bound after ~1 s here) at the price of first-order accuracy of the surface
position (about h/2); the test checks the vertical free-surface amplification (2 at normal
incidence) to 10 %. ``free_surface=False`` puts a sponge on top as well (whole space). The point source is a moment tensor M_ij injected into the
stresses with the moment-rate function ``dM/dt = M0 exp(-((t - t0) / tau)^2) / (sqrt(pi) tau)``
(spectrum ``exp(-(pi f tau)^2)``; ``tau = 1.5 / (pi fmax)``, 10 % amplitude at ``fmax``).

Axes of the grid: x East, y North, z down (depth); outputs follow HEMEW^S-3D (see
:mod:`quakesynth.simulate.hemew`): Vs cube ``a`` with z index 0 at the bottom, source z <= 0,
moment tensor in Aki & Richards' (x North, y East, z down) order Mxx, Myy, Mzz, Mxy, Mxz, Myz,
velocities uE, uN, uZ (up) on the surface sensors.

Random geologies follow HEMEW^S-3D's recipe at a reduced scale: 1..``n_layers_max`` horizontal
layers with undulating interfaces (a few random low-order Fourier modes), a Vs per layer
(mostly increasing with depth), and a random heterogeneity field (Gaussian random field with an
exponential correlation of random length, coefficient of variation up to ``cv_max``) multiplied
in. Vp = ``vp_vs`` Vs and rho = 310 Vp^0.25 (Gardner et al. 1974, kg/m^3 with Vp in m/s).

devito (``pip install quakesynth[operator]``) is imported only when a solver is built.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from quakesynth.seeds import derive_seed32
from quakesynth.simulate.source import moment_tensor  # noqa: F401 -- part of this module's API

#: revision of the solver's numerics, stored in each corpus's ``config.json``: 2 since session 18
#: (the sponge fixed, see :class:`ElasticSolver`); corpora without it were made by revision 1, whose
#: wavefields carry reflections from the +x, +y and bottom edges and must not be extended
SOLVER_REVISION = 2


@dataclass(frozen=True)
class Wave3DConfig:
    """Grid, band and random-model settings of a small 3-D corpus (defaults: 16^3 cells, 1.5 Hz)."""

    n_cells: int = 16  # grid nodes per horizontal axis of the physical domain
    n_cells_z: int = 16  # grid nodes in depth
    h: float = 300.0  # grid spacing, m
    n_sensors: int = 16  # surface sensors per horizontal axis (evenly spread over the domain)
    fmax: float = 1.5  # highest frequency of the source and of the output low-pass, Hz
    fs: float = 20.0  # sampling rate of the stored velocities, Hz
    duration: float = 8.0  # simulated time, s
    vs_min: float = 1500.0  # lowest shear-wave velocity, m/s (>= 3 points per S wavelength at fmax for h=300)
    vs_max: float = 4500.0  # highest shear-wave velocity, m/s
    vp_vs: float = 1.73  # Vp / Vs ratio
    n_layers_max: int = 5  # largest number of layers of a random geology
    cv_max: float = 0.2  # largest coefficient of variation of the heterogeneity field
    corr_min: float = 300.0  # smallest correlation length of the heterogeneity, m
    corr_max: float = 2000.0  # largest correlation length of the heterogeneity, m
    depth_min: float = 900.0  # shallowest source depth, m
    M0: float = 1e16  # seismic moment of the sources, N m
    nbl: int = 10  # sponge width, grid nodes
    sponge: float = 0.045  # Cerjan sponge coefficient (per node)
    space_order: int = 4  # finite-difference order in space
    cfl: float = 0.45  # Courant number dt vp_max / h
    free_surface: bool = True  # traction-free top (vacuum layer above depth 0); False: sponge on top (whole space)

    def __post_init__(self) -> None:
        for name in ("n_cells", "n_cells_z", "n_sensors", "n_layers_max", "nbl"):
            if getattr(self, name) < 1:
                raise ValueError(f"Wave3DConfig.{name} must be >= 1; got {getattr(self, name)}")
        for name in ("h", "fmax", "fs", "duration", "vs_min", "M0", "cfl"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Wave3DConfig.{name} must be > 0; got {getattr(self, name)}")
        if not self.vs_min <= self.vs_max:
            raise ValueError(f"need vs_min <= vs_max; got {self.vs_min}, {self.vs_max}")
        if not self.fmax < self.fs / 2:
            raise ValueError(f"fmax ({self.fmax} Hz) must be below the Nyquist frequency fs/2 ({self.fs / 2} Hz)")
        if self.vp_vs <= math.sqrt(2):
            raise ValueError(f"vp_vs must exceed sqrt(2) (positive lambda); got {self.vp_vs}")
        if self.space_order % 2 or self.space_order < 2:
            raise ValueError(f"space_order must be even and >= 2; got {self.space_order}")

    @property
    def n_steps(self) -> int:
        """Stored time steps: ``round(duration fs)``."""
        return int(round(self.duration * self.fs))

    @property
    def domain_m(self) -> tuple[float, float, float]:
        """Physical domain size (x, y, z) in m."""
        return (self.n_cells * self.h, self.n_cells * self.h, self.n_cells_z * self.h)

    @property
    def tau(self) -> float:
        """Width of the Gaussian moment-rate function, s."""
        return 1.5 / (math.pi * self.fmax)


# --------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------
def moment_rate(t, M0: float, tau: float, t0: float) -> np.ndarray:
    """Gaussian moment-rate function ``M0 exp(-((t - t0)/tau)^2) / (sqrt(pi) tau)``, N m/s."""
    t = np.asarray(t, dtype=np.float64)
    return M0 * np.exp(-(((t - t0) / tau) ** 2)) / (math.sqrt(math.pi) * tau)


def explosion_velocity(r, t, rho: float, vp: float, M0: float, tau: float, t0: float) -> np.ndarray:
    """Exact radial velocity of an isotropic source ``M_ij = M(t) delta_ij`` in a whole space, m/s.

    ``u_r = (M(t - r/vp) / r^2 + dM/dt(t - r/vp) / (vp r)) / (4 pi rho vp^2)`` (Aki & Richards
    Eq. 4.29 with the isotropic radiation pattern), differentiated in time, for the Gaussian
    moment rate of :func:`moment_rate`. ``r`` (m) and ``t`` (s) broadcast.
    """
    r = np.asarray(r, dtype=np.float64)
    s = np.asarray(t, dtype=np.float64) - r / vp
    Md = moment_rate(s, M0, tau, t0)
    Mdd = -2 * (s - t0) / tau**2 * Md
    return (Md / r**2 + Mdd / (vp * r)) / (4 * math.pi * rho * vp**2)


def random_source(cfg: Wave3DConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random double couple: ``xyz`` (m, z <= 0), ``angles`` strike [0, 360), dip [0, 90],
    rake [0, 360) degrees (HEMEW^S-3D's ranges), ``moment`` (6,) for M0 = 1."""
    Lx, Ly, Lz = cfg.domain_m
    margin = 2 * cfg.h
    xyz = np.array([rng.uniform(margin, Lx - margin - cfg.h), rng.uniform(margin, Ly - margin - cfg.h),
                    -rng.uniform(cfg.depth_min, Lz - margin)])
    angles = np.array([rng.uniform(0, 360), rng.uniform(0, 90), rng.uniform(0, 360)])
    return {"xyz": xyz, "angles": angles, "moment": np.array(moment_tensor(*angles, M0=1.0))}


# --------------------------------------------------------------------------------------
# geologies
# --------------------------------------------------------------------------------------
def gaussian_random_field(shape: tuple[int, ...], h: float, corr: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance random field with exponential correlation ``exp(-r/corr)``
    (von Karman, Hurst exponent 0.5) on a grid of spacing ``h`` (m), by FFT filtering."""
    k = np.meshgrid(*[np.fft.fftfreq(n, d=h) * 2 * np.pi for n in shape], indexing="ij")
    k2 = sum(ki**2 for ki in k)
    d = len(shape)
    psd = (1 + k2 * corr**2) ** (-(d + 1) / 2)
    noise = np.fft.fftn(rng.standard_normal(shape))
    f = np.real(np.fft.ifftn(noise * np.sqrt(psd)))
    return (f - f.mean()) / (f.std() + 1e-12)


def random_geology(cfg: Wave3DConfig, rng: np.random.Generator) -> np.ndarray:
    """Random Vs cube (n_cells, n_cells, n_cells_z), m/s, z index 0 at the **surface** (depth axis)."""
    nx, nz = cfg.n_cells, cfg.n_cells_z
    x = np.arange(nx) * cfg.h
    X, Y = np.meshgrid(x, x, indexing="ij")
    depth = np.arange(nz) * cfg.h
    n_layers = int(rng.integers(1, cfg.n_layers_max + 1))
    tops = np.sort(rng.uniform(0.1, 0.9, n_layers - 1)) * cfg.domain_m[2]
    vs_layers = rng.uniform(cfg.vs_min, cfg.vs_max, n_layers)
    if rng.random() < 0.8:
        vs_layers = np.sort(vs_layers)
    layer = np.zeros((nx, nx, nz), dtype=np.int64)
    L = cfg.domain_m[0]
    for top in tops:
        amp = rng.uniform(0, 0.08) * cfg.domain_m[2]
        kx, ky = rng.integers(0, 3, 2)
        ph = rng.uniform(0, 2 * np.pi, 2)
        surf = top + amp * np.cos(2 * np.pi * kx * X / L + ph[0]) * np.cos(2 * np.pi * ky * Y / L + ph[1])
        layer += (depth[None, None, :] >= surf[:, :, None])
    vs = vs_layers[layer]
    cv = rng.uniform(0, cfg.cv_max)
    corr = rng.uniform(cfg.corr_min, cfg.corr_max)
    vs = vs * (1 + cv * gaussian_random_field((nx, nx, nz), cfg.h, corr, rng))
    return np.clip(vs, cfg.vs_min, cfg.vs_max).astype(np.float32)


def elastic_parameters(vs: np.ndarray, vp_vs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vp m/s, rho kg/m^3, Vs) from Vs with Vp = vp_vs Vs and rho = 310 Vp^0.25 (Gardner)."""
    vs = np.asarray(vs, dtype=np.float64)
    vp = vp_vs * vs
    rho = 310.0 * vp**0.25
    return vp, rho, vs


# --------------------------------------------------------------------------------------
# the devito solver
# --------------------------------------------------------------------------------------
class ElasticSolver:
    """A compiled devito operator for one grid; :meth:`run` simulates one (geology, source).

    The operator is built (and compiled, cached by devito) once; geologies, source positions,
    moment tensors and the sensor set change between runs without recompiling.

    Parameters
    ----------
    cfg : the grid and band.
    sensors : (S, 3) sensor positions (x, y, depth) in m; default: the ``n_sensors^2`` surface
        grid (row-major in x, then y).
    """

    def __init__(self, cfg: Wave3DConfig, sensors: np.ndarray | None = None, vp_max: float | None = None) -> None:
        try:
            import devito  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("the 3-D solver needs devito: pip install 'quakesynth[operator]'") from e
        self.cfg = cfg
        if sensors is None:
            xs = np.linspace(0, (cfg.n_cells - 1) * cfg.h, cfg.n_sensors)
            X, Y = np.meshgrid(xs, xs, indexing="ij")
            sensors = np.stack([X.ravel(), Y.ravel(), np.zeros(X.size)], axis=1)
        self.sensors = np.asarray(sensors, dtype=np.float64)
        vp_max = vp_max if vp_max is not None else cfg.vp_vs * cfg.vs_max
        # time step: largest dt = 1 / (fs k) under the Courant limit
        dt_max = cfg.cfl * cfg.h / vp_max
        self.k = int(math.ceil(1.0 / (cfg.fs * dt_max)))
        self.dt = 1.0 / (cfg.fs * self.k)
        self.nt = cfg.n_steps * self.k + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sympy deprecations inside devito's tensor algebra
            self._build()

    def _build(self) -> None:
        from devito import (
            Constant,
            Eq,
            Function,
            Grid,
            Operator,
            SparseTimeFunction,
            TensorTimeFunction,
            VectorTimeFunction,
            configuration,
            diag,
            div,
            grad,
        )

        if configuration["log-level"] in ("INFO", "DEBUG", "PERF"):
            configuration["log-level"] = "WARNING"  # no per-run timing lines
        cfg = self.cfg
        so, nbl, h = cfg.space_order, cfg.nbl, cfg.h
        self.z0 = so if cfg.free_surface else nbl  # index of the surface (depth 0)
        shape = (cfg.n_cells + 2 * nbl, cfg.n_cells + 2 * nbl, self.z0 + cfg.n_cells_z + nbl)
        extent = tuple((n - 1) * h for n in shape)
        origin = (-nbl * h, -nbl * h, -self.z0 * h)
        self.shape, self.origin = shape, origin
        grid = Grid(shape=shape, extent=extent, origin=origin, dtype=np.float32)
        s = grid.stepping_dim.spacing  # the time step symbol
        v = VectorTimeFunction(name="v", grid=grid, space_order=so, time_order=1)
        tau = TensorTimeFunction(name="tau", grid=grid, space_order=so, time_order=1)
        lam = Function(name="lam", grid=grid, space_order=so)
        mu = Function(name="mu", grid=grid, space_order=so)
        b = Function(name="b", grid=grid, space_order=so)
        # the sponge multiplies staggered fields, so devito interpolates it half a node: it needs a
        # halo. With none (space_order=0) devito stops every loop 6 nodes short of the +x, +y and
        # bottom edges, with only a warning (which run() used to silence): a 4-node sponge ending in a
        # rigid wall, whose reflections made up 22 % (rel. L2) of the surface wavefields of corpora
        # made before session 18
        damp = Function(name="damp", grid=grid, space_order=1)
        self.M = [Constant(name=f"M{i}", dtype=np.float32) for i in range(6)]  # grid xx, yy, zz, xy, xz, yz
        src = SparseTimeFunction(name="src", grid=grid, npoint=1, nt=self.nt)
        recs = [SparseTimeFunction(name=f"rec{c}", grid=grid, npoint=len(self.sensors), nt=self.nt)
                for c in "xyz"]
        eqs = [Eq(v.forward, damp * (v + s * b * div(tau))),
               Eq(tau.forward, damp * (tau + s * (lam * diag(div(v.forward))
                                                  + mu * (grad(v.forward) + grad(v.forward).transpose(inner=False)))))]
        vol = h**3
        pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
        inj = []
        for m, (i, j) in zip(self.M, pairs):
            inj += src.inject(field=tau[i, j].forward, expr=-s * m * src / vol)
        bc = []  # the free surface is a vacuum layer (model parameters), no extra equations
        rec_terms = []
        for c, rec in enumerate(recs):
            rec_terms += rec.interpolate(expr=v[c])
        self.op = Operator(eqs + inj + bc + rec_terms, name="elastic3d")
        self._check_bounds(grid, shape)
        self.v, self.tau, self.lam, self.mu, self.b, self.damp = v, tau, lam, mu, b, damp
        self.src, self.recs = src, recs
        # sponge
        d = np.ones(shape, dtype=np.float32)
        for axis, (lo, hi) in enumerate([(nbl, nbl), (nbl, nbl), (0 if cfg.free_surface else nbl, nbl)]):
            n = shape[axis]
            idx = np.arange(n)
            dist = np.maximum(np.maximum(lo - idx, idx - (n - 1 - hi)), 0).astype(np.float64)
            prof = np.exp(-((cfg.sponge * dist) ** 2)).astype(np.float32)
            d *= prof.reshape([-1 if a == axis else 1 for a in range(3)])
        damp.data[:] = d
        for rec in recs:
            rec.coordinates.data[:] = self.sensors
        self.t = np.arange(self.nt) * self.dt

    def _check_bounds(self, grid, shape) -> None:
        """Raise RuntimeError unless the operator updates every node of the grid (devito shrinks
        the loops, with only a warning, where a stencil reaches past a field's halo)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            args = self.op.arguments(time_m=0, time_M=1, dt=np.float32(self.dt))
        short = {d.name: (args[d.min_name], args[d.max_name]) for d, n in zip(grid.dimensions, shape)
                 if (args[d.min_name], args[d.max_name]) != (0, n - 1)}
        if short:
            raise RuntimeError(f"the devito operator would leave grid nodes unupdated (loop bounds {short} "
                               f"on a {shape} grid): a field's halo is too small for its stencil")

    def _pad(self, a: np.ndarray) -> np.ndarray:
        """Model cube (n_cells, n_cells, n_cells_z; depth axis) -> padded grid (edge values)."""
        nbl, z0 = self.cfg.nbl, self.z0
        return np.pad(a, ((nbl, nbl), (nbl, nbl), (z0, self.shape[2] - z0 - a.shape[2])), mode="edge")

    def run(self, vs: np.ndarray, source_xyz: np.ndarray, moment: np.ndarray, vp: np.ndarray | None = None,
            rho: np.ndarray | None = None, stf: np.ndarray | None = None, t0: float | None = None,
            raw: bool = False) -> np.ndarray:
        """Simulate one event.

        Parameters
        ----------
        vs : (n_cells, n_cells, n_cells_z) Vs, m/s, z index 0 at the surface (depth axis).
        source_xyz : (3,) x, y, depth (m, >= 0).
        moment : (6,) grid-axis moment tensor Mxx, Myy, Mzz, Mxy, Mxz, Myz (x East, y North, z
            down), N m; see :func:`hemew_to_grid_moment`.
        vp, rho : optional cubes (default from ``vs`` with :func:`elastic_parameters`).
        stf : (nt,) moment-rate time function (1/s); default the Gaussian with ``t0 = 4 tau``.
        raw : return the velocities at the solver step (no low-pass or decimation).

        Returns
        -------
        (3, S, T) velocity (x East, y North, z **down**), m/s, at ``cfg.fs`` after a zero-phase
        low-pass at ``cfg.fmax`` (or every solver step when ``raw``).
        """
        cfg = self.cfg
        vs = np.asarray(vs, dtype=np.float64)
        want = (cfg.n_cells, cfg.n_cells, cfg.n_cells_z)
        if vs.shape != want:
            raise ValueError(f"vs must have shape {want}; got {vs.shape}")
        vp_d, rho_d, _ = elastic_parameters(vs, cfg.vp_vs)
        vp = vp_d if vp is None else np.asarray(vp, dtype=np.float64)
        rho = rho_d if rho is None else np.asarray(rho, dtype=np.float64)
        if vp.max() * self.dt / cfg.h > 0.5:
            raise ValueError(f"vp max {vp.max():.0f} m/s is too fast for dt={self.dt:.4g} s (Courant > 0.5)")
        mu = rho * vs**2
        lam = rho * vp**2 - 2 * mu
        lam_p, mu_p = self._pad(lam), self._pad(mu)
        if cfg.free_surface:  # vacuum above the surface: no elastic stresses there
            lam_p[:, :, : self.z0] = 0.0
            mu_p[:, :, : self.z0] = 0.0
        self.lam.data[:] = lam_p
        self.mu.data[:] = mu_p
        self.b.data[:] = self._pad(1.0 / rho)
        for f in list(self.v) + [self.tau[i, j] for i in range(3) for j in range(i, 3)]:
            f.data[:] = 0.0
        for rec in self.recs:
            rec.data[:] = 0.0
        self.src.coordinates.data[0] = np.asarray(source_xyz, dtype=np.float64)
        if stf is None:
            t0 = 4 * cfg.tau if t0 is None else t0
            stf = moment_rate(self.t, 1.0, cfg.tau, t0)
        self.src.data[:, 0] = np.asarray(stf, dtype=np.float32)
        moment = np.asarray(moment, dtype=np.float64)
        for m, val in zip(self.M, moment):
            m.data = np.float32(val)
        self.op.apply(time_m=0, time_M=self.nt - 2, dt=np.float32(self.dt))
        u = np.stack([np.asarray(r.data).T for r in self.recs]).astype(np.float64)  # (3, S, nt)
        if raw:
            return u
        from quakesynth.data.preprocess import lowpass

        u = lowpass(u, 1.0 / self.dt, cfg.fmax, order=4)
        return u[..., :: self.k][..., : cfg.n_steps].astype(np.float32)


@functools.lru_cache(maxsize=2)
def default_solver(cfg: Wave3DConfig) -> ElasticSolver:
    """The solver of ``cfg`` with the default surface sensors, built once per process."""
    return ElasticSolver(cfg)


def hemew_to_grid_moment(moment_ar: np.ndarray) -> np.ndarray:
    """Aki & Richards (N, E, down) tensor -> the solver's (E, N, down): Mxx, Myy, Mzz, Mxy, Mxz, Myz."""
    Mnn, Mee, Mdd, Mne, Mnd, Med = np.asarray(moment_ar, dtype=np.float64)
    return np.array([Mee, Mnn, Mdd, Mne, Med, Mnd])


def simulate_one(solver: ElasticSolver, seed: int) -> dict[str, np.ndarray]:
    """A random geology and source from ``seed`` and its surface velocity in HEMEW layout.

    Returns ``vs`` (Sx, Sy, Sz; z index 0 at the bottom), ``source_xyz`` (z <= 0), ``angles``,
    ``moment`` (M0 = 1, Aki & Richards order), ``u`` (3, n_s, n_s, T) E, N, Z(up) in m/s.
    """
    cfg = solver.cfg
    rng = np.random.default_rng(int(seed))
    vs = random_geology(cfg, rng)
    src = random_source(cfg, rng)
    xyz = src["xyz"].copy()
    xyz[2] = -xyz[2]
    u = solver.run(vs, xyz, hemew_to_grid_moment(src["moment"]) * cfg.M0)
    n = cfg.n_sensors
    u = u.reshape(3, n, n, -1)
    u[2] *= -1.0  # z down -> up
    return {"vs": vs[:, :, ::-1].copy(), "source_xyz": src["xyz"], "angles": src["angles"],
            "moment": src["moment"], "u": u}


def make_corpus(out_dir, n: int, seed: int = 0, cfg: Wave3DConfig = Wave3DConfig(), resume: bool = False,
                progress: bool = False) -> list:
    """Write ``n`` simulations as ``OUT/sample<i>.h5`` (HEMEW layout + attributes).

    Sample ``i`` is made from the seed ``SeedSequence([seed, i])``, so a resumed or extended run
    gives the same files; ``resume`` skips samples already on disk, otherwise an existing
    non-empty folder raises FileExistsError. Also writes ``config.json`` (the resolved
    :class:`Wave3DConfig`, the seed and :data:`SOLVER_REVISION`; resuming a folder of another
    configuration, seed or revision raises ValueError). Returns the paths written.
    """
    import json
    from pathlib import Path

    from quakesynth.config import to_dict
    from quakesynth.simulate.hemew import write_sample

    out = Path(out_dir)
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{str(out)!r} is not empty; pass resume=True (--resume) to continue it")
    out.mkdir(parents=True, exist_ok=True)
    cfg_file = out / "config.json"
    doc = {"wave3d": to_dict(cfg), "seed": int(seed), "solver_revision": SOLVER_REVISION}
    if cfg_file.is_file():
        old = json.loads(cfg_file.read_text())
        if old.get("solver_revision", 1) != SOLVER_REVISION:
            raise ValueError(f"{str(out)!r} was made by solver revision {old.get('solver_revision', 1)} (this is "
                             f"{SOLVER_REVISION}, see quakesynth.simulate.wave3d.SOLVER_REVISION); use a new folder")
        if old != doc:
            raise ValueError(f"{str(cfg_file)!r} holds another configuration or seed; use a new folder")
    else:
        from quakesynth._atomic import atomic_path

        with atomic_path(cfg_file) as tmp:
            tmp.write_text(json.dumps(doc, indent=2) + "\n")
    todo = [i for i in range(n) if not (out / f"sample{i}.h5").is_file()]
    written = []
    if not todo:
        return written
    solver = default_solver(cfg)
    it = todo
    if progress:
        from tqdm import tqdm

        it = tqdm(todo, desc="simulate-3d", unit="sim")
    for i in it:
        s = derive_seed32(seed, i)
        r = simulate_one(solver, s)
        written.append(write_sample(out / f"sample{i}.h5", r["vs"], r["source_xyz"], r["angles"], r["moment"],
                                    r["u"], cfg.fs, fmax=cfg.fmax, domain_m=np.array(cfg.domain_m),
                                    M0=cfg.M0, seed=s))
    return written
