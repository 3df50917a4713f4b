"""Paired models: generators that reproduce a given record (e.g. a refiner).

A model that is given a record and returns a version of *that* record (a refiner adding high
frequencies to a low-pass-filtered record, a denoiser, a super-resolution model) can be
compared record by record, not only in distribution. The evaluation recognises such a model by
one method::

    class MyRefiner:
        name = "refiner"
        variables = ()            # conditioning it needs from the metadata (none here)

        lowpass = (1.0, 8)         # optional: reproduce() low-passes its input at fc (Hz), order

        def reproduce(self, records: Records, seeds: np.ndarray) -> Records:
            '''Waveform i reproduces records[i] (same fs), drawn with seeds[i].'''

The harness calls ``reproduce`` with each evaluation record repeated ``realizations`` times
and the same per-waveform seeds generation uses (``waveform_seed(seed, record, k)``); the
outputs enter every distribution analysis like a generator's, and realisation 0 of the first
``paired_max_records`` records is compared with its record: Kristekova envelope and phase GOF
(per component), Anderson's GOF score and the frequency bias of the metrics module.

A paired model that states ``lowpass = (fc, order)`` -- it keeps the record below ``fc`` and
makes the rest, from the record low-passed with the crossover filter of
:func:`quakesynth.physics.broadband.crossover_lowpass` -- is a broadband-from-low-frequency
method (the broadband refiner, :class:`quakesynth.generate.refiner.BroadbandRefiner`), and the
same records get the ``broadband`` section (:mod:`quakesynth.evaluate.broadband`): FAS bias per
band, PSA bias, Kristekova GOF above ``fc``, the error of the kept band below ``0.8 fc`` and the
continuity across ``fc``.
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


def input_lowpass(model: object) -> tuple[float, int] | None:
    """``(fc, order)`` of a paired model's low-passed input (its ``lowpass``), None when it does
    not state one; raises ValueError for a malformed one."""
    lp = getattr(model, "lowpass", None)
    if lp is None:
        return None
    try:
        fc, order = float(lp[0]), int(lp[1])
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{getattr(model, 'name', model)}.lowpass must be (fc_hz, order); got {lp!r}") from None
    if not (np.isfinite(fc) and fc > 0 and order >= 1):
        raise ValueError(f"{getattr(model, 'name', model)}.lowpass must have fc > 0 Hz and order >= 1; got {lp!r}")
    return fc, order
