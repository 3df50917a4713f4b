"""K-NET / KiK-net ASCII records (NIED), read through ObsPy (``format="KNET"``).

A station's record is three files ``<station><yymmddhhmm>.{NS,EW,UD}`` (K-NET) or
``.{NS,EW,UD}{1,2}`` (KiK-net: ``1`` borehole sensor, ``2`` surface sensor). The three files
of one sensor become one record with components ``ZNE``; KiK-net surface sensors are read
by default, borehole sensors on request.

Calibration: samples times the header's scale factor (ObsPy's ``stats.calib``, gal/count
converted to m/s^2). The header's "Max. Acc. (gal)" is the peak of the demeaned record; a
file whose data do not reproduce it (beyond rounding) is reported as ``header_mismatch``.
Times: headers are in JST; ObsPy converts to UTC and removes the loggers' 15 s delay.

Event metadata: the header (origin time, epicentre, depth, JMA magnitude ``MJMA``) wins over
an ``event.json`` beside the files unless ``prefer="json"``; disagreements are reported as
:class:`~quakesynth.data.ingest_report.Conflict`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.data.events import Event, iso_utc, read_event_json, resolve_event
from quakesynth.data.ingest_report import Conflict, Dropped
from quakesynth.records import Records

#: K-NET direction -> component letter
DIRECTIONS = {"NS": "N", "EW": "E", "UD": "Z"}
SENSORS = {"surface": ("", "2"), "borehole": ("1",), "both": ("", "1", "2")}
_NAME = re.compile(r"^(?P<stem>.+)\.(?P<dir>NS|EW|UD)(?P<sensor>[12]?)$", re.IGNORECASE)
MAX_FS = 20000.0  # Hz; a header rate above this (or <= 0) is impossible for these loggers
NETWORK = "BO"  # FDSN code of NIED's networks, as ObsPy sets it


def sniff(path: Path) -> bool:
    """Whether ``path`` starts like a K-NET/KiK-net ASCII file."""
    try:
        with open(path, "rb") as f:
            return f.read(11) == b"Origin Time"
    except OSError:
        return False


def group_key(path: Path) -> tuple[str, str, str] | None:
    """``(folder, stem, sensor)`` of a K-NET file name, or None if the name does not fit."""
    m = _NAME.match(path.name)
    if not m:
        return None
    return str(path.parent), m["stem"], m["sensor"]


def group_files(paths: Iterable[Path], sensor: str = "surface") -> tuple[list[list[Path]], list[Path]]:
    """Group K-NET files into station records of the chosen ``sensor`` set.

    Returns (groups, unmatched): each group lists the files of one sensor of one station;
    ``unmatched`` are files whose name does not follow the K-NET convention (each is read as
    a record of its own and reported if incomplete). Files of unselected sensors are left out.
    """
    if sensor not in SENSORS:
        raise ValueError(f"sensor must be one of {sorted(SENSORS)}; got {sensor!r}")
    groups: dict[tuple, list[Path]] = {}
    unmatched = []
    for p in paths:
        key = group_key(p)
        if key is None:
            unmatched.append(p)
        elif key[2] in SENSORS[sensor]:
            groups.setdefault(key, []).append(p)
    return [sorted(v) for _, v in sorted(groups.items())], sorted(unmatched)


def _header_value(path: Path, label: str) -> str | None:
    try:
        with open(path, "rb") as f:
            for _ in range(17):
                line = f.readline().decode("ascii", "replace")
                if line.startswith(label):
                    return line[len(label):].strip()
    except OSError:
        return None
    return None


def _header_fs(path: Path) -> float | None:
    v = _header_value(path, "Sampling Freq(Hz)")
    if v is None:
        return None
    m = re.search(r"-?[0-9.]+", v)
    return float(m.group()) if m else None


def _fs_ok(fs: float | None) -> bool:
    return fs is not None and math.isfinite(fs) and 0 < fs <= MAX_FS


def header_event(stats) -> Event:
    """The event of a K-NET trace header (ObsPy ``stats.knet``)."""
    k = stats.knet
    return Event(id=None, origin_time=iso_utc(k.evot), latitude=float(k.evla), longitude=float(k.evlo),
                 depth_km=float(k.evdp), magnitude=float(k.mag), magnitude_type="MJMA")


def header_event_id(ev: Event) -> str:
    """An event id made from the header: ``knet_<origin UTC>_<lat>_<lon>``."""
    from obspy import UTCDateTime

    t = UTCDateTime(ev.origin_time).strftime("%Y%m%d%H%M%S")
    return f"knet_{t}_{ev.latitude:.3f}_{ev.longitude:.3f}"


def read_group(files: list[Path], prefer: str = "header", event_json: bool = True
               ) -> Iterator[Records | Dropped | Conflict]:
    """Read the files of one station sensor into one record (``ZNE``, m/s^2).

    Yields one :class:`Records` (N=1), or a :class:`Dropped` explaining why not, plus any
    event-metadata :class:`Conflict`.
    """
    import obspy

    files = sorted(files)
    key = group_key(files[0]) or (str(files[0].parent), files[0].stem, "")
    folder, stem, sensor = key
    name = stem + (f".{sensor}" if sensor else "")
    source = str(Path(folder) / (stem + ".{EW,NS,UD}" + sensor)) if group_key(files[0]) else str(files[0])

    def drop(reason: str, detail: str) -> Dropped:
        return Dropped(source=source, trace_name=name, stage="read", reason=reason, detail=detail)

    traces = {}
    for f in files:
        fs_hdr = _header_fs(f)
        if fs_hdr is not None and not _fs_ok(fs_hdr):
            yield drop("impossible_sampling_rate", f"{f.name}: header sampling rate {fs_hdr:g} Hz")
            return
        try:
            tr = obspy.read(str(f), format="KNET")[0]
        except Exception as e:  # noqa: BLE001 - ObsPy raises many types on corrupt files
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            yield drop("unreadable", f"{f.name}: not a readable K-NET file ({msg})")
            return
        if tr.stats.npts == 0:
            # a header with no data lines (or one cut inside the header: ObsPy then parses no
            # "knet" stats at all, and the group used to drop as "knet reader failed: knet")
            yield drop("truncated", f"no samples after the header in {f}")
            return
        if "knet" not in tr.stats:
            yield drop("unreadable", f"{f}: incomplete K-NET header (17 labelled lines expected)")
            return
        fs = float(tr.stats.sampling_rate)
        if not _fs_ok(fs):
            yield drop("impossible_sampling_rate", f"{f.name}: sampling rate {fs:g} Hz")
            return
        expected = int(round(tr.stats.knet.duration * fs))
        if tr.stats.npts == 0 or tr.stats.npts < expected:
            yield drop("truncated", f"{f.name}: {tr.stats.npts} samples, header announces "
                                    f"{tr.stats.knet.duration:g} s x {fs:g} Hz = {expected}")
            return
        x = tr.data.astype(np.float64) * tr.stats.calib
        peak_gal = float(np.max(np.abs(x - x.mean()))) * 100.0
        hdr = float(tr.stats.knet.accmax)
        if not np.isfinite(peak_gal) or abs(peak_gal - hdr) > max(0.01, 0.005 * hdr):
            yield drop("header_mismatch", f"{f.name}: peak of the data {peak_gal:.3f} gal, header "
                                          f"Max. Acc. {hdr:g} gal (corrupt samples or scale factor?)")
            return
        comp = DIRECTIONS[tr.stats.channel[:2].upper()] if tr.stats.channel[:2].upper() in DIRECTIONS else None
        if comp is None:
            yield drop("unreadable", f"{f.name}: unknown direction {tr.stats.channel!r}")
            return
        if comp in traces:
            yield drop("duplicate", f"{f.name}: second {tr.stats.channel} file for {name}")
            return
        traces[comp] = (tr, x)
    missing = [c for c in "ZNE" if c not in traces]
    if missing:
        have = ",".join(sorted(t.stats.channel for t, _ in traces.values())) or "none"
        yield drop("missing_components", f"lacks {''.join(missing)} (has {have})")
        return
    trs = [traces[c][0] for c in "ZNE"]
    if len({t.stats.sampling_rate for t in trs}) != 1:
        yield drop("impossible_sampling_rate", "components have different sampling rates "
                   + str(sorted({t.stats.sampling_rate for t in trs})))
        return
    fs = float(trs[0].stats.sampling_rate)
    start = max(t.stats.starttime for t in trs)
    offsets = [int(round((start - t.stats.starttime) * fs)) for t in trs]
    n = min(t.stats.npts - o for t, o in zip(trs, offsets))
    if n <= 0:
        yield drop("truncated", "the three components do not overlap in time")
        return
    data = np.stack([traces[c][1][o:o + n] for c, o in zip("ZNE", offsets)])[None]

    header = header_event(trs[0].stats)
    ev, conflicts = header, []
    ej = Path(folder) / "event.json"
    if event_json and ej.exists():
        try:
            other = read_event_json(ej)
        except ValueError as e:
            yield Conflict(source=str(ej), source_id="", field="event_json", header_value="",
                           other_value="unreadable", other="event.json", used="header", detail=str(e))
            other = None
        ev, conflicts = resolve_event(header, other, str(ej), prefer=prefer)
    if not ev.id:
        ev = replace(ev, id=header_event_id(header))
        conflicts = [replace(c, source_id=ev.id) for c in conflicts]
    yield from conflicts
    k = trs[0].stats.knet
    meta = {
        "trace_name": name,
        "source_id": ev.id,
        **ev.metadata(),
        "station_network_code": NETWORK,
        "station_code": trs[0].stats.station,
        "station_location_code": sensor or None,
        "station_latitude_deg": float(k.stla),
        "station_longitude_deg": float(k.stlo),
        "station_elevation_m": float(k.stel),
        "trace_start_time": iso_utc(start),
        "trace_sampling_rate_hz": fs,
        "trace_source": source,
        "trace_sensor": {"": "surface (K-NET)", "1": "borehole", "2": "surface"}[sensor],
    }
    rec = Records(data, fs=fs, components="ZNE", quantity="acceleration", unit="m/s^2",
                  metadata=pd.DataFrame([meta]))
    rec.add_processing("read_knet", calibration="counts * scale factor (gal) -> m/s^2",
                       event_metadata=prefer)
    yield rec
