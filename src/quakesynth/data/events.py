"""Event metadata beside waveform files (``event.json``), and conflicts between sources.

Real archives disagree with themselves: in ``../shared/data/real/knet-kiknet`` some
``event.json`` files describe another earthquake than the K-NET headers of the files beside
them (different day and place), others the same earthquake from another catalogue (USGS
rather than JMA: other origin time, location, and a moment rather than a JMA magnitude).
:func:`compare_events` lists every field that differs beyond a tolerance; :func:`resolve_event`
chooses what the dataset holds (the file header by default) and reports the conflicts.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from quakesynth.data.ingest_report import Conflict

#: Accepted key spellings in ``event.json`` -> Event field.
_JSON_KEYS = {
    "id": "id", "event_id": "id", "source_id": "id",
    "time": "origin_time", "origin_time": "origin_time", "source_origin_time": "origin_time",
    "lat": "latitude", "latitude": "latitude", "source_latitude_deg": "latitude",
    "lon": "longitude", "long": "longitude", "longitude": "longitude",
    "source_longitude_deg": "longitude",
    "depth": "depth_km", "depth_km": "depth_km", "source_depth_km": "depth_km",
    "magnitude": "magnitude", "mag": "magnitude", "source_magnitude": "magnitude",
    "magnitude_type": "magnitude_type", "mag_type": "magnitude_type", "magType": "magnitude_type",
    "source_magnitude_type": "magnitude_type",
}


@dataclass(frozen=True)
class Event:
    """One earthquake as a source describes it (missing values are ``None``/NaN).

    Parameters
    ----------
    id : catalogue event id, if the source gives one.
    origin_time : ISO 8601 in UTC (``2018-01-24T10:51:19.090000Z``).
    latitude, longitude : epicentre, degrees.
    depth_km : hypocentre depth, km.
    magnitude : magnitude value.
    magnitude_type : e.g. ``MJMA`` (JMA magnitude of K-NET headers), ``Mw``; empty if unknown.
    """

    id: str | None = None
    origin_time: str | None = None
    latitude: float = math.nan
    longitude: float = math.nan
    depth_km: float = math.nan
    magnitude: float = math.nan
    magnitude_type: str = ""

    def metadata(self) -> dict:
        """The event as SeisBench metadata columns."""
        return {
            "source_origin_time": self.origin_time,
            "source_latitude_deg": self.latitude,
            "source_longitude_deg": self.longitude,
            "source_depth_km": self.depth_km,
            "source_magnitude": self.magnitude,
            "source_magnitude_type": self.magnitude_type or None,
        }


@dataclass(frozen=True)
class EventTolerance:
    """Largest differences that are not reported as conflicts."""

    time_s: float = 1.0  # origin time, s (K-NET headers give whole seconds)
    magnitude: float = 0.05  # magnitude units (catalogues give one decimal)
    depth_km: float = 0.5  # km
    epicentre_km: float = 1.0  # km between the two epicentres
    same_event_time_s: float = 120.0  # beyond this, or...
    same_event_km: float = 100.0  # ...this epicentral offset, the sources describe different events


def iso_utc(t) -> str:
    """Any time ObsPy understands (naive times are UTC) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    from obspy import UTCDateTime

    return UTCDateTime(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def read_event_json(path: str | os.PathLike) -> Event:
    """Read an ``event.json`` (keys ``id, time, lat, lon, depth, magnitude[, magnitude_type]``).

    Times without a zone are taken as UTC. Raises ``ValueError`` on a file that is not a JSON
    object or whose time cannot be parsed.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"event file {str(path)!r} is not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"event file {str(path)!r} must hold a JSON object; got {type(raw).__name__}")
    kw: dict = {}
    for k, v in raw.items():
        f = _JSON_KEYS.get(k)
        if f and f not in kw:
            kw[f] = v
    if kw.get("origin_time") is not None:
        try:
            kw["origin_time"] = iso_utc(str(kw["origin_time"]))
        except Exception as e:  # noqa: BLE001 - ObsPy raises several types
            raise ValueError(f"event file {str(path)!r}: cannot parse time {kw['origin_time']!r}") from e
    for f in ("latitude", "longitude", "depth_km", "magnitude"):
        if f in kw:
            kw[f] = _float(kw[f])
    if "id" in kw and kw["id"] is not None:
        kw["id"] = str(kw["id"])
    if "magnitude_type" in kw:
        kw["magnitude_type"] = str(kw["magnitude_type"] or "")
    return Event(**kw)


def _epicentral_km(a: Event, b: Event) -> float:
    from obspy.geodetics import gps2dist_azimuth

    if any(math.isnan(v) for v in (a.latitude, a.longitude, b.latitude, b.longitude)):
        return math.nan
    return gps2dist_azimuth(a.latitude, a.longitude, b.latitude, b.longitude)[0] / 1000.0


def _dt(a: Event, b: Event) -> float:
    from obspy import UTCDateTime

    if not a.origin_time or not b.origin_time:
        return math.nan
    return float(UTCDateTime(b.origin_time) - UTCDateTime(a.origin_time))


def same_event(a: Event, b: Event, tol: EventTolerance = EventTolerance()) -> bool:
    """Whether two descriptions plausibly name the same earthquake (time and place close)."""
    dt, dx = _dt(a, b), _epicentral_km(a, b)
    if math.isnan(dt) and math.isnan(dx):
        return bool(a.id and b.id and a.id == b.id)
    return (math.isnan(dt) or abs(dt) <= tol.same_event_time_s) and (
        math.isnan(dx) or dx <= tol.same_event_km)


def compare_events(header: Event, other: Event, tol: EventTolerance = EventTolerance()
                   ) -> list[tuple[str, str, str, str]]:
    """Fields on which two event descriptions disagree beyond ``tol``.

    Returns
    -------
    list of ``(field, header_value, other_value, note)``; fields missing in either are skipped.
    """
    out = []
    dt = _dt(header, other)
    if not math.isnan(dt) and abs(dt) > tol.time_s:
        out.append(("origin_time", header.origin_time, other.origin_time, f"differ by {dt:+.2f} s"))
    dx = _epicentral_km(header, other)
    if not math.isnan(dx) and dx > tol.epicentre_km:
        out.append(("epicentre", f"{header.latitude:.4f},{header.longitude:.4f}",
                    f"{other.latitude:.4f},{other.longitude:.4f}", f"{dx:.1f} km apart"))
    if not (math.isnan(header.depth_km) or math.isnan(other.depth_km)) and \
            abs(header.depth_km - other.depth_km) > tol.depth_km:
        out.append(("depth_km", f"{header.depth_km:g}", f"{other.depth_km:g}",
                    f"differ by {other.depth_km - header.depth_km:+g} km"))
    if not (math.isnan(header.magnitude) or math.isnan(other.magnitude)) and \
            abs(header.magnitude - other.magnitude) > tol.magnitude:
        types = f"{header.magnitude_type or 'unspecified'} vs {other.magnitude_type or 'unspecified'}"
        out.append(("magnitude", f"{header.magnitude:g}", f"{other.magnitude:g}",
                    f"magnitude types {types}"))
    if header.magnitude_type and other.magnitude_type and \
            header.magnitude_type.lower() != other.magnitude_type.lower():
        out.append(("magnitude_type", header.magnitude_type, other.magnitude_type, ""))
    return out


def resolve_event(header: Event, other: Event | None, source: str, prefer: str = "header",
                  other_name: str = "event.json", tol: EventTolerance = EventTolerance()
                  ) -> tuple[Event, list[Conflict]]:
    """Choose the event the dataset holds and list the conflicts.

    Parameters
    ----------
    header : the event from the waveform file's own header.
    other : the event from a second source (``event.json``), or ``None``.
    source : file or folder named in the conflicts.
    prefer : ``"header"`` (default: the file header wins) or ``"json"``.

    Returns
    -------
    (event, conflicts). The event's ``id`` is the second source's catalogue id when both
    describe the same earthquake (or when ``prefer="json"``), otherwise the header's.
    """
    if prefer not in ("header", "json"):
        raise ValueError(f"prefer must be 'header' or 'json'; got {prefer!r}")
    if other is None:
        return header, []
    same = same_event(header, other, tol)
    used = header if prefer == "header" else other
    if prefer == "header" and same and other.id:
        used = replace(header, id=other.id)
    if prefer == "json":
        used = replace(other, id=other.id or header.id)
    diffs = compare_events(header, other, tol)
    note = "" if same else "different event: the two sources describe different earthquakes"
    conflicts = [Conflict(source=source, source_id=str(used.id or ""), field=f, header_value=str(hv),
                          other_value=str(ov), other=other_name,
                          used="header" if prefer == "header" else other_name,
                          detail="; ".join(x for x in (n, note) if x))
                 for f, hv, ov, n in diffs]
    return used, conflicts
