"""Configuration of ``quakesynth evaluate``: bins, scenarios and feature settings.

Every field is a plain number, string or tuple of them, with its unit. A YAML or JSON file
(``--bins FILE``) may set any of them::

    bins:
      magnitude_edges: [4.0, 5.0, 6.0, 7.0, 9.1]
      distance_edges_km: [0, 50, 100, 200, 600]
    scenarios:
      - {name: "M6 Vs30=400 vs distance", vary: distance, values: [10, 20, 40, 80, 160],
         magnitude: 6.0, vs30: 400}
    periods_s: [0.1, 0.3, 1.0, 3.0]
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from quakesynth.config import from_dict, to_dict
from quakesynth.metrics.hvsr import F0_BAND_HZ
from quakesynth.scenario import UNITS

#: Scenario variables that a scenario curve may vary, with their units.
SCENARIO_VARIABLES = {n: UNITS[n] for n in ("magnitude", "distance", "vs30")}


@dataclass(frozen=True)
class BinsConfig:
    """Bin edges of the report's maps and curves."""

    # magnitude edges of the magnitude-distance (M-R) bins (envelopes, log-FAS, eq. 13 maps, FD)
    magnitude_edges: tuple[float, ...] = (4.0, 5.0, 6.0, 7.0, 9.1)
    # hypocentral-distance edges of the M-R bins, km
    distance_edges_km: tuple[float, ...] = (0.0, 50.0, 100.0, 200.0, 1000.0)
    # hypocentral-distance edges of the bias-versus-distance curves (Fig. 4), km
    bias_distance_edges_km: tuple[float, ...] = (1.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 1000.0)
    # magnitude edges of the D5-95-versus-magnitude curves (Fig. 6)
    duration_magnitude_edges: tuple[float, ...] = (3.0, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 8.0, 9.1)


@dataclass(frozen=True)
class ScenarioConfig:
    """One scenario curve of SA against one variable (Figs. 8-9)."""

    name: str = "M6.0 Vs30 400 m/s: SA vs distance"  # title of the curve
    vary: str = "distance"  # the variable on the x axis: magnitude, distance or vs30
    values: tuple[float, ...] = (10.0, 20.0, 40.0, 80.0, 160.0)  # x values (unit of `vary`)
    magnitude: float = 6.0  # fixed magnitude
    distance: float = 50.0  # fixed hypocentral distance, km
    vs30: float = 400.0  # fixed Vs30, m/s
    depth: float = 10.0  # hypocentre depth, km
    gap: float = 100.0  # azimuthal gap, degrees
    realizations: int = 20  # waveforms per model and x value
    magnitude_window: float = 0.3  # data selection: |M - M0| <= this, magnitude units
    distance_window: float = 0.15  # data selection: |log10 R - log10 R0| <= this
    vs30_window: float = 0.15  # data selection: |log10 Vs30 - log10 Vs30_0| <= this

    def __post_init__(self) -> None:
        if self.vary not in SCENARIO_VARIABLES:
            raise ValueError(f"scenario {self.name!r}: vary must be one of {sorted(SCENARIO_VARIABLES)}; got {self.vary!r}")
        if len(self.values) == 0:
            raise ValueError(f"scenario {self.name!r}: values is empty")
        if self.realizations < 2:
            raise ValueError(f"scenario {self.name!r}: realizations must be >= 2; got {self.realizations}")

    def table(self) -> Any:
        """The scenario table (one row per x value, column ``n``) for ``generate_table``."""
        import pandas as pd

        rows = []
        for v in self.values:
            row = dict(magnitude=self.magnitude, distance=self.distance, vs30=self.vs30,
                       depth=self.depth, gap=self.gap, n=self.realizations)
            row[self.vary] = float(v)
            rows.append(row)
        return pd.DataFrame(rows)


def _default_scenarios() -> tuple[ScenarioConfig, ...]:
    return (
        ScenarioConfig(),
        ScenarioConfig(name="R 50 km Vs30 400 m/s: SA vs magnitude", vary="magnitude",
                       values=(4.5, 5.0, 5.5, 6.0, 6.5, 7.0)),
        ScenarioConfig(name="M6.0 R 50 km: SA vs Vs30", vary="vs30",
                       values=(200.0, 300.0, 450.0, 700.0, 1000.0)),
    )


@dataclass(frozen=True)
class FeatureConfig:
    """What is computed for every waveform (in the worker processes)."""

    periods_s: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)  # PSA periods of the tidy table, s
    ims: str = "core"  # IMs of the tidy table: "core" (those the analysis uses) or "all" (every IM of `quakesynth ims`)
    fas_fmin_hz: float = 0.1  # lowest centre frequency of the smoothed log-FAS grid, Hz
    fas_fmax_hz: float = 40.0  # highest centre frequency (NaN above 0.45 fs), Hz
    fas_points: int = 64  # log-spaced centre frequencies of log-FAS and HVSR
    ko_bandwidth: float = 40.0  # Konno-Ohmachi b
    envelope_kernel: int = 128  # moving-average envelope kernel, samples
    envelope_points: int = 128  # envelope time grid points
    envelope_duration_s: float = 40.96  # envelope time grid length from the window start, s
    f0_band_hz: tuple[float, float] = F0_BAND_HZ  # band searched for the HVSR peak f0, Hz (metrics.hvsr: one band)
    gof_fmin_hz: float = 0.2  # lowest wavelet frequency of the Kristekova GOF, Hz
    gof_fmax_hz: float = 20.0  # highest wavelet frequency (at most 0.45 fs), Hz
    gof_nf: int = 50  # wavelet frequencies of the Kristekova GOF


@dataclass(frozen=True)
class EvaluateConfig:
    """The whole evaluation run."""

    realizations: int = 10  # waveforms per model and record
    seed: int = 0  # base seed of generation and sub-sampling
    batch_size: int = 64  # waveforms per generation batch and per IM work unit
    workers: int = 1  # processes of the IM stage (1 = in the main process)
    hvsr_min_records: int = 3  # stations with at least this many records get HVSR / f0
    paired_max_records: int = 200  # records per paired model for Kristekova / Anderson GOF
    floor_max_records: int = 20000  # cap of the real-data floor sample (train split)
    max_records: int = 0  # evaluate a seeded random subset of this many records (0: all)
    max_bins_plotted: int = 6  # M-R bins shown in the envelope / log-FAS figures (most populated)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    bins: BinsConfig = field(default_factory=BinsConfig)
    scenarios: tuple[ScenarioConfig, ...] = field(default_factory=_default_scenarios)

    def __post_init__(self) -> None:
        for name in ("realizations", "batch_size", "workers", "hvsr_min_records"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative; got {self.seed}")
        for name in ("magnitude_edges", "distance_edges_km", "bias_distance_edges_km",
                     "duration_magnitude_edges"):
            edges = np.asarray(getattr(self.bins, name), dtype=float)
            if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
                raise ValueError(f"bins.{name} must be at least two increasing numbers; got {list(edges)}")
        if self.features.ims not in ("core", "all"):
            raise ValueError(f"features.ims must be 'core' or 'all'; got {self.features.ims!r}")
        p = np.asarray(self.features.periods_s, dtype=float)
        if len(p) == 0 or np.any(p <= 0):
            raise ValueError(f"periods_s must be positive periods in s; got {list(p)}")

    def to_dict(self) -> dict:
        return to_dict(self)


def config_from_dict(d: dict | None) -> EvaluateConfig:
    """An :class:`EvaluateConfig` from a nested dict (unknown keys are named in the error).

    Top-level keys of :class:`FeatureConfig` (e.g. ``periods_s``) are accepted as shortcuts.
    """
    d = dict(d or {})
    feat_keys = {f.name for f in dataclasses.fields(FeatureConfig)}
    features = dict(d.pop("features", None) or {})
    for k in list(d):
        if k in feat_keys:
            features[k] = d.pop(k)
    scen = d.pop("scenarios", None)
    kw: dict[str, Any] = {}
    if scen is not None:
        if not isinstance(scen, list):
            raise ValueError(f"scenarios must be a list of scenario mappings; got {type(scen).__name__}")
        kw["scenarios"] = tuple(from_dict(ScenarioConfig, s) for s in scen)
    kw["features"] = from_dict(FeatureConfig, features)
    kw["bins"] = from_dict(BinsConfig, d.pop("bins", None))
    base = from_dict(EvaluateConfig, d)
    return dataclasses.replace(base, **kw)


def load_config_file(path: str | Path) -> dict:
    """Read a YAML or JSON bins/scenarios file as a dict."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bins/scenario file {str(path)!r} not found")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        d = json.loads(text)
    else:
        import yaml

        d = yaml.safe_load(text)
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ValueError(f"bins/scenario file {str(path)!r} must hold a mapping; got {type(d).__name__}")
    return d
