"""PEER NGA text time series (``.AT2``; ``.VT2`` / ``.DT2`` for velocity / displacement).

The layout structural-analysis software reads (OpenSees ``ReadRecord``, SeismoSignal, the
PEER database itself)::

    PEER NGA STRONG MOTION DATABASE RECORD
    <title line: event, record, ..., component>
    ACCELERATION TIME SERIES IN UNITS OF G
    NPTS=   4096, DT=   0.0100 SEC
      -8.4109020E-04   3.7753960E-04 ...          (5 values per line, E15.7)

Acceleration is written in g (standard gravity 9.80665 m/s^2), velocity in cm/s and
displacement in cm, as in the PEER database. One file holds one component of one record.

quakesynth writes a set of records as a folder (suffix ``.at2`` by convention): one file per
record and component named ``<trace_name>_<channel>.AT2`` (channel = SEED code, ``HNZ``,
``HNN``, ``HNE``: the names ``quakesynth ingest`` groups back into three-component records),
plus ``metadata.csv`` (one row per record in order, SeisBench column names) and
``format.json`` (sampling rate, component order, quantity, SI unit). The title line of each
file states the generator, scenario and component, ending with the channel code (``, HNZ``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.formats._common import (
    BAND,
    RecordWriter,
    format_attrs,
    metadata_from_csv,
    metadata_to_csv,
)
from quakesynth.plain_json import to_plain
from quakesynth.records import G, Records

#: quantity -> (file suffix, header word, unit word, factor from SI to the file's unit)
PEER_UNITS = {
    "acceleration": (".AT2", "ACCELERATION", "G", 1.0 / G),
    "velocity": (".VT2", "VELOCITY", "CM/S", 100.0),
    "displacement": (".DT2", "DISPLACEMENT", "CM", 100.0),
}
_SI = {"G": G, "CM/S/S": 0.01, "CM/S^2": 0.01, "CM/SEC/SEC": 0.01, "CM/S": 0.01, "CM/SEC": 0.01, "CM": 0.01,
       "M/S/S": 1.0, "M/S^2": 1.0, "M/S": 1.0, "M": 1.0}
_UNITS = re.compile(r"(ACCELERATION|VELOCITY|DISPLACEMENT)\b.*?UNITS OF\s+([A-Z/^0-9]+)", re.IGNORECASE)
_QUANTITY = {"ACCELERATION": "acceleration", "VELOCITY": "velocity", "DISPLACEMENT": "displacement"}


def format_peer(values: np.ndarray, dt: float, title: str, quantity: str = "acceleration") -> str:
    """The text of one PEER file.

    Parameters
    ----------
    values : (T,) samples already in the file's unit (g, cm/s or cm).
    dt : sampling interval, s.
    title : the second header line (one line, no newline).
    quantity : ``"acceleration"``, ``"velocity"`` or ``"displacement"``.
    """
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive sampling interval in s; got {dt!r}")
    _, word, unit, _ = PEER_UNITS[quantity]
    dt_text = f"{dt:.10f}".rstrip("0")
    dt_text += "0" * max(0, 4 - len(dt_text.split(".")[1]))
    lines = ["PEER NGA STRONG MOTION DATABASE RECORD", title.replace("\n", " "),
             f"{word} TIME SERIES IN UNITS OF {unit}",
             f"NPTS={len(values):7d}, DT= {dt_text} SEC"]
    v = (np.asarray(values, dtype=np.float64) + 0.0).tolist()  # + 0.0: no negative zeros
    full = len(v) // 5 * 5
    body = (("%15.7E" * 5 + "\n") * (full // 5)) % tuple(v[:full])  # 5 per line, one C loop
    if len(v) > full:
        body += ("%15.7E" * (len(v) - full) + "\n") % tuple(v[full:])
    return "\n".join(lines) + "\n" + body


def read_peer(path: str | Path) -> tuple[np.ndarray, float, dict]:
    """Read one PEER file (parsed by :func:`quakesynth.data.at2.read_file`, the project's PEER
    reader) in SI units.

    Returns ``(values, fs, header)``: the samples in m/s^2, m/s or m, the sampling rate (Hz)
    and the header fields (``title``, ``units`` line, ``npts``, ``quantity``, ``file_unit``).
    """
    from quakesynth.data.at2 import read_file

    info, values = read_file(Path(path))
    m = _UNITS.search(info["units"])
    quantity, unit = ("acceleration", "G") if m is None else (_QUANTITY[m.group(1).upper()], m.group(2).upper())
    if unit not in _SI:
        raise ValueError(f"{str(path)!r}: unknown unit {unit!r} in the header")
    if len(values) < info["npts"]:
        raise ValueError(f"{str(path)!r}: header says NPTS={info['npts']} but the file has {len(values)} values")
    return values[:info["npts"]] * _SI[unit], info["fs"], {**info, "quantity": quantity, "file_unit": unit}


def _stem(meta_row: dict, index: int) -> str:
    name = meta_row.get("trace_name") or f"rec{index:07d}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name))


def _title(row: dict, comp: str, channel: str) -> str:
    parts = [f"quakesynth {row.get('generator') or 'records'}"]
    for key, label, fmt in (("source_magnitude", "M", "{:.2f}"), ("path_hyp_distance_km", "Rhyp", "{:.1f} km"),
                            ("station_vs30_mps", "Vs30", "{:.0f} m/s"), ("source_depth_km", "depth", "{:.1f} km"),
                            ("path_azimuthal_gap_deg", "gap", "{:.0f} deg")):
        v = row.get(key)
        if v is not None:
            parts.append(f"{label} {fmt.format(v)}")
    if row.get("trace_name"):
        parts.append(str(row["trace_name"]))
    return ", ".join(parts + [f"component {comp}", channel])


class At2Writer(RecordWriter):
    """A folder of PEER files (one per record and component) plus ``metadata.csv``."""

    format = "at2"
    directory = True

    def _open(self, first: Records) -> None:
        if first.unit != {"acceleration": "m/s^2", "velocity": "m/s", "displacement": "m"}[first.quantity]:
            raise ValueError(f"PEER files need physical units; records are in {first.unit!r}")
        self.dir = self.atomic(self.path, directory=True)
        self.meta: list[pd.DataFrame] = []
        self.files: list[str] = []

    def _add(self, records: Records, start: int) -> None:
        suffix, _, _, factor = PEER_UNITS[records.quantity]
        band = BAND[records.quantity]
        dt = 1.0 / records.fs
        for i in range(len(records)):
            row = to_plain(records.metadata.iloc[i].to_dict(), nonfinite="nan")  # a missing value -> None
            stem = _stem(row, start + i)
            names = []
            for j, comp in enumerate(records.components):
                name = f"{stem}_{band}{comp}{suffix}"
                text = format_peer(records.data[i, j] * factor, dt, _title(row, comp, band + comp), records.quantity)
                (self.dir / name).write_text(text, encoding="ascii")
                names.append(name)
            self.files.append(";".join(names))
        meta = records.metadata.copy()
        self.meta.append(meta)

    def _finish(self) -> None:
        meta = pd.concat(self.meta, ignore_index=True)
        meta["peer_files"] = self.files
        (self.dir / "metadata.csv").write_text(metadata_to_csv(meta), encoding="utf-8")
        (self.dir / "format.json").write_text(json.dumps(
            {**format_attrs(self), "format": "peer", "file_unit": PEER_UNITS[self.quantity][2]}, indent=1),
            encoding="utf-8")


def read_at2_folder(path: str | Path, limit: int | None = None) -> Records:
    """Read a folder written by :class:`At2Writer` (the record order and exact sampling rate
    come from its ``metadata.csv`` and ``format.json``)."""
    path = Path(path)
    if not (path / "metadata.csv").exists():
        raise ValueError(f"{str(path)!r} has no metadata.csv: not a quakesynth PEER folder "
                         f"(use `quakesynth ingest` for PEER database files)")
    info = json.loads((path / "format.json").read_text(encoding="utf-8"))
    meta = metadata_from_csv(path / "metadata.csv")
    if limit is not None:
        meta = meta.iloc[:limit]
    data = [np.stack([read_peer(path / name)[0] for name in str(files).split(";")]) for files in meta["peer_files"]]
    # the sampling rate of format.json is exact; DT in the text is rounded to 10 decimals
    return Records(np.stack(data), fs=float(info["fs"]), components=info["components"],
                   quantity=info["quantity"], unit=info["unit"], metadata=meta.drop(columns=["peer_files"]))
