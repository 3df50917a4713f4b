"""Source-station geometry shared by ingestion, the simulators and the models: the azimuthal gap.

The azimuthal gap of an event is the largest angle (degrees) between the azimuths
(event to station) of consecutive stations seen from the epicentre. It is the one place for
this fact; :mod:`quakesynth.data.conditioning_columns` (real records) and
:mod:`quakesynth.simulate.corpus` (synthetic events) both use :func:`azimuthal_gap`.

Few stations (decided here, once):

- one station: 360 degrees (the whole circle is uncovered) -- both callers agree;
- no station with a finite azimuth: undefined. The function returns ``empty``, which is NaN by
  default (what :mod:`quakesynth.data.conditioning_columns` reports for an event without located
  stations). :mod:`quakesynth.simulate.corpus` passes ``empty=360.0`` explicitly: a simulated
  event always has stations, and 360 is the value its code always gave;
- fewer than three stations in real data: the geometric gap (360, or the larger of two angles)
  is computed here unchanged; *ingestion* then replaces it by a stated value
  (``sparse_gap_deg``, default 180) with ``path_azimuthal_gap_source = "assumed (N
  station(s))"``, see :mod:`quakesynth.data.ingest`. That rule belongs to ingestion, not to
  the geometry.

Non-finite azimuths are ignored (a station without coordinates does not close a gap).
"""

from __future__ import annotations

import numpy as np

__all__ = ["azimuthal_gap"]


def azimuthal_gap(azimuth_deg, empty: float = float("nan")) -> float:
    """Largest angle (degrees, in (0, 360]) between consecutive station azimuths.

    Parameters
    ----------
    azimuth_deg : array-like (S,) of event-to-station azimuths in degrees (any real value; taken
        modulo 360; non-finite values ignored).
    empty : value returned when no finite azimuth is given (default NaN: undefined).

    Returns
    -------
    gap_deg : float. One station gives 360.

    >>> azimuthal_gap([0, 90, 180, 270])
    90.0
    >>> azimuthal_gap([10, 20])
    350.0
    >>> azimuthal_gap([123.0])
    360.0
    >>> azimuthal_gap([]), azimuthal_gap([], empty=360.0)
    (nan, 360.0)
    """
    az = np.sort(np.mod(np.asarray(azimuth_deg, dtype=np.float64), 360.0))
    az = az[np.isfinite(az)]
    if az.size == 0:
        return float(empty)
    if az.size == 1:
        return 360.0
    steps = np.diff(np.concatenate([az, az[:1] + 360.0]))
    return float(steps.max())
