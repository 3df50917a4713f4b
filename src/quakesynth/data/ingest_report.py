"""What happened to every input: dropped records and files, event-metadata conflicts.

Readers, preprocessing and screening never drop anything silently: each unusable file or
record becomes a :class:`Dropped` entry with a short reason code and a one-line explanation,
and each disagreement between two sources of event metadata becomes a :class:`Conflict`.
:class:`IngestReport` collects both, summarises them and writes them as one CSV table.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Reason codes, and what each means (the report's ``reason`` column).
REASONS: dict[str, str] = {
    "unreadable": "not a readable seismic file of the requested/detected format (corrupt or non-seismic)",
    "truncated": "the file holds fewer samples than its header announces",
    "header_mismatch": "the data disagree with the file's own header (e.g. its maximum acceleration)",
    "impossible_sampling_rate": "sampling rate not finite, not positive, or absurd",
    "sampling_rate_below_target": "sampling rate below the dataset's; upsampling cannot restore the band",
    "missing_components": "the record lacks a component the dataset needs",
    "unit": "the data's unit cannot be converted to the dataset's (e.g. counts to m/s^2)",
    "missing_metadata": "event or station metadata needed for the conditioning variables is missing",
    "missing_vs30": "the station has no Vs30 (unknown station, or not in the station table)",
    "missing_station": "the record has no station code (site-specific datasets need the station identity)",
    "duplicate": "a record of the same name was already read",
    "not_earthquake": "the input labels the trace as noise / not an earthquake",
    "too_many_gaps": "more than the allowed fraction of samples is missing (NaN or gaps)",
    "long_gap": "an interior gap is longer than the longest one that may be interpolated",
    "spike": "isolated spike(s) far above the signal's sample-to-sample variation",
    "no_p_pick": "the picker found no P onset",
    "insufficient_pre_event": "the P onset is too close to the record start for the pre-event window",
    "pick_outside_window": "re-picking the aligned window puts P outside the accepted interval",
    "low_snr": "pre-P noise too strong relative to the signal",
    "error": "an unexpected error while processing this record (message in detail)",
}


@dataclass(frozen=True)
class Dropped:
    """A file or record left out of the dataset, and why.

    Parameters
    ----------
    source : the input file (or dataset folder) the record came from.
    trace_name : the record's name; empty when a whole file could not be used.
    stage : where it was dropped: ``read``, ``metadata``, ``preprocess`` or ``screen``.
    reason : a code of :data:`REASONS`.
    detail : one human-readable line (values, thresholds).
    event : the record's event (id, and name where known), so that a reader can find it
        whatever the record's name (a SeisBench bucket address says nothing).
    station : the record's station (``NET.STA``, and name where known; PEER: the RSN too).
    """

    source: str
    trace_name: str
    stage: str
    reason: str
    detail: str = ""
    event: str = ""
    station: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"reason must be one of {sorted(REASONS)}; got {self.reason!r}")


@dataclass(frozen=True)
class Conflict:
    """Two sources disagree about an event (e.g. ``event.json`` vs the K-NET header).

    Parameters
    ----------
    source : the file or folder where the conflict was found.
    source_id : the event id used in the dataset.
    field : ``origin_time``, ``magnitude``, ``magnitude_type``, ``depth_km``, ``epicentre``.
    header_value, other_value : the two values as text.
    other : name of the second source (``event.json``).
    used : which one the dataset holds (``header`` or ``event.json``).
    detail : e.g. ``"different event"`` or the size of the difference.
    """

    source: str
    source_id: str
    field: str
    header_value: str
    other_value: str
    other: str
    used: str
    detail: str = ""


REPORT_COLUMNS = ["kind", "source", "trace_name", "event", "station", "stage", "reason", "detail"]


@dataclass
class IngestReport:
    """Counts and entries of one ingestion: records read and kept, drops, conflicts."""

    n_read: int = 0
    n_kept: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def drop(self, item: Dropped) -> None:
        self.dropped.append(item)

    def by_reason(self) -> dict[str, int]:
        """Number of dropped records/files per reason code, most frequent first."""
        return dict(Counter(d.reason for d in self.dropped).most_common())

    def rows(self) -> list[dict[str, str]]:
        """One row per dropped item and per conflict (columns :data:`REPORT_COLUMNS`)."""
        out = [{"kind": "dropped", **{k: str(v) for k, v in asdict(d).items()}} for d in self.dropped]
        for c in self.conflicts:
            detail = (f"{c.field}: header={c.header_value} {c.other}={c.other_value}; "
                      f"used {c.used}" + (f"; {c.detail}" if c.detail else ""))
            out.append({"kind": "conflict", "source": c.source, "trace_name": "", "event": c.source_id,
                        "station": "", "stage": "metadata",
                        "reason": f"event_{c.field}", "detail": detail})
        return out

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write :meth:`rows` to ``path`` (CSV; header line even when empty)."""
        path = Path(path)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=REPORT_COLUMNS, lineterminator="\n")
            w.writeheader()
            for row in self.rows():
                w.writerow({k: row.get(k, "") for k in REPORT_COLUMNS})
        return path

    def summary(self) -> str:
        """A few lines: read, kept, dropped by reason, conflicts."""
        lines = [f"read {self.n_read} record(s)/file(s); kept {self.n_kept}; dropped {len(self.dropped)}"]
        for reason, n in self.by_reason().items():
            lines.append(f"  dropped {n:6d}  {reason}: {REASONS[reason]}")
        if self.conflicts:
            events = len({(c.source, c.source_id) for c in self.conflicts})
            lines.append(f"event metadata conflicts: {len(self.conflicts)} field(s) in {events} event(s)"
                         " (listed in the report)")
        return "\n".join(lines)

