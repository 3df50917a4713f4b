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

The one PEER module: it writes the files (:class:`At2Writer`) and reads them back, both the
folders it writes (:func:`read_at2_folder`) and the files of the PEER database that
``quakesynth ingest`` reads (:func:`read_file`, :func:`group_files`, :func:`read_group`).

Reading PEER NGA records. File layout (four header lines, then five values per line)::

    PEER NGA STRONG MOTION DATABASE RECORD
    Northridge-01, 1/17/1994, Port Hueneme - Naval Lab., 90
    ACCELERATION TIME SERIES IN UNITS OF G
    NPTS=   2000, DT=   .0200 SEC

The two horizontal files of a station (``RSN1059_NORTHR_PTH090.AT2`` and ``...PTH180.AT2``;
the trailing number is the component's azimuth, degrees clockwise from north) become one
record; a vertical file (``-UP``/``-DWN``) of the same station is added as ``Z``. Component
order: ``NE`` when the azimuths are north/south and east/west (a south- or west-pointing
component is negated), otherwise ``12`` with the azimuths in the extra column
``trace_component_azimuth_deg`` (``"52;142"``). Values are converted from g to m/s^2.

``DT`` is printed with few digits (``.0039`` for 1/256 s): the sampling rate is the integer
nearest to ``1/DT`` when that integer is consistent with the printed precision.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.data.ingest_report import Dropped
from quakesynth.formats._common import (
    BAND,
    FolderWriter,
    metadata_from_csv,
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
    """Read one PEER file (parsed by :func:`read_file`, the project's PEER
    reader) in SI units.

    Returns ``(values, fs, header)``: the samples in m/s^2, m/s or m, the sampling rate (Hz)
    and the header fields (``title``, ``units`` line, ``npts``, ``quantity``, ``file_unit``).
    """
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


class At2Writer(FolderWriter):
    """A folder of PEER files (one per record and component) plus ``metadata.csv``."""

    format = "at2"
    files_column = "peer_files"

    def _open(self, first: Records) -> None:
        if first.unit != {"acceleration": "m/s^2", "velocity": "m/s", "displacement": "m"}[first.quantity]:
            raise ValueError(f"PEER files need physical units; records are in {first.unit!r}")
        super()._open(first)

    def format_info(self) -> dict:
        return {"format": "peer", "file_unit": PEER_UNITS[self.quantity][2]}

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


# -- reading PEER NGA database files (quakesynth ingest) ------------------------------------
_NPTS = re.compile(r"NPTS\s*=\s*(\d+)\s*,\s*DT\s*=\s*([0-9.Ee+-]+)", re.IGNORECASE)
_COMP = re.compile(r"^(?P<key>.*?)[-_]?(?P<comp>UP|DWN|UD|V|HN[ZNE12]|\d{1,3})$", re.IGNORECASE)
MAX_FS = 20000.0  # Hz


def sniff(path: Path) -> bool:
    """Whether ``path`` starts like a PEER NGA AT2 file."""
    try:
        with open(path, "rb") as f:
            head = [f.readline(200).decode("ascii", "replace") for _ in range(4)]
    except OSError:
        return False
    return bool(_NPTS.search(head[3])) and ("PEER" in head[0].upper() or "UNITS OF G" in head[2].upper())


def _component(path: Path) -> tuple[str, str]:
    """``(pair key, component label)`` from the file name."""
    m = _COMP.match(path.stem)
    if not m:
        return path.stem, ""
    return m["key"], m["comp"].upper()


def group_files(paths: Iterable[Path]) -> list[list[Path]]:
    """Group AT2 files of one station record (same folder and name without the component)."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for p in paths:
        groups.setdefault((str(p.parent), _component(p)[0]), []).append(p)
    return [sorted(v) for _, v in sorted(groups.items())]


def sampling_rate(dt_text: str) -> float:
    """Sampling rate (Hz) from the printed ``DT`` (s), snapped to an integer within its precision.

    >>> sampling_rate(".0039"), sampling_rate(".0050"), sampling_rate("0.01")
    (256.0, 200.0, 100.0)
    """
    dt = float(dt_text)
    if not (math.isfinite(dt) and dt > 0):
        return math.nan
    decimals = len(dt_text.split(".")[1].rstrip()) if "." in dt_text and "e" not in dt_text.lower() else 12
    half = 0.5 * 10.0 ** (-decimals)
    fs, cand = 1.0 / dt, round(1.0 / dt)
    lo, hi = 1.0 / (dt + half), (1.0 / (dt - half) if dt > half else math.inf)
    return float(cand) if cand > 0 and lo <= cand <= hi else fs


def read_file(path: Path) -> tuple[dict, np.ndarray]:
    """Header fields and samples (g) of one AT2 file; ``ValueError`` if it is not readable."""
    try:
        text = path.read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"not a text file ({type(e).__name__})") from e
    lines = text.splitlines()
    if len(lines) < 4:
        raise ValueError("fewer than four header lines")
    m = _NPTS.search(lines[3])
    if not m:
        raise ValueError("line 4 has no 'NPTS=..., DT=...'")
    npts, dt_text = int(m[1]), m[2]
    try:
        values = np.array(" ".join(lines[4:]).split(), dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"non-numeric sample ({e})") from e
    parts = [s.strip() for s in lines[1].split(",")]
    info = {"npts": npts, "dt_text": dt_text, "fs": sampling_rate(dt_text), "title": lines[1].strip(),
            "event": parts[0] if parts else "", "date": parts[1] if len(parts) > 1 else "",
            "station": ", ".join(parts[2:-1]) if len(parts) > 3 else (parts[2] if len(parts) > 2 else ""),
            "azimuth": parts[-1] if len(parts) > 3 else "", "units": lines[2].strip()}
    return info, values


def _azimuth(label: str, header_az: str) -> float | None:
    for v in (label, header_az):
        try:
            a = float(v)
        except (TypeError, ValueError):
            continue
        return a % 360.0
    return None


def _event_id(event: str, date: str) -> str:
    """``northridge-01_1994-01-17`` from the header's event name and m/d/yyyy date."""
    name = re.sub(r"[^a-z0-9]+", "-", event.lower()).strip("-") or "event"
    m = re.match(r"(\d{1,2})/(\d{1,2})/(\d{4})", date)
    return f"{name}_{m[3]}-{int(m[1]):02d}-{int(m[2]):02d}" if m else name


def read_group(files: list[Path]) -> Iterator[Records | Dropped]:
    """Read the AT2 files of one station into one record (``NE``/``12``, optionally with ``Z``)."""
    files = sorted(files)
    key = _component(files[0])[0]
    name = key
    source = str(Path(files[0].parent) / f"{key}*.AT2")

    def drop(reason: str, detail: str) -> Dropped:
        return Dropped(source=source, trace_name=name, stage="read", reason=reason, detail=detail)

    horiz, vert, infos = [], [], []
    for f in files:
        try:
            info, values = read_file(f)
        except ValueError as e:
            yield drop("unreadable", f"{f.name}: not a readable AT2 file ({e})")
            return
        if "UNITS OF G" not in info["units"].upper():
            yield drop("unit", f"{f.name}: {info['units']!r} (expected acceleration in g)")
            return
        fs = info["fs"]
        if not (math.isfinite(fs) and 0 < fs <= MAX_FS):
            yield drop("impossible_sampling_rate", f"{f.name}: DT={info['dt_text']} s")
            return
        if values.size < info["npts"]:
            yield drop("truncated", f"{f.name}: {values.size} samples, header announces NPTS={info['npts']}")
            return
        values = values[:info["npts"]]
        label = _component(f)[1]
        if label in ("UP", "DWN", "UD", "V", "HNZ"):
            vert.append((f, -values if label == "DWN" else values))
        else:
            az = {"HNN": 0.0, "HNE": 90.0}.get(label, _azimuth(label, info["azimuth"]))
            if az is None:
                yield drop("missing_components", f"{f.name}: component azimuth unknown")
                return
            horiz.append((az, f, values))
        infos.append(info)
    if len(horiz) != 2 or len(vert) > 1:
        yield drop("missing_components", f"need two horizontal files (and at most one vertical); "
                                         f"have {len(horiz)} horizontal, {len(vert)} vertical")
        return
    if len({i["fs"] for i in infos}) != 1:
        yield drop("impossible_sampling_rate", "components have different DT: "
                   + ", ".join(sorted({i["dt_text"] for i in infos})))
        return
    fs = infos[0]["fs"]
    horiz.sort(key=lambda h: h[0])
    (a1, _, x1), (a2, _, x2) = horiz
    ns = {0.0: 1.0, 180.0: -1.0}
    ew = {90.0: 1.0, 270.0: -1.0}
    if a1 in ns and a2 in ew:
        chans, comps = [ns[a1] * x1, ew[a2] * x2], "NE"
    elif a1 in ew and a2 in ns:
        chans, comps = [ns[a2] * x2, ew[a1] * x1], "NE"
    else:
        chans, comps = [x1, x2], "12"
    if vert:
        chans, comps = [vert[0][1]] + chans, "Z" + comps
    n = min(c.size for c in chans)
    data = np.stack([c[:n] for c in chans])[None] * G
    info = infos[0]
    rsn = re.match(r"RSN(\d+)", key, re.IGNORECASE)
    meta = {
        "trace_name": name,
        "source_id": _event_id(info["event"], info["date"]),
        "station_code": key.split("_")[-1] if "_" in key else key,
        "trace_sampling_rate_hz": fs,
        "trace_source": source,
        "source_event_name": f"{info['event']}, {info['date']}",
        "station_name": info["station"],
        "trace_rsn": int(rsn[1]) if rsn else None,
        "trace_component_azimuth_deg": f"{a1:g};{a2:g}" if comps.endswith("12") else None,
    }
    rec = Records(data, fs=fs, components=comps, quantity="acceleration", unit="m/s^2",
                  metadata=pd.DataFrame([meta]))
    rec.add_processing("read_at2", conversion="g -> m/s^2", g=G, trimmed_to_samples=n)
    yield rec
