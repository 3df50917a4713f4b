"""The canonical SeisBench dataset, written by the project's dataset store.

A folder (``metadata.csv`` + ``waveforms.hdf5`` + ``stats.json`` + ``dataset.json``) written by
:class:`quakesynth.data.store.DatasetWriter` and read by :class:`quakesynth.data.store.Dataset`
or ``seisbench.data.WaveformDataset``; the store streams records to disk in buckets. In its
``metadata.csv`` ``trace_name`` is the waveform's location in the HDF5 file (SeisBench's
convention) and ``trace_name_original`` the record's name; ``split`` is assigned by event.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quakesynth.formats._common import RecordWriter
from quakesynth.records import Records


class DatasetFormatWriter(RecordWriter):
    format = "seisbench"
    directory = True

    def _open(self, first: Records) -> None:
        from quakesynth.data.store import DatasetWriter

        assert self.stack is not None
        self.writer = self.stack.enter_context(DatasetWriter(
            self.path, fs=first.fs, components=first.components, quantity=first.quantity,
            unit=first.unit, overwrite=self.overwrite))

    def _add(self, records: Records, start: int) -> None:
        self.writer.add(records)


def read_dataset(path: str | Path, limit: int | None = None) -> Records:
    """Read a dataset folder (the first ``limit`` records, or all)."""
    from quakesynth.data.store import Dataset

    ds = Dataset(path)
    return ds.get(np.arange(len(ds) if limit is None else min(limit, len(ds))))


def iter_dataset(path: str | Path, chunk_size: int = 256):
    """Stream a dataset folder as Records chunks, in order."""
    from quakesynth.data.store import Dataset

    yield from Dataset(path).batches(chunk_size)
