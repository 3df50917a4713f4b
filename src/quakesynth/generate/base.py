"""The generator base class: validation, per-waveform seeding, batching, metadata, start times.

A generator turns scenarios (magnitude, hypocentral distance, Vs30, depth, azimuthal gap) into
:class:`~quakesynth.records.Records`. Subclasses of :class:`Generator` implement only
:meth:`Generator._generate`, which receives a conditioning table in physical units and one
seed per waveform and returns the waveforms with the per-record metadata only it knows;
validation, per-waveform seeding, batching, shared metadata and the table API are here, so the
simulator, HighFEM models and later models answer the same call.

Seeds: waveform ``k`` of scenario row ``i`` of a call with ``seed=s`` is generated from
``waveform_seed(s, i, k)``, whatever the batch it is computed in.

This module imports no adapter, no registry and no network code (numpy, pandas and the
records only): adapters import it, never the other way round.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth._atomic import check_terminated
from quakesynth.generate.output import DEFAULT_ORIGIN_TIME, to_quantity
from quakesynth.records import QUANTITY_UNITS, Records
from quakesynth.scenario import PHYSICAL_RANGES, VARIABLES  # the one scenario-variable table
from quakesynth.seeds import derive_seed

#: What :meth:`Generator._generate` returns: ``(waveforms, extra metadata)`` or the waveforms alone.
GenerateOutput = np.ndarray | tuple[np.ndarray, Mapping[str, Any] | pd.DataFrame | None]


def waveform_seed(seed: int, row: int, k: int) -> int:
    """The seed of realisation ``k`` of scenario ``row`` in a call with ``seed`` (63-bit int)."""
    if seed < 0 or row < 0 or k < 0:
        raise ValueError(f"seed, row and k must be non-negative; got {seed}, {row}, {k}")
    return derive_seed(seed, row, k)


#: Network code of every synthetic record (not an FDSN-assigned network).
SYNTHETIC_NETWORK = "QS"
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(values: np.ndarray, width: int) -> list[str]:
    out = []
    for v in np.asarray(values, dtype=np.int64) % (36 ** width):
        chars = []
        for _ in range(width):
            v, r = divmod(int(v), 36)
            chars.append(_B36[r])
        out.append("".join(reversed(chars)))
    return out


def synthetic_codes(scenario: np.ndarray, realization: np.ndarray) -> tuple[str, list[str], list[str]]:
    """SEED codes of synthetic records: network ``"QS"``, station = scenario index and
    location = realisation index.

    The station code has 5 characters: a letter (``A``-``Z``) then 4 upper-case base-36 digits
    (digits, then letters), so it is never all digits and every CSV reader (SeisBench's
    included) keeps it a string; it is unique for 26 * 36**4 = 43,670,016 scenarios. The
    location code has 2 base-36 characters (unique for 1,296 realisations per scenario). Beyond
    that they wrap, and ``trace_name`` (always unique within a call) is the key to use.

    >>> synthetic_codes(np.array([0, 12, 40000, 1679616]), np.array([3, 35, 36, 0]))
    ('QS', ['A0000', 'A000C', 'A0UV4', 'B0000'], ['03', '0Z', '10', '00'])
    """
    scen = np.asarray(scenario, dtype=np.int64) % (26 * 36**4)
    first = [chr(ord("A") + int(v)) for v in scen // 36**4]
    return SYNTHETIC_NETWORK, [a + b for a, b in zip(first, _base36(scen, 4))], _base36(realization, 2)


class ConditioningError(ValueError):
    """A scenario variable is missing, not finite, or outside the model's stated range."""


#: Physical bounds every model shares (quakesynth.scenario.PHYSICAL_RANGES) are checked even
#: with ``allow_extrapolation``.


def _where(row: int) -> str:
    return f"scenario row {row + 1}"


def validate_scenarios(table: pd.DataFrame, variables: Sequence[str], ranges: Mapping[str, tuple[float, float]],
                       model: str, allow_extrapolation: bool = False) -> pd.DataFrame:
    """The one scenario validation of every model: the table with float columns for
    ``variables`` and an integer ``n`` column.

    Raises :class:`ConditioningError` naming the variable, the value, the row (1-based) and
    what to do when a variable is missing, not a finite number, outside the physical bounds
    (:data:`PHYSICAL_RANGES`; hypocentral ``distance`` >= ``depth``) or outside the model's
    ``ranges`` (a warning instead with ``allow_extrapolation``).
    """
    import warnings

    table = pd.DataFrame(table).copy()
    if len(table) == 0:
        raise ValueError("the scenario table is empty: no scenario to generate")
    if "n" not in table:
        table["n"] = 1
    n = pd.to_numeric(table["n"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(n) | (n <= 0) | (n != np.floor(n))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"n must be a positive whole number; got {_show(table['n'].iloc[i])} in {_where(i)}")
    table["n"] = n.astype(np.int64)
    for var in variables:
        if var not in table:
            raise ConditioningError(f"missing conditioning variable {var!r} (model {model!r} needs "
                                    f"{list(variables)}); add a column or option --{var}")
        values = pd.to_numeric(table[var], errors="coerce").to_numpy(dtype=np.float64)
        unit = VARIABLES.get(var, ("", ""))[0]
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.argmax(bad))
            raise ConditioningError(f"{var} must be finite; got {_show(table[var].iloc[i])} in {_where(i)}")
        table[var] = values
        if var in PHYSICAL_RANGES:
            lo, hi, closed = PHYSICAL_RANGES[var]
            out = ((values < lo) if closed else (values <= lo)) | (values > hi)
            if out.any():
                i = int(np.argmax(out))
                bound = f"in [{lo:g}, {hi:g}]" if math.isfinite(hi) else (f">= {lo:g}" if closed else f"> {lo:g}")
                raise ConditioningError(f"{var}={values[i]:g} {unit}".rstrip() + " is not physical: it "
                                        f"must be {bound} {unit}".rstrip() + f" ({_where(i)})")
        if var in ranges:
            lo, hi = ranges[var]
            out = (values < lo) | (values > hi)
            if out.any():
                i = int(np.argmax(out))
                msg = (f"{var}={values[i]:g} {unit}".rstrip() + " is outside the range of "
                       f"model {model!r}: [{lo:g}, {hi:g}] {unit}".rstrip() + f" ({_where(i)}")
                if not allow_extrapolation:
                    raise ConditioningError(msg + "; use allow_extrapolation / --allow-extrapolation)")
                warnings.warn(msg + "); extrapolating", stacklevel=3)
    if "distance" in table and "depth" in table and {"distance", "depth"} <= set(variables):
        bad = table["distance"].to_numpy() < table["depth"].to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise ConditioningError(f"distance={table['distance'].iloc[i]:g} km is smaller than "
                                    f"depth={table['depth'].iloc[i]:g} km: the hypocentral distance cannot be "
                                    f"less than the depth ({_where(i)})")
    return table.reset_index(drop=True)


def _show(v: Any) -> str:
    """A value as a user typed it (``nan``, ``-3``, ``'abc'``), not as NumPy reprs it."""
    if isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool):
        return f"{float(v):g}" if isinstance(v, (float, np.floating)) else str(int(v))
    if v is None or v is pd.NA:
        return "an empty value"
    return repr(str(v))


class Generator:
    """Base class of all generators.

    Subclasses set :attr:`name`, :attr:`variables` (the conditioning variables they use, in
    order), :attr:`ranges` (validity range per variable, physical units), :attr:`fs`,
    :attr:`components`, :attr:`n_samples`, and implement :meth:`_generate`.
    """

    name: str = "generator"
    variables: tuple[str, ...] = tuple(VARIABLES)
    ranges: dict[str, tuple[float, float]] = {}
    fs: float = 100.0
    components: str = "ZNE"
    n_samples: int = 4096
    default_batch_size: int = 64
    description: str = ""

    # -- to implement --------------------------------------------------------------------
    def _generate(self, cond: np.ndarray, seeds: np.ndarray, device: str = "cpu") -> GenerateOutput:
        """``(waveforms, extra)`` for conditioning ``cond`` (B, len(variables)) in physical units
        and one integer seed per waveform (B,).

        ``waveforms``: acceleration (B, C, T) in m/s^2. ``extra``: per-record metadata that
        only the generation knows (what it drew: a back azimuth, an arrival sample...), a dict
        of column -> (B,) values or scalars, or a DataFrame of B rows; its columns are added to
        the records' metadata after the shared ones (:meth:`_metadata`), so nothing has to be
        recomputed or replayed afterwards. Returning the waveforms alone (no extra metadata)
        is accepted too, for subclasses written before this form.
        """
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------
    def generate(self, magnitude: float | None = None, distance: float | None = None,
                 vs30: float | None = None, depth: float | None = None, gap: float | None = None,
                 n: int = 1, seed: int = 0, batch_size: int | None = None, device: str = "cpu",
                 allow_extrapolation: bool = False, progress: bool = False,
                 quantity: str = "acceleration", origin_time: str = DEFAULT_ORIGIN_TIME,
                 **extra: float) -> Records:
        """``n`` waveforms for one scenario; returns Records (acceleration in m/s^2, or
        ``quantity="velocity"`` / ``"displacement"`` by integration, see :func:`to_quantity`)."""
        row = {"magnitude": magnitude, "distance": distance, "vs30": vs30, "depth": depth,
               "gap": gap, **extra, "n": n}
        row = {k: v for k, v in row.items() if v is not None}
        return self.generate_table(pd.DataFrame([row]), seed=seed, batch_size=batch_size,
                                   device=device, allow_extrapolation=allow_extrapolation,
                                   progress=progress, quantity=quantity, origin_time=origin_time)

    def generate_table(self, scenarios: pd.DataFrame | str | Path, seed: int = 0,
                       batch_size: int | None = None, device: str = "cpu",
                       allow_extrapolation: bool = False, progress: bool = False,
                       quantity: str = "acceleration", origin_time: str = DEFAULT_ORIGIN_TIME) -> Records:
        """Waveforms for every row of a scenario table (DataFrame or CSV path).

        Columns: the model's conditioning variables (``magnitude``, ``distance`` in km,
        ``vs30`` in m/s, ``depth`` in km, ``gap`` in degrees; metadata column names such as
        ``source_magnitude`` are accepted too) and optionally ``n`` (default 1).
        """
        return Records.concat(list(self.iter_table(scenarios, seed=seed, batch_size=batch_size,
                                                   device=device,
                                                   allow_extrapolation=allow_extrapolation,
                                                   progress=progress, quantity=quantity,
                                                   origin_time=origin_time)))

    def iter_table(self, scenarios: pd.DataFrame | str | Path, seed: int = 0,
                   batch_size: int | None = None, device: str = "cpu",
                   allow_extrapolation: bool = False, progress: bool = False,
                   rows: slice | None = None, quantity: str = "acceleration",
                   origin_time: str = DEFAULT_ORIGIN_TIME) -> Iterator[Records]:
        """Stream the table's waveforms as Records chunks of at most ``batch_size``. Memory
        does not depend on the total count: the (scenario, realisation) pairs of each chunk are
        computed from the cumulative counts when the chunk is due, so the first chunk comes at
        once even for an absurd ``n``. ``rows`` restricts to a slice of the flattened
        (scenario, realisation) list, which is how data-parallel workers share a table.
        ``quantity`` converts each chunk with :func:`to_quantity`. ``origin_time`` (ISO 8601,
        UTC) is every event's origin time (see :meth:`start_times`)."""
        if quantity not in QUANTITY_UNITS:
            raise ValueError(f"quantity must be one of {list(QUANTITY_UNITS)}; got {quantity!r}")
        origin = parse_origin_time(origin_time)
        table = self.check_table(scenarios, allow_extrapolation)
        bs = int(batch_size or self.default_batch_size)
        if bs <= 0:
            raise ValueError(f"batch_size must be positive; got {batch_size}")
        counts = table["n"].to_numpy(dtype=np.int64)
        ends = np.cumsum(counts)  # flattened index one past each scenario's last realisation
        flat = range(int(ends[-1]))
        idx = flat[rows] if rows is not None else flat  # a lazy range, never materialised
        cond_all = table[list(self.variables)].to_numpy(dtype=np.float64)
        bar = _progress(total=len(idx), enabled=progress, desc=f"generate ({self.name})")
        try:
            for start in range(0, len(idx), bs):
                check_terminated()  # a SIGTERM swallowed by a weakref callback still stops the run here
                sel = np.asarray(idx[start:start + bs], dtype=np.int64)
                r = np.searchsorted(ends, sel, side="right")
                k = sel - (ends[r] - counts[r])
                seeds = np.array([waveform_seed(seed, i, j) for i, j in zip(r, k)], dtype=np.int64)
                data, extra = _split_output(self._generate(cond_all[r], seeds, device=device))
                expected = (len(sel), len(self.components))
                if data.shape[:2] != expected:
                    raise RuntimeError(f"{self.name}: _generate returned shape {data.shape}, expected {expected} + (T,)")
                meta = self._metadata(table.iloc[r], k, seeds, seed)
                _add_extra(meta, extra, self.name)
                meta["source_origin_time"] = origin.isoformat()
                meta["trace_start_time"] = self.start_times(meta, origin)
                chunk = Records(data, fs=self.fs, components=self.components, metadata=meta)
                yield to_quantity(chunk, quantity)
                bar.update(len(sel))
        finally:
            bar.close()

    # -- validation ----------------------------------------------------------------------
    def check_table(self, scenarios: pd.DataFrame | str | Path, allow_extrapolation: bool = False) -> pd.DataFrame:
        """Validated scenario table with the model's variables and ``n``; raises
        :class:`ConditioningError` (a ``ValueError``) naming the variable and range."""
        if isinstance(scenarios, (str, Path)):
            path = Path(scenarios)
            if not path.exists():
                raise FileNotFoundError(f"scenario table {str(path)!r} not found")
            scenarios = pd.read_csv(path)
        table = pd.DataFrame(scenarios)
        rename = {col: var for var, (_, col) in VARIABLES.items() if col in table and var not in table}
        return validate_scenarios(table.rename(columns=rename), self.variables, self.ranges, self.name,
                                  allow_extrapolation)

    def start_times(self, meta: pd.DataFrame, origin: pd.Timestamp) -> list[str]:
        """``trace_start_time`` (ISO 8601, UTC) of each record of a chunk's metadata.

        Where the model states the P arrival (``trace_p_arrival_sample``), the record starts
        at ``origin + tP - p_sample / fs`` with ``tP`` the P travel time (s) for the scenario's
        depth and hypocentral distance in the model's velocity model (the simulator's;
        AK135 crust otherwise), so the P pick's absolute time is ``origin + tP``; otherwise the
        record starts at the origin time.
        """
        n = len(meta)
        p = meta["trace_p_arrival_sample"] if "trace_p_arrival_sample" in meta else None
        if p is None or not {"source_depth_km", "path_hyp_distance_km"} <= set(meta):
            return [origin.isoformat()] * n
        from quakesynth.simulate.velocity_model import AK135_CRUST, VelocityModel, travel_times

        model = getattr(getattr(self, "config", None), "velocity", None)
        tp = travel_times(meta["source_depth_km"].to_numpy(float), meta["path_hyp_distance_km"].to_numpy(float),
                          model if isinstance(model, VelocityModel) else AK135_CRUST)["tP"]
        off = tp - pd.to_numeric(p, errors="coerce").to_numpy(dtype=np.float64) / self.fs
        return [(origin + pd.Timedelta(seconds=float(o))).isoformat() if np.isfinite(o) else origin.isoformat()
                for o in off]

    def _metadata(self, rows: pd.DataFrame, k: np.ndarray, seeds: np.ndarray, seed: int) -> pd.DataFrame:
        """The metadata every generator shares, from the scenario ``rows`` of a chunk, the
        realisation indices ``k``, the waveform seeds and the call's ``seed`` (what the
        generation drew comes back from :meth:`_generate` instead)."""
        meta = pd.DataFrame(index=range(len(rows)))
        for var, (_, col) in VARIABLES.items():
            if var in rows:
                meta[col] = rows[var].to_numpy(dtype=np.float64)
        scen = rows.index.to_numpy()
        meta["source_id"] = [f"{self.name}-s{seed}-{i:06d}" for i in scen]
        net, sta, loc = synthetic_codes(scen, k)
        meta["station_network_code"] = net
        meta["station_code"] = sta
        meta["station_location_code"] = loc
        meta["trace_name"] = [f"{self.name}_s{seed}_{i:06d}_{j:04d}" for i, j in zip(scen, k)]
        meta["source_origin_time"] = DEFAULT_ORIGIN_TIME
        meta["trace_start_time"] = DEFAULT_ORIGIN_TIME
        meta["trace_sampling_rate_hz"] = self.fs
        meta["generator"] = self.name
        meta["scenario_index"] = scen
        meta["realization"] = k
        meta["waveform_seed"] = seeds
        return meta

    def info(self) -> dict[str, Any]:
        """Name, description, variables with units and ranges, output format."""
        return {"name": self.name, "description": self.description,
                "variables": {v: {"unit": VARIABLES.get(v, ("", ""))[0],
                                  "range": list(self.ranges.get(v, (-math.inf, math.inf)))}
                              for v in self.variables},
                "fs": self.fs, "components": self.components, "n_samples": self.n_samples}


def parse_origin_time(value: str | pd.Timestamp) -> pd.Timestamp:
    """An origin time (ISO 8601; a time zone is converted to UTC) as a naive UTC Timestamp
    with microsecond resolution; raises ``ValueError`` with the expected form."""
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"origin time must be ISO 8601 such as {DEFAULT_ORIGIN_TIME!r}; got {str(value)!r}") from e
    if t is pd.NaT:
        raise ValueError(f"origin time must be ISO 8601 such as {DEFAULT_ORIGIN_TIME!r}; got {str(value)!r}")
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.floor("us")



def _split_output(out: Any) -> tuple[np.ndarray, Mapping[str, Any] | pd.DataFrame | None]:
    """``(waveforms, extra)`` from what :meth:`Generator._generate` returned (either form)."""
    if isinstance(out, tuple):
        if len(out) != 2:
            raise RuntimeError(f"_generate must return waveforms or (waveforms, extra metadata); got a "
                               f"tuple of {len(out)}")
        return np.asarray(out[0]), out[1]
    return np.asarray(out), None


def _add_extra(meta: pd.DataFrame, extra: Mapping[str, Any] | pd.DataFrame | None, name: str) -> None:
    """Add the generation's per-record metadata columns (values of length len(meta), or scalars)."""
    if extra is None:
        return
    items = ((c, extra[c].to_numpy()) for c in extra.columns) if isinstance(extra, pd.DataFrame) else extra.items()
    for col, values in items:
        if np.ndim(values) and len(values) != len(meta):
            raise RuntimeError(f"{name}: _generate returned {len(values)} values of metadata {col!r} for "
                               f"{len(meta)} records")
        meta[col] = values


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="wf")
