"""Where the broadband level above fc comes from, judged record by record on real data (issue 17).

``quakesynth refine`` (``hf_level="scenario"``) sets the smoothed spectrum of its output above ``fc``
to ``log10 A(f) = log10 S(f) + rho(f) delta``
(:func:`quakesynth.physics.broadband.anchor_high_frequencies`): ``S`` the scenario's median
spectrum, ``delta`` the input's mean log deviation from it in [0.5 fc, 0.8 fc] and ``rho`` the
Baker & Jayaram (2008) correlation. Its band bias on a real record is therefore close to
``rho_b delta - r_b``, with ``r_b`` the record's mean log residual ``log10 (Y / S)`` in the band
and ``rho_b`` the band's mean correlation. This script measures, per band (1-2, 2-5, 5-10,
10-20 Hz), over the K-NET/KiK-net records and the PEER AT2 pairs of ``../shared/data``:

- ``bias`` / ``|bias|``: the mean and the mean absolute value of ``rho_b delta - r_b``;
- ``floor``: the mean absolute deviation of that bias about its mean over the set. It is what the
  same anchor would score after the best constant correction per band chosen on these very
  records (an oracle), i.e. the record-to-record scatter no scenario-level anchor removes;

for two anchors ``S``: the stochastic simulator's median (the shipped one,
:func:`quakesynth.physics.broadband.scenario_log_fas`) and, where ``pygmm`` is installed, the
Bayless & Abrahamson (2019) EAS model (NGA-West2 active crust; horizontal components, Rrup of
the finite-rupture approximation of :mod:`quakesynth.gmm.distance`). With ``--report`` (a
``bench_broadband.py`` ``report.json``) it also gives the same three numbers from the refiner's
measured per-record band biases.

    python benchmarks/bench_broadband_anchor.py --scenarios benchmarks/peer_scenarios.csv \
        --report /tmp/bb/report.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_broadband, also when loaded by the tests
from bench_broadband import SHARED, fixture_records, knet_records, with_scenarios  # noqa: E402

from quakesynth.physics.broadband import BroadbandConfig  # noqa: E402

FC = 1.0
FS = 100.0
BANDS = ((1.0, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 20.0))
G_MPS2 = 9.80665
KEEP = BroadbandConfig().keep_fraction  # the refiner's: delta is taken in [0.5 fc, KEEP fc]


def ba19_log_eas(row, centres) -> np.ndarray:
    """log10 EAS (m/s) of Bayless & Abrahamson (2019) at ``centres`` (Hz) for one scenario row
    (magnitude, hypocentral distance km, Vs30 m/s, depth km, ...), strike-slip."""
    import pygmm

    from quakesynth.gmm.distance import rhyp_to_rrup, rupture_dimensions

    M, R, vs30, depth = (float(v) for v in row[:4])
    _, W = rupture_dimensions(M)
    ztor = float(max(depth - float(W) / 2.0, 0.0))
    rrup = float(rhyp_to_rrup(R, depth, M, method="finite"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pygmm warns for inputs outside its range; they are clipped below
        s = pygmm.Scenario(mag=float(np.clip(M, 3.0, 8.0)), dist_rup=min(rrup, 300.0),
                           v_s30=float(np.clip(vs30, 180.0, 1500.0)), depth_tor=min(ztor, 20.0), mechanism="SS")
        m = pygmm.BaylessAbrahamson2019(s)
    log_eas = np.asarray(m.ln_eas) / np.log(10.0) + np.log10(G_MPS2)  # g s -> m/s
    return np.interp(np.log(centres), np.log(np.asarray(m.freqs)), log_eas)


def band_residuals(rec, anchors: dict) -> dict[str, np.ndarray]:
    """Per anchor: (N, 1 + B) mean log10 residual of the record's smoothed FAS (horizontal
    components, or all where it has no horizontal) against the anchor, in [0.5 fc, 0.8 fc] and
    in each band."""
    from quakesynth.data.preprocess import resample
    from quakesynth.metrics.spectra import smoothed_log_fas
    from quakesynth.physics.broadband import simulator_table, smoothing_centres

    x = np.asarray(rec.data, np.float64)
    if not np.isclose(rec.fs, FS):
        x = resample(x, rec.fs, FS)
    centres = smoothing_centres(FS, FC)
    log_y = smoothed_log_fas(x, FS, centres)  # (N, C, F)
    horiz = [i for i, c in enumerate(rec.components) if c != "Z"] or list(range(len(rec.components)))
    table = simulator_table(rec)
    sel = [(centres >= 0.5 * FC) & (centres <= KEEP * FC)] + [(centres >= lo) & (centres <= hi) for lo, hi in BANDS]
    out = {}
    for name, fn in anchors.items():
        log_s = fn(rec, table, centres)  # (N, F) horizontal anchor
        r = log_y[:, horiz].mean(axis=1) - log_s
        out[name] = np.stack([r[:, s].mean(axis=-1) for s in sel], axis=-1)
    return out


def simulator_anchor(rec, table, centres):
    from quakesynth.generate.stochastic import StochasticGenerator
    from quakesynth.physics.broadband import component_channels, scenario_log_fas

    gen = StochasticGenerator()
    comps = "".join(c for c in rec.components if c != "Z") or rec.components
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PEER's 12 are taken as the simulator's horizontals, as refine does
        comps = "".join(gen.components[j] for j in component_channels(comps, gen.components))
    return scenario_log_fas(table, FS, comps, centres, seeds=list(range(len(table))), generator=gen).mean(axis=1)


def ba19_anchor(rec, table, centres):
    return np.stack([ba19_log_eas(row, centres) for row in table])


def band_rho() -> np.ndarray:
    from quakesynth.gmm.correlation import baker_jayaram_2008

    f_ref = np.sqrt(0.5 * KEEP) * FC  # as anchor_high_frequencies
    return np.array([baker_jayaram_2008(1.0 / f_ref, 1.0 / np.geomspace(lo, hi, 32)).mean() for lo, hi in BANDS])


def summary(bias: np.ndarray) -> dict[str, list[float]]:
    """``bias`` (M, B): mean, mean |.|, and the mean |. - mean| (the oracle floor)."""
    bias = bias[np.isfinite(bias).all(axis=1)]
    return {"bias": bias.mean(0).tolist(), "absbias": np.abs(bias).mean(0).tolist(),
            "floor": np.abs(bias - bias.mean(0)).mean(0).tolist(), "n": int(len(bias))}


def measured(report: dict, source: str, method: str = "refiner (hf_level scenario)") -> np.ndarray:
    rows = []
    for res in report["sources"][source].values():
        r = res.get(method, {})
        if "per_record" in r:
            rows += np.asarray(r["per_record"]["fas"], np.float64).reshape(-1, len(BANDS)).tolist()
    return np.asarray(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=str(Path(__file__).with_name("peer_scenarios.csv")))
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--report", default=None, help="bench_broadband.py report.json: its measured per-record biases")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    import pandas as pd

    anchors = {"simulator median": simulator_anchor}
    try:
        import pygmm  # noqa: F401

        anchors["BA19 EAS"] = ba19_anchor
    except ImportError:
        print("pygmm is not installed: the BA19 anchor is skipped (pip install pygmm)")
    shared = Path(args.shared)
    table = pd.read_csv(args.scenarios).set_index("trace_name")
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"K-NET/KiK-net": [knet_records(shared, Path(tmp))],
                "PEER AT2": [with_scenarios(r, table) for r in fixture_records(shared)["PEER AT2"]]}
    rho = band_rho()
    result = {"rho": rho.tolist()}
    lines = [f"band-mean Baker & Jayaram rho: {' / '.join(f'{v:.2f}' for v in rho)}", "",
             "| records | anchor | n | bias 1-2 / 2-5 / 5-10 / 10-20 Hz | mean abs bias | floor (oracle shift) |",
             "| --- | --- | ---: | --- | --- | --- |"]
    fmt = " / ".join
    for sname, recs in sets.items():
        res = [band_residuals(r, anchors) for r in recs]
        for aname in anchors:
            r = np.concatenate([x[aname] for x in res])
            s = summary(rho * r[:, :1] - r[:, 1:])
            result[f"{sname}: {aname}"] = s
            lines.append(f"| {sname} | {aname} (predicted) | {s['n']} | {fmt(f'{v:+.2f}' for v in s['bias'])} | "
                         f"{fmt(f'{v:.2f}' for v in s['absbias'])} | {fmt(f'{v:.2f}' for v in s['floor'])} |")
        if args.report:
            s = summary(measured(json.loads(Path(args.report).read_text()), sname))
            result[f"{sname}: refiner measured"] = s
            lines.append(f"| {sname} | refiner, measured (records x components) | {s['n']} | "
                         f"{fmt(f'{v:+.2f}' for v in s['bias'])} | {fmt(f'{v:.2f}' for v in s['absbias'])} | "
                         f"{fmt(f'{v:.2f}' for v in s['floor'])} |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
