"""Shared pieces of the format writers: the streaming-writer base class, the synthetic
source-station geometry, and metadata (de)serialisation helpers."""

from __future__ import annotations

import io
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth._atomic import (
    atomic_path,
    check_parent,
    check_terminated,
    check_writable,
    output_error,
)
from quakesynth.records import METADATA_COLUMNS, Records

#: SEED band+instrument code per quantity (the same as Records.to_obspy writes).
BAND = {"acceleration": "HN", "velocity": "HH", "displacement": "HX"}

#: Mean Earth radius used to turn kilometres into degrees of arc (km).
EARTH_RADIUS_KM = 6371.0


class RecordWriter:
    """A streaming writer: ``with Writer(path) as w: w.add(chunk); w.add(chunk2)``.

    The first chunk fixes ``fs``, ``components``, ``quantity``, ``unit`` and the record length;
    later chunks must match. The output is written through :func:`quakesynth._atomic.atomic_path`:
    it appears (all files together) only when the ``with`` block ends without an exception, and an
    existing output raises ``FileExistsError`` at construction unless ``overwrite=True``; a
    missing output folder raises ``FileNotFoundError`` (never created silently). An OS error
    while writing (a full disk, a file-size limit) becomes one
    :class:`~quakesynth._atomic.OutputError` naming the output; the temporary files are removed
    and an existing output is left untouched.

    Subclasses implement :meth:`_open` (enter the temporary outputs on ``self.stack``),
    :meth:`_add` and optionally :meth:`_finish` (called before the outputs are moved into place).
    """

    format: str = ""
    directory: bool = False  # the output is a folder

    def __init__(self, path: str | Path, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        for p in self.outputs():
            check_parent(p)
            check_writable(p, overwrite)
        self.stack: ExitStack | None = None
        self.count = 0
        self.fs: float | None = None
        self.components = self.quantity = self.unit = ""
        self.n_samples = 0

    @classmethod
    def outputs_of(cls, path: Path) -> list[Path]:
        """Every path a writer of ``path`` creates (the main output first)."""
        return [path]

    def outputs(self) -> list[Path]:
        """Every path this writer creates (the main output first)."""
        return self.outputs_of(self.path)

    def atomic(self, path: Path, directory: bool = False) -> Path:
        """A temporary path that becomes ``path`` when the writer closes successfully."""
        assert self.stack is not None
        return self.stack.enter_context(atomic_path(path, overwrite=self.overwrite, directory=directory))

    # -- context manager -----------------------------------------------------------------
    def __enter__(self) -> RecordWriter:
        self.stack = ExitStack()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self.stack = self.stack, None
        if exc_type is None:
            try:
                if self.count == 0:
                    raise ValueError(f"no records were written to {str(self.path)!r}")
                try:
                    self._finish()
                    self._close_files()
                except OSError as e:
                    raise output_error(self.path, e) from e
            except BaseException as e:
                self._close_quietly()
                stack.__exit__(type(e), e, e.__traceback__)
                raise
            stack.close()
            return False
        self._close_quietly()
        return bool(stack.__exit__(exc_type, exc, tb))

    def _close_quietly(self) -> None:
        """Close the files on the way out of a failure (their own errors are moot)."""
        try:
            self._close_files()
        except Exception:  # noqa: BLE001 -- the first error is the one reported
            pass

    def add(self, records: Records) -> None:
        """Append a chunk of records."""
        check_terminated()  # see quakesynth._atomic.check_terminated
        if self.stack is None:
            raise RuntimeError("use the writer as a context manager: `with open_writer(...) as w:`")
        if len(records) == 0:
            return
        if self.fs is None:
            self.fs, self.components = records.fs, records.components
            self.quantity, self.unit, self.n_samples = records.quantity, records.unit, records.n_samples
        else:
            for attr in ("fs", "components", "quantity", "unit", "n_samples"):
                if getattr(records, attr) != getattr(self, attr):
                    raise ValueError(f"records have {attr}={getattr(records, attr)!r} but this "
                                     f"{self.format} output has {attr}={getattr(self, attr)!r}")
        try:
            if self.count == 0:
                self._open(records)
            self._add(records, self.count)
        except OSError as e:
            raise output_error(self.path, e) from e
        self.count += len(records)

    # -- to implement --------------------------------------------------------------------
    def _open(self, first: Records) -> None:
        raise NotImplementedError

    def _add(self, records: Records, start: int) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        pass

    def _close_files(self) -> None:
        """Close open file handles (called before the outputs are committed or removed)."""


# -- metadata ------------------------------------------------------------------------------
def metadata_to_csv(meta: pd.DataFrame) -> str:
    """The metadata table as CSV text (the SeisBench ``metadata.csv`` convention)."""
    buf = io.StringIO()
    meta.to_csv(buf, index=False)
    return buf.getvalue()


def metadata_from_csv(path: str | Path) -> pd.DataFrame:
    """Read a metadata CSV written by :func:`metadata_to_csv`, with the standard dtypes."""
    dtypes = {c: ("string" if t == "string" else "float64") for c, t in METADATA_COLUMNS.items()}
    return pd.read_csv(path, dtype=dtypes, keep_default_na=True)


def metadata_to_json(meta: pd.DataFrame) -> str:
    """The metadata table as JSON (pandas ``orient="table"``, which keeps dtypes)."""
    return meta.to_json(orient="table", index=False, date_format="iso", default_handler=str)


def metadata_from_json(text: str) -> pd.DataFrame:
    meta = pd.read_json(io.StringIO(text), orient="table")
    return meta.reset_index(drop=True)


def format_attrs(records: Records | RecordWriter) -> dict[str, Any]:
    """The attributes every format states explicitly: sampling rate, component order, quantity, unit."""
    from quakesynth import __version__

    return {"fs": float(records.fs), "components": records.components, "quantity": records.quantity,
            "unit": records.unit, "quakesynth_version": __version__}



# -- geometry ------------------------------------------------------------------------------
def synthetic_geometry(meta: pd.DataFrame) -> pd.DataFrame:
    """Source and station coordinates for every record, filling in a synthetic geometry
    where the metadata has none.

    Records that carry coordinates keep them. Otherwise the epicentre is put at latitude 0,
    longitude 0 and the station at the epicentral distance ``sqrt(R_hyp^2 - depth^2)`` (km,
    or ``path_ep_distance_km`` where given) in the direction ``back_azimuth - 180`` degrees
    (due north, back azimuth 180, where the back azimuth is unknown), on a sphere of radius
    6371 km, so that distances computed from the coordinates reproduce the scenario's.

    Returns a frame with ``source_latitude_deg``, ``source_longitude_deg``, ``source_depth_km``,
    ``station_latitude_deg``, ``station_longitude_deg``, ``path_ep_distance_km``,
    ``path_hyp_distance_km``, ``azimuth_deg`` (source to station), ``back_azimuth_deg`` and
    ``gcarc_deg`` (epicentral arc), one row per record (NaN where unknown).
    """
    n = len(meta)

    def col(name: str) -> np.ndarray:
        if name not in meta:
            return np.full(n, np.nan)
        return pd.to_numeric(meta[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    evla, evlo, depth = col("source_latitude_deg"), col("source_longitude_deg"), col("source_depth_km")
    stla, stlo = col("station_latitude_deg"), col("station_longitude_deg")
    r_hyp, r_epi, baz = col("path_hyp_distance_km"), col("path_ep_distance_km"), col("path_back_azimuth_deg")
    have = np.isfinite(evla) & np.isfinite(evlo) & np.isfinite(stla) & np.isfinite(stlo)
    # real coordinates: great-circle distances and azimuths on the sphere
    p1, p2, dl = np.radians(evla), np.radians(stla), np.radians(stlo - evlo)
    with np.errstate(invalid="ignore"):
        gc = np.degrees(np.arccos(np.clip(np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl), -1, 1)))
        az = np.degrees(np.arctan2(np.sin(dl) * np.cos(p2), np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl))) % 360
        bz = np.degrees(np.arctan2(-np.sin(dl) * np.cos(p1), np.cos(p2) * np.sin(p1) - np.sin(p2) * np.cos(p1) * np.cos(dl))) % 360
    # synthetic: epicentre at (0, 0), station along azimuth theta = baz - 180 (north if unknown)
    d = np.where(np.isfinite(depth), depth, 0.0)
    with np.errstate(invalid="ignore"):
        epi_syn = np.where(np.isfinite(r_epi), r_epi, np.sqrt(np.maximum(r_hyp**2 - d**2, 0.0)))
    gc_syn = np.degrees(epi_syn / EARTH_RADIUS_KM)
    theta = np.where(np.isfinite(baz), (baz + 180.0) % 360.0, 0.0)
    delta, th = np.radians(gc_syn), np.radians(theta)
    with np.errstate(invalid="ignore"):
        la_syn = np.degrees(np.arcsin(np.sin(delta) * np.cos(th)))
        lo_syn = np.degrees(np.arctan2(np.sin(th) * np.sin(delta), np.cos(delta)))
    out = pd.DataFrame({
        "source_latitude_deg": np.where(have, evla, 0.0),
        "source_longitude_deg": np.where(have, evlo, 0.0),
        "source_depth_km": depth,
        "station_latitude_deg": np.where(have, stla, la_syn),
        "station_longitude_deg": np.where(have, stlo, lo_syn),
        "gcarc_deg": np.where(have, gc, gc_syn),
        "azimuth_deg": np.where(have, az, theta),
        "back_azimuth_deg": np.where(np.isfinite(baz), baz, np.where(have, bz, 180.0)),
    })
    epi = np.where(have, np.where(np.isfinite(r_epi), r_epi, np.radians(gc) * EARTH_RADIUS_KM), epi_syn)
    out["path_ep_distance_km"] = epi
    out["path_hyp_distance_km"] = np.where(np.isfinite(r_hyp), r_hyp, np.sqrt(epi**2 + d**2))
    unknown = ~have & ~np.isfinite(epi_syn)
    out.loc[unknown, ["station_latitude_deg", "station_longitude_deg", "gcarc_deg", "path_ep_distance_km"]] = np.nan
    return out


def component_orientation(comp: str, azimuth_deg: float = np.nan) -> tuple[float, float]:
    """(azimuth clockwise from north, inclination from vertical-up) of a component, degrees.

    ``Z`` is (0, 0); ``N`` (0, 90); ``E`` (90, 90); ``R`` points from source to station
    (``azimuth_deg``), ``T`` 90 degrees clockwise from ``R``; ``1``/``2``/others: unknown
    azimuth (NaN), horizontal.
    """
    if comp == "Z":
        return 0.0, 0.0
    if comp == "N":
        return 0.0, 90.0
    if comp == "E":
        return 90.0, 90.0
    if comp == "R":
        return float(azimuth_deg) % 360, 90.0
    if comp == "T":
        return (float(azimuth_deg) + 90.0) % 360, 90.0
    return float("nan"), 90.0


class FolderWriter(RecordWriter):
    """A folder of files per record and component (SAC, PEER AT2) plus ``metadata.csv`` (one row
    per record in order, with the column :attr:`files_column` naming each record's files,
    ``;``-separated) and ``format.json`` (:func:`format_attrs` and :meth:`format_info`).
    Subclasses write the files in ``_add`` into :attr:`dir`, appending to :attr:`files` and
    :attr:`meta`."""

    directory = True
    files_column = "files"  # metadata column listing each record's files

    def _open(self, first: Records) -> None:
        self.dir = self.atomic(self.path, directory=True)
        self.meta: list[pd.DataFrame] = []
        self.files: list[str] = []

    def format_info(self) -> dict[str, Any]:
        """What ``format.json`` states beyond :func:`format_attrs`."""
        return {"format": self.format}

    def _finish(self) -> None:
        import json

        meta = pd.concat(self.meta, ignore_index=True)
        meta[self.files_column] = self.files
        (self.dir / "metadata.csv").write_text(metadata_to_csv(meta), encoding="utf-8")
        (self.dir / "format.json").write_text(json.dumps({**format_attrs(self), **self.format_info()}, indent=1),
                                              encoding="utf-8")
