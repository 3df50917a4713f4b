"""Stage 1 of the evaluation: generate, compute intensity measures and features, collect.

For every record of the evaluation set and every model, ``realizations`` waveforms are
generated with the record's conditioning (batched; waveform ``k`` of record ``i`` has seed
``waveform_seed(seed, i, k)``, so it does not depend on the batch or the number of workers).
Every waveform -- generated or recorded -- goes through the same work unit
(:func:`quakesynth.evaluate.features.compute_unit`): intensity measures, smoothed log-FAS,
log envelope and HVSR. Units run in the main process or on a process pool
(:class:`~quakesynth.pool.OrderedPipeline`) and are reduced in submission order,
so one worker and many give identical numbers.

What is kept:

- the tidy table, one row per record x source x realisation with keys, conditioning and IMs,
  streamed to disk (:class:`TidyWriter`); in memory only the keys and the IM columns the
  analysis uses (float32);
- for realisation 0 of every source (same size and conditioning as the data): log-FAS
  (N, 3, F), HVSR of stations with several records, classifier embeddings and predictions;
- per magnitude-distance bin and source: running moments (count, sum, sum of squares) of the
  log envelope and log-FAS over all realisations (memory independent of their number);
- scenario curves (SA against one variable) per model; paired measures per paired model.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.binning import mr_bin_index  # the one definition; kept importable from here
from quakesynth.evaluate.config import EvaluateConfig
from quakesynth.evaluate.features import (
    COMPONENT_LABELS,
    compute_unit,
    envelope_times,
    fas_frequencies,
)
from quakesynth.evaluate.paired import input_lowpass
from quakesynth.generate import Generator, waveform_seed
from quakesynth.pool import OrderedPipeline
from quakesynth.records import Records
from quakesynth.scenario import column

#: Conditioning columns of the tidy table, the generator variable each holds, and its unit.
COND_COLUMNS: dict[str, str] = {"magnitude": "magnitude", "distance_km": "distance",
                                "vs30_mps": "vs30", "depth_km": "depth", "gap_deg": "gap"}
#: Source label of the recorded data, and of the real-data floor sample (another split).
DATA, FLOOR = "data", "floor"
#: IM columns the analysis needs; only these stay in memory (float32), the full tidy table is
#: streamed to disk by :class:`TidyWriter`.
ANALYSIS_COLUMNS = re.compile(r"^(PGA|PGV|PSA[0-9.]+)_(RotD50|SRSS|GM)_|^D5-95_(H1|H2)_s$|^f0_HVSR_Hz$")


class TidyWriter:
    """Streams the tidy table to ``path`` chunk by chunk: Parquet (pyarrow) or CSV by suffix.

    Rows are written in the order they are reduced: the data, then each model in turn, each
    by record and realisation.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer = None
        self._schema = None
        self.rows = 0

    def write(self, df: pd.DataFrame) -> None:
        if self.path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._writer is None:
                t = pa.Table.from_pandas(df, preserve_index=False)
                self._schema = t.schema
                self._writer = pq.ParquetWriter(self.path, self._schema)
            else:
                t = pa.Table.from_pandas(df, schema=self._schema, preserve_index=False)
            self._writer.write_table(t)
        else:
            df.to_csv(self.path, mode="a", header=self.rows == 0, index=False)
        self.rows += len(df)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @staticmethod
    def default_name() -> str:
        """``ims.parquet`` where pyarrow is installed, else ``ims.csv``."""
        try:
            import pyarrow.parquet  # noqa: F401

            return "ims.parquet"
        except ImportError:
            return "ims.csv"


# -- the evaluation set --------------------------------------------------------------------
class RecordSet:
    """Records under evaluation: a metadata table plus a way to read chunks by position.

    Parameters
    ----------
    metadata : one row per record (SeisBench column names), in evaluation order.
    read : ``read(positions)`` returns the Records at those positions (in order).
    name : label of the set (e.g. ``"knet:test"``).
    """

    def __init__(self, metadata: pd.DataFrame, read, name: str = "data") -> None:
        self.metadata = metadata.reset_index(drop=True)
        self._read = read
        self.name = name

    def __len__(self) -> int:
        return len(self.metadata)

    def chunks(self, batch_size: int, positions: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, Records]]:
        """``(positions, Records)`` chunks of at most ``batch_size`` records."""
        pos = np.arange(len(self)) if positions is None else np.asarray(positions, dtype=np.int64)
        for start in range(0, len(pos), batch_size):
            sel = pos[start:start + batch_size]
            yield sel, self._read(sel)

    def subset(self, positions: np.ndarray) -> RecordSet:
        positions = np.asarray(positions, dtype=np.int64)
        parent = self._read
        return RecordSet(self.metadata.iloc[positions], lambda p: parent(positions[p]), self.name)

    @classmethod
    def from_records(cls, records: Records, name: str = "data") -> RecordSet:
        """An in-memory set (tests, small archives)."""
        return cls(records.metadata, lambda p: records[np.asarray(p)], name)

    def conditioning(self) -> pd.DataFrame:
        """Conditioning in physical units, columns of :data:`COND_COLUMNS` (NaN where missing)."""
        out = pd.DataFrame(index=range(len(self)))
        for col, var in COND_COLUMNS.items():
            meta_col = column(var)
            vals = self.metadata[meta_col] if meta_col in self.metadata else pd.Series(np.nan, index=out.index)
            out[col] = pd.to_numeric(vals, errors="coerce").to_numpy(dtype=np.float64)
        return out


def mr_bin_labels(magnitude_edges, distance_edges) -> list[str]:
    """Readable names of the flat M-R bins, e.g. ``"M 5-6, R 50-100 km"``."""
    return [f"M {magnitude_edges[i]:g}-{magnitude_edges[i + 1]:g}, R {distance_edges[j]:g}-{distance_edges[j + 1]:g} km"
            for i in range(len(magnitude_edges) - 1) for j in range(len(distance_edges) - 1)]


# -- what is collected ---------------------------------------------------------------------
@dataclass
class Moments:
    """Running count, sum and sum of squares per (bin, component, point); float64.

    The last bin index holds all waveforms whatever their bin.
    """

    n_bins: int
    shape: tuple[int, ...]
    count: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)
    squares: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        full = (self.n_bins + 1, *self.shape)
        self.count = np.zeros(full)
        self.total = np.zeros(full)
        self.squares = np.zeros(full)

    def add(self, bins: np.ndarray, x: np.ndarray) -> None:
        """Add samples ``x`` (n, *shape) with bin indices ``bins`` (n,) (-1: only to 'all')."""
        valid = np.isfinite(x)
        x0 = np.where(valid, x, 0.0).astype(np.float64)
        sel = bins >= 0
        if sel.any():
            b = bins[sel]
            np.add.at(self.count, b, valid[sel])
            np.add.at(self.total, b, x0[sel])
            np.add.at(self.squares, b, x0[sel] ** 2)
        self.count[self.n_bins] += valid.sum(axis=0)
        self.total[self.n_bins] += x0.sum(axis=0)
        self.squares[self.n_bins] += (x0 ** 2).sum(axis=0)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, standard deviation (ddof=0) and count per bin; NaN where empty."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.total / self.count
            var = np.maximum(self.squares / self.count - mean ** 2, 0.0)
        return mean, np.sqrt(var), self.count


@dataclass
class Collection:
    """Everything stage 1 collected; the input of :func:`quakesynth.evaluate.analysis.analyse`."""

    config: EvaluateConfig
    conditioning: pd.DataFrame  # one row per evaluation record (COND_COLUMNS + station, event)
    sources: list[str]  # "data" then model labels
    paired_sources: list[str]
    table: pd.DataFrame  # source, record, realization + analysis IM columns (float32); full table on disk
    scenario_table: pd.DataFrame  # IMs of the scenario curves
    freqs: np.ndarray  # (F,) Hz, log-FAS and HVSR grid
    times: np.ndarray  # (P,) s, envelope grid
    mr_bin: np.ndarray  # (N,) flat M-R bin per record
    logfas: dict[str, np.ndarray]  # source -> (N, 3, F) log10 FAS of realisation 0 (floor: its own size)
    env_moments: dict[str, Moments]
    fas_moments: dict[str, Moments]
    hvsr_records: np.ndarray  # record positions with HVSR (stations with several records)
    hvsr: dict[str, np.ndarray]  # source -> (len(hvsr_records), F) log10 HVSR of realisation 0
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # source -> (N, D)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # source -> (N,) class
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # source -> (N,) true class
    paired: pd.DataFrame | None = None  # one row per paired record
    # paired models with a low-passed input: source -> {"lowpass": (fc, order), "records": (n,),
    # measure -> array (n, ...)} (quakesynth.evaluate.broadband)
    broadband: dict[str, dict[str, Any]] = field(default_factory=dict)
    site_sources: list[str] = field(default_factory=list)  # site-specific (station-conditioned) models
    timing: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model_info: dict[str, dict] = field(default_factory=dict)
    components: tuple[str, ...] = COMPONENT_LABELS
    floor_conditioning: pd.DataFrame | None = None  # conditioning of the floor sample (COND_COLUMNS)


# -- stage 1 -------------------------------------------------------------------------------
class _Sink:
    """Reduces work-unit results (in submission order) into a :class:`Collection`."""

    def __init__(self, n: int, mr_bin: np.ndarray, n_bins: int, hvsr_pos: np.ndarray, cfg: EvaluateConfig,
                 keys: pd.DataFrame, writer: TidyWriter | None = None):
        self.n, self.mr_bin, self.n_bins, self.cfg = n, mr_bin, n_bins, cfg
        self.keys, self.writer = keys, writer  # per-record key columns; full-table writer
        self.n_floor = 0  # size of the floor sample
        self.hvsr_pos = hvsr_pos  # (N,) position in the HVSR arrays or -1
        self.n_hvsr = int((hvsr_pos >= 0).sum())
        self.freqs = fas_frequencies(cfg.features)
        self.times = envelope_times(cfg.features)
        self.ims: list[pd.DataFrame] = []
        self.scen: list[pd.DataFrame] = []
        self.paired: list[pd.DataFrame] = []
        self.broadband: dict[str, dict[str, list]] = {}
        self.logfas: dict[str, np.ndarray] = {}
        self.hvsr: dict[str, np.ndarray] = {}
        self.env: dict[str, Moments] = {}
        self.fas: dict[str, Moments] = {}
        self.seconds: dict[str, dict[str, float]] = {}

    def _time(self, source: str, key: str, dt: float) -> None:
        d = self.seconds.setdefault(source, {"generate_s": 0.0, "generate_cpu_s": 0.0, "features_s": 0.0,
                                             "features_cpu_s": 0.0, "waveforms": 0})
        d[key] = d.get(key, 0) + dt

    def gen_time(self, source: str, wall: float, cpu: float) -> None:
        self._time(source, "generate_s", wall)
        self._time(source, "generate_cpu_s", cpu)

    def callback(self, source: str, record: np.ndarray, realization: np.ndarray,
                 kind: str = "eval", extra: dict | None = None):
        def done(res: dict[str, Any]) -> None:
            self._time(source, "features_s", res["seconds"])
            self._time(source, "features_cpu_s", res["cpu_seconds"])
            self._time(source, "waveforms", len(record))
            if kind == "floor":
                arr = self.logfas.setdefault(FLOOR, np.full((self.n_floor, 3, len(self.freqs)), np.nan, np.float32))
                arr[record] = res["logfas"]
                return
            if kind == "scenario":
                df = res["ims"]
                df.insert(0, "realization", realization)
                for i, (k, v) in enumerate((extra or {}).items()):
                    df.insert(i, k, v)
                self.scen.append(df)
                return
            ims = res["ims"]
            ims["f0_HVSR_Hz"] = res["f0"]
            head = pd.DataFrame({"source": source, "record": record.astype(np.int64),
                                 "realization": realization.astype(np.int64)})
            if self.writer is not None:
                self.writer.write(pd.concat([head, self.keys.iloc[record].reset_index(drop=True), ims], axis=1))
            keep = [c for c in ims.columns if ANALYSIS_COLUMNS.search(c)]
            self.ims.append(pd.concat([head, ims[keep].astype(np.float32)], axis=1))
            bins = self.mr_bin[record]
            if source not in self.env:
                self.env[source] = Moments(self.n_bins, (3, len(self.times)))
                self.fas[source] = Moments(self.n_bins, (3, len(self.freqs)))
            self.env[source].add(bins, res["logenv"])
            self.fas[source].add(bins, res["logfas"])
            first = realization == 0
            if first.any():
                arr = self.logfas.setdefault(source, np.full((self.n, 3, len(self.freqs)), np.nan, np.float32))
                arr[record[first]] = res["logfas"][first]
                pos = self.hvsr_pos[record[first]]
                keep = pos >= 0
                if keep.any():
                    h = self.hvsr.setdefault(source, np.full((self.n_hvsr, len(self.freqs)), np.nan, np.float32))
                    h[pos[keep]] = res["hvsr"][first][keep]
            if res.get("paired") is not None:
                p = res["paired"]
                p.insert(0, "source", source)
                p.insert(1, "record", record[res["paired_rows"]])
                self.paired.append(p)
            if res.get("broadband") is not None:
                acc = self.broadband.setdefault(source, {"records": []})
                acc["records"].append(record[res["paired_rows"]])
                for key, v in res["broadband"].items():
                    acc.setdefault(key, []).append(v)
        return done


def _chunk_data(rec: Records, horizontal_only: bool = False) -> tuple[np.ndarray, float, str]:
    """``(data, fs, components)`` of a chunk; ``horizontal_only`` drops a Z component, so that
    generated three-component records are compared on the components the data have."""
    if rec.quantity != "acceleration":
        raise ValueError(f"records must be acceleration (m/s^2); got {rec.quantity} in {rec.unit}")
    if horizontal_only and "Z" in rec.components:
        keep = [i for i, c in enumerate(rec.components) if c != "Z"]
        return rec.data[:, keep], rec.fs, rec.components.replace("Z", "")
    return rec.data, rec.fs, rec.components


def is_paired(model: Any) -> bool:
    """Whether ``model`` reproduces given records (see :class:`~quakesynth.evaluate.paired.PairedModel`)."""
    return callable(getattr(model, "reproduce", None))


def collect(data: RecordSet, models: dict[str, Generator], cfg: EvaluateConfig, *,
            floor: RecordSet | None = None, classifier: Any = None, executor: Any = None,
            allow_extrapolation: bool = False, progress: bool = False,
            table_path: str | Path | None = None) -> Collection:
    """Run stage 1 (see the module docstring) and return the :class:`Collection`.

    Parameters
    ----------
    data : the evaluation records (their conditioning must be in every model's range unless
        ``allow_extrapolation``; :func:`select_records` drops the others beforehand).
    models : label -> generator (or paired model with ``reproduce``).
    cfg : the run configuration (realisations, seed, batch size, bins, scenarios, features).
    floor : real records of another split (train) for the real-data floor of the distribution
        metrics; ``None`` to skip.
    classifier : a :class:`~quakesynth.evaluate.classifier.ClassifierAdapter` or ``None``.
    executor : a ``concurrent.futures`` executor for the IM stage, or ``None`` (in process).
    table_path : where to stream the full tidy table (``.parquet`` or ``.csv``); the
        collection keeps only the analysis columns (:data:`ANALYSIS_COLUMNS`) in memory.
    """
    from tqdm.auto import tqdm

    cond = data.conditioning()
    n = len(data)
    if n == 0:
        raise ValueError("the evaluation set is empty: no record to evaluate")
    b = cfg.bins
    mr = mr_bin_index(cond["magnitude"].to_numpy(), cond["distance_km"].to_numpy(),
                      b.magnitude_edges, b.distance_edges_km)
    n_bins = (len(b.magnitude_edges) - 1) * (len(b.distance_edges_km) - 1)
    station = station_keys(data.metadata)
    counts = station.map(station.value_counts())
    hvsr_sel = np.flatnonzero(counts.to_numpy() >= cfg.hvsr_min_records)
    hvsr_pos = np.full(n, -1, np.int64)
    hvsr_pos[hvsr_sel] = np.arange(len(hvsr_sel))

    keys = pd.DataFrame({"trace_name": (data.metadata["trace_name"].astype("string").to_numpy()
                                        if "trace_name" in data.metadata else np.arange(n).astype(str)),
                         "event": event_keys(data.metadata).to_numpy(), "station": station.to_numpy(),
                         **{c: cond[c].to_numpy() for c in COND_COLUMNS}})
    writer = TidyWriter(table_path) if table_path is not None else None
    sink = _Sink(n, mr, n_bins, hvsr_pos, cfg, keys, writer)
    sink.n_floor = len(floor) if floor is not None else 0
    floor_cond = floor.conditioning() if floor is not None else None
    fcfg = cfg.features
    pipe = OrderedPipeline(executor, max_pending=2 * max(1, cfg.workers))
    threads = 1 if executor is not None else None  # pool workers: one thread each
    emb: dict[str, list] = {}
    N, bs, seed = cfg.realizations, cfg.batch_size, cfg.seed
    paired_sources = [k for k, m in models.items() if is_paired(m)]
    lowpass = {k: input_lowpass(models[k]) for k in paired_sources}  # checked before any work
    total = n * (1 + N * len(models)) + (len(floor) if floor is not None else 0) + \
        sum(len(s.values) * s.realizations for s in cfg.scenarios) * sum(not is_paired(m) for m in models.values())
    bar = tqdm(total=total, disable=not progress, desc="evaluate", unit="wf")

    def classify(source: str, positions: np.ndarray, rec: Records) -> None:
        if classifier is None:
            return
        e, p = classifier.embed_predict(rec)
        emb.setdefault(source, []).append((positions, e, p))

    wall0 = time.perf_counter()
    horiz = False  # the data are horizontal pairs: every source is compared on its horizontals
    try:
        # the data
        for pos, rec in data.chunks(bs):
            horiz = "Z" not in rec.components
            classify(DATA, pos, rec)
            pipe.submit(compute_unit, *_chunk_data(rec), fcfg, True, threads=threads, hvsr_rows=hvsr_pos[pos] >= 0,
                        callback=sink.callback(DATA, pos, np.zeros(len(pos), np.int64)))
            bar.update(len(pos))
        # the real-data floor (another split)
        if floor is not None:
            for pos, rec in floor.chunks(bs):
                classify(FLOOR, pos, rec)
                pipe.submit(compute_unit, *_chunk_data(rec, horiz), fcfg, False, threads=threads,
                            hvsr_rows=np.zeros(len(pos), bool), callback=sink.callback(FLOOR, pos, np.zeros(len(pos), np.int64), kind="floor"))
                bar.update(len(pos))
        # the models
        table = cond.rename(columns={c: v for c, v in COND_COLUMNS.items()})
        table["n"] = N
        if any(uses_station(m) for m in models.values()):  # site-specific models: the record's station
            table["station"] = station_codes(data.metadata)
        for label, model in models.items():
            if is_paired(model):
                stream = _paired_stream(model, data, N, seed, bs, cfg.paired_max_records)
            else:
                cols = [v for v in model.variables if v in table]
                stream = _model_stream(model, table[cols + ["n"]], seed, bs, allow_extrapolation)
            for item in _timed(stream, lambda dt, dc, label=label: sink.gen_time(label, dt, dc)):
                rec, pos, k, ref, ref_rows = item
                first = k == 0
                if first.any():
                    classify(label, pos[first], rec[first])
                kw = {}
                if ref is not None and len(ref_rows):
                    kw = dict(ref=ref.data[ref_rows], ref_fs=ref.fs, ref_components=ref.components,
                              ref_rows=ref_rows, lowpass=lowpass.get(label))
                pipe.submit(compute_unit, *_chunk_data(rec, horiz), fcfg, True, threads=threads,
                            hvsr_rows=(k == 0) & (hvsr_pos[pos] >= 0),
                            callback=sink.callback(label, pos, k), **kw)
                bar.update(len(pos))
        # the scenario curves
        for j, sc in enumerate(cfg.scenarios):
            for label, model in models.items():
                if is_paired(model):
                    continue
                cols = [v for v in model.variables]
                tab = sc.table()
                stream = model.iter_table(tab[cols + ["n"]], seed=seed + 7919 * (j + 1), batch_size=bs,
                                          allow_extrapolation=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for rec in _timed(stream, lambda dt, dc, label=label: sink.gen_time(label, dt, dc)):
                        point = rec.metadata["scenario_index"].to_numpy(np.int64)
                        k = rec.metadata["realization"].to_numpy(np.int64)
                        extra = {"source": label, "scenario": sc.name, "point": point,
                                 sc.vary: tab[sc.vary].to_numpy()[point]}
                        pipe.submit(compute_unit, *_chunk_data(rec, horiz), fcfg, True, curves=False, threads=threads,
                                    callback=sink.callback(label, point, k, kind="scenario", extra=extra))
                        bar.update(len(rec))
        pipe.drain()
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    wall = time.perf_counter() - wall0

    sources = [DATA, *models]
    tidy = _tidy_table(sink.ims, sources)
    scen = pd.concat(sink.scen, ignore_index=True) if sink.scen else pd.DataFrame()
    coll = Collection(
        config=cfg, conditioning=cond.assign(station=station.to_numpy(), event=event_keys(data.metadata).to_numpy(),
                                             vs30_source=vs30_sources(data.metadata).to_numpy()),
        sources=sources, paired_sources=paired_sources, table=tidy, scenario_table=scen,
        freqs=sink.freqs, times=sink.times, mr_bin=mr, logfas=sink.logfas, env_moments=sink.env,
        fas_moments=sink.fas, hvsr_records=hvsr_sel, hvsr=sink.hvsr,
        paired=pd.concat(sink.paired, ignore_index=True) if sink.paired else None,
        broadband={s: {"lowpass": lowpass[s], **{k: np.concatenate(v) for k, v in acc.items()}}
                   for s, acc in sink.broadband.items()},
        site_sources=[k for k, m in models.items() if uses_station(m)],
        timing={**sink.seconds, "total": {"wall_s": wall}},
        model_info={k: _info(m) for k, m in models.items()}, floor_conditioning=floor_cond,
        components=COMPONENT_LABELS[:2] if horiz else COMPONENT_LABELS,
    )
    if horiz:
        coll.notes.append("horizontal-only data: models are compared on their two horizontal components "
                          "(no V measures, no HVSR)")
    for source, parts in emb.items():
        size = len(floor) if source == FLOOR else n
        e = np.concatenate([p[1] for p in parts])
        out = np.full((size, e.shape[1]), np.nan, np.float32)
        pred = np.full(size, -1, np.int64)
        for pos, ee, pp in parts:
            out[pos] = ee
            pred[pos] = pp
        coll.embeddings[source] = out
        coll.predictions[source] = pred
        meta = floor.metadata if source == FLOOR else data.metadata
        coll.labels[source] = classifier.labels(meta)
    return coll


def _info(model: Any) -> dict:
    try:
        return dict(model.info())
    except Exception:  # noqa: BLE001 - info is descriptive only
        return {"name": getattr(model, "name", type(model).__name__)}


def _timed(iterator, record_time) -> Iterator:
    """Yield from ``iterator``, reporting the wall-clock and CPU seconds (this process, all its
    threads) spent producing each item."""
    it = iter(iterator)
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            item = next(it)
        except StopIteration:
            return
        record_time(time.perf_counter() - t0, time.process_time() - c0)
        yield item


def _model_stream(model: Generator, table: pd.DataFrame, seed: int, bs: int, allow_extrapolation: bool):
    with warnings.catch_warnings():
        if allow_extrapolation:
            warnings.simplefilter("ignore")
        for rec in model.iter_table(table, seed=seed, batch_size=bs, allow_extrapolation=allow_extrapolation):
            pos = rec.metadata["scenario_index"].to_numpy(np.int64)
            k = rec.metadata["realization"].to_numpy(np.int64)
            yield rec, pos, k, None, None


def _paired_stream(model: Any, data: RecordSet, N: int, seed: int, bs: int, max_paired: int):
    """Chunks of a paired model: each record reproduced ``N`` times (seeds as generation)."""
    per = max(1, bs // N)
    for pos, rec in data.chunks(per):
        rep = np.repeat(np.arange(len(pos)), N)
        k = np.tile(np.arange(N), len(pos))
        seeds = np.array([waveform_seed(seed, int(pos[i]), int(j)) for i, j in zip(rep, k)], dtype=np.int64)
        out = model.reproduce(rec[rep], seeds)
        if len(out) != len(rep):
            raise RuntimeError(f"{getattr(model, 'name', model)}.reproduce returned {len(out)} records for {len(rep)}")
        ref_rows = np.flatnonzero((k == 0) & (pos[rep] < max_paired))
        yield out, pos[rep], k, rec[rep], ref_rows


def uses_station(model: Any) -> bool:
    """Whether ``model`` is site-specific: conditioned on a station code (``variables`` holds
    ``"station"``, as :class:`quakesynth.generate.station.StationGenerator` does)."""
    return "station" in tuple(getattr(model, "variables", ()))


def station_codes(meta: pd.DataFrame) -> np.ndarray:
    """``station_code`` of every record as str (``""`` where missing): what a site-specific
    model is conditioned on."""
    if "station_code" not in meta:
        return np.full(len(meta), "", dtype=object)
    return meta["station_code"].astype("string").fillna("").to_numpy(dtype=object).astype(str)


def station_keys(meta: pd.DataFrame) -> pd.Series:
    """``NET.STA.LOC`` per record (the record's name where station codes are missing)."""
    parts = []
    for col in ("station_network_code", "station_code", "station_location_code"):
        s = meta[col].astype("string").fillna("") if col in meta else pd.Series("", index=meta.index, dtype="string")
        parts.append(s)
    key = parts[0] + "." + parts[1] + "." + parts[2]
    fallback = meta["trace_name"].astype("string") if "trace_name" in meta else pd.Series(
        [f"record{i}" for i in range(len(meta))], index=meta.index, dtype="string")
    key = key.where(parts[1].str.len() > 0, fallback)
    return key.fillna("").reset_index(drop=True)


def vs30_sources(meta: pd.DataFrame) -> pd.Series:
    """How each record's Vs30 was obtained (``station_vs30_source``: measured, inferred,
    assumed, simulated...; ``unknown`` where not said)."""
    if "station_vs30_source" not in meta:
        return pd.Series("unknown", index=range(len(meta)), dtype=object)
    return meta["station_vs30_source"].astype("string").fillna("unknown").astype(object).reset_index(drop=True)


def event_keys(meta: pd.DataFrame) -> pd.Series:
    """Event id per record (``source_id``; the origin time where missing)."""
    ev = meta["source_id"].astype("string") if "source_id" in meta else pd.Series(pd.NA, index=meta.index, dtype="string")
    if "source_origin_time" in meta:
        ev = ev.fillna(meta["source_origin_time"].astype("string"))
    return ev.fillna("").reset_index(drop=True)


def _tidy_table(parts: list[pd.DataFrame], sources: list[str]) -> pd.DataFrame:
    """The in-memory table: source, record, realisation and the analysis columns (float32),
    sorted by source (data first), record and realisation."""
    ims = pd.concat(parts, ignore_index=True)
    order = {s: i for i, s in enumerate(sources)}
    ims = ims.assign(_o=ims["source"].map(order)).sort_values(["_o", "record", "realization"], kind="stable")
    ims = ims.drop(columns="_o").reset_index(drop=True)
    ims["source"] = ims["source"].astype("category")
    return ims


def select_records(data: RecordSet, models: dict[str, Any], policy: str = "drop") -> tuple[RecordSet, list[str]]:
    """Keep the records every model can be conditioned on.

    ``policy``: ``"drop"`` leaves out records with missing conditioning or outside a model's
    range (named in the returned notes), ``"extrapolate"`` drops only missing conditioning,
    ``"error"`` raises :class:`ValueError` naming the first offending record.
    """
    if policy not in ("drop", "extrapolate", "error"):
        raise ValueError(f"out-of-range policy must be drop, extrapolate or error; got {policy!r}")
    cond = data.conditioning()
    keep = np.ones(len(data), bool)
    notes = []
    for label, model in models.items():
        variables = list(getattr(model, "variables", ()))
        ranges = getattr(model, "ranges", {}) or {}
        for var in variables:
            if var == "station":  # a site-specific model knows only its own stations
                codes = station_codes(data.metadata)
                known = np.isin(codes, [str(c) for c in getattr(model, "codes", ())])
                if policy == "error" and not known.all():
                    i = int(np.argmin(known))
                    raise ValueError(f"record {i}: station {str(codes[i])!r} is unknown to model {label!r}")
                if not known.all():
                    notes.append(f"{int((~known & keep).sum())} record(s) at stations unknown to {label!r} left out")
                keep &= known
                continue
            col = next((c for c, v in COND_COLUMNS.items() if v == var), None)
            if col is None:
                continue
            x = cond[col].to_numpy()
            bad = ~np.isfinite(x)
            why = "missing"
            if var in ranges and policy != "extrapolate":
                lo, hi = ranges[var]
                out = np.isfinite(x) & ((x < lo) | (x > hi))
                if policy == "error" and out.any():
                    i = int(np.argmax(out))
                    raise ValueError(f"record {i} ({data.metadata.get('trace_name', pd.Series(['?'] * len(data))).iloc[i]}): "
                                     f"{var}={x[i]:g} is outside the range of model {label!r} [{lo:g}, {hi:g}]")
                if out.any():
                    notes.append(f"{int((out & keep).sum())} record(s) outside the {var} range [{lo:g}, {hi:g}] of {label!r} left out")
                keep &= ~out
            if bad.any():
                if policy == "error":
                    i = int(np.argmax(bad))
                    raise ValueError(f"record {i}: conditioning variable {var!r} of model {label!r} is {why}")
                notes.append(f"{int((bad & keep).sum())} record(s) without {var} (needed by {label!r}) left out")
                keep &= ~bad
        # a paired model needs nothing beyond the record itself
    if not keep.any():
        hint = ("; records without Vs30 can get a stated one at ingestion (quakesynth ingest --vs30-fallback)"
                if any("without vs30" in n for n in notes) else "")
        raise ValueError("no record of the evaluation set can be conditioned on by every model "
                         f"({'; '.join(notes)}){hint}")
    if keep.all():
        return data, notes
    return data.subset(np.flatnonzero(keep)), notes
