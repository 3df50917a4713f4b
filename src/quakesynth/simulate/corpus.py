"""Stochastic-method corpora: scenario sampling, a repeating station network, parallel streaming.

A corpus mimics a strong-motion archive such as K-NET/KiK-net: events with a Gutenberg-Richter
magnitude distribution and a crustal + intraslab depth mixture, recorded by a fixed synthetic
network (:func:`quakesynth.simulate.site.make_station_table`) so that stations -- with their
Vs30, kappa0, site terms and possibly a resonant layer of known ``f0`` -- repeat across
events. Each event is recorded by ``stations_per_event`` stations within a magnitude-dependent
distance (the trigger range), and its azimuthal gap is that of the stations of the network
in range (the network that would locate it; offshore events have large gaps).

Two scenario designs (``corpus.magnitude_distribution`` and ``corpus.distance_distribution``):

- realistic (the default, ``gutenberg-richter`` + ``network``): truncated Gutenberg-Richter
  magnitudes (b = 1 leaves about 1 % of the records above M 6) and stations drawn uniformly
  among those within the magnitude-dependent trigger range, so distances follow the network
  geometry (density ~ r);
- training (``uniform`` + ``log-uniform``): magnitudes uniform over [magnitude_min,
  magnitude_max]; every event is recorded out to ``distance_max_km`` (no trigger range) and its
  stations are drawn with weights ~ 1/r^2 among those in range, which turns the network's ~ r
  station density into a density ~ 1/r: log-uniform hypocentral distances. Every magnitude x
  distance bin of the paper's classifier grid (:data:`quakesynth.models.classifier.MAG_BINS` x
  ``DIST_BINS``) then holds records in proportion to its width in M and ln R.
  ``uniform`` distances (weights ~ 1/r, density flat in r) fill the classifier's 25-km bins
  evenly instead.

Everything derives from one seed: the station table from ``[seed, 0]``, event ``i`` from
``[seed, 1, i]``, the noise of record ``j`` of event ``i`` from ``[seed, 2, i, j]``. Events are
simulated in chunks of ``chunk_events`` (a fixed batch composition), so the dataset is
bit-for-bit identical whatever the number of worker processes. Chunks stream to the dataset
writer as they finish (in order); memory does not grow with the number of events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.geometry import azimuthal_gap
from quakesynth.plain_json import to_plain
from quakesynth.records import Records
from quakesynth.seeds import derive_seed, keyed_rng
from quakesynth.simulate.site import STATION_COLUMNS, km_to_latlon, make_station_table
from quakesynth.simulate.stochastic import (
    StochasticConfig,
    load_config,
    median_stress_drop,
    simulate,
)


@dataclass(frozen=True)
class CorpusConfig:
    """Scenario distributions of a corpus (the station network is ``StochasticConfig.stations``)."""

    magnitude_min: float = 4.0  # smallest magnitude (Mw)
    magnitude_max: float = 7.5  # largest magnitude (Mw)
    b_value: float = 1.0  # Gutenberg-Richter b-value of the truncated exponential distribution
    magnitude_distribution: str = "gutenberg-richter"  # "gutenberg-richter" (realistic) or "uniform" (training: even coverage in M)
    distance_distribution: str = "network"  # "network" (stations uniform within the trigger range), "log-uniform" or "uniform" (training; no trigger range)
    crustal_fraction: float = 0.65  # fraction of crustal events (the rest are intraslab)
    crustal_depth_min_km: float = 2.0  # crustal depths uniform between these, km
    crustal_depth_max_km: float = 25.0  # km
    deep_depth_max_km: float = 100.0  # intraslab depths uniform from crustal_depth_max_km to this, km
    distance_min_km: float = 1.0  # smallest hypocentral distance recorded, km
    distance_max_km: float = 200.0  # largest hypocentral distance recorded, km
    trigger_distance_m4_km: float = 80.0  # recording (trigger) range of an M4 event, km
    trigger_doubling_m: float = 1.0  # the range doubles every this many magnitude units
    trigger_depth_margin_km: float = 40.0  # the range is at least depth + this, km
    offshore_margin_km: float = 100.0  # epicentres extend this far beyond the station box, km
    gap_min_deg: float = 10.0  # smallest azimuthal gap stored, degrees
    origin_time: str = "2000-01-01T00:00:00"  # origin time of event 0 (UTC)
    event_interval_s: float = 3600.0  # origin time step between consecutive events, s
    chunk_events: int = 16  # events per work unit (fixed: results do not depend on workers)
    max_placement_tries: int = 1000  # epicentre draws before giving up on an event

    def __post_init__(self) -> None:
        if self.magnitude_distribution not in MAGNITUDE_DISTRIBUTIONS:
            raise ValueError(f"corpus.magnitude_distribution must be one of {MAGNITUDE_DISTRIBUTIONS}; "
                             f"got {self.magnitude_distribution!r}")
        if self.distance_distribution not in DISTANCE_DISTRIBUTIONS:
            raise ValueError(f"corpus.distance_distribution must be one of {DISTANCE_DISTRIBUTIONS}; "
                             f"got {self.distance_distribution!r}")
        if not self.magnitude_min < self.magnitude_max:
            raise ValueError(f"corpus needs magnitude_min < magnitude_max; got {self.magnitude_min}, {self.magnitude_max}")


MAGNITUDE_DISTRIBUTIONS = ("gutenberg-richter", "uniform")
DISTANCE_DISTRIBUTIONS = ("network", "log-uniform", "uniform")


def load_corpus_config(config: CorpusConfig | dict | str | Path | None = None,
                       overrides: list[str] | tuple[str, ...] = ()) -> tuple[CorpusConfig, StochasticConfig]:
    """The corpus and simulator configs from a preset/YAML file with sections ``simulator``
    and ``corpus`` (either may be absent: defaults), and ``section.key=value`` overrides
    (``corpus.b_value=0.8``, ``simulator.source.stress_sigma_ln=0.4``)."""
    from quakesynth.config import apply_overrides, from_dict, load_preset, to_dict

    if config is None:
        d: dict = {}
    elif isinstance(config, dict):
        d = dict(config)
    elif isinstance(config, CorpusConfig):
        d = {"corpus": to_dict(config)}
    else:
        d = load_preset(config)
    unknown = sorted(set(d) - {"simulator", "corpus", "provenance"})  # provenance: a fitted preset's record
    if unknown:
        raise ValueError(f"unknown config section(s) {unknown}; expected 'simulator' and/or 'corpus'")
    full = {"simulator": to_dict(load_config(d.get("simulator"))),
            "corpus": to_dict(from_dict(CorpusConfig, d.get("corpus")))}
    full = apply_overrides(full, list(overrides))
    return from_dict(CorpusConfig, full["corpus"]), load_config(full["simulator"])


# -- events ------------------------------------------------------------------------------------
def trigger_distance(magnitude: float, depth: float, cfg: CorpusConfig) -> float:
    """Largest hypocentral distance (km) at which an event is recorded."""
    if cfg.distance_distribution != "network":  # training designs: every event to distance_max_km
        return float(cfg.distance_max_km)
    r = cfg.trigger_distance_m4_km * 2.0 ** ((magnitude - 4.0) / cfg.trigger_doubling_m)
    return float(min(cfg.distance_max_km, max(r, depth + cfg.trigger_depth_margin_km)))


def sample_event(i: int, seed: int, stations: pd.DataFrame, k: int, cfg: CorpusConfig,
                 sim: StochasticConfig) -> dict[str, Any]:
    """Event ``i`` of a corpus: magnitude, depth, epicentre, stress drop, gap and the ``k``
    recording stations (indices into ``stations``) with their distances and back azimuths."""
    rng = keyed_rng(seed, 1, i)
    b, m0, m1 = cfg.b_value, cfg.magnitude_min, cfg.magnitude_max
    u = rng.random()
    if cfg.magnitude_distribution == "uniform":
        mag = m0 + u * (m1 - m0)
    else:
        mag = m0 - np.log10(1.0 - u * (1.0 - 10.0 ** (-b * (m1 - m0)))) / b  # truncated G-R
    if rng.random() < cfg.crustal_fraction:
        depth = rng.uniform(cfg.crustal_depth_min_km, cfg.crustal_depth_max_km)
    else:
        depth = rng.uniform(cfg.crustal_depth_max_km, cfg.deep_depth_max_km)
    eps = rng.standard_normal()
    r_max = trigger_distance(mag, depth, cfg)
    sx, sy = stations["x_km"].to_numpy(), stations["y_km"].to_numpy()
    half = sim.stations.half_width_km + cfg.offshore_margin_km
    for _ in range(cfg.max_placement_tries):
        x, y = rng.uniform(-half, half, size=2)
        rhyp = np.sqrt((sx - x) ** 2 + (sy - y) ** 2 + depth**2)
        in_range = np.flatnonzero((rhyp <= r_max) & (rhyp >= cfg.distance_min_km))
        if len(in_range) >= k:
            break
    else:
        raise ValueError(f"event {i}: no epicentre with {k} stations within {r_max:.0f} km after "
                         f"{cfg.max_placement_tries} tries; lower --stations-per-event or raise "
                         f"simulator.stations.n_stations ({sim.stations.n_stations})")
    if cfg.distance_distribution == "network":
        chosen = np.sort(rng.choice(in_range, size=k, replace=False))
    else:  # station density ~ r: weights 1/r^2 give density ~ 1/r (log-uniform), 1/r a flat one
        w = rhyp[in_range] ** (-2.0 if cfg.distance_distribution == "log-uniform" else -1.0)
        chosen = np.sort(rng.choice(in_range, size=k, replace=False, p=w / w.sum()))
    az_event_to_sta = np.degrees(np.arctan2(sx[in_range] - x, sy[in_range] - y))
    gap = max(cfg.gap_min_deg, azimuthal_gap(az_event_to_sta, empty=360.0))
    dx, dy = x - sx[chosen], y - sy[chosen]
    lat, lon = km_to_latlon(x, y, sim.stations.lat0_deg, sim.stations.lon0_deg)
    return {"index": int(i), "magnitude": float(mag), "depth": float(depth), "x_km": float(x), "y_km": float(y),
            "latitude": float(lat), "longitude": float(lon), "gap": float(gap),
            "stress_drop_bar": float(median_stress_drop(mag, depth, sim.source) * np.exp(sim.source.stress_sigma_ln * eps)),
            "stations": chosen, "distance": rhyp[chosen], "epicentral": np.hypot(dx, dy),
            "back_azimuth": np.mod(np.degrees(np.arctan2(dx, dy)), 360.0)}


SUB_BATCH = 32  # records per call of simulate() inside a chunk


def record_seed(seed: int, event: int, slot: int) -> int:
    """Noise seed of the record in slot ``slot`` of event ``event`` (63-bit)."""
    return derive_seed(seed, 2, event, slot)


def simulate_events(indices: range | list[int], seed: int, stations: pd.DataFrame, k: int,
                    cfg: CorpusConfig, sim: StochasticConfig) -> Records:
    """Records of the events ``indices`` (``k`` stations each) with full metadata."""
    events = [sample_event(i, seed, stations, k, cfg, sim) for i in indices]
    rows = []
    for ev in events:
        for j, s in enumerate(ev["stations"]):
            rows.append((ev, j, int(s)))
    st = stations.iloc[[s for _, _, s in rows]].reset_index(drop=True)
    params = {
        "magnitude": np.array([ev["magnitude"] for ev, _, _ in rows]),
        "distance": np.array([ev["distance"][j] for ev, j, _ in rows]),
        "depth": np.array([ev["depth"] for ev, _, _ in rows]),
        "vs30": st["vs30_mps"].to_numpy(),
        "stress_drop_bar": np.array([ev["stress_drop_bar"] for ev, _, _ in rows]),
        "back_azimuth": np.array([ev["back_azimuth"][j] for ev, j, _ in rows]),
        **{c: st[c].to_numpy() for c in ("kappa0_s", "site_term_low", "site_term_mid", "site_term_high",
                                         "f0_hz", "impedance_ratio", "damping", "noise_rms_mps2",
                                         "resonance_centring")},
    }
    seeds = np.array([record_seed(seed, ev["index"], j) for ev, j, _ in rows], dtype=np.int64)
    # simulate in sub-batches (rows are independent, so the bits do not change; small arrays
    # stay in cache and are not re-mapped by the allocator for every chunk)
    parts = [simulate({k: v[i:i + SUB_BATCH] for k, v in params.items()}, seeds[i:i + SUB_BATCH], sim,
                      return_info=True) for i in range(0, len(seeds), SUB_BATCH)]
    data = np.concatenate([d for d, _ in parts])
    info = {k: np.concatenate([inf[k] for _, inf in parts]) for k in parts[0][1]}
    w = sim.waveform
    t0 = pd.Timestamp(cfg.origin_time)
    origin = [t0 + pd.Timedelta(seconds=ev["index"] * cfg.event_interval_s) for ev, _, _ in rows]
    meta = pd.DataFrame({
        "trace_name": [f"QS.{st['station_code'][n]}.E{ev['index']:07d}" for n, (ev, _, _) in enumerate(rows)],
        "source_id": [f"qs{seed}-E{ev['index']:07d}" for ev, _, _ in rows],
        "source_origin_time": [_iso(o) for o in origin],
        "source_magnitude": params["magnitude"],
        "source_magnitude_type": "Mw",
        "source_latitude_deg": [ev["latitude"] for ev, _, _ in rows],
        "source_longitude_deg": [ev["longitude"] for ev, _, _ in rows],
        "source_depth_km": params["depth"],
        "station_network_code": "QS",
        "station_code": st["station_code"].to_numpy(),
        "station_location_code": "",
        "station_latitude_deg": st["station_latitude_deg"].to_numpy(),
        "station_longitude_deg": st["station_longitude_deg"].to_numpy(),
        "station_elevation_m": 0.0,
        "station_vs30_mps": params["vs30"],
        "station_vs30_source": "simulated",
        "path_hyp_distance_km": params["distance"],
        "path_ep_distance_km": np.array([ev["epicentral"][j] for ev, j, _ in rows]),
        "path_back_azimuth_deg": params["back_azimuth"],
        "path_azimuthal_gap_deg": [ev["gap"] for ev, _, _ in rows],
        "trace_start_time": [_iso(o + pd.Timedelta(seconds=float(tp) - w.p_onset_s))
                             for o, tp in zip(origin, info["tP"])],
        "trace_sampling_rate_hz": w.fs,
        "trace_p_arrival_sample": info["p_sample"],
        "trace_s_arrival_sample": info["s_sample"],
        "station_f0_hz": params["f0_hz"],
        "station_kappa0_s": params["kappa0_s"],
        "source_stress_drop_bar": params["stress_drop_bar"],
        "generator": "stochastic",
        "waveform_seed": seeds,
    })
    records = Records(data, fs=w.fs, components=w.components, metadata=meta)
    records.add_processing("simulate", method="stochastic (Boore 2003)", seed=int(seed))
    records.add_processing("highpass", filter="butterworth", freq=w.highpass_hz, order=w.highpass_order,
                           causal=True, implementation="scipy.signal.sosfilt")
    return records


# -- parallel streaming ------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(cfg_dict: dict, sim_dict: dict, stations: pd.DataFrame) -> None:
    from quakesynth.config import from_dict

    _WORKER.update(cfg=from_dict(CorpusConfig, cfg_dict), sim=load_config(sim_dict), stations=stations)


def _run_chunk(args: tuple[int, int, int, int]) -> Records:
    start, stop, seed, k = args
    w = _WORKER
    return simulate_events(range(start, stop), seed, w["stations"], k, w["cfg"], w["sim"])


def iter_corpus(n_events: int, stations_per_event: int, seed: int = 0, cfg: CorpusConfig = CorpusConfig(),
                sim: StochasticConfig | None = None, workers: int = 1,
                stations: pd.DataFrame | None = None) -> Iterator[Records]:
    """Yield the corpus as Records chunks, in event order (``workers`` processes; the
    simulator config ``sim`` defaults to :class:`StochasticConfig`)."""
    sim = sim if sim is not None else StochasticConfig()
    if int(n_events) != n_events or n_events <= 0:
        raise ValueError(f"n_events must be a positive whole number; got {n_events!r}")
    if int(stations_per_event) != stations_per_event or stations_per_event <= 0:
        raise ValueError(f"stations_per_event must be a positive whole number; got {stations_per_event!r}")
    if int(workers) != workers or workers <= 0:
        raise ValueError(f"workers must be a positive whole number; got {workers!r}")
    if stations_per_event > sim.stations.n_stations:
        raise ValueError(f"stations_per_event={stations_per_event} exceeds the network's "
                         f"{sim.stations.n_stations} stations")
    if seed < 0:
        raise ValueError(f"seed must be non-negative; got {seed}")
    if stations is None:
        stations = make_station_table(sim.stations, seed)
    chunk = max(1, int(cfg.chunk_events))
    tasks = [(s, min(s + chunk, n_events), int(seed), int(stations_per_event)) for s in range(0, n_events, chunk)]
    if workers == 1:
        _init_worker(dataclasses.asdict(cfg), dataclasses.asdict(sim), stations)
        for t in tasks:
            yield _run_chunk(t)
        return
    from quakesynth.pool import OrderedPipeline, process_pool

    with process_pool(int(workers), _init_worker,
                      (dataclasses.asdict(cfg), dataclasses.asdict(sim), stations)) as pool:
        # at most 2 chunks per worker in flight (bounded memory), in event order
        yield from OrderedPipeline(pool, max_pending=2 * int(workers)).imap(_run_chunk, tasks)


def write_corpus(path: str | Path, n_events: int, stations_per_event: int, seed: int = 0,
                 config: CorpusConfig | dict | str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                 workers: int = 1, overwrite: bool = False, progress: bool = False,
                 split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                 preset: str | None = None) -> dict[str, Any]:
    """Simulate a corpus into a dataset folder (:class:`quakesynth.data.store.DatasetWriter`).

    Writes ``n_events * stations_per_event`` records, splits by event, train-only statistics,
    plus ``simulator.yaml`` (the resolved config) and ``stations.csv`` (the network) in the
    folder. ``preset`` (the simulator preset's name, if the config came from one) is recorded
    in the dataset info as ``simulator_preset``. Returns a summary (records, events, seconds,
    records per second).
    """
    import time

    import yaml
    from tqdm.auto import tqdm

    from quakesynth.data.store import DatasetWriter

    cfg, sim = load_corpus_config(config, overrides)
    stations = make_station_table(sim.stations, seed)
    n_total = int(n_events) * int(stations_per_event)
    resolved = {"simulator": dataclasses.asdict(sim), "corpus": dataclasses.asdict(cfg)}
    t0 = time.perf_counter()
    bar = tqdm(total=n_total, disable=not progress, desc="simulate (stochastic)", unit="rec")
    try:
        with DatasetWriter(path, fs=sim.waveform.fs, components=sim.waveform.components,
                           split_fractions=split_fractions, seed=seed, overwrite=overwrite) as writer:
            for rec in iter_corpus(n_events, stations_per_event, seed, cfg, sim, workers, stations):
                writer.add(rec)
                bar.update(len(rec))
            writer.add_file("simulator.yaml", yaml.safe_dump(to_plain(resolved), sort_keys=False))
            writer.add_file("stations.csv", stations[list(STATION_COLUMNS)].to_csv(index=False))
            writer.set_info(generator="stochastic", seed=int(seed), n_events=int(n_events),
                            stations_per_event=int(stations_per_event), config=to_plain(resolved),
                            simulator_preset=preset if preset is not None else "custom")
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    return {"records": n_total, "events": int(n_events), "seconds": seconds,
            "records_per_s": n_total / seconds if seconds > 0 else float("inf"), "path": str(path)}


def _iso(t: pd.Timestamp) -> str:
    """ISO 8601 UTC with microseconds, e.g. ``2000-01-01T00:00:04.700291Z``."""
    return t.round("us").isoformat(timespec="microseconds") + "Z"
