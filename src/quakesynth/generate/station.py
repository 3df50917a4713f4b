"""Shared station handling of the site-specific generators (:mod:`quakesynth.generate.timesnet`,
:mod:`quakesynth.generate.sitecvae`): one conditioning variable, ``station`` (a station code of
the training network), codes in the scenario table and indices in ``cond``; the decoded
waveforms' peak normalisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.generate.base import ConditioningError, Generator


def _unit_peak(x: np.ndarray) -> np.ndarray:
    """Decoded waveforms (B, C, T) divided by their own peak |x| over components and time
    (peak exactly 1, the normalisation of the training records); all-zero records stay zero."""
    peak = np.abs(x).max(axis=(1, 2), keepdims=True)
    return x / np.where(peak > 0, peak, 1.0)


class StationGenerator(Generator):
    """Shared station handling: codes in the table, indices in ``cond``."""

    variables = ("station",)
    codes: list[str] = []

    def check_table(self, scenarios, allow_extrapolation: bool = False) -> pd.DataFrame:
        if isinstance(scenarios, (str, Path)):
            path = Path(scenarios)
            if not path.exists():
                raise FileNotFoundError(f"scenario table {str(path)!r} not found")
            scenarios = pd.read_csv(path, dtype={"station": str})
        table = pd.DataFrame(scenarios).copy()
        if "station" not in table and "station_code" in table:
            table = table.rename(columns={"station_code": "station"})
        if "station" not in table:
            raise ConditioningError(f"missing conditioning variable 'station' ({self.name} knows stations {self.codes})")
        codes = table["station"].astype(str).tolist()
        unknown = sorted(set(codes) - set(self.codes))
        if unknown:
            raise ConditioningError(f"station {unknown[0]!r} is unknown to model {self.name!r}; stations: {self.codes}")
        table["station_code"] = codes
        table["station"] = [self.codes.index(c) for c in codes]
        return super().check_table(table, allow_extrapolation)

    def _metadata(self, rows: pd.DataFrame, k: np.ndarray, seeds: np.ndarray, seed: int) -> pd.DataFrame:
        meta = super()._metadata(rows, k, seeds, seed)
        meta["station_code"] = [self.codes[int(i)] for i in rows["station"].to_numpy()]
        return meta

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["variables"] = {"station": {"unit": "", "values": list(self.codes)}}
        return out


def load_station_model(path: str | Path, kind: str, cls: type[StationGenerator], **kwargs: Any) -> StationGenerator:
    """A site-specific generator of ``kind`` from a model directory or run folder
    (:func:`quakesynth.modeldir.load_model_dir`); keyword arguments go to ``cls``."""
    from quakesynth.modeldir import load_model_dir

    config, states = load_model_dir(path, kind=kind)
    kwargs.setdefault("name", config.get("name"))
    return cls(config, states, **kwargs)
