"""The record container: a batch of multi-component records with units and metadata.

One type moves through the whole project: readers return it, preprocessing transforms it,
the dataset store writes and streams it, models generate it, metrics and writers consume it.

Data are a float32 array of shape (N, C, T) -- records, components, samples -- with an
explicit sampling rate ``fs`` (Hz), component order (e.g. ``"ZNE"``, ``"ZRT"``), physical
quantity and unit. Metadata are a pandas DataFrame with one row per record whose column names
follow SeisBench's conventions (:data:`METADATA_COLUMNS`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.plain_json import to_plain
from quakesynth.scenario import CONDITIONING_COLUMNS as _CONDITIONING_COLUMNS
from quakesynth.scenario import column

#: Metadata columns (SeisBench naming) and their pandas dtypes. Readers fill what they know;
#: the rest stays missing (NaN / empty string), never invented.
METADATA_COLUMNS: dict[str, str] = {
    "trace_name": "string",  # unique record name
    "source_id": "string",  # event id
    "source_origin_time": "string",  # ISO 8601, UTC
    "source_magnitude": "float64",
    "source_magnitude_type": "string",  # e.g. "MJMA", "Mw"
    "source_latitude_deg": "float64",
    "source_longitude_deg": "float64",
    "source_depth_km": "float64",
    "station_network_code": "string",
    "station_code": "string",
    "station_location_code": "string",
    "station_latitude_deg": "float64",
    "station_longitude_deg": "float64",
    "station_elevation_m": "float64",
    "station_vs30_mps": "float64",  # time-averaged shear-wave velocity of the top 30 m, m/s
    "station_vs30_source": "string",  # where Vs30 came from (table file, "simulated", ...)
    "path_hyp_distance_km": "float64",
    "path_ep_distance_km": "float64",
    "path_back_azimuth_deg": "float64",
    "path_azimuthal_gap_deg": "float64",  # event's azimuthal station gap, degrees
    "trace_start_time": "string",  # ISO 8601, UTC
    "trace_sampling_rate_hz": "float64",
    "trace_p_arrival_sample": "float64",
    "trace_s_arrival_sample": "float64",
    "trace_processing": "string",  # JSON list of processing steps, oldest first
    "split": "string",  # "train" | "dev" | "test"
}

#: The five scenario variables of HighFEM and the metadata column each one lives in
#: (derived from the one table, :data:`quakesynth.scenario.SCENARIO_VARIABLES`).
CONDITIONING_COLUMNS = _CONDITIONING_COLUMNS

#: Units of each quantity in SI, and the conversions we accept.
QUANTITY_UNITS = {"acceleration": "m/s^2", "velocity": "m/s", "displacement": "m"}
_UNIT_FACTORS = {  # to SI
    "m/s^2": 1.0, "cm/s^2": 1e-2, "gal": 1e-2, "g": 9.80665,
    "m/s": 1.0, "cm/s": 1e-2, "m": 1.0, "cm": 1e-2,
}
G = 9.80665  # standard gravity, m/s^2
#: Raw digitiser units, accepted with any quantity: the instrument response is not removed
#: (as in STEAD and many SeisBench datasets); such data cannot be converted to SI units.
RAW_UNITS = ("counts",)

VALID_COMPONENTS = set("ZNE123RTXYH")


def _missing(n: int, dtype: str) -> pd.Series:
    return pd.Series([np.nan if dtype == "float64" else pd.NA] * n, dtype=dtype)


def empty_metadata(n: int) -> pd.DataFrame:
    """A metadata table of ``n`` rows with every standard column, all missing."""
    return pd.DataFrame({c: _missing(n, t) for c, t in METADATA_COLUMNS.items()})


def normalise_metadata(meta: pd.DataFrame | None, n: int) -> pd.DataFrame:
    """Return ``meta`` with every standard column present and typed; extra columns are kept."""
    if meta is None:
        return empty_metadata(n)
    if len(meta) != n:
        raise ValueError(f"metadata has {len(meta)} rows but data has {n} records")
    meta = meta.reset_index(drop=True).copy()
    for col, dtype in METADATA_COLUMNS.items():
        if col not in meta:
            meta[col] = _missing(n, dtype)
        elif str(meta[col].dtype) != dtype:  # astype only where needed (it copies)
            meta[col] = meta[col].astype(dtype)
    ordered = list(METADATA_COLUMNS) + [c for c in meta.columns if c not in METADATA_COLUMNS]
    return meta[ordered]


@dataclass
class Records:
    """A batch of records.

    Parameters
    ----------
    data : array (N, C, T), stored as float32.
    fs : sampling rate in Hz.
    components : component order, one letter per channel (e.g. ``"ZNE"``).
    quantity : ``"acceleration"``, ``"velocity"`` or ``"displacement"``.
    unit : SI unit of ``quantity`` (``"m/s^2"``, ``"m/s"``, ``"m"``).
    metadata : one row per record (see :data:`METADATA_COLUMNS`).

    >>> import numpy as np
    >>> r = Records(np.zeros((2, 3, 100)), fs=100.0, components="ZNE")
    >>> len(r), r.n_components, r.duration
    (2, 3, 1.0)
    """

    data: np.ndarray
    fs: float
    components: str = "ZNE"
    quantity: str = "acceleration"
    unit: str = "m/s^2"
    metadata: pd.DataFrame = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise ValueError(f"data must have shape (N, C, T); got shape {data.shape}")
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise ValueError(f"fs must be a positive sampling rate in Hz; got {self.fs!r}")
        self.fs = float(self.fs)
        if len(self.components) != self.data.shape[1]:
            raise ValueError(
                f"components={self.components!r} names {len(self.components)} channels "
                f"but data has {self.data.shape[1]}"
            )
        if not set(self.components) <= VALID_COMPONENTS or len(set(self.components)) != len(self.components):
            raise ValueError(f"components must be distinct letters of {''.join(sorted(VALID_COMPONENTS))}; got {self.components!r}")
        if self.quantity not in QUANTITY_UNITS:
            raise ValueError(f"quantity must be one of {sorted(QUANTITY_UNITS)}; got {self.quantity!r}")
        if self.unit != QUANTITY_UNITS[self.quantity] and self.unit not in RAW_UNITS:
            raise ValueError(
                f"unit {self.unit!r} does not match quantity {self.quantity!r} "
                f"(expected {QUANTITY_UNITS[self.quantity]!r}; convert with Records.to_unit)"
            )
        self.metadata = normalise_metadata(self.metadata, self.data.shape[0])

    # -- basic shape ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def n_components(self) -> int:
        return self.data.shape[1]

    @property
    def n_samples(self) -> int:
        return self.data.shape[2]

    @property
    def duration(self) -> float:
        """Window length in seconds."""
        return self.n_samples / self.fs

    @property
    def times(self) -> np.ndarray:
        """Sample times in seconds from the window start, shape (T,)."""
        return np.arange(self.n_samples) / self.fs

    def __getitem__(self, index: Any) -> Records:
        """Select records (int, slice, boolean mask or index array); always returns Records."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, pd.Series):
            index = index.to_numpy()
        idx = np.arange(len(self))[index]
        return self.replace(data=self.data[idx], metadata=self.metadata.iloc[idx])

    def replace(self, **changes: Any) -> Records:
        """A copy with some fields changed (metadata copied, data shared unless replaced)."""
        kw = dict(data=self.data, fs=self.fs, components=self.components, quantity=self.quantity,
                  unit=self.unit, metadata=self.metadata.copy())
        kw.update(changes)
        return Records(**kw)

    def __repr__(self) -> str:
        return (f"Records(n={len(self)}, components={self.components!r}, samples={self.n_samples}, "
                f"fs={self.fs:g} Hz, {self.quantity} in {self.unit})")

    @staticmethod
    def concat(parts: Sequence[Records]) -> Records:
        """Concatenate batches with the same fs, components, length, quantity and unit."""
        if not parts:
            raise ValueError("parts is empty: nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            for attr in ("fs", "components", "quantity", "unit", "n_samples"):
                if getattr(p, attr) != getattr(first, attr):
                    raise ValueError(f"cannot concatenate records with different {attr}: "
                                     f"{getattr(first, attr)!r} vs {getattr(p, attr)!r}")
        return first.replace(data=np.concatenate([p.data for p in parts]),
                             metadata=pd.concat([p.metadata for p in parts], ignore_index=True))

    # -- components ----------------------------------------------------------------------
    def select_components(self, components: str) -> Records:
        """Reorder or subset channels, e.g. ``records.select_components("NEZ")``."""
        missing = [c for c in components if c not in self.components]
        if missing:
            raise ValueError(f"components {''.join(missing)!r} not in {self.components!r}")
        idx = [self.components.index(c) for c in components]
        return self.replace(data=self.data[:, idx], components=components)

    def component(self, c: str) -> np.ndarray:
        """The (N, T) array of one component."""
        if c not in self.components:
            raise ValueError(f"component {c!r} not in {self.components!r}")
        return self.data[:, self.components.index(c)]

    def horizontals(self) -> tuple[np.ndarray, np.ndarray]:
        """The two horizontal components as (N, T) arrays (NE, RT, 12, EN or XY order as stored)."""
        h = [c for c in self.components if c != "Z"]
        if len(h) != 2:
            raise ValueError(f"need exactly two horizontal components; have {self.components!r}")
        return self.component(h[0]), self.component(h[1])

    # -- processing history --------------------------------------------------------------
    def add_processing(self, step: str, per_record: dict[str, Sequence] | None = None,
                       **params: Any) -> None:
        """Append a processing step (name and parameters) to every record's history, in place.

        ``per_record`` maps a parameter name to one value per record (e.g. the sample where
        each record's window starts); ``params`` are shared by all records.
        """
        entry = {"step": step, **{k: to_plain(v) for k, v in params.items()}}
        per_record = per_record or {}
        for k, v in per_record.items():
            if len(v) != len(self):
                raise ValueError(f"per_record[{k!r}] has {len(v)} values for {len(self)} records")
        hist = []
        for i, h in enumerate(self.metadata["trace_processing"]):
            steps = json.loads(h) if isinstance(h, str) and h else []
            steps.append({**entry, **{k: to_plain(v[i]) for k, v in per_record.items()}})
            hist.append(json.dumps(steps, sort_keys=True))
        self.metadata["trace_processing"] = pd.Series(hist, dtype="string")

    def processing(self, i: int) -> list[dict]:
        """The processing history of record ``i``."""
        h = self.metadata["trace_processing"].iloc[i]
        return json.loads(h) if isinstance(h, str) and h else []

    # -- conditioning --------------------------------------------------------------------
    def conditioning(self, names: Iterable[str] = tuple(CONDITIONING_COLUMNS)) -> np.ndarray:
        """The conditioning table (N, len(names)) in physical units (magnitude, km, m/s, km, deg)."""
        cols = []
        for n in names:
            col = column(n)
            if col not in self.metadata:
                raise ValueError(f"conditioning variable {n!r} (column {col!r}) not in metadata")
            cols.append(self.metadata[col].astype("float64").to_numpy(na_value=np.nan))
        return np.stack(cols, axis=1) if cols else np.zeros((len(self), 0))

    # -- unit conversion -----------------------------------------------------------------
    def to_unit(self, unit: str) -> np.ndarray:
        """The data expressed in another unit of the same quantity (``"g"``, ``"cm/s^2"``...)."""
        if unit not in _UNIT_FACTORS:
            raise ValueError(f"unknown unit {unit!r}; known: {sorted(_UNIT_FACTORS)}")
        if self.unit in RAW_UNITS:
            raise ValueError(f"records are in {self.unit!r} (instrument response not removed); "
                             f"cannot convert to {unit!r}")
        return self.data * np.float32(_UNIT_FACTORS[self.unit] / _UNIT_FACTORS[unit])

    # -- ObsPy ---------------------------------------------------------------------------
    def to_obspy(self):
        """One ObsPy Stream with N x C traces and filled headers.

        Each trace has network/station/location codes, a channel code ``HN<comp>`` (high
        sample rate accelerometer; ``HH`` for velocity, ``HX`` for displacement), the start
        time, the sampling rate, and ``stats.quakesynth`` holding the record's metadata row,
        the quantity and the unit.
        """
        from obspy import Stream, Trace, UTCDateTime

        band = {"acceleration": "HN", "velocity": "HH", "displacement": "HX"}[self.quantity]
        traces = []
        for i in range(len(self)):
            row = self.metadata.iloc[i]
            meta = {k: to_plain(v, nonfinite="nan") for k, v in row.items()}
            start = meta.get("trace_start_time") or "1970-01-01T00:00:00"
            for j, comp in enumerate(self.components):
                tr = Trace(data=self.data[i, j].copy())
                tr.stats.sampling_rate = self.fs
                tr.stats.starttime = UTCDateTime(start)
                tr.stats.network = (meta.get("station_network_code") or "")[:2]
                tr.stats.station = (meta.get("station_code") or f"R{i:04d}")[:5]
                tr.stats.location = (meta.get("station_location_code") or "")[:2]
                tr.stats.channel = band + comp
                tr.stats.quakesynth = {"index": i, "quantity": self.quantity, "unit": self.unit,
                                       **meta}
                traces.append(tr)
        return Stream(traces)

    @classmethod
    def from_obspy(cls, stream, metadata: pd.DataFrame | None = None, components: str = "ZNE",
                   quantity: str = "acceleration", unit: str = "m/s^2",
                   apply_calib: bool = True) -> Records:
        """Build records from a Stream, grouping traces by station and channel band.

        With ``apply_calib`` (default) each trace's samples are multiplied by
        ``stats.calib`` (ObsPy's convention: ``data * calib`` is the physical value, e.g. the
        K-NET scale factor), so ``unit`` must then describe the calibrated values.

        Traces of one group must share sampling rate; they are trimmed to their common time
        span. ``metadata`` (one row per group, in order of first appearance) may be given;
        otherwise station codes, start time and sampling rate are taken from the traces, and
        ``stats.quakesynth`` dictionaries written by :meth:`to_obspy` are read back.
        """
        groups: dict[tuple, dict[str, Any]] = {}
        for tr in stream:
            key = (tr.stats.network, tr.stats.station, tr.stats.location, tr.stats.channel[:-1],
                   tr.stats.get("quakesynth", {}).get("index", None))
            groups.setdefault(key, {})[tr.stats.channel[-1]] = tr
        if not groups:
            raise ValueError("stream is empty: no traces to convert")
        rows, arrays, fs = [], [], None
        for key, chans in groups.items():
            missing = [c for c in components if c not in chans]
            if missing:
                raise ValueError(f"station {key[0]}.{key[1]} lacks component(s) {''.join(missing)!r} "
                                 f"(has {''.join(sorted(chans))!r})")
            trs = [chans[c] for c in components]
            rates = {t.stats.sampling_rate for t in trs}
            if len(rates) != 1:
                raise ValueError(f"station {key[1]}: components have different sampling rates {sorted(rates)}")
            rate = rates.pop()
            if fs is None:
                fs = rate
            elif rate != fs:
                raise ValueError(f"records have different sampling rates ({fs} and {rate} Hz); resample first")
            start = max(t.stats.starttime for t in trs)
            n = min(int(round((t.stats.endtime - start) * rate)) + 1 for t in trs)
            arr = []
            for t in trs:
                k = int(round((start - t.stats.starttime) * rate))
                scale = float(t.stats.calib) if apply_calib else 1.0
                arr.append(np.asarray(t.data[k:k + n], dtype=np.float64) * scale)
            arrays.append(np.stack(arr))
            qs = trs[0].stats.get("quakesynth", {})
            row = {k: v for k, v in qs.items() if k in METADATA_COLUMNS}
            row.setdefault("station_network_code", key[0])
            row.setdefault("station_code", key[1])
            row.setdefault("station_location_code", key[2])
            row["trace_start_time"] = start.isoformat()
            row["trace_sampling_rate_hz"] = rate
            rows.append(row)
        length = min(a.shape[1] for a in arrays)
        data = np.stack([a[:, :length] for a in arrays])
        meta = metadata if metadata is not None else pd.DataFrame(rows)
        return cls(data, fs=fs, components=components, quantity=quantity, unit=unit, metadata=meta)
