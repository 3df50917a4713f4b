"""Simulator corpora for site-specific generation: a small network of stations with known f0.

TimesNet-Gen (arXiv 2512.04694) is trained on many records per station and judged by how well
the generated records keep each station's HVSR shape and fundamental frequency f0. The
stochastic simulator (:mod:`quakesynth.simulate`) gives stations whose resonance is known
exactly: a damped soil layer over a half-space with ``f0 = Vs / 4H`` (Kramer 1996; see
:func:`quakesynth.simulate.site.layer_transfer_function`), whose horizontal-to-vertical ratio
peaks at ``f0``. :func:`site_station_table` builds such a network with chosen f0 values -- by
default 12 stations with three tight groups (1.8/2.0/2.2 Hz, 4.0/4.5/5.0 Hz and 7/8 Hz: the
paper's hard case of neighbouring stations with close f0) -- and :func:`write_site_corpus`
simulates every event at every station into a dataset store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Default f0 values of the site network, Hz (three groups of close f0).
DEFAULT_F0_HZ = (0.9, 1.3, 1.8, 2.0, 2.2, 3.0, 4.0, 4.5, 5.0, 7.0, 8.0, 11.0)


@dataclass(frozen=True)
class SiteCorpusConfig:
    """A small site-response network and its waveform layout (see :func:`write_site_corpus`)."""

    fs: float = 50.0  # sampling rate, Hz
    n_samples: int = 1024  # record length, samples (20.48 s at 50 Hz)
    p_onset_s: float = 3.0  # P onset after the window start, s
    antialias_hz: float = 20.0  # anti-alias corner of the recorder, Hz (below Nyquist)
    half_width_km: float = 15.0  # half side of the station box, km
    offshore_margin_km: float = 25.0  # epicentres up to this far beyond the box, km
    magnitude_min: float = 4.0  # smallest magnitude, Mw
    magnitude_max: float = 6.5  # largest magnitude, Mw
    deep_depth_max_km: float = 40.0  # deepest hypocentre, km
    vs30_mps: float = 300.0  # Vs30 of every station, m/s
    impedance_ratio: float = 0.2  # alpha of every resonant layer
    damping: float = 0.03  # soil damping ratio of every layer
    site_sigma_ln: float = 0.2  # station-to-station sd of the smooth ln amplification (delta S2S)


def site_station_table(f0_hz: tuple[float, ...] | list[float] = DEFAULT_F0_HZ,
                       cfg: SiteCorpusConfig = SiteCorpusConfig(), seed: int = 0) -> pd.DataFrame:
    """A station table (:data:`quakesynth.simulate.site.STATION_COLUMNS`) with one resonant
    layer per station at the given ``f0_hz`` (Hz); codes ``ST01``, ``ST02``, ...

    Positions, kappa0, smooth site terms and noise levels are drawn as in
    :func:`quakesynth.simulate.site.make_station_table`; Vs30, impedance ratio and damping are
    the same for all stations, so f0 is what tells them apart.
    """
    import dataclasses

    from quakesynth.simulate.site import STATION_COLUMNS, StationConfig, make_station_table

    f0 = np.asarray(f0_hz, dtype=np.float64)
    if f0.ndim != 1 or f0.size < 2 or not np.all(f0 > 0):
        raise ValueError(f"f0_hz must list at least two positive frequencies; got {f0_hz!r}")
    if f0.max() >= cfg.fs / 2:
        raise ValueError(f"f0_hz must stay below the Nyquist frequency {cfg.fs / 2} Hz; got {f0.max()}")
    st_cfg = dataclasses.replace(StationConfig(), n_stations=len(f0), half_width_km=cfg.half_width_km,
                                 site_sigma_ln=cfg.site_sigma_ln, resonance_fraction=0.0)
    table = make_station_table(st_cfg, seed)
    table["station_code"] = [f"ST{i + 1:02d}" for i in range(len(f0))]
    table["vs30_mps"] = cfg.vs30_mps
    table["f0_hz"] = f0
    table["impedance_ratio"] = cfg.impedance_ratio
    table["damping"] = cfg.damping
    return table[list(STATION_COLUMNS)]


def corpus_configs(cfg: SiteCorpusConfig, n_stations: int):
    """(CorpusConfig, StochasticConfig) of a site corpus."""
    import dataclasses

    from quakesynth.simulate.corpus import CorpusConfig
    from quakesynth.simulate.stochastic import StochasticConfig

    sim = StochasticConfig()
    sim = dataclasses.replace(
        sim,
        waveform=dataclasses.replace(sim.waveform, fs=cfg.fs, n_samples=cfg.n_samples, p_onset_s=cfg.p_onset_s,
                                     antialias_hz=cfg.antialias_hz),
        stations=dataclasses.replace(sim.stations, n_stations=n_stations, half_width_km=cfg.half_width_km))
    corpus = CorpusConfig(magnitude_min=cfg.magnitude_min, magnitude_max=cfg.magnitude_max,
                          deep_depth_max_km=cfg.deep_depth_max_km, offshore_margin_km=cfg.offshore_margin_km,
                          distance_max_km=120.0, trigger_distance_m4_km=120.0, chunk_events=8)
    return corpus, sim


def write_site_corpus(path: str | Path, n_events: int, f0_hz: tuple[float, ...] | list[float] = DEFAULT_F0_HZ,
                      cfg: SiteCorpusConfig = SiteCorpusConfig(), seed: int = 0, workers: int = 1,
                      overwrite: bool = False, progress: bool = False) -> dict[str, Any]:
    """Simulate ``n_events`` events, each recorded at every station of
    :func:`site_station_table`, into a dataset store (split by event 80/10/10).

    The store holds ``stations.csv`` (the network with its true ``f0_hz``) and the usual
    metadata (``station_code``, ``station_f0_hz``, P/S arrival samples). Returns a summary.
    """
    import time

    from quakesynth.data.store import DatasetWriter
    from quakesynth.simulate.corpus import iter_corpus
    from quakesynth.simulate.site import STATION_COLUMNS

    stations = site_station_table(f0_hz, cfg, seed)
    corpus, sim = corpus_configs(cfg, len(stations))
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=n_events * len(stations), disable=not progress, desc="site corpus", unit="rec")
    with DatasetWriter(path, fs=cfg.fs, components=sim.waveform.components, seed=seed,
                       overwrite=overwrite) as writer:
        for rec in iter_corpus(n_events, len(stations), seed, corpus, sim, workers, stations):
            writer.add(rec)
            bar.update(len(rec))
        writer.add_file("stations.csv", stations[list(STATION_COLUMNS)].to_csv(index=False))
        writer.set_info(generator="stochastic", purpose="sitegen", seed=int(seed), n_events=int(n_events),
                        f0_hz=[float(f) for f in f0_hz])
    bar.close()
    seconds = time.perf_counter() - t0
    return {"records": n_events * len(stations), "seconds": seconds, "path": str(path)}
