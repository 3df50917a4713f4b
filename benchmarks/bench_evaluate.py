"""Benchmark of ``quakesynth evaluate`` at the issue's scale: 2,000 records x 3 models x 10
realisations on this machine, with the stochastic simulator and two toy generators.

The evaluation data set is a stochastic-method corpus (train and test splits of ``--records``
records each, written once to ``--work`` and reused). The three models are the simulator
itself and two cheap toy generators (Gaussian noise in a Saragoni-Hart-like envelope, one
scaled by 2), so the timing shows what generation costs and what the evaluation (IMs,
features, analysis, report) costs on top of it.

Flatfile mode (``--flatfile-rows``): a synthetic flatfile of observed IMs with crossed event and
site terms, against the stochastic simulator and a GMM (1 realisation by default): wall time,
CPU time, peak memory (max RSS) and the load average around the run.

Usage::

    python benchmarks/bench_evaluate.py --flatfile-rows 20000 --gmm BooreEtAl2014
    python benchmarks/bench_evaluate.py --records 2000 --realizations 10 --workers 1 2
    python benchmarks/bench_evaluate.py --records 100 --realizations 3 --workers 1   # quick look

Prints one JSON line per run with the stage timings (seconds) and the headline numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd


class ToyGenerator:
    """Seeded noise in an envelope whose amplitude and duration follow M and R."""

    def __new__(cls, amp: float, name: str):
        from quakesynth.generate import Generator

        class _Toy(Generator):
            ranges = {"magnitude": (3.0, 8.5), "distance": (1.0, 1000.0), "vs30": (50.0, 3000.0),
                      "depth": (0.0, 200.0), "gap": (0.0, 360.0)}
            n_samples, fs = 4096, 100.0

            def _generate(self, cond, seeds, device="cpu"):
                t = np.arange(self.n_samples) / self.fs
                out = np.empty((len(seeds), 3, self.n_samples), np.float32)
                for i, s in enumerate(seeds):
                    m, r = cond[i, 0], cond[i, 1]
                    dur = 2.0 + 0.5 * 10 ** (0.3 * (m - 4)) + 0.05 * r
                    t0 = 5.0 + r / 7.0
                    env = np.where(t > t0, ((t - t0) / dur) * np.exp(1 - (t - t0) / dur), 0.0)
                    a = amp * 10 ** (0.5 * m - 1.3 * np.log10(r) - 2.0)
                    out[i] = np.random.default_rng(int(s)).standard_normal((3, self.n_samples)) * env * a
                return out

        g = _Toy()
        g.name = name
        return g


def build_corpus(path: Path, n_per_split: int, seed: int = 0) -> None:
    """A stochastic-method corpus of 2 x ``n_per_split`` records (train/test by event)."""
    from quakesynth.data.store import DatasetWriter
    from quakesynth.generate import load_model

    gen = load_model("stochastic")
    rng = np.random.default_rng(seed)
    n = 2 * n_per_split
    n_events = max(2, n // 4)  # many events: train and test splits share the conditioning distribution
    ev = rng.integers(0, n_events, n)
    m_ev = rng.uniform(4.0, 7.3, n_events)
    z_ev = rng.uniform(5.0, 30.0, n_events)
    gap_ev = rng.uniform(30.0, 300.0, n_events)
    scen = pd.DataFrame({"magnitude": m_ev[ev], "depth": z_ev[ev], "gap": gap_ev[ev],
                         "distance": np.maximum(10 ** rng.uniform(1.0, 2.3, n), z_ev[ev] + 1.0),
                         "vs30": 10 ** rng.uniform(2.3, 3.0, n)})
    with DatasetWriter(path, fs=gen.fs, components=gen.components, split_fractions=(0.5, 0.0, 0.5)) as w:
        for chunk in gen.iter_table(scen, seed=seed + 1, batch_size=256):
            meta = chunk.metadata
            idx = meta["scenario_index"].to_numpy()
            meta["source_id"] = [f"ev{e:05d}" for e in ev[idx]]
            meta["station_code"] = [f"S{int(i) % 300:04d}" for i in idx]  # stations with several records
            meta["trace_name"] = [f"rec{int(i):06d}" for i in idx]
            chunk.metadata = meta
            w.add(chunk)


def synthetic_flatfile(n_rows: int, seed: int = 0, per_event: int = 50) -> pd.DataFrame:
    """A flatfile of ``n_rows`` (quakesynth columns) with crossed event and site terms: events of
    ``per_event`` records, stations drawn from ``n_rows / 8`` sites; PGA, PGV and PSA at 0.1,
    0.3, 1 and 3 s from a simple attenuation form plus tau = 0.4, phi_S2S = 0.3, phi_0 = 0.5."""
    rng = np.random.default_rng(seed)
    n_ev = max(1, n_rows // per_event)
    n_st = max(2, n_rows // 8)
    ev = rng.integers(0, n_ev, n_rows)
    st = rng.integers(0, n_st, n_rows)
    mag = rng.uniform(4.5, 7.0, n_ev)[ev]
    depth = rng.uniform(2.0, 30.0, n_ev)[ev]
    vs30 = rng.uniform(150.0, 1200.0, n_st)[st]
    r = np.hypot(rng.uniform(5.0, 190.0, n_rows), depth)
    dev = rng.normal(0, 0.4, n_ev)[ev] + rng.normal(0, 0.3, n_st)[st] + rng.normal(0, 0.5, n_rows)
    base = -4.8 + 0.9 * mag - 1.1 * np.log(r + 10.0) - 0.5 * np.log(vs30 / 760.0) + dev
    df = pd.DataFrame({"event_id": [f"ev{i}" for i in ev], "station_id": [f"st{i}" for i in st],
                       "magnitude": mag, "distance_km": r, "depth_km": depth, "vs30_mps": vs30,
                       "gap_deg": 120.0, "PGA_g": np.exp(base), "PGV_cm/s": np.exp(base + 4.2)})
    for T, f in ((0.1, 1.9), (0.3, 2.1), (1.0, 0.8), (3.0, 0.25)):
        df[f"PSA{T:g}_g"] = np.exp(base) * f * np.exp(0.2 * (mag - 6) * np.log10(T / 0.1 + 1))
    return df


def flatfile_run(args) -> None:
    """Flatfile mode: ``--flatfile-rows`` rows x (stochastic + GMMs) x ``--realizations``."""
    import resource
    import subprocess

    from quakesynth.evaluate.flatfile import evaluate_flatfile

    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / f"flatfile-{args.flatfile_rows}.csv"
    if not path.exists():
        synthetic_flatfile(args.flatfile_rows).to_csv(path, index=False)
    from quakesynth.generate import load_model

    preset = args.stochastic_preset
    model = load_model("stochastic", **({"config": preset} if preset else {}))
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    res = evaluate_flatfile(path, {"stochastic": model}, list(args.gmm), args.work / f"flatfile-report-{args.flatfile_rows}",
                            realizations=args.realizations, batch_size=args.batch_size, overwrite=True,
                            progress=args.progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    m = res.metrics
    print(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, Python {platform.python_version()}",
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "rows": m["run"]["rows"], "events": m["run"]["events"], "stations": m["run"]["stations"],
        "models": m["run"]["models"], "stochastic_preset": preset or "default", "gmms": m["run"]["gmms"], "realizations": m["run"]["realizations"],
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mib": round(peak_mib, 1),
        "timing": m["run"]["timing"],
        "PGA": {src: {k: e["PGA"].get(k) for k in ("bias", "tau", "phi_s2s", "phi_0", "phi", "n")}
                for src, e in m["residuals"].items()},
    }), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=2000, help="records in the evaluated (test) split")
    ap.add_argument("--realizations", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--gmm", nargs="*", default=["BooreEtAl2014", "Kanno2006Shallow"])
    ap.add_argument("--work", type=Path, default=Path("/tmp/quakesynth-bench-evaluate"))
    ap.add_argument("--report", action="store_true", help="also write the HTML report (figures)")
    ap.add_argument("--flatfile-rows", type=int, default=0,
                    help="flatfile mode: rows of a synthetic flatfile, evaluated against the stochastic "
                         "simulator and --gmm (then --realizations defaults to 1)")
    ap.add_argument("--progress", action="store_true", help="progress bar (flatfile mode)")
    ap.add_argument("--stochastic-preset", default=None, help="simulator preset of the flatfile run (default: the package's)")
    args = ap.parse_args()
    if args.flatfile_rows:
        if args.realizations == 10 and "--realizations" not in " ".join(os.sys.argv):
            args.realizations = 1
        flatfile_run(args)
        return

    import dataclasses

    from quakesynth.evaluate.config import EvaluateConfig
    from quakesynth.evaluate.run import evaluate
    from quakesynth.generate import load_model

    corpus = args.work / f"corpus-{args.records}"
    if not corpus.exists():
        t0 = time.perf_counter()
        build_corpus(corpus, args.records)
        print(json.dumps({"corpus": str(corpus), "build_s": round(time.perf_counter() - t0, 1)}), flush=True)
    models = {"stochastic": load_model("stochastic"), "toy": ToyGenerator(1.0, "toy"),
              "toy_x2": ToyGenerator(2.0, "toy_x2")}
    for workers in args.workers:
        cfg = dataclasses.replace(EvaluateConfig(), realizations=args.realizations, workers=workers,
                                  batch_size=args.batch_size)
        out = args.work / f"report-{args.records}-w{workers}" if args.report else None
        t0 = time.perf_counter()
        res = evaluate(f"{corpus}:test", models, list(args.gmm), out, cfg, overwrite=True)
        wall = time.perf_counter() - t0
        timing = res.metrics["run"]["timing"]
        s = res.metrics["summary"]
        print(json.dumps({
            "machine": f"{platform.machine()} {os.cpu_count()} CPU, Python {platform.python_version()}",
            "records": res.metrics["run"]["n_records"], "models": list(models),
            "realizations": args.realizations, "workers": workers, "wall_s": round(wall, 1),
            "waveforms": sum(v.get("waveforms", 0) for k, v in timing.items() if k != "total"),
            "timing": timing,
            "headline": {k: {kk: vv for kk, vv in v.items() if "PGA" in kk or "PGV" in kk or "FD" in kk}
                         for k, v in s.items()},
        }), flush=True)


if __name__ == "__main__":
    main()
