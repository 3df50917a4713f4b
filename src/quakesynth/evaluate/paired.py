"""Paired models: generators that reproduce a given record (e.g. a refiner).

A model that is given a record and returns a version of *that* record (a refiner adding high
frequencies to a low-pass-filtered record, a denoiser, a super-resolution model) can be
compared record by record, not only in distribution. The evaluation recognises such a model by
one method::

    class MyRefiner:
        name = "refiner"
        variables = ()            # conditioning it needs from the metadata (none here)

        def reproduce(self, records: Records, seeds: np.ndarray) -> Records:
            '''Waveform i reproduces records[i] (same fs), drawn with seeds[i].'''

The harness calls ``reproduce`` with each evaluation record repeated ``realizations`` times
and the same per-waveform seeds generation uses (``waveform_seed(seed, record, k)``); the
outputs enter every distribution analysis like a generator's, and realisation 0 of the first
``paired_max_records`` records is compared with its record: Kristekova envelope and phase GOF
(per component), Anderson's GOF score and the frequency bias of the metrics module.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from quakesynth.records import Records


@runtime_checkable
class PairedModel(Protocol):
    """What a paired model provides (see the module docstring)."""

    name: str

    def reproduce(self, records: Records, seeds: np.ndarray) -> Records:
        ...
