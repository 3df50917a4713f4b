"""Station record pools for site-specific generation, and the amplitude normalisation.

Normalisation (both models): each three-component record is divided by its peak absolute
value over all components, ``x_n = x / A`` with ``A = max_{c,t} |x_c(t)|`` (m/s^2), so the
ratio between components -- and with it the HVSR -- is untouched; ``ln A`` is kept per
record. The generators de-normalise with amplitudes taken from the station's own pool (see
:mod:`quakesynth.sitegen.generator`), so generated records carry the station's amplitude
level in m/s^2 without a scenario (magnitude, distance) to scale them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class StationPool:
    """Peak-normalised records with their station labels.

    Attributes
    ----------
    wave : (N, C, T) float32 normalised waveforms (peak 1).
    ln_peak : (N,) float64 ln of the peak acceleration A, ln(m/s^2).
    station : (N,) int64 index into ``codes``.
    codes : station codes, in label order.
    fs : sampling rate, Hz.
    components : component order of ``wave``.
    metadata : (N rows) the records' metadata.
    """

    wave: np.ndarray
    ln_peak: np.ndarray
    station: np.ndarray
    codes: list[str]
    fs: float
    components: str
    metadata: pd.DataFrame

    def __len__(self) -> int:
        return len(self.wave)

    def of(self, code: str) -> np.ndarray:
        """Row indices of station ``code``."""
        if code not in self.codes:
            raise ValueError(f"station {code!r} is not in the pool; stations: {self.codes}")
        return np.flatnonzero(self.station == self.codes.index(code))


def normalise(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x / A, ln A) with ``A`` the peak |x| over components and time of each record (N, C, T).

    >>> x, a = normalise(np.array([[[0.0, -2.0], [1.0, 0.5]]]))
    >>> x.tolist(), float(np.exp(a[0]))
    ([[[0.0, -1.0], [0.5, 0.25]]], 2.0)
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"data must have shape (N, C, T); got {x.shape}")
    peak = np.abs(x).max(axis=(1, 2))
    if not np.all(peak > 0) or not np.all(np.isfinite(peak)):
        raise ValueError("every record needs a finite, non-zero peak to be normalised")
    return (x / peak[:, None, None]).astype(np.float32), np.log(peak)


def station_pool(records, codes: list[str] | None = None, components: str = "ZNE",
                 n_samples: int | None = None) -> StationPool:
    """A :class:`StationPool` of :class:`~quakesynth.records.Records` grouped by
    ``station_code`` (``codes`` fixes the label order; default: sorted codes present)."""
    if records.quantity != "acceleration" or records.unit != "m/s^2":
        raise ValueError(f"records must be acceleration in m/s^2; got {records.quantity} in {records.unit}")
    if "station_code" not in records.metadata:
        raise ValueError("records need a 'station_code' metadata column")
    rec = records.select_components(components) if records.components != components else records
    data = rec.data
    if n_samples is not None:
        out = np.zeros((len(data), data.shape[1], n_samples), dtype=np.float32)
        m = min(n_samples, data.shape[2])
        out[:, :, :m] = data[:, :, :m]
        data = out
    meta = rec.metadata.reset_index(drop=True)
    st = meta["station_code"].astype(str).to_numpy()
    codes = sorted(set(st)) if codes is None else list(codes)
    keep = np.isin(st, codes)
    wave, ln_peak = normalise(data[keep])
    idx = np.array([codes.index(s) for s in st[keep]], dtype=np.int64)
    return StationPool(wave, ln_peak, idx, codes, float(rec.fs), components, meta[keep].reset_index(drop=True))


def load_pool(dataset: str | Path, split: str | None = "train", codes: list[str] | None = None,
              per_station: int = 0, components: str = "ZNE") -> StationPool:
    """The records of one split of a dataset store as a :class:`StationPool` (at most
    ``per_station`` records per station when > 0, the first ones in store order)."""
    from quakesynth.data.store import Dataset

    ds = Dataset(dataset)
    if split is not None:
        ds = ds.split(split)
    meta = ds.metadata
    if per_station > 0:
        rows = meta.groupby("station_code", sort=False).head(per_station).index.to_numpy()
        ds, rows = ds.select(np.sort(rows)), None
    return station_pool(ds.get(np.arange(len(ds))), codes, components)


def true_f0(dataset: str | Path) -> dict[str, float]:
    """``{station_code: f0_hz}`` from a dataset's ``stations.csv`` (simulator corpora)."""
    path = Path(dataset) / "stations.csv"
    if not path.exists():
        raise FileNotFoundError(f"{str(path)!r} not found: the dataset has no station table")
    t = pd.read_csv(path)
    return {str(c): float(f) for c, f in zip(t["station_code"], t["f0_hz"])}
