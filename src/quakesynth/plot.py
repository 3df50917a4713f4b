"""Quick-look figures of record sets (matplotlib): the library behind ``quakesynth plot``.

One row per component; columns: example waveforms with their envelopes, the envelopes'
median and 16-84 % band, the Fourier amplitude spectra's median and band, and the 5 %-damped
response spectra's median and band -- the views of the HighFEM paper's Figure 2. Several
record sets are overlaid in different colours (e.g. a generated set against real records).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from quakesynth.records import G, Records

#: Percentiles of the spread bands.
BAND = (16.0, 84.0)
#: Moving-average envelope kernel, samples (the HighFEM paper's).
ENVELOPE_KERNEL = 128
#: Lowest frequency of the Fourier spectra, Hz (raised to 5 / duration for short records).
FAS_FMIN = 0.05
#: Oscillator periods of the response spectra, s.
PERIODS = np.logspace(-2, 1, 60)
_ORDER = "ZNERT123XYH"  # row order of the components
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _envelope(x: np.ndarray, fs: float) -> np.ndarray:
    """HighFEM's moving-average envelope (kernel 128 samples), in the unit of ``x``."""
    from quakesynth.metrics import moving_average_envelope

    return moving_average_envelope(x, kernel=ENVELOPE_KERNEL)


def _fas(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Konno-Ohmachi-smoothed (b = 40) Fourier amplitude at log-spaced frequencies."""
    from quakesynth.metrics import fourier_amplitude, konno_ohmachi_smooth

    freqs, amp = fourier_amplitude(x, fs)
    # below ~5 / duration the b = 40 window is narrower than the frequency step
    fcs = np.logspace(np.log10(max(FAS_FMIN, 5.0 * freqs[1])), np.log10(fs / 2), 120)
    return fcs, konno_ohmachi_smooth(amp, freqs, fcs=fcs)


def _psa(acc: np.ndarray, fs: float) -> np.ndarray:
    from quakesynth.metrics.response import response_spectrum

    return response_spectrum(acc, fs, periods=PERIODS)


def _band(ax, x: np.ndarray, y: np.ndarray, color: str, label: str | None) -> None:
    """Median line and 16-84 % band of y (N, K) over x (K,), ignoring non-positive values."""
    y = np.where(y > 0, y, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (e.g. zero padding)
        lo, med, hi = np.nanpercentile(y, [BAND[0], 50.0, BAND[1]], axis=0)
    ax.fill_between(x, lo, hi, color=color, alpha=0.25, lw=0)
    ax.plot(x, med, color=color, lw=1.6, label=label)


def _summary(rec: Records) -> str:
    parts = []
    for col, label, unit in (("source_magnitude", "M", ""), ("path_hyp_distance_km", "R", " km"),
                             ("station_vs30_mps", "Vs30", " m/s")):
        v = rec.metadata[col].to_numpy(dtype=float, na_value=np.nan)
        v = v[np.isfinite(v)]
        if len(v):
            lo, hi = v.min(), v.max()
            parts.append(f"{label} {lo:g}{unit}" if lo == hi else f"{label} {lo:g}-{hi:g}{unit}")
    return ", ".join(parts)


def plot_records(sets: list[tuple[str, Records]], output: str | Path | None = None, examples: int = 3,
                 title: str | None = None, overwrite: bool = False):
    """The quick-look figure of one or more labelled record sets; saved to ``output`` if given.

    Parameters
    ----------
    sets : ``[(label, records), ...]``; all sets should share component letters (the first
        set's components give the rows).
    output : image path (PNG, PDF, SVG by suffix; no suffix: PNG); not written when None. Written
        atomically; an existing file raises ``FileExistsError`` (before any drawing) unless
        ``overwrite``.
    examples : example waveforms drawn per set in the first column.

    Returns the matplotlib Figure.
    """
    import matplotlib

    if not sets:
        raise ValueError("sets is empty: nothing to plot")
    if output is not None:
        from quakesynth._atomic import check_parent, check_writable

        output = Path(output)
        check_parent(output)
        check_writable(output, overwrite)
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = "".join(sorted(sets[0][1].components, key=_ORDER.index))
    fig, axes = plt.subplots(len(comps), 4, figsize=(17, 3.1 * len(comps) + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [1.5, 1.1, 1, 1]})
    for s, (label, rec) in enumerate(sets):
        color = COLORS[s % len(COLORS)]
        name = f"{label} (n={len(rec)}; {_summary(rec)})"
        t = rec.times
        acc = rec.quantity == "acceleration"
        unit = "g" if acc else rec.unit
        factor = 1.0 / G if acc else 1.0
        for r, c in enumerate(comps):
            if c not in rec.components:
                continue
            x = rec.component(c).astype(np.float64) * factor
            env = _envelope(x, rec.fs)
            # (a) examples, each normalised to its peak and offset, with its envelope
            ax = axes[r, 0]
            for i in range(min(examples, len(rec))):
                peak = np.max(np.abs(x[i])) or 1.0
                off = -2.2 * (s * examples + i)
                ax.plot(t, x[i] / peak + off, color=color, lw=0.5)
                ax.plot(t, env[i] / peak + off, color="k", lw=0.9)
                ax.plot(t, -env[i] / peak + off, color="k", lw=0.9)
                ax.text(t[-1], off + 0.55, f"peak {peak:.2g} {unit}", ha="right", va="bottom", fontsize=7)
            ax.set_yticks([])
            # (b) envelopes: median and spread
            _band(axes[r, 1], t, env, color, name if r == 0 else None)
            axes[r, 1].set_yscale("log")
            # (c) Fourier amplitude spectra
            f, fas = _fas(x, rec.fs)
            _band(axes[r, 2], f, fas, color, None)
            axes[r, 2].set_xscale("log")
            axes[r, 2].set_yscale("log")
            axes[r, 2].set_xlim(f[0], f[-1])
            # (d) response spectra
            ax = axes[r, 3]
            if acc:
                _band(ax, PERIODS, _psa(x, rec.fs), color, None)
                ax.set_xscale("log")
                ax.set_yscale("log")
            elif s == 0:
                ax.text(0.5, 0.5, f"response spectra need acceleration\n(records are {rec.quantity})",
                        ha="center", va="center", transform=ax.transAxes)
            for j, text in enumerate((f"{c}: {rec.quantity} / peak, with envelope",
                                      f"{c}: envelope ({unit}), median and 16-84 %",
                                      f"{c}: Fourier amplitude ({unit}·s)", f"{c}: PSA 5 % ({unit})")):
                axes[r, j].set_title(text, fontsize=10, loc="left")
            axes[r, 0].set_xlabel("time (s)")
            axes[r, 1].set_xlabel("time (s)")
            axes[r, 2].set_xlabel("frequency (Hz)")
            axes[r, 3].set_xlabel("period (s)")
    for ax in axes.ravel():
        ax.grid(True, which="major", alpha=0.3)
        ax.tick_params(labelsize=8)
    # fixed margins: tight_layout / bbox_inches="tight" measure every tick label twice, which
    # costs more than drawing the figure
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.03, right=0.99, bottom=0.55 / height, top=1 - 0.75 / height,
                        hspace=0.45, wspace=0.17)
    fig.legend(loc="upper center", ncol=min(len(sets), 3), frameon=False, fontsize=10,
               bbox_to_anchor=(0.5, 1.0))
    if title:
        fig.suptitle(title, y=1 - 0.05 / height)
    if output is not None:
        from quakesynth._atomic import atomic_path

        with atomic_path(output, overwrite=overwrite) as tmp:
            fig.savefig(tmp, dpi=110, format=output.suffix.lstrip(".").lower() or "png")
        plt.close(fig)
    return fig
