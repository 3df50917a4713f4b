"""The report's figures (matplotlib, Agg), drawn from the metrics dict and a few extras.

Each function returns a list of ``(caption, Figure)``; an empty list where there is nothing to
draw. Colours are fixed per source so that a model keeps its colour across figures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DATA_COLOR = "black"
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
_GMM_STYLES = ["--", ":", "-."]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 7, "legend.loc": "upper right",
                         "figure.dpi": 100, "svg.hashsalt": "quakesynth"})
    return plt


def _layout(fig, gap_w: float = 0.75, right: float = 0.15) -> None:
    """Fixed margins and gaps in inches (tight_layout costs seconds per figure on a busy
    machine), with room for a suptitle when the figure has one."""
    w, h = fig.get_size_inches()
    gs = fig.axes[0].get_subplotspec().get_gridspec() if fig.axes else None
    nrows, ncols = (gs.nrows, gs.ncols) if gs is not None else (1, 1)
    left, bottom = 0.7, 0.5  # inches
    top = 0.75 if fig._suptitle is not None else 0.35
    gap_h = 0.6  # between axes, inches (gap_w: horizontal)
    ax_h = max(0.5, (h - top - bottom) / nrows - gap_h)
    ax_w = max(0.5, (w - left - right) / ncols - gap_w)
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        hspace=gap_h / ax_h, wspace=gap_w / ax_w)


def _log(ax, which: str = "x") -> None:
    """Log scale with plain tick labels at 1-2-5 x 10^k (no 3x10^1-style clutter)."""
    from matplotlib import ticker

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(ticker.NullLocator())


class Colors:
    """Fixed colour per model label and line style per GMM."""

    def __init__(self, models: list[str], gmms: list[str]) -> None:
        self.map = {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(models)}
        self.gmm = {g: _GMM_STYLES[i % len(_GMM_STYLES)] for i, g in enumerate(gmms)}

    def __call__(self, src: str) -> str:
        return DATA_COLOR if src == "data" else self.map.get(src, "grey")


def _arr(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, n)
    return math.ceil(n / cols), cols


def binned_curve_figures(section: dict, axis_name: str, colors: Colors, max_bins: int, title: str,
                         xlabel: str, ylabel: str, logx: bool) -> list[tuple[str, Any]]:
    """Mean +/- std of log envelopes or log-FAS: rows are the most populated M-R bins (at most
    ``max_bins``), columns the components."""
    if "per_bin" not in section:
        return []
    plt = _plt()
    x = _arr(section[axis_name])
    comps = section["components"]
    bins = [b for b in section["per_bin"] if b != "all"]
    bins = sorted(bins, key=lambda b: -section["per_bin"][b][comps[0]]["data"]["n"])[:max_bins]
    bins = sorted(bins, key=section["bins"].index) or ["all"]
    fig, axes = plt.subplots(len(bins), len(comps), figsize=(3.3 * len(comps), 2.3 * len(bins) + 0.6),
                             squeeze=False, sharex=True)
    for r, b in enumerate(bins):
        for c, comp in enumerate(comps):
            ax = axes[r, c]
            for src, e in section["per_bin"][b][comp].items():
                m, s = _arr(e["mean"]), _arr(e["std"])
                ax.plot(x, m, color=colors(src), lw=1.1, label=f"{src} (n={e['n']})")
                ax.fill_between(x, m - s, m + s, color=colors(src), alpha=0.15, lw=0)
            ax.set_title(f"{b} | {comp}")
            if logx:
                _log(ax, "x")
            if c == 0:
                ax.set_ylabel(ylabel)
                ax.legend()
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    fig.suptitle(f"{title}: mean +/- 1 std per magnitude-distance bin and component")
    _layout(fig)
    return [(f"{title}: mean +/- one standard deviation per magnitude-distance bin (rows) and component (columns)", fig)]


def bias_figure(section: dict, colors: Colors) -> list[tuple[str, Any]]:
    if not section:
        return []
    plt = _plt()
    keys = list(section)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4), squeeze=False)
    for ax, im in zip(axes[0], keys):
        e = section[im]
        edges = _arr(e["edges_km"])
        centres = np.sqrt(np.maximum(edges[:-1], 0.5) * edges[1:])
        for i, (src, s) in enumerate(e["sources"].items()):
            y, se = _arr(s["mean"]), _arr(s["se"])
            style = colors.gmm.get(src)
            if style:
                ax.plot(centres, y, ls=style, color="grey", marker="s", ms=3, label=src)
            else:
                ax.errorbar(centres * (1 + 0.03 * i), y, yerr=np.nan_to_num(se), color=colors(src), marker="o",
                            ms=3, capsize=0, label=src)
        ax.axhline(0, color="k", lw=0.8)
        _log(ax, "x")
        ax.set_xlabel("hypocentral distance (km)")
        ax.set_ylabel(f"bias log10({im.split('_')[0]} / data)")
        ax.set_title(f"{im}: bias vs distance")
        ax.legend()
    _layout(fig)
    return [("Bias of PGA and PGV (RotD50) against the data, by distance bin (mean +/- standard error)", fig)]


def residual_figure(metrics_section: dict, samples: dict, colors: Colors) -> list[tuple[str, Any]]:
    keys = [k for k in ("PGA_RotD50", "PGV_RotD50") if k in samples]
    if not keys:
        return []
    plt = _plt()
    fig, axes = plt.subplots(1, len(keys), figsize=(4.6 * len(keys), 3.4), squeeze=False)
    for ax, im in zip(axes[0], keys):
        smp = samples[im]
        allv = np.concatenate([v for v in smp.values() if isinstance(v, np.ndarray)] or [np.zeros(1)])
        lo, hi = np.percentile(allv, [0.5, 99.5]) if allv.size else (-2, 2)
        bins = np.linspace(lo - 0.2, hi + 0.2, 40)
        xs = np.linspace(bins[0], bins[-1], 200)
        for src, v in smp.items():
            s = metrics_section[im]["sources"][src]
            if isinstance(v, tuple):  # GMM: normal with its mean residual and sigma
                if s["mean"] is None or not s["sigma"]:
                    continue
                pdf = np.exp(-0.5 * ((xs - s["mean"]) / s["sigma"]) ** 2) / (s["sigma"] * math.sqrt(2 * math.pi))
                ax.plot(xs, pdf, ls=colors.gmm.get(src, "--"), color="grey",
                        label=f"{src}: {s['mean']:+.2f} +/- {s['sigma']:.2f}")
            elif v.size:
                sd = f"{s['sigma']:.2f}" if s["sigma"] is not None else "n/a"
                ax.hist(v, bins=bins, density=True, histtype="step", color=colors(src), lw=1.4,
                        label=f"{src}: {s['mean']:+.2f} +/- {sd}")
        ref = metrics_section[im].get("reference", "simple GMM fitted to the data")
        ax.set_xlabel(f"residual log10 {im} vs {ref.split(' (')[0]}")
        ax.set_ylabel("density")
        ax.legend()
    _layout(fig)
    return [("Residual distributions against the simple GMM (eqs. 11-12) fitted to the data: mean +/- sigma", fig)]


def duration_figure(section: dict, table, magnitude: np.ndarray, colors: Colors) -> list[tuple[str, Any]]:
    """D5-95 against magnitude; ``magnitude`` (N records,) indexes ``table["record"]``."""
    if "sources" not in section:
        return []
    plt = _plt()
    from quakesynth.evaluate.analysis import _horizontal_duration

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    d = table[table["source"] == "data"]
    dur = _horizontal_duration(d)
    ax.scatter(magnitude[d["record"].to_numpy()], dur, s=6, color="lightgrey", label="data records", zorder=1)
    edges = _arr(section["edges"])
    centres = 0.5 * (edges[:-1] + edges[1:])
    for i, (src, e) in enumerate(section["sources"].items()):
        med, p16, p84 = _arr(e["median"]), _arr(e["p16"]), _arr(e["p84"])
        x = centres + 0.04 * (i - 1)
        ax.errorbar(x, med, yerr=[np.nan_to_num(med - p16), np.nan_to_num(p84 - med)], color=colors(src),
                    marker="o", ms=4, capsize=0, label=src, zorder=2)
    _log(ax, "y")
    ax.set_xlabel("magnitude")
    ax.set_ylabel("D5-95 (s), horizontal geometric mean")
    ax.legend()
    _layout(fig)
    return [("Significant duration D5-95 against magnitude: median and 16-84 % range per magnitude bin", fig)]


def convergence_figure(section: dict, colors: Colors) -> list[tuple[str, Any]]:
    if not section.get("sources"):
        return []
    plt = _plt()
    n = np.asarray(section["n_realizations"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    for src, e in section["sources"].items():
        axes[0].plot(n, _arr(e["median_minus_final_rms"]), marker="o", ms=3, color=colors(src), label=src)
        axes[1].plot(n, _arr(e["sigma_mean"]), marker="o", ms=3, color=colors(src), label=src)
    axes[0].set_ylabel("RMS of median(n) - median(N), log10 PGA")
    axes[1].set_ylabel("mean sigma(n) of log10 PGA")
    for ax in axes:
        ax.set_xlabel("number of realisations n")
        ax.legend()
    _layout(fig)
    return [("Convergence of the median and sigma of PGA (RotD50) with the number of realisations", fig)]


def scenario_figures(section: dict, extras: dict, colors: Colors) -> list[tuple[str, Any]]:
    plt = _plt()
    figs = []
    for name, e in section.items():
        keys = sorted({k for s in e["sources"].values() for k in s}, key=lambda k: (k != "PGA_RotD50", k))
        keys = [k for k in keys if k != "PGV_RotD50"]
        if not keys:
            continue
        x = _arr(e["values"])
        r, c = _grid(len(keys), 3)
        fig, axes = plt.subplots(r, c, figsize=(3.6 * c, 2.9 * r), squeeze=False)
        for ax, k in zip(axes.ravel(), keys):
            pts = extras.get(name, {}).get(k)
            if pts is not None and len(pts[0]):
                ax.scatter(pts[0], pts[1], s=8, color="lightgrey", label="data (window)", zorder=1)
            dm = e["data"].get(k)
            if dm:
                ax.plot(x, _arr(dm["geometric_mean"]), "k*", ms=7, label="data geo. mean", zorder=3)
            for src, s in e["sources"].items():
                if k not in s:
                    continue
                med, sig = _arr(s[k]["median"]), _arr(s[k]["sigma_log10"])
                ax.plot(x, med, color=colors(src), marker="o", ms=3, label=src, zorder=2)
                ax.fill_between(x, med / 10 ** sig, med * 10 ** sig, color=colors(src), alpha=0.15, lw=0)
            for g, s in e["gmms"].items():
                if k not in s:
                    continue
                med, sig = _arr(s[k]["median"]), _arr(s[k]["sigma_log10"])
                ls = colors.gmm.get(g, "--")
                comp = e.get("gmm_components", {}).get(g, "")
                ax.plot(x, med, color="grey", ls=ls, label=f"{g} ({comp}) median +/- sigma")
                ax.plot(x, med / 10 ** sig, color="grey", ls=ls, lw=0.6)
                ax.plot(x, med * 10 ** sig, color="grey", ls=ls, lw=0.6)
            _log(ax, "y")
            if e["vary"] in ("distance", "vs30"):
                _log(ax, "x")
            ax.set_xlabel({"distance": "hypocentral distance (km)", "vs30": "Vs30 (m/s)",
                           "magnitude": "magnitude"}[e["vary"]])
            ax.set_ylabel(f"{k} (g)")
            ax.set_title(k)
        for ax in axes.ravel()[len(keys):]:
            ax.axis("off")
        axes.ravel()[0].legend(fontsize=6)
        fixed = ", ".join(f"{k}={v:g}" for k, v in e["fixed"].items())
        fig.suptitle(f"{name} ({fixed})")
        _layout(fig)
        figs.append((f"{name}: model median +/- sigma, GMM median +/- sigma, data in narrow bins", fig))
    return figs


def model_probability_figures(section: dict) -> list[tuple[str, Any]]:
    if not section.get("ims"):
        return []
    plt = _plt()
    me, de = _arr(section["magnitude_edges"]), _arr(section["distance_edges_km"])
    nm, nd = len(me) - 1, len(de) - 1
    figs = []
    for im, e in section["ims"].items():
        panels = [(src, _arr(s["per_bin"]), "viridis") for src, s in e["sources"].items()]
        panels += [(f"ratio {k}", _arr(v), "RdBu_r") for k, v in e["ratios"].items()]
        r, c = _grid(len(panels), 4)
        fig, axes = plt.subplots(r, c, figsize=(3.2 * c, 2.7 * r), squeeze=False)
        vmax = np.nanmax([np.nanmax(p[1]) for p in panels if "ratio" not in p[0] and np.isfinite(p[1]).any()] or [1])
        for ax, (title, vals, cmap) in zip(axes.ravel(), panels):
            grid = vals.reshape(nm, nd)
            if cmap == "RdBu_r":
                with np.errstate(divide="ignore", invalid="ignore"):
                    lg = np.log10(grid)
                lim = np.nanmax(np.abs(lg)) if np.isfinite(lg).any() else 1
                im_ = ax.imshow(lg, origin="lower", cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
                fig.colorbar(im_, ax=ax, label="log10 ratio")
            else:
                im_ = ax.imshow(grid, origin="lower", cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
                fig.colorbar(im_, ax=ax, label="avg. probability")
            ax.set_xticks(np.arange(nd + 1) - 0.5, [f"{v:g}" for v in de], fontsize=6)
            ax.set_yticks(np.arange(nm + 1) - 0.5, [f"{v:g}" for v in me], fontsize=6)
            ax.set_xlabel("R (km)")
            ax.set_ylabel("M")
            ax.set_title(title)
        for ax in axes.ravel()[len(panels):]:
            ax.axis("off")
        fig.suptitle(f"Average model probability (eq. 13) of {im}")
        _layout(fig, gap_w=1.5, right=0.7)
        figs.append((f"Average model probability (eq. 13) of {im} per magnitude-distance bin, and ratios models / GMMs", fig))
    return figs


def frechet_figure(section: dict, colors: Colors) -> list[tuple[str, Any]]:
    if not section.get("per_component"):
        return []
    plt = _plt()
    comps = list(section["per_component"])
    srcs = list(next(iter(section["per_component"].values())).keys())
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    w = 0.8 / max(1, len(srcs))
    for i, src in enumerate(srcs):
        vals = [section["per_component"][c][src]["eq14"] for c in comps]
        ax.bar(np.arange(len(comps)) + i * w, _arr(vals), width=w,
               color="lightgrey" if src == "floor" else colors(src), edgecolor="k", lw=0.5,
               label="real-data floor" if src == "floor" else src)
    ax.set_xticks(np.arange(len(comps)) + 0.4 - w / 2, comps)
    vals = np.array([v["eq14"] for c in comps for v in section["per_component"][c].values() if v["eq14"]], float)
    if vals.size and vals.min() > 0 and vals.max() / vals.min() > 100:  # several decades: log axis
        _log(ax, "y")
    ax.set_ylabel("Frechet distance of ln FAS (eq. 14)")
    ax.legend()
    _layout(fig)
    return [("Frechet distance of log-FAS per component (eq. 14) with the real-data floor", fig)]


def classifier_figure(section: dict, colors: Colors) -> list[tuple[str, Any]]:
    if "accuracy" not in section:
        return []
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, key, label in ((axes[0], "accuracy", "classifier accuracy"), (axes[1], "embedding_fd", "embedding FD")):
        items = list(section[key].items())
        ax.bar(range(len(items)), _arr([v for _, v in items]),
               color=["lightgrey" if s == "floor" else colors(s) for s, _ in items], edgecolor="k", lw=0.5)
        ax.set_xticks(range(len(items)), [s for s, _ in items], rotation=20)
        ax.set_ylabel(label)
    _layout(fig)
    return [("Classifier accuracy (M-R class of the conditioning) and classifier-embedding Frechet distance", fig)]


def hvsr_figure(section: dict, colors: Colors, max_stations: int = 6) -> list[tuple[str, Any]]:
    if not section.get("stations"):
        return []
    plt = _plt()
    f = _arr(section["f_Hz"])
    stations = sorted(section["stations"], key=lambda s: -section["stations"][s]["n"])[:max_stations]
    r, c = _grid(len(stations), 3)
    fig, axes = plt.subplots(r, c, figsize=(3.4 * c, 2.6 * r), squeeze=False)
    for ax, sta in zip(axes.ravel(), stations):
        e = section["stations"][sta]
        for src, s in e.items():
            if src == "n":
                continue
            ax.plot(f, 10 ** _arr(s["curve_log10"]), color=colors(src), label=f"{src} f0={s['f0_Hz']}")
        _log(ax, "x")
        _log(ax, "y")
        ax.set_title(f"{sta} ({e['n']} records)")
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("H/V")
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(stations):]:
        ax.axis("off")
    _layout(fig)
    return [("Mean HVSR per station (stations with several records), data and models", fig)]
