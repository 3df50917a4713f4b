"""Broadband refine judged on real records: the learned refiner against the classic hybrid baseline.

Real broadband records are low-passed at fc, made broadband again by each method and compared
with the original (:mod:`quakesynth.physics.broadband_eval`: FAS bias per band, PSA bias
0.05-0.5 s, Kristekova GOF, input kept below 0.8 fc, continuity across fc).

Sources: the K-NET/KiK-net records of ``../shared/data/real`` (ingested with the HighFEM
preprocessing: 40.96 s windows at 100 Hz, scenario from the headers and the Vs30 table),
``obspy.read()``'s example (response removed with ``obspy.read_inventory()``'s example; its
scenario is not in the file and is ASSUMED, see ``OBSPY_SCENARIO``), and the STEAD and PEER
AT2 fixtures, which are reported with the reason when a method cannot take them.

Usage::

    nice -n 19 python benchmarks/bench_broadband.py --out scratch/bb_eval                  # baseline only
    nice -n 19 python benchmarks/bench_broadband.py --model runs/broadband/model --out scratch/bb_eval
    nice -n 19 python benchmarks/bench_broadband.py --model broadband --hf-level model scenario --scenarios benchmarks/peer_scenarios.csv

Writes ``OUT/report.json`` and ``OUT/report.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
#: obspy.read()'s example (BW.RJOB, 2009-08-24) carries no event metadata: an ASSUMED scenario
OBSPY_SCENARIO = {"magnitude": 5.0, "distance": 50.0, "vs30": 400.0, "depth": 10.0}


def knet_records(shared: Path, workdir: Path):
    from quakesynth.data.ingest import IngestConfig, ingest
    from quakesynth.data.store import Dataset

    out = workdir / "knet"
    ingest([shared / "real" / "knet-kiknet"], out, IngestConfig(), stations=shared / "real" / "stations_vs30_japan.csv")
    ds = Dataset(out)
    return ds.get(np.arange(len(ds)))


def obspy_example():
    import obspy

    from quakesynth.records import Records

    st = obspy.read()
    st.remove_response(inventory=obspy.read_inventory(), output="ACC", pre_filt=(0.05, 0.1, 40.0, 45.0))
    rec = Records.from_obspy(st, quantity="acceleration", unit="m/s^2", components="ZNE")
    for k, col in (("magnitude", "source_magnitude"), ("distance", "path_hyp_distance_km"),
                   ("vs30", "station_vs30_mps"), ("depth", "source_depth_km")):
        rec.metadata[col] = OBSPY_SCENARIO[k]
    return rec


def fixture_records(shared: Path) -> dict:
    """The STEAD and PEER AT2 fixtures as read (for the reasons a method refuses them)."""
    from quakesynth.data.readers import read
    from quakesynth.records import Records

    out = {}
    for name, p in (("STEAD sample", shared / "fixtures" / "stead_sample"),
                    ("PEER AT2", shared / "fixtures" / "peer_at2")):
        recs = [r for r in read([p]) if isinstance(r, Records)]
        out[name] = recs
    return out


def with_scenarios(rec, table):
    """``rec`` with scenario columns filled from ``table`` (indexed by trace_name) where it has them."""
    from quakesynth.records import CONDITIONING_COLUMNS

    meta = rec.metadata.copy()
    for i, name in enumerate(meta["trace_name"].astype(str)):
        if name in table.index:
            for k in ("magnitude", "distance", "vs30", "depth"):
                if k in table.columns and np.isfinite(table.loc[name, k]):
                    meta.loc[meta.index[i], CONDITIONING_COLUMNS[k]] = float(table.loc[name, k])
    return rec.replace(metadata=meta)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="broadband refiner model directory (else baseline only)")
    ap.add_argument("--fc", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=18, help="sampler steps of the refiner")
    ap.add_argument("--out", default="scratch/bb_eval")
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hf-level", nargs="+", default=["model"], choices=["model", "scenario"],
                    help="level(s) above fc of the refiner to judge, each as its own method")
    ap.add_argument("--scenarios", default=None,
                    help="CSV trace_name,magnitude,distance[,vs30,depth] filling the fixtures' missing scenarios "
                         "(e.g. NGA-West2 flatfile values for the PEER AT2 records)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from quakesynth.generate.refiner import BroadbandRefiner
    from quakesynth.physics.broadband import hybrid_baseline
    from quakesynth.physics.broadband_eval import FAS_BANDS, evaluate

    shared = Path(args.shared)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = {"hybrid baseline": lambda low: hybrid_baseline(low, fc=args.fc, seed=0)}
    if args.model:
        br = BroadbandRefiner(args.model)
        for level in args.hf_level:
            name = "refiner" if level == "model" else f"refiner (hf_level {level})"
            methods[name] = functools.partial(br.refine, fc=args.fc, num_steps=args.steps, seed=0, hf_level=level)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{platform.node()} {platform.processor()} torch threads {args.threads}",
              "fc": args.fc, "model": args.model, "steps": args.steps, "sources": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"K-NET/KiK-net": knet_records(shared, Path(tmp)), "obspy example (scenario ASSUMED)": obspy_example()}
    table = None
    if args.scenarios:
        import pandas as pd

        table = pd.read_csv(args.scenarios).set_index("trace_name")
    for name, recs in fixture_records(shared).items():
        sources[name] = [with_scenarios(r, table) for r in recs] if table is not None else recs
    for name, rec in sources.items():
        if isinstance(rec, list):  # fixtures: each read group separately; a refusal is reported
            res = {}
            for i, r in enumerate(rec):
                res[f"{name} #{i}"] = evaluate(r, methods, fc=args.fc)
            report["sources"][name] = res
        else:
            report["sources"][name] = {name: evaluate(rec, methods, fc=args.fc)}
        print(f"{name}: done", flush=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float))

    cols = [f"fas_bias_{lo:g}-{hi:g}" for lo, hi in FAS_BANDS] + [f"fas_absbias_{lo:g}-{hi:g}" for lo, hi in FAS_BANDS]
    cols += ["psa_bias_mean", "psa_bias_maxabs", "EG", "PG", "kept_max", "continuity_below_fc", "continuity_above_fc",
             "score", "n_records"]
    md = [f"Broadband refine on real records, fc = {args.fc:g} Hz ({report['date']}; {report['machine']}); "
          f"model {args.model or '-'}, {args.steps} sampler steps.", "",
          "| source | method | " + " | ".join(cols) + " | s |", "|" + "---|" * (len(cols) + 3)]
    errors = []
    for groups in report["sources"].values():
        for gname, res in groups.items():
            for method, r in res.items():
                if "error" in r:
                    errors.append(f"- {gname}, {method}: refused: {r['error']}")
                    continue
                s = r["summary"]
                md.append(f"| {gname} | {method} | " + " | ".join(f"{s[c]:.3f}" if c != "n_records" else str(s[c])
                                                               for c in cols) + f" | {r['seconds']:.1f} |")
    md += ["", *errors]
    (out / "report.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
