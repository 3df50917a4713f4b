"""HDF5 in the layout of the HighFEM reference generator (tqdne 0.2 ``generate_waveforms.py``).

The tqdne generation CLI writes one HDF5 file with the waveforms and one 1-D dataset per
conditioning variable::

    waveforms              float32 (N, 3, T)   acceleration, m/s^2, channel order N, E, Z
    hypocentral_distance   float64 (N,)        km
    magnitude              float64 (N,)
    vs30s                  float64 (N,)        m/s (tqdne's name; ``vs30`` is a hard link to it)
    hypocentre_depth       float64 (N,)        km
    azimuthal_gap          float64 (N,)        degrees

quakesynth writes exactly these datasets (so code written for tqdne output reads ours), with
the component order of tqdne (``NEZ``) whenever the records are Z, N, E, and adds what tqdne
leaves implicit: root attributes ``fs`` (Hz), ``components``, ``quantity``, ``unit``,
``layout`` and ``quakesynth_version``; a ``unit`` attribute on every dataset; and a
``metadata`` group with one dataset per metadata column (SeisBench names) for a lossless round
trip. All datasets are resizable and chunked per record, so the file is written chunk by chunk.

Files written by tqdne itself (no ``fs`` attribute) are read as 100 Hz acceleration in m/s^2
with components ``NEZ``, the reference's conventions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.formats._common import RecordWriter, format_attrs
from quakesynth.records import Records

#: tqdne dataset name -> (our metadata column, unit)
CONDITIONING = {
    "hypocentral_distance": ("path_hyp_distance_km", "km"),
    "magnitude": ("source_magnitude", ""),
    "vs30s": ("station_vs30_mps", "m/s"),
    "hypocentre_depth": ("source_depth_km", "km"),
    "azimuthal_gap": ("path_azimuthal_gap_deg", "deg"),
}
#: Aliases created as HDF5 hard links (older tqdne files and the training files say ``vs30``).
ALIASES = {"vs30": "vs30s"}
#: Channel order of the reference's waveforms.
TQDNE_COMPONENTS = "NEZ"
LAYOUT = "tqdne-0.2 generate_waveforms"


def _order(components: str) -> str:
    return TQDNE_COMPONENTS if sorted(components) == sorted(TQDNE_COMPONENTS) else components


class Hdf5Writer(RecordWriter):
    format = "hdf5"

    def _open(self, first: Records) -> None:
        import h5py

        from quakesynth._atomic import GuardedFile

        self.guard = GuardedFile(self.atomic(self.path))
        self.file = h5py.File(self.guard, "w")
        self.datasets: dict = {}
        f = self.file
        self.order = _order(first.components)
        self.perm = [first.components.index(c) for c in self.order]
        attrs = format_attrs(first)
        attrs["components"] = self.order
        f.attrs.update({**attrs, "layout": LAYOUT})
        c, t = len(self.order), first.n_samples
        w = f.create_dataset("waveforms", shape=(0, c, t), maxshape=(None, c, t), dtype="f4", chunks=(1, c, t))
        w.attrs.update(unit=first.unit, quantity=first.quantity, components=self.order,
                       dims="record, component, sample")
        for name, (_, unit) in CONDITIONING.items():
            f.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(4096,)).attrs["unit"] = unit
        for alias, target in ALIASES.items():
            f[alias] = f[target]
        self.columns: list[str] = []
        self.kinds: dict[str, str] = {}
        g = f.create_group("metadata")
        g.attrs["description"] = "one dataset per metadata column (SeisBench names), one row per record"
        g.attrs["columns"] = [str(c) for c in first.metadata.columns]
        for name, s in first.metadata.items():
            kind = _kind(s)
            self.columns.append(str(name))
            self.kinds[str(name)] = kind
            dtype = {"f": "f8", "i": "i8", "b": "?"}.get(kind, h5py.string_dtype())
            g.create_dataset(str(name), shape=(0,), maxshape=(None,), dtype=dtype, chunks=(1024,))

    def _dataset(self, name: str):
        """An open dataset, kept open until the file closes: a dataset closed mid-way flushes
        its cache from a destructor, where a write error could not be reported."""
        if name not in self.datasets:
            self.datasets[name] = self.file[name]
        return self.datasets[name]

    def _add(self, records: Records, start: int) -> None:
        n = len(records)
        stop = start + n
        w = self._dataset("waveforms")
        w.resize(stop, axis=0)
        w[start:stop] = records.data[:, self.perm]
        for name, (col, _) in CONDITIONING.items():
            d = self._dataset(name)
            d.resize(stop, axis=0)
            d[start:stop] = records.metadata[col].to_numpy(dtype=np.float64, na_value=np.nan)
        for name in self.columns:
            d = self._dataset(f"metadata/{name}")
            d.resize(stop, axis=0)
            s = records.metadata[name] if name in records.metadata else pd.Series([pd.NA] * n)
            d[start:stop] = _to_column(s, self.kinds[name])
        self.guard.check()  # a write error hidden in a cache flush

    def _close_files(self) -> None:
        f, guard = getattr(self, "file", None), getattr(self, "guard", None)
        self.file = None
        error: BaseException | None = None
        if f is not None:
            try:
                f.flush()  # a write error here is raised, not printed by a destructor
            except Exception as e:  # noqa: BLE001 -- reported below, after the file is closed
                error = e
            self.datasets = {}
            try:
                f.close()  # always: an HDF5 file left open is closed at exit, through a closed file
            except Exception as e:  # noqa: BLE001
                error = error or e
        if guard is not None:
            guard.close()
            guard.check()
        if error is not None:
            raise error


def _kind(s: pd.Series) -> str:
    if str(s.dtype) in ("string", "object"):
        return "s"
    k = s.dtype.kind
    return k if k in "fb" else ("i" if k in "iu" else "s")


def _to_column(s: pd.Series, kind: str) -> np.ndarray:
    if kind == "f":
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if kind == "i":
        return pd.to_numeric(s).to_numpy(dtype=np.int64)
    if kind == "b":
        return s.to_numpy(dtype=bool)
    return np.array(["" if (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))) else str(v)
                     for v in s], dtype=object)


def _metadata(f, idx: slice, n: int) -> pd.DataFrame:
    if "metadata" in f:
        g = f["metadata"]
        meta = {}
        for name in g.attrs.get("columns", list(g)):
            d = g[name]
            values = d[idx]
            if d.dtype.kind in "OS":
                values = pd.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype="string")
                values[values == ""] = pd.NA
            meta[name] = values
        return pd.DataFrame(meta)
    meta = pd.DataFrame(index=range(n))
    for name, (col, _) in CONDITIONING.items():
        for src in (name, *[a for a, t in ALIASES.items() if t == name]):
            if src in f:
                meta[col] = np.asarray(f[src][idx], dtype=np.float64)
                break
    return meta


def iter_hdf5(path: str | Path, chunk_size: int = 256, limit: int | None = None):
    """Stream a tqdne-layout HDF5 file as Records chunks (memory independent of its size)."""
    import h5py

    with h5py.File(path, "r") as f:
        if "waveforms" not in f:
            raise ValueError(f"{str(path)!r} has no 'waveforms' dataset: not a tqdne/quakesynth HDF5 file")
        w = f["waveforms"]
        fs = float(f.attrs.get("fs", 100.0))
        comps = str(f.attrs.get("components", w.attrs.get("components", TQDNE_COMPONENTS)))
        quantity = str(f.attrs.get("quantity", "acceleration"))
        unit = str(f.attrs.get("unit", "m/s^2"))
        n = w.shape[0] if limit is None else min(limit, w.shape[0])
        for start in range(0, n, chunk_size):
            sl = slice(start, min(start + chunk_size, n))
            meta = _metadata(f, sl, sl.stop - sl.start)
            yield Records(w[sl], fs=fs, components=comps, quantity=quantity, unit=unit, metadata=meta)


def read_hdf5(path: str | Path, limit: int | None = None) -> Records:
    """Read a tqdne-layout HDF5 file (ours or the reference's) into Records."""
    return Records.concat(list(iter_hdf5(path, limit=limit)))
