"""Ingestion: input files -> screened, preprocessed records -> a dataset, with a report.

:func:`ingest` chains the pieces of :mod:`quakesynth.data`: readers (any format), the
station table (Vs30, coordinates), conditioning features, the HighFEM preprocessing and
screening, and the :class:`~quakesynth.data.store.DatasetWriter`. Nothing is dropped silently:
every unusable file or record is listed with its reason in the report (``ingest_report.csv``
inside the dataset, and at ``report`` if given), together with event-metadata conflicts. The
dataset appears only complete (written elsewhere, then moved into place).

The azimuthal gap of an event is computed once every record is read, from all of that event's
stations in the input (kept or not); a gap given by the input (a catalogue's, as in STEAD) is
kept, and ``path_azimuthal_gap_source`` says which. An event with fewer than three stations
gets ``sparse_gap_deg`` (180 degrees by default) and the source ``assumed (N station(s))``:
one station's gap is 360 degrees by definition, which describes no network geometry.

Vs30 comes from the record, then the station table, then the user's fallback (a constant:
``assumed``; a proxy table: ``inferred``); ``station_vs30_source`` holds the class
(``measured``, ``inferred``, ``assumed``) and ``station_vs30_reference`` where it came from.
A flatfile (NGA-West2, ESM, GEM columns) can supply event, station and Vs30 metadata of PEER
AT2 records, joined on the record sequence number.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.data import conditioning_columns, preprocess, readers
from quakesynth.data.ingest_report import Conflict, Dropped, IngestReport
from quakesynth.data.picking import PhaseNetPicker, Picker, STALTAPicker
from quakesynth.plain_json import to_plain
from quakesynth.records import QUANTITY_UNITS, RAW_UNITS, Records

REPORT_NAME = "ingest_report.csv"
#: metadata a record needs for the conditioning variables (besides Vs30)
REQUIRED = {"source_magnitude": "magnitude", "source_depth_km": "depth",
            "path_hyp_distance_km": "hypocentral distance (event and station coordinates)"}
#: What a dataset is for: ``generation`` needs the event metadata of the conditioning
#: variables (and Vs30); ``site`` (site-specific generation, station archives) needs only the
#: station identity, components and sampling rate, and keeps event metadata where present.
PURPOSES = ("generation", "site")


@dataclass(frozen=True)
class IngestConfig:
    """Everything :func:`ingest` does, as plain values (written into ``dataset.json``)."""

    preprocess: preprocess.PreprocessConfig = field(default_factory=preprocess.PreprocessConfig)
    read: readers.ReadOptions = field(default_factory=readers.ReadOptions)
    components: str = "ZNE"  # component order of the dataset before rotation
    quantity: str = "acceleration"  # quantity of the dataset
    unit: str | None = None  # unit of the dataset: counts, or the SI unit of quantity (None: that)
    require_vs30: bool = True  # drop records without Vs30
    picker: str = "stalta"  # "stalta", "phasenet" or "phasenet:<weights name or path>"
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, dev, test (records)
    seed: int = 0  # seed of the split assignment
    stations_vs30: str = "measured"  # what the station table's Vs30 are: "measured" or "inferred"
    vs30_fallback: str | None = None  # Vs30 where record and table have none: a constant (m/s) or a proxy table (CSV)
    flatfile: str | None = None  # flatfile joined by record sequence number (PEER RSN) or record id
    flatfile_format: str = "auto"  # its column mapping (quakesynth.evaluate.flatfile.FORMATS)
    sparse_gap_deg: float = 180.0  # azimuthal gap given to events with fewer than 3 stations, degrees
    purpose: str = "generation"  # "generation" or "site" (PURPOSES: which metadata a record needs)

    def __post_init__(self) -> None:
        if self.stations_vs30 not in ("measured", "inferred"):
            raise ValueError(f"stations_vs30 must be 'measured' or 'inferred'; got {self.stations_vs30!r}")
        if not 0.0 <= self.sparse_gap_deg <= 360.0:
            raise ValueError(f"sparse_gap_deg must be within [0, 360] degrees; got {self.sparse_gap_deg!r}")
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}; got {self.purpose!r}")
        if self.quantity not in QUANTITY_UNITS:
            raise ValueError(f"quantity must be one of {sorted(QUANTITY_UNITS)}; got {self.quantity!r}")
        if self.unit is None:
            object.__setattr__(self, "unit", QUANTITY_UNITS[self.quantity])
        if self.unit != QUANTITY_UNITS[self.quantity] and self.unit not in RAW_UNITS:
            raise ValueError(f"unit must be {QUANTITY_UNITS[self.quantity]!r} or one of {RAW_UNITS}; got {self.unit!r}")
        Records(np.zeros((0, len(self.components), 1)), fs=1.0, components=self.components)
        if self.preprocess.rotate and not {"N", "E"} <= set(self.components):
            raise ValueError(f"rotation to R/T needs N and E in components; got {self.components!r}")
        if not (self.picker == "stalta" or self.picker == "phasenet" or self.picker.startswith("phasenet:")):
            raise ValueError(f"picker must be 'stalta', 'phasenet' or 'phasenet:<weights>'; got {self.picker!r}")
        from quakesynth.data.store import _check_fractions

        _check_fractions(self.split_fractions)

    @property
    def dataset_components(self) -> str:
        """Component order stored in the dataset (``ZRT`` after rotation)."""
        return (self.components.replace("N", "R").replace("E", "T") if self.preprocess.rotate
                else self.components)

    def make_picker(self) -> Picker:
        if self.picker == "stalta":
            return STALTAPicker()
        return PhaseNetPicker(self.picker.split(":", 1)[1] if ":" in self.picker else "stead")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestResult:
    """What :func:`ingest` did: the report, and the dataset (None when nothing was kept)."""

    report: IngestReport
    dataset: Path | None
    report_path: Path | None

    @property
    def exit_code(self) -> int:
        """0: nothing dropped; 1: some records dropped; 2: no usable input at all."""
        if self.dataset is None:
            return 2
        return 1 if self.report.dropped else 0


class _NothingKept(Exception):
    pass


def _conform(rec: Records, cfg: IngestConfig) -> tuple[Records | None, list[Dropped]]:
    """Unit, components and sampling-rate checks against the dataset's."""
    def drop_all(reason: str, detail: str) -> tuple[None, list[Dropped]]:
        return None, preprocess._dropped(rec, np.ones(len(rec), bool), "read", reason, detail)

    if rec.quantity != cfg.quantity or rec.unit != cfg.unit:
        hint = " (instrument response not removed)" if rec.unit in RAW_UNITS else ""
        return drop_all("unit", f"{rec.quantity} in {rec.unit}{hint}; the dataset holds {cfg.quantity} in {cfg.unit}")
    if rec.fs < cfg.preprocess.fs:
        return drop_all("sampling_rate_below_target", f"{rec.fs:g} Hz < {cfg.preprocess.fs:g} Hz")
    drops: list[Dropped] = []
    need = cfg.components
    if not set(need) <= set(rec.components) and {"1", "2"} <= set(rec.components) and {"N", "E"} & set(need):
        rec, drops = preprocess.orient_ne_records(rec)
        if len(rec) == 0:
            return None, drops
    if not set(need) <= set(rec.components):
        missing = "".join(c for c in need if c not in rec.components)
        return None, drops + drop_all("missing_components", f"lacks {missing} (has {rec.components})")[1]
    return rec.select_components(need), drops


def _metadata_checks(rec: Records, require_vs30: bool) -> tuple[Records, list[Dropped]]:
    meta = rec.metadata
    missing = np.zeros(len(rec), bool)
    what: list[list[str]] = [[] for _ in range(len(rec))]
    for col, label in REQUIRED.items():
        bad = ~np.isfinite(meta[col].astype("float64").to_numpy(na_value=np.nan))
        missing |= bad
        for i in np.flatnonzero(bad):
            what[i].append(label)
    drops = preprocess._dropped(rec, missing, "metadata", "missing_metadata",
                                lambda i: "missing " + ", ".join(what[i]))
    no_vs30 = ~missing & ~np.isfinite(meta["station_vs30_mps"].astype("float64").to_numpy(na_value=np.nan))
    if require_vs30:
        drops += preprocess._dropped(
            rec, no_vs30, "metadata", "missing_vs30",
            lambda i: f"station {meta['station_code'].iloc[i]} has no Vs30 (not in the station table)")
        return rec[~(missing | no_vs30)], drops
    return rec[~missing], drops


def _site_checks(rec: Records) -> tuple[Records, list[Dropped]]:
    """``purpose="site"``: a record needs only its station code (event metadata and Vs30 are
    kept where present, never required)."""
    code = rec.metadata["station_code"].astype("string").fillna("").str.strip().to_numpy(dtype=object)
    missing = code == ""
    drops = preprocess._dropped(rec, missing, "metadata", "missing_station",
                                "no station code (site-specific datasets group records by station)")
    return rec[~missing], drops


def _site_config(cfg: IngestConfig) -> IngestConfig:
    """``purpose="site"``: the re-picked P may lie anywhere in the window (site metrics use the
    whole window; triggered records without an origin time to bound the P search are kept)."""
    import dataclasses

    pre = cfg.preprocess
    return dataclasses.replace(cfg, preprocess=dataclasses.replace(
        pre, pick_interval_s=(0.0, pre.n_samples / pre.fs)))


def ingest(inputs: Sequence[str | os.PathLike], output: str | os.PathLike,
           config: IngestConfig = IngestConfig(), format: str = "auto",
           stations: str | os.PathLike | None = None, overwrite: bool = False,
           report: str | os.PathLike | None = None, progress: bool = False) -> IngestResult:
    """Read, screen, preprocess and write ``inputs`` into the dataset ``output``.

    Parameters
    ----------
    inputs : files and folders (searched recursively).
    output : dataset folder to create.
    config : what to do (preprocessing, reading, dataset layout, splits).
    format : ``auto`` or one of :data:`quakesynth.data.readers.FORMATS`.
    stations : station table (CSV ``STATION,VS30(m/s)[,...]``).
    overwrite : replace an existing ``output``.
    report : also write the report CSV here (it is always inside the dataset).
    progress : show a progress bar on stderr.

    Raises ``ValueError`` / ``FileNotFoundError`` / ``FileExistsError`` for bad arguments
    (missing input, unreadable station table, existing output); problems with individual
    files or records never raise: they are in the report.
    """
    from tqdm import tqdm

    from quakesynth._atomic import atomic_path, check_writable
    from quakesynth.data.store import DatasetWriter

    output = Path(output)
    if config.purpose == "site":
        config = _site_config(config)
    check_writable(output, overwrite)
    if not inputs:
        raise ValueError("no input given")
    table = conditioning_columns.read_station_table(stations, config.stations_vs30) if stations is not None else None
    fallback = _vs30_fallback(config.vs30_fallback)
    flat = None
    if config.flatfile:
        from quakesynth.evaluate.flatfile import read_flatfile, to_metadata

        flat = to_metadata(read_flatfile(config.flatfile, config.flatfile_format, require_ims=False)[0])
    meta_table = None
    if config.read.metadata_table:
        from quakesynth.data.metadata_table import read_metadata_table

        meta_table = read_metadata_table(config.read.metadata_table)
    found = readers.discover(inputs, format, config.read)
    picker = config.make_picker()
    rep = IngestReport()
    seen_conflicts: set = set()
    for d in found.dropped:
        rep.n_read += 1
        rep.drop(d)
    names: set[str] = set()
    geometry: list[pd.DataFrame] = []  # event/station azimuths of every record read
    kept_gap_in: list[np.ndarray] = []
    dataset: Path | None = None
    try:
        with DatasetWriter(output, fs=config.preprocess.fs, components=config.dataset_components,
                           quantity=config.quantity, unit=config.unit,
                           split_fractions=config.split_fractions, seed=config.seed,
                           overwrite=overwrite) as w:
            bar = tqdm(total=found.size, disable=not progress, file=sys.stderr, unit="rec",
                       desc="ingest", dynamic_ncols=True)
            for unit in found.units:
                # a dataset unit (STEAD, SeisBench) counts records: advance per batch as it is read;
                # a file unit counts files: advance when it is done
                per_item, done = unit.format in ("stead", "seisbench"), 0
                for item in readers.read_unit(unit, config.read, meta_table):
                    if per_item and not isinstance(item, Conflict):
                        step = min(len(item) if isinstance(item, Records) else 1, unit.size - done)
                        if step > 0:
                            bar.update(step)
                            done += step
                    if isinstance(item, Conflict):
                        key = (item.source, item.field, item.header_value, item.other_value)
                        if key not in seen_conflicts:
                            seen_conflicts.add(key)
                            rep.conflicts.append(item)
                        continue
                    if isinstance(item, Dropped):
                        rep.n_read += 1
                        rep.drop(item)
                        continue
                    rep.n_read += len(item)
                    if flat is not None:
                        item = _join_flatfile(item, flat)
                    kept = _process(item, config, table, picker, names, geometry, rep, fallback)
                    if kept is not None and len(kept):
                        kept_gap_in.append(kept.metadata["path_azimuthal_gap_deg"].astype("float64")
                                           .to_numpy(na_value=np.nan))
                        w.add(kept)
                        rep.n_kept += len(kept)
                if unit.size > done:
                    bar.update(unit.size - done)
            bar.close()
            if w.n_records == 0:
                raise _NothingKept
            meta = w.metadata()
            gap_in = np.concatenate(kept_gap_in)
            geo = pd.concat(geometry, ignore_index=True)
            gaps = dict(zip(geo["source_id"], conditioning_columns.event_gaps(geo["source_id"], geo["az"], geo["station"])))
            computed = np.array([gaps.get(s, np.nan) if isinstance(s, str) else np.nan
                                 for s in meta["source_id"].tolist()], dtype=np.float64)
            counts = dict(zip(geo["source_id"], conditioning_columns.event_station_counts(geo["source_id"], geo["az"],
                                                                              geo["station"])))
            n_sta = np.array([counts.get(s, 0) if isinstance(s, str) else 0 for s in meta["source_id"].tolist()])
            use_in = np.isfinite(gap_in)
            sparse = ~use_in & np.isfinite(computed) & (n_sta < 3)
            w.assign("path_azimuthal_gap_deg", np.where(use_in, gap_in, np.where(sparse, config.sparse_gap_deg,
                                                                                  computed)))
            w.assign("path_azimuthal_gap_source", np.where(
                use_in, "input", np.where(sparse, np.char.add(np.char.add("assumed (", n_sta.astype(str)),
                                                              " station(s))"),
                                          np.where(np.isfinite(computed), "input stations", ""))).astype(object))
            w.add_file(REPORT_NAME, _report_bytes(rep))
            w.set_info(ingest={"inputs": [str(p) for p in inputs], "format": format,
                               "stations": str(stations) if stations is not None else None,
                               "config": to_plain(config.to_dict()), "picker": picker.params(),
                               "read": rep.n_read, "kept": rep.n_kept, "dropped": rep.by_reason(),
                               "conflicts": len(rep.conflicts)})
        dataset = output
    except _NothingKept:
        dataset = None
    report_path = None
    if report is not None:
        report_path = Path(report)
        with atomic_path(report_path, overwrite=True) as tmp:
            rep.write_csv(tmp)
    elif dataset is not None:
        report_path = dataset / REPORT_NAME
    else:
        report_path = output.with_name(output.name + ".report.csv")
        with atomic_path(report_path, overwrite=True) as tmp:
            rep.write_csv(tmp)
    return IngestResult(rep, dataset, report_path)


def _report_bytes(rep: IngestReport) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        return rep.write_csv(Path(d) / "r.csv").read_bytes()


def _vs30_fallback(spec: str | None) -> float | pd.DataFrame | None:
    """``"400"`` -> 400.0 (an assumed constant, m/s); a file -> its proxy table (inferred)."""
    if spec is None or str(spec).strip() == "":
        return None
    try:
        v = float(spec)
    except ValueError:
        if not Path(spec).is_file():
            raise ValueError(f"Vs30 fallback must be a speed in m/s or a station table file; got {spec!r}") from None
        return conditioning_columns.read_station_table(spec, kind="inferred")
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"Vs30 fallback must be a positive speed in m/s; got {spec!r}")
    return v


def _join_flatfile(rec: Records, flat: pd.DataFrame) -> Records:
    """Override a record's metadata with its flatfile row, matched by ``trace_rsn`` (PEER record
    sequence number); records without a match are unchanged."""
    meta = rec.metadata
    if "trace_rsn" not in meta or flat.empty:
        return rec
    rsn = pd.to_numeric(meta["trace_rsn"], errors="coerce").to_numpy(np.float64)
    rows = flat.drop_duplicates("trace_rsn").set_index("trace_rsn")
    hit = np.isin(rsn, rows.index.to_numpy(np.float64))
    if not hit.any():
        return rec
    meta = meta.copy()
    for col in rows.columns:
        vals = rows[col].reindex(rsn[hit])
        if col not in meta:
            meta[col] = pd.Series(pd.NA, index=meta.index, dtype=object)
        cur = meta[col].astype(object).to_numpy().copy()
        new = vals.to_numpy(dtype=object)
        ok = pd.notna(vals).to_numpy()
        idx = np.flatnonzero(hit)[ok]
        cur[idx] = new[ok]
        meta[col] = cur
    from quakesynth.data.metadata_table import typed

    meta = typed(meta)
    for col in ("source_id", "station_vs30_source", "source_event_name"):
        if col in meta:
            meta[col] = meta[col].astype("string")
    return rec.replace(metadata=meta)


def _process(rec: Records, cfg: IngestConfig, table: pd.DataFrame | None, picker: Picker,
             names: set[str], geometry: list[pd.DataFrame], rep: IngestReport,
             fallback: float | pd.DataFrame | None = None) -> Records | None:
    """Everything for one batch read: checks, features, preprocessing, screening."""
    dup = rec.metadata["trace_name"].isin(names).to_numpy() | rec.metadata["trace_name"].duplicated().to_numpy()
    for d in preprocess._dropped(rec, dup, "read", "duplicate", "a record of this name was already read"):
        rep.drop(d)
    rec = rec[~dup]
    names.update(rec.metadata["trace_name"].tolist())
    if len(rec) == 0:
        return None
    try:
        meta = conditioning_columns.add_path_features(conditioning_columns.fill_vs30(conditioning_columns.join_stations(rec.metadata, table),
                                                             fallback))
        rec = rec.replace(metadata=meta)
        sta = (meta["station_network_code"].fillna("").astype(str) + "." + meta["station_code"].fillna("").astype(str))
        geometry.append(pd.DataFrame({"source_id": meta["source_id"], "az": meta["path_azimuth_deg"],
                                      "station": sta}))
        rec, drops = _conform(rec, cfg)
        for d in drops:
            rep.drop(d)
        if rec is None or len(rec) == 0:
            return None
        rec, drops = _site_checks(rec) if cfg.purpose == "site" else _metadata_checks(rec, cfg.require_vs30)
        for d in drops:
            rep.drop(d)
        if len(rec) == 0:
            return None
        out, drops = preprocess.preprocess(rec, cfg.preprocess, picker)
        for d in drops:
            rep.drop(d)
        return out
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as e:  # noqa: BLE001 - one bad batch must not stop the ingestion
        if isinstance(e, FileNotFoundError) and isinstance(picker, PhaseNetPicker):
            raise ValueError(str(e)) from e
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        for d in preprocess._dropped(rec, np.ones(len(rec), bool), "preprocess", "error",
                                     f"{type(e).__name__}: {msg}"):
            rep.drop(d)
        return None


def summary_json(result: IngestResult) -> str:
    """The result as one JSON line (for scripts)."""
    r = result.report
    return json.dumps({"dataset": str(result.dataset) if result.dataset else None, "read": r.n_read,
                       "kept": r.n_kept, "dropped": r.by_reason(), "conflicts": len(r.conflicts),
                       "report": str(result.report_path) if result.report_path else None,
                       "exit_code": result.exit_code}, sort_keys=True)

