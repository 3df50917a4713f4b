"""Flatfile mode of ``quakesynth evaluate``: generators against a table of observed IMs.

A *flatfile* has one row per record: event id, magnitude, distances, depth, Vs30, station and
the observed intensity measures (PGA, PGV, PSA). No waveform is needed. For every row each
model generates ``N`` realisations with the row's conditioning and the same IMs are computed
from them (RotD50 of the two horizontals, :func:`quakesynth.evaluate.features.intensity_measures`);
each GMM predicts its median. Residuals are taken as ground-motion modellers do, in natural
log units: ``r = ln IM_obs - ln IM_pred`` with ``ln IM_pred`` a model's mean of ``ln IM``
over its realisations (a GMM's ln median), and split by :func:`quakesynth.evaluate.mixed.fit_mixed_effects`
into the bias, the between-event term (``tau``), the site term where stations repeat
(``phi_S2S``) and the within-event term (``phi``).

Column mappings (:data:`FORMATS`; ``auto`` picks the one whose columns are present):

- ``nga-west2``: the PEER NGA-West2 flatfile (``Record Sequence Number``, ``EQID``,
  ``Earthquake Magnitude``, ``Hypocenter Depth (km)``, ``HypD (km)``, ``EpiD (km)``,
  ``Vs30 (m/s) selected for analysis``, ``Measured/Inferred Class`` (0 measured),
  ``Station Sequence Number``, ``PGA (g)``, ``PGV (cm/sec)``, RotD50 PSA ``T0.100S``... in g);
- ``esm``: the ESM 2018 flatfile (``event_id``, ``Mw``/``EMEC_Mw``, ``ev_depth_km``,
  ``epi_dist``, ``vs30_m_sec``, ``vs30_meas_type``, ``network_code``/``station_code``,
  ``rotD50_pga``/``rotD50_T0_100`` in cm/s^2 and ``rotD50_pgv`` in cm/s);
- ``gem``: the GEM strong-motion toolkit / eGSIM flatfile (``event_id``, ``mag``,
  ``event_depth``, ``rhypo``/``repi``, ``vs30``, ``vs30measured``, ``station_id``, ``PGA``
  in g, ``PGV`` in cm/s, ``SA(0.1)`` in g);
- ``quakesynth``: ``event_id, station_id, magnitude, distance_km`` (hypocentral),
  ``depth_km, vs30_mps[, vs30_source, gap_deg], PGA_g, PGV_cm/s, PSA<T>_g``.

The hypocentral distance is taken from the table, else ``sqrt(R_epi^2 + depth^2)``. A table
without azimuthal gap gets ``gap_deg`` = :data:`DEFAULT_GAP_DEG` (noted in the report), the
same rule as for events with fewer than three stations at ingestion.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.binning import bin_index
from quakesynth.plain_json import to_plain

#: Azimuthal gap (degrees) assumed where a table or a sparse event gives none.
DEFAULT_GAP_DEG = 180.0
#: g in cm/s^2 (ESM tables give accelerations in cm/s^2).
_G_CM = 980.665
#: Canonical columns of a read flatfile (besides the IM columns ``PGA``, ``PGV``, ``SA(T)``).
CANONICAL = ("record_id", "event_id", "station_id", "magnitude", "depth_km", "rhyp_km", "repi_km",
             "vs30_mps", "vs30_source", "gap_deg", "event_latitude", "event_longitude",
             "station_latitude", "station_longitude", "event_name", "station_name")


@dataclass(frozen=True)
class ColumnMap:
    """How one flatfile format names its columns and its IM units."""

    name: str
    columns: dict[str, tuple[str, ...]]  # canonical -> accepted source names (first found wins)
    pga: tuple[str, float]  # column, factor to g
    pgv: tuple[str, float]  # column, factor to cm/s
    sa: tuple[str, float]  # regex with one group (the period, s), factor to g
    vs30_measured: dict[str, str] = field(default_factory=dict)  # source value -> measured/inferred
    sa_period: Any = float  # period text -> s


def _esm_period(text: str) -> float:
    return float(text.replace("_", "."))


FORMATS: dict[str, ColumnMap] = {
    "nga-west2": ColumnMap(
        "nga-west2",
        {"record_id": ("Record Sequence Number",), "event_id": ("EQID",),
         "event_name": ("Earthquake Name",), "magnitude": ("Earthquake Magnitude",),
         "depth_km": ("Hypocenter Depth (km)",), "rhyp_km": ("HypD (km)",), "repi_km": ("EpiD (km)",),
         "vs30_mps": ("Vs30 (m/s) selected for analysis",), "vs30_source": ("Measured/Inferred Class",),
         "station_id": ("Station Sequence Number",), "station_name": ("Station Name",),
         "event_latitude": ("Hypocenter Latitude (deg)",), "event_longitude": ("Hypocenter Longitude (deg)",),
         "station_latitude": ("Station Latitude",), "station_longitude": ("Station Longitude",)},
        pga=("PGA (g)", 1.0), pgv=("PGV (cm/sec)", 1.0), sa=(r"^T(\d+\.\d+)S$", 1.0),
        vs30_measured={"0": "measured", "0.0": "measured"}),
    "esm": ColumnMap(
        "esm",
        {"record_id": ("record_id", "esm_record_id"), "event_id": ("event_id",), "magnitude": ("Mw", "EMEC_Mw"),
         "depth_km": ("ev_depth_km",), "repi_km": ("epi_dist",), "rhyp_km": ("hypo_dist",),
         "vs30_mps": ("vs30_m_sec",), "vs30_source": ("vs30_meas_type",),
         "station_id": ("station_code",), "event_latitude": ("ev_latitude",),
         "event_longitude": ("ev_longitude",), "station_latitude": ("st_latitude",),
         "station_longitude": ("st_longitude",)},
        pga=("rotD50_pga", 1.0 / _G_CM), pgv=("rotD50_pgv", 1.0), sa=(r"^rotD50_T(\d+_\d+)$", 1.0 / _G_CM),
        vs30_measured={"measured": "measured"}, sa_period=_esm_period),
    "gem": ColumnMap(
        "gem",
        {"record_id": ("record_id",), "event_id": ("event_id",), "magnitude": ("mag", "magnitude"),
         "depth_km": ("event_depth", "hypo_depth"), "rhyp_km": ("rhypo",), "repi_km": ("repi",),
         "vs30_mps": ("vs30",), "vs30_source": ("vs30measured",), "station_id": ("station_id",),
         "event_latitude": ("event_latitude",), "event_longitude": ("event_longitude",),
         "station_latitude": ("station_latitude",), "station_longitude": ("station_longitude",)},
        pga=("PGA", 1.0), pgv=("PGV", 1.0), sa=(r"^SA\((\d*\.?\d+)\)$", 1.0),
        vs30_measured={"true": "measured", "1": "measured", "1.0": "measured"}),
    "quakesynth": ColumnMap(
        "quakesynth",
        {"record_id": ("record_id", "trace_name"), "event_id": ("event_id",), "magnitude": ("magnitude",),
         "depth_km": ("depth_km",), "rhyp_km": ("distance_km",), "repi_km": ("repi_km",),
         "vs30_mps": ("vs30_mps",), "vs30_source": ("vs30_source",), "gap_deg": ("gap_deg",),
         "station_id": ("station_id",)},
        pga=("PGA_g", 1.0), pgv=("PGV_cm/s", 1.0), sa=(r"^PSA(\d*\.?\d+)_g$", 1.0)),
}


def _detect(columns: list[str]) -> str:
    cols = set(columns)
    best, score = None, 0
    for name, fm in FORMATS.items():
        if fm.columns["event_id"][0] not in cols or not any(c in cols for c in fm.columns["magnitude"]):
            continue
        n = sum(any(c in cols for c in names) for names in fm.columns.values())
        n += (fm.pga[0] in cols) + (fm.pgv[0] in cols) + any(re.match(fm.sa[0], c) for c in cols)
        if n > score:
            best, score = name, n
    if best is not None:
        return best
    raise ValueError("flatfile format not recognised: no known event id and magnitude columns "
                     f"(formats: {', '.join(FORMATS)}); columns start {columns[:8]}")


def read_flatfile(path: str | os.PathLike, format: str = "auto", require_ims: bool = True
                  ) -> tuple[pd.DataFrame, str]:
    """Read a flatfile into canonical columns.

    Parameters
    ----------
    path : CSV file (``.csv``; any delimiter pandas sniffs) or Parquet (``.parquet``).
    format : ``auto`` or one of :data:`FORMATS`.
    require_ims : raise when the table has no IM column (False: metadata only, for ingestion).

    Returns
    -------
    (table, format name). ``table`` has :data:`CANONICAL` columns (NaN/None where missing;
    ``vs30_source`` is ``measured``, ``inferred`` or ``unknown``) and one column per IM:
    ``PGA`` (g), ``PGV`` (cm/s), ``SA(T)`` (g); non-positive IMs are NaN.

    Raises ``ValueError`` for an unreadable file, an unknown format, missing magnitude or
    event columns, or a table without any IM column.
    """
    path = Path(path)
    try:
        raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, sep=None, engine="python")
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"flatfile {str(path)!r} is not a readable table: {e}") from e
    raw.columns = [str(c).strip() for c in raw.columns]
    name = _detect(list(raw.columns)) if format == "auto" else format
    if name not in FORMATS:
        raise ValueError(f"flatfile format must be auto or one of {sorted(FORMATS)}; got {format!r}")
    fm = FORMATS[name]
    out = pd.DataFrame(index=raw.index)
    for canon in CANONICAL:
        src = next((c for c in fm.columns.get(canon, ()) if c in raw.columns), None)
        out[canon] = raw[src] if src is not None else np.nan
    for need in ("event_id", "magnitude"):
        if out[need].isna().all():
            raise ValueError(f"flatfile {str(path)!r} ({name}) has no {need} column "
                             f"(expected one of {list(fm.columns[need])})")
    for c in ("magnitude", "depth_km", "rhyp_km", "repi_km", "vs30_mps", "gap_deg", "event_latitude",
              "event_longitude", "station_latitude", "station_longitude"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in ("record_id", "event_id", "station_id"):
        out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                            else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
    if out["record_id"].isna().all():
        out["record_id"] = [str(i) for i in range(len(out))]
    if out["station_id"].isna().all():
        out["station_id"] = out["record_id"]  # no station column: every record its own station
    missing_rhyp = out["rhyp_km"].isna()
    out.loc[missing_rhyp, "rhyp_km"] = np.hypot(out["repi_km"], out["depth_km"])[missing_rhyp]
    vs = out["vs30_source"]
    if name != "quakesynth":
        vs = vs.map(lambda v: "unknown" if v is None or (isinstance(v, float) and math.isnan(v))
                    else fm.vs30_measured.get(str(v).strip().lower(), "inferred"))
    out["vs30_source"] = vs.astype(object).where(vs.notna(), "unknown").astype(str)
    ims = {}
    for key, (col, f) in (("PGA", fm.pga), ("PGV", fm.pgv)):
        if col in raw.columns:
            ims[key] = pd.to_numeric(raw[col], errors="coerce") * f
    pat = re.compile(fm.sa[0])
    sa = []
    for c in raw.columns:
        m = pat.match(c)
        if m:
            sa.append((fm.sa_period(m.group(1)), c))
    for T, c in sorted(sa):
        ims[f"SA({T:g})"] = pd.to_numeric(raw[c], errors="coerce") * fm.sa[1]
    if not ims and require_ims:
        raise ValueError(f"flatfile {str(path)!r} ({name}) has no PGA, PGV or PSA column")
    for k, v in ims.items():
        out[k] = v.where(v > 0).astype("float64")
    return out.reset_index(drop=True), name


def im_columns(table: pd.DataFrame) -> list[str]:
    """The IM columns of a canonical table: ``PGA``, ``PGV``, ``SA(T)`` (in that order)."""
    return [c for c in table.columns if c in ("PGA", "PGV") or c.startswith("SA(")]


def sa_period(im: str) -> float | None:
    """Period (s) of ``"SA(0.3)"``; None for PGA/PGV."""
    m = re.fullmatch(r"SA\(([0-9.eE+-]+)\)", im)
    return float(m.group(1)) if m else None


def to_metadata(table: pd.DataFrame) -> pd.DataFrame:
    """A canonical flatfile as SeisBench metadata columns (for joining records at ingestion).

    Columns: ``trace_rsn`` (the record id as a number where it is one), ``source_id``,
    ``source_event_name``, ``source_magnitude``, ``source_depth_km``, ``source_latitude_deg``,
    ``source_longitude_deg``, ``station_latitude_deg``, ``station_longitude_deg``,
    ``station_vs30_mps``, ``station_vs30_source``, ``path_hyp_distance_km``,
    ``path_ep_distance_km``.
    """
    out = pd.DataFrame({
        "trace_rsn": pd.to_numeric(table["record_id"], errors="coerce"),
        "source_id": table["event_id"], "source_event_name": table["event_name"],
        "source_magnitude": table["magnitude"], "source_depth_km": table["depth_km"],
        "source_latitude_deg": table["event_latitude"], "source_longitude_deg": table["event_longitude"],
        "station_latitude_deg": table["station_latitude"], "station_longitude_deg": table["station_longitude"],
        "station_vs30_mps": table["vs30_mps"],
        "station_vs30_source": table["vs30_source"].where(table["vs30_source"] != "unknown", "measured"),
        "path_hyp_distance_km": table["rhyp_km"], "path_ep_distance_km": table["repi_km"]})
    return out


# -- the evaluation --------------------------------------------------------------------------
@dataclass
class FlatfileResult:
    """What :func:`evaluate_flatfile` returns: ``metrics.json`` content, the residual table
    (one row per flatfile row, IM and source), the console summary and the report folder."""

    metrics: dict
    residuals: pd.DataFrame
    summary: str
    output: Path | None


def _conditioning(table: pd.DataFrame) -> pd.DataFrame:
    gap = table["gap_deg"].astype(float)
    return pd.DataFrame({"magnitude": table["magnitude"].to_numpy(float),
                         "distance": table["rhyp_km"].to_numpy(float),
                         "vs30": table["vs30_mps"].to_numpy(float),
                         "depth": table["depth_km"].to_numpy(float),
                         "gap": gap.fillna(DEFAULT_GAP_DEG).to_numpy(float)})


def _model_ims(model: Any, cond: pd.DataFrame, ims: list[str], realizations: int, seed: int, batch_size: int,
               bar: Any, allow_extrapolation: bool) -> tuple[np.ndarray, list[str]]:
    """(rows, N, len(ims)) ln IM of a generator's realisations (NaN where out of its range)."""
    import warnings

    from quakesynth.evaluate.features import intensity_measures
    from quakesynth.metrics.ims import format_period

    n = len(cond)
    out = np.full((n, realizations, len(ims)), np.nan)
    notes = []
    ok = np.ones(n, bool)
    for var in model.variables:
        x = cond[var].to_numpy(float)
        bad = ~np.isfinite(x)
        if var in (getattr(model, "ranges", {}) or {}) and not allow_extrapolation:
            lo, hi = model.ranges[var]
            bad |= (x < lo) | (x > hi)
        if bad.any():
            notes.append(f"{int(bad.sum())} row(s) without {var} or outside the model's {var} range left out")
        ok &= ~bad
    if {"distance", "depth"} <= set(model.variables):
        short = ok & (cond["distance"].to_numpy(float) < cond["depth"].to_numpy(float))
        if short.any():
            notes.append(f"{int(short.sum())} row(s) with hypocentral distance below the depth left out")
        ok &= ~short
    rows = np.flatnonzero(ok)
    bar.update((n - rows.size) * realizations)
    if rows.size == 0:
        return out, notes
    tab = cond.iloc[rows][list(model.variables)].reset_index(drop=True)
    tab["n"] = realizations
    periods = [sa_period(im) for im in ims if sa_period(im) is not None]
    cols = []
    for im in ims:
        T = sa_period(im)
        cols.append("PGA_RotD50_g" if im == "PGA" else "PGV_RotD50_cm/s" if im == "PGV"
                    else f"PSA{format_period(T)}_RotD50_g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rec in model.iter_table(tab, seed=seed, batch_size=batch_size, allow_extrapolation=allow_extrapolation):
            idx = rec.metadata["scenario_index"].to_numpy(np.int64)
            k = rec.metadata["realization"].to_numpy(np.int64)
            data, comps = rec.data, rec.components
            if "Z" in comps:  # compare the horizontals: flatfile IMs are horizontal RotD50
                keep = [i for i, c in enumerate(comps) if c != "Z"]
                data, comps = data[:, keep], comps.replace("Z", "")
            t = intensity_measures(data, rec.fs, comps, periods, threads=None, which="core")
            vals = t[cols].to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[rows[idx], k] = np.where(vals > 0, np.log(vals), np.nan)
            bar.update(len(rec))
    return out, notes


def _gmm_ln(gmm: Any, im: str, cond: pd.DataFrame) -> np.ndarray:
    """ln median of a GMM (g; cm/s for PGV) per row; NaN outside its range or IM."""
    from quakesynth.evaluate.analysis import LN10, gmm_predict, supports

    imt = im if im in ("PGA", "PGV") else f"SA({sa_period(im):g})"
    if not supports(gmm, imt):
        return np.full(len(cond), np.nan)
    c = pd.DataFrame({"magnitude": cond["magnitude"], "distance_km": cond["distance"],
                      "vs30_mps": cond["vs30"], "depth_km": cond["depth"]})
    mu, _ = gmm_predict(gmm, imt, c)
    return mu * LN10


def _binned(values: np.ndarray, x: np.ndarray, edges) -> dict:
    edges = np.asarray(edges, float)
    i = bin_index(x, edges, include_last_edge=False)
    out = {"edges": [float(e) for e in edges], "mean": [], "std": [], "n": []}
    for b in range(len(edges) - 1):
        v = values[(i == b) & np.isfinite(values)]
        out["n"].append(int(v.size))
        out["mean"].append(float(v.mean()) if v.size else None)
        out["std"].append(float(v.std(ddof=1)) if v.size > 1 else None)
    return out


#: Bin edges of the residual tables: magnitude, hypocentral distance (km), Vs30 (m/s).
BIN_EDGES = {"magnitude": (3.0, 4.5, 5.5, 6.5, 7.5, 9.0), "distance": (0.0, 10.0, 30.0, 60.0, 100.0, 200.0, 1000.0),
             "vs30": (0.0, 180.0, 360.0, 760.0, 1500.0, 5000.0)}


def decompose(table: pd.DataFrame, pred: dict[str, dict[str, np.ndarray]], ims: list[str]) -> tuple[dict, pd.DataFrame]:
    """Mixed-effects decomposition of ``ln obs - pred`` for each source and IM.

    ``pred[source][im]``: (rows,) ln prediction. Returns the metrics (per source and IM: bias,
    its standard error, tau, phi_S2S, phi_0, phi, sigma, counts, binned residuals, notes) and
    the long residual table (record, event, station, source, im, total, event_term,
    site_term, within).
    """
    from quakesynth.evaluate.mixed import fit_mixed_effects

    cond = _conditioning(table)
    out: dict[str, dict] = {}
    parts = []
    for src, by_im in pred.items():
        out[src] = {}
        for im in ims:
            obs = np.log(table[im].to_numpy(float))
            r = obs - by_im[im]
            ok = np.isfinite(r)
            e: dict[str, Any] = {"n": int(ok.sum())}
            if ok.sum() < 3:
                e["note"] = f"only {int(ok.sum())} residual(s)"
                out[src][im] = e
                continue
            fit = fit_mixed_effects(r[ok], table["event_id"].to_numpy()[ok], table["station_id"].to_numpy()[ok])
            e.update({"bias": fit.bias, "bias_se": fit.bias_se, "tau": fit.tau, "phi_s2s": fit.phi_s2s,
                      "phi_0": fit.phi_0, "phi": fit.phi, "sigma": fit.sigma, "n_events": fit.n_events,
                      "n_stations_repeated": fit.n_stations, "converged": fit.converged, "notes": list(fit.notes)})
            if fit.n_events < 2:
                e["notes"].append("one event: tau is not estimable (small sample)")
            elif fit.n_events < 10:
                e["notes"].append(f"{fit.n_events} events: tau from fewer than 10 events (small sample)")
            ev = table["event_id"].to_numpy()[ok]
            st = table["station_id"].to_numpy()[ok]
            eta = np.array([fit.event_terms.get(x, np.nan) for x in ev])
            s2s = np.array([fit.site_terms.get(x, 0.0) for x in st])
            within = fit.within
            # binned: event terms against magnitude (one per event), within-event against R and Vs30
            first = pd.Series(np.arange(ok.sum())).groupby(ev).first().to_numpy()
            e["binned"] = {
                "event_term_vs_magnitude": _binned(eta[first], cond["magnitude"].to_numpy()[ok][first], BIN_EDGES["magnitude"]),
                "within_vs_distance": _binned(within, cond["distance"].to_numpy()[ok], BIN_EDGES["distance"]),
                "within_vs_vs30": _binned(within, cond["vs30"].to_numpy()[ok], BIN_EDGES["vs30"]),
                "total_vs_magnitude": _binned(r[ok], cond["magnitude"].to_numpy()[ok], BIN_EDGES["magnitude"]),
            }
            by_src = {}
            for cls in sorted(set(table["vs30_source"].to_numpy()[ok])):
                sel = table["vs30_source"].to_numpy()[ok] == cls
                by_src[cls] = {"n": int(sel.sum()), "mean_total": float(r[ok][sel].mean())}
            e["by_vs30_source"] = by_src
            out[src][im] = e
            parts.append(pd.DataFrame({"record_id": table["record_id"].to_numpy()[ok], "event_id": ev,
                                       "station_id": st, "source": src, "im": im, "total": r[ok],
                                       "event_term": eta, "site_term": s2s, "within": within,
                                       "magnitude": cond["magnitude"].to_numpy()[ok],
                                       "distance_km": cond["distance"].to_numpy()[ok],
                                       "vs30_mps": cond["vs30"].to_numpy()[ok]}))
    res = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out, res


def evaluate_flatfile(flatfile: str | os.PathLike | pd.DataFrame, models: dict[str, Any] | list[str],
                      gmms: dict[str, Any] | list[str] = (), output: str | os.PathLike | None = None, *,
                      format: str = "auto", realizations: int = 1, seed: int = 0, max_rows: int = 0,
                      batch_size: int = 64, periods: tuple[float, ...] | None = None,
                      out_of_range: str = "drop", overwrite: bool = False, progress: bool = False) -> FlatfileResult:
    """Evaluate generators and GMMs against a flatfile of observed IMs (no waveforms needed).

    Parameters
    ----------
    flatfile : path of the table (see :data:`FORMATS`) or a canonical table (:func:`read_flatfile`).
    models : names/paths (``LABEL=PATH``) or label -> generator; may be empty when GMMs are given.
    gmms : GMM names (``NAME[:REGION]``) or label -> GMM.
    output : report folder (``index.html``, ``metrics.json``, ``residuals.parquet``/``.csv``,
        ``summary.txt``); None writes nothing.
    realizations : waveforms per model and row.
    seed : seed of generation and of the row subset.
    max_rows : keep a seeded random subset of this many rows (0: all).
    periods : PSA periods to compare (s); default: every SA column of the table.
    out_of_range : ``drop`` rows outside a model's range (for that model), or ``extrapolate``.
    progress : progress bar on stderr (waveforms).

    Returns a :class:`FlatfileResult`. Raises ``ValueError`` for a bad table, no model and no
    GMM, or no usable row.
    """
    from tqdm.auto import tqdm

    from quakesynth._atomic import atomic_path, check_writable
    from quakesynth.evaluate.run import load_gmms, load_models

    t0 = time.perf_counter()
    if output is not None:
        check_writable(output, overwrite)
    if not models and not gmms:
        raise ValueError("flatfile mode needs at least one --model or --gmm")
    if out_of_range not in ("drop", "extrapolate"):
        raise ValueError(f"out_of_range must be drop or extrapolate in flatfile mode; got {out_of_range!r}")
    if isinstance(flatfile, pd.DataFrame):
        table, fmt = flatfile.reset_index(drop=True), "canonical"
    else:
        table, fmt = read_flatfile(flatfile, format)
    model_objs = dict(models) if isinstance(models, dict) else (load_models(list(models)) if models else {})
    gmm_objs = dict(gmms) if isinstance(gmms, dict) else load_gmms(list(gmms))
    notes: list[str] = []
    n_in = len(table)
    usable = table["magnitude"].notna() & table["rhyp_km"].notna() & table["event_id"].notna()
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} row(s) without magnitude, distance or event id left out")
    table = table[usable].reset_index(drop=True)
    if max_rows and len(table) > max_rows:
        keep = np.sort(np.random.default_rng([seed, 2]).choice(len(table), size=max_rows, replace=False))
        table = table.iloc[keep].reset_index(drop=True)
        notes.append(f"seeded random subset of {max_rows} of {int(usable.sum())} rows (seed {seed})")
    if len(table) == 0:
        raise ValueError("no usable row in the flatfile (magnitude, distance and event id are needed)")
    ims = im_columns(table)
    if periods is not None:
        want = {f"SA({float(T):g})" for T in periods}
        ims = [im for im in ims if sa_period(im) is None or im in want]
    if table["gap_deg"].isna().any():
        notes.append(f"{int(table['gap_deg'].isna().sum())} row(s) without azimuthal gap: "
                     f"{DEFAULT_GAP_DEG:g} degrees assumed")
    cond = _conditioning(table)
    pred: dict[str, dict[str, np.ndarray]] = {}
    timing: dict[str, float] = {}
    sigma_model: dict[str, dict[str, float | None]] = {}
    total = len(table) * realizations * len(model_objs)
    bar = tqdm(total=total, disable=not progress or total == 0, desc="flatfile", unit="wf")
    try:
        for label, model in model_objs.items():
            t = time.perf_counter()
            lnims, mnotes = _model_ims(model, cond, ims, realizations, seed, batch_size, bar,
                                       out_of_range == "extrapolate")
            notes += [f"{label}: {m}" for m in mnotes]
            with np.errstate(invalid="ignore"):
                pred[label] = {im: np.nanmean(lnims[:, :, j], axis=1) if realizations > 1 else lnims[:, 0, j]
                               for j, im in enumerate(ims)}
                sigma_model[label] = {im: (float(np.nanmean(np.nanstd(lnims[:, :, j], axis=1, ddof=1)))
                                           if realizations > 1 else None) for j, im in enumerate(ims)}
            timing[f"{label}_s"] = time.perf_counter() - t
    finally:
        bar.close()
    for label, g in gmm_objs.items():
        t = time.perf_counter()
        pred[label] = {im: _gmm_ln(g, im, cond) for im in ims}
        timing[f"{label}_s"] = time.perf_counter() - t
    t = time.perf_counter()
    per, residuals = decompose(table, pred, ims)
    timing["decompose_s"] = time.perf_counter() - t
    timing["total_s"] = time.perf_counter() - t0
    for label in model_objs:
        for im in ims:
            per[label][im]["model_sigma_within_row"] = sigma_model[label][im]
    metrics = {"run": {"flatfile": str(flatfile) if not isinstance(flatfile, pd.DataFrame) else "table",
                       "format": fmt, "rows_in": int(n_in), "rows": int(len(table)),
                       "events": int(table["event_id"].nunique()), "stations": int(table["station_id"].nunique()),
                       "models": list(model_objs), "gmms": list(gmm_objs), "realizations": int(realizations),
                       "seed": int(seed), "ims": ims, "unit": "natural log", "notes": notes,
                       "timing": {k: round(v, 3) for k, v in timing.items()},
                       "vs30_source_counts": {str(k): int(v) for k, v in table["vs30_source"].value_counts().items()}},
               "residuals": per}
    metrics = to_plain(metrics, nonfinite="none", digits=6)
    summary = console_summary(metrics)
    out_path = None
    if output is not None:
        with atomic_path(output, overwrite=overwrite, directory=True) as tmp:
            tmp = Path(tmp)
            tmp.chmod(0o755)
            import json

            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False) + "\n", encoding="utf-8")
            try:
                residuals.to_parquet(tmp / "residuals.parquet", index=False)
            except ImportError:
                residuals.to_csv(tmp / "residuals.csv", index=False)
            (tmp / "summary.txt").write_text(summary + "\n", encoding="utf-8")
            (tmp / "index.html").write_text(build_html(metrics, residuals), encoding="utf-8")
        out_path = Path(output)
    return FlatfileResult(metrics=metrics, residuals=residuals, summary=summary, output=out_path)


_COLS = ("bias", "tau", "phi_s2s", "phi_0", "phi", "sigma", "n", "n_events")


def console_summary(metrics: dict) -> str:
    """Fixed-width table: one line per source and IM (natural-log units)."""
    from quakesynth.evaluate.report import fmt

    head = f"{'source':<18} {'IM':<9}" + "".join(f"{c:>9}" for c in _COLS)
    lines = [head, "-" * len(head)]
    for src, by_im in metrics["residuals"].items():
        for im, e in by_im.items():
            cells = []
            for c in _COLS:
                v = e.get(c)
                cells.append(f"{'-' if v is None else fmt(v):>9}")
            flag = " *" if any("small sample" in n for n in e.get("notes", [])) else ""
            lines.append(f"{src:<18} {im:<9}" + "".join(cells) + flag)
    if any("small sample" in n for by in metrics["residuals"].values() for e in by.values() for n in e.get("notes", [])):
        lines.append("* small sample: tau from fewer than 10 events (see metrics.json notes)")
    return "\n".join(lines)


def _figures(metrics: dict, residuals: pd.DataFrame) -> list[tuple[str, Any]]:
    """Residual plots modellers expect: event terms vs M, within-event vs R and vs Vs30 (per IM,
    every source side by side)."""
    if residuals.empty:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = []
    sources = list(metrics["residuals"])
    for im in metrics["run"]["ims"]:
        sub = residuals[residuals["im"] == im]
        if sub.empty:
            continue
        fig, axes = plt.subplots(len(sources), 3, figsize=(11, 2.4 * len(sources)), squeeze=False)
        for i, src in enumerate(sources):
            s = sub[sub["source"] == src]
            ev = s.groupby("event_id").first()
            for j, (x, y, xl, logx) in enumerate(((ev["magnitude"], ev["event_term"], "magnitude", False),
                                                   (s["distance_km"], s["within"], "Rhyp (km)", True),
                                                   (s["vs30_mps"], s["within"], "Vs30 (m/s)", True))):
                ax = axes[i, j]
                ax.scatter(x, y, s=4, alpha=0.4)
                ax.axhline(0.0, color="k", lw=0.8)
                if logx:
                    ax.set_xscale("log")
                ax.set_xlabel(xl, fontsize=8)
                ax.set_ylabel(("event term" if j == 0 else "within-event") + f" ({src})", fontsize=8)
                ax.tick_params(labelsize=7)
        fig.tight_layout()
        figs.append((f"{im}: between-event terms against magnitude, within-event residuals against "
                     "distance and Vs30 (ln units)", fig))
    return figs


def build_html(metrics: dict, residuals: pd.DataFrame) -> str:
    """The self-contained flatfile report page."""
    import html as _html

    from quakesynth.evaluate.report import _CSS, Num, figure_html, note, table

    run = metrics["run"]
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>quakesynth flatfile evaluation"
             f"</title><style>{_CSS}</style></head><body><header><h1>quakesynth flatfile evaluation</h1>"
             f"<p>{_html.escape(str(run['flatfile']))} ({run['format']}): {run['rows']} rows, {run['events']} events, "
             f"{run['stations']} stations &middot; models: {_html.escape(', '.join(run['models']) or 'none')} &middot; "
             f"GMMs: {_html.escape(', '.join(run['gmms']) or 'none')} &middot; {run['realizations']} realisation(s)</p></header>"]
    rows = []
    for src, by_im in metrics["residuals"].items():
        for im, e in by_im.items():
            rows.append([src, im, *[Num(metrics, "residuals", src, im, c) if e.get(c) is not None else "-" for c in _COLS],
                         "; ".join(e.get("notes", [])) or e.get("note", "")])
    body = note("Residuals r = ln IM_obs - ln IM_pred (a model's mean ln IM over its realisations; a GMM's ln median), "
                "split by a crossed random-effects fit (REML): bias c, between-event tau, site-to-site phi_S2S "
                "(stations with several records), remaining phi_0, within-event phi and total sigma.")
    body += table(["source", "IM", *_COLS, "notes"], rows, "Mixed-effects decomposition (natural-log units)")
    for src, by_im in metrics["residuals"].items():
        for im, e in by_im.items():
            if "binned" not in e:
                continue
            brows = []
            for key, b in e["binned"].items():
                edges = b["edges"]
                for k in range(len(edges) - 1):
                    if b["n"][k]:
                        brows.append([key, f"{edges[k]:g}-{edges[k + 1]:g}",
                                      Num(metrics, "residuals", src, im, "binned", key, "mean", k),
                                      Num(metrics, "residuals", src, im, "binned", key, "std", k) if b["std"][k] is not None else "-",
                                      Num(metrics, "residuals", src, im, "binned", key, "n", k)])
            for cls in e.get("by_vs30_source", {}):
                brows.append(["total by Vs30 source", cls, Num(metrics, "residuals", src, im, "by_vs30_source", cls, "mean_total"),
                              "-", Num(metrics, "residuals", src, im, "by_vs30_source", cls, "n")])
            body += table(["residual", "bin", "mean", "std", "n"], brows, f"{src} {im}: binned residuals", collapsed=True)
    if run["notes"]:
        body += "<ul>" + "".join(f"<li>{_html.escape(n)}</li>" for n in run["notes"]) + "</ul>"
    body += "".join(figure_html(c, f) for c, f in _figures(metrics, residuals))
    parts.append(f'<section id="residuals"><h2>Residuals</h2>{body}</section></body></html>')
    return "\n".join(parts)
