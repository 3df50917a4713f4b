"""quakesynth.data: reading real records, preprocessing them, and the dataset store.

Modules (imported on use; ``import quakesynth.data`` itself is cheap):

- :mod:`.readers` -- find and read inputs of any supported format (:func:`read`), one module
  per format: :mod:`.knet` (K-NET/KiK-net ASCII), :mod:`.seisbench_dataset`, :mod:`.stead`,
  :mod:`.at2` (PEER NGA), :mod:`.obspy_files` (anything ObsPy reads); :mod:`.events`
  (``event.json`` and metadata conflicts), :mod:`.metadata_table` (user metadata CSV).
- :mod:`.preprocess` -- the HighFEM preprocessing and screening (:func:`highpass`, ...);
  :mod:`.picking` -- P pickers (:class:`STALTAPicker`, :class:`PhaseNetPicker`).
- :mod:`.features` -- distances, back azimuth, azimuthal gap, Vs30 from a station table.
- :mod:`.store` -- :class:`DatasetWriter` / :class:`Dataset` (SeisBench-compatible).
- :mod:`.ingest` -- all of the above in one call (:func:`quakesynth.data.ingest.ingest`),
  with a report (:mod:`.report`).
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
