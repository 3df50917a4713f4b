"""Stage 3 of the evaluation: the self-contained HTML report and the console summary.

Every number shown in an HTML table is a value of ``metrics.json``: each such cell carries
``data-key`` (the JSON path, as a JSON list) and ``data-value`` (the exact value), and shows it
with :func:`fmt` (4 significant digits), so a test (or a reader) can check the page against the
file. Figures are embedded as base64 PNG; the page needs nothing beside itself.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

#: Section ids of the report, in order, with their titles.
SECTIONS: dict[str, str] = {
    "summary": "Summary",
    "envelopes": "Envelopes per magnitude-distance bin (Fig. 3)",
    "log-fas": "Log Fourier amplitude spectra per magnitude-distance bin (Fig. 3)",
    "bias": "Bias of PGA and PGV against distance (Fig. 4)",
    "residuals": "Residuals against the simple GMM (Fig. 5)",
    "duration": "Significant duration against magnitude (Fig. 6)",
    "convergence": "Convergence with the number of realisations (Fig. 7)",
    "scenarios": "Spectral acceleration for scenarios (Figs. 8-9)",
    "model-probability": "Average model probability (eq. 13, Fig. 10)",
    "frechet": "Frechet distances with real-data floors (Table 1, Fig. 11)",
    "classifier": "Classifier accuracy and embedding distance (Table 1)",
    "paired": "Paired records: goodness of fit",
    "hvsr": "HVSR and f0 per station",
    "run": "Run: data, models, timing, configuration",
}

#: Sections a report has only when its models allow them: id -> (title, the section it follows).
OPTIONAL_SECTIONS: dict[str, tuple[str, str]] = {
    "broadband": ("Broadband from low-passed records: FAS and PSA bias, GOF, kept band", "paired"),
    "site": ("Site-specific models: station classifier on HVSR (confusion NCC)", "hvsr"),
}


def report_sections(metrics: dict) -> dict[str, str]:
    """The sections of a report, in order: :data:`SECTIONS` plus each optional section whose
    metrics exist (``metrics["broadband"]`` for a paired model with a low-passed input)."""
    out: dict[str, str] = {}
    for sid, title in SECTIONS.items():
        out[sid] = title
        for oid, (otitle, after) in OPTIONAL_SECTIONS.items():
            if after == sid and oid in metrics:
                out[oid] = otitle
    return out


def fmt(v: Any) -> str:
    """How a number is shown: 4 significant digits; integers as they are; '-' for none."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def lookup(metrics: dict, path: list) -> Any:
    node: Any = metrics
    for p in path:
        node = node[p]
    return node


class Num:
    """A table cell bound to ``metrics.json`` at ``path``."""

    def __init__(self, metrics: dict, *path: Any) -> None:
        self.path = list(path)
        try:
            self.value = lookup(metrics, self.path)
        except (KeyError, IndexError, TypeError):
            self.value = None
            self.path = []

    def html(self) -> str:
        if not self.path or self.value is None:
            return '<td class="num">-</td>'
        key = html.escape(json.dumps(self.path), quote=True)
        return (f'<td class="num" data-key="{key}" data-value="{html.escape(json.dumps(self.value), quote=True)}">'
                f"{fmt(self.value)}</td>")


def table(headers: list[str], rows: list[list[Any]], caption: str = "", collapsed: bool = False) -> str:
    """An HTML table; cells are strings (escaped) or :class:`Num`. ``collapsed`` puts it in a
    closed ``<details>`` element (long tables; the caption is its summary)."""
    out = ['<details><summary>' + html.escape(caption or "table") + f" ({len(rows)} rows)</summary>"] if collapsed else []
    out.append('<table>')
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr></thead><tbody>")
    for row in rows:
        cells = []
        for c in row:
            cells.append(c.html() if isinstance(c, Num) else f"<td>{html.escape(str(c))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if collapsed:
        out.append("</details>")
    return "\n".join(out)


def figure_html(caption: str, fig: Any) -> str:
    """A figure as an embedded PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption, quote=True)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#23395d;color:white;padding:14px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;opacity:.9}
nav{padding:8px 28px;background:#e8edf5;font-size:13px}nav a{margin-right:12px;color:#23395d}
section{background:white;margin:16px 28px;padding:12px 20px;border:1px solid #ddd;border-radius:6px}
h2{font-size:17px;color:#23395d;border-bottom:1px solid #eee;padding-bottom:4px}
table{border-collapse:collapse;font-size:12px;margin:8px 0 14px}caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #ddd;padding:3px 7px}th{background:#f0f3f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:10px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:12px;color:#555}
p.note{font-size:13px;color:#555;font-style:italic}ul{font-size:13px}details{margin:8px 0}summary{cursor:pointer;font-size:13px;font-weight:600}pre{font-size:11px;background:#f6f6f6;padding:8px;overflow:auto}
"""


def _summary_columns(summary: dict) -> list[str]:
    """Every column of the per-source summary rows, in order of first appearance."""
    return list(dict.fromkeys(k for row in summary.values() for k in row))


def _summary_rows(metrics: dict) -> tuple[list[str], list[list[Any]]]:
    s = metrics["summary"]
    cols = _summary_columns(s)
    flags = metrics.get("summary_flags", {})
    rows = [[src, *[flags[src][c] if c in flags.get(src, {}) else Num(metrics, "summary", src, c) for c in cols]]
            for src in s]
    return ["source", *cols], rows


def build_html(metrics: dict, figures: dict[str, list[tuple[str, Any]]], title: str = "quakesynth evaluation") -> str:
    """The report page from the metrics and the figures per section id."""
    run = metrics["run"]
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    sub = (f"data: {run['data']} ({run['n_records']} records) &middot; models: {', '.join(run['models'])} &middot; "
           f"GMMs: {', '.join(run['gmms']) or 'none'} &middot; {run['realizations']} realisations &middot; seed {run['seed']}")
    parts.append(f"<header><h1>{html.escape(title)}</h1><p>{sub}</p></header>")
    sections = report_sections(metrics)
    parts.append("<nav>" + "".join(f'<a href="#{k}">{html.escape(v.split(" (")[0])}</a>' for k, v in sections.items()) + "</nav>")
    body = _sections(metrics)
    for sid, stitle in sections.items():
        content = body.get(sid, "")
        figs = "".join(figure_html(c, f) for c, f in figures.get(sid, []))
        if not content and not figs:
            content = note("nothing to show for this run")
        parts.append(f'<section id="{sid}"><h2>{html.escape(stitle)}</h2>{content}{figs}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _sections(m: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    models = m["run"]["models"]
    # summary
    h, rows = _summary_rows(m)
    out["summary"] = (note("bias: mean log10(model / data) per record; sigma: standard deviation of the residuals "
                           "against the simple GMM fitted to the data (a GMM's own sigma); FD: Frechet distance "
                           "(log-FAS eq. 14, embeddings eq. 15); floor: the same metric between two real samples.")
                      + table(h, rows, "Headline numbers"))
    notes = m["run"].get("notes") or []
    if notes:
        out["summary"] += "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
    # envelopes / log-FAS
    for sid, key in (("envelopes", "envelopes"), ("log-fas", "log_fas")):
        sec = m[key]
        if "per_bin" not in sec:
            out[sid] = note(sec.get("note", ""))
            continue
        rows = []
        for b, be in sec["per_bin"].items():
            for comp in be:
                row: list[Any] = [b, comp, Num(m, key, "per_bin", b, comp, "data", "n")]
                for mod in models:
                    row += [Num(m, key, "per_bin", b, comp, mod, "mean_abs_diff"), Num(m, key, "per_bin", b, comp, mod, "std_diff")]
                rows.append(row)
        hdr = ["M-R bin", "comp.", "n data"] + [x for mod in models for x in (f"{mod} mean |dmu|", f"{mod} d(std)")]
        out[sid] = table(hdr, rows, "Mean absolute difference of the mean log10 curve and mean difference of its "
                                    "standard deviation, model minus data (log10 units)", collapsed=len(rows) > 12)
    # bias
    rows = []
    for im, e in m["bias_distance"].items():
        edges = e["edges_km"]
        for b in range(len(edges) - 1):
            rows.append([im, f"{edges[b]:g}-{edges[b + 1]:g}",
                         *[Num(m, "bias_distance", im, "sources", s, "mean", b) for s in e["sources"]],
                         Num(m, "bias_distance", im, "sources", "data" if "data" in e["sources"] else next(iter(e["sources"])), "n", b)])
        rows.append([im, "all", *[Num(m, "bias_distance", im, "sources", s, "overall_bias") for s in e["sources"]], ""])
    if rows:
        srcs = list(next(iter(m["bias_distance"].values()))["sources"])
        out["bias"] = table(["IM", "R (km)", *srcs, "n"], rows, "Mean bias log10(prediction / data) per distance bin")
    bv = m.get("bias_vs30_source", {})
    if bv.get("ims"):
        vrows = []
        for im, e in bv["ims"].items():
            for c in bv["classes"]:
                vrows.append([im, c, *[Num(m, "bias_vs30_source", "ims", im, s_, c, "mean") for s_ in e],
                              Num(m, "bias_vs30_source", "ims", im, next(iter(e)), c, "n")])
        srcs = list(next(iter(bv["ims"].values())))
        out["bias"] = out.get("bias", "") + table(["IM", "Vs30 source", *srcs, "n"], vrows,
                                                  "Mean bias log10(prediction / data) by how Vs30 was obtained "
                                                  "(station_vs30_source)")
    # residuals
    parts = []
    for title, keys, collapsed in (("PGA and PGV", ("PGA_RotD50", "PGV_RotD50"), False), ("spectral acceleration", None, True)):
        rows = []
        for im, e in m["residuals"].items():
            if (keys is not None) != (im in ("PGA_RotD50", "PGV_RotD50")):
                continue
            if "sources" not in e:
                rows.append([im, e.get("note", ""), "", "", ""])
                continue
            for s in e["sources"]:
                rows.append([im, s, Num(m, "residuals", im, "sources", s, "mean"),
                             Num(m, "residuals", im, "sources", s, "sigma"), Num(m, "residuals", im, "sources", s, "n")])
        if rows:
            parts.append(table(["IM", "source", "mean residual (log10)", "sigma (log10)", "n"], rows,
                               f"Residuals of {title} against the simple GMM log10 IM = c0 + c_M M + c_R log10 Rhyp "
                               "+ c_V log10 Vs30 fitted to the data", collapsed=collapsed))
    refs = sorted({e["reference"] for e in m["residuals"].values() if e.get("reference")})
    if any(not r.startswith("simple GMM") for r in refs):
        parts.insert(0, note("reference of the residuals: " + "; ".join(refs)))
    coef = [(im, e["simple_gmm"]) for im, e in m["residuals"].items() if "simple_gmm" in e]
    if coef:
        names = list(coef[0][1])
        parts.append(table(["IM", *names], [[im, *[Num(m, "residuals", im, "simple_gmm", k) for k in names]]
                                            for im, _ in coef], "Fitted simple GMM (log10 units)"))
    out["residuals"] = "".join(parts)
    # duration
    d = m["duration"]
    if "sources" in d:
        edges = d["edges"]
        rows = [[f"{edges[b]:g}-{edges[b + 1]:g}", *[Num(m, "duration", "sources", s, "median", b) for s in d["sources"]]]
                for b in range(len(edges) - 1)]
        rows.append(["bias log10", *[Num(m, "duration", "sources", s, "bias_log10") for s in d["sources"]]])
        out["duration"] = table(["magnitude", *d["sources"]], rows, "Median D5-95 (s) per magnitude bin")
    else:
        out["duration"] = note(d.get("note", ""))
    # convergence
    c = m["convergence"]
    if c.get("sources"):
        rows = []
        for s, e in c["sources"].items():
            sw = e.get("shapiro_wilk", {})
            rows.append([s, Num(m, "convergence", "sources", s, "n_records"),
                         Num(m, "convergence", "sources", s, "sigma_mean", len(c["n_realizations"]) - 1),
                         Num(m, "convergence", "sources", s, "median_minus_final_rms", 0),
                         Num(m, "convergence", "sources", s, "shapiro_wilk", "W_median") if "W_median" in sw else "-",
                         Num(m, "convergence", "sources", s, "shapiro_wilk", "fraction_p_above_0.05") if "W_median" in sw else "-"])
        out["convergence"] = table(["model", "records", "mean per-record sigma (N realisations)", "RMS median(1)-median(N)",
                                    "Shapiro-Wilk W (median)", "fraction p>0.05"], rows,
                                   f"log10 {c['im']}: convergence and normality over realisations")
    else:
        out["convergence"] = note(c.get("note", "needs models"))
    # scenarios
    parts = []
    for name, e in m["scenarios"].items():
        keys = sorted({k for s in e["sources"].values() for k in s})
        rows = []
        for k in keys:
            for i, x in enumerate(e["values"]):
                row: list[Any] = [k, f"{x:g}"]
                row += [Num(m, "scenarios", name, "sources", s, k, "median", i) for s in e["sources"]]
                row += [Num(m, "scenarios", name, "gmms", g, k, "median", i) for g in e["gmms"]]
                row += [Num(m, "scenarios", name, "data", k, "geometric_mean", i), Num(m, "scenarios", name, "data", k, "n", i)]
                rows.append(row)
        parts.append(table(["IM", e["vary"], *e["sources"], *e["gmms"], "data geo. mean", "n data"], rows,
                           f"{name}: medians (g; PGV cm/s)", collapsed=True))
    out["scenarios"] = "".join(parts) or note("no scenario configured")
    # model probability
    mp = m["model_probability"]
    parts = []
    for im, e in mp.get("ims", {}).items():
        srcs = list(e["sources"])
        ratios = list(e["ratios"])
        rows = []
        for k, label in enumerate(mp["bins"]):
            if e["n"][k] == 0:
                continue
            rows.append([label, Num(m, "model_probability", "ims", im, "n", k),
                         *[Num(m, "model_probability", "ims", im, "sources", s, "per_bin", k) for s in srcs],
                         *[Num(m, "model_probability", "ims", im, "ratios", r, k) for r in ratios]])
        rows.append(["all", "", *[Num(m, "model_probability", "ims", im, "sources", s, "overall") for s in srcs],
                     *["" for _ in ratios]])
        parts.append(table(["M-R bin", "n", *srcs, *[f"ratio {r}" for r in ratios]], rows,
                           f"Average probability density of the observed ln {im} (eq. 13; per unit ln IM)"))
    out["model-probability"] = "".join(parts) or note("no PGA/PGV")
    # frechet
    fr = m["frechet"]
    if fr.get("per_component"):
        srcs = list(next(iter(fr["per_component"].values())))
        rows = [[comp, *[x for s in srcs for x in (Num(m, "frechet", "per_component", comp, s, "eq14"),
                                                   Num(m, "frechet", "per_component", comp, s, "eq15"))]]
                for comp in fr["per_component"]]
        out["frechet"] = (note(f"floor: {fr.get('floor_method')}; feature: {fr.get('feature')}")
                          + (note(fr["floor_note"]) if fr.get("floor_note") else "")
                          + table(["component", *[f"{s} {e}" for s in srcs for e in ("eq.14", "eq.15")]], rows,
                                  "Frechet distance of ln FAS"))
        rows = []
        for b, be in fr["per_bin"].items():
            for comp in fr["per_component"]:
                ce = be.get(comp, {})
                rows.append([b, comp, Num(m, "frechet", "per_bin", b, "n"), *[Num(m, "frechet", "per_bin", b, comp, s) for s in ce]])
        if rows:
            hdr_srcs = list(next(iter(fr["per_bin"].values()))[next(iter(fr["per_component"]))])
            out["frechet"] += table(["M-R bin", "comp.", "n", *hdr_srcs], rows, "Frechet distance (eq. 14) per magnitude-distance bin",
                                    collapsed=len(rows) > 12)
    else:
        out["frechet"] = note(fr.get("note", ""))
    # classifier
    cl = m["classifier"]
    if "accuracy" in cl:
        srcs = sorted(set(cl["accuracy"]) | set(cl["embedding_fd"]), key=lambda s: (s != "data", s == "floor", s))
        rows = [[s, Num(m, "classifier", "accuracy", s), Num(m, "classifier", "embedding_fd", s)] for s in srcs]
        out["classifier"] = note(f"floor: {cl.get('floor_method')}") + table(["source", "accuracy", "embedding FD (eq. 15)"], rows)
    else:
        out["classifier"] = note(cl.get("note", ""))
    # paired
    pa = m["paired"]
    if "note" in pa:
        out["paired"] = note(pa["note"])
    else:
        rows = []
        for s, e in pa.items():
            for k, v in e.items():
                if isinstance(v, dict):
                    rows.append([s, k, Num(m, "paired", s, k, "mean"), Num(m, "paired", s, k, "median")])
        out["paired"] = table(["model", "measure", "mean", "median"], rows,
                              "Kristekova envelope (EG) / phase (PG) GOF, Anderson GOF (0-10) and frequency bias against the reproduced records")
    # broadband (paired models with a low-passed input)
    if "broadband" in m:
        bb = m["broadband"]
        srcs = [s for s in bb if isinstance(bb[s], dict)]
        keys = [k for k in bb[srcs[0]] if k != "psa_bias_per_period"] if srcs else []
        rows = [[k, *[Num(m, "broadband", s, k) for s in srcs]] for k in keys]
        out["broadband"] = (note("each record low-passed at fc (crossover filter), refined, and compared with itself: "
                                 "FAS bias = mean log10(FAS out / FAS record) per band (Konno-Ohmachi b = 40); PSA "
                                 "bias = log10 ratio at 0.05-0.5 s; EG/PG = Kristekova GOF (0-10) from fc to 20 Hz; "
                                 "kept = relative RMS change of the input below 0.8 fc; score: lower is better")
                            + table(["measure", *srcs], rows, "Broadband measures per paired model"))
    # site-specific models
    if "site" in m:
        st = m["site"]
        srcs = [s for s in st if isinstance(st[s], dict)]
        if srcs:
            rows = [[s, Num(m, "site", s, "acc_real"), Num(m, "site", s, "acc_gen"), Num(m, "site", s, "ncc")]
                    for s in srcs]
            out["site"] = (note(f"{st['stations']} stations; classifier trained on {st['n_train']} data records, "
                                f"tested on {st['n_test']} others and on the model's realisation 0 of the same records")
                           + table(["model", "accuracy (data)", "accuracy (model)", "confusion NCC"], rows))
        else:
            out["site"] = note(st.get("note", ""))
    # hvsr
    hv = m["hvsr"]
    if "stations" in hv:
        srcs = ["data", *models]
        rows = [[sta, Num(m, "hvsr", "stations", sta, "n"), *[Num(m, "hvsr", "stations", sta, s, "f0_Hz") for s in srcs]]
                for sta in hv["stations"]]
        out["hvsr"] = table(["station", "records", *[f"f0 {s} (Hz)" for s in srcs]], rows, "f0 of the mean HVSR per station")
        out["hvsr"] += table(["model", "JS similarity of f0 histograms"],
                             [[s, Num(m, "hvsr", "js_similarity_f0", s)] for s in hv["js_similarity_f0"]])
    else:
        out["hvsr"] = note(hv.get("note", ""))
    # run
    run = m["run"]
    rows = [[s, *[Num(m, "run", "timing", s, k) for k in ("waveforms", "generate_s", "generate_cpu_s", "features_s",
                                                          "features_cpu_s")]]
            for s in run["timing"] if s != "total"]
    out["run"] = (table(["source", "waveforms", "generation (s)", "generation CPU (s)",
                         "IMs and features (s, summed over units)", "IMs and features CPU (s)"], rows,
                        "Timing")
                  + table(["stage", "seconds"], [[k, Num(m, "run", "timing", "total", k)] for k in run["timing"]["total"]],
                          "Wall-clock time")
                  + table(["model", "description"], [[k, v.get("description", "") or v.get("name", "")]
                                                      for k, v in run.get("model_info", {}).items()], "Models")
                  + "<pre>" + html.escape(json.dumps(run["config"], indent=1)) + "</pre>")
    return out


def console_summary(metrics: dict) -> str:
    """A fixed-width table of the headline numbers (what ``quakesynth evaluate`` prints)."""
    s = metrics["summary"]
    cols = _summary_columns(s)
    short = {c: c.replace("_RotD50", "").replace("_log10", "").replace("classifier_accuracy", "clf_acc") for c in cols}
    w0 = max(8, *(len(k) for k in s))
    widths = [max(9, len(short[c])) for c in cols]
    lines = ["  ".join([f"{'source':<{w0}}", *[f"{short[c]:>{w}}" for c, w in zip(cols, widths)]])]
    lines.append("-" * len(lines[0]))
    flags = metrics.get("summary_flags", {})
    marks: dict[str, str] = {}
    for src, row in s.items():
        cells = [f"{src:<{w0}}"]
        for c, w in zip(cols, widths):
            why = flags.get(src, {}).get(c)
            if why:
                mark = marks.setdefault(why, "*" * (len(marks) + 1))
                cells.append(f"{mark:>{w}}")
            else:
                cells.append(f"{fmt(row.get(c)) if row.get(c) is not None else '-':>{w}}")
        lines.append("  ".join(cells))
    for why, mark in marks.items():
        lines.append(f"{mark} {why} (value in metrics.json)" if not why.startswith("n/a") else f"{mark} {why}")
    return "\n".join(lines)
