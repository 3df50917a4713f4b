"""miniSEED and SAC, through ObsPy, with event and station headers.

Codes (see :func:`quakesynth.generate.synthetic_codes`): network ``QS``; station = a letter and
the scenario index in base 36 (5 characters); location = realisation index in base 36 (2 characters);
channel = ``HN`` + component for acceleration (``HH`` velocity, ``HX`` displacement), e.g.
``QS.A000C.03.HNZ``. Records from other sources keep their own codes.

Geometry: where the metadata has no coordinates the epicentre is at (0, 0) and the station at
the epicentral distance in the direction given by the record's back azimuth (due north when
unknown); see :func:`quakesynth.formats._common.synthetic_geometry`.

**SAC** (a folder, suffix ``.sac`` by convention): one file per record and component,
``<index>.<NET>.<STA>.<LOC>.<CHA>.sac`` (``index`` = 7-digit record number, so a sorted listing
is the record order), float32 samples (SAC's only encoding) in SI units, plus ``metadata.csv``
and ``format.json``. Headers: ``evla``, ``evlo``, ``evdp`` (km), ``mag``, ``imagtyp``,
``dist`` (epicentral, km), ``gcarc``, ``az``, ``baz``, ``stla``, ``stlo``, ``cmpaz``,
``cmpinc`` (SAC convention: degrees from vertical-up), ``lcalda = false`` (keep our
distances), ``kevnm`` (event id), ``kinst`` (generator), ``user0`` = hypocentral distance (km),
``user1`` = Vs30 (m/s), ``user2`` = azimuthal gap (deg), ``user3`` = scenario index,
``user4`` = realisation, ``kuser0`` = unit (``m/s^2``, ``m/s``, ``m``), ``kuser1`` = quantity
(``acc``, ``vel``, ``disp``), ``kuser2`` = component order of the set. ``idep`` is ``iunkn``
because SAC's IACC/IVEL/IDISP mean nm-based units and the samples are SI (see ``kuser0``).

**miniSEED** (one file, suffix ``.mseed``): all traces, FLOAT32 encoding, 4096-byte records, in
SI units; miniSEED has no event or station fields, so two sidecars are written beside it (and
moved into place together with it): ``<stem>.stations.xml`` (FDSN StationXML: coordinates,
channel azimuth and dip, sampling rate, and a unit-gain response whose input and output unit
is the records' unit, e.g. ``M/S**2``) and ``<stem>.metadata.csv`` (the full metadata table
with event parameters, Vs30, gap and distances, SeisBench column names, one row per record in
the order of the traces).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from quakesynth.formats._common import (
    FolderWriter,
    RecordWriter,
    component_orientation,
    metadata_from_csv,
    metadata_to_csv,
    synthetic_geometry,
)
from quakesynth.plain_json import to_plain
from quakesynth.records import Records

_QUANTITY_SHORT = {"acceleration": "acc", "velocity": "vel", "displacement": "disp"}
_FDSN_UNIT = {"m/s^2": "M/S**2", "m/s": "M/S", "m": "M", "counts": "COUNTS"}
_IMAGTYP = {"mw": "imw", "mb": "imb", "ms": "ims", "ml": "iml", "md": "imd"}


def _num(row: dict, key: str) -> float | None:
    v = row.get(key)
    return None if v is None or not np.isfinite(float(v)) else float(v)


def sac_headers(records: Records) -> list[list[dict]]:
    """The SAC header dict of every record (outer list) and component (inner list)."""
    from obspy.io.sac.header import ENUM_VALS

    geo = synthetic_geometry(records.metadata)
    out = []
    for i in range(len(records)):
        row = to_plain(records.metadata.iloc[i].to_dict(), nonfinite="nan")  # a missing value -> None
        g = geo.iloc[i]
        base: dict = {"lcalda": False, "idep": ENUM_VALS["iunkn"], "kuser0": records.unit,
                      "kuser1": _QUANTITY_SHORT[records.quantity], "kuser2": records.components}
        for key, value in (("evla", g.source_latitude_deg), ("evlo", g.source_longitude_deg),
                           ("evdp", g.source_depth_km), ("stla", g.station_latitude_deg),
                           ("stlo", g.station_longitude_deg), ("dist", g.path_ep_distance_km),
                           ("gcarc", g.gcarc_deg), ("az", g.azimuth_deg), ("baz", g.back_azimuth_deg),
                           ("user0", g.path_hyp_distance_km), ("mag", _num(row, "source_magnitude")),
                           ("user1", _num(row, "station_vs30_mps")), ("user2", _num(row, "path_azimuthal_gap_deg")),
                           ("stel", _num(row, "station_elevation_m")),
                           ("user3", _num(row, "scenario_index")), ("user4", _num(row, "realization"))):
            if value is not None and np.isfinite(value):
                base[key] = float(value)
        mtype = str(row.get("source_magnitude_type") or "").lower()
        if mtype in _IMAGTYP:
            base["imagtyp"] = ENUM_VALS[_IMAGTYP[mtype]]
        if row.get("source_id"):
            base["kevnm"] = str(row["source_id"])[:16]
        if row.get("generator"):
            base["kinst"] = str(row["generator"])[:8]
        comps = []
        for c in records.components:
            cmpaz, cmpinc = component_orientation(c, g.azimuth_deg)
            h = dict(base, cmpinc=cmpinc)
            if np.isfinite(cmpaz):
                h["cmpaz"] = cmpaz
            comps.append(h)
        out.append(comps)
    return out


def _stream(records: Records, start: int):
    st = records.to_obspy()
    for tr in st:
        tr.stats.pop("quakesynth", None)
        tr.data = tr.data.astype(np.float32)
    return st


def _origin_offsets(records: Records) -> list[float | None]:
    """Origin time minus trace start (s) per record, where both are known."""
    from obspy import UTCDateTime

    out = []
    for o, s in zip(records.metadata["source_origin_time"], records.metadata["trace_start_time"]):
        out.append(None if (o is pd.NA or s is pd.NA or not o or not s) else float(UTCDateTime(o) - UTCDateTime(s)))
    return out


class SacWriter(FolderWriter):
    """A folder of SAC files (one per record and component) plus ``metadata.csv``."""

    format = "sac"
    files_column = "sac_files"

    def _add(self, records: Records, start: int) -> None:
        from obspy.core.util import AttribDict

        st = _stream(records, start)
        headers = sac_headers(records)
        origins = _origin_offsets(records)
        nc = records.n_components
        for k, tr in enumerate(st):
            i, j = divmod(k, nc)
            h = dict(headers[i][j])
            if origins[i] is not None:
                h["o"] = origins[i]
            tr.stats.sac = AttribDict(h)
            name = f"{start + i:07d}.{tr.id}.sac"
            buf = io.BytesIO()  # encoded in memory, written by us: an OS error is ours to report
            tr.write(buf, format="SAC")
            (self.dir / name).write_bytes(buf.getvalue())
            if j == 0:
                self.files.append(name)
            else:
                self.files[-1] += ";" + name
        self.meta.append(records.metadata)


def read_sac_folder(path: str | Path, limit: int | None = None) -> Records:
    """Read a folder written by :class:`SacWriter` (ObsPy reads every file)."""
    import obspy

    path = Path(path)
    if not (path / "metadata.csv").exists():
        raise ValueError(f"{str(path)!r} has no metadata.csv: not a quakesynth SAC folder")
    info = json.loads((path / "format.json").read_text(encoding="utf-8"))
    meta = metadata_from_csv(path / "metadata.csv")
    if limit is not None:
        meta = meta.iloc[:limit]
    data = []
    for files in meta["sac_files"]:
        data.append(np.stack([obspy.read(str(path / f), format="SAC")[0].data for f in str(files).split(";")]))
    return Records(np.stack(data), fs=info["fs"], components=info["components"], quantity=info["quantity"],
                   unit=info["unit"], metadata=meta.drop(columns=["sac_files"]))


# -- miniSEED ------------------------------------------------------------------------------
def sidecars(path: Path) -> tuple[Path, Path]:
    """The StationXML and metadata CSV written beside a miniSEED file."""
    stem = path.with_suffix("") if path.suffix else path
    return stem.with_name(stem.name + ".stations.xml"), stem.with_name(stem.name + ".metadata.csv")


class MseedWriter(RecordWriter):
    """One miniSEED file (FLOAT32) with StationXML and metadata CSV sidecars."""

    format = "mseed"

    @classmethod
    def outputs_of(cls, path: Path) -> list[Path]:
        return [path, *sidecars(path)]

    def _open(self, first: Records) -> None:
        xml, csv = sidecars(self.path)
        self.tmp = self.atomic(self.path)
        self.tmp_xml, self.tmp_csv = self.atomic(xml), self.atomic(csv)
        self.fh = open(self.tmp, "wb")
        self.meta: list[pd.DataFrame] = []
        self.channels: dict[tuple[str, str], dict] = {}  # (net, sta) -> info; channels within

    def _add(self, records: Records, start: int) -> None:
        st = _stream(records, start)
        buf = io.BytesIO()  # encoded in memory: ObsPy's write callback would swallow OS errors
        st.write(buf, format="MSEED", encoding="FLOAT32", reclen=4096)
        self.fh.write(buf.getvalue())
        geo = synthetic_geometry(records.metadata)
        nc = records.n_components
        for k, tr in enumerate(st):
            i, j = divmod(k, nc)
            g = geo.iloc[i]
            sta = self.channels.setdefault((tr.stats.network, tr.stats.station), {
                "lat": g.station_latitude_deg, "lon": g.station_longitude_deg, "channels": {}})
            sta["channels"].setdefault((tr.stats.location, tr.stats.channel),
                                       component_orientation(records.components[j], g.azimuth_deg))
        self.meta.append(records.metadata)

    def _finish(self) -> None:
        self.fh.close()
        meta = pd.concat(self.meta, ignore_index=True)
        self.tmp_csv.write_text(metadata_to_csv(meta), encoding="utf-8")
        self._inventory().write(str(self.tmp_xml), format="STATIONXML")

    def _inventory(self):
        from obspy import UTCDateTime
        from obspy.core.inventory import Channel, Inventory, Network, Site, Station
        from obspy.core.inventory.response import InstrumentSensitivity, Response

        unit = _FDSN_UNIT[self.unit]
        nets: dict[str, Network] = {}
        start = UTCDateTime(0)
        for (net, code), info in self.channels.items():
            lat = float(info["lat"]) if np.isfinite(info["lat"]) else 0.0
            lon = float(info["lon"]) if np.isfinite(info["lon"]) else 0.0
            chans = []
            for (loc, cha), (az, cmpinc) in info["channels"].items():
                resp = Response(instrument_sensitivity=InstrumentSensitivity(
                    value=1.0, frequency=1.0, input_units=unit, output_units=unit,
                    input_units_description=f"{self.quantity} in {self.unit}"))
                chans.append(Channel(code=cha, location_code=loc, latitude=lat, longitude=lon, elevation=0.0,
                                     depth=0.0, azimuth=float(az) if np.isfinite(az) else None,
                                     dip=float(cmpinc) - 90.0, sample_rate=self.fs, response=resp,
                                     start_date=start))
            station = Station(code=code, latitude=lat, longitude=lon, elevation=0.0, channels=chans,
                              site=Site(name=f"quakesynth synthetic station {code}"), creation_date=start,
                              start_date=start)
            nets.setdefault(net, Network(code=net, stations=[], description="quakesynth synthetic records"))
            nets[net].stations.append(station)
        return Inventory(networks=list(nets.values()), source="quakesynth", created=start)  # reproducible bytes

    def _close_files(self) -> None:
        fh = getattr(self, "fh", None)
        if fh is not None and not fh.closed:
            fh.close()


def read_mseed(path: str | Path, limit: int | None = None) -> Records:
    """Read a miniSEED file written by :class:`MseedWriter` (metadata from its CSV sidecar)."""
    import obspy

    path = Path(path)
    _, csv = sidecars(path)
    st = obspy.read(str(path), format="MSEED")
    meta = metadata_from_csv(csv) if csv.exists() else None
    comps = "".join(dict.fromkeys(tr.stats.channel[-1] for tr in st))
    quantity = {"HN": "acceleration", "HH": "velocity", "HX": "displacement"}.get(st[0].stats.channel[:2], "acceleration")
    unit = {"acceleration": "m/s^2", "velocity": "m/s", "displacement": "m"}[quantity]
    nc = len(comps)
    n = len(st) // nc if limit is None else min(limit, len(st) // nc)
    data = np.stack([np.stack([st[i * nc + j].data for j in range(nc)]) for i in range(n)])
    if meta is not None:
        meta = meta.iloc[:n]
    else:
        meta = pd.DataFrame({"station_network_code": [st[i * nc].stats.network for i in range(n)],
                             "station_code": [st[i * nc].stats.station for i in range(n)],
                             "station_location_code": [st[i * nc].stats.location for i in range(n)]})
    return Records(data, fs=st[0].stats.sampling_rate, components=comps, quantity=quantity, unit=unit, metadata=meta)
