"""``quakesynth info``: what a dataset holds."""

from __future__ import annotations

import json

import click


def describe(path) -> dict:
    """Counts, splits, conditioning ranges and data format of a dataset, as plain values."""
    import numpy as np

    from quakesynth.data.store import SPLITS, Dataset
    from quakesynth.scenario import CONDITIONING_COLUMNS, UNITS

    ds = Dataset(path)
    meta = ds.metadata
    cond = {}
    for name, col in CONDITIONING_COLUMNS.items():
        x = meta[col].astype("float64").to_numpy(na_value=np.nan) if col in meta else np.full(len(meta), np.nan)
        ok = np.isfinite(x)
        cond[name] = {"column": col, "unit": UNITS[name], "count": int(ok.sum()),
                      "missing": int((~ok).sum()),
                      "min": float(x[ok].min()) if ok.any() else None,
                      "max": float(x[ok].max()) if ok.any() else None,
                      "mean": float(x[ok].mean()) if ok.any() else None}
    splits = {}
    for s in SPLITS:
        m = meta[meta["split"] == s]
        splits[s] = {"records": int(len(m)), "events": int(m["source_id"].nunique())}
    other = int(meta["split"].isna().sum() + (~meta["split"].isin(SPLITS) & meta["split"].notna()).sum())
    return {
        "path": str(ds.path), "records": len(ds), "events": int(meta["source_id"].nunique()),
        "stations": int((meta["station_network_code"].fillna("") + "." + meta["station_code"].fillna("")).nunique()),
        "fs": ds.fs, "components": ds.components, "quantity": ds.quantity, "unit": ds.unit,
        "n_samples": ds.n_samples, "duration_s": ds.n_samples / ds.fs if ds.fs else None,
        "splits": splits, "records_without_split": other, "conditioning": cond,
        "data_format": ds.data_format,
        "stats_split": ds.stats.get("split"),
    }


@click.command("info")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(dataset, as_json) -> int:
    """Summarise a dataset: counts, splits, ranges of the conditioning variables, data format.

    \b
    Example:
      quakesynth info knet-dataset
    """
    d = describe(dataset)
    if as_json:
        click.echo(json.dumps(d, indent=2, sort_keys=True, default=str))
        return 0
    click.echo(f"dataset     {d['path']}")
    click.echo(f"records     {d['records']}  ({d['events']} events, {d['stations']} stations)")
    click.echo(f"waveforms   {d['components']} x {d['n_samples']} samples at {d['fs']:g} Hz "
               f"({d['duration_s']:.2f} s), {d['quantity']} in {d['unit']}")
    click.echo("splits      " + ", ".join(f"{s} {v['records']} records / {v['events']} events"
                                          for s, v in d["splits"].items())
               + (f", no split {d['records_without_split']}" if d["records_without_split"] else ""))
    click.echo("conditioning (all records):")
    click.echo(f"  {'variable':10s} {'unit':5s} {'min':>10s} {'mean':>10s} {'max':>10s} {'missing':>8s}  column")
    def f(v) -> str:
        return f"{v:10.3f}" if v is not None else f"{'-':>10s}"

    for name, c in d["conditioning"].items():
        click.echo(f"  {name:10s} {c['unit']:5s} {f(c['min'])} {f(c['mean'])} {f(c['max'])} "
                   f"{c['missing']:8d}  {c['column']}")
    click.echo("data_format " + ", ".join(f"{k}={v}" for k, v in sorted(d["data_format"].items())))
    if d["stats_split"]:
        click.echo(f"statistics  normalisation statistics from the {d['stats_split']} split (stats.json)")
    return 0
