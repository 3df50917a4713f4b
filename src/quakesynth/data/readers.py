"""Finding, recognising and reading input records of every supported format.

:func:`read` turns input paths (files or folders, searched recursively) into a stream of
:class:`~quakesynth.records.Records` batches, :class:`~quakesynth.data.ingest_report.Dropped` entries
(unreadable files, incomplete records...) and :class:`~quakesynth.data.ingest_report.Conflict`
entries (event metadata that disagree). Formats (``FORMATS``), each in its own module:

========== ===================================================== ==========================
format     what                                                  recognised by
========== ===================================================== ==========================
knet       K-NET / KiK-net ASCII (:mod:`.knet`)                  first bytes ``Origin Time``
seisbench  SeisBench dataset folder (:mod:`.seisbench_dataset`)  metadata.csv + waveforms.hdf5
stead      STEAD CSV + HDF5 (:mod:`.stead`)                      the CSV's STEAD columns
at2        PEER NGA ``.AT2`` (:mod:`.at2`)                       its four header lines
obspy      anything ObsPy reads (:mod:`.obspy_files`)            ObsPy's own format detection
========== ===================================================== ==========================

``format="auto"`` decides per file or folder from content (never from the name alone);
a named format applies to all inputs, and files that are not of that format are reported.
``event.json``, CSV/JSON/Markdown files and hidden files are metadata, not inputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from quakesynth.data import knet, obspy_files, seisbench_dataset, stead
from quakesynth.data.ingest_report import Conflict, Dropped
from quakesynth.data.metadata_table import apply_table, read_metadata_table
from quakesynth.formats import peer  # PEER AT2: read and written in one module
from quakesynth.records import Records

FORMATS = ("knet", "seisbench", "stead", "at2", "obspy")
_SIDE_FILES = {".csv", ".json", ".md", ".yaml", ".yml"}

Item = Records | Dropped | Conflict


@dataclass(frozen=True)
class ReadOptions:
    """How inputs are read."""

    kiknet_sensor: str = "surface"  # KiK-net sensors: surface | borehole | both
    prefer: str = "header"  # event metadata that wins a conflict: header | json
    input_unit: str = "counts"  # unit of the samples of generic ObsPy files
    batch_size: int = 256  # records per batch read from datasets
    metadata_table: str | None = None  # CSV of event/station metadata per record (path)

    def __post_init__(self) -> None:
        if self.kiknet_sensor not in knet.SENSORS:
            raise ValueError(f"kiknet_sensor must be one of {sorted(knet.SENSORS)}; got {self.kiknet_sensor!r}")
        if self.prefer not in ("header", "json"):
            raise ValueError(f"prefer must be 'header' or 'json'; got {self.prefer!r}")
        if self.input_unit not in obspy_files.INPUT_UNITS:
            raise ValueError(f"input_unit must be one of {list(obspy_files.INPUT_UNITS)}; got {self.input_unit!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {self.batch_size}")


@dataclass(frozen=True)
class Unit:
    """One piece of input read at once: a K-NET station, an AT2 pair, a folder of ObsPy files,
    or a whole dataset; ``size`` is the number of records (or files) it is expected to give."""

    format: str
    paths: tuple[Path, ...]
    size: int = 1


@dataclass
class Discovery:
    units: list[Unit] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(u.size for u in self.units)


def _is_side_file(p: Path) -> bool:
    return p.name.startswith(".") or p.suffix.lower() in _SIDE_FILES or p.name.lower().startswith("readme")


def _dataset_format(path: Path) -> str | None:
    if stead.sniff(path):
        return "stead"
    if seisbench_dataset.sniff(path):
        return "seisbench"
    return None


def detect_format(path: str | os.PathLike) -> str | None:
    """The format of a file or dataset folder from its content, or None if none fits."""
    path = Path(path)
    if path.is_dir():
        return _dataset_format(path)
    if path.suffix.lower() in (".hdf5", ".h5", ".csv") and stead.sniff(path):
        return "stead"
    if knet.sniff(path):
        return "knet"
    if peer.sniff(path):
        return "at2"
    if obspy_files.sniff(path):
        return "obspy"
    return None


def _walk(path: Path) -> tuple[list[Path], list[Path]]:
    """Dataset folders and plain files under ``path`` (sorted; hidden entries skipped)."""
    datasets, files = [], []
    if _dataset_format(path):
        return [path], []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        root_p = Path(root)
        keep = []
        for d in dirs:
            if _dataset_format(root_p / d):
                datasets.append(root_p / d)
            else:
                keep.append(d)
        dirs[:] = keep
        files += [root_p / n for n in sorted(names)]
    return datasets, files


def discover(inputs: Iterable[str | os.PathLike], format: str = "auto",
             options: ReadOptions = ReadOptions()) -> Discovery:
    """Find the units to read under ``inputs``; unrecognised files become Dropped entries.

    Raises ``FileNotFoundError`` for a missing input and ``ValueError`` for an unknown format
    or a dataset input that is not of the named format.
    """
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}; got {format!r}")
    out = Discovery()
    by_format: dict[str, list[Path]] = {f: [] for f in ("knet", "at2", "obspy")}
    seen: set[Path] = set()
    for inp in inputs:
        p = Path(inp)
        if not p.exists():
            raise FileNotFoundError(f"input {str(p)!r} does not exist")
        if p.is_dir():
            datasets, files = _walk(p)
        elif p.suffix.lower() in (".hdf5", ".h5", ".csv") and stead.sniff(p):
            datasets, files = [p], []
        else:
            datasets, files = [], [p]
        for d in datasets:
            fmt = _dataset_format(d) if d.is_dir() else "stead"
            if format in ("stead", "seisbench") and fmt != format:
                raise ValueError(f"--format {format}: {str(d)!r} is a {fmt} dataset")
            if format in ("knet", "at2", "obspy"):
                raise ValueError(f"--format {format}: {str(d)!r} is a {fmt} dataset, not {format} files")
            size = stead.count(d) if fmt == "stead" else seisbench_dataset.count(d)
            out.units.append(Unit(fmt, (d,), size))
        for f in files:
            f = Path(os.path.normpath(f))
            if f in seen or (_is_side_file(f) and f != p):
                continue
            seen.add(f)
            if format in ("stead", "seisbench"):
                raise ValueError(f"--format {format} needs dataset folders; {str(f)!r} is a file")
            fmt = detect_format(f) if format == "auto" else format
            if fmt is None:
                out.dropped.append(Dropped(str(f), "", "read", "unreadable",
                                           "not a recognised seismic file (K-NET, AT2, or any ObsPy format)"))
            elif fmt in ("knet", "at2") and format != "auto" and not (knet if fmt == "knet" else peer).sniff(f):
                out.dropped.append(Dropped(str(f), "", "read", "unreadable", f"not a {fmt} file"))
            else:
                by_format[fmt].append(f)
    groups, unmatched = knet.group_files(by_format["knet"], options.kiknet_sensor)
    out.units += [Unit("knet", tuple(g)) for g in groups + [[u] for u in unmatched]]
    out.units += [Unit("at2", tuple(g)) for g in peer.group_files(by_format["at2"])]
    folders: dict[Path, list[Path]] = {}
    for f in by_format["obspy"]:
        folders.setdefault(f.parent, []).append(f)
    out.units += [Unit("obspy", tuple(v), len(v)) for _, v in sorted(folders.items())]
    return out


def read_unit(unit: Unit, options: ReadOptions = ReadOptions(), table: pd.DataFrame | None = None
              ) -> Iterator[Item]:
    """Read one unit; exceptions of a reader become a Dropped entry, never an abort."""
    try:
        if unit.format == "knet":
            it = knet.read_group(list(unit.paths), prefer=options.prefer)
        elif unit.format == "at2":
            it = peer.read_group(list(unit.paths))
        elif unit.format == "obspy":
            it = obspy_files.read_folder(list(unit.paths), options.input_unit, table, options.prefer)
        elif unit.format == "stead":
            it = stead.read(unit.paths[0], options.batch_size)
        elif unit.format == "seisbench":
            it = seisbench_dataset.read(unit.paths[0], options.batch_size)
        else:  # pragma: no cover - discover() only makes the formats above
            raise ValueError(f"unknown format {unit.format!r}")
        for item in it:
            if isinstance(item, Records) and table is not None and unit.format != "obspy":
                item = item.replace(metadata=apply_table(item.metadata, table))
            yield item
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - a broken input must not stop the ingestion
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        yield Dropped(str(unit.paths[0]) if len(unit.paths) == 1 else str(unit.paths[0].parent), "",
                      "read", "unreadable", f"{unit.format} reader failed: {msg}")


def read(inputs: Iterable[str | os.PathLike], format: str = "auto",
         options: ReadOptions = ReadOptions()) -> Iterator[Item]:
    """All records, drops and conflicts of ``inputs`` (see the module docstring).

    >>> from quakesynth.data.readers import read
    >>> items = list(read(["../shared/data/real/knet-kiknet/knet_20240809_kanagawa"]))  # doctest: +SKIP
    """
    table = read_metadata_table(options.metadata_table) if options.metadata_table else None
    found = discover(inputs, format, options)
    yield from found.dropped
    for unit in found.units:
        yield from read_unit(unit, options, table)
