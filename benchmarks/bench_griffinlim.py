"""Phase retrieval benchmark: speed and spectral convergence of quakesynth's batched Griffin-Lim.

Speed: seconds per three-component waveform (4064 samples, 129 x 128 STFT per component) for
several batch sizes, thread counts and iteration counts. Accuracy: spectral convergence
``|| |S| - |STFT(x)| || / || S ||`` on

- the reference's decoded spectrograms (``reference.npz: decoded_representation_out``), against
  the reference's own librosa Griffin-Lim output (``griffinlim_waveform_out``, 128 iterations,
  random phases), and
- round trips of real K-NET/KiK-net records (``../shared/data/real/knet-kiknet``, 4064 samples
  from sample 1000), where the target is consistent.

Usage::

    python benchmarks/bench_griffinlim.py                       # defaults below
    python benchmarks/bench_griffinlim.py --batch-sizes 1 32 --threads 1 2 --iters 32 128
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from quakesynth.repr.spectrogram import LogSpectrogram

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def speed(rep: LogSpectrogram, batch: int, n_iter: int, threads: int, repeats: int, init: str) -> tuple[float, float]:
    """Best wall-clock and process-CPU seconds per waveform over ``repeats`` runs."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    spec = torch.rand(batch, 3, *rep.cfg.shape, generator=g) * 1.4 - 1
    rep.inverse(spec[:1], n_iter=2, init=init)  # warm-up
    wall = cpu = np.inf
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rep.inverse(spec, n_iter=n_iter, init=init)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall / batch, cpu / batch


def real_records(n: int = 16) -> np.ndarray | None:
    import obspy

    traces = []
    for f in sorted(glob.glob(str(SHARED / "real" / "knet-kiknet" / "*" / "*"))):
        if f.endswith((".json", ".csv", ".txt")):
            continue
        try:
            tr = obspy.read(f)[0]
        except Exception:
            continue
        d = tr.data.astype(np.float64) * tr.stats.calib
        if len(d) >= 5064:
            seg = d[1000:5064]
            traces.append(seg - seg.mean())
        if len(traces) >= 3 * n:
            break
    if len(traces) < 3:
        return None
    k = len(traces) // 3 * 3
    return np.array(traces[:k]).reshape(-1, 3, 4064)


def accuracy(rep: LogSpectrogram, settings: list[tuple[str, int, str]]) -> list[str]:
    rows = []
    ref_path = SHARED / "tqdne" / "reference.npz"
    targets = {}
    if ref_path.exists():
        ref = np.load(ref_path)
        targets["decoded (reference.npz, 2 x 3)"] = ref["decoded_representation_out"]
        sc = rep.spectral_convergence(ref["griffinlim_waveform_out"], ref["decoded_representation_out"])
        rows.append(f"| decoded (reference.npz, 2 x 3) | reference librosa GLA | 128 | random (seed 0) | "
                    f"{sc.mean():.4f} | {np.median(sc):.4f} |")
    real = real_records()
    if real is not None:
        targets[f"K-NET round trip ({real.shape[0]} x 3)"] = rep.forward(real)
    for name, spec in targets.items():
        for method, n_iter, init in settings:
            seeds = [0, 1, 2] if init == "random" else [0]
            scs = [rep.spectral_convergence(rep.inverse(spec, n_iter=n_iter, method=method, init=init, seed=s), spec)
                   for s in seeds]
            sc = np.mean(scs, axis=0)
            label = f"{init} (mean of {len(seeds)} seeds)" if init == "random" else init
            rows.append(f"| {name} | quakesynth {method} | {n_iter} | {label} | {sc.mean():.4f} | {np.median(sc):.4f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--iters", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-accuracy", action="store_true", help="skip the spectral-convergence tables")
    ap.add_argument("--no-speed", action="store_true", help="skip the timing table")
    args = ap.parse_args()

    rep = LogSpectrogram()
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads available, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}")
    if not args.no_speed:
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        print("\n| threads | batch | iterations | wall s / waveform | CPU s / waveform |\n|---|---|---|---|---|")
        for threads in args.threads:
            for batch in args.batch_sizes:
                for n_iter in args.iters:
                    wall, cpu = speed(rep, batch, n_iter, threads, args.repeats, "pghi")
                    print(f"| {threads} | {batch} | {n_iter} | {wall:.4f} | {cpu:.4f} |", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    if not args.no_accuracy:
        torch.set_num_threads(1)
        print("\n| target | method | iterations | initial phase | mean SC | median SC |\n|---|---|---|---|---|---|")
        settings = [("fgla", 128, "random"), ("fgla", 128, "pghi"), ("agla", 128, "pghi"),
                    ("fgla", 32, "pghi"), ("fgla", 256, "pghi")]
        for row in accuracy(rep, settings):
            print(row, flush=True)


if __name__ == "__main__":
    main()
