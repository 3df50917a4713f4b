"""NumPy ``.npz``: one archive readable with ``numpy.load(path)`` (no pickle needed).

Keys::

    data          float32 (N, C, T)  the records, in ``unit``
    fs            float64 ()         sampling rate, Hz
    components    str ()             component order, e.g. "ZNE"
    quantity      str ()             "acceleration" | "velocity" | "displacement"
    unit          str ()             "m/s^2" | "m/s" | "m"
    conditioning  float64 (N, 5)     magnitude, distance (km), vs30 (m/s), depth (km), gap (deg)
    conditioning_names str (5,)
    metadata      str ()             the metadata table as JSON (pandas orient="table")
    quakesynth_version str ()

The archive is written chunk by chunk: waveforms are appended to a temporary raw file and
streamed into the (uncompressed, zip64) archive at the end, so memory does not grow with N.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.formats._common import (
    RecordWriter,
    format_attrs,
    metadata_from_json,
    metadata_to_json,
)
from quakesynth.records import CONDITIONING_COLUMNS, Records

_BLOCK = 1 << 24  # bytes copied at a time


class NpzWriter(RecordWriter):
    format = "npz"

    def _open(self, first: Records) -> None:
        from quakesynth._atomic import temp_path

        self.target = self.atomic(self.path)
        self.raw_path = temp_path(self.path, suffix=".raw")
        self.stack.callback(self.raw_path.unlink, missing_ok=True)  # removed on success and failure
        self.raw = open(self.raw_path, "wb")  # noqa: SIM115 -- closed by _finish / _close_files
        self.meta: list[pd.DataFrame] = []

    def _add(self, records: Records, start: int) -> None:
        self.raw.write(np.ascontiguousarray(records.data, dtype="<f4").tobytes())
        self.meta.append(records.metadata)

    def _finish(self) -> None:
        self.raw.close()
        meta = pd.concat(self.meta, ignore_index=True)
        cond = np.stack([pd.to_numeric(meta[c], errors="coerce").to_numpy(np.float64, na_value=np.nan)
                         for c in CONDITIONING_COLUMNS.values()], axis=1)
        attrs = format_attrs(self)
        small = {"fs": np.float64(attrs["fs"]), "components": np.str_(attrs["components"]),
                 "quantity": np.str_(attrs["quantity"]), "unit": np.str_(attrs["unit"]),
                 "conditioning": cond, "conditioning_names": np.array(list(CONDITIONING_COLUMNS)),
                 "metadata": np.str_(metadata_to_json(meta)),
                 "quakesynth_version": np.str_(attrs["quakesynth_version"])}
        shape = (self.count, len(self.components), self.n_samples)
        with zipfile.ZipFile(self.target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open("data.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array_header_2_0(
                    out, {"descr": "<f4", "fortran_order": False, "shape": shape})
                with open(self.raw_path, "rb") as raw:
                    shutil.copyfileobj(raw, out, _BLOCK)
            for key, value in small.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)

    def _close_files(self) -> None:
        raw = getattr(self, "raw", None)
        if raw is not None and not raw.closed:
            raw.close()


def read_npz(path: str | Path, limit: int | None = None) -> Records:
    """Read an archive written by :class:`NpzWriter` (``numpy.load``, no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in ("data", "fs", "components", "quantity", "unit") if k not in z]
        if missing:
            raise ValueError(f"{str(path)!r} lacks {missing}: not a quakesynth .npz archive")
        data = z["data"] if limit is None else z["data"][:limit]
        meta = metadata_from_json(str(z["metadata"])) if "metadata" in z else None
        if meta is not None and limit is not None:
            meta = meta.iloc[:limit]
        return Records(data, fs=float(z["fs"]), components=str(z["components"]),
                       quantity=str(z["quantity"]), unit=str(z["unit"]), metadata=meta)
