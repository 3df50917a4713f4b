"""Output formats for records: one call writes a Records set (or a stream of chunks) in the
format the next tool reads. Every format states the sampling rate, component order, quantity
and unit explicitly; every output is written atomically and never replaces an existing path
unless ``overwrite=True``. See ``docs/formats.md`` for the exact layouts.

=============  =====================================  ========================================
format         path                                   layout
=============  =====================================  ========================================
``hdf5``       ``*.h5``, ``*.hdf5`` (file)            the HighFEM reference's (tqdne 0.2) layout
``npz``        ``*.npz`` (file)                       NumPy archive: data, fs, components, ...
``mseed``      ``*.mseed``, ``*.miniseed`` (file)     miniSEED + StationXML + metadata CSV
``sac``        ``*.sac`` (folder)                     one SAC file per trace + metadata.csv
``at2``        ``*.at2`` (folder)                     PEER .AT2 (g) per record and component
``seisbench``  a folder without suffix                the canonical SeisBench dataset (store)
=============  =====================================  ========================================

>>> from quakesynth.formats import write_records, read_records      # doctest: +SKIP
>>> write_records(records, "out.h5")                                  # doctest: +SKIP
>>> with open_writer("big.h5") as w:                                  # doctest: +SKIP
...     for chunk in generator.iter_table(table):
...         w.add(chunk)
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

from quakesynth.records import Records

#: format -> (module, writer class, reader function, suffixes)
FORMATS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "hdf5": ("tqdne_hdf5", "Hdf5Writer", "read_hdf5", (".h5", ".hdf5")),
    "npz": ("npz", "NpzWriter", "read_npz", (".npz",)),
    "mseed": ("seed", "MseedWriter", "read_mseed", (".mseed", ".miniseed")),
    "sac": ("seed", "SacWriter", "read_sac_folder", (".sac",)),
    "at2": ("peer", "At2Writer", "read_at2_folder", (".at2",)),
    "seisbench": ("seisbench", "DatasetFormatWriter", "read_dataset", ()),
}
#: What each format is, for ``--help`` and ``docs/formats.md``.
DESCRIPTIONS = {
    "hdf5": "HDF5 in the HighFEM reference (tqdne) layout: waveforms (N,3,T) + conditioning datasets",
    "npz": "NumPy archive: data (N,C,T), fs, components, quantity, unit, metadata",
    "mseed": "miniSEED (FLOAT32) + StationXML + metadata CSV sidecars",
    "sac": "folder of SAC files with event/station headers + metadata.csv",
    "at2": "folder of PEER .AT2 text files (g; .VT2 cm/s, .DT2 cm) + metadata.csv",
    "seisbench": "SeisBench dataset folder (metadata.csv + waveforms.hdf5)",
}


def infer_format(path: str | Path) -> str:
    """The format of ``path`` from its suffix; a path without suffix (or an existing folder that
    is not one of the folder formats) is a SeisBench dataset."""
    path = Path(path)
    suffix = path.suffix.lower()
    for name, (*_, suffixes) in FORMATS.items():
        if suffix in suffixes:
            return name
    if suffix == "" or path.is_dir():
        return "seisbench"
    known = ", ".join(s for *_, ss in FORMATS.values() for s in ss)
    raise ValueError(f"cannot infer the output format from suffix {suffix!r} of {str(path)!r}; "
                     f"use one of {known}, a folder name without suffix (SeisBench dataset), or --format")


def _check(format: str | None, path: str | Path) -> str:
    fmt = format or infer_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}; got {fmt!r}")
    return fmt


def check_output(path: str | Path, format: str | None = None, overwrite: bool = False) -> str:
    """The format of output ``path`` (from its suffix unless given), after the checks its writer
    makes before any work: a known format, an existing parent folder, and no existing output
    unless ``overwrite`` (``FileExistsError``). Nothing is created. For commands that load a model
    first: they fail on a bad output before the load."""
    from quakesynth._atomic import check_parent, check_writable

    fmt = _check(format, path)
    module, cls, _, _ = FORMATS[fmt]
    for p in getattr(import_module(f"quakesynth.formats.{module}"), cls).outputs_of(Path(path)):
        check_parent(p)
        check_writable(p, overwrite)
    return fmt


def open_writer(path: str | Path, format: str | None = None, overwrite: bool = False):
    """A streaming writer for ``path``: ``with open_writer(p) as w: w.add(records)``.

    The existence check happens here, before any work: an existing output raises
    ``FileExistsError`` unless ``overwrite=True``. The output appears only when the ``with``
    block ends without an exception.
    """
    fmt = _check(format, path)
    module, cls, _, _ = FORMATS[fmt]
    return getattr(import_module(f"quakesynth.formats.{module}"), cls)(path, overwrite=overwrite)


def write_records(records: Records, path: str | Path, format: str | None = None,
                  overwrite: bool = False) -> Path:
    """Write ``records`` to ``path`` (format from the suffix unless given); returns the path."""
    with open_writer(path, format=format, overwrite=overwrite) as w:
        w.add(records)
    return Path(path)


def read_records(path: str | Path, format: str | None = None, limit: int | None = None) -> Records:
    """Read any format written by :func:`write_records` (``limit``: at most this many records).

    Also reads the HDF5 files of the reference tool (tqdne). A file that is not in the format
    (by its suffix, or ``format``) is a one-line ``ValueError`` naming the file and the format.
    """
    import zipfile

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    fmt = _check(format, path)
    magic = {"npz": (b"PK", "a NumPy .npz (zip) archive"), "hdf5": (b"\x89HDF\r\n\x1a\n", "an HDF5 file")}
    if path.is_file() and fmt in magic:
        with open(path, "rb") as fh:
            head = fh.read(8)
        if not head.startswith(magic[fmt][0]):
            raise ValueError(f"cannot read {str(path)!r}: it is not {magic[fmt][1]}; check the file or pass --format")
    module, _, reader, _ = FORMATS[fmt]
    try:
        return getattr(import_module(f"quakesynth.formats.{module}"), reader)(path, limit=limit)
    except (FileNotFoundError, FileExistsError):
        raise
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if first.startswith(f"cannot read {str(path)!r}"):
            raise
        raise ValueError(f"cannot read {str(path)!r} as {fmt}: it is not a readable {fmt} file ({first}); "
                         f"check the file or pass --format") from e


def iter_records(path: str | Path, format: str | None = None, chunk_size: int = 256) -> Iterator[Records]:
    """Stream a file as Records chunks; HDF5 and SeisBench datasets stream from disk, the other
    formats are read whole."""
    fmt = _check(format, path)
    if fmt == "hdf5":
        from quakesynth.formats.tqdne_hdf5 import iter_hdf5

        yield from iter_hdf5(path, chunk_size=chunk_size)
        return
    if fmt == "seisbench":
        from quakesynth.formats.seisbench import iter_dataset

        yield from iter_dataset(path, chunk_size=chunk_size)
        return
    records = read_records(path, format=fmt)
    for start in range(0, len(records), chunk_size):
        yield records[start:start + chunk_size]


__all__ = ["FORMATS", "DESCRIPTIONS", "infer_format", "open_writer", "write_records", "read_records",
           "iter_records"]
