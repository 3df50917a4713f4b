"""Products on top of the generation API: streaming a scenario table to disk and converting
acceleration to velocity or displacement.

:func:`generate_to_file` streams a table to any output format (:mod:`quakesynth.formats`)
chunk by chunk; :func:`to_quantity` gives velocity or displacement. No generator code is
imported here (a generator is anything with :meth:`~quakesynth.generate.Generator.iter_table`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from quakesynth.records import QUANTITY_UNITS, Records

#: Origin time of every generated event unless given (``origin_time`` / ``--origin-time``).
DEFAULT_ORIGIN_TIME = "2000-01-01T00:00:00"


class TableGenerator(Protocol):
    """What :func:`generate_to_file` needs of a :class:`~quakesynth.generate.Generator`."""

    def iter_table(self, scenarios: Any, **kwargs: Any) -> Iterator[Records]: ...


def to_quantity(records: Records, quantity: str) -> Records:
    """Records as ``quantity``, by integration with baseline correction.

    Acceleration (m/s^2) becomes velocity (m/s) or displacement (m) through
    :func:`quakesynth.metrics.integrate` (its default quadratic baseline correction of velocity
    and displacement; displacement is its corrected second integral); velocity becomes
    displacement through the same routine's first integral. The step is added to every
    record's processing history. Returns ``records`` itself when it already is ``quantity``.
    """
    if quantity not in QUANTITY_UNITS:
        raise ValueError(f"quantity must be one of {list(QUANTITY_UNITS)}; got {quantity!r}")
    if quantity == records.quantity:
        return records
    if records.unit != QUANTITY_UNITS[records.quantity]:
        raise ValueError(f"cannot integrate records in {records.unit!r}: convert to SI units first")
    order = list(QUANTITY_UNITS).index(quantity) - list(QUANTITY_UNITS).index(records.quantity)
    if order < 0:
        raise ValueError(f"cannot convert {records.quantity} to {quantity}: only integration "
                         f"(acceleration -> velocity -> displacement) is supported")
    from quakesynth.metrics import integrate

    first, second = integrate(records.data.astype(np.float64), records.fs)
    out = records.replace(data=first if order == 1 else second, quantity=quantity,
                          unit=QUANTITY_UNITS[quantity])
    out.add_processing("integrate", to=quantity, times=order, routine="quakesynth.metrics.integrate",
                       baseline="polynomial", order=2)
    return out


def generate_to_file(generator: TableGenerator, scenarios: pd.DataFrame | str | Path, output: str | Path,
                     format: str | None = None, overwrite: bool = False, seed: int = 0,
                     batch_size: int | None = None, device: str = "cpu", quantity: str = "acceleration",
                     allow_extrapolation: bool = False, progress: bool = False,
                     rows: slice | None = None, origin_time: str = DEFAULT_ORIGIN_TIME) -> int:
    """Generate the waveforms of a scenario table straight to disk, chunk by chunk.

    Memory does not grow with the number of waveforms: each chunk of ``batch_size`` records
    is written (:func:`quakesynth.formats.open_writer`) before the next is generated. The
    output (format from its suffix unless ``format`` is given) appears only when everything
    succeeded, and an existing output raises ``FileExistsError`` before any work unless
    ``overwrite``. Returns the number of waveforms written.
    """
    from quakesynth.formats import open_writer

    with open_writer(output, format=format, overwrite=overwrite) as writer:
        for chunk in generator.iter_table(scenarios, seed=seed, batch_size=batch_size, device=device,
                                          allow_extrapolation=allow_extrapolation, progress=progress,
                                          rows=rows, quantity=quantity, origin_time=origin_time):
            writer.add(chunk)
    return writer.count
