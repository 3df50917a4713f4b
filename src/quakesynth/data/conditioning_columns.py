"""Conditioning features of each record: distances, back azimuth, azimuthal gap, Vs30.

HighFEM conditions on magnitude, hypocentral distance, Vs30, hypocentre depth and the event's
azimuthal gap. Magnitude and depth come from the event metadata; this module computes the
rest from event and station coordinates (ObsPy geodetics on the WGS84 ellipsoid) and a
station table.

- epicentral distance ``R_epi`` (km) and back azimuth (station to event, degrees from north)
  with :func:`obspy.geodetics.gps2dist_azimuth`;
- hypocentral distance ``R_hyp = sqrt(R_epi^2 + depth^2)`` (km; station elevation ignored, as
  in ground-motion models);
- azimuthal gap of an event: the largest angle between the azimuths (event to station) of
  consecutive stations, computed from *all* of the event's stations in the input;
- Vs30 (m/s) joined by station code from a table such as ``stations_vs30_japan.csv``
  (``STATION,VS30(m/s)``), then a stated fallback (:func:`fill_vs30`);
  ``station_vs30_source`` is ``measured``, ``inferred`` or ``assumed``.

The gap itself is :func:`quakesynth.geometry.azimuthal_gap` (NaN for an event without stations).
Events with fewer than three stations: the gap of one station is 360 degrees and of two the
larger of their two angles, which says nothing about the source-station geometry of a network
and lies outside every model's range. At ingestion such events get a stated gap
(``sparse_gap_deg``, default 180 degrees) with ``path_azimuthal_gap_source`` =
``assumed (N station(s))`` (see :mod:`quakesynth.data.ingest`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.geometry import azimuthal_gap  # the one definition; kept importable from here


def distances(source_lat, source_lon, source_depth_km, station_lat, station_lon
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Epicentral and hypocentral distance, back azimuth and azimuth for each record.

    Parameters
    ----------
    source_lat, source_lon : epicentres, degrees, shape (N,).
    source_depth_km : hypocentre depths, km, shape (N,).
    station_lat, station_lon : stations, degrees, shape (N,).

    Returns
    -------
    r_epi_km, r_hyp_km, back_azimuth_deg, azimuth_deg : arrays (N,); NaN where an input is
    missing. ``azimuth`` points from the event to the station, ``back_azimuth`` from the
    station to the event.

    >>> r_epi, r_hyp, baz, az = distances([0.0], [0.0], [10.0], [0.0], [1.0])
    >>> round(float(r_epi[0]), 1), round(float(baz[0]), 1)
    (111.3, 270.0)
    """
    from obspy.geodetics import gps2dist_azimuth

    la, lo, d, sla, slo = (np.atleast_1d(np.asarray(v, dtype=np.float64))
                           for v in (source_lat, source_lon, source_depth_km, station_lat, station_lon))
    n = la.shape[0]
    for name, v in (("source_lon", lo), ("source_depth_km", d), ("station_lat", sla),
                    ("station_lon", slo)):
        if v.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like source_lat; got {v.shape}")
    r_epi, baz, az = (np.full(n, np.nan) for _ in range(3))
    ok = np.isfinite(la) & np.isfinite(lo) & np.isfinite(sla) & np.isfinite(slo)
    for i in np.flatnonzero(ok):
        dist_m, az_i, baz_i = gps2dist_azimuth(la[i], lo[i], sla[i], slo[i])
        r_epi[i], az[i], baz[i] = dist_m / 1000.0, az_i, baz_i
    r_hyp = np.hypot(r_epi, d)
    return r_epi, r_hyp, baz, az


def _event_azimuths(source_id, azimuth_deg, station_key=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All records (``sid``, ``az``, ``st``: event, azimuth, station; each record its own station
    without ``station_key``) and those with an event id and a known azimuth."""
    df = pd.DataFrame({"sid": pd.Series(source_id, dtype="string"),
                       "az": np.asarray(azimuth_deg, dtype=np.float64)})
    df["st"] = pd.Series(station_key, dtype="string") if station_key is not None else pd.Series(
        np.arange(len(df)).astype(str), dtype="string")
    return df, df[df["sid"].notna() & np.isfinite(df["az"])]


def event_station_counts(source_id, azimuth_deg, station_key=None) -> np.ndarray:
    """Number of distinct stations with a known azimuth of each record's event, shape (N,)."""
    df, valid = _event_azimuths(source_id, azimuth_deg, station_key)
    counts = valid.drop_duplicates(["sid", "st"]).groupby("sid").size()
    return np.array([int(counts.get(s, 0)) if isinstance(s, str) else 0 for s in df["sid"].tolist()])


def event_gaps(source_id, azimuth_deg, station_key=None) -> np.ndarray:
    """Azimuthal gap of each record's event, from all records of that event.

    Parameters
    ----------
    source_id : event id per record, shape (N,).
    azimuth_deg : event-to-station azimuth per record, shape (N,) (NaN where unknown).
    station_key : optional station identifier per record; a station recorded twice (e.g.
        surface and borehole sensors) counts once.

    Returns
    -------
    gap_deg : array (N,), NaN for records without event id or azimuth.
    """
    df, valid = _event_azimuths(source_id, azimuth_deg, station_key)
    gaps = {}
    for sid, g in valid.groupby("sid", sort=True):
        gaps[sid] = azimuthal_gap(g.drop_duplicates("st")["az"].to_numpy())
    return np.array([gaps.get(s, np.nan) if isinstance(s, str) else np.nan for s in df["sid"].tolist()],
                    dtype=np.float64)


# -- station table ------------------------------------------------------------------------
_STATION_ALIASES = {
    "station_code": ("station", "station_code", "sta", "code", "receiver_code"),
    "station_vs30_mps": ("vs30(m/s)", "vs30", "vs30_mps", "station_vs30_mps", "vs30 (m/s)"),
    "station_network_code": ("network", "net", "network_code", "station_network_code"),
    "station_latitude_deg": ("latitude", "lat", "station_latitude_deg", "stla"),
    "station_longitude_deg": ("longitude", "lon", "long", "station_longitude_deg", "stlo"),
    "station_elevation_m": ("elevation", "elevation_m", "elev", "station_elevation_m", "height(m)"),
}


#: Classes of ``station_vs30_source``: how a record's Vs30 was obtained.
VS30_SOURCES = ("measured", "inferred", "assumed")


def read_station_table(path: str | os.PathLike, kind: str = "measured") -> pd.DataFrame:
    """Read a station table (CSV) with at least a station code and Vs30 (m/s).

    Column names are matched case-insensitively (``STATION``/``station_code``,
    ``VS30(m/s)``/``vs30``; optional ``network``, ``latitude``, ``longitude``,
    ``elevation``). Returns a frame indexed by station code with SeisBench column names,
    ``station_vs30_source`` set to ``kind`` (``measured`` for a table of measured profiles,
    ``inferred`` for a proxy table such as slope- or geology-based Vs30) and
    ``station_vs30_reference`` to the file name. A Vs30 <= 0 (the ``-999`` placeholder of
    real tables) counts as missing.

    Raises ``ValueError`` for a file without those columns, a Vs30 that is not a number, or
    a station listed twice with different Vs30.
    """
    if kind not in VS30_SOURCES:
        raise ValueError(f"kind must be one of {VS30_SOURCES}; got {kind!r}")
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"station table {str(path)!r} is not a readable CSV file: {e}") from e
    lower = {c.strip().lower(): c for c in raw.columns}
    cols = {}
    for target, aliases in _STATION_ALIASES.items():
        for a in aliases:
            if a in lower:
                cols[target] = lower[a]
                break
    for need in ("station_code", "station_vs30_mps"):
        if need not in cols:
            raise ValueError(f"station table {str(path)!r} needs a {need} column (one of "
                             f"{list(_STATION_ALIASES[need])}); has {list(raw.columns)}")
    out = pd.DataFrame({t: raw[c] for t, c in cols.items()})
    out["station_code"] = out["station_code"].str.strip()
    for c in out.columns:
        if c not in ("station_code", "station_network_code"):
            num = pd.to_numeric(out[c], errors="coerce")
            bad = num.isna() & out[c].notna() & (out[c].str.strip() != "")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(f"station table {str(path)!r}: {cols[c]}={out[c].iloc[i]!r} "
                                 f"(station {out['station_code'].iloc[i]}) is not a number")
            out[c] = num.astype("float64")
    # non-positive Vs30 (e.g. the -999 "no value" of real tables) is missing, not an error
    out.loc[out["station_vs30_mps"] <= 0, "station_vs30_mps"] = np.nan
    dup = out[out.duplicated("station_code", keep=False)]
    if len(dup) and (dup.groupby("station_code")["station_vs30_mps"].nunique(dropna=False) > 1).any():
        name = dup["station_code"].iloc[0]
        raise ValueError(f"station table {str(path)!r} lists station {name} twice with different Vs30")
    out = out.drop_duplicates("station_code").set_index("station_code")
    out["station_vs30_source"] = kind
    out["station_vs30_reference"] = path.name
    return out


def join_stations(metadata: pd.DataFrame, table: pd.DataFrame | None) -> pd.DataFrame:
    """Fill Vs30 (and missing station coordinates) from a station table, by station code.

    Values already in ``metadata`` are kept; a copy is returned. ``table`` comes from
    :func:`read_station_table`.
    """
    meta = metadata.copy()
    if table is None or meta.empty:
        return meta
    codes = meta["station_code"].astype("string")
    for col in ("station_vs30_mps", "station_latitude_deg", "station_longitude_deg", "station_elevation_m"):
        if col not in table:
            continue
        looked = codes.map(table[col]).astype("float64").to_numpy(na_value=np.nan)
        have = meta[col].astype("float64").to_numpy(na_value=np.nan)
        fill = np.isnan(have) & np.isfinite(looked)
        if fill.any():
            have = have.copy()
            have[fill] = looked[fill]
            meta[col] = have
            if col == "station_vs30_mps":
                for c in ("station_vs30_source", "station_vs30_reference"):
                    src = (meta[c].astype("string").copy() if c in meta
                           else pd.Series(pd.NA, index=meta.index, dtype="string"))
                    src[fill] = codes[fill].map(table[c])
                    meta[c] = src
    return meta


def fill_vs30(metadata: pd.DataFrame, fallback: float | pd.DataFrame | None = None) -> pd.DataFrame:
    """Vs30 of every record from, in order: the record, (the station table, already joined by
    :func:`join_stations`), then ``fallback`` (copy).

    ``station_vs30_source`` says how each Vs30 was obtained (:data:`VS30_SOURCES`): a Vs30
    that came with the record is ``measured`` unless its source says ``inferred``; a proxy
    table (``fallback`` as read by :func:`read_station_table` with ``kind="inferred"``)
    gives ``inferred``; a constant ``fallback`` (m/s) gives ``assumed``.
    ``station_vs30_reference`` names where it came from (``record``, a table file,
    ``constant 400 m/s``). Records still without Vs30 keep NaN.
    """
    meta = metadata.copy()
    v = meta["station_vs30_mps"].astype("float64").to_numpy(na_value=np.nan).copy()
    for c in ("station_vs30_source", "station_vs30_reference"):
        if c not in meta:
            meta[c] = pd.Series(pd.NA, index=meta.index, dtype="string")
        meta[c] = meta[c].astype("string")
    have = np.isfinite(v)
    src = meta["station_vs30_source"]
    known = src.isin(list(VS30_SOURCES)).to_numpy(dtype=bool)
    rec_given = have & ~known
    meta.loc[rec_given, "station_vs30_source"] = "measured"
    meta.loc[rec_given & meta["station_vs30_reference"].isna().to_numpy(), "station_vs30_reference"] = "record"
    if fallback is None or have.all():
        return meta
    need = ~have
    if isinstance(fallback, pd.DataFrame):
        looked = meta["station_code"].astype("string").map(fallback["station_vs30_mps"]).astype("float64")
        looked = looked.to_numpy(na_value=np.nan)
        fill = need & np.isfinite(looked)
        v[fill] = looked[fill]
        meta.loc[fill, "station_vs30_source"] = "inferred"
        meta.loc[fill, "station_vs30_reference"] = meta["station_code"].astype("string")[fill].map(
            fallback["station_vs30_reference"])
    else:
        f = float(fallback)
        if not (np.isfinite(f) and f > 0):
            raise ValueError(f"Vs30 fallback must be a positive speed in m/s; got {fallback!r}")
        v[need] = f
        meta.loc[need, "station_vs30_source"] = "assumed"
        meta.loc[need, "station_vs30_reference"] = f"constant {f:g} m/s"
    meta["station_vs30_mps"] = v
    return meta


def add_path_features(metadata: pd.DataFrame) -> pd.DataFrame:
    """Fill epicentral/hypocentral distance and back azimuth from coordinates (copy).

    Also adds the extra column ``path_azimuth_deg`` (event to station), used for the gap.
    Values already present (e.g. from a catalogue) are kept where the coordinates are missing.
    """
    meta = metadata.copy()
    f = lambda c: meta[c].astype("float64").to_numpy(na_value=np.nan)  # noqa: E731
    r_epi, r_hyp, baz, az = distances(f("source_latitude_deg"), f("source_longitude_deg"),
                                      f("source_depth_km"), f("station_latitude_deg"),
                                      f("station_longitude_deg"))
    for col, val in (("path_ep_distance_km", r_epi), ("path_hyp_distance_km", r_hyp),
                     ("path_back_azimuth_deg", baz), ("path_azimuth_deg", az)):
        old = f(col) if col in meta else np.full(len(meta), np.nan)
        meta[col] = np.where(np.isfinite(val), val, old)
    return meta
