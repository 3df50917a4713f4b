"""The stochastic method (Boore 2003) as a :class:`~quakesynth.generate.Generator`.

The adapter only: the physics (source and path spectra, windows, site terms, the simulation)
is :mod:`quakesynth.simulate.stochastic`. The per-record metadata (arrival samples, epicentral
distance, back azimuth) comes back from :meth:`StochasticGenerator._generate` with the
waveforms: the back azimuth is the one drawn and used to rotate the components, never
recovered by replaying a random stream.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.generate.base import ConditioningError, Generator
from quakesynth.simulate.stochastic import (
    PRESETS,  # noqa: F401 -- named in the docstring
    StochasticConfig,
    draw_record_parameters,
    load_config,
    preset_name,
    simulate,
)
from quakesynth.simulate.velocity_model import travel_times


class StochasticGenerator(Generator):
    """The stochastic method (Boore 2003) as a :class:`~quakesynth.generate.Generator`.

    Every waveform draws its own site (kappa0, delta S2S, noise level; no resonant layer),
    path term and back azimuth from its seed. By default all waveforms of a scenario share the
    median stress parameter: they are records of one median event, and their spread is the
    within-event variability (compare it with a GMM's phi). ``event_term=True`` gives each
    waveform its own stress-parameter deviate (sd ``source.stress_sigma_ln``), so the spread
    is the total variability (compare with sigma).

    ``site_resonance=True`` gives a share ``stations.resonance_fraction`` of the soil sites a
    resonant layer, as the stations of a corpus have (compare a model trained on a corpus
    with ``event_term=True, site_resonance=True``: the corpus's own distribution).

    ``preset`` names a simulator preset (:data:`PRESETS`: ``"bssa14"``, the default, fitted to
    BooreEtAl2014; ``"japan"``, the earlier Japan-like parameters) or a YAML path; ``config``
    takes precedence when both are given (``config=None`` and ``preset=None``: the default
    preset; the dataclass defaults are the Japan-like values).

    >>> gen = StochasticGenerator()                                         # doctest: +SKIP
    >>> rec = gen.generate(magnitude=6, distance=30, vs30=400, depth=10, gap=90, n=4, seed=0)  # doctest: +SKIP
    """

    name = "stochastic"  # conditioned on all five scenario variables (Generator.variables)
    description = ("Stochastic point-source method (Boore 2003) on pyrvt source/path spectra with "
                   "Japan parameters, P/S/coda packets, BSSA14 site term")
    default_batch_size = 32

    def __init__(self, config: StochasticConfig | dict | str | Path | None = None,
                 overrides: list[str] | tuple[str, ...] = (), preset: str | None = None,
                 event_term: bool = False, site_resonance: bool = False) -> None:
        self.preset = preset_name(preset if config is None else None)
        self.config = load_config(config if config is not None else self.preset, overrides)
        self.event_term = bool(event_term)
        self.site_resonance = bool(site_resonance)
        w = self.config.waveform
        self.fs, self.n_samples, self.components = float(w.fs), int(w.n_samples), w.components
        self.ranges = {k: tuple(v) for k, v in dataclasses.asdict(self.config.validity).items()}

    def check_table(self, scenarios, allow_extrapolation: bool = False) -> pd.DataFrame:
        table = super().check_table(scenarios, allow_extrapolation)
        bad = table["distance"].to_numpy() < table["depth"].to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise ConditioningError(f"distance={table['distance'].iloc[i]:g} km is smaller than depth="
                                    f"{table['depth'].iloc[i]:g} km: the hypocentral distance cannot be "
                                    "less than the depth")
        low = table["distance"].to_numpy() <= 0
        if low.any():
            raise ConditioningError("distance must be positive (hypocentral distance in km)")
        return table

    def _generate(self, cond: np.ndarray, seeds: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, dict]:
        """Acceleration (B, 3, n_samples) in m/s^2 and the metadata of what was drawn and
        derived: arrival samples, epicentral distance, and (ZNE output) the back azimuth the
        components were rotated with (degrees), taken from the drawn parameters themselves."""
        m, r, v, z = (cond[:, k] for k in range(4))
        params = draw_record_parameters(m, r, z, v, seeds, self.config, event_term=self.event_term,
                                        site_resonance=self.site_resonance)
        data = simulate(params, seeds, self.config)
        tt = travel_times(z, r, self.config.velocity)
        w = self.config.waveform
        extra: dict[str, Any] = {
            "trace_p_arrival_sample": w.p_onset_s * w.fs,
            "trace_s_arrival_sample": (w.p_onset_s + tt["tS"] - tt["tP"]) * w.fs,
            "path_ep_distance_km": tt["epicentral_km"],
            "source_magnitude_type": "Mw",
            "station_vs30_source": "simulated",
        }
        if w.components == "ZNE":
            extra["path_back_azimuth_deg"] = [float(b) for b in params["back_azimuth"]]
        return data, extra
