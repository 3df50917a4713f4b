"""Intensity-measure tables of :class:`~quakesynth.records.Records` (the ``ims`` CLI's engine).

:func:`ims_of_records` computes every intensity measure of a batch of acceleration records
and returns one row per record with columns ``<IM>_<component or combination>_<unit>``:

======================  ============================================  =====
IM                      components and combinations                   unit
======================  ============================================  =====
``PGA``                 H1, H2, V, GM, SRSS, RotD50, RotD100,         g
                        GMRotD50
``PGV``                 same                                          cm/s
``PGD``                 same                                          cm
``PSA<T>``              H1, H2, V, GM, SRSS, RotD50, RotD100          g
``AI`` (Arias)          H1, H2, V, GM, RotD50, RotD100                m/s
``D5-75``, ``D5-95``    H1, H2, V, GM                                 s
``CAV``                 H1, H2, V, GM                                 m/s
======================  ============================================  =====

``H1``/``H2`` are the two horizontals in stored order (e.g. N and E of "ZNE") and ``V`` the
vertical (``component_names="letters"`` uses the component letters instead). Combinations
are defined in :mod:`quakesynth.metrics.peaks` (GM: geometric mean of the two horizontal
values; SRSS: peak of the vector sum, Kanno et al. 2006; RotD: Boore 2010; GMRotD50: Boore
et al. 2006). PSA is 5 %-damped by default; ``<T>`` is the period in s with at least one
decimal (``PSA1.0``, ``PSA0.3``). PGV and PGD use the default baseline correction of
:func:`quakesynth.metrics.peaks.integrate`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Default periods (s) of the PSA columns.
IM_PERIODS = (0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0)


def format_period(period: float) -> str:
    """Period label of a PSA column: ``1.0``, ``0.3``, ``0.05``, ``10.0`` (6 significant digits)."""
    s = f"{float(period):.6g}"
    return s if ("." in s or "e" in s) else s + ".0"


def ims_of_records(records, periods=IM_PERIODS, damping: float = 0.05,
                   baseline: str = "polynomial", component_names: str = "H1H2V",
                   workers: int | None = None) -> pd.DataFrame:
    """Intensity measures of every record, one row per record (see the module table).

    Parameters
    ----------
    records : Records
        Acceleration records (quantity ``"acceleration"``, m/s^2), any components; the
        horizontal combinations need exactly two horizontal components.
    periods : sequence of float
        PSA periods, s (empty for none).
    damping : float
        Oscillator damping ratio.
    baseline : str
        Baseline correction for PGV/PGD (see :func:`~quakesynth.metrics.peaks.integrate`).
    component_names : {"H1H2V", "letters"}
        Column names of single components.
    workers : int, optional
        Threads for the compiled kernels (default: all CPUs available).

    Returns
    -------
    pandas.DataFrame with N rows (the records' order, a fresh RangeIndex) and float columns.
    """
    from quakesynth.metrics.energy import energy_measures, rotd_arias
    from quakesynth.metrics.peaks import horizontal_peaks, integrate
    from quakesynth.metrics.response import horizontal_spectra, response_spectrum
    from quakesynth.records import G

    if records.quantity != "acceleration":
        raise ValueError(f"records must hold acceleration; got quantity {records.quantity!r}")
    if component_names not in ("H1H2V", "letters"):
        raise ValueError(f"component_names must be 'H1H2V' or 'letters'; got {component_names!r}")
    comps = records.components
    horiz = [c for c in comps if c != "Z"]
    # column order: the horizontals, then the vertical
    col_order = horiz + [c for c in comps if c == "Z"]
    if component_names == "letters":
        names = {c: c for c in comps}
    else:
        names = {"Z": "V"}
        if len(horiz) == 2:
            names.update({horiz[0]: "H1", horiz[1]: "H2"})
        else:
            names.update({c: c for c in horiz})
    periods = np.asarray(periods, dtype=float).ravel()
    fs = records.fs
    acc = np.asarray(records.data, dtype=np.float64)  # (N, C, T), m/s^2
    vel, disp = integrate(acc, fs, baseline)
    cols: dict[str, np.ndarray] = {}
    pair = len(horiz) == 2
    i1 = comps.index(horiz[0]) if pair else None
    i2 = comps.index(horiz[1]) if pair else None

    # peaks ---------------------------------------------------------------------------
    for im, series, scale, unit in (("PGA", acc, 1.0 / G, "g"), ("PGV", vel, 100.0, "cm/s"),
                                    ("PGD", disp, 100.0, "cm")):
        pk = np.abs(series).max(axis=-1)
        for c in col_order:
            cols[f"{im}_{names[c]}_{unit}"] = pk[:, comps.index(c)] * scale
        if pair:
            hp = horizontal_peaks(series[:, i1], series[:, i2], workers=workers)
            for key in ("GM", "SRSS", "RotD50", "RotD100", "GMRotD50"):
                cols[f"{im}_{key}_{unit}"] = hp[key] * scale

    # response spectra ----------------------------------------------------------------
    if periods.size:
        labels = [format_period(t) for t in periods]
        spec: dict[str, np.ndarray] = {}
        if pair:
            hs = horizontal_spectra(acc[:, i1], acc[:, i2], fs, periods, damping, "psa",
                                    workers=workers)
            spec[names[horiz[0]]] = hs["H1"]
            spec[names[horiz[1]]] = hs["H2"]
            for key in ("GM", "SRSS", "RotD50", "RotD100"):
                spec[key] = hs[key]
        others = [j for j, c in enumerate(comps) if not (pair and c in horiz)]
        if others:
            single = response_spectrum(acc[:, others], fs, periods, damping, "psa",
                                       workers=workers)
            for k, j in enumerate(others):
                spec[names[comps[j]]] = single[:, k]
        order = [names[c] for c in col_order] + (["GM", "SRSS", "RotD50", "RotD100"] if pair else [])
        for p, lab in enumerate(labels):
            for key in order:
                cols[f"PSA{lab}_{key}_g"] = spec[key][:, p] / G

    # energy and duration -------------------------------------------------------------
    en = energy_measures(acc, fs)
    for im, unit in (("AI", "m/s"), ("D5-75", "s"), ("D5-95", "s"), ("CAV", "m/s")):
        val = en[im]
        for c in col_order:
            cols[f"{im}_{names[c]}_{unit}"] = val[:, comps.index(c)]
        if pair:
            cols[f"{im}_GM_{unit}"] = np.sqrt(val[:, i1] * val[:, i2])
            if im == "AI":
                rot = rotd_arias(acc[:, i1], acc[:, i2], fs, (50.0, 100.0))
                cols["AI_RotD50_m/s"] = rot[:, 0]
                cols["AI_RotD100_m/s"] = rot[:, 1]
    return pd.DataFrame(cols)
