"""Calibration of the stochastic simulator against ground-motion models, as a table and a figure.

For every scenario of a grid (magnitude x hypocentral distance x Vs30 at one depth) the
simulator makes ``n`` records (each with its own event, site and path terms, so the spread is
the total variability); their intensity measures are compared like with like:

* RotD50 PGA, PGV and SA(T) (Boore 2010) with BooreEtAl2014 (Japan region; Rjb from Rhyp
  for a point source, :func:`quakesynth.gmm.rhyp_to_rjb`),
* peak SRSS PGA, PGV and SA(T) with Kanno et al. (2006) (Rrup = Rhyp for a point source).

Medians are geometric means of the records' values (``exp(mean ln IM)``), sigma the standard
deviation of ln IM. Significant durations D5-95 are compared with Afshari & Stewart (2016)
(OpenQuake's ``AfshariStewart2016``, RSD595, Rrup = Rhyp).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.records import G

#: The intensity measures of the calibration and their units.
CALIBRATION_IMS = ("PGA", "PGV", "SA(0.1)", "SA(0.3)", "SA(1.0)", "SA(3.0)")
UNITS = {"PGA": "g", "PGV": "cm/s"}
#: (GMM name, horizontal component of the simulator it is compared with)
CALIBRATION_GMMS = (("BooreEtAl2014", "RotD50"), ("Kanno2006Shallow", "SRSS"))


@dataclass(frozen=True)
class CalibrationGrid:
    """Scenarios of a calibration run."""

    magnitudes: tuple[float, ...] = (4.0, 5.0, 6.0, 7.0, 7.5)  # Mw
    distances_km: tuple[float, ...] = (10.0, 20.0, 50.0, 100.0, 200.0)  # hypocentral, km
    vs30_mps: tuple[float, ...] = (200.0, 400.0, 760.0)  # m/s
    depth_km: float = 10.0  # focal depth, km
    n: int = 30  # records per scenario
    seed: int = 0  # generation seed

    def scenarios(self) -> pd.DataFrame:
        rows = [dict(magnitude=m, distance=r, vs30=v, depth=self.depth_km, gap=90.0, n=self.n)
                for m, r, v in itertools.product(self.magnitudes, self.distances_km, self.vs30_mps)]
        return pd.DataFrame(rows)


def _period(imt: str) -> float | None:
    return float(imt[3:-1]) if imt.startswith("SA(") else None


def horizontal_ims(h1: np.ndarray, h2: np.ndarray, fs: float, imts=CALIBRATION_IMS) -> dict[tuple[str, str], np.ndarray]:
    """RotD50 and peak SRSS of each IM for horizontal accelerations (N, T) in m/s^2.

    Returns ``{(imt, "RotD50" | "SRSS"): (N,)}`` in g (PGA, SA) and cm/s (PGV).
    """
    from quakesynth.metrics.peaks import horizontal_peaks, integrate
    from quakesynth.metrics.response import horizontal_spectra

    out: dict[tuple[str, str], np.ndarray] = {}
    periods = [p for p in (_period(i) for i in imts) if p is not None]
    if "PGA" in imts:
        pk = horizontal_peaks(h1, h2, percentiles=(50.0,))
        out["PGA", "RotD50"], out["PGA", "SRSS"] = pk["RotD50"] / G, pk["SRSS"] / G
    if "PGV" in imts:
        v1, v2 = integrate(h1, fs)[0], integrate(h2, fs)[0]
        pk = horizontal_peaks(v1, v2, percentiles=(50.0,))
        out["PGV", "RotD50"], out["PGV", "SRSS"] = pk["RotD50"] * 100.0, pk["SRSS"] * 100.0
    if periods:
        sp = horizontal_spectra(h1, h2, fs, periods=periods, percentiles=(50.0,))
        for k, imt in enumerate(i for i in imts if _period(i) is not None):
            out[imt, "RotD50"], out[imt, "SRSS"] = sp["RotD50"][:, k] / G, sp["SRSS"][:, k] / G
    return out


def simulate_ims(generator=None, grid: CalibrationGrid = CalibrationGrid(), imts=CALIBRATION_IMS,
                 durations: bool = True, progress: bool = False) -> pd.DataFrame:
    """Per-record IMs of the simulator on the grid: one row per record with its scenario,
    ``<imt>_RotD50``, ``<imt>_SRSS`` and ``D5-95_s`` (significant duration of the first
    horizontal component, s)."""
    from tqdm.auto import tqdm

    from quakesynth.generate.stochastic import StochasticGenerator
    from quakesynth.metrics.energy import d5_95

    gen = generator if generator is not None else StochasticGenerator()
    table = grid.scenarios()
    parts = []
    for i in tqdm(range(len(table)), disable=not progress, desc="calibration scenarios"):
        # every scenario with the same seeds (common random numbers): the scatter of the
        # event, site and path terms is the same draw everywhere, so ratios vary smoothly
        for rec in gen.iter_table(table.iloc[[i]], seed=grid.seed, batch_size=64):
            h1, h2 = (h.astype(np.float64) for h in rec.horizontals())
            ims = horizontal_ims(h1, h2, rec.fs, imts)
            part = pd.DataFrame({f"{imt}_{comp}": v for (imt, comp), v in ims.items()})
            part["scenario"] = i
            if durations:
                part["D5-95_s"] = d5_95(h1, rec.fs)
            parts.append(part)
    ims = pd.concat(parts, ignore_index=True)
    scen = table.drop(columns="n").rename(columns={"distance": "rhyp_km", "vs30": "vs30_mps", "depth": "depth_km"})
    return scen.iloc[ims["scenario"]].reset_index(drop=True).join(ims.drop(columns="scenario"))


def calibration_table(generator=None, grid: CalibrationGrid = CalibrationGrid(), imts=CALIBRATION_IMS,
                      gmms=CALIBRATION_GMMS, region: str = "japan", progress: bool = False,
                      records: pd.DataFrame | None = None) -> pd.DataFrame:
    """Simulator medians and sigmas against GMM medians, one row per scenario, IM and GMM.

    Columns: ``magnitude``, ``rhyp_km``, ``vs30_mps``, ``depth_km``, ``imt``, ``unit``,
    ``gmm``, ``component``, ``sim_median``, ``sim_sigma_ln``, ``gmm_median``, ``gmm_sigma_ln``,
    ``ratio`` (simulator median / GMM median), ``n``.
    """
    from quakesynth.gmm import get_gmm

    recs = records if records is not None else simulate_ims(generator, grid, imts, durations=False,
                                                            progress=progress)
    keys = ["magnitude", "rhyp_km", "vs30_mps", "depth_km"]
    rows = []
    for name, comp in gmms:
        model = get_gmm(name, region=region if name.startswith("Boore") else None)
        for imt in imts:
            col = f"{imt}_{comp}"
            g = recs.groupby(keys, sort=False)[col]
            med = np.exp(g.apply(lambda x: np.mean(np.log(x))))
            sig = g.apply(lambda x: np.std(np.log(x), ddof=1))
            cnt = g.size()
            sc = med.index.to_frame(index=False)
            ln_mu, gsig = model.predict(imt, sc["magnitude"].to_numpy(), sc["rhyp_km"].to_numpy(),
                                        sc["depth_km"].to_numpy(), sc["vs30_mps"].to_numpy(),
                                        allow_extrapolation=True)
            part = sc.assign(imt=imt, unit=UNITS.get(imt, "g"), gmm=name, component=comp,
                             sim_median=med.to_numpy(), sim_sigma_ln=sig.to_numpy(),
                             gmm_median=np.exp(ln_mu), gmm_sigma_ln=gsig, n=cnt.to_numpy())
            part["ratio"] = part["sim_median"] / part["gmm_median"]
            rows.append(part)
    return pd.concat(rows, ignore_index=True)


def duration_table(records: pd.DataFrame) -> pd.DataFrame:
    """Median D5-95 of the simulator per scenario against Afshari & Stewart (2016).

    Afshari & Stewart (2016, Earthquake Spectra 32(4)) through OpenQuake's
    ``AfshariStewart2016`` (RSD595; unspecified mechanism, Rrup = Rhyp, default basin depth).
    """
    from openquake.hazardlib.contexts import simple_cmaker
    from openquake.hazardlib.gsim.afshari_stewart_2016 import AfshariStewart2016

    keys = ["magnitude", "rhyp_km", "vs30_mps", "depth_km"]
    g = records.groupby(keys, sort=False)["D5-95_s"]
    out = np.exp(g.apply(lambda x: np.mean(np.log(x)))).rename("sim_D5-95_s").reset_index()
    cm = simple_cmaker([AfshariStewart2016()], ["RSD595"])
    ctx = cm.new_ctx(len(out))
    ctx.mag, ctx.rrup, ctx.vs30 = out["magnitude"].to_numpy(), out["rhyp_km"].to_numpy(), out["vs30_mps"].to_numpy()
    ctx.rake, ctx.z1pt0 = np.zeros(len(out)), np.full(len(out), -999.0)
    mean, sig, _, _ = cm.get_mean_stds([ctx])
    out["AS16_D5-95_s"] = np.exp(mean[0, 0])
    out["ratio"] = out["sim_D5-95_s"] / out["AS16_D5-95_s"]
    return out


# -- figure -------------------------------------------------------------------------------------
def plot_calibration(table: pd.DataFrame, path: str | Path, vs30_mps: float | None = None,
                     depth_km: float | None = None) -> Path:
    """Simulator medians +/- one sigma against the GMMs, versus distance (left) and magnitude
    (right), one row per IM, at one Vs30 (default: the middle of the grid); BSSA14 against the
    RotD50 of the records (solid), Kanno et al. (2006) against their peak SRSS (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from quakesynth.gmm import get_gmm

    vs = sorted(table["vs30_mps"].unique())
    v = vs30_mps if vs30_mps is not None else vs[len(vs) // 2]
    z = depth_km if depth_km is not None else float(table["depth_km"].iloc[0])
    t = table[(table["vs30_mps"] == v) & (table["depth_km"] == z)]
    imts = list(dict.fromkeys(t["imt"]))
    mags = sorted(t["magnitude"].unique())
    dists = sorted(t["rhyp_km"].unique())
    show_d = [d for d in dists if d in (20.0, 50.0, 100.0)] or dists[:: max(1, len(dists) // 3)]
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(mags), len(show_d))))
    gmms = list(dict.fromkeys(zip(t["gmm"], t["component"])))
    styles = {name: ls for (name, _), ls in zip(gmms, ("-", "--", ":"))}
    models = {name: get_gmm(name, region="japan" if name.startswith("Boore") else None) for name, _ in gmms}
    fig, axes = plt.subplots(len(imts), 2, figsize=(11, 2.6 * len(imts)), squeeze=False)
    r_line = np.geomspace(max(min(dists), z), max(dists), 60)
    m_line = np.linspace(min(mags), max(mags), 40)
    for row, imt in enumerate(imts):
        ax_r, ax_m = axes[row]
        sub = t[t["imt"] == imt]
        unit = sub["unit"].iloc[0]
        for k, (name, _) in enumerate(gmms):
            s = sub[sub["gmm"] == name]
            off = 1.0 + 0.04 * (k - 0.5)  # nudge the two components apart
            for c, m in zip(colors, mags):
                sm = s[s["magnitude"] == m].sort_values("rhyp_km")
                mu, _ = models[name].predict(imt, m, r_line, z, v, allow_extrapolation=True)
                ax_r.plot(r_line, np.exp(mu), styles[name], color=c, lw=1.2)
                ax_r.errorbar(sm["rhyp_km"] * off, sm["sim_median"],
                              yerr=[sm["sim_median"] * (1 - np.exp(-sm["sim_sigma_ln"])),
                                    sm["sim_median"] * (np.exp(sm["sim_sigma_ln"]) - 1)],
                              fmt="o" if k == 0 else "s", ms=3.5, color=c, mfc=c if k == 0 else "white",
                              lw=0.8, capsize=0, label=f"M {m:g}" if k == 0 else None)
            for c, d in zip(colors, show_d):
                sd = s[s["rhyp_km"] == d].sort_values("magnitude")
                mu, _ = models[name].predict(imt, m_line, d, z, v, allow_extrapolation=True)
                ax_m.plot(m_line, np.exp(mu), styles[name], color=c, lw=1.2)
                ax_m.errorbar(sd["magnitude"] + 0.03 * (k - 0.5), sd["sim_median"],
                              yerr=[sd["sim_median"] * (1 - np.exp(-sd["sim_sigma_ln"])),
                                    sd["sim_median"] * (np.exp(sd["sim_sigma_ln"]) - 1)],
                              fmt="o" if k == 0 else "s", ms=3.5, color=c, mfc=c if k == 0 else "white",
                              lw=0.8, capsize=0, label=f"{d:g} km" if k == 0 else None)
        ax_r.set(xscale="log", yscale="log", ylabel=f"{imt} [{unit}]")
        ax_m.set(yscale="log")
        ax_r.grid(True, which="both", alpha=0.3)
        ax_m.grid(True, which="both", alpha=0.3)
        if row == 0:
            ax_r.legend(fontsize=7, ncol=len(mags), loc="lower left")
            ax_m.legend(fontsize=7, loc="lower right")
            keys = "; ".join(f"{'solid' if styles[n] == '-' else 'dashed'} + {'filled' if i == 0 else 'open'}: "
                             f"{n} vs simulated {c}" for i, (n, c) in enumerate(gmms))
            ax_r.set_title(f"vs distance (Vs30 = {v:g} m/s, depth {z:g} km)", fontsize=9)
            ax_m.set_title("vs magnitude", fontsize=9)
            fig.suptitle(f"Stochastic simulator: median +/- 1 sigma ({keys})", fontsize=9)
        if row == len(imts) - 1:
            ax_r.set_xlabel("hypocentral distance [km]")
            ax_m.set_xlabel("moment magnitude")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    path = Path(path)
    from quakesynth._atomic import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


# -- fitting a preset to a ground-motion model ---------------------------------------------------
#: The IMs of a fit (least squares in their natural logs).
FIT_IMS = ("PGA", "PGV", "SA(0.1)", "SA(0.3)", "SA(1.0)", "SA(3.0)")


@dataclass(frozen=True)
class FitGrid:
    """Scenarios of a fit: magnitude x the GMM's own distance (Rjb or Rrup) x Vs30 at one
    depth. A point source at ``depth_km`` under a station at epicentral distance ``Rjb`` has
    ``Rhyp = sqrt(Rjb^2 + depth^2)``: that is the simulator's distance for the cell."""

    magnitudes: tuple[float, ...] = (4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5)  # Mw
    distances_km: tuple[float, ...] = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0)  # the GMM's distance, km
    vs30_mps: tuple[float, ...] = (250.0, 400.0, 760.0)  # m/s
    depth_km: float = 10.0  # focal depth, km
    n: int = 30  # realisations per cell (the same seeds in every cell)
    seed: int = 0  # first seed

    def cells(self) -> pd.DataFrame:
        """One row per cell: ``magnitude``, ``distance_km`` (the GMM's), ``rhyp_km``, ``vs30_mps``, ``depth_km``."""
        rows = [dict(magnitude=m, distance_km=r, vs30_mps=v)
                for m, r, v in itertools.product(self.magnitudes, self.distances_km, self.vs30_mps)]
        t = pd.DataFrame(rows)
        t["rhyp_km"] = np.sqrt(t["distance_km"] ** 2 + self.depth_km**2)
        t["depth_km"] = self.depth_km
        return t


def cell_log_ims(cfg, grid: FitGrid, imts=FIT_IMS, event_term: bool = False, batch: int = 256,
                 progress: bool = False) -> dict[str, np.ndarray]:
    """ln IM of the simulator's records in every cell: ``{imt: (n_cells, n)}`` (RotD50; g for
    PGA and SA, cm/s for PGV). Cell ``c``'s record ``j`` has seed ``grid.seed + c n + j``: the
    same seeds for every configuration (common random numbers across evaluations, so the
    finite differences of a Jacobian are smooth), but independent draws in different cells,
    so the sampling error of the cell means (site, path and noise draws) is independent from
    cell to cell and averages out in the fitted parameters instead of being absorbed by them."""
    from tqdm.auto import tqdm

    from quakesynth.simulate.stochastic import draw_record_parameters, simulate

    cells = grid.cells()
    n, C = int(grid.n), len(cells)
    rep = lambda col: np.repeat(cells[col].to_numpy(float), n)  # noqa: E731
    seeds = grid.seed + np.arange(C * n)
    p = draw_record_parameters(rep("magnitude"), rep("rhyp_km"), rep("depth_km"), rep("vs30_mps"), seeds, cfg,
                               event_term=event_term)
    parts: dict[str, list] = {imt: [] for imt in imts}
    for s in tqdm(range(0, len(seeds), batch), disable=not progress, desc="simulating", leave=False):
        d = simulate({k: v[s:s + batch] for k, v in p.items()}, seeds[s:s + batch], cfg)
        ims = horizontal_ims(d[:, 1].astype(np.float64), d[:, 2].astype(np.float64), cfg.waveform.fs, imts)
        for imt in imts:
            parts[imt].append(np.log(ims[imt, "RotD50"]))
    return {imt: np.concatenate(v).reshape(C, n) for imt, v in parts.items()}


def gmm_cell_targets(gmm, grid: FitGrid, imts=FIT_IMS) -> dict[str, dict[str, np.ndarray]]:
    """``{imt: {"mu", "sigma", "tau", "phi"}}`` (n_cells,) of the GMM in each cell of ``grid``."""
    cells = grid.cells()
    out = {}
    for imt in imts:
        mu, sig, tau, phi = gmm.predict_components(imt, cells["magnitude"].to_numpy(), cells["rhyp_km"].to_numpy(),
                                                   cells["depth_km"].to_numpy(), cells["vs30_mps"].to_numpy(),
                                                   allow_extrapolation=True)
        out[imt] = {"mu": mu, "sigma": sig, "tau": tau, "phi": phi}
    return out


@dataclass(frozen=True)
class FreeParameter:
    """A calibrated parameter: ``kind`` "node" (one value per grid magnitude, each moving only
    the cells of its magnitude), "distance" (one value per grid distance) or "global"; values are fitted in ``log`` space or linearly,
    within ``bounds``; ``step`` is the finite-difference step (in the fitted space) and
    ``prior_sd`` the sd of a weak Gaussian prior around the starting value (fitted space)."""

    name: str
    kind: str
    log: bool
    bounds: tuple[float, float]
    step: float
    prior_sd: float


#: The parameters :func:`fit_simulator` can free (``params=``), with their physical bounds.
FREE_PARAMETERS = {
    "stress": FreeParameter("stress", "node", True, (5.0, 1500.0), 0.2, 1.5),  # stress parameter, bar
    "pseudo_depth": FreeParameter("pseudo_depth", "node", True, (0.5, 60.0), 0.25, 1.0),  # h(M), km
    "corner_fa": FreeParameter("corner_fa", "node", True, (0.01, 5.0), 0.2, 1.0),  # two-corner lower corner fa(M), Hz
    "q0": FreeParameter("q0", "global", True, (40.0, 2000.0), 0.15, 1.0),  # Q(1 Hz)
    "q_eta": FreeParameter("q_eta", "global", False, (0.0, 1.0), 0.08, 0.3),  # Q frequency exponent
    "kappa0": FreeParameter("kappa0", "global", True, (0.002, 0.1), 0.15, 0.7),  # kappa0 at Vs30 760, s
    "spreading_slope1": FreeParameter("spreading_slope1", "global", False, (0.5, 1.8), 0.06, 0.4),
    "spreading_slope2": FreeParameter("spreading_slope2", "global", False, (0.0, 1.3), 0.08, 0.4),
    # ln A(R, f) of path.adjust_*: one block per frequency node, one value per grid distance
    **{f"adjust_{k}": FreeParameter(f"adjust_{k}", "distance", False, (-1.5, 1.5), 0.15, 0.3) for k in range(5)},
}
#: Frequency nodes of the calibration adjustment ln A(R, f), Hz (the IMs' frequencies).
ADJUST_FREQUENCIES_HZ = (0.33, 1.0, 3.3, 10.0, 30.0)


def _initial_values(cfg, grid: FitGrid, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    from quakesynth.simulate.stochastic import lower_corner, median_stress_drop, pseudo_depth

    mags = np.asarray(grid.magnitudes, dtype=np.float64)
    src, path = cfg.source, cfg.path
    shallow = np.zeros_like(mags)  # node values are for shallow events; the depth ramp stays on top
    table = {"stress": median_stress_drop(mags, shallow, src), "pseudo_depth": pseudo_depth(mags, src),
             "corner_fa": lower_corner(mags, src),
             "q0": np.array([path.q0]), "q_eta": np.array([path.q_eta]),
             "kappa0": np.array([cfg.stations.kappa0_median_s]),
             "spreading_slope1": np.array([path.spreading_slope1]),
             "spreading_slope2": np.array([path.spreading_slope2])}
    if any(k.startswith("adjust_") for k in names):
        from quakesynth.simulate.stochastic import path_adjustment

        rhyp = np.sqrt(np.asarray(grid.distances_km, dtype=np.float64) ** 2 + grid.depth_km**2)
        adj = path_adjustment(np.asarray(ADJUST_FREQUENCIES_HZ), rhyp, path)  # (n_R, n_f)
        table.update({f"adjust_{k}": adj[:, k] for k in range(len(ADJUST_FREQUENCIES_HZ))})
    return {k: np.asarray(table[k], dtype=np.float64) for k in names}


def apply_parameters(cfg, grid: FitGrid, values: dict[str, np.ndarray]):
    """A copy of the simulator config ``cfg`` with fitted ``values`` (physical units; node
    parameters one value per ``grid.magnitudes``)."""
    import dataclasses as dc

    src, path, st = cfg.source, cfg.path, cfg.stations
    mags = tuple(float(m) for m in grid.magnitudes)
    if "stress" in values:
        src = dc.replace(src, stress_magnitudes=mags, stress_drops_bar=tuple(float(v) for v in values["stress"]))
    if "corner_fa" in values:
        src = dc.replace(src, fa_magnitudes=mags, fa_hz=tuple(float(v) for v in values["corner_fa"]))
    if "pseudo_depth" in values:
        src = dc.replace(src, finite_fault_magnitudes=mags, finite_fault_h_km=tuple(float(v) for v in values["pseudo_depth"]))
    glob = {k: float(values[k][0]) for k in ("q0", "q_eta", "spreading_slope1", "spreading_slope2") if k in values}
    path = dc.replace(path, **glob)
    adj = [k for k in range(len(ADJUST_FREQUENCIES_HZ)) if f"adjust_{k}" in values]
    if adj:
        if len(adj) != len(ADJUST_FREQUENCIES_HZ):
            raise ValueError("the adjust_* parameters are fitted together (all frequency nodes)")
        rhyp = np.sqrt(np.asarray(grid.distances_km, dtype=np.float64) ** 2 + grid.depth_km**2)
        tab = np.stack([np.asarray(values[f"adjust_{k}"], dtype=np.float64) for k in adj], axis=1)  # (n_R, n_f)
        path = dc.replace(path, adjust_distances_km=tuple(float(round(r, 3)) for r in rhyp),
                          adjust_frequencies_hz=ADJUST_FREQUENCIES_HZ,
                          adjust_ln=tuple(tuple(float(round(v, 5)) for v in row) for row in tab))
    if "kappa0" in values:
        st = dc.replace(st, kappa0_median_s=float(values["kappa0"][0]))
    return dc.replace(cfg, source=src, path=path, stations=st)


@dataclass
class FitResult:
    """What :func:`fit_simulator` returns."""

    config: Any  # the fitted StochasticConfig
    values: dict  # name -> fitted values (physical units)
    residuals: pd.DataFrame  # per cell: scenario, weight, and per IM the residual (log10 sim/GMM)
    history: list  # per iteration: weighted rms residual (log10)


def _residual_vector(lnims: dict, targets: dict, imts) -> np.ndarray:
    """(n_cells, n_ims) mean ln IM of the simulator minus the GMM's ln median."""
    return np.stack([lnims[i].mean(axis=1) - targets[i]["mu"] for i in imts], axis=1)


def fit_simulator(gmm, cfg=None, grid: FitGrid = FitGrid(n=16), params: tuple[str, ...] = tuple(FREE_PARAMETERS),
                  imts=FIT_IMS, iterations: int = 4, weights: np.ndarray | None = None, smoothness: float = 10.0,
                  residual_scale: float = 0.1, progress: bool = False, log=None) -> FitResult:
    """Fit the simulator's free parameters to a GMM's medians (Levenberg-Marquardt).

    Minimises ``sum_c w_c sum_i (mean_j ln IM_ij,c(theta) - ln mu_i,c)^2`` over the cells c of
    ``grid`` and IMs i, plus weak Gaussian priors around the starting values and a
    second-difference smoothness penalty (weight ``smoothness``, per ln unit) on the node
    parameters across magnitude and distance; residuals count in units of ``residual_scale``
    (ln units: the sampling error of a cell mean plus model error), so the priors are weak. The records are simulated without event terms (the median
    event), with the same seeds for every cell and iteration (common random numbers). The
    Jacobian is by forward differences; a node parameter moves all its nodes in one
    evaluation (each node moves only the cells of its own magnitude), so one iteration costs
    ``1 + (number of parameter groups)`` grid simulations.

    Parameters
    ----------
    gmm : a :class:`~quakesynth.gmm.GroundMotionModel` (any subclass; its
        :meth:`~quakesynth.gmm.GroundMotionModel.data_support` gives the default weights).
    cfg : starting simulator config (a preset name, path or StochasticConfig; default "japan").
    grid : the cells; ``grid.n`` realisations each.
    params : names in :data:`FREE_PARAMETERS`.
    weights : (n_cells,) cell weights overriding ``gmm.data_support``.
    log : callable taking one line of text per evaluation (progress for the CLI).
    """
    from quakesynth.simulate.stochastic import load_config

    cfg = load_config(cfg)
    unknown = [p for p in params if p not in FREE_PARAMETERS]
    if unknown:
        raise ValueError(f"unknown free parameter(s) {unknown}; known: {sorted(FREE_PARAMETERS)}")
    cells = grid.cells()
    w = np.asarray(weights if weights is not None else gmm.data_support(cells["magnitude"], cells["distance_km"]), float)
    if w.shape != (len(cells),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(cells)} finite non-negative numbers, not all zero")
    targets = gmm_cell_targets(gmm, grid, imts)
    specs = [FREE_PARAMETERS[p] for p in params]
    start = _initial_values(cfg, grid, params)
    to_x = lambda sp, v: np.log(v) if sp.log else np.asarray(v, float)  # noqa: E731
    to_v = lambda sp, x: np.exp(x) if sp.log else np.asarray(x, float)  # noqa: E731
    x0 = {sp.name: to_x(sp, start[sp.name]) for sp in specs}
    node_cell = np.searchsorted(np.asarray(grid.magnitudes), cells["magnitude"].to_numpy())
    dist_cell = np.searchsorted(np.asarray(grid.distances_km), cells["distance_km"].to_numpy())
    n_nodes = len(grid.magnitudes)
    n_dist = len(grid.distances_km)
    size = {"node": n_nodes, "distance": n_dist, "global": 1}
    cell_node = {"node": node_cell, "distance": dist_cell}

    def clip(x):
        return {sp.name: np.clip(x[sp.name], *(to_x(sp, np.array(sp.bounds)))) for sp in specs}

    def evaluate(x, what):
        values = {sp.name: to_v(sp, x[sp.name]) for sp in specs}
        r = _residual_vector(cell_log_ims(apply_parameters(cfg, grid, values), grid, imts, progress=False),
                             targets, imts)
        if log is not None:
            log(f"{what}: weighted rms {np.sqrt(np.sum(w[:, None] * r**2) / (w.sum() * r.shape[1])) / np.log(10):.3f} log10")
        return r

    def flat(x):
        return np.concatenate([x[sp.name] for sp in specs])

    def unflat(v):
        out, k = {}, 0
        for sp in specs:
            m = size[sp.kind]
            out[sp.name] = v[k:k + m]
            k += m
        return out

    # penalty rows: priors and second differences of node parameters
    def penalty(xv):
        rows = []
        x = unflat(xv)
        x0v = x0
        for sp in specs:
            rows.append((x[sp.name] - x0v[sp.name]) / sp.prior_sd)
            if sp.kind != "global" and size[sp.kind] >= 3:
                rows.append(smoothness * np.diff(x[sp.name], 2))
        return np.concatenate(rows)

    sw = np.sqrt(w)[:, None] / residual_scale  # residuals in units of their nominal error

    def cost(r, xv):
        return float(np.sum((sw * r) ** 2) + np.sum(penalty(xv) ** 2))

    x = clip(x0)
    r = evaluate(x, "start")
    history = [float(np.sqrt(np.sum(w[:, None] * r**2) / (w.sum() * r.shape[1])) / np.log(10))]
    mu_lm = 1e-2
    P = len(flat(x))
    for it in range(iterations):
        # Jacobian of the (cells x IMs) residuals by forward differences
        J = np.zeros((r.size, P))
        col = 0
        for sp in specs:
            xp = {k: v.copy() for k, v in x.items()}
            xp[sp.name] = xp[sp.name] + sp.step
            dr = (evaluate(xp, f"iteration {it + 1}: d/d {sp.name}") - r) / sp.step  # (C, I)
            if sp.kind != "global":
                for c in range(len(cells)):
                    J[c * r.shape[1]:(c + 1) * r.shape[1], col + cell_node[sp.kind][c]] = dr[c]
                col += size[sp.kind]
            else:
                J[:, col] = dr.ravel()
                col += 1
        # penalty Jacobian (linear)
        xv = flat(x)
        eps = 1e-4
        pen0 = penalty(xv)
        Jp = np.stack([(penalty(xv + eps * np.eye(P)[k]) - pen0) / eps for k in range(P)], axis=1)
        Wr = (sw * r).ravel()
        Jw = (J.reshape(len(cells), r.shape[1], P) * sw[:, :, None]).reshape(-1, P)
        A = Jw.T @ Jw + Jp.T @ Jp
        g = Jw.T @ Wr + Jp.T @ pen0
        c0 = cost(r, xv)
        for _ in range(4):
            step = np.linalg.solve(A + mu_lm * np.diag(np.diag(A) + 1e-9), -g)
            xn = clip(unflat(xv + step))
            rn = evaluate(xn, f"iteration {it + 1}: trial (damping {mu_lm:.0e})")
            if cost(rn, flat(xn)) < c0:
                x, r = xn, rn
                mu_lm = max(mu_lm / 3.0, 1e-4)
                break
            mu_lm *= 10.0
        else:
            break
        history.append(float(np.sqrt(np.sum(w[:, None] * r**2) / (w.sum() * r.shape[1])) / np.log(10)))
    values = {sp.name: to_v(sp, x[sp.name]) for sp in specs}
    fitted = apply_parameters(cfg, grid, values)
    res = cells.assign(weight=w)
    for k, imt in enumerate(imts):
        res[imt] = r[:, k] / np.log(10)
    return FitResult(config=fitted, values=values, residuals=res, history=history)


def residual_table(cfg, gmm, grid: FitGrid = FitGrid(), imts=FIT_IMS, event_term: bool = False,
                   progress: bool = False) -> pd.DataFrame:
    """Per cell: the scenario, per IM the median residual ``log10(sim / GMM)`` and the
    simulator's sd of ln IM (``<imt>_sd_ln``), with the GMM's ``<imt>_phi`` and ``<imt>_tau``."""
    from quakesynth.simulate.stochastic import load_config

    cfg = load_config(cfg)
    lnims = cell_log_ims(cfg, grid, imts, event_term=event_term, progress=progress)
    targets = gmm_cell_targets(gmm, grid, imts)
    out = grid.cells()
    for imt in imts:
        out[imt] = (lnims[imt].mean(axis=1) - targets[imt]["mu"]) / np.log(10)
        out[f"{imt}_sd_ln"] = lnims[imt].std(axis=1, ddof=1)
        out[f"{imt}_phi"] = targets[imt]["phi"]
        out[f"{imt}_tau"] = targets[imt]["tau"]
    return out


def fit_path_sigma(cfg, gmm, grid: FitGrid = FitGrid(n=30), imt: str = "PGA", floor: float = 0.05):
    """Magnitude-dependent path-term sd so that the within-scenario sd of ln ``imt`` matches
    the GMM's within-event phi at each grid magnitude.

    The records' ln-IM variance is taken as ``v0 + k s^2``: ``v0`` (site terms and noise
    realisation) from a run with no path term, ``k`` from a run at the current sd ``s1``; the
    new sd per magnitude is ``sqrt((phi^2 - v0) / k)`` (at least ``floor``). Returns the new
    config and a table per magnitude (before/after sd, phi).
    """
    import dataclasses as dc

    from quakesynth.simulate.stochastic import load_config, path_sigma

    cfg = load_config(cfg)
    mags = np.asarray(grid.magnitudes, dtype=np.float64)
    cells = grid.cells()
    phi = gmm_cell_targets(gmm, grid, (imt,))[imt]["phi"]
    by_m = lambda a: np.array([np.mean(a[cells["magnitude"].to_numpy() == m]) for m in mags])  # noqa: E731
    s1 = path_sigma(mags, cfg.variability)
    var1 = by_m(cell_log_ims(cfg, grid, (imt,))[imt].var(axis=1, ddof=1))
    zero = dc.replace(cfg, variability=dc.replace(cfg.variability, path_sigma_magnitudes=(), path_sigma_ln=0.0,
                                                  path_sigma_ln_nodes=()))
    var0 = by_m(cell_log_ims(zero, grid, (imt,))[imt].var(axis=1, ddof=1))
    k = np.clip((var1 - var0) / np.clip(s1**2, 1e-9, None), 0.2, 2.0)
    phi_m = by_m(phi**2)
    s_new = np.sqrt(np.clip((phi_m - var0) / k, floor**2, None))
    new = dc.replace(cfg, variability=dc.replace(cfg.variability, path_sigma_magnitudes=tuple(float(m) for m in mags),
                                                 path_sigma_ln_nodes=tuple(float(round(s, 4)) for s in s_new)))
    table = pd.DataFrame({"magnitude": mags, "sd_ln_before": np.sqrt(var1), "sd_ln_no_path": np.sqrt(var0),
                          "phi": np.sqrt(phi_m), "path_sigma_before": s1, "path_sigma_after": s_new})
    return new, table


def plot_residuals(table: pd.DataFrame, path: str | Path, imts=FIT_IMS, title: str = "") -> Path:
    """Heat maps of the median residual ``log10(sim / GMM)`` per magnitude x distance (mean over
    Vs30), one panel per IM, cells beyond +/-0.1 marked; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from quakesynth._atomic import atomic_path

    fig, axes = plt.subplots(1, len(imts), figsize=(2.6 * len(imts), 3.4), squeeze=False, sharey=True)
    for ax, imt in zip(axes[0], imts):
        piv = table.groupby(["magnitude", "distance_km"])[imt].mean().unstack()
        im = ax.imshow(piv.to_numpy(), origin="lower", cmap="RdBu_r", vmin=-0.3, vmax=0.3, aspect="auto")
        for (i, j), v in np.ndenumerate(piv.to_numpy()):
            ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=6,
                    fontweight="bold" if abs(v) > 0.1 else "normal")
        ax.set_xticks(range(piv.shape[1]), [f"{d:g}" for d in piv.columns], fontsize=7)
        ax.set_yticks(range(piv.shape[0]), [f"{m:g}" for m in piv.index], fontsize=7)
        ax.set_title(imt, fontsize=9)
        ax.set_xlabel("distance [km]", fontsize=8)
    axes[0][0].set_ylabel("magnitude", fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="log10(simulator / GMM)")
    fig.suptitle(title or "median residuals (bold: beyond +/-0.1 log10)", fontsize=9)
    path = Path(path)
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def residual_summary(table: pd.DataFrame, imts=FIT_IMS, tol: float = 0.1) -> dict[str, float]:
    """Share of cells whose median residual is within ``tol`` log10, per IM and for all IMs at once."""
    ok = table[list(imts)].abs() <= tol
    out = {imt: float(ok[imt].mean()) for imt in imts}
    out["all IMs"] = float(ok.all(axis=1).mean())
    return out


def preset_yaml(cfg, provenance: dict) -> str:
    """A simulator preset file: a comment header with the provenance, then ``simulator:``."""
    import yaml

    from quakesynth.config import to_dict
    from quakesynth.plain_json import to_plain as plain

    head = "\n".join(["# Simulator preset fitted by `quakesynth calibrate --fit` (provenance below and in `provenance:`).",
                      f"# Reference: {provenance.get('gmm')} ({provenance.get('reference', '')}), region "
                      f"{provenance.get('region')}."])
    body = yaml.safe_dump({"simulator": plain(to_dict(cfg)), "provenance": plain(provenance)}, sort_keys=False)
    return head + "\n" + body


def run_fit_command(fit, figure, table, gmm_name: str, preset: str, config, overrides, n: int, seed: int,
                    iterations: int, params: str, magnitudes, distances, vs30, depth: float, overwrite: bool,
                    progress: bool, echo=print) -> dict:
    """``quakesynth calibrate --fit``: fit, fit the path sd to phi, check on independent seeds
    with >= 30 realisations per cell, write the preset, residual table and figure."""
    import datetime
    import time

    from tqdm.auto import tqdm

    from quakesynth._atomic import atomic_path, check_writable
    from quakesynth.gmm import get_gmm
    from quakesynth.simulate.stochastic import load_config, preset_name

    for p in (fit, table, figure):
        if p is not None:
            check_writable(p, overwrite)
    if Path(figure).suffix.lower() != ".png":
        raise ValueError(f"--output must be a .png file; got {str(figure)!r}")
    name, _, region = gmm_name.partition(":")
    gmm = get_gmm(name, region=region or None)
    names = tuple(FREE_PARAMETERS) if params.strip() == "all" else tuple(
        q for p in params.split(",") if p.strip() for q in
        ([f"adjust_{k}" for k in range(len(ADJUST_FREQUENCIES_HZ))] if p.strip() == "adjust" else [p.strip()]))
    start = load_config(config if config is not None else preset_name(preset), overrides)
    kw = {k: tuple(v) for k, v in (("magnitudes", magnitudes), ("distances_km", distances), ("vs30_mps", vs30))
          if v is not None}
    grid = FitGrid(n=n, seed=seed, depth_km=depth, **kw)
    groups = len({FREE_PARAMETERS[p].name if not p.startswith("adjust_") else p for p in names})
    bar = tqdm(total=1 + iterations * (groups + 1), disable=not progress, desc="calibrate --fit", unit="run")
    t0 = time.perf_counter()

    def log(line):
        bar.update(1)
        bar.set_postfix_str(line[-60:])

    try:
        res = fit_simulator(gmm, start, grid, params=names, iterations=iterations, log=log)
        check = FitGrid(n=max(n, 30), seed=seed + 1_000_000, depth_km=depth, **kw)
        cfg, sigma_table = fit_path_sigma(res.config, gmm, check)
        resid = residual_table(cfg, gmm, check)
    finally:
        bar.close()
    summary = residual_summary(resid)
    provenance = {
        "gmm": gmm.name, "region": getattr(gmm, "region", None), "reference": getattr(gmm, "reference", ""),
        "started_from": str(config) if config is not None else preset, "overrides": list(overrides),
        "free_parameters": list(names), "imts": list(FIT_IMS),
        "grid": {"magnitudes": list(grid.magnitudes), f"{gmm.distance_metric}_km": list(grid.distances_km),
                 "vs30_mps": list(grid.vs30_mps), "depth_km": depth, "n_fit": n, "n_check": check.n,
                 "seed_fit": seed, "seed_check": check.seed},
        "weights": "GMM data support (half weight where its data thin out)",
        "rms_history_log10": [round(h, 4) for h in res.history],
        "share_within_0.1_log10": {k: round(v, 3) for k, v in summary.items()},
        "path_sigma_vs_phi": sigma_table.round(4).to_dict(orient="list"),
        "median_residual_log10_by_magnitude": resid.groupby("magnitude")[list(FIT_IMS)].mean().round(3)
        .reset_index().to_dict(orient="list"),
        "date": datetime.date.today().isoformat(), "seconds": round(time.perf_counter() - t0, 1),
    }
    with atomic_path(fit, overwrite=overwrite) as tmp:
        Path(tmp).write_text(preset_yaml(cfg, provenance))
    if table is not None:
        with atomic_path(table, overwrite=overwrite) as tmp:
            resid.to_csv(tmp, index=False, float_format="%.5g")
    plot_residuals(resid, figure, title=f"{Path(fit).name} vs {gmm.name} ({provenance['region']}): "
                                         f"median log10 residuals, {check.n} records per cell")
    piv = resid.groupby(["magnitude", "distance_km"])[list(FIT_IMS)].mean().round(2)
    echo(piv.to_string())
    echo("share of cells within +/-0.1 log10: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in summary.items()))
    echo(f"wrote {fit}, {figure}" + (f" and {table}" if table else ""))
    return {"summary": summary, "provenance": provenance}
