"""SeisBench datasets (``metadata.csv`` + ``waveforms.hdf5``), read with SeisBench itself.

Any dataset :class:`seisbench.data.WaveformDataset` opens -- including the ones quakesynth
writes -- is read in its stored component order and sampling rate. The ``data_format``
group's ``measurement`` and ``unit`` give the quantity and unit: physical units are converted
to SI (``cm/s2`` -> ``m/s^2``), ``counts`` stay counts. Rows whose ``split`` is set keep it.
The record name is ``trace_name_original`` where SeisBench's writer kept one, else
``<dataset folder>/<trace_name>``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.data.ingest_report import Dropped
from quakesynth.records import Records

#: unit spellings found in SeisBench datasets -> (our unit, factor to it)
UNITS = {
    "m/s^2": ("m/s^2", 1.0), "m/s2": ("m/s^2", 1.0), "mps2": ("m/s^2", 1.0), "m/s**2": ("m/s^2", 1.0),
    "cm/s^2": ("m/s^2", 0.01), "cm/s2": ("m/s^2", 0.01), "gal": ("m/s^2", 0.01), "g": ("m/s^2", 9.80665),
    "m/s": ("m/s", 1.0), "mps": ("m/s", 1.0), "cm/s": ("m/s", 0.01), "nm/s": ("m/s", 1e-9),
    "m": ("m", 1.0), "cm": ("m", 0.01), "counts": ("counts", 1.0), "count": ("counts", 1.0),
}
QUANTITIES = {"acceleration": "acceleration", "velocity": "velocity", "displacement": "displacement",
              "acc": "acceleration", "vel": "velocity", "disp": "displacement"}
_INTERNAL = {"index", "trace_chunk", "trace_name_original", "trace_component_order", "trace_dataset"}


def sniff(path: Path) -> bool:
    """Whether ``path`` is a folder with ``metadata.csv`` and ``waveforms.hdf5``."""
    path = Path(path)
    return path.is_dir() and (path / "metadata.csv").is_file() and (path / "waveforms.hdf5").is_file()


def count(path: Path) -> int:
    return sum(1 for _ in open(Path(path) / "metadata.csv")) - 1


def quantity_unit(data_format: dict) -> tuple[str, str, float]:
    """``(quantity, unit, factor)`` from a SeisBench ``data_format`` (ValueError if unknown)."""
    meas = str(data_format.get("measurement", "")).strip().lower()
    unit = str(data_format.get("unit", "")).strip().lower()
    if not unit and "not restituted" in str(data_format.get("instrument_response", "")):
        unit = "counts"
    if meas not in QUANTITIES:
        raise ValueError(f"data_format measurement {meas!r} is not one of {sorted(QUANTITIES)}")
    if unit not in UNITS:
        raise ValueError(f"data_format unit {unit!r} is not one of {sorted(UNITS)}")
    q = QUANTITIES[meas]
    u, factor = UNITS[unit]
    return q, u, factor


def _iso(values: pd.Series) -> list:
    t = pd.to_datetime(values.astype("string").str.replace("/", "-", regex=False), errors="coerce", utc=True)
    return [None if pd.isna(v) else v.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for v in t]


def read(path: Path, batch_size: int = 256) -> Iterator[Records | Dropped]:
    """Yield batches of records (stored component order) and a Dropped per unusable trace."""
    import seisbench.data as sbd

    path = Path(path)
    source = str(path)
    probe = sbd.WaveformDataset(path, cache=None, dimension_order="NCW", component_order="ZNE")
    comps = str(probe.data_format.get("component_order", "ZNE"))
    ds = sbd.WaveformDataset(path, cache=None, dimension_order="NCW", component_order=comps)
    quantity, unit, factor = quantity_unit(ds.data_format)
    meta = ds.metadata.copy()
    names = (meta["trace_name_original"].astype("string") if "trace_name_original" in meta
             else path.name + "/" + meta["trace_name"].astype("string"))
    meta["trace_name"] = names
    for col in ("source_origin_time", "trace_start_time"):
        if col in meta:
            meta[col] = _iso(meta[col])
    keep_cols = [c for c in meta.columns if c not in _INTERNAL]
    meta = meta[keep_cols]
    meta["trace_source"] = source
    fs_col = meta["trace_sampling_rate_hz"].astype("float64").to_numpy()
    pending: dict[tuple, list[int]] = {}
    arrays: dict[int, np.ndarray] = {}

    def flush(key: tuple) -> Records:
        idx = pending.pop(key)
        data = np.stack([arrays.pop(i) for i in idx]) * factor
        rec = Records(data, fs=key[0], components=comps, quantity=quantity, unit=unit,
                      metadata=meta.iloc[idx].reset_index(drop=True))
        rec.add_processing("read_seisbench", dataset=path.name, factor_to_si=factor)
        return rec

    for i in range(len(ds)):
        name = str(meta["trace_name"].iloc[i])
        fs = float(fs_col[i])
        if not (math.isfinite(fs) and 0 < fs <= 20000.0):
            yield Dropped(source, name, "read", "impossible_sampling_rate", f"sampling rate {fs!r} Hz")
            continue
        try:
            w = np.asarray(ds.get_waveforms(i), dtype=np.float64)
        except Exception as e:  # noqa: BLE001 - corrupt HDF5 block or bad trace_name
            yield Dropped(source, name, "read", "unreadable", f"SeisBench could not read the trace: {e}")
            continue
        if w.ndim != 2 or w.shape[0] != len(comps) or w.shape[1] == 0:
            yield Dropped(source, name, "read", "unreadable", f"waveform of shape {w.shape}")
            continue
        key = (fs, w.shape[1])
        arrays[i] = w
        pending.setdefault(key, []).append(i)
        if len(pending[key]) >= batch_size:
            yield flush(key)
    for key in list(pending):
        yield flush(key)

