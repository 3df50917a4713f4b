"""The dataset store: a SeisBench-compatible dataset on disk, written once, read lazily.

Layout of a dataset folder (SeisBench's format, plus two JSON files SeisBench ignores)::

    metadata.csv     one row per record; SeisBench column names; ``trace_name`` is the
                     waveform's location ``bucket<k>$<i>,:<C>,:<T>``, ``trace_name_original``
                     the record's name; ``split`` is train / dev / test
    waveforms.hdf5   /data/bucket<k>: float32 (n, C, T) blocks; /data_format: dimension_order
                     "CW", component_order, sampling_rate, measurement, unit,
                     instrument_response
    stats.json       normalisation statistics of the waveforms and conditioning variables,
                     computed on the train split only
    dataset.json     format version, shape, units, split settings, metadata column dtypes

:class:`DatasetWriter` streams records to disk in buckets, assigns splits by event when it
closes, computes the statistics, and moves the finished folder into place atomically
(:func:`quakesynth._atomic.atomic_path`); the same input and seed give a byte-identical
folder. :class:`Dataset` reads the metadata into memory and waveforms on demand (HDF5 opened
lazily in each process), so memory does not grow with the dataset (266,000 records of
3 x 4096 samples are 13 GB of waveforms and ~100 MB of metadata).

>>> from quakesynth.data.store import Dataset, DatasetWriter           # doctest: +SKIP
>>> with DatasetWriter("ds", fs=100.0, components="ZNE") as w:        # doctest: +SKIP
...     w.add(records)
>>> ds = Dataset("ds"); train = ds.split("train")                     # doctest: +SKIP
>>> for batch in train.batches(64, shuffle=True, seed=0): ...         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.plain_json import to_plain
from quakesynth.records import (
    CONDITIONING_COLUMNS,
    METADATA_COLUMNS,
    QUANTITY_UNITS,
    RAW_UNITS,
    Records,
    normalise_metadata,
)

FORMAT_VERSION = 1
SPLITS = ("train", "dev", "test")
METADATA_FILE, WAVEFORMS_FILE, STATS_FILE, INFO_FILE = "metadata.csv", "waveforms.hdf5", "stats.json", "dataset.json"
_LOCATION = re.compile(r"^(?P<bucket>[^$]+)\$(?P<row>\d+),:(?P<c>\d+),:(?P<t>\d+)$")


# =========================================================================================
# splits and statistics
# =========================================================================================


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    f = tuple(float(x) for x in fractions)
    if len(f) != 3 or any(not math.isfinite(x) or x < 0 for x in f) or abs(sum(f) - 1) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative numbers (train, dev, test) "
                         f"summing to 1; got {tuple(fractions)}")
    return f  # type: ignore[return-value]


def assign_splits(source_id: Sequence, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                  preset: Sequence | None = None) -> np.ndarray:
    """Assign each record to train/dev/test so that no event is in two splits.

    The one event split of the package: ingestion, simulator corpora (both through
    :class:`DatasetWriter`) and the site-specific pools (by event, or by record with one key
    per record) all call it. (:func:`quakesynth.physics.data.split_indices` splits simulated
    wavefields, which have no events, and is kept apart: trained surrogates and their
    benchmark figures depend on its exact index sets.)

    Parameters
    ----------
    source_id : event id per record (N,); a missing id makes the record an event of its own.
    fractions : target fractions of *records* in train, dev, test (sum 1).
    seed : events are visited in a random order drawn from ``seed`` (sorted ids first, so the
        result does not depend on the input order of events), each going to the split
        furthest below its target.
    preset : optional split per record; records with one keep it, and the other records of
        their event join the event's most common preset split.

    Returns
    -------
    split : array (N,) of ``"train"``, ``"dev"``, ``"test"``.
    """
    frac = _check_fractions(fractions)
    sid = pd.Series(source_id, dtype="string").reset_index(drop=True)
    n = len(sid)
    key = sid.fillna(pd.Series([f"\x00row{i}" for i in range(n)], dtype="string"))
    pre = (pd.Series(preset, dtype="string").reset_index(drop=True) if preset is not None
           else pd.Series([pd.NA] * n, dtype="string"))
    if len(pre) != n:
        raise ValueError(f"preset has {len(pre)} values for {n} records")
    bad = pre.notna() & ~pre.isin(SPLITS)
    if bad.any():
        raise ValueError(f"preset splits must be one of {SPLITS}; got {pre[bad].iloc[0]!r}")
    out = pre.copy()
    counts = {s: int((pre == s).sum()) for s in SPLITS}
    # events with a preset row: unassigned rows join the event's most common preset split
    has = pre.notna()
    if has.any():
        major = (pd.DataFrame({"k": key[has], "s": pre[has]}).groupby("k")["s"]
                 .agg(lambda s: min(s.value_counts().items(), key=lambda kv: (-kv[1], SPLITS.index(kv[0])))[0]))
        fill = ~has & key.isin(major.index)
        out[fill] = key[fill].map(major)
        for s in SPLITS:
            counts[s] += int((out[fill] == s).sum())
    todo = out.isna()
    sizes = key[todo].value_counts()
    events = np.array(sorted(sizes.index.tolist()), dtype=object)
    order = np.random.default_rng(seed).permutation(len(events))
    target = {s: f * n for s, f in zip(SPLITS, frac)}
    allowed = [s for s, f in zip(SPLITS, frac) if f > 0]
    choice = {}
    for e in events[order]:
        s = max(allowed, key=lambda s: (target[s] - counts[s], -SPLITS.index(s)))
        choice[e] = s
        counts[s] += int(sizes[e])
    out[todo] = key[todo].map(choice)
    return out.to_numpy(dtype=object).astype(str)


def _finite_stats(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    d: dict[str, Any] = {"count": int(x.size)}
    if x.size:
        d.update(mean=float(x.mean()), std=float(x.std()), min=float(x.min()), max=float(x.max()))
        if (x > 0).all():
            lx = np.log10(x)
            d.update(log10_mean=float(lx.mean()), log10_std=float(lx.std()))
    return d


def conditioning_stats(metadata: pd.DataFrame) -> dict:
    """Count, mean, std, min, max (and log10 mean/std for positive ones) of each conditioning
    variable of ``metadata`` (physical units; missing values ignored)."""
    out = {}
    for name, col in CONDITIONING_COLUMNS.items():
        x = (metadata[col].astype("float64").to_numpy(na_value=np.nan) if col in metadata
             else np.zeros(0))
        out[name] = {"column": col, **_finite_stats(x)}
    return out


def _dump_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(to_plain(obj, nonfinite="none"), indent=2, sort_keys=True, allow_nan=False) + "\n")


# =========================================================================================
# writer
# =========================================================================================


class DatasetWriter:
    """Write records to a dataset folder (context manager; see the module docstring).

    Parameters
    ----------
    path : the dataset folder to create.
    fs : sampling rate of every record, Hz.
    components : component order, e.g. ``"ZNE"`` or ``"ZRT"``.
    quantity, unit : physical quantity and unit of the samples (``counts`` allowed).
    split_fractions : target fractions of records in train, dev, test.
    seed : seed of the split assignment.
    overwrite : replace an existing folder (otherwise ``FileExistsError``).
    bucket_size : records per HDF5 block.

    Records are added with :meth:`add` (any number of calls; all must share ``fs``,
    ``components``, quantity, unit and length). On a clean exit the splits, statistics and
    metadata are written and the folder moved into place; on an exception nothing is left.
    """

    def __init__(self, path: str | os.PathLike, fs: float = 100.0, components: str = "ZNE",
                 quantity: str = "acceleration", unit: str = "m/s^2",
                 split_fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                 overwrite: bool = False, bucket_size: int = 1024) -> None:
        from quakesynth._atomic import check_parent, check_writable

        if not (math.isfinite(fs) and fs > 0):
            raise ValueError(f"fs must be a positive sampling rate in Hz; got {fs!r}")
        Records(np.zeros((0, len(components), 1)), fs=fs, components=components, quantity=quantity, unit=unit)
        if bucket_size < 1:
            raise ValueError(f"bucket_size must be >= 1; got {bucket_size}")
        self.path = Path(path)
        self.fs, self.components, self.quantity, self.unit = float(fs), components, quantity, unit
        self.split_fractions = _check_fractions(split_fractions)
        self.seed, self.overwrite, self.bucket_size = int(seed), bool(overwrite), int(bucket_size)
        check_parent(self.path)
        check_writable(self.path, self.overwrite)
        self.n_samples: int | None = None
        self._stack: contextlib.ExitStack | None = None
        self._tmp: Path | None = None
        self._h5 = None
        self._guard = None
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        self._bucket = 0
        self._meta_parts: list[pd.DataFrame] = []
        self._meta_small: list[pd.DataFrame] = []
        self._names: set[str] = set()
        self._wstats: list[np.ndarray] = []  # per record (3, C): sum, sum of squares, abs max
        self._assigned: dict[str, np.ndarray] = {}
        self._files: dict[str, bytes] = {}
        self._info: dict[str, Any] = {}

    # -- context -----------------------------------------------------------------------
    def __enter__(self) -> DatasetWriter:
        from quakesynth._atomic import atomic_path

        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path, self.overwrite, directory=True))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._stack is not None, "use DatasetWriter in a with statement"
        try:
            if exc_type is None:
                try:
                    self._finalise()
                except OSError as e:
                    from quakesynth._atomic import output_error

                    raise output_error(self.path, e) from e
        except BaseException:
            self._close_h5(quiet=True)
            if not self._stack.__exit__(*sys.exc_info()):
                raise
            return False
        self._close_h5(quiet=True)
        return bool(self._stack.__exit__(exc_type, exc, tb))

    def _close_h5(self, quiet: bool = False) -> None:
        """Close the HDF5 file; raise its first write error unless ``quiet`` (failure path)."""
        h5, guard = self._h5, getattr(self, "_guard", None)
        self._h5 = self._guard = None
        try:
            if h5 is not None:
                if not quiet:
                    h5.flush()  # a write error here is raised, not printed by a destructor
                h5.close()
            if guard is not None:
                guard.close()
                guard.check()
        except Exception:
            if not quiet:
                raise

    # -- adding ------------------------------------------------------------------------
    @property
    def n_records(self) -> int:
        """Records added so far."""
        return len(self._names)

    def add(self, records: Records) -> None:
        """Append a batch of records (streamed to disk in blocks of ``bucket_size``)."""
        from quakesynth._atomic import check_terminated

        check_terminated()  # see quakesynth._atomic.check_terminated
        if self._tmp is None:
            raise ValueError("DatasetWriter.add() outside its with statement")
        if not isinstance(records, Records):
            raise ValueError(f"records must be a Records batch; got {type(records).__name__}")
        for attr, want in (("components", self.components), ("quantity", self.quantity), ("unit", self.unit)):
            if getattr(records, attr) != want:
                raise ValueError(f"records have {attr}={getattr(records, attr)!r}; the dataset holds {want!r}")
        if abs(records.fs - self.fs) > 1e-9 * self.fs:
            raise ValueError(f"records have fs={records.fs!r} Hz; the dataset holds {self.fs!r} Hz")
        if len(records) == 0:
            return
        if self.n_samples is None:
            self.n_samples = records.n_samples
        elif records.n_samples != self.n_samples:
            raise ValueError(f"records have {records.n_samples} samples; the dataset holds {self.n_samples}")
        if not np.isfinite(records.data).all():
            raise ValueError("records contain NaN or infinite samples; repair gaps before writing")
        meta = records.metadata.copy()
        names = meta["trace_name"]
        if names.isna().any():
            raise ValueError("every record needs a trace_name")
        dup = [n for n in names.tolist() if n in self._names]
        if dup or names.duplicated().any():
            raise ValueError(f"duplicate trace_name {(dup or names[names.duplicated()].tolist())[0]!r}")
        self._names.update(names.tolist())
        x = records.data  # float32; sums accumulate in float64 without a float64 copy
        self._wstats.append(np.stack([x.sum(axis=2, dtype=np.float64),
                                      np.einsum("nct,nct->nc", x, x, dtype=np.float64),
                                      np.maximum(x.max(axis=2), -x.min(axis=2)).astype(np.float64)], axis=1))
        self._meta_small.append(meta)
        if len(self._meta_small) >= 512:
            self._meta_parts.append(pd.concat(self._meta_small, ignore_index=True))
            self._meta_small = []
        self._buffer.append(records.data)
        self._buffered += len(records)
        try:
            while self._buffered >= self.bucket_size:
                self._write_bucket(self.bucket_size)
        except OSError as e:
            from quakesynth._atomic import output_error

            raise output_error(self.path, e) from e

    def assign(self, column: str, values: Sequence) -> None:
        """Set metadata ``column`` for all records added so far (values in the order added).

        For values known only once every record is in, e.g. each event's azimuthal gap.
        """
        if len(values) != self.n_records:
            raise ValueError(f"assign({column!r}) got {len(values)} values for {self.n_records} records")
        self._assigned[column] = np.asarray(values)

    def metadata(self) -> pd.DataFrame:
        """The metadata of the records added so far (a copy; the ``split`` is not yet final)."""
        self._consolidate()
        return self._meta_parts[0].copy() if self._meta_parts else normalise_metadata(None, 0)

    def add_file(self, name: str, content: str | bytes) -> None:
        """Store an extra file (e.g. the ingest report) in the dataset folder."""
        if "/" in name or name in (METADATA_FILE, WAVEFORMS_FILE, STATS_FILE, INFO_FILE):
            raise ValueError(f"add_file name must be a plain file name other than the dataset's own; got {name!r}")
        self._files[name] = content.encode() if isinstance(content, str) else bytes(content)

    def set_info(self, **info: Any) -> None:
        """Extra entries for ``dataset.json`` (plain values, e.g. the preprocessing config)."""
        self._info.update(info)

    # -- internals ---------------------------------------------------------------------
    def _open_h5(self):
        import h5py

        from quakesynth._atomic import GuardedFile

        if self._h5 is None:
            self._guard = GuardedFile(self._tmp / WAVEFORMS_FILE)
            self._h5 = h5py.File(self._guard, "w", libver=("earliest", "v110"), track_order=False)
            self._h5.create_group("data", track_order=False)
        return self._h5

    def _write_bucket(self, n: int) -> None:
        data = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        block, rest = data[:n], data[n:]
        self._open_h5()["data"].create_dataset(f"bucket{self._bucket}", data=block, dtype=np.float32,
                                               track_times=False)
        self._guard.check()  # a write error hidden in a cache flush
        self._bucket += 1
        self._buffer = [rest] if len(rest) else []
        self._buffered = len(rest)

    def _consolidate(self) -> None:
        parts = self._meta_parts + ([pd.concat(self._meta_small, ignore_index=True)] if self._meta_small else [])
        self._meta_small = []
        self._meta_parts = [pd.concat(parts, ignore_index=True)] if len(parts) > 1 else parts

    def _finalise(self) -> None:
        if self.n_records == 0:
            raise ValueError("no records were added: refusing to write an empty dataset")
        if self._buffered:
            self._write_bucket(self._buffered)
        self._consolidate()
        meta = self._meta_parts[0]
        for col, values in self._assigned.items():
            meta[col] = values
        meta = normalise_metadata(meta, len(meta))
        meta["split"] = pd.Series(assign_splits(meta["source_id"], self.split_fractions, self.seed,
                                                preset=meta["split"]), dtype="string")
        empty = [s for s, f in zip(SPLITS, self.split_fractions) if f > 0 and not (meta["split"] == s).any()]
        if empty:
            import warnings

            warnings.warn(f"split {' and '.join(repr(s) for s in empty)} of {str(self.path)!r} is empty: records "
                          f"are split by event and there are {meta['source_id'].nunique()} event(s); add events "
                          "or change the split fractions", UserWarning, stacklevel=3)
        # waveform locations, SeisBench style
        c, t, bs = len(self.components), self.n_samples, self.bucket_size
        idx = np.arange(len(meta))
        meta.insert(0, "trace_name_original", meta.pop("trace_name"))
        meta.insert(0, "trace_name", [f"bucket{i // bs}${i % bs},:{c},:{t}" for i in idx])
        # canonical strings: empty == missing
        for col in meta.columns:
            if isinstance(meta[col].dtype, pd.StringDtype) or meta[col].dtype == object:
                meta[col] = meta[col].mask(meta[col].astype("string").eq("").fillna(False).to_numpy(bool))
        train = (meta["split"] == "train").to_numpy()
        stats = self._stats(meta, train)
        h5 = self._open_h5()
        g = h5.create_group("data_format", track_order=False)
        restituted = "not restituted" if self.unit in RAW_UNITS else "restituted"
        for k, v in (("dimension_order", "CW"), ("component_order", self.components),
                     ("measurement", self.quantity), ("unit", self.unit), ("instrument_response", restituted)):
            g.create_dataset(k, data=np.bytes_(v), track_times=False)
        g.create_dataset("sampling_rate", data=np.float64(self.fs), track_times=False)
        self._close_h5()
        meta.to_csv(self._tmp / METADATA_FILE, index=False, lineterminator="\n")
        _dump_json(self._tmp / STATS_FILE, stats)
        from quakesynth import __version__

        info = {
            "format": "quakesynth dataset (SeisBench-compatible)", "format_version": FORMAT_VERSION,
            "quakesynth_version": __version__, "n_records": int(len(meta)), "n_samples": int(t),
            "fs": self.fs, "components": self.components, "quantity": self.quantity, "unit": self.unit,
            "dimension_order": "CW", "bucket_size": bs, "split_fractions": list(self.split_fractions),
            "seed": self.seed, "split_counts": {s: int((meta["split"] == s).sum()) for s in SPLITS},
            "columns": {col: str(meta[col].dtype) for col in meta.columns},
            **self._info,
        }
        _dump_json(self._tmp / INFO_FILE, info)
        for name, content in self._files.items():
            (self._tmp / name).write_bytes(content)

    def _stats(self, meta: pd.DataFrame, train: np.ndarray) -> dict:
        w = np.concatenate(self._wstats)[train]  # (n_train, 3, C)
        n_train, t = int(train.sum()), int(self.n_samples or 0)
        wave: dict[str, Any] = {"components": self.components, "unit": self.unit, "n_records": n_train}
        if n_train:
            total = n_train * t
            mean = w[:, 0].sum(axis=0) / total
            var = np.maximum(w[:, 1].sum(axis=0) / total - mean ** 2, 0.0)
            pga = w[:, 2]
            with np.errstate(divide="ignore"):
                lp = np.where(pga > 0, np.log10(pga), np.nan)
            wave.update(mean=mean, std=np.sqrt(var), abs_max=pga.max(axis=0),
                        log10_peak_mean=np.nanmean(lp, axis=0), log10_peak_std=np.nanstd(lp, axis=0),
                        std_all=float(np.sqrt(max(w[:, 1].sum() / (total * len(self.components))
                                                  - (w[:, 0].sum() / (total * len(self.components))) ** 2, 0))))
        return {"split": "train", "note": "computed on the train split only",
                "waveform": wave, "conditioning": conditioning_stats(meta[train])}


# =========================================================================================
# reader
# =========================================================================================


class _Store:
    """State shared by a dataset and its views: metadata, locations, the per-process HDF5."""

    def __init__(self, path: Path) -> None:
        import h5py

        self.path = path
        if not (path / METADATA_FILE).is_file() or not (path / WAVEFORMS_FILE).is_file():
            raise FileNotFoundError(f"{str(path)!r} is not a dataset: it needs {METADATA_FILE} and {WAVEFORMS_FILE}")
        info_path = path / INFO_FILE
        self.info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        stats_path = path / STATS_FILE
        self.stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
        with h5py.File(path / WAVEFORMS_FILE, "r") as f:
            fmt = {k: f["data_format"][k][()] for k in f["data_format"]} if "data_format" in f else {}
        self.data_format = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                            for k, v in fmt.items()}
        if self.data_format.get("dimension_order", "CW") != "CW":
            raise ValueError(f"{str(path)!r}: dimension_order {self.data_format['dimension_order']!r} "
                             "is not supported (quakesynth datasets are 'CW')")
        dtypes = {c: d for c, d in self.info.get("columns", {}).items()}
        dtypes.update({c: d for c, d in METADATA_COLUMNS.items() if c != "trace_name"})
        meta = pd.read_csv(path / METADATA_FILE, dtype={c: d for c, d in dtypes.items() if d != "bool"},
                           keep_default_na=True, low_memory=False)
        loc = meta["trace_name"].astype("string").str.extract(_LOCATION)
        if loc["bucket"].isna().any():  # one HDF5 dataset per trace (SeisBench allows it)
            loc.loc[loc["bucket"].isna(), "bucket"] = meta.loc[loc["bucket"].isna(), "trace_name"]
        self.bucket = loc["bucket"].astype(str).to_numpy()
        self.row = pd.to_numeric(loc["row"], errors="coerce").fillna(-1).astype(np.int64).to_numpy()
        if "trace_name_original" in meta:
            meta["trace_name"] = meta.pop("trace_name_original")
        self.metadata = meta
        self.fs = float(self.data_format.get("sampling_rate", self.info.get("fs", math.nan)))
        self.components = str(self.data_format.get("component_order", self.info.get("components", "ZNE")))
        self.quantity = str(self.data_format.get("measurement", self.info.get("quantity", "acceleration")))
        unit = str(self.data_format.get("unit", self.info.get("unit", QUANTITY_UNITS.get(self.quantity, ""))))
        self.unit = unit if unit in RAW_UNITS or unit == QUANTITY_UNITS.get(self.quantity) else \
            QUANTITY_UNITS.get(self.quantity, unit)
        self._h5 = None
        self._fd = None
        self._pid = None
        self._layout: dict[str, tuple | None] = {}

    def h5(self):
        """The HDF5 file, opened on first use in each process (DataLoader workers included)."""
        import h5py

        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path / WAVEFORMS_FILE, "r")
            self._fd = os.open(self.path / WAVEFORMS_FILE, os.O_RDONLY)
            self._layout = {}
            self._pid = os.getpid()
        return self._h5

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_h5"], state["_fd"], state["_pid"], state["_layout"] = None, None, None, {}
        return state

    def _direct(self, bucket: str):
        """``(offset, row_shape, dtype)`` of a contiguous, uncompressed block (None otherwise).

        Such a block is a plain C-order array at a fixed offset of the file, so its rows are
        read with one ``os.pread`` each, without HDF5's per-call overhead.
        """
        if bucket not in self._layout:
            d = self.h5()["data"][bucket]
            off = d.id.get_offset() if d.chunks is None and d.compression is None and d.ndim == 3 else None
            ok = off is not None and d.dtype.isnative and d.dtype.kind in "fiu"
            self._layout[bucket] = (int(off), d.shape[1:], d.dtype) if ok else None
        return self._layout[bucket]

    def _rows(self, bucket: str, a: int, b: int) -> np.ndarray:
        lay = self._direct(bucket)
        if lay is None:
            return self.h5()["data"][bucket][a:b]
        off, shape, dtype = lay
        row = int(np.prod(shape)) * dtype.itemsize
        buf = os.pread(self._fd, row * (b - a), off + row * a)
        return np.frombuffer(buf, dtype=dtype).reshape((b - a,) + tuple(shape))

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Waveforms (len(rows), C, T) float32 of base rows, one read per contiguous run."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            t = int(self.info.get("n_samples", 0))
            return np.zeros((0, len(self.components), t), dtype=np.float32)
        self.h5()
        order = np.lexsort((self.row[rows], self.bucket[rows])) if rows.size > 1 else np.zeros(1, np.int64)
        srows = rows[order]
        buckets, rowpos = self.bucket[srows], self.row[srows]
        out = None
        start = 0
        while start < len(srows):
            b = buckets[start]
            end = start + 1
            while end < len(srows) and buckets[end] == b:
                end += 1
            if rowpos[start] < 0:  # one HDF5 dataset per trace
                x = self.h5()["data"][b][()]
                if out is None:
                    out = np.empty((len(rows),) + x.shape, dtype=np.float32)
                out[order[start:end]] = x
                start = end
                continue
            k = start
            while k < end:  # contiguous runs of rows are one read each
                j = k + 1
                while j < end and rowpos[j] == rowpos[j - 1] + 1:
                    j += 1
                x = self._rows(b, int(rowpos[k]), int(rowpos[j - 1]) + 1)
                if out is None:
                    out = np.empty((len(rows),) + x.shape[1:], dtype=np.float32)
                out[order[k:j]] = x
                k = j
            start = end
        return out


class Dataset:
    """A dataset folder written by :class:`DatasetWriter` (or any SeisBench dataset in "CW").

    ``len(ds)``, ``ds.metadata`` (DataFrame, one row per record, ``trace_name`` = record
    name), ``ds.fs``, ``ds.components``, ``ds.stats``; ``ds[i]`` / ``ds.get(indices)`` ->
    :class:`~quakesynth.records.Records`; ``ds.split("train")`` and ``ds.select(...)`` are
    views; :meth:`batches` streams Records.
    """

    def __init__(self, path: str | os.PathLike, _store: _Store | None = None,
                 _rows: np.ndarray | None = None) -> None:
        self.path = Path(path)
        self._store = _store or _Store(self.path)
        self._rows = (np.arange(len(self._store.metadata), dtype=np.int64) if _rows is None
                      else np.asarray(_rows, dtype=np.int64))

    # -- description -------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._rows.size)

    def __repr__(self) -> str:
        return (f"Dataset({str(self.path)!r}, n={len(self)}, components={self.components!r}, "
                f"fs={self.fs:g} Hz, {self.quantity} in {self.unit})")

    @property
    def fs(self) -> float:
        return self._store.fs

    @property
    def components(self) -> str:
        return self._store.components

    @property
    def quantity(self) -> str:
        return self._store.quantity

    @property
    def unit(self) -> str:
        return self._store.unit

    @property
    def n_samples(self) -> int:
        return int(self._store.info.get("n_samples", 0)) or int(self.get([0]).n_samples if len(self) else 0)

    @property
    def stats(self) -> dict:
        """Normalisation statistics (train split; see ``stats.json``)."""
        return self._store.stats

    @property
    def info(self) -> dict:
        """Contents of ``dataset.json`` (format, shape, split settings...)."""
        return self._store.info

    @property
    def data_format(self) -> dict:
        """The HDF5 ``data_format`` group."""
        return dict(self._store.data_format)

    @property
    def metadata(self) -> pd.DataFrame:
        """Metadata of the records of this view (a copy, index 0..len-1)."""
        return self._store.metadata.iloc[self._rows].reset_index(drop=True)

    # -- views -------------------------------------------------------------------------
    def select(self, mask_or_indices) -> Dataset:
        """A view of some records: a boolean mask (len(self),) or positions in this view."""
        sel = np.asarray(mask_or_indices)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise ValueError(f"mask must have shape ({len(self)},); got {sel.shape}")
            rows = self._rows[sel]
        else:
            rows = self._rows[sel.astype(np.int64)]
        return Dataset(self.path, self._store, rows)

    def split(self, name: str) -> Dataset:
        """The records of split ``name`` (``train``, ``dev`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {name!r}")
        return self.select((self.metadata["split"] == name).fillna(False).to_numpy(dtype=bool))

    # -- reading -----------------------------------------------------------------------
    def get(self, indices) -> Records:
        """Records at positions ``indices`` of this view, in that order."""
        idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"index out of range for a dataset of {len(self)} records")
        rows = self._rows[idx]
        meta = self._store.metadata.iloc[rows].reset_index(drop=True)
        return Records(self._store.read(rows), fs=self.fs, components=self.components,
                       quantity=self.quantity, unit=self.unit, metadata=meta)

    def __getitem__(self, index) -> Records:
        if isinstance(index, slice):
            return self.get(np.arange(len(self))[index])
        return self.get(index)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False) -> Iterator[Records]:
        """Records in batches of ``batch_size``; in order, or shuffled from ``seed``.

        Only one batch is in memory at a time.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for a in range(0, len(self), batch_size):
            idx = order[a:a + batch_size]
            if drop_last and idx.size < batch_size:
                return
            yield self.get(idx)

    def torch_dataset(self, conditioning: Sequence[str] = tuple(CONDITIONING_COLUMNS),
                      normalise: bool = False) -> TorchDataset:
        """A map-style dataset for ``torch.utils.data.DataLoader`` (workers open the HDF5 lazily).

        Items are dicts ``{"waveform": (C, T) float32, "cond": (k,) float32, "index": int}``
        (NumPy; the default collate makes tensors). ``normalise`` standardises the
        conditioning variables with the train-split statistics.
        """
        return TorchDataset(self, conditioning, normalise)


class TorchDataset:
    """Map-style dataset over a :class:`Dataset` view (picklable; no torch import needed)."""

    def __init__(self, dataset: Dataset, conditioning: Sequence[str], normalise: bool = False) -> None:
        self.dataset = dataset
        self.conditioning = tuple(conditioning)
        meta = dataset.metadata
        cols = [CONDITIONING_COLUMNS.get(n, n) for n in self.conditioning]
        missing = [c for c in cols if c not in meta]
        if missing:
            raise ValueError(f"conditioning columns {missing} are not in the metadata")
        cond = np.stack([meta[c].astype("float64").to_numpy(na_value=np.nan) for c in cols], axis=1) \
            if cols else np.zeros((len(meta), 0))
        if normalise:
            st = dataset.stats.get("conditioning", {})
            mu = np.array([st.get(n, {}).get("mean", np.nan) for n in self.conditioning])
            sd = np.array([st.get(n, {}).get("std", np.nan) for n in self.conditioning])
            if not (np.isfinite(mu).all() and np.isfinite(sd).all() and (sd > 0).all()):
                raise ValueError("normalise=True needs train-split statistics (stats.json) for "
                                 f"{list(self.conditioning)}")
            cond = (cond - mu) / sd
        self.cond = cond.astype(np.float32)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        row = self.dataset._rows[i]
        return {"waveform": self.dataset._store.read(np.array([row]))[0], "cond": self.cond[i], "index": i}
