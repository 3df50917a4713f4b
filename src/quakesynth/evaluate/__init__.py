"""The benchmark harness of generative waveform models and its report (``quakesynth evaluate``).

Three stages, one module each:

1. :mod:`~quakesynth.evaluate.harness` -- generate ``realizations`` waveforms per model and
   record of the evaluation set (batched, seeded), compute intensity measures and features of
   every waveform (:mod:`~quakesynth.evaluate.features`, in process or on a process pool,
   :mod:`~quakesynth.pool`), keep the tidy table and running statistics;
2. :mod:`~quakesynth.evaluate.analysis` -- the HighFEM paper's Section 4 (Figs. 3-11, Table 1)
   plus paired goodness of fit and HVSR: every number in one dict (``metrics.json``);
3. :mod:`~quakesynth.evaluate.report` / :mod:`~quakesynth.evaluate.figures` -- the
   self-contained HTML page and the console summary.

>>> from quakesynth.evaluate import EvaluateConfig, evaluate                    # doctest: +SKIP
>>> res = evaluate("corpus:test", ["stochastic", "small=runs/small/model"],
...                ["BooreEtAl2014", "Kanno2006Shallow"], "report/",
...                EvaluateConfig(realizations=10, workers=2))                 # doctest: +SKIP
>>> print(res.summary)                                                          # doctest: +SKIP

Bins, scenarios and feature grids: :mod:`~quakesynth.evaluate.config`. Paired models
(refiners) implement ``reproduce(records, seeds)``: :mod:`~quakesynth.evaluate.paired`.

Sections selected by what the data and models allow: the broadband measures of a paired model
with a low-passed input (:mod:`~quakesynth.evaluate.broadband`: FAS bias per band, PSA bias,
Kristekova GOF, kept band); HVSR and f0 per station when stations have several records; the
station classifier's confusion NCC for site-specific (station-conditioned) models. The
measures of the other systems live here too: :mod:`~quakesynth.evaluate.site` (site-specific
generators: HVSR/f0 alignment, station classifier NCC, Jensen-Shannon, diversity) and
:mod:`~quakesynth.evaluate.physics` (surrogate and refined wavefields: rMAE, frequency bias,
Kristekova GOF, spatial coherence).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "EvaluateConfig": ("quakesynth.evaluate.config", "EvaluateConfig"),
    "BinsConfig": ("quakesynth.evaluate.config", "BinsConfig"),
    "ScenarioConfig": ("quakesynth.evaluate.config", "ScenarioConfig"),
    "FeatureConfig": ("quakesynth.evaluate.config", "FeatureConfig"),
    "config_from_dict": ("quakesynth.evaluate.config", "config_from_dict"),
    "evaluate": ("quakesynth.evaluate.run", "evaluate"),
    "EvaluationResult": ("quakesynth.evaluate.run", "EvaluationResult"),
    "RecordSet": ("quakesynth.evaluate.harness", "RecordSet"),
    "collect": ("quakesynth.evaluate.harness", "collect"),
    "analyse": ("quakesynth.evaluate.analysis", "analyse"),
    "PairedModel": ("quakesynth.evaluate.paired", "PairedModel"),
    "ClassifierAdapter": ("quakesynth.evaluate.classifier", "ClassifierAdapter"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'quakesynth.evaluate' has no attribute {name!r}")
