"""A user's metadata table (CSV, SeisBench column names) joined to records read from files.

Formats without event or station metadata (generic ObsPy files, PEER AT2) get it from a
table with one row per record, matched by ``trace_name``, by ``file`` (the name of one of
the record's files, or of a file whose name starts with the record's name) or by
``station_code`` (and ``station_network_code`` where given). Non-empty table values
override what the files say.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from quakesynth.records import METADATA_COLUMNS


def read_metadata_table(path: str | Path) -> pd.DataFrame:
    """Read the table; ``ValueError`` unless it has a ``trace_name``, ``file`` or
    ``station_code`` column."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"metadata table {str(path)!r} is not a readable CSV file: {e}") from e
    if not {"trace_name", "file", "station_code"} & set(table.columns):
        raise ValueError(f"metadata table {str(path)!r} needs a trace_name, file or station_code "
                         f"column to match records; has {list(table.columns)}")
    return table.replace({"": None})


def match_row(table: pd.DataFrame | None, trace_name: str, files: list[str], station: str | None,
              network: str | None) -> dict:
    """The table's values for one record (non-missing only; {} if no row matches)."""
    if table is None:
        return {}
    rows = table.iloc[0:0]
    if "trace_name" in table:
        rows = table[table["trace_name"] == trace_name]
    if rows.empty and "file" in table:
        names = table["file"].fillna("").map(lambda f: Path(f).name)
        stem = trace_name.split(".")[0]
        rows = table[names.isin(files) | (names.str.startswith(stem) & (stem != ""))]
    if rows.empty and "station_code" in table and station:
        rows = table[table["station_code"] == station]
        if "station_network_code" in table and network:
            rows = rows[rows["station_network_code"].isna() | (rows["station_network_code"] == network)]
    if rows.empty:
        return {}
    row = rows.iloc[0].to_dict()
    for k in ("trace_name", "file"):
        row.pop(k, None)
    return {k: v for k, v in row.items() if v is not None}


def typed(meta: pd.DataFrame) -> pd.DataFrame:
    """Standard numeric columns (strings from a table) as numbers, in place; returns ``meta``."""
    for c in meta.columns:
        if METADATA_COLUMNS.get(c) == "float64":
            meta[c] = pd.to_numeric(meta[c], errors="coerce")
    return meta


def apply_table(meta: pd.DataFrame, table: pd.DataFrame | None) -> pd.DataFrame:
    """Override ``meta`` rows with their matching table values (copy)."""
    if table is None or meta.empty:
        return meta
    meta = meta.copy()
    for i in range(len(meta)):
        r = meta.iloc[i]
        src = str(r.get("trace_source") or "")
        row = match_row(table, str(r["trace_name"]), [Path(src).name], r.get("station_code"),
                        r.get("station_network_code"))
        for k, v in row.items():
            if k not in meta:
                meta[k] = pd.Series([None] * len(meta), dtype="object")
            meta[k] = meta[k].astype("object")
            meta.iloc[i, meta.columns.get_loc(k)] = v
    return typed(meta)
