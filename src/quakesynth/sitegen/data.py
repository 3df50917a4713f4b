"""Station record pools for site-specific generation, and the amplitude normalisation.

Normalisation (both models): each record is divided by its peak absolute value over its
recorded components, ``x_n = x / A`` with ``A = max_{c,t} |x_c(t)|`` (m/s^2), so the ratio
between components -- and with it the HVSR -- is untouched; ``ln A`` is kept per record. The
generators de-normalise with amplitudes taken from the station's own pool (see
:mod:`quakesynth.generate.timesnet`), so generated records carry the station's amplitude
level in m/s^2 without a scenario (magnitude, distance) to scale them.

Station archives are mixed: 100 and 200 Hz, records of every length, triggered records that
start late or early, stations with two or one horizontal and no vertical.
:func:`conform_waveforms` brings such records onto one grid, every step recorded per record
(``sitegen_processing`` metadata column):

1. **resample** to ``fs`` (:func:`quakesynth.data.preprocess.resample`, polyphase);
2. **align**: the window starts ``pre_p_s`` before the P arrival (the record's
   ``trace_p_arrival_sample``, else an STA/LTA pick, :class:`quakesynth.data.picking.STALTAPicker`;
   without either, at the record start);
3. **window / pad** to ``n_samples`` (zeros where the record is shorter);
4. **mask** missing components: a component the record does not hold, or one that is all
   zero or non-finite, is zero in ``wave`` and False in :attr:`StationPool.present`; a
   warning names the stations and components (never silent zero channels).

:func:`load_pool` reads a dataset store (fixed-length quakesynth stores and SeisBench-style
stores with one array per trace and a ``trace_sampling_rate_hz`` column alike) and splits
by the stored split, by event or by record.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Ways :func:`load_pool` splits a store: its stored ``split`` column, by event (no event in
#: two splits; records without an event id are events of their own) or by record.
SPLIT_BY = ("stored", "event", "record")


@dataclass
class StationPool:
    """Peak-normalised records with their station labels.

    Attributes
    ----------
    wave : (N, C, T) float32 normalised waveforms (peak 1 over the recorded components).
    ln_peak : (N,) float64 ln of the peak acceleration A, ln(m/s^2).
    station : (N,) int64 index into ``codes``.
    codes : station codes, in label order.
    fs : sampling rate, Hz.
    components : component order of ``wave``.
    metadata : (N rows) the records' metadata (``sitegen_processing``: what was done).
    present : (N, C) bool, False where a component was not recorded (masked: zeros in ``wave``).
    """

    wave: np.ndarray
    ln_peak: np.ndarray
    station: np.ndarray
    codes: list[str]
    fs: float
    components: str
    metadata: pd.DataFrame
    present: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        if self.present is None:
            self.present = np.ones(self.wave.shape[:2], dtype=bool)

    def __len__(self) -> int:
        return len(self.wave)

    def of(self, code: str) -> np.ndarray:
        """Row indices of station ``code``."""
        if code not in self.codes:
            raise ValueError(f"station {code!r} is not in the pool; stations: {self.codes}")
        return np.flatnonzero(self.station == self.codes.index(code))

    def has(self, components: str) -> np.ndarray:
        """(N,) bool: records on which every one of ``components`` was recorded."""
        idx = [self.components.index(c) for c in components if c in self.components]
        if len(idx) < len(components):
            return np.zeros(len(self), dtype=bool)
        return self.present[:, idx].all(axis=1)

    def missing_summary(self) -> dict[str, dict[str, int]]:
        """``{station: {component: records without it}}`` for stations with masked components."""
        out: dict[str, dict[str, int]] = {}
        for s, code in enumerate(self.codes):
            rows = self.station == s
            miss = {c: int((~self.present[rows, j]).sum()) for j, c in enumerate(self.components)}
            miss = {c: n for c, n in miss.items() if n}
            if miss:
                out[code] = miss
        return out


def normalise(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x / A, ln A) with ``A`` the peak |x| over components and time of each record (N, C, T).

    >>> x, a = normalise(np.array([[[0.0, -2.0], [1.0, 0.5]]]))
    >>> x.tolist(), float(np.exp(a[0]))
    ([[[0.0, -1.0], [0.5, 0.25]]], 2.0)
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"data must have shape (N, C, T); got {x.shape}")
    peak = np.abs(x).max(axis=(1, 2)) if x.size else np.zeros(len(x))
    if not np.all(peak > 0) or not np.all(np.isfinite(peak)):
        bad = int(np.flatnonzero(~(np.isfinite(peak) & (peak > 0)))[0])
        raise ValueError(f"every record needs a finite, non-zero peak to be normalised; record {bad} has {peak[bad]!r}")
    return (x / peak[:, None, None]).astype(np.float32), np.log(peak)


def _window_start(x: np.ndarray, fs: float, components: str, p_sample: float, pre_p_s: float) -> tuple[int, str]:
    """First sample of the aligned window of one record (C, T) and how it was found."""
    from quakesynth.data.picking import STALTAPicker
    from quakesynth.records import Records

    if pre_p_s < 0:
        return 0, "window from the record start"
    how = "input P"
    if not np.isfinite(p_sample):
        how = "STA/LTA P"
        try:
            p_sample = float(STALTAPicker().pick(Records(x[None].astype(np.float32), fs=fs,
                                                         components=components))[0])
        except ValueError:
            p_sample = np.nan
    if not np.isfinite(p_sample):
        return 0, "no P: window from the record start"
    return int(round(p_sample - pre_p_s * fs)), f"window from {how} - {pre_p_s:g} s"


def conform_waveforms(waves, fs, components_in: str, components: str, fs_out: float | None = None,
                      n_samples: int | None = None, p_samples=None, pre_p_s: float = 3.0
                      ) -> tuple[np.ndarray, np.ndarray, list[str], float, int]:
    """Mixed records onto one grid (module docstring, steps 1-4).

    Parameters
    ----------
    waves : N arrays (C_in, T_i), acceleration in m/s^2, components ``components_in``.
    fs : (N,) sampling rates, Hz (or one number).
    components_in : component letters of the input arrays (e.g. ``"ZNE"``).
    components : component letters of the output (missing ones are masked).
    fs_out : output rate, Hz (default: the lowest input rate, so no record is up-sampled).
    n_samples : output length, samples (default: the median aligned length, rounded down to
        a multiple of 64).
    p_samples : (N,) P arrival samples at the input rates (NaN: pick with STA/LTA).
    pre_p_s : the window starts this long before P, s (negative: at the record start).

    Returns
    -------
    data : (N, len(components), n_samples) float32; present : (N, len(components)) bool;
    processing : N one-line descriptions; fs_out (Hz); n_samples.
    """
    from quakesynth.data.preprocess import resample

    n = len(waves)
    fs_in = np.broadcast_to(np.asarray(fs, dtype=np.float64), (n,))
    if n == 0:
        raise ValueError("no record to conform")
    if not np.all(np.isfinite(fs_in) & (fs_in > 0)):
        bad = int(np.flatnonzero(~(np.isfinite(fs_in) & (fs_in > 0)))[0])
        raise ValueError(f"record {bad} has no usable sampling rate (fs={fs_in[bad]!r} Hz)")
    fs_out = float(fs_in.min()) if fs_out is None else float(fs_out)
    if not (np.isfinite(fs_out) and fs_out > 0):
        raise ValueError(f"fs_out must be a positive sampling rate in Hz; got {fs_out!r}")
    p_in = np.full(n, np.nan) if p_samples is None else np.asarray(p_samples, dtype=np.float64)
    steps: list[list[str]] = [[] for _ in range(n)]
    res, starts = [], []
    for i, w in enumerate(waves):
        x = np.asarray(w, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != len(components_in):
            raise ValueError(f"record {i} must have shape ({len(components_in)}, T); got {x.shape}")
        x = np.where(np.isfinite(x), x, 0.0)
        p = p_in[i]
        if abs(fs_in[i] - fs_out) > 1e-9 * fs_out:
            x = resample(x, fs_in[i], fs_out)
            p = p * fs_out / fs_in[i]
            steps[i].append(f"resample {fs_in[i]:g}->{fs_out:g} Hz")
        a, how = _window_start(x, fs_out, components_in, p, pre_p_s)
        steps[i].append(how)
        res.append(x)
        starts.append(a)
    if n_samples is None:  # the common length, else the median rounded down to a multiple of 64
        lengths = np.array([x.shape[1] - max(a, 0) for x, a in zip(res, starts)])
        n_samples = int(lengths[0]) if np.all(lengths == lengths[0]) else max(64, int(np.median(lengths)) // 64 * 64)
    n_samples = int(n_samples)
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive; got {n_samples}")
    out = np.zeros((n, len(components), n_samples), dtype=np.float32)
    present = np.zeros((n, len(components)), dtype=bool)
    for i, (x, a) in enumerate(zip(res, starts)):
        lo, hi = max(a, 0), min(a + n_samples, x.shape[1])
        seg = x[:, lo:hi]
        off = lo - a  # zeros before the record start
        pad = n_samples - off - seg.shape[1]
        if off or pad:
            steps[i].append(f"pad {off} + {pad} samples")
        elif x.shape[1] > n_samples:
            steps[i].append(f"cut {x.shape[1]} -> {n_samples} samples")
        miss = []
        for j, c in enumerate(components):
            if c not in components_in:
                miss.append(c)
                continue
            row = x[components_in.index(c)]
            if not np.any(row != 0):
                miss.append(c)
                continue
            out[i, j, off:off + seg.shape[1]] = seg[components_in.index(c)]
            present[i, j] = True
        if miss:
            steps[i].append(f"missing {''.join(miss)} (masked)")
    return out, present, ["; ".join(s) for s in steps], fs_out, n_samples


def _warn_missing(pool: StationPool) -> None:
    miss = pool.missing_summary()
    if miss:
        per = "; ".join(f"{code}: " + ", ".join(f"{c} in {k}/{len(pool.of(code))}" for c, k in m.items())
                        for code, m in miss.items())
        warnings.warn(f"records without some components (masked, zeros in wave; see StationPool.present): {per}",
                      stacklevel=3)


def _build(waves, fs, components_in: str, meta: pd.DataFrame, codes: list[str] | None, components: str | None,
           fs_out: float | None, n_samples: int | None, pre_p_s: float) -> StationPool:
    meta = meta.reset_index(drop=True)
    if "station_code" not in meta:
        raise ValueError("records need a 'station_code' metadata column")
    st = meta["station_code"].astype("string").fillna("").to_numpy(dtype=object).astype(str)
    if (st == "").any():
        raise ValueError(f"{int((st == '').sum())} record(s) have no station code")
    codes = sorted(set(st)) if codes is None else list(codes)
    keep = np.flatnonzero(np.isin(st, codes))
    if len(keep) == 0:
        raise ValueError(f"no record of stations {codes}; the records hold stations {sorted(set(st))}")
    comps = components_in if components is None else components
    p = (meta["trace_p_arrival_sample"].astype("float64").to_numpy(na_value=np.nan)
         if "trace_p_arrival_sample" in meta else None)
    data, present, proc, fs_out, _ = conform_waveforms(
        [waves[i] for i in keep], np.broadcast_to(np.asarray(fs, np.float64), (len(meta),))[keep], components_in,
        comps, fs_out, n_samples, None if p is None else p[keep], pre_p_s)
    empty = ~present.any(axis=1)
    if empty.any():
        raise ValueError(f"record {meta['trace_name'].iloc[keep[np.flatnonzero(empty)[0]]] if 'trace_name' in meta else ''!r}"
                         f" has none of the components {comps!r} (all missing or zero)")
    wave, ln_peak = normalise(data)
    sub = meta.iloc[keep].reset_index(drop=True).assign(sitegen_processing=proc)
    idx = np.array([codes.index(s) for s in st[keep]], dtype=np.int64)
    pool = StationPool(wave, ln_peak, idx, codes, fs_out, comps, sub, present)
    _warn_missing(pool)
    return pool


def station_pool(records, codes: list[str] | None = None, components: str | None = "ZNE",
                 n_samples: int | None = None, fs: float | None = None, pre_p_s: float = -1.0) -> StationPool:
    """A :class:`StationPool` of :class:`~quakesynth.records.Records` grouped by
    ``station_code`` (``codes`` fixes the label order; default: sorted codes present).

    ``components`` absent from the records are masked (a warning says where); None keeps the
    records' own order. ``n_samples`` pads / cuts (default: the records' length), ``fs``
    resamples (default: the records' rate); ``pre_p_s >= 0`` aligns on P (default: no shift).
    """
    if records.quantity != "acceleration" or records.unit != "m/s^2":
        raise ValueError(f"records must be acceleration in m/s^2; got {records.quantity} in {records.unit}")
    return _build(list(records.data), records.fs, records.components, records.metadata, codes, components,
                  fs, n_samples if n_samples is not None else records.n_samples, pre_p_s)


def _read_all(ds) -> tuple[list[np.ndarray], np.ndarray, pd.DataFrame]:
    """Waveforms (one array per record: stores may hold records of several lengths), their
    sampling rates (Hz) and metadata of a dataset view."""
    meta = ds.metadata.reset_index(drop=True)
    store, rows = ds._store, ds._rows  # raw arrays: a mixed store has no single rate or length
    try:
        waves = list(store.read(rows))
    except ValueError:  # arrays of different shapes: one read per record
        waves = [store.read(rows[i:i + 1])[0] for i in range(len(rows))]
    fs = np.full(len(meta), float(ds.fs))
    if "trace_sampling_rate_hz" in meta:
        own = meta["trace_sampling_rate_hz"].astype("float64").to_numpy(na_value=np.nan)
        fs = np.where(np.isfinite(own), own, fs)
    if not np.all(np.isfinite(fs) & (fs > 0)):
        i = int(np.flatnonzero(~(np.isfinite(fs) & (fs > 0)))[0])
        raise ValueError(f"record {meta['trace_name'].iloc[i]!r} has no sampling rate: neither a "
                         "'trace_sampling_rate_hz' value nor the dataset's sampling_rate")
    return waves, fs, meta


def load_pool(dataset: str | Path, split: str | None = "train", codes: list[str] | None = None,
              per_station: int = 0, components: str | None = "ZNE", fs: float | None = None,
              n_samples: int | None = None, pre_p_s: float = -1.0, split_by: str = "stored",
              split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0) -> StationPool:
    """The records of one split of a dataset store as a :class:`StationPool`.

    Parameters
    ----------
    dataset : store folder.
    split : ``"train"``, ``"dev"``, ``"test"`` or None (all records).
    codes : stations, in label order (default: those present, sorted).
    per_station : at most this many records per station (the first in store order; 0: all).
    components : output component order (missing ones masked); None: the store's.
    fs, n_samples, pre_p_s : grid of :func:`conform_waveforms` (defaults: lowest rate, median
        length; ``pre_p_s < 0``: no alignment, the store's own windows).
    split_by : :data:`SPLIT_BY`: the store's ``split`` column, or a new split by event
        (``source_id``) or by record with ``split_fractions`` and ``seed``.

    Raises ``ValueError`` when the split holds no record, naming where the records are.
    """
    from quakesynth.data.store import SPLITS, Dataset, assign_splits

    if split_by not in SPLIT_BY:
        raise ValueError(f"split_by must be one of {SPLIT_BY}; got {split_by!r}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None; got {split!r}")
    ds = Dataset(dataset)
    meta = ds.metadata.reset_index(drop=True)
    if split_by == "stored":
        where = meta["split"].astype("string").fillna("none").to_numpy(dtype=object).astype(str) \
            if "split" in meta else np.full(len(meta), "none")
    else:
        key = meta["source_id"] if split_by == "event" and "source_id" in meta else \
            pd.Series([f"rec{i}" for i in range(len(meta))])
        where = assign_splits(key, split_fractions, seed)
    if codes is not None and "station_code" in meta:
        in_codes = meta["station_code"].astype(str).isin(list(codes)).to_numpy()
    else:
        in_codes = np.ones(len(meta), dtype=bool)
    sel = in_codes & ((where == split) if split is not None else True)
    if not sel.any():
        counts = pd.Series(where[in_codes]).value_counts().to_dict()
        raise ValueError(f"split {split!r} ({split_by}) holds none of the {int(in_codes.sum())} records"
                         f"{' of stations ' + str(list(codes)) if codes is not None else ''}; they are in "
                         f"{counts or 'no split'} (choose another split, or split_by='record' / 'event')")
    rows = np.flatnonzero(sel)
    if per_station > 0:
        first = meta.iloc[rows].groupby("station_code", sort=False).head(per_station).index.to_numpy()
        rows = np.sort(first)
    ds = ds.select(rows)
    waves, rates, m = _read_all(ds)
    m = m.assign(sitegen_split=where[rows])
    return _build(waves, rates, ds.components, m, codes, components, fs, n_samples, pre_p_s)


def true_f0(dataset: str | Path) -> dict[str, float]:
    """``{station_code: f0_hz}`` from a dataset's ``stations.csv`` (simulator corpora)."""
    path = Path(dataset) / "stations.csv"
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} not found: the dataset has no station table")
    t = pd.read_csv(path)
    return {str(c): float(f) for c, f in zip(t["station_code"], t["f0_hz"])}
