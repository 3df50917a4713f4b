"""quakesynth.data: reading real records, preprocessing them, and the dataset store.

Modules (imported on use; ``import quakesynth.data`` itself is cheap):

- :mod:`.readers` -- find and read inputs of any supported format (:func:`read`), one module
  per format: :mod:`.knet` (K-NET/KiK-net ASCII), :mod:`.seisbench_dataset`, :mod:`.stead`,
  :mod:`quakesynth.formats.peer` (PEER NGA AT2, read and written), :mod:`.obspy_files` (anything ObsPy reads); :mod:`.events`
  (``event.json`` and metadata conflicts), :mod:`.metadata_table` (user metadata CSV).
- :mod:`.preprocess` -- the HighFEM preprocessing and screening (:func:`highpass`, ...);
  :mod:`.picking` -- P pickers (:class:`STALTAPicker`, :class:`PhaseNetPicker`).
- :mod:`.conditioning_columns` -- the metadata columns of the scenario variables: distances, back azimuth, azimuthal gap, Vs30 from a station table.
- :mod:`.store` -- :class:`DatasetWriter` / :class:`Dataset` (SeisBench-compatible).
- :mod:`.ingest` -- all of the above in one call (:func:`quakesynth.data.ingest.ingest`),
  with a report of what was dropped and why (:mod:`.ingest_report`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Dataset": "quakesynth.data.store",
    "DatasetWriter": "quakesynth.data.store",
    "assign_splits": "quakesynth.data.store",
    "read": "quakesynth.data.readers",
    "ReadOptions": "quakesynth.data.readers",
    "IngestConfig": "quakesynth.data.ingest",
    "PreprocessConfig": "quakesynth.data.preprocess",
    "highpass": "quakesynth.data.preprocess",
    "Picker": "quakesynth.data.picking",
    "STALTAPicker": "quakesynth.data.picking",
    "PhaseNetPicker": "quakesynth.data.picking",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'quakesynth.data' has no attribute {name!r}")
