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

    from quakesynth.metrics.energy import d5_95
    from quakesynth.simulate.stochastic import StochasticGenerator

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
