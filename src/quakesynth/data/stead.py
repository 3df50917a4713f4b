"""STEAD (STanford EArthquake Dataset) HDF5 + CSV, as distributed by Mousavi et al. (2019).

A folder (or a pair of files) with a CSV of one row per trace and an HDF5 file holding each
trace as an array (6000, 3) at 100 Hz with channels in E, N, Z order, under
``data/<trace_name>`` (released files) or ``earthquake/local/<trace_name>`` /
``non_earthquake/noise/<trace_name>`` (early chunks). Samples are instrument counts (response
not removed): :class:`~quakesynth.records.Records` carry ``unit="counts"`` and the
``receiver_type``'s quantity (``HN*``: acceleration, else velocity). Noise traces are
reported as ``not_earthquake``.

Column mapping to SeisBench names: ``receiver_code`` -> ``station_code``,
``receiver_latitude`` -> ``station_latitude_deg``, ``p_arrival_sample`` ->
``trace_p_arrival_sample``, ``source_distance_km`` -> ``path_ep_distance_km``,
``back_azimuth_deg`` -> ``path_back_azimuth_deg``, ``source_gap_deg`` (the catalogue's
azimuthal gap) -> ``path_azimuthal_gap_deg``, ...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.data.ingest_report import Dropped
from quakesynth.records import Records

COLUMNS = {
    "network_code": "station_network_code",
    "receiver_code": "station_code",
    "receiver_latitude": "station_latitude_deg",
    "receiver_longitude": "station_longitude_deg",
    "receiver_elevation_m": "station_elevation_m",
    "p_arrival_sample": "trace_p_arrival_sample",
    "s_arrival_sample": "trace_s_arrival_sample",
    "source_id": "source_id",
    "source_origin_time": "source_origin_time",
    "source_latitude": "source_latitude_deg",
    "source_longitude": "source_longitude_deg",
    "source_depth_km": "source_depth_km",
    "source_magnitude": "source_magnitude",
    "source_magnitude_type": "source_magnitude_type",
    "source_distance_km": "path_ep_distance_km",
    "back_azimuth_deg": "path_back_azimuth_deg",
    "source_gap_deg": "path_azimuthal_gap_deg",
    "trace_start_time": "trace_start_time",
    "trace_name": "trace_name",
    "trace_category": "trace_category",
    "receiver_type": "station_type",
}
_GROUPS = ("data", "earthquake/local", "non_earthquake/noise")
FS = 100.0  # Hz, STEAD's sampling rate


def find_pair(path: Path) -> tuple[Path, Path] | None:
    """``(csv, hdf5)`` of a STEAD folder or of one of its files, or None."""
    path = Path(path)
    if path.is_dir():
        csvs, h5s = sorted(path.glob("*.csv")), sorted(list(path.glob("*.hdf5")) + list(path.glob("*.h5")))
        for h in h5s:
            for c in csvs:
                if c.stem == h.stem or (len(csvs) == 1 and len(h5s) == 1):
                    return c, h
        return None
    for c, h in ((path.with_suffix(".csv"), path.with_suffix(".hdf5")), (path, path.with_suffix(".hdf5"))):
        if c.exists() and h.exists() and c.suffix == ".csv":
            return c, h
    return None


def sniff(path: Path) -> bool:
    """Whether ``path`` is (or holds) a STEAD CSV + HDF5 pair (judged by the CSV columns)."""
    pair = find_pair(path)
    if pair is None:
        return False
    try:
        cols = pd.read_csv(pair[0], nrows=0).columns
    except Exception:  # noqa: BLE001 - not a CSV
        return False
    return {"receiver_code", "p_arrival_sample", "trace_name"} <= set(cols)


def count(path: Path) -> int:
    pair = find_pair(path)
    return 0 if pair is None else sum(1 for _ in open(pair[0])) - 1


def _iso(v) -> str | None:
    from quakesynth.data.events import iso_utc

    if not isinstance(v, str) or not v.strip() or v.strip() == "None":
        return None
    try:
        return iso_utc(v.strip())
    except Exception:  # noqa: BLE001
        return None


def read(path: Path, batch_size: int = 256) -> Iterator[Records | Dropped]:
    """Yield batches of STEAD records (ZNE, counts) and a Dropped per unusable trace."""
    import h5py

    csv_path, h5_path = find_pair(path)
    source = str(h5_path)
    meta = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    meta = meta.replace({"None": "", "nan": ""})
    with h5py.File(h5_path, "r") as f:
        batch: dict[str, list] = {}
        for _, row in meta.iterrows():
            name = row["trace_name"]
            rtype = row.get("receiver_type", "")
            quantity = "acceleration" if rtype.upper().startswith(("HN", "HL", "HG")) else "velocity"
            if row.get("trace_category", "").startswith("noise") or "noise" in row.get("trace_category", ""):
                yield Dropped(source, name, "read", "not_earthquake", f"trace_category={row['trace_category']!r}")
                continue
            ds = next((f[f"{g}/{name}"] for g in _GROUPS if f"{g}/{name}" in f), None)
            if ds is None:
                yield Dropped(source, name, "read", "unreadable", "trace listed in the CSV is not in the HDF5 file")
                continue
            try:
                x = np.asarray(ds[()], dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - corrupt HDF5 chunk
                yield Dropped(source, name, "read", "unreadable", f"HDF5 read failed: {e}")
                continue
            if x.ndim != 2 or 3 not in x.shape:
                yield Dropped(source, name, "read", "unreadable", f"array of shape {x.shape}, expected (T, 3)")
                continue
            x = x.T if x.shape[1] == 3 else x  # (3, T) in E, N, Z order
            zne = x[[2, 1, 0]]
            m = {COLUMNS[k]: v for k, v in row.items() if k in COLUMNS}
            for k in ("source_origin_time", "trace_start_time"):
                m[k] = _iso(m.get(k))
            m["trace_sampling_rate_hz"] = FS
            m["trace_source"] = source
            key = (quantity, zne.shape[1])
            batch.setdefault(key, []).append((zne, m))
            if len(batch[key]) >= batch_size:
                yield _records(batch.pop(key), quantity)
        for (quantity, _), items in batch.items():
            yield _records(items, quantity)


def _records(items: list, quantity: str) -> Records:
    data = np.stack([d for d, _ in items])
    meta = pd.DataFrame([m for _, m in items])
    for c in meta.columns:
        if c.endswith(("_deg", "_km", "_m", "_sample", "_hz")) or c == "source_magnitude":
            meta[c] = pd.to_numeric(meta[c], errors="coerce")
    rec = Records(data, fs=FS, components="ZNE", quantity=quantity, unit="counts", metadata=meta)
    rec.add_processing("read_stead", channel_order="ENZ -> ZNE")
    return rec
