"""Benchmark of ``quakesynth evaluate`` at the issue's scale: 2,000 records x 3 models x 10
realisations on this machine, with the stochastic simulator and two toy generators.

The evaluation data set is a stochastic-method corpus (train and test splits of ``--records``
records each, written once to ``--work`` and reused). The three models are the simulator
itself and two cheap toy generators (Gaussian noise in a Saragoni-Hart-like envelope, one
scaled by 2), so the timing shows what generation costs and what the evaluation (IMs,
features, analysis, report) costs on top of it.

Usage::

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=2000, help="records in the evaluated (test) split")
    ap.add_argument("--realizations", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--gmm", nargs="*", default=["BooreEtAl2014", "Kanno2006Shallow"])
    ap.add_argument("--work", type=Path, default=Path("/tmp/quakesynth-bench-evaluate"))
    ap.add_argument("--report", action="store_true", help="also write the HTML report (figures)")
    args = ap.parse_args()

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
