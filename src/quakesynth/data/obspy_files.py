"""Any waveform files ObsPy reads (miniSEED, SAC, GSE2, ...), with metadata beside them.

The files of one folder are read together; traces are grouped by network, station, location
and band code (``HN``), and the components of a group become one record (``ZNE``, or ``Z12``
for unoriented horizontals). Gaps become NaN (repaired or rejected by preprocessing).

Metadata, later sources overriding earlier ones:

1. SAC headers where present (``stla``, ``stlo``, ``stel``; event ``evla``, ``evlo``, ``evdp``,
   ``mag``, origin ``o``);
2. an ``event.json`` in the folder (the event of all its files; conflicts with SAC event
   headers are reported, the header wins unless ``prefer="json"``);
3. a metadata table (CSV with SeisBench column names) matched by ``trace_name``, by ``file``
   (a file name of the record) or by ``station_code`` (+ ``station_network_code``).

The samples' unit is not stored in most formats: ``input_unit`` says what it is (``counts``
by default; ``m/s^2``, ``cm/s^2``, ``g``, ``m/s``...).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.data.events import Event, iso_utc, read_event_json, resolve_event
from quakesynth.data.ingest_report import Conflict, Dropped
from quakesynth.data.metadata_table import match_row
from quakesynth.records import _UNIT_FACTORS, QUANTITY_UNITS, RAW_UNITS, Records

MAX_FS = 20000.0  # Hz
_QUANTITY_OF_UNIT = {"m/s^2": "acceleration", "cm/s^2": "acceleration", "gal": "acceleration",
                     "g": "acceleration", "m/s": "velocity", "cm/s": "velocity", "m": "displacement",
                     "cm": "displacement"}
INPUT_UNITS = tuple(sorted(_QUANTITY_OF_UNIT)) + RAW_UNITS


def sniff(path: Path) -> bool:
    """Whether ObsPy recognises ``path`` as a waveform file (reads its headers only)."""
    import obspy

    try:
        st = obspy.read(str(path), headonly=True)
    except Exception:  # noqa: BLE001 - ObsPy raises many types for non-seismic files
        return False
    return len(st) > 0


def _sac_event(stats) -> Event | None:
    sac = stats.get("sac")
    if not sac or "evla" not in sac or "evlo" not in sac:
        return None
    t0 = None
    if "o" in sac and sac.get("nzyear") is not None:
        from obspy import UTCDateTime
        ref = UTCDateTime(year=sac.nzyear, julday=sac.nzjday, hour=sac.nzhour, minute=sac.nzmin,
                          second=sac.nzsec, microsecond=sac.nzmsec * 1000)
        t0 = iso_utc(ref + sac.o)
    return Event(origin_time=t0, latitude=float(sac.evla), longitude=float(sac.evlo),
                 depth_km=float(sac.get("evdp", math.nan)), magnitude=float(sac.get("mag", math.nan)))


def read_folder(files: list[Path], input_unit: str = "counts", table: pd.DataFrame | None = None,
                prefer: str = "header") -> Iterator[Records | Dropped | Conflict]:
    """Read the ObsPy-readable ``files`` of one folder into records (one per station and band)."""
    import obspy

    if input_unit not in INPUT_UNITS:
        raise ValueError(f"input_unit must be one of {list(INPUT_UNITS)}; got {input_unit!r}")
    files = sorted(files)
    folder = files[0].parent
    stream = obspy.Stream()
    for f in files:
        try:
            st = obspy.read(str(f))
        except Exception as e:  # noqa: BLE001
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            yield Dropped(str(f), "", "read", "unreadable", f"not a readable seismic file ({msg})")
            continue
        for tr in st:
            tr.stats.qs_file = f.name
        stream += st
    if not len(stream):
        return
    event_json = None
    if (folder / "event.json").exists():
        try:
            event_json = read_event_json(folder / "event.json")
        except ValueError as e:
            yield Conflict(str(folder / "event.json"), "", "event_json", "", "unreadable", "event.json",
                           "none", str(e))
    groups: dict[tuple, list] = {}
    for tr in stream:
        s = tr.stats
        groups.setdefault((s.network, s.station, s.location, s.channel[:2]), []).append(tr)
    for (net, sta, loc, band), trs in sorted(groups.items()):
        names = sorted({t.stats.qs_file for t in trs})
        t0 = min(t.stats.starttime for t in trs)
        name = f"{net}.{sta}.{loc}.{band}_{t0.strftime('%Y%m%dT%H%M%S')}"
        source = str(folder / names[0]) if len(names) == 1 else str(folder / ("{" + ",".join(names) + "}"))

        def drop(reason: str, detail: str, name=name, source=source) -> Dropped:
            return Dropped(source, name, "read", reason, detail)

        rates = {float(t.stats.sampling_rate) for t in trs}
        if any(not (math.isfinite(r) and 0 < r <= MAX_FS) for r in rates) or len(rates) != 1:
            yield drop("impossible_sampling_rate", f"sampling rate(s) {sorted(rates)} Hz")
            continue
        fs = rates.pop()
        st = obspy.Stream(trs)
        try:
            st.merge(method=1, fill_value=None)
        except Exception as e:  # noqa: BLE001
            yield drop("unreadable", f"traces could not be merged: {e}")
            continue
        chans = {t.stats.channel[-1].upper(): t for t in st}
        comps = "ZNE" if set("ZNE") <= set(chans) else "Z12" if set("Z12") <= set(chans) else None
        if comps is None:
            yield drop("missing_components", f"needs Z,N,E (or Z,1,2); has {','.join(sorted(chans))}")
            continue
        sel = [chans[c] for c in comps]
        start, end = max(t.stats.starttime for t in sel), min(t.stats.endtime for t in sel)
        n = int(round((end - start) * fs)) + 1
        if n <= 1:
            yield drop("truncated", "components do not overlap in time")
            continue
        data = np.full((len(comps), n), np.nan)
        for j, t in enumerate(sel):
            k = int(round((start - t.stats.starttime) * fs))
            x = np.ma.filled(np.ma.asarray(t.data, dtype=np.float64)[k:k + n], np.nan)
            data[j, :x.size] = x
        if input_unit in RAW_UNITS:
            quantity, unit, factor = ("acceleration" if band[1:2] in ("N", "L", "G") else "velocity",
                                      input_unit, 1.0)
        else:
            quantity = _QUANTITY_OF_UNIT[input_unit]
            unit, factor = QUANTITY_UNITS[quantity], _UNIT_FACTORS[input_unit]
        meta = {"trace_name": name, "station_network_code": net, "station_code": sta,
                "station_location_code": loc or None, "trace_start_time": iso_utc(start),
                "trace_sampling_rate_hz": fs, "trace_source": source}
        sac = sel[0].stats.get("sac")
        if sac:
            for k, col in (("stla", "station_latitude_deg"), ("stlo", "station_longitude_deg"),
                           ("stel", "station_elevation_m")):
                if k in sac:
                    meta[col] = float(sac[k])
        header_ev = _sac_event(sel[0].stats)
        ev, conflicts = (header_ev, []) if header_ev else (event_json, [])
        if header_ev is not None and event_json is not None:
            ev, conflicts = resolve_event(header_ev, event_json, str(folder / "event.json"), prefer=prefer)
        if ev is not None:
            meta.update({k: v for k, v in ev.metadata().items() if v is not None
                         and not (isinstance(v, float) and math.isnan(v))})
            if ev.id:
                meta["source_id"] = ev.id
            conflicts = [replace(c, source_id=ev.id or "") for c in conflicts]
        yield from conflicts
        meta.update(match_row(table, name, names, sta, net))
        rec = Records(data[None] * factor, fs=fs, components=comps, quantity=quantity, unit=unit,
                      metadata=_typed(pd.DataFrame([meta])))
        rec.add_processing("read_obspy", input_unit=input_unit, factor_to_si=factor)
        yield rec


def _typed(meta: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns of a table-matched row (strings) as numbers."""
    from quakesynth.data.metadata_table import typed

    return typed(meta)
