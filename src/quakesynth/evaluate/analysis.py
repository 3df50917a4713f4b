"""Stage 2 of the evaluation: the HighFEM paper's Section 4 from a :class:`Collection`.

Every number of the report is computed here and returned in one nested dict (written as
``metrics.json``); the figures and HTML tables only display it. Conventions:

- amplitudes are compared in log10 units (the paper's eqs. 11-12); a GMM's ln median and ln
  sigma are divided by ln 10;
- the *bias* of a model for one record is the mean over its realisations of
  ``log10 IM_model - log10 IM_data`` (a GMM's: ``log10 median - log10 IM_data``); bias curves
  average it over the records of a distance bin;
- *residuals* are taken against the simple GMM fitted to the data (eqs. 11-12,
  :class:`quakesynth.gmm.SimpleGMM`); the *sigma* of a source is the standard deviation of
  its residuals (all realisations pooled) and, for a GMM, its own mean total sigma;
- distribution metrics (Frechet distances, classifier accuracy) use realisation 0 of each
  model: the same number of waveforms, with the same conditioning, as the data. Their
  real-data *floor* is the same metric between the data and an independent real sample of
  the same size (the train split; two halves of the data where there is none).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.binning import bin_index
from quakesynth.evaluate.harness import (
    COND_COLUMNS,
    DATA,
    FLOOR,
    Collection,
    mr_bin_index,
    mr_bin_labels,
)
from quakesynth.scenario import SCENARIO_VARIABLES, unit

LN10 = math.log(10.0)


@dataclass(frozen=True)
class ImSpec:
    """One intensity measure of the comparison."""

    key: str  # e.g. "PGA_RotD50"
    column: str  # tidy-table column of the RotD50 value, e.g. "PGA_RotD50_g"
    imt: str  # GMM intensity-measure type: "PGA", "PGV", "SA(1.0)"
    unit: str  # "g" or "cm/s"
    period: float | None = None  # s, for SA

    def column_for(self, combination: str) -> str:
        """The column of this IM in another horizontal combination (e.g. ``"SRSS"``)."""
        return self.column.replace("_RotD50_", f"_{combination}_")


def im_specs(columns: list[str], periods) -> list[ImSpec]:
    """PGA, PGV and PSA at ``periods`` as present in the tidy table's columns."""
    specs = []
    if "PGA_RotD50_g" in columns:
        specs.append(ImSpec("PGA_RotD50", "PGA_RotD50_g", "PGA", "g"))
    if "PGV_RotD50_cm/s" in columns:
        specs.append(ImSpec("PGV_RotD50", "PGV_RotD50_cm/s", "PGV", "cm/s"))
    found = {}
    for c in columns:
        m = re.fullmatch(r"PSA([0-9.eE+-]+)_RotD50_g", c)
        if m:
            found[float(m.group(1))] = c
    for T in periods:
        match = [c for t, c in found.items() if math.isclose(t, float(T), rel_tol=1e-6)]
        if match:
            specs.append(ImSpec(f"PSA{float(T):g}s_RotD50", match[0], f"SA({float(T):g})", "g", float(T)))
    return specs


# -- small helpers -------------------------------------------------------------------------
def _f(x: Any, nd: int = 6) -> Any:
    """A JSON-ready float rounded to ``nd`` significant digits (None for NaN / inf)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{nd}g}")


def _fl(a, nd: int = 6) -> list:
    return [_f(v, nd) for v in np.asarray(a, dtype=float).ravel()]


def _log10(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), np.nan)


def _nanmean(x, axis=None):
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.sum(np.isfinite(x), axis=axis)
        s = np.nansum(x, axis=axis)
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _nanstd(x, axis=None, ddof=1):
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    m = _nanmean(x, axis=axis)
    if axis is not None:
        m = np.expand_dims(m, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.nansum((x - m) ** 2, axis=axis)
        return np.where(n > ddof, np.sqrt(ss / np.maximum(n - ddof, 1)), np.nan)


class Matrices:
    """log10 IM per record and realisation for each source, from the tidy table."""

    def __init__(self, table: pd.DataFrame, n_records: int, realizations: int) -> None:
        self.table, self.n, self.N = table, n_records, realizations
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._groups = {s: g for s, g in table.groupby("source", sort=False, observed=True)}

    def __call__(self, source: str, column: str) -> np.ndarray:
        """(n_records, N) log10 values for a model; (n_records,) for the data."""
        key = (source, column)
        if key not in self._cache:
            g = self._groups.get(source)
            if source == DATA:
                out = np.full(self.n, np.nan)
                if g is not None and column in g:
                    out[g["record"].to_numpy()] = _log10(g[column].to_numpy())
            else:
                out = np.full((self.n, self.N), np.nan)
                if g is not None and column in g:
                    out[g["record"].to_numpy(), g["realization"].to_numpy()] = _log10(g[column].to_numpy())
            self._cache[key] = out
        return self._cache[key]


# -- GMM predictions -----------------------------------------------------------------------
def gmm_component_tag(gmm: Any) -> str:
    """Tidy-table combination of a GMM's horizontal component: ``RotD50`` or ``SRSS``."""
    comp = str(getattr(gmm, "component", "RotD50")).lower().replace("_", " ")
    if "srss" in comp:
        return "SRSS"
    if "rotd50" in comp:
        return "RotD50"
    if "geometric" in comp or comp in ("gm", "geomean"):
        return "GM"
    return "RotD50"


def gmm_validity(gmm: Any, cond: pd.DataFrame) -> np.ndarray:
    """Rows of ``cond`` inside the GMM's stated range of applicability, bool (N,).

    A :class:`~quakesynth.gmm.models.GroundMotionModel` answers itself
    (:meth:`~quakesynth.gmm.models.GroundMotionModel.in_validity`); another GMM object (a fitted
    or user model) is judged by the same rule from its ``validity`` table and
    ``distance_metric``, if it has them (else only finite, physical scenarios are required).
    """
    from quakesynth.gmm.models import GroundMotionModel, validity_mask

    args = tuple(cond[c].to_numpy(float) for c in ("magnitude", "distance_km", "depth_km", "vs30_mps"))
    if isinstance(gmm, GroundMotionModel):
        return gmm.in_validity(*args)
    return validity_mask(getattr(gmm, "validity", {}), getattr(gmm, "distance_metric", ""), *args)


def gmm_predict(gmm: Any, imt: str, cond: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """log10 median (g or cm/s) and log10 sigma of a GMM for each row of ``cond``.

    Rows outside the GMM's range of applicability (:func:`gmm_validity`) are NaN: a GMM is
    compared only where it is defined.
    """
    n = len(cond)
    mu, sig = np.full(n, np.nan), np.full(n, np.nan)
    ok = gmm_validity(gmm, cond)
    if not ok.any():
        return mu, sig
    kw = dict(magnitude=cond["magnitude"].to_numpy(float)[ok], rhyp_km=cond["distance_km"].to_numpy(float)[ok],
              depth_km=cond["depth_km"].to_numpy(float)[ok], vs30_mps=cond["vs30_mps"].to_numpy(float)[ok])
    try:
        m, s = gmm.predict(imt, **kw)
        mu[ok], sig[ok] = np.asarray(m, float), np.asarray(s, float)
    except ValueError:  # a range the validity table does not describe: row by row
        for j, i in enumerate(np.flatnonzero(ok)):
            try:
                m, s = gmm.predict(imt, **{k: v[j:j + 1] for k, v in kw.items()})
                mu[i], sig[i] = float(np.ravel(m)[0]), float(np.ravel(s)[0])
            except ValueError:
                continue
    return mu / LN10, sig / LN10


def supports(gmm: Any, imt: str) -> bool:
    """Whether the GMM predicts ``imt`` (its ``supports`` method, else a trial scenario)."""
    if callable(getattr(gmm, "supports", None)):
        return bool(gmm.supports(imt))
    try:
        gmm.predict(imt, magnitude=np.array([6.0]), rhyp_km=np.array([50.0]), depth_km=np.array([10.0]),
                    vs30_mps=np.array([400.0]))
    except (KeyError, NotImplementedError, TypeError, ValueError):
        return False
    return True


# -- the analysis --------------------------------------------------------------------------
def analyse(coll: Collection, gmms: dict[str, Any] | None = None) -> tuple[dict, dict]:
    """All metrics of the report.

    Returns
    -------
    metrics : nested dict of plain numbers, lists and strings (``metrics.json``).
    extras : arrays the figures need beyond the metrics (residual samples, scatter points).
    """
    gmms = gmms or {}
    cfg = coll.config
    n = len(coll.conditioning)
    models = [s for s in coll.sources if s != DATA]
    specs = im_specs(list(coll.table.columns), cfg.features.periods_s)
    Y = Matrices(coll.table, n, cfg.realizations)
    cond = coll.conditioning
    gmm_pred: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for g, model in gmms.items():
        gmm_pred[g] = {}
        for spec in specs:
            if supports(model, spec.imt):
                gmm_pred[g][spec.key] = gmm_predict(model, spec.imt, cond)
    gmm_tag = {g: gmm_component_tag(m) for g, m in gmms.items()}

    metrics: dict[str, Any] = {}
    extras: dict[str, Any] = {"Y": Y, "specs": specs, "gmm_pred": gmm_pred, "gmm_tag": gmm_tag}
    metrics["bias_distance"] = bias_vs_distance(coll, Y, specs, gmm_pred, gmm_tag, models)
    metrics["bias_vs30_source"] = bias_by_vs30_source(coll, Y, specs, gmm_pred, gmm_tag, models)
    metrics["residuals"], extras["residuals"] = residuals_simple_gmm(coll, Y, specs, gmm_pred, gmm_tag, models)
    metrics["duration"] = duration_vs_magnitude(coll, models)
    metrics["convergence"] = convergence(coll, Y, specs, models)
    metrics["scenarios"], extras["scenarios"] = scenario_curves(coll, specs, gmms)
    metrics["model_probability"] = model_probability(coll, Y, specs, gmm_pred, gmm_tag, models)
    metrics["envelopes"] = binned_curves(coll, coll.env_moments, coll.times, "t_s", models)
    metrics["log_fas"] = binned_curves(coll, coll.fas_moments, coll.freqs, "f_Hz", models)
    metrics["frechet"] = frechet(coll, models)
    metrics["classifier"] = classifier_metrics(coll, models)
    metrics["paired"] = paired_summary(coll)
    if coll.broadband:  # only for paired models with a low-passed input: other reports stay as they were
        metrics["broadband"] = broadband_summary(coll)
    metrics["hvsr"] = hvsr_summary(coll, models)
    if coll.site_sources:  # only with site-specific models: other reports stay as they were
        metrics["site"] = site_summary(coll)
    metrics["summary"] = summary(metrics, models, list(gmms))
    metrics["run_gmms"] = list(gmms)
    n_events = int(pd.Series(cond["event"]).replace("", np.nan).nunique()) if "event" in cond else 0
    metrics["summary_flags"] = summary_flags(metrics, n_events)
    del metrics["run_gmms"]
    return metrics, extras


# -- Fig. 4: bias against distance ---------------------------------------------------------
def _gmm_data_column(spec: ImSpec, tag: str, Y: Matrices) -> np.ndarray:
    col = spec.column_for(tag)
    y = Y(DATA, col)
    if np.all(np.isnan(y)) and tag != "RotD50":
        y = Y(DATA, spec.column)
    return y


def bias_vs_distance(coll, Y, specs, gmm_pred, gmm_tag, models) -> dict:
    edges = np.asarray(coll.config.bins.bias_distance_edges_km, float)
    ib = bin_index(coll.conditioning["distance_km"].to_numpy(), edges)
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.key not in ("PGA_RotD50", "PGV_RotD50"):
            continue
        per_record = _record_residuals(spec, Y, gmm_pred, gmm_tag, models)
        entry = {"edges_km": _fl(edges), "unit": "log10", "sources": {}}
        for src, r in per_record.items():
            mean, se, cnt = [], [], []
            for b in range(len(edges) - 1):
                v = r[(ib == b) & np.isfinite(r)]
                cnt.append(int(v.size))
                mean.append(_f(v.mean()) if v.size else None)
                se.append(_f(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None)
            v = r[np.isfinite(r)]
            entry["sources"][src] = {"mean": mean, "se": se, "n": cnt,
                                     "overall_bias": _f(v.mean()) if v.size else None,
                                     "overall_n": int(v.size)}
        out[spec.key] = entry
    return out


def _record_residuals(spec, Y, gmm_pred, gmm_tag, models) -> dict[str, np.ndarray]:
    """Per record, log10(prediction / data) of ``spec`` for every model (mean over its
    realisations) and every GMM that predicts it: source -> (N,) array."""
    yd = Y(DATA, spec.column)
    out = {m: _nanmean(Y(m, spec.column), axis=1) - yd for m in models}
    for g, pred in gmm_pred.items():
        if spec.key in pred:
            out[g] = pred[spec.key][0] - _gmm_data_column(spec, gmm_tag[g], Y)
    return out


def bias_by_vs30_source(coll, Y, specs, gmm_pred, gmm_tag, models) -> dict:
    """Mean bias log10(prediction / data) of PGA and PGV per class of ``station_vs30_source``
    (measured, inferred, assumed): a model (or GMM) judged on records whose Vs30 was assumed
    is judged partly on the assumption."""
    cls = coll.conditioning["vs30_source"].to_numpy() if "vs30_source" in coll.conditioning else None
    if cls is None:
        return {"note": "no station_vs30_source in the data"}
    out: dict[str, Any] = {"classes": sorted(set(cls.tolist())), "ims": {}}
    for spec in specs:
        if spec.key not in ("PGA_RotD50", "PGV_RotD50"):
            continue
        per = _record_residuals(spec, Y, gmm_pred, gmm_tag, models)
        e = {}
        for src, r in per.items():
            e[src] = {}
            for c in out["classes"]:
                v = r[(cls == c) & np.isfinite(r)]
                e[src][c] = {"mean": _f(v.mean()) if v.size else None, "n": int(v.size)}
        out["ims"][spec.key] = e
    return out


# -- Fig. 5: residuals against the simple GMM ----------------------------------------------
def _fit_simple(SimpleGMM, y, M, R, V):
    """(log10 median per record, the fitted model) or (None, reason)."""
    ok = np.isfinite(y) & np.isfinite(M) & np.isfinite(R) & np.isfinite(V) & (R > 0) & (V > 0)
    if ok.sum() < 5:
        return None, f"only {int(ok.sum())} data records: simple GMM not fitted"
    try:
        sg = SimpleGMM.fit(y[ok], M[ok], R[ok], V[ok])
    except ValueError as e:  # e.g. one Vs30 for all records
        return None, f"simple GMM not fitted: {e}"
    x_ok = np.isfinite(M) & np.isfinite(R) & np.isfinite(V) & (R > 0) & (V > 0)
    f = np.full(len(M), np.nan)
    f[x_ok] = sg.predict(M[x_ok], R[x_ok], V[x_ok])
    return f, sg


def residuals_simple_gmm(coll, Y, specs, gmm_pred, gmm_tag, models) -> tuple[dict, dict]:
    """Fig. 5: residuals of data, models (all realisations) and GMM medians against the simple
    GMM (eqs. 11-12) fitted to the data; for a GMM defined on another horizontal component
    (Kanno: peak SRSS) the simple GMM is fitted to the data in that component."""
    from quakesynth.gmm import SimpleGMM

    cond = coll.conditioning
    M = cond["magnitude"].to_numpy(float)
    R = cond["distance_km"].to_numpy(float)
    V = cond["vs30_mps"].to_numpy(float)
    out, samples = {}, {}
    for spec in specs:
        f, sg = _fit_simple(SimpleGMM, Y(DATA, spec.column), M, R, V)
        reference = "simple GMM fitted to the data"
        if f is None:
            # too few records (or one magnitude / one Vs30) for the simple GMM: the first GMM
            # defined on the RotD50 component is the reference median instead
            g_ref = next((g for g, pred in gmm_pred.items() if spec.key in pred and gmm_tag[g] == "RotD50"
                          and np.isfinite(pred[spec.key][0]).any()), None)
            if g_ref is None:
                out[spec.key] = {"note": sg}
                continue
            f = gmm_pred[g_ref][spec.key][0]
            reference = f"median of GMM {g_ref} ({sg})"
        res = {DATA: Y(DATA, spec.column) - f}
        for m in models:
            res[m] = Y(m, spec.column) - f[:, None]
        entry = {"simple_gmm": {k: _f(v) for k, v in sg.coefficients().items()} if not isinstance(sg, str) else None,
                 "reference": reference, "unit": "log10", "sources": {}}
        if entry["simple_gmm"] is None:
            del entry["simple_gmm"]
        smp = {}
        for src, r in res.items():
            v = r[np.isfinite(r)]
            smp[src] = v
            entry["sources"][src] = {"mean": _f(v.mean()) if v.size else None,
                                     "sigma": _f(v.std(ddof=1)) if v.size > 1 else None, "n": int(v.size)}
        for g, pred in gmm_pred.items():
            if spec.key not in pred:
                continue
            fg = f
            if gmm_tag[g] != "RotD50":
                fg, _ = _fit_simple(SimpleGMM, _gmm_data_column(spec, gmm_tag[g], Y), M, R, V)
                if fg is None:
                    continue
            elif "simple_gmm" not in entry:  # the reference is a GMM: compare a GMM with the data
                fg = _gmm_data_column(spec, gmm_tag[g], Y)
            mu, sig = pred[spec.key]
            r = mu - fg
            okg = np.isfinite(r) & np.isfinite(sig)
            entry["sources"][g] = {"mean": _f(r[okg].mean()) if okg.any() else None,
                                   "sigma": _f(sig[okg].mean()) if okg.any() else None,
                                   "n": int(okg.sum()), "component": gmm_tag[g]}
            smp[g] = (r[okg], sig[okg])
        out[spec.key] = entry
        samples[spec.key] = smp
    return out, samples


# -- Fig. 6: D5-95 against magnitude -------------------------------------------------------
def _horizontal_duration(table: pd.DataFrame) -> np.ndarray | None:
    c1, c2 = "D5-95_H1_s", "D5-95_H2_s"
    if c1 in table and c2 in table:
        return np.sqrt(table[c1].to_numpy(float) * table[c2].to_numpy(float))
    cols = [c for c in table.columns if c.startswith("D5-95_") and c.endswith("_s")]
    return table[cols[0]].to_numpy(float) if cols else None


def duration_vs_magnitude(coll, models) -> dict:
    t = coll.table
    d = _horizontal_duration(t)
    if d is None:
        return {"note": "no D5-95 column in the IM table"}
    edges = np.asarray(coll.config.bins.duration_magnitude_edges, float)
    mags = coll.conditioning["magnitude"].to_numpy(float)[t["record"].to_numpy()]
    ib = bin_index(mags, edges)
    out = {"edges": _fl(edges), "quantity": "D5-95, geometric mean of the horizontals", "unit": "s",
           "sources": {}}
    logd = _log10(d)
    src = t["source"].to_numpy()
    data_rec = {}
    sel_d = src == DATA
    for r, v in zip(t["record"].to_numpy()[sel_d], logd[sel_d]):
        data_rec[r] = v
    for s in [DATA, *models]:
        sel = src == s
        med, p16, p84, cnt = [], [], [], []
        for b in range(len(edges) - 1):
            v = d[sel & (ib == b) & np.isfinite(d)]
            cnt.append(int(v.size))
            med.append(_f(np.median(v)) if v.size else None)
            p16.append(_f(np.percentile(v, 16)) if v.size else None)
            p84.append(_f(np.percentile(v, 84)) if v.size else None)
        entry = {"median": med, "p16": p16, "p84": p84, "n": cnt}
        if s != DATA:
            g = pd.DataFrame({"record": t["record"].to_numpy()[sel], "y": logd[sel]}).groupby("record")["y"].mean()
            ref = np.array([data_rec.get(r, np.nan) for r in g.index])
            diff = g.to_numpy() - ref
            diff = diff[np.isfinite(diff)]
            entry["bias_log10"] = _f(diff.mean()) if diff.size else None
        out["sources"][s] = entry
    return out


# -- Fig. 7: convergence with the number of realisations -----------------------------------
def convergence(coll, Y, specs, models) -> dict:
    from quakesynth.metrics import shapiro_wilk_log

    N = coll.config.realizations
    spec = next((s for s in specs if s.key == "PGA_RotD50"), None)
    if spec is None:
        return {"note": "no PGA column"}
    out = {"im": spec.key, "unit": "log10", "n_realizations": list(range(1, N + 1)), "sources": {}}
    for m in models:
        y = Y(m, spec.column)
        y = y[np.all(np.isfinite(y), axis=1)]
        if len(y) == 0:
            continue
        med_N = np.median(y, axis=1)
        sig_N = y.std(axis=1, ddof=1) if N > 1 else np.full(len(y), np.nan)
        dmed, dmed_rms, sig, dsig = [], [], [], []
        for k in range(1, N + 1):
            med_k = np.median(y[:, :k], axis=1)
            dmed.append(_f(np.mean(med_k - med_N)))
            dmed_rms.append(_f(np.sqrt(np.mean((med_k - med_N) ** 2))))
            if k >= 2:
                s_k = y[:, :k].std(axis=1, ddof=1)
                sig.append(_f(np.mean(s_k)))
                dsig.append(_f(np.sqrt(np.mean((s_k - sig_N) ** 2))))
            else:
                sig.append(None)
                dsig.append(None)
        entry = {"median_minus_final_mean": dmed, "median_minus_final_rms": dmed_rms,
                 "sigma_mean": sig, "sigma_minus_final_rms": dsig, "n_records": int(len(y))}
        if N >= 3:
            W, p = np.array([shapiro_wilk_log(10.0 ** row) for row in y]).T
            entry["shapiro_wilk"] = {"W_median": _f(np.nanmedian(W)), "p_median": _f(np.nanmedian(p)),
                                     "fraction_p_above_0.05": _f(np.mean(p > 0.05)),
                                     "n_records": int(np.isfinite(W).sum())}
        else:
            entry["shapiro_wilk"] = {"note": "needs at least 3 realisations"}
        out["sources"][m] = entry
    return out


# -- Figs. 8-9: scenario curves -------------------------------------------------------------
def scenario_curves(coll, specs, gmms) -> tuple[dict, dict]:
    st = coll.scenario_table
    cond = coll.conditioning
    out, extra = {}, {}
    if st is None or len(st) == 0:
        return out, extra
    for sc in coll.config.scenarios:
        sub = st[st["scenario"] == sc.name]
        values = np.asarray(sc.values, float)
        entry = {"vary": sc.vary, "values": _fl(values),
                 "fixed": {k: getattr(sc, k) for k in SCENARIO_VARIABLES if k != sc.vary},
                 "sources": {}, "gmms": {}, "data": {}}
        # models
        for src, g in sub.groupby("source", sort=False):
            e = {}
            for spec in specs:
                if spec.column not in g:
                    continue
                y = _log10(g[spec.column].to_numpy())
                pts = g["point"].to_numpy()
                mu = [_nanmean(y[pts == p]) for p in range(len(values))]
                sd = [_nanstd(y[pts == p]) for p in range(len(values))]
                e[spec.key] = {"median": _fl(10.0 ** np.asarray(mu, float)), "sigma_log10": _fl(sd)}
            entry["sources"][src] = e
        # GMMs at the scenario points
        pts = sc.table().rename(columns={"distance": "distance_km", "vs30": "vs30_mps", "depth": "depth_km"})
        for gname, gm in gmms.items():
            e = {}
            for spec in specs:
                if not supports(gm, spec.imt):
                    continue
                mu, sig = gmm_predict(gm, spec.imt, pts)
                e[spec.key] = {"median": _fl(10.0 ** mu), "sigma_log10": _fl(sig)}
            entry["gmms"][gname] = e
            entry.setdefault("gmm_components", {})[gname] = gmm_component_tag(gm)
        # data in narrow bins around the scenario
        sel = np.ones(len(cond), bool)
        windows = {"magnitude": ("magnitude", sc.magnitude, sc.magnitude_window, False),
                   "distance": ("distance_km", sc.distance, sc.distance_window, True),
                   "vs30": ("vs30_mps", sc.vs30, sc.vs30_window, True)}
        for var, (col, x0, w, logscale) in windows.items():
            if var == sc.vary:
                continue
            x = cond[col].to_numpy(float)
            sel &= (np.abs(np.log10(x) - np.log10(x0)) <= w) if logscale else (np.abs(x - x0) <= w)
        col, _, w, logscale = windows[sc.vary]
        x = cond[col].to_numpy(float)
        dtab = coll.table[coll.table["source"] == DATA].set_index("record")
        dpts = {}
        for spec in specs:
            if spec.column not in dtab:
                continue
            med, cnt = [], []
            pts_x, pts_y = [], []
            for v in values:
                near = sel & ((np.abs(np.log10(x) - np.log10(v)) <= w) if logscale else (np.abs(x - v) <= w))
                recs = np.flatnonzero(near)
                yv = dtab[spec.column].reindex(recs).to_numpy(float)
                yv = yv[np.isfinite(yv) & (yv > 0)]
                cnt.append(int(yv.size))
                med.append(_f(np.exp(np.mean(np.log(yv)))) if yv.size else None)
            recs = np.flatnonzero(sel)
            pts_x = x[recs]
            pts_y = dtab[spec.column].reindex(recs).to_numpy(float)
            entry["data"][spec.key] = {"geometric_mean": med, "n": cnt}
            dpts[spec.key] = (pts_x, pts_y)
        out[sc.name] = entry
        extra[sc.name] = dpts
    return out, extra


# -- Fig. 10: average model probability (eq. 13) -------------------------------------------
def model_probability(coll, Y, specs, gmm_pred, gmm_tag, models) -> dict:
    """Eq. 13 per M-R bin: a model's ln-IM distribution in a bin is normal with the median and
    the 16-84 % half-width of all its realisations for the bin's records
    (:func:`quakesynth.metrics.average_model_probability`); a GMM's is its own median and sigma
    per record (:func:`~quakesynth.metrics.distribution.average_model_probability_parametric`).
    Values are mean normal densities of the observed ln IM (per unit ln IM); higher is better.
    """
    from quakesynth.metrics import average_model_probability
    from quakesynth.metrics.distribution import average_model_probability_parametric

    b = coll.config.bins
    labels = mr_bin_labels(b.magnitude_edges, b.distance_edges_km)
    nb = len(labels)
    mr = coll.mr_bin
    out = {"bins": labels, "magnitude_edges": _fl(b.magnitude_edges),
           "distance_edges_km": _fl(b.distance_edges_km), "ims": {}}
    for spec in specs:
        if spec.key not in ("PGA_RotD50", "PGV_RotD50"):
            continue
        yd = Y(DATA, spec.column)
        obs = np.isfinite(yd) & (mr >= 0)
        entry: dict[str, Any] = {"unit": "mean normal density of the observed ln IM", "sources": {},
                                 "n": [int((obs & (mr == k)).sum()) for k in range(nb)]}
        for m in models:
            ym = Y(m, spec.column)
            rec = np.repeat(np.arange(len(yd)), ym.shape[1])
            vals = ym.ravel()
            ok = np.isfinite(vals) & (mr[rec] >= 0)
            per_bin = average_model_probability(10.0 ** yd[obs], mr[obs], 10.0 ** vals[ok], mr[rec][ok], n_bins=nb)
            # overall: every record against its own bin's model distribution, pooled
            n_obs = np.array(entry["n"], float)
            okb = np.isfinite(per_bin) & (n_obs > 0)
            overall = float((per_bin[okb] * n_obs[okb]).sum() / n_obs[okb].sum()) if okb.any() else None
            entry["sources"][m] = {"per_bin": _fl(per_bin), "overall": _f(overall)}
        for g, pred in gmm_pred.items():
            if spec.key not in pred:
                continue
            y = _gmm_data_column(spec, gmm_tag[g], Y)
            mu, sig = pred[spec.key][0] * LN10, pred[spec.key][1] * LN10
            ok = np.isfinite(y) & np.isfinite(mu) & np.isfinite(sig) & (sig > 0) & (mr >= 0)
            vals = []
            for k in range(nb):
                sel = ok & (mr == k)
                vals.append(_f(average_model_probability_parametric(10.0 ** y[sel], mu[sel], sig[sel]))
                            if sel.any() else None)
            entry["sources"][g] = {"per_bin": vals, "n_valid": int(ok.sum()),
                                   "overall": _f(average_model_probability_parametric(10.0 ** y[ok], mu[ok], sig[ok]))
                                   if ok.any() else None}
        ratios = {}
        for m in models:
            for g in gmm_pred:
                if g in entry["sources"] and m in entry["sources"]:
                    a, c = entry["sources"][m]["per_bin"], entry["sources"][g]["per_bin"]
                    ratios[f"{m}/{g}"] = [(_f(x / y) if x is not None and y not in (None, 0) else None)
                                          for x, y in zip(a, c)]
        entry["ratios"] = ratios
        out["ims"][spec.key] = entry
    return out


# -- Fig. 3: envelopes and log-FAS per M-R bin ----------------------------------------------
def binned_curves(coll, moments, axis_values, axis_name, models) -> dict:
    b = coll.config.bins
    labels = mr_bin_labels(b.magnitude_edges, b.distance_edges_km) + ["all"]
    if DATA not in moments:
        return {"note": "no curves"}
    dmean, dstd, dcnt = moments[DATA].mean_std()
    out = {axis_name: _fl(axis_values), "bins": labels, "components": list(coll.components),
           "unit": "log10", "per_bin": {}}
    for k, label in enumerate(labels):
        n_data = int(dcnt[k, 0].max()) if dcnt[k].size else 0
        if n_data == 0:
            continue
        binentry = {}
        for c, comp in enumerate(coll.components):
            ce = {}
            for src in [DATA, *models]:
                if src not in moments:
                    continue
                mean, std, cnt = moments[src].mean_std()
                e = {"n": int(cnt[k, c].max()), "mean": _fl(mean[k, c], 5), "std": _fl(std[k, c], 5)}
                if src != DATA:
                    ok = np.isfinite(mean[k, c]) & np.isfinite(dmean[k, c])
                    e["mean_abs_diff"] = _f(np.mean(np.abs(mean[k, c][ok] - dmean[k, c][ok]))) if ok.any() else None
                    e["std_diff"] = _f(np.mean(std[k, c][ok] - dstd[k, c][ok])) if ok.any() else None
                ce[src] = e
            binentry[comp] = ce
        out["per_bin"][label] = binentry
    return out


# -- Table 1 / Fig. 11: Frechet distances and classifier -----------------------------------
def _finite_rows_cols(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cols = np.all(np.isfinite(a), axis=0) & np.all(np.isfinite(b), axis=0)
    cols_a = a[:, cols]
    cols_b = b[:, cols]
    # drop rows still holding NaN (e.g. a silent record) -- usually none
    return cols_a[np.all(np.isfinite(cols_a), axis=1)], cols_b[np.all(np.isfinite(cols_b), axis=1)]


def _clean(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ra = np.isfinite(a).mean(axis=1) > 0.5
    rb = np.isfinite(b).mean(axis=1) > 0.5
    return _finite_rows_cols(a[ra], b[rb])


def _floor_pair(coll) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(sample A, sample B, how) of real data for the floor."""
    data = coll.logfas.get(DATA)
    if data is None:
        return None, None, "none"
    if FLOOR in coll.logfas:
        return coll.logfas[FLOOR], data, "train split vs evaluation split"
    n = len(data)
    rng = np.random.default_rng(coll.config.seed)
    perm = rng.permutation(n)
    return data[perm[: n // 2]], data[perm[n // 2:]], "two random halves of the evaluation split"


def _fd(a: np.ndarray, b: np.ndarray, kind: str) -> float | None:
    """Frechet distance (eq. 14 ``diagonal``, eq. 15 ``full``) of ln-FAS from log10 features."""
    from quakesynth.metrics import frechet_distance_samples

    return _f(frechet_distance_samples(a * LN10, b * LN10, kind=kind))


def frechet(coll, models) -> dict:
    out: dict[str, Any] = {"feature": "ln of the Konno-Ohmachi-smoothed FAS (m/s) on the log-FAS grid, "
                                      "realisation 0", "per_component": {}, "per_bin": {}}
    data = coll.logfas.get(DATA)
    if data is None:
        return {"note": "no log-FAS"}
    fa, fb, how = _floor_pair(coll)
    out["floor_method"] = how
    if fa is not None:
        out["floor_half_size"] = int(min(len(fa), len(fb)))
        if out["floor_half_size"] < MIN_FLOOR_RECORDS:
            out["floor_note"] = (f"small sample: the floor compares {len(fa)} and {len(fb)} records "
                                 f"(fewer than {MIN_FLOOR_RECORDS} per half)")
    for c, comp in enumerate(coll.components):
        ce = {}
        pairs = {m: (coll.logfas[m][:, c], data[:, c]) for m in models if m in coll.logfas}
        if fa is not None:
            pairs["floor"] = (fa[:, c], fb[:, c])
        for src, (a, b) in pairs.items():
            a2, b2 = _clean(a, b)
            if len(a2) < 2 or len(b2) < 2 or a2.shape[1] == 0:
                ce[src] = {"eq14": None, "eq15": None}
                continue
            ce[src] = {"eq14": _fd(a2, b2, "diagonal"),
                       "eq15": _fd(a2, b2, "full") if min(len(a2), len(b2)) > 2 else None}
        out["per_component"][comp] = ce
    # per M-R bin (eq. 14), the floor from the floor sample's own bins
    b = coll.config.bins
    labels = mr_bin_labels(b.magnitude_edges, b.distance_edges_km)
    floor_bins = None
    if FLOOR in coll.logfas and coll.floor_conditioning is not None:
        fc = coll.floor_conditioning
        floor_bins = mr_bin_index(fc["magnitude"].to_numpy(), fc["distance_km"].to_numpy(),
                                  b.magnitude_edges, b.distance_edges_km)
    for k, label in enumerate(labels):
        sel = coll.mr_bin == k
        if sel.sum() < 2:
            continue
        be = {"n": int(sel.sum())}
        for c, comp in enumerate(coll.components):
            ce = {}
            for m in models:
                if m not in coll.logfas:
                    continue
                a2, b2 = _clean(coll.logfas[m][sel, c], data[sel, c])
                ce[m] = _fd(a2, b2, "diagonal") if len(a2) > 1 and len(b2) > 1 and a2.shape[1] else None
            if floor_bins is not None:
                fsel = floor_bins == k
                if fsel.sum() > 1:
                    a2, b2 = _clean(coll.logfas[FLOOR][fsel, c], data[sel, c])
                    ce["floor"] = _fd(a2, b2, "diagonal") if len(a2) > 1 and len(b2) > 1 and a2.shape[1] else None
            be[comp] = ce
        out["per_bin"][label] = be
    return out


def classifier_metrics(coll, models) -> dict:
    """Accuracy of the classifier on each source (the true class is the record's M-R class;
    the real-data reference is its accuracy on the real evaluation records), the embedding
    Frechet distance to the real records (eq. 15) with its real-data floor, and the NCC of the
    row-normalised confusion matrices of generated and real records (TimesNet-Gen)."""
    if not coll.embeddings:
        return {"note": "no classifier given (--classifier PATH)"}
    from quakesynth.metrics import accuracy, confusion_ncc, embedding_frechet_distance
    from quakesynth.metrics.distribution import confusion_matrix

    out: dict[str, Any] = {"accuracy": {}, "embedding_fd": {}, "confusion_ncc": {}}
    labels = coll.labels[DATA]
    ok = labels >= 0
    out["n_labelled"] = int(ok.sum())
    if not ok.any():
        return {"note": "no evaluation record falls inside the classifier's magnitude-distance grid"}
    k = int(max(labels.max(), *(p.max() for p in coll.predictions.values()))) + 1
    c_real = confusion_matrix(labels[ok], coll.predictions[DATA][ok], k, normalize="true")
    for src in [DATA, *models]:
        if src in coll.predictions:
            out["accuracy"][src] = _f(accuracy(labels[ok], coll.predictions[src][ok]))
            if src != DATA:
                c = confusion_matrix(labels[ok], coll.predictions[src][ok], k, normalize="true")
                try:
                    out["confusion_ncc"][src] = _f(confusion_ncc(c, c_real))
                except ValueError:
                    out["confusion_ncc"][src] = None
    e_data = coll.embeddings[DATA]
    for m in models:
        if m in coll.embeddings:
            a, b = _clean(coll.embeddings[m], e_data)
            out["embedding_fd"][m] = _f(embedding_frechet_distance(b, a))
    if FLOOR in coll.embeddings:
        a, b = _clean(coll.embeddings[FLOOR], e_data)
        out["embedding_fd"]["floor"] = _f(embedding_frechet_distance(b, a))
        out["floor_method"] = "train split vs evaluation split"
    else:
        rng = np.random.default_rng(coll.config.seed)
        perm = rng.permutation(len(e_data))
        h = len(e_data) // 2
        a, b = _clean(e_data[perm[:h]], e_data[perm[h:]])
        out["embedding_fd"]["floor"] = _f(embedding_frechet_distance(b, a)) if min(len(a), len(b)) > 2 else None
        out["floor_method"] = "two random halves of the evaluation split"
    return out


# -- paired measures -----------------------------------------------------------------------
def paired_summary(coll) -> dict:
    if coll.paired is None or len(coll.paired) == 0:
        return {"note": "no paired model (a model with a reproduce() method, e.g. a refiner)"}
    out = {}
    for src, g in coll.paired.groupby("source", sort=False):
        e = {"n_records": int(len(g))}
        for col in g.columns:
            if col in ("source", "record"):
                continue
            v = g[col].to_numpy(float)
            v = v[np.isfinite(v)]
            e[col] = {"mean": _f(v.mean()) if v.size else None, "median": _f(np.median(v)) if v.size else None}
        out[src] = e
    return out


def broadband_summary(coll) -> dict:
    """Per paired model with a low-passed input (a broadband refiner): the measures of
    :mod:`quakesynth.evaluate.broadband` over its paired records -- mean and mean |FAS bias| per
    band, mean and largest |PSA bias| over the periods, Kristekova EG/PG above ``fc``, the
    kept-band error below ``0.8 fc`` (median, max), the continuity across ``fc``, the score
    (lower is better) and the waveform misfits rMAE and rRMSE (median over records and
    components) -- with the input's ``fc`` and filter order, the bands and the periods."""
    from quakesynth.evaluate.broadband import FAS_BANDS, PSA_PERIODS, score, summarise

    out: dict[str, Any] = {"fas_bands_Hz": [list(b) for b in FAS_BANDS], "psa_periods_s": _fl(PSA_PERIODS)}
    for src, m in coll.broadband.items():
        fc, order = m["lowpass"]
        s = summarise(m)
        s["score"] = score(s)
        psa = np.nanmean(m["psa"].reshape(-1, m["psa"].shape[-1]), axis=0)
        out[src] = {"fc_Hz": float(fc), "order": int(order), **{k: _f(v) if isinstance(v, float) else v
                                                                   for k, v in s.items()},
                    "rmae_median": _f(np.nanmedian(m["rmae"])), "rrmse_median": _f(np.nanmedian(m["rrmse"])),
                    "psa_bias_per_period": _fl(psa)}
    return out


def site_summary(coll) -> dict:
    """Per site-specific model: does its station signature match the data's? A station
    classifier on ln HVSR (:class:`quakesynth.evaluate.site.HVSRClassifier`) is trained on half
    of the data's records of every station with HVSR (alternate records) and applied to the
    other half and to the model's realisation 0 of the same records; the accuracies and the
    NCC of the two row-normalised confusion matrices (:func:`quakesynth.evaluate.site.
    confusion_alignment`; 1: the model is confused like the data). f0 per station and the
    Jensen-Shannon similarity of the f0 histograms are in the HVSR section."""
    from quakesynth.evaluate.site import HVSRClassifier, confusion_alignment, hvsr_features

    recs = coll.hvsr_records
    if len(recs) == 0 or DATA not in coll.hvsr:
        return {"note": f"no station with at least {coll.config.hvsr_min_records} records: no station classifier"}
    stations = coll.conditioning["station"].to_numpy()[recs]
    codes = sorted(set(stations))
    y = np.array([codes.index(s) for s in stations])
    rank = pd.Series(np.arange(len(y))).groupby(y).cumcount().to_numpy()
    train, test = rank % 2 == 0, rank % 2 == 1

    def feats(src: str) -> np.ndarray:
        return hvsr_features(10.0 ** coll.hvsr[src].astype(float))

    out: dict[str, Any] = {"stations": len(codes), "n_train": int(train.sum()), "n_test": int(test.sum())}
    if len(codes) < 2 or not test.any():
        out["note"] = "a station classifier needs at least two stations with two records each"
        return out
    clf = HVSRClassifier(len(codes)).fit(feats(DATA)[train], y[train])
    for src in coll.site_sources:
        if src not in coll.hvsr:
            out[src] = {"note": "no HVSR of this model (no vertical component)"}
            continue
        r = confusion_alignment(clf, feats(DATA)[test], y[test], feats(src)[test], y[test])
        out[src] = {"acc_real": _f(r["acc_real"]), "acc_gen": _f(r["acc_gen"]), "ncc": _f(r["ncc"]),
                    **({"reason": r["reason"]} if r["reason"] else {})}
    return out


# -- HVSR / f0 -----------------------------------------------------------------------------
def hvsr_summary(coll, models) -> dict:
    """Per station with several records: the mean log10 HVSR of its records and its f0, for
    the data and for each model's realisation 0 of the same records; and the Jensen-Shannon
    similarity of the per-record f0 histograms (log10 f0, f0 band) of models and data."""
    from quakesynth.metrics import f0 as f0_of
    from quakesynth.metrics.distribution import histogram_similarity

    recs = coll.hvsr_records
    if len(recs) == 0 or DATA not in coll.hvsr:
        return {"note": f"no station with at least {coll.config.hvsr_min_records} records"}
    freqs = coll.freqs
    band = tuple(coll.config.features.f0_band_hz)
    stations = coll.conditioning["station"].to_numpy()[recs]
    out: dict[str, Any] = {"f_Hz": _fl(freqs), "f0_band_Hz": list(band), "min_records": coll.config.hvsr_min_records,
                           "stations": {}, "js_similarity_f0": {}}
    f0_all: dict[str, list[float]] = {}
    for sta in sorted(set(stations)):
        idx = np.flatnonzero(stations == sta)
        e: dict[str, Any] = {"n": int(len(idx))}
        for src in [DATA, *models]:
            if src not in coll.hvsr:
                continue
            h = coll.hvsr[src][idx].astype(float)
            curve = _nanmean(h, axis=0)
            finite = np.isfinite(curve).any()
            e[src] = {"f0_Hz": _f(f0_of(curve, freqs, band)) if finite else None,
                      "curve_log10": _fl(curve, 4)}
            rows = np.isfinite(h).any(axis=1)
            if rows.any():
                f0_all.setdefault(src, []).extend(f0_of(h[rows], freqs, band).tolist())
        out["stations"][sta] = e
    lo, hi = band
    for m in models:
        a, b = np.asarray(f0_all.get(DATA, [])), np.asarray(f0_all.get(m, []))
        if a.size and b.size:
            out["js_similarity_f0"][m] = _f(histogram_similarity(a, b, bins=15, value_range=(np.log10(lo), np.log10(hi)),
                                                                 log=True))
    return out


# -- headline table ------------------------------------------------------------------------
def summary(metrics: dict, models: list[str], gmms: list[str]) -> dict:
    """Per source: PGA/PGV bias and sigma, Frechet distances with the floor, classifier."""
    rows: dict[str, dict[str, Any]] = {}
    for src in [DATA, *models, *gmms, "floor"]:
        rows[src] = {}
    for im in ("PGA_RotD50", "PGV_RotD50"):
        bd = metrics["bias_distance"].get(im, {}).get("sources", {})
        rs = metrics["residuals"].get(im, {}).get("sources", {})
        for src in [DATA, *models, *gmms]:
            if src != DATA:
                rows[src][f"{im}_bias_log10"] = bd.get(src, {}).get("overall_bias")
            rows[src][f"{im}_sigma_log10"] = rs.get(src, {}).get("sigma")
    fr = metrics["frechet"].get("per_component", {})
    for comp, ce in fr.items():
        for src, v in ce.items():
            if src in rows:
                rows[src][f"FD_logFAS_{comp}"] = v.get("eq14")
    cl = metrics["classifier"]
    if "accuracy" in cl:
        for src, v in cl["accuracy"].items():
            if src in rows:
                rows[src]["classifier_accuracy"] = v
        for src, v in cl["embedding_fd"].items():
            if src in rows:
                rows[src]["FD_embedding"] = v
    return {k: v for k, v in rows.items() if v}


#: Fewer real records than this per half make a Frechet-distance floor a small-sample number.
MIN_FLOOR_RECORDS = 20


def summary_flags(metrics: dict, n_events: int) -> dict[str, dict[str, str]]:
    """Cells of the headline table that are small-sample or missing, with the reason to show
    instead of the number (``{source: {column: text}}``): a sigma from one event, a floor
    from fewer than :data:`MIN_FLOOR_RECORDS` records per half, a sigma that could not be
    computed."""
    flags: dict[str, dict[str, str]] = {}
    for src, row in metrics["summary"].items():
        for col in row:
            text = None
            if "_sigma_" in col:
                im = col.split("_sigma_")[0]
                if "sources" not in metrics["residuals"].get(im, {}):
                    text = "n/a: " + metrics["residuals"].get(im, {}).get("note", "no residuals")
                elif n_events < 2 and src not in metrics["run_gmms"]:
                    text = "1 event"
            elif col.startswith("FD_logFAS_") and src == "floor":
                n = metrics["frechet"].get("floor_half_size")
                if n is not None and n < MIN_FLOOR_RECORDS:
                    text = f"small sample ({n}/half)"
            if text:
                flags.setdefault(src, {})[col] = text
    return flags


COND_UNITS = {c: unit(v) for c, v in COND_COLUMNS.items()}  # the scenario table's units
