"""The intensity-measure table of a dataset, one row per record (``quakesynth ims``).

Every record's metadata row followed by its intensity measures from
:func:`quakesynth.metrics.ims_of_records`, columns named ``<IM>_<component or combination>_<unit>``
(``PGA_RotD50_g``, ``PSA1.0_RotD50_g``, ``PGV_GM_cm/s``, ``D5-95_H1_s``...).

It streams: records are read in batches, each batch is computed by a worker process that opens
the dataset itself, and the rows are appended to the CSV in dataset order as soon as the
batches before them are written; at most ``2 x workers`` batches are in memory, whatever the
dataset size. The CSV is written to a temporary file beside the target and moved into place
at the end (:func:`quakesynth._atomic.atomic_path`), so an interrupted run leaves nothing
behind. The table does not depend on the number of workers or the batch size.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

DEFAULT_PERIODS = "0.1,0.3,1,3"
#: A worker process costs about 2.5 CPU-s to start (imports, compiled-kernel cache), the IMs of
#: a 3 x 4096-sample record about 4 CPU-ms (2-core machine, 4 periods): a pool is used only when
#: every worker gets at least this many records; smaller tables are computed in this process,
#: whose IM kernels are threaded over all cores anyway.
MIN_RECORDS_PER_WORKER = 1000

# per-process cache of the opened dataset view, so that a worker opens it once
_OPEN: dict[tuple[str, str | None], Any] = {}


def parse_periods(text: str) -> list[float]:
    """``"0.1,0.3,1,3"`` -> [0.1, 0.3, 1.0, 3.0]; ValueError on non-positive or non-numbers.

    >>> parse_periods("0.1, 1,3")
    [0.1, 1.0, 3.0]
    """
    out = []
    for tok in str(text).split(","):
        tok = tok.strip()
        if not tok:
            continue
        try:
            T = float(tok)
        except ValueError:
            raise ValueError(f"--periods: {tok!r} is not a number (give periods in s, e.g. 0.1,0.3,1,3)") from None
        if not (math.isfinite(T) and T > 0):
            raise ValueError(f"--periods: periods must be positive and finite; got {tok!r}")
        out.append(T)
    if not out:
        raise ValueError("--periods is empty: give at least one period in s, e.g. 0.1,0.3,1,3")
    return out


def parse_components(text: str | None) -> list[str] | None:
    """``"RotD50,GM,H1"`` -> ['RotD50', 'GM', 'H1']; ``None``/``"all"`` -> None (keep all)."""
    if text is None or str(text).strip().lower() in ("", "all"):
        return None
    return [t.strip() for t in str(text).split(",") if t.strip()]


def component_of(column: str) -> str | None:
    """The component token of an IM column ``<IM>_<component>_<unit>`` (None otherwise).

    >>> component_of("PSA1.0_RotD50_g"), component_of("PGV_GM_cm/s"), component_of("trace_name")
    ('RotD50', 'GM', None)
    """
    parts = column.split("_")
    return parts[1] if len(parts) == 3 and parts[0] and parts[2] else None


def _dataset(path: str, split: str | None):
    key = (str(path), split)
    if key not in _OPEN:
        from quakesynth.data.store import Dataset

        ds = Dataset(path)
        _OPEN[key] = ds.split(split) if split else ds
    return _OPEN[key]


def ims_batch(path: str, split: str | None, start: int, stop: int, periods: list[float],
              threads: int | None = None):
    """Metadata and IMs of records ``start:stop`` of the (split of the) dataset: a DataFrame.

    A pure function of its arguments (it opens the dataset itself), so it runs unchanged in
    a worker process. ``threads``: threads of the compiled IM kernels (None: all CPUs).
    """
    import numpy as np
    import pandas as pd

    from quakesynth.metrics import ims_of_records

    ds = _dataset(path, split)
    records = ds.get(np.arange(start, stop))
    table = ims_of_records(records, periods=list(periods), workers=threads).reset_index(drop=True)
    meta = records.metadata.reset_index(drop=True)
    ims = table[[c for c in table.columns if c not in meta.columns]]
    return pd.concat([meta, ims], axis=1)


def _select(frame, keep: list[str] | None, meta_columns: set[str]):
    if keep is None:
        return frame
    found = {component_of(c) for c in frame.columns if c not in meta_columns} - {None}
    unknown = [k for k in keep if k not in found]
    if unknown:
        raise ValueError(f"--components: {', '.join(unknown)} not among the computed ones "
                         f"({', '.join(sorted(found))})")
    return frame[[c for c in frame.columns if c in meta_columns or component_of(c) in keep]]


def ims_table(dataset: str | Path, output: str | Path, periods=(0.1, 0.3, 1.0, 3.0),
              components: list[str] | None = None, split: str | None = None, batch_size: int = 64,
              workers: int = 2, overwrite: bool = False, progress: bool = False,
              min_records_per_worker: int = MIN_RECORDS_PER_WORKER) -> int:
    """Write the IM table of a dataset to a CSV file; returns the number of rows written.

    Parameters
    ----------
    dataset : dataset folder (:class:`quakesynth.data.store.Dataset`).
    output : the CSV file to write (atomically).
    periods : PSA periods, s.
    components : keep only these component/combination tokens (``H1``, ``RotD50``, ``GM``...);
        None keeps all. Metadata columns are always kept.
    split : ``train``, ``dev`` or ``test`` (None: every record).
    batch_size : records per work unit.
    workers : processes (1 computes in this process).
    min_records_per_worker : use the process pool only if every worker gets at least this
        many records (see :data:`MIN_RECORDS_PER_WORKER`).
    overwrite : replace an existing ``output``.
    progress : show a progress bar (stderr).
    """
    from quakesynth._atomic import check_writable
    from quakesynth.data.store import SPLITS

    periods = [float(T) for T in periods]
    if any(not (math.isfinite(T) and T > 0) for T in periods) or not periods:
        raise ValueError(f"periods must be positive and finite (s); got {periods}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    check_writable(output, overwrite)  # before any work
    _OPEN.pop((str(dataset), split), None)  # never a stale view of a rewritten dataset
    try:
        return _write_table(str(dataset), output, periods, components, split, batch_size, workers,
                            overwrite, progress, min_records_per_worker)
    finally:
        _OPEN.pop((str(dataset), split), None)  # close the HDF5 file


def _write_table(dataset, output, periods, components, split, batch_size, workers, overwrite, progress,
                 min_records_per_worker) -> int:
    """The streaming part of :func:`ims_table` (arguments already validated)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from quakesynth._atomic import atomic_path
    from quakesynth.metrics.response import default_workers
    from quakesynth.pool import OrderedPipeline, process_pool
    from quakesynth.records import METADATA_COLUMNS

    ds = _dataset(dataset, split)
    if ds.quantity != "acceleration":
        raise ValueError(f"dataset {str(dataset)!r} holds {ds.quantity}; intensity measures need acceleration records")
    n = len(ds)
    if n == 0:
        raise ValueError(f"dataset {str(dataset)!r} has no records" + (f" in split {split!r}" if split else ""))
    meta_columns = set(ds.metadata.columns) | set(METADATA_COLUMNS)
    starts = list(range(0, n, batch_size))
    if n < workers * min_records_per_worker or len(starts) < 2:
        workers = 1
    state: dict[str, Any] = {"columns": None, "rows": 0}
    with atomic_path(output, overwrite=overwrite) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        bar = tqdm(total=n, disable=not progress, desc=f"ims ({workers} worker{'s' * (workers > 1)})",
                   unit="rec")

        def write(frame: pd.DataFrame) -> None:
            frame = _select(frame, components, meta_columns)
            if state["columns"] is None:
                state["columns"] = list(frame.columns)
                frame.to_csv(fh, index=False, float_format="%.8g")
            else:
                frame.reindex(columns=state["columns"]).to_csv(fh, index=False, header=False, float_format="%.8g")
            state["rows"] += len(frame)
            bar.update(len(frame))

        executor = process_pool(workers) if workers > 1 else None
        # in a pool, each process gets its share of the CPUs for the threaded IM kernels
        threads = None if executor is None else max(1, default_workers() // workers)
        try:
            pipe = OrderedPipeline(executor, max_pending=2 * workers)
            for a in starts:
                pipe.submit(ims_batch, dataset, split, a, min(a + batch_size, n), periods, threads,
                            callback=write)
            pipe.drain()
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
            bar.close()
    return state["rows"]
