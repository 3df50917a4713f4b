"""Throughput of quakesynth.metrics against the reference libraries, same machine, same run.

Measures records per second of

1. RotD50 PSA, 1,000 three-component 4,096-sample records x 100 periods (0.01-10 s), against
   pyrotd (single process; measured on a subset and scaled);
2. Arias intensity + D5-75 + D5-95 of every component, against eqsig;
3. Kristekova envelope + phase GOF of record pairs (3 components), against
   obspy.signal.tf_misfit (eg + pg);
4. earthquake HVSR, against hvsrpy (traditional, geometric mean, Konno-Ohmachi b = 40);

and the agreement with pyrotd by period band on whole real records. Records are 4,096-sample
windows (100 Hz) cut at random offsets from the real K-NET/KiK-net records in
``../shared/data/real/knet-kiknet`` (tapered), so the inputs are real ground motions.

Usage::

    python benchmarks/bench_metrics.py [--records 1000] [--out benchmarks/results/metrics.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KNET = Path(os.environ.get("QUAKESYNTH_SHARED", REPO.parent / "shared")) / "data" / "real" / "knet-kiknet"
G = 9.80665


def shim_imports() -> None:
    """pyrotd and hvsrpy need small import shims here (tests/refcompat.py, shared with the tests)."""
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from refcompat import install_shims

    install_shims()


def load_knet() -> tuple[list[np.ndarray], float]:
    """Every 3-component K-NET/KiK-net record (NS, EW, UD; surface sensors), m/s^2."""
    import obspy

    recs = []
    fs = None
    for ns in sorted(KNET.glob("*/*.NS*")):
        if ns.suffix.endswith("1"):  # KiK-net borehole sensor
            continue
        stem, digit = str(ns)[: -len(ns.suffix)], ns.suffix[3:]  # "" (K-NET) or "2" (KiK-net surface)
        comps = []
        for c in ("NS", "EW", "UD"):
            tr = obspy.read(f"{stem}.{c}{digit}", format="KNET")[0]
            x = tr.data * tr.stats.calib
            comps.append(x - x[:500].mean())
            fs = tr.stats.sampling_rate
        n = min(len(c) for c in comps)
        recs.append(np.stack([c[:n] for c in comps]))
    return recs, fs


def make_batch(recs: list[np.ndarray], n: int, t: int, seed: int = 0) -> np.ndarray:
    """n windows of t samples at random offsets of random records, Tukey-tapered (n, 3, t)."""
    from scipy.signal.windows import tukey

    rng = np.random.default_rng(seed)
    win = tukey(t, 0.1)
    out = np.empty((n, 3, t))
    for i in range(n):
        r = recs[rng.integers(len(recs))]
        i0 = rng.integers(0, max(1, r.shape[1] - t))
        w = r[:, i0:i0 + t]
        out[i, :, : w.shape[1]] = w * win[: w.shape[1]]
        out[i, :, w.shape[1]:] = 0
    return out


def timed(fn, *args, repeat: int = 1, **kw):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_rotd(batch, fs, n_ref):
    import pyrotd

    from quakesynth.metrics.response import DEFAULT_PERIODS, horizontal_spectra

    pyrotd.processes = 1
    periods = DEFAULT_PERIODS
    horizontal_spectra(batch[:8, 0], batch[:8, 1], fs, periods, percentiles=(50.0,))  # warm
    rows = {}
    cpu = {}
    for w in (1, 2):
        c0 = time.process_time()
        t_ours, ours = timed(horizontal_spectra, batch[:, 0], batch[:, 1], fs, periods,
                             percentiles=(50.0,), workers=w)
        cpu[w] = time.process_time() - c0
        rows[w] = t_ours
    t0 = time.perf_counter()
    c0 = time.process_time()
    ref = [pyrotd.calc_rotated_spec_accels(1 / fs, batch[i, 0] / G, batch[i, 1] / G, 1 / periods,
                                           0.05, percentiles=[50]).spec_accel * G for i in range(n_ref)]
    t_ref = time.perf_counter() - t0
    cpu_ref = time.process_time() - c0
    rel = np.array(ref) / ours["RotD50"][:n_ref] - 1
    sel = (periods >= 0.1) & (periods <= 5)
    return {"ours_1": len(batch) / rows[1], "ours_2": len(batch) / rows[2], "ref": n_ref / t_ref,
            "n": len(batch), "n_ref": n_ref, "median_abs_rel_0.1_5": float(np.median(np.abs(rel[:, sel]))),
            "t_ours_2": rows[2], "t_ref": t_ref, "cpu_ours_1": cpu[1] / len(batch),
            "cpu_ref": cpu_ref / n_ref}


def bench_energy(batch, fs, n_ref):
    import eqsig
    import eqsig.im

    from quakesynth.metrics.energy import energy_measures

    def ours(x):  # Arias, D5-75, D5-95 (and CAV) in one pass
        return energy_measures(x, fs)

    ours(batch[:2])
    t_ours, _ = timed(ours, batch, repeat=2)
    t0 = time.perf_counter()
    for i in range(n_ref):
        for c in range(3):
            sig = eqsig.AccSignal(batch[i, c], 1 / fs)
            eqsig.im.calc_arias_intensity(sig)
            eqsig.im.calc_sig_dur(sig, 0.05, 0.75)
            eqsig.im.calc_sig_dur(sig, 0.05, 0.95)
            eqsig.im.calc_cav(sig)
    t_ref = time.perf_counter() - t0
    return {"ours_2": len(batch) / t_ours, "ref": n_ref / t_ref, "n": len(batch), "n_ref": n_ref}


def bench_kristekova(batch, fs, n_pairs, n_ref):
    from obspy.signal import tf_misfit

    from quakesynth.metrics.gof import kristekova_gof

    x, ref = batch[:n_pairs], batch[n_pairs:2 * n_pairs]
    kw = dict(fmin=0.5, fmax=20.0, nf=100, w0=6)
    kristekova_gof(x[:1], ref[:1], fs, **kw)  # warm (wavelet bank)
    t_ours, ours = timed(kristekova_gof, x, ref, fs, **kw)
    t0 = time.perf_counter()
    for i in range(n_ref):
        eg = tf_misfit.eg(x[i], ref[i], dt=1 / fs, **kw)
        pg = tf_misfit.pg(x[i], ref[i], dt=1 / fs, **kw)
        assert np.allclose(eg, ours["EG"][i]) and np.allclose(pg, ours["PG"][i])
    t_ref = time.perf_counter() - t0
    return {"ours_2": n_pairs / t_ours, "ref": n_ref / t_ref, "n": n_pairs, "n_ref": n_ref}


def bench_hvsr(batch, fs, n_ref):
    import hvsrpy as hp

    from quakesynth.metrics.hvsr import hvsr_curves

    fcs = np.geomspace(0.2, 20, 100)
    hvsr_curves(batch[:2, 0], batch[:2, 1], batch[:2, 2], fs, freqs=fcs)
    t_ours, ours = timed(hvsr_curves, batch[:, 0], batch[:, 1], batch[:, 2], fs, freqs=fcs, repeat=2)

    def run_hvsrpy(m):
        recs = [hp.SeismicRecording3C(*(hp.TimeSeries(batch[i, c].copy(), 1 / fs) for c in range(3)))
                for i in range(m)]
        pre = hp.HvsrPreProcessingSettings(window_length_in_seconds=None, detrend="linear",
                                           orient_to_degrees_from_north=None)
        proc = hp.HvsrTraditionalProcessingSettings(
            smoothing=dict(operator="konno_and_ohmachi", bandwidth=40, center_frequencies_in_hz=fcs),
            fft_settings=dict(n=4096))
        return hp.process(hp.preprocess(recs, pre), proc)

    run_hvsrpy(2)  # JIT warm-up, not timed
    t_ref, res = timed(run_hvsrpy, n_ref)
    # hvsrpy forces n >= 2^15 (zero padding) whatever fft_settings say; same settings for ours:
    n_fft = max(4096, 2**15)
    _, same = hvsr_curves(batch[:n_ref, 0], batch[:n_ref, 1], batch[:n_ref, 2], fs, freqs=fcs, n_fft=n_fft)
    agree = float(np.nanmax(np.abs(same / res.amplitude - 1)))
    t_ours_same, _ = timed(hvsr_curves, batch[:, 0], batch[:, 1], batch[:, 2], fs, freqs=fcs, n_fft=n_fft)
    return {"ours_2": len(batch) / t_ours, "ours_2_same_nfft": len(batch) / t_ours_same,
            "ref": n_ref / t_ref, "n": len(batch), "n_ref": n_ref, "max_rel_diff": agree}


def pyrotd_agreement(recs, fs):
    """Relative difference pyrotd / ours by period band: whole records, and 41-s windows."""
    import pyrotd
    from scipy.signal.windows import tukey

    from quakesynth.metrics.response import response_spectrum

    periods = np.geomspace(0.01, 10, 60)
    bands = ((0.01, 0.07), (0.07, 0.1), (0.1, 5.0), (5.0, 7.0), (7.0, 10.01))
    out = {}
    for label, cut in (("whole record + 20 s zeros", None), ("41-s window (4096), no padding", 4096)):
        diffs = []
        for r in recs:
            x = r[0] * tukey(r.shape[1], 0.05)
            if cut is not None:
                i0 = max(0, int(np.argmax(np.abs(x))) - cut // 3)
                x = x[i0:i0 + cut] * tukey(len(x[i0:i0 + cut]), 0.1)
            else:
                x = np.pad(x, (0, 2048))
            ours = response_spectrum(x, fs, periods)
            ref = pyrotd.calc_spec_accels(1 / fs, x / G, 1 / periods, 0.05).spec_accel * G
            diffs.append(ref / ours - 1)
        d = np.array(diffs)
        out[label] = {f"{lo:g}-{hi:g} s": (float(np.median(d[:, (periods >= lo) & (periods < hi)])),
                                            float(np.abs(d[:, (periods >= lo) & (periods < hi)]).max()))
                      for lo, hi in bands}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "metrics.md")
    args = ap.parse_args()
    shim_imports()
    recs, fs = load_knet()
    batch = make_batch(recs, args.records, 4096)
    results = {}
    print("rotd...", flush=True)
    results["rotd"] = bench_rotd(batch, fs, n_ref=min(10, args.records))
    print(results["rotd"], flush=True)
    print("energy...", flush=True)
    results["energy"] = bench_energy(batch, fs, n_ref=min(100, args.records))
    print(results["energy"], flush=True)
    print("kristekova...", flush=True)
    results["kristekova"] = bench_kristekova(batch, fs, n_pairs=min(20, args.records // 2),
                                             n_ref=min(5, args.records // 2))
    print(results["kristekova"], flush=True)
    print("hvsr...", flush=True)
    results["hvsr"] = bench_hvsr(batch, fs, n_ref=min(50, args.records))
    print(results["hvsr"], flush=True)
    print("pyrotd agreement...", flush=True)
    results["agreement"] = pyrotd_agreement(recs, fs)
    print(results["agreement"], flush=True)
    write_report(args, results, len(recs))


def write_report(args, res, n_source) -> None:
    from quakesynth._atomic import atomic_path

    load = os.getloadavg()
    r = res["rotd"]
    e = res["energy"]
    k = res["kristekova"]
    h = res["hvsr"]
    versions = {p: importlib.metadata.version(p) for p in ("numpy", "scipy", "numba", "pyrotd", "eqsig", "obspy", "hvsrpy")}
    lines = [
        "# quakesynth.metrics benchmarks",
        "",
        f"Date: {dt.date.today().isoformat()}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores "
        f"({platform.processor() or 'x86-64'}), Python {platform.python_version()}; "
        + ", ".join(f"{p} {v}" for p, v in versions.items()) + ".",
        f"Load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (the machine is shared; "
        "both sides of each ratio were measured in the same run, so the ratios are comparable, the absolute "
        "rates less so).",
        "",
        f"Command: `python benchmarks/bench_metrics.py --records {args.records}`",
        "",
        f"Inputs: {args.records} three-component windows of 4,096 samples at 100 Hz cut at random offsets "
        f"from {n_source} real K-NET/KiK-net records (../shared/data/real/knet-kiknet), Tukey-tapered.",
        "",
        "## Throughput (records per second; reference libraries single process)",
        "",
        "| measure | quakesynth | reference | ratio |",
        "|---|---|---|---|",
        f"| RotD50 PSA, 100 periods 0.01-10 s (1 thread) | {r['ours_1']:.1f} | pyrotd {r['ref']:.2f} "
        f"(on {r['n_ref']} records) | {r['ours_1'] / r['ref']:.0f}x |",
        f"| RotD50 PSA, 100 periods 0.01-10 s (2 threads) | {r['ours_2']:.1f} | pyrotd {r['ref']:.2f} | "
        f"{r['ours_2'] / r['ref']:.0f}x |",
        f"| Arias + D5-75 + D5-95 + CAV, 3 components | {e['ours_2']:.0f} | eqsig {e['ref']:.0f} "
        f"(on {e['n_ref']}) | {e['ours_2'] / e['ref']:.0f}x |",
        f"| Kristekova EG + PG, 3 components, nf = 100, 0.5-20 Hz (pairs/s) | {k['ours_2']:.2f} | "
        f"obspy tf_misfit {k['ref']:.2f} (on {k['n_ref']}) | {k['ours_2'] / k['ref']:.1f}x |",
        f"| HVSR (KO b = 40, 100 frequencies), n_fft = 4096 | {h['ours_2']:.0f} | hvsrpy {h['ref']:.1f} "
        f"(on {h['n_ref']}; it pads to 32768) | {h['ours_2'] / h['ref']:.0f}x |",
        f"| HVSR, same n_fft = 32768 as hvsrpy | {h['ours_2_same_nfft']:.0f} | hvsrpy {h['ref']:.1f} | "
        f"{h['ours_2_same_nfft'] / h['ref']:.0f}x |",
        "",
        f"RotD50 for {r['n']} records took {r['t_ours_2']:.1f} s with 2 threads; pyrotd needed "
        f"{r['t_ref'] / r['n_ref']:.2f} s per record. CPU time per record (process time, less "
        f"sensitive to the other users of the machine): quakesynth {r['cpu_ours_1'] * 1e3:.1f} ms "
        f"(1 thread), pyrotd {r['cpu_ref']:.2f} s, a ratio of {r['cpu_ref'] / r['cpu_ours_1']:.0f}. "
        "With the machine saturated by other jobs a second thread brings little; on an idle "
        "2-core machine the records split evenly over both cores. "
        f"Median |pyrotd / ours - 1| over 0.1-5 s on these "
        f"windows: {r['median_abs_rel_0.1_5'] * 100:.2f} %. HVSR with hvsrpy's n_fft agrees to "
        f"{h['max_rel_diff']:.1e} (relative). The Kristekova values equal tf_misfit's (asserted in the run).",
        "",
        "## Agreement with pyrotd by period band (PSA, single component, NS of every record)",
        "",
        "pyrotd / quakesynth - 1: median and largest absolute value over the records.",
        "",
        "| input | " + " | ".join(next(iter(res["agreement"].values())).keys()) + " |",
        "|---|" + "---|" * len(next(iter(res["agreement"].values()))),
    ]
    for label, bands in res["agreement"].items():
        lines.append(f"| {label} | " + " | ".join(f"{m * 100:+.1f} % (max {a * 100:.1f} %)" for m, a in bands.values()) + " |")
    whole = res["agreement"]["whole record + 20 s zeros"]
    lines += [
        "",
        "Why they differ:",
        "",
        "- Short periods (T < 0.1 s, oscillator frequencies within a factor 2-5 of Nyquist): quakesynth solves",
        "  the oscillator exactly for the piecewise-linear excitation through the samples (Nigam & Jennings), the",
        "  time-domain convention of engineering practice. pyrotd works in the frequency domain with the",
        "  band-limited (sinc) interpolation of the samples and zero-pads the spectrum up to 5x the oscillator",
        "  frequency. Linear interpolation attenuates the excitation by sinc^2(f/fs) (0.8 % at 20 samples per",
        "  cycle, 19 % at 5), and the band-limited signal has peaks between samples, so pyrotd is higher",
        "  below 0.1 s (median 1-2 %, up to about 14 % on single records); as T -> 0 both tend to a PGA,",
        "  of the sampled (ours) or of the band-limited signal (pyrotd).",
        "- Long periods (T > 5 s): pyrotd multiplies DFTs, i.e. a circular convolution over the record length",
        "  without padding. The oscillator's response (decay time 1/(zeta omega) = 16 s at 5 s, 32 s at 10 s) is",
        "  still ringing at the end of the record and wraps around onto its start, and the transfer function",
        "  (half-power bandwidth 2 zeta f = 0.01-0.02 Hz) is sampled at the DFT resolution 1/(N dt). On 41-s",
        "  windows cut around the strong motion this changes long-period PSA by tens of percent; on whole",
        "  records with quiet tails and extra zeros it is a few percent. quakesynth starts the oscillator",
        "  at rest and integrates causally over the given window (no wrap-around).",
        "- 0.1-5 s: both are accurate; the residual differences are the discretisations above (median",
        f"  {whole['0.1-5 s'][0] * 100:.1f} %, at most {whole['0.1-5 s'][1] * 100:.1f} % over these records; "
        "< 3 % asserted in tests/test_metrics_response.py on",
        "  two whole records, single component and RotD50).",
        "",
        "Accuracy of quakesynth against a converged reference (scipy first-order-hold discretisation, 200",
        "points per period, tests/test_metrics_response.py): within 0.3 % on real records for 0.01-10 s",
        "(default 32 evaluation points per period; worst case 1 - cos(pi/32) = 0.5 % for a pure sinusoid).",
        "",
        "## How the speed is obtained",
        "",
        "- Exact Nigam-Jennings recurrence in a compiled (numba) kernel that advances 8 traces side by side",
        "  (vectorised), releases the GIL and runs chunks of records on all cores (threads).",
        "- The peak between samples is searched at r - 1 interior points per sample interval (closed form from",
        "  the state at the interval start), only in intervals whose analytic bound (particular + homogeneous",
        "  amplitude) can exceed the running peak.",
        "- RotD: only trajectory points with norm >= R cos(46 deg) can set the needed order statistics (exact,",
        "  see quakesynth.metrics._sdof); a cheap lower bound from every 8th point raises that level further",
        "  before the 180-angle loop.",
        "- Kristekova: the Morlet wavelet bank is computed once per (length, fs, frequencies) and cached; each",
        "  signal is transformed once for both EG and PG (tf_misfit recomputes the bank and both transforms",
        "  in every call: 4 transforms per eg + pg), with FFTs of length ~3n instead of 4n (the same linear",
        "  convolution), batched on all cores. The inverse FFTs remain the cost, so the gain is bounded",
        "  by the FFT count (about 5x) times the FFT length and threading.",
        "- HVSR: the same FFT as hvsrpy at the same length (the cost at n_fft = 32768); the gain comes from",
        "  vectorised detrending and tapering, and the smoothing as one sparse product. hvsrpy always",
        "  zero-pads to at least 32768 points; the default here is the next power of two of the record.",
        "- Konno-Ohmachi smoothing is one sparse matrix product with a cached weight matrix.",
    ]
    with atomic_path(args.out, overwrite=True) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
