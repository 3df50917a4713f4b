"""The scenario variables: the one table of what a generator is conditioned on.

Each variable has a name (the key users type: ``--magnitude``, a CSV column, a model's
``variables``), the metadata column of :mod:`quakesynth.records` it fills, its unit, a one-line
description (the ``--help`` text) and its default range: the physical bounds that every model
enforces whatever its own validity ranges (a hypocentral distance is positive, a gap lies in
[0, 360] degrees). A model's own ``ranges`` narrow these.

Every other table of the variables is derived from :data:`SCENARIO_VARIABLES`:
:data:`CONDITIONING_COLUMNS` (name -> column), :data:`VARIABLES` (name -> (unit, column)),
:data:`UNITS` and :data:`PHYSICAL_RANGES`.

>>> SCENARIO_VARIABLES["distance"].column
'path_hyp_distance_km'
>>> unit("vs30"), unit("not-a-variable")
('m/s', '')
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScenarioVariable:
    """One scenario variable."""

    name: str  # the key: option name, CSV column, model variable
    column: str  # the metadata column it fills (quakesynth.records.METADATA_COLUMNS)
    unit: str  # physical unit ("" for dimensionless)
    description: str  # one line, the CLI help text
    lower: float = -math.inf  # physical lower bound, in ``unit``
    upper: float = math.inf  # physical upper bound (inclusive), in ``unit``
    lower_closed: bool = True  # True: value >= lower; False: value > lower

    @property
    def default_range(self) -> tuple[float, float]:
        """The physical bounds ``(lower, upper)`` in ``unit``."""
        return (self.lower, self.upper)

    def is_bounded(self) -> bool:
        """Whether the physical range bounds anything."""
        return math.isfinite(self.lower) or math.isfinite(self.upper)


#: The five scenario variables of HighFEM, in this order, and the metadata column of each.
SCENARIO_VARIABLES: dict[str, ScenarioVariable] = {v.name: v for v in (
    ScenarioVariable("magnitude", "source_magnitude", "",
                     "Magnitude (the scale of the model's training data; `quakesynth models`)."),
    ScenarioVariable("distance", "path_hyp_distance_km", "km", "Hypocentral distance, km.",
                     lower=0.0, lower_closed=False),
    ScenarioVariable("vs30", "station_vs30_mps", "m/s",
                     "Time-averaged shear-wave velocity of the top 30 m, m/s.", lower=0.0, lower_closed=False),
    ScenarioVariable("depth", "source_depth_km", "km", "Hypocentre depth, km.", lower=0.0),
    ScenarioVariable("gap", "path_azimuthal_gap_deg", "deg", "Azimuthal gap of the event's station network, degrees.",
                     lower=0.0, upper=360.0),
)}

#: Variable name -> metadata column.
CONDITIONING_COLUMNS: dict[str, str] = {n: v.column for n, v in SCENARIO_VARIABLES.items()}
#: Variable name -> (unit, metadata column), the shape ``quakesynth.generate`` has always used.
VARIABLES: dict[str, tuple[str, str]] = {n: (v.unit, v.column) for n, v in SCENARIO_VARIABLES.items()}
#: Variable name -> unit.
UNITS: dict[str, str] = {n: v.unit for n, v in SCENARIO_VARIABLES.items()}
#: Physical bounds of the bounded variables: name -> (lower, upper, lower_closed).
PHYSICAL_RANGES: dict[str, tuple[float, float, bool]] = {
    n: (v.lower, v.upper, v.lower_closed) for n, v in SCENARIO_VARIABLES.items() if v.is_bounded()}


def unit(name: str) -> str:
    """Unit of variable ``name``; ``""`` for a name that is not a scenario variable."""
    v = SCENARIO_VARIABLES.get(name)
    return v.unit if v is not None else ""


def column(name: str) -> str:
    """Metadata column of variable ``name``; a name that is not a variable is taken as a column."""
    v = SCENARIO_VARIABLES.get(name)
    return v.column if v is not None else name
