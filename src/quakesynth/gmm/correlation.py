"""Correlation of ground-motion residuals between periods.

:func:`baker_jayaram_2008`: the empirical correlation of the total residuals (epsilons) of
pseudo-spectral acceleration at two periods, Baker & Jayaram (2008, Earthquake Spectra 24(1),
299-317, eqs. 7-10), fitted on NGA-West1 data for periods 0.01-10 s. It is the standard
inter-period correlation of seismic hazard (OpenQuake hazardlib's
``cross_correlation.BakerJayaram2008`` implements the same equations; the tests cross-check
it). quakesynth uses it where a quantity observed at one period informs the expectation at
another: the broadband refiner's high-frequency level given the input's low frequencies
(:func:`quakesynth.physics.broadband.anchor_high_frequencies`).

>>> round(float(baker_jayaram_2008(1.0, 1.0)), 6)
1.0
>>> round(float(baker_jayaram_2008(1.0, 0.1)), 3)
0.279
"""

from __future__ import annotations

import numpy as np


def baker_jayaram_2008(t1, t2) -> np.ndarray:
    """Correlation coefficient of PSA epsilons at periods ``t1`` and ``t2`` (s, broadcast).

    Symmetric, 1 where ``t1 = t2``, and falling with the period ratio (0.28 between 1 s and
    0.1 s). Valid for 0.01-10 s; periods outside are used as given (the equations stay in
    [-1, 1] but are an extrapolation). Raises ``ValueError`` for non-positive periods.
    """
    a = np.asarray(t1, dtype=float)
    b = np.asarray(t2, dtype=float)
    if not (np.all(a > 0) and np.all(b > 0)):
        raise ValueError("periods must be positive (s)")
    t_min, t_max = np.minimum(a, b), np.maximum(a, b)
    c1 = 1.0 - np.cos(np.pi / 2.0 - 0.366 * np.log(t_max / np.maximum(t_min, 0.109)))
    with np.errstate(over="ignore"):
        c2 = np.where(t_max < 0.2,
                      1.0 - 0.105 * (1.0 - 1.0 / (1.0 + np.exp(100.0 * t_max - 5.0)))
                      * (t_max - t_min) / (t_max - 0.0099), 0.0)
    c3 = np.where(t_max < 0.109, c2, c1)
    c4 = c1 + 0.5 * (np.sqrt(np.maximum(c3, 0.0)) - c3) * (1.0 + np.cos(np.pi * t_min / 0.109))
    rho = np.where(t_max < 0.109, c2,
                   np.where(t_min > 0.109, c1, np.where(t_max < 0.2, np.minimum(c2, c4), c4)))
    return np.where(a == b, 1.0, rho)
