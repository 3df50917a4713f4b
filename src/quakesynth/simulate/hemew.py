"""Reader of the HEMEW^S-3D database (Lehmann et al., 2024) and of corpora in the same layout.

HEMEW^S-3D holds 30,000 spectral-element simulations (SEM3D) of 3-D elastic wave propagation in
a 9.6 x 9.6 x 9.6 km domain: a random geology (32^3 shear-wave-velocity cube), a random
double-couple point source, and the three velocity components on 32 x 32 surface sensors,
sampled at 100 Hz for 8 s (800 steps), valid up to 5 Hz. Samples are numbered 100000-129999.

Layouts read here
-----------------
**Formatted per-sample files** (``sample<i>.h5``; what MIFNO's ``data/create_data_*.py`` make
from the raw download, and what ``quakesynth simulate-3d`` writes)::

    a        (Sx, Sy, Sz) float32   shear-wave velocity Vs, m/s; axes x (East), y (North), z
                                    with z index 0 at the *bottom* and Sz-1 at the surface
    s        (3,) float32           source position x, y, z in m; z <= 0 (negative depth)
    angle    (3,) float32           strike, dip, rake in degrees
    moment   (6,) float64           moment tensor Mxx, Myy, Mzz, Mxy, Mxz, Myz for M0 = 1
                                    (Aki & Richards 1980; x = North, y = East, z = down)
    uE, uN, uZ (Sx, Sy, T) float32  surface velocity, m/s, sensor (ix, iy), time step
    a_mean.npy, a_std.npy           (beside the samples) Vs mean and std over the training set

MIFNO's files have no attributes: T = 320 at 50 Hz after a zero-phase 4th-order Butterworth
low-pass at 5 Hz. Files written by :mod:`quakesynth.simulate.wave3d` add root attributes
``fs`` (Hz), ``fmax`` (Hz), ``domain_m`` (3,) and ``format = "quakesynth-hemew"``, and may add
``vp`` and ``rho`` cubes; everything above is unchanged so MIFNO's own loader reads them too.

**Raw download** (doi:10.57745/LAI6YU) in a folder::

    materials<I>-<I+1999>.npy or material<I>-<I+1999>.npy   (2000, 32, 32, 32) Vs cubes
    source_properties.csv        index, x, y, z (m), strike, dip, rake (deg)
    velocity<I>-<I+99>.zip       holding velocity<I>-<I+99>/sample<i>.h5 with uE, uN, uZ
                                 (32, 32, 800) at 100 Hz (or the unzipped folder)

:func:`read_hemew_raw` reads samples from such a folder (without unzipping to disk) and, like
MIFNO, derives the moment tensor from the angles.

Preprocessing (:func:`preprocess_velocity`): zero-phase Butterworth low-pass (order 4 applied
forwards and backwards, as MIFNO's ``butter_lowpass_filter``), decimation by an integer factor
and truncation, i.e. 5 Hz, 100 -> 50 Hz, 320 steps for HEMEW^S-3D.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Order of the velocity components in every array returned here.
COMPONENTS = ("E", "N", "Z")
#: HDF5 dataset names of the components.
DATASETS = ("uE", "uN", "uZ")
#: HEMEW^S-3D domain size (x, y, z) in m.
HEMEW_DOMAIN_M = (9600.0, 9600.0, 9600.0)
#: Sampling rate of the raw HEMEW^S-3D velocity fields, Hz.
HEMEW_RAW_FS = 100.0


@dataclass(frozen=True)
class HemewPreprocess:
    """MIFNO's preprocessing of the HEMEW^S-3D velocity fields."""

    fmax: float = 5.0  # low-pass corner, Hz (zero-phase Butterworth)
    order: int = 4  # Butterworth order (applied forwards and backwards)
    fs_out: float = 50.0  # output sampling rate, Hz (an integer divisor of the input rate)
    n_out: int = 320  # output time steps (6.4 s at 50 Hz)


@dataclass
class WavefieldSample:
    """One simulation: geology, source and surface velocity.

    Attributes
    ----------
    vs : (Sx, Sy, Sz) float32, m/s; z index 0 at the bottom.
    source_xyz : (3,) float32, m; z <= 0.
    angles : (3,) strike, dip, rake in degrees.
    moment : (6,) Mxx, Myy, Mzz, Mxy, Mxz, Myz (M0 = 1).
    u : (3, Sx, Sy, T) float32 velocity, m/s, components E, N, Z.
    fs : sampling rate of ``u``, Hz.
    name : file (and member) it came from.
    """

    vs: np.ndarray
    source_xyz: np.ndarray
    angles: np.ndarray
    moment: np.ndarray
    u: np.ndarray
    fs: float
    name: str = ""


def preprocess_velocity(u: np.ndarray, fs: float, config: HemewPreprocess = HemewPreprocess()) -> np.ndarray:
    """Low-pass, decimate and cut velocity fields (..., T) sampled at ``fs`` Hz -> (..., n_out).

    Raises ValueError when ``fs / config.fs_out`` is not an integer or the record is too short.
    """
    q = float(fs) / config.fs_out
    if abs(q - round(q)) > 1e-9 or round(q) < 1:
        raise ValueError(f"fs ({fs} Hz) must be an integer multiple of fs_out ({config.fs_out} Hz)")
    q = int(round(q))
    u = np.asarray(u)
    if u.shape[-1] // q < config.n_out:
        raise ValueError(f"u has {u.shape[-1]} steps at {fs} Hz; need {config.n_out * q} for n_out={config.n_out}")
    from quakesynth.data.preprocess import lowpass

    y = lowpass(u, fs, config.fmax, config.order)
    return y[..., ::q][..., : config.n_out].astype(np.float32)


def _sample_index(name: str) -> int:
    m = re.findall(r"\d+", Path(name).stem)
    return int(m[-1]) if m else -1


def _read_h5(f, name: str, fs: float | None) -> WavefieldSample:
    from quakesynth.simulate.source import moment_tensor

    missing = [k for k in DATASETS if k not in f]
    if missing:
        raise ValueError(f"{name!r} has no velocity dataset(s) {missing}; keys {sorted(f.keys())}")
    u = np.stack([f[k][()] for k in DATASETS]).astype(np.float32)
    if fs is None:
        fs = float(f.attrs["fs"]) if "fs" in f.attrs else (HEMEW_RAW_FS if u.shape[-1] >= 800 else 50.0)
    vs = f["a"][()].astype(np.float32) if "a" in f else np.zeros((0, 0, 0), np.float32)
    s = f["s"][()].astype(np.float32) if "s" in f else np.full(3, np.nan, np.float32)
    angles = f["angle"][()].astype(np.float32) if "angle" in f else np.full(3, np.nan, np.float32)
    if "moment" in f:
        moment = f["moment"][()].astype(np.float64)
    elif np.isfinite(angles).all():
        moment = np.asarray(moment_tensor(*angles, M0=1.0), dtype=np.float64)
    else:
        moment = np.full(6, np.nan)
    return WavefieldSample(vs=vs, source_xyz=s, angles=angles, moment=moment, u=u, fs=float(fs), name=name)


def read_hemew_sample(path: str | Path, fs: float | None = None) -> WavefieldSample:
    """Read one formatted ``sample<i>.h5`` (MIFNO or quakesynth layout; see the module doc).

    ``fs`` (Hz) overrides the sampling rate; default: the ``fs`` attribute, else 100 Hz when the
    file holds >= 800 steps (raw) and 50 Hz otherwise (MIFNO-formatted).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HEMEW sample {str(path)!r} not found")
    with h5py.File(path, "r") as f:
        return _read_h5(f, str(path), fs)


class HemewDataset:
    """The ``sample<i>.h5`` files of one or more folders, sorted by sample index.

    ``ds[i]`` is a :class:`WavefieldSample`; ``preprocess`` (a :class:`HemewPreprocess`) is
    applied to the velocity when given. ``a_mean``/``a_std`` are read from ``a_mean.npy`` /
    ``a_std.npy`` of the first folder when present (else None).
    """

    def __init__(self, folders: str | Path | list[str | Path], preprocess: HemewPreprocess | None = None,
                 limit: int | None = None) -> None:
        folders = [Path(folders)] if isinstance(folders, str | Path) else [Path(p) for p in folders]
        files: list[Path] = []
        for d in folders:
            if not d.is_dir():
                raise FileNotFoundError(f"HEMEW folder {str(d)!r} not found")
            files += [p for p in d.iterdir() if p.name.startswith("sample") and p.suffix == ".h5"]
        if not files:
            raise ValueError(f"no sample*.h5 files in {[str(d) for d in folders]}")
        files.sort(key=lambda p: (_sample_index(p.name), str(p)))
        self.files = files[:limit] if limit is not None else files
        self.preprocess = preprocess
        self.a_mean = np.load(folders[0] / "a_mean.npy") if (folders[0] / "a_mean.npy").is_file() else None
        self.a_std = np.load(folders[0] / "a_std.npy") if (folders[0] / "a_std.npy").is_file() else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> WavefieldSample:
        s = read_hemew_sample(self.files[i])
        if self.preprocess is not None and not (
                s.fs == self.preprocess.fs_out and s.u.shape[-1] == self.preprocess.n_out):
            s.u = preprocess_velocity(s.u, s.fs, self.preprocess)
            s.fs = self.preprocess.fs_out
        return s

    def arrays(self, indices=None) -> dict[str, np.ndarray]:
        """Stacked arrays of the samples ``indices`` (default all): ``vs`` (N, Sx, Sy, Sz),
        ``source`` (N, 6) x, y, z (m), strike, dip, rake (deg), ``moment`` (N, 6), ``u``
        (N, 3, Sx, Sy, T) and ``fs`` (Hz, common to all)."""
        idx = range(len(self)) if indices is None else indices
        items = [self[i] for i in idx]
        if not items:
            raise ValueError("indices select no sample")
        fs = {s.fs for s in items}
        if len(fs) != 1:
            raise ValueError(f"samples have different sampling rates {sorted(fs)}; pass a preprocess")
        return {"vs": np.stack([s.vs for s in items]),
                "source": np.stack([np.concatenate([s.source_xyz, s.angles]) for s in items]).astype(np.float32),
                "moment": np.stack([s.moment for s in items]),
                "u": np.stack([s.u for s in items]), "fs": float(fs.pop())}


def read_hemew_raw(raw_dir: str | Path, indices, preprocess: HemewPreprocess | None = HemewPreprocess()
                   ) -> list[WavefieldSample]:
    """Read samples ``indices`` (100000-based HEMEW^S-3D numbers) from the raw download folder.

    Velocity comes from ``velocity<I>-<I+99>.zip`` (read in memory) or the unzipped folder of
    the same name; Vs from ``material(s)<I>-<I+1999>.npy``; the source from
    ``source_properties.csv`` (rows in sample order from 100000). ``preprocess=None`` keeps the
    raw 100 Hz, 800-step fields.
    """
    import h5py
    import pandas as pd

    raw = Path(raw_dir)
    if not raw.is_dir():
        raise FileNotFoundError(f"raw HEMEW folder {str(raw)!r} not found")
    csv = raw / "source_properties.csv"
    src = pd.read_csv(csv, index_col=0) if csv.is_file() else None
    out = []
    for i in indices:
        i = int(i)
        if i < 100000:
            raise ValueError(f"HEMEW^S-3D sample numbers start at 100000; got {i}")
        block = 100000 + (i - 100000) // 100 * 100
        stem = f"velocity{block}-{block + 99}"
        member = f"{stem}/sample{i}.h5"
        if (raw / member).is_file():
            s = read_hemew_sample(raw / member, fs=HEMEW_RAW_FS)
        elif (raw / f"{stem}.zip").is_file():
            with zipfile.ZipFile(raw / f"{stem}.zip") as z:
                buf = io.BytesIO(z.read(member))
            with h5py.File(buf, "r") as f:
                s = _read_h5(f, f"{raw / stem}.zip:{member}", HEMEW_RAW_FS)
        else:
            raise FileNotFoundError(f"neither {stem}.zip nor {member} in {str(raw)!r}")
        mblock = 100000 + (i - 100000) // 2000 * 2000
        for prefix in ("materials", "material"):
            mfile = raw / f"{prefix}{mblock}-{mblock + 1999}.npy"
            if mfile.is_file():
                s.vs = np.load(mfile, mmap_mode="r")[i - mblock].astype(np.float32)
                break
        if src is not None:
            row = src.iloc[i - 100000].to_numpy(dtype=np.float64)
            from quakesynth.simulate.source import moment_tensor

            s.source_xyz = row[0:3].astype(np.float32)
            s.angles = row[3:6].astype(np.float32)
            s.moment = np.asarray(moment_tensor(*row[3:6], M0=1.0))
        if preprocess is not None:
            s.u = preprocess_velocity(s.u, s.fs, preprocess)
            s.fs = preprocess.fs_out
        out.append(s)
    return out


def write_sample(path: str | Path, vs: np.ndarray, source_xyz, angles, moment, u: np.ndarray, fs: float,
                 overwrite: bool = False, **extra) -> Path:
    """Write one ``sample<i>.h5`` in the formatted layout (atomically).

    ``u`` is (3, Sx, Sy, T) E, N, Z velocity in m/s; ``extra`` holds further root attributes
    (numbers, strings, small arrays) or, for arrays of 3 dimensions, datasets (e.g. ``vp``).
    """
    import h5py

    from quakesynth._atomic import atomic_path

    u = np.asarray(u, dtype=np.float32)
    if u.ndim != 4 or u.shape[0] != 3:
        raise ValueError(f"u must be (3, Sx, Sy, T); got shape {u.shape}")
    with atomic_path(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("a", data=np.asarray(vs, np.float32))
        f.create_dataset("s", data=np.asarray(source_xyz, np.float32))
        f.create_dataset("angle", data=np.asarray(angles, np.float32))
        f.create_dataset("moment", data=np.asarray(moment, np.float64))
        for k, comp in zip(DATASETS, u):
            f.create_dataset(k, data=comp)
        f.attrs["fs"] = float(fs)
        f.attrs["format"] = "quakesynth-hemew"
        for k, v in extra.items():
            v = np.asarray(v) if not isinstance(v, str) else v
            if isinstance(v, np.ndarray) and v.ndim == 3:
                f.create_dataset(k, data=v.astype(np.float32))
            else:
                f.attrs[k] = v
    return Path(path)
