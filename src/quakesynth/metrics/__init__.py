"""Intensity measures, goodness of fit and distribution metrics (pure array functions).

Every function takes arrays batched over leading axes, time (or frequency) last, with an
explicit sampling rate ``fs`` in Hz; units are stated per function (SI in, SI out unless
the name says otherwise). Bad input raises ``ValueError`` naming the argument and value.

Modules
-------
- :mod:`~quakesynth.metrics.peaks` -- ``integrate`` (the project's integration routine),
  PGA/PGV/PGD, horizontal combinations (RotD50/RotD100, GMRotD50, GM, peak SRSS).
- :mod:`~quakesynth.metrics.response` -- exact 5 %-damped SD/PSV/PSA spectra, per component
  and RotD, compiled and multi-threaded.
- :mod:`~quakesynth.metrics.energy` -- Arias intensity, Husid curve, D5-75/D5-95, CAV.
- :mod:`~quakesynth.metrics.spectra` -- Fourier amplitude, Konno-Ohmachi smoothing, log
  spectra, the HighFEM moving-average envelope.
- :mod:`~quakesynth.metrics.hvsr` -- earthquake HVSR, f0 and batch statistics.
- :mod:`~quakesynth.metrics.gof` -- Kristekova envelope/phase GOF, Anderson (2004) score,
  frequency bias, rMAE/rRMSE.
- :mod:`~quakesynth.metrics.distribution` -- Frechet distances, residual statistics,
  Shapiro-Wilk, HighFEM's average model probability, Jensen-Shannon similarity, confusion
  matrix NCC, classifier helpers.
- :mod:`~quakesynth.metrics.ims` -- ``ims_of_records``: the IM table of a ``Records`` batch.

The names below are importable from ``quakesynth.metrics`` directly (lazily: importing the
package costs nothing until a function is used).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "peaks": ("integrate", "pga", "pgv", "pgd", "ground_motion_peaks", "rotd", "rotd50",
              "rotd100", "gmrotd50", "geometric_mean", "peak_srss", "horizontal_peaks"),
    "response": ("response_spectrum", "horizontal_spectra", "rotd_spectrum", "rotd50_psa",
                 "default_periods"),
    "energy": ("arias_intensity", "husid", "significant_duration", "d5_75", "d5_95", "cav",
               "energy_measures"),
    "spectra": ("fourier_amplitude", "konno_ohmachi_smooth", "log_spectrum",
                "moving_average_envelope"),
    "hvsr": ("hvsr_curves", "f0", "hvsr_statistics"),
    "gof": ("kristekova_gof", "anderson_gof", "frequency_bias", "rmae", "rrmse"),
    "distribution": ("frechet_distance", "frechet_distance_samples", "log_fas_frechet_distance",
                     "residual_statistics", "shapiro_wilk_log", "average_model_probability",
                     "jensen_shannon_similarity", "confusion_ncc", "accuracy",
                     "embedding_frechet_distance"),
    "ims": ("ims_of_records",),
}
_LAZY = {name: mod for mod, names in _EXPORTS.items() for name in names}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"quakesynth.metrics.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'quakesynth.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
