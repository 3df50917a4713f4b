"""Issue 18 diagnosis: where does the default model lose the magnitude-distance scaling?

Inference only, few waveforms, fixed seeds (each part takes 1-3 CPU-minutes on one thread).
RotD50 PGA of the two horizontals throughout; "simulator" is ``load_model("stochastic")``.

``roundtrip``  simulator records (``--n`` per scenario, M 4.5-7.0 at 30 km and M 4.5 at 100 km)
               through the model's own parts: (a) phase retrieval alone (log-spectrogram ->
               Griffin-Lim as the generator runs it), (b) VAE encode (posterior mean) - decode -
               Griffin-Lim. Median PGA ratio to the input record, and the largest
               representation value of the inputs (the [-1, 1] scaling maps |S| = e^3 to 1).
``conditioning`` the model's median PGA against the simulator's along magnitude (30 km) and
               distance (M 5.5), and the slope d log10 PGA / dM and / d log10 R of both; the
               same with classifier-free guidance scales ``--guidance``.
``teacher``    a mini corpus (``--events`` x 5 stations, corpus seed 0, the corpus code) against
               the simulator at the same five conditioning variables, and the decomposition of
               the difference: the corpus's own parameters with new noise seeds; its event terms
               with freshly drawn sites; its sites with freshly drawn event terms; and the
               generator's draws with resonant layers enabled. Mean log10 PGA differences.
``amplitude``  the amplitude model of ``amplitude.mode: peak`` on a training-design mini corpus
               (``--events`` x 5 records, uniform M, log-uniform R): fitted on 80 % of the
               events, residual bias by magnitude and distance bin and spread on the other 20 %.
``amplitude-grid`` the shipped amplitude model alone: its mean log10 peak per component at each
               cell of the scaling grid (M 4.5-7.0 x 15-120 km, Vs30 400, depth 10) against
               the mean of ``--n`` teacher records (the simulator drawn as its corpus draws).
``pgv-spread`` within one scenario (M 5, 30 km and M 6.5, 60 km; ``--n`` waveforms): mean and sd
               of log10 PGA, PGV and PGV / PGA (mean of the horizontals) of the teacher and of
               each ``--models`` entry (``PATH`` or ``PATH@w`` for guidance w).
``classifier`` the evaluation classifier ``--classifier`` on ``--n`` test-split records of
               ``--data`` and on each ``--models`` entry's waveforms for the same conditions:
               accuracy, and the accuracy of the magnitude bin and of the distance bin alone.
               ``recon:gl[@PATH]`` and ``recon:vae[@PATH]`` entries put the test records themselves
               through the model's phase retrieval (and VAE round trip), true peaks restored:
               the accuracy the latent design allows before any diffusion. Any entry may end in
               ``+speckle`` / ``-speckle`` (the decoded spectrogram's speckle on / off).
``s-onset``    the S onset of ``--n`` test-split records of ``--data`` and of each ``--models``
               entry's waveforms for the same conditions, picked alike (the first time after
               P + 1 s at which the 0.5-s mean horizontal energy reaches 30 % of its maximum),
               minus the record's catalogue S pick: median and interquartile range per 25-km
               bin of hypocentral distance (the classifier's bins). The data's row is the
               picker's own error; a generator should match it, not zero.

Example (one thread, a training running beside it)::

    OMP_NUM_THREADS=1 python benchmarks/bench_default_diagnosis.py roundtrip --n 8
    OMP_NUM_THREADS=1 python benchmarks/bench_default_diagnosis.py conditioning --n 8 --guidance 1 2 4
    OMP_NUM_THREADS=1 python benchmarks/bench_default_diagnosis.py teacher --events 60
    OMP_NUM_THREADS=1 python benchmarks/bench_default_diagnosis.py amplitude --events 200
    OMP_NUM_THREADS=1 python benchmarks/bench_default_diagnosis.py amplitude-grid --n 128
    OMP_NUM_THREADS=1 python benchmarks/bench_default_diagnosis.py pgv-spread --n 48 --models default
    OMP_NUM_THREADS=1 python benchmarks/bench_default_diagnosis.py classifier --n 300 --models default \
        --data runs/corpus-even-bssa14 --classifier runs/classifier-default-2/model
    OMP_NUM_THREADS=2 python benchmarks/bench_default_diagnosis.py s-onset --n 300 --models default \
        --data runs/corpus-even-bssa14
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

G = 9.80665
BASE = {"vs30": 400.0, "depth": 10.0, "gap": 120.0}


def rotd50_pga(data: np.ndarray, components: str = "ZNE") -> np.ndarray:
    """RotD50 PGA (N,) in g of (N, 3, T) records in m/s^2."""
    from quakesynth.metrics.peaks import rotd50

    h1, h2 = components.index("N"), components.index("E")
    return np.asarray(rotd50(data[:, h1].astype(np.float64), data[:, h2].astype(np.float64))).reshape(-1) / G


def roundtrip(args: argparse.Namespace) -> dict:
    import torch

    import quakesynth

    gen = quakesynth.load_model(args.model)
    sim = quakesynth.load_model("stochastic")
    rows = []
    for m, r in ((4.5, 30.0), (5.5, 30.0), (6.5, 30.0), (7.0, 30.0), (4.5, 100.0)):
        rec = sim.generate(magnitude=m, distance=r, **BASE, n=args.n, seed=args.seed)
        x = gen.fit_length(rec.data)[..., :gen.spectrogram.n_samples]
        seeds = list(range(len(x)))
        scen = rec.conditioning(gen.variables)
        with torch.inference_mode():
            spec = gen.rep.forward(torch.from_numpy(np.ascontiguousarray(x)))
            gl = gen.invert(spec, seeds, speckle=False, scenario=scen).numpy()
            z = gen.vae.encode(spec)[0]
            vae = gen.invert(gen.decode(z), seeds, scenario=scen).numpy()
        p0, p1, p2 = rotd50_pga(x), rotd50_pga(gl), rotd50_pga(vae)
        rows.append({"magnitude": m, "distance": r, "pga_g": float(np.median(p0)),
                     "gl_ratio": float(np.median(p1 / p0)), "vae_ratio": float(np.median(p2 / p0)),
                     "max_rep": float(spec.max()), "frac_rep_above_1": float((spec > 1).float().mean())})
    return {"part": "roundtrip", "rows": rows}


def _median(gen, n, seed, **scenario) -> float:
    rec = gen.generate(**scenario, n=n, seed=seed, allow_extrapolation=True)
    return float(np.median(rotd50_pga(rec.data, rec.components)))


def conditioning(args: argparse.Namespace) -> dict:
    import quakesynth

    sim = quakesynth.load_model("stochastic")
    mags, dists = (4.5, 5.5, 6.5, 7.0), (15.0, 30.0, 60.0, 120.0)
    out = {"part": "conditioning", "magnitudes": mags, "distances": dists,
           "sim_m": [_median(sim, args.n, args.seed, magnitude=m, distance=30.0, **BASE) for m in mags],
           "sim_r": [_median(sim, args.n, args.seed, magnitude=5.5, distance=r, **BASE) for r in dists], "model": []}
    for w in args.guidance:
        gen = quakesynth.load_model(args.model, guidance=float(w))
        out["model"].append({"guidance": w,
                             "m": [_median(gen, args.n, args.seed, magnitude=m, distance=30.0, **BASE) for m in mags],
                             "r": [_median(gen, args.n, args.seed, magnitude=5.5, distance=r, **BASE) for r in dists]})

    def slope(x, y):
        return float(np.polyfit(np.asarray(x, float), np.log10(np.asarray(y)), 1)[0])

    out["sim_slope_m"], out["sim_slope_logr"] = slope(mags, out["sim_m"]), slope(np.log10(dists), out["sim_r"])
    for row in out["model"]:
        row["slope_m"], row["slope_logr"] = slope(mags, row["m"]), slope(np.log10(dists), row["r"])
    return out


def teacher(args: argparse.Namespace) -> dict:
    import quakesynth
    from quakesynth.simulate import stochastic as st
    from quakesynth.simulate.corpus import load_corpus_config, record_seed, sample_event
    from quakesynth.simulate.site import draw_site_parameters, make_station_table

    cfg, sim_cfg = load_corpus_config(None)
    stations = make_station_table(sim_cfg.stations, seed=args.seed)
    k = 5
    events = [sample_event(i, args.seed, stations, k, cfg, sim_cfg) for i in range(args.events)]
    rows = [(ev, j, int(s)) for ev in events for j, s in enumerate(ev["stations"])]
    sta = stations.iloc[[s for _, _, s in rows]].reset_index(drop=True)
    site_cols = ("kappa0_s", "site_term_low", "site_term_mid", "site_term_high", "f0_hz", "impedance_ratio",
                 "damping", "noise_rms_mps2")
    corpus = {"magnitude": np.array([ev["magnitude"] for ev, _, _ in rows]),
              "distance": np.array([ev["distance"][j] for ev, j, _ in rows]),
              "depth": np.array([ev["depth"] for ev, _, _ in rows]), "vs30": sta["vs30_mps"].to_numpy(),
              "stress_drop_bar": np.array([ev["stress_drop_bar"] for ev, _, _ in rows]),
              "back_azimuth": np.array([ev["back_azimuth"][j] for ev, j, _ in rows]),
              **{c: sta[c].to_numpy() for c in site_cols}}
    seeds = np.array([record_seed(args.seed, ev["index"], j) for ev, j, _ in rows], dtype=np.int64)
    gap = np.array([ev["gap"] for ev, _, _ in rows])

    def pga(params, s):
        parts = [st.simulate({kk: v[i:i + 32] for kk, v in params.items()}, s[i:i + 32], sim_cfg)
                 for i in range(0, len(s), 32)]
        return np.log10(rotd50_pga(np.concatenate(parts), sim_cfg.waveform.components))

    new = seeds + 7_000_003
    drawn = st.draw_record_parameters(corpus["magnitude"], corpus["distance"], corpus["depth"], corpus["vs30"],
                                      new, sim_cfg)
    with_layers = dict(drawn)
    rng = np.random.default_rng(args.seed + 1)
    lay = draw_site_parameters(rng, corpus["vs30"], sim_cfg.stations)
    for c in ("f0_hz", "impedance_ratio", "damping"):
        with_layers[c] = lay[c]
    variants = {
        "corpus (as written)": pga(corpus, seeds),
        "corpus parameters, new noise": pga(corpus, new),
        "corpus event terms, drawn sites (no layer)": pga({**corpus, **{c: drawn[c] for c in site_cols}}, new),
        "corpus sites, drawn event terms": pga({**corpus, "stress_drop_bar": drawn["stress_drop_bar"]}, new),
        "drawn (= load_model('stochastic'))": pga(drawn, new),
        "drawn, resonant layers as the network": pga(with_layers, new),
    }
    gen = quakesynth.load_model("stochastic")
    import pandas as pd

    table = pd.DataFrame({"magnitude": corpus["magnitude"], "distance": corpus["distance"],
                          "vs30": corpus["vs30"], "depth": corpus["depth"], "gap": gap})
    rec = gen.generate_table(table, seed=args.seed + 5, allow_extrapolation=True)
    variants["load_model('stochastic').generate_table"] = np.log10(rotd50_pga(rec.data, rec.components))
    ref = variants["corpus (as written)"]
    has_layer = np.isfinite(corpus["f0_hz"])
    out = {"part": "teacher", "records": int(len(seeds)), "frac_resonant": float(has_layer.mean()),
           "variants": {k: {"bias_vs_corpus": float(np.mean(v - ref)), "mean": float(np.mean(v)),
                            "sd": float(np.std(v))} for k, v in variants.items()}}
    d = variants["drawn (= load_model('stochastic'))"] - ref
    out["drawn_bias_on_resonant"] = float(d[has_layer].mean())
    out["drawn_bias_on_other"] = float(d[~has_layer].mean())
    return out


def amplitude(args: argparse.Namespace) -> dict:
    import torch

    from quakesynth.models.amplitude import AmplitudeConfig, fit_amplitude_model, normalise_peaks
    from quakesynth.models.conditioning import Conditioning, ConditioningConfig
    from quakesynth.records import Records
    from quakesynth.simulate.corpus import iter_corpus, load_corpus_config

    cfg, sim = load_corpus_config(None, ["corpus.magnitude_distribution=uniform",
                                         "corpus.distance_distribution=log-uniform", "corpus.offshore_margin_km=50"])
    rec = Records.concat(list(iter_corpus(args.events, 5, seed=args.seed + 3, cfg=cfg, sim=sim)))
    ccfg = ConditioningConfig()
    table = rec.conditioning(ccfg.variables)
    _, a = normalise_peaks(rec.data, 0.1)
    ev = rec.metadata["source_id"].to_numpy()
    uev = np.unique(ev)
    held = set(np.random.default_rng(args.seed).choice(uev, len(uev) // 5, replace=False))
    te = np.array([e in held for e in ev])
    cn = Conditioning.fit(table[~te], ccfg)
    c = cn(table)
    model, fit = fit_amplitude_model(c[~te], a[~te], AmplitudeConfig(mode="peak"), seed=args.seed,
                                     c_val=c[te], a_val=a[te])
    with torch.no_grad():
        mu, L = model(torch.from_numpy(c))
    res = a - mu.numpy()
    cov = (L @ L.transpose(1, 2)).numpy()
    m, r = table[:, ccfg.variables.index("magnitude")], table[:, ccfg.variables.index("distance")]
    out = {"part": "amplitude", "records": int(len(a)), "test_records": int(te.sum()), "fit": fit,
           "params": int(sum(p.numel() for p in model.parameters())),
           "test_residual_sd": res[te].std(0).tolist(), "data_sd": a[te].std(0).tolist(),
           "model_sd": np.sqrt(np.diagonal(cov, axis1=1, axis2=2))[te].mean(0).tolist(),
           "by_magnitude": [], "by_distance": []}
    for lo, hi in ((4, 5), (5, 6), (6, 7), (7, 7.6)):
        k = te & (m >= lo) & (m < hi)
        out["by_magnitude"].append({"bin": [lo, hi], "n": int(k.sum()), "bias": res[k].mean(0).tolist()})
    for lo, hi in ((0, 30), (30, 60), (60, 120), (120, 201)):
        k = te & (r >= lo) & (r < hi)
        out["by_distance"].append({"bin": [lo, hi], "n": int(k.sum()), "bias": res[k].mean(0).tolist()})
    return out


def _teacher():
    import quakesynth

    return quakesynth.load_model("stochastic", event_term=True, site_resonance=True)


def _load(entry: str):
    """A model from ``PATH``, ``PATH@w`` (classifier-free guidance w), ``PATH@w:lo:hi`` (guidance
    at noise levels lo < sigma <= hi only), and any of them with a
    ``+speckle`` or ``-speckle`` suffix (the decoded spectrogram's speckle forced on or off)."""
    import quakesynth

    kwargs = {}
    for flag, value in (("+speckle", True), ("-speckle", False)):
        if entry.endswith(flag):
            entry, kwargs["speckle"] = entry.removesuffix(flag), value
    base, _, w = entry.partition("@")
    if w:  # w or w:lo:hi (guidance only at noise levels lo < sigma <= hi)
        w, *interval = w.split(":")
        kwargs["guidance"] = float(w)
        if interval:
            kwargs["guidance_sigma_min"], kwargs["guidance_sigma_max"] = map(float, interval)
    return quakesynth.load_model(base, **kwargs)


def amplitude_grid(args: argparse.Namespace) -> dict:
    import torch

    from quakesynth.models.amplitude import log_peaks

    model, sim = _load(args.model), _teacher()
    if model.amplitude is None or model.amplitude.shape_features:
        raise SystemExit("amplitude-grid needs a model with a shape-blind amplitude model (mode peak, shape none)")
    cells = []
    for i, (m, r) in enumerate((m, r) for m in (4.5, 5.0, 5.5, 6.0, 6.5, 7.0) for r in (15.0, 30.0, 60.0, 120.0)):
        sc = {"magnitude": m, "distance": r, "vs30": 400.0, "depth": 10.0, "gap": 120.0}
        lp = log_peaks(sim.generate(**sc, n=args.n, seed=args.seed + 1000 * i).data.astype(np.float64))
        with torch.no_grad():
            mu, _ = model.amplitude(model.normalise(np.array([[sc[v] for v in model.conditioning.variables]])).float())
        cells.append({"magnitude": m, "distance": r, "teacher_mean": lp.mean(0).tolist(),
                      "model_mean": mu[0].tolist(), "diff": (mu[0].numpy() - lp.mean(0)).tolist()})
    d = np.array([c["diff"] for c in cells]).mean(1)
    return {"cells": cells, "mean_diff": float(d.mean()), "sd_diff": float(d.std()),
            "frac_within_log10_1.25": float(np.mean(np.abs(d) <= np.log10(1.25)))}


def pgv_spread(args: argparse.Namespace) -> dict:
    from quakesynth.metrics.peaks import pga, pgv

    gens = {"teacher": _teacher(), **{e: _load(e) for e in args.models}}
    rows = []
    for m, r in ((5.0, 30.0), (6.5, 60.0)):
        for name, gen in gens.items():
            rec = gen.generate(magnitude=m, distance=r, vs30=400.0, depth=10.0, gap=120.0, n=args.n,
                               seed=args.seed + 5, allow_extrapolation=True)
            x = rec.data[:, 1:].astype(np.float64)  # the horizontals (ZNE)
            la = np.log10(pga(x)).mean(1)
            lv = np.log10(pgv(x, rec.fs)).mean(1)
            rows.append({"magnitude": m, "distance": r, "source": name,
                         **{f"{k}_{q}": float(f(v)) for k, v in (("pga", la), ("pgv", lv), ("ratio", lv - la))
                            for q, f in (("mean", np.mean), ("sd", np.std))}})
    return {"rows": rows}


def classifier(args: argparse.Namespace) -> dict:
    from quakesynth.evaluate.classifier import ClassifierAdapter

    if not (args.data and args.classifier):
        raise SystemExit("classifier needs --data STORE and --classifier MODEL_DIR")
    clf = ClassifierAdapter.load(args.classifier)
    sub = _test_subset(args.data, args.n, args.seed)
    md = sub.metadata.reset_index(drop=True)
    y = clf.labels(md)
    ok, nd = y >= 0, len(clf.dist_bins) - 1

    def score(pred):
        p, t = pred[ok], y[ok]
        return {"accuracy": float(np.mean(p == t)), "magnitude_bin_accuracy": float(np.mean(p // nd == t // nd)),
                "distance_bin_accuracy": float(np.mean(p % nd == t % nd)),
                "mean_magnitude_bin_offset": float(np.mean(p // nd - t // nd)),
                "mean_distance_bin_offset": float(np.mean(p % nd - t % nd))}

    out = {"n": int(ok.sum()), "data": score(clf.embed_predict(sub)[1])}
    for e in args.models:
        if e.startswith("recon:"):  # the test records themselves through the model's parts: the design's ceiling
            stage, _, path = e.removeprefix("recon:").partition("@")
            out[e] = score(clf.embed_predict(_reconstruct(_load(path or "default"), sub, stage, args.seed))[1])
            continue
        gen = _load(e)
        out[e] = score(clf.embed_predict(gen.generate_table(md, seed=args.seed + 1, allow_extrapolation=True))[1])
    return out


def _test_subset(data: str, n: int, seed: int):
    """``n`` records of the test split of ``data``, drawn without replacement with ``seed``, in store order."""
    from quakesynth.train.data import read_split

    rec = read_split(data, "test")
    return rec[np.sort(np.random.default_rng(seed).choice(len(rec), min(n, len(rec)), replace=False))]


def s_onset_times(x: np.ndarray, fs: float, p_time: float, frac: float = 0.3) -> np.ndarray:
    """S onset (N,) in s after the trace start of ``x`` (N, 3, T) ZNE: the first time after
    ``p_time + 1`` s at which the 0.5-s running mean of the horizontal energy reaches ``frac``
    of its maximum over the trace."""
    from scipy.ndimage import uniform_filter1d

    e = uniform_filter1d((x[:, 1:].astype(np.float64) ** 2).sum(1), max(1, int(round(0.5 * fs))), axis=-1)
    e /= np.maximum(e.max(-1, keepdims=True), 1e-300)
    i0 = int(round((p_time + 1.0) * fs))
    return (i0 + np.argmax(e[:, i0:] >= frac, axis=-1)) / fs


def s_onset(args: argparse.Namespace) -> dict:
    if not args.data:
        raise SystemExit("s-onset needs --data STORE (with trace_p/s_arrival_sample picks)")
    sub = _test_subset(args.data, args.n, args.seed)
    md = sub.metadata.reset_index(drop=True)
    t_s = md["trace_s_arrival_sample"].to_numpy(np.float64) / sub.fs
    p_time = float(np.nanmedian(md["trace_p_arrival_sample"].to_numpy(np.float64))) / sub.fs
    r = md["path_hyp_distance_km"].to_numpy(np.float64)
    edges = [0.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0]
    sets = {"data": sub.select_components("ZNE").data}
    for e in args.models:
        sets[e] = _load(e).generate_table(md, seed=args.seed + 1, allow_extrapolation=True).select_components("ZNE").data
    out = {"n": len(md), "p_time_s": p_time, "bins_km": edges, "rows": []}
    for name, x in sets.items():
        err = s_onset_times(x, sub.fs, p_time) - t_s
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (r >= lo) & (r < hi) & np.isfinite(err)
            q25, q50, q75 = np.percentile(err[m], [25, 50, 75]) if m.any() else (np.nan,) * 3
            out["rows"].append({"source": name, "distance_km": [lo, hi], "n": int(m.sum()),
                                "median_error_s": float(q50), "iqr_s": float(q75 - q25)})
    return out


def _reconstruct(gen, rec, stage: str, seed: int):
    """``rec`` (Records) through the model's own parts, the true peaks put back per component:
    ``gl`` log-spectrogram -> Griffin-Lim; ``vae`` log-spectrogram -> VAE encode (posterior mean)
    -> decode -> Griffin-Lim. A model with ``amplitude.mode: peak`` sees peak-normalised shapes,
    as in training."""
    import torch

    from quakesynth.models.amplitude import log_peaks, normalise_peaks, rescale_peaks
    from quakesynth.train.data import waveforms

    if stage not in ("gl", "vae"):
        raise SystemExit(f"recon stage must be gl or vae; got {stage!r}")
    comps = gen.components
    x = waveforms(rec, gen.spectrogram.n_samples, gen.spectrogram.fs, comps)
    amp = gen.config.get("amplitude") or {"mode": "none"}
    shape = normalise_peaks(x, float(amp["reference"]))[0] if amp["mode"] == "peak" else x
    seeds = [seed + 7 + i for i in range(len(x))]
    with torch.inference_mode():
        spec = gen.rep.forward(torch.from_numpy(np.ascontiguousarray(shape)))
        if stage == "vae":
            spec = gen.decode(gen.vae.encode(spec)[0])
        wave = gen.invert(spec, seeds, speckle=None if stage == "vae" else False,
                          scenario=rec.conditioning(gen.variables))
    wave = rescale_peaks(wave, torch.from_numpy(log_peaks(x))).numpy()
    return rec.select_components(comps).replace(data=gen.fit_length(wave)[..., :rec.n_samples])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=["roundtrip", "conditioning", "teacher", "amplitude", "amplitude-grid",
                                    "pgv-spread", "classifier", "s-onset"])
    p.add_argument("--model", default="default")
    p.add_argument("--n", type=int, default=8, help="waveforms per scenario")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0])
    p.add_argument("--events", type=int, default=60, help="teacher, amplitude: events of the mini corpus (5 records each)")
    p.add_argument("--models", nargs="+", default=["default"], help="pgv-spread, classifier, s-onset: PATH or PATH@guidance")
    p.add_argument("--data", help="classifier, s-onset: dataset store (its test split)")
    p.add_argument("--classifier", help="classifier: the evaluation classifier's model folder")
    p.add_argument("--out", help="write JSON here")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    res = {"roundtrip": roundtrip, "conditioning": conditioning, "teacher": teacher,
           "amplitude": amplitude, "amplitude-grid": amplitude_grid, "pgv-spread": pgv_spread,
           "classifier": classifier, "s-onset": s_onset}[args.part](args)
    res["seconds"] = time.perf_counter() - t0
    text = json.dumps(res, indent=1, default=float)
    print(text)
    if args.out:
        from quakesynth._atomic import atomic_path

        with atomic_path(args.out, overwrite=True) as tmp:
            tmp.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
