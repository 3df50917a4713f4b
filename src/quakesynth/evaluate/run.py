"""``quakesynth evaluate`` as a library call: data + models + GMMs -> report folder.

>>> from quakesynth.evaluate import evaluate                               # doctest: +SKIP
>>> result = evaluate("scratch/knet:test", ["stochastic"], ["BooreEtAl2014"], "report/",
...                   config=EvaluateConfig(realizations=10))             # doctest: +SKIP
>>> result.metrics["summary"]["stochastic"]["PGA_RotD50_bias_log10"]      # doctest: +SKIP

The report folder holds ``index.html`` (self-contained), ``metrics.json`` (every number),
``ims.parquet`` (the tidy table: one row per record x source x realisation), ``scenarios.parquet``
(the scenario curves' IMs), ``paired.parquet`` (paired measures, when any), ``config.yaml``
(the resolved configuration) and ``summary.txt`` (the console table). Parquet falls back to
CSV where pyarrow is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth._atomic import atomic_path, check_writable
from quakesynth.evaluate.config import EvaluateConfig
from quakesynth.evaluate.harness import Collection, RecordSet, TidyWriter, collect, select_records
from quakesynth.plain_json import to_plain


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns."""

    metrics: dict  # the content of metrics.json
    collection: Collection  # stage-1 data (tidy table, features)
    output: Path | None  # the report folder
    summary: str  # the console table


# -- inputs --------------------------------------------------------------------------------
def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """``"PATH[:split]"`` -> (path, split or None). A path that exists as given wins."""
    if Path(spec).exists() or ":" not in spec:
        return spec, None
    path, split = spec.rsplit(":", 1)
    return path, (split or None)


def open_data(spec: str, seed: int = 0, floor_max_records: int = 20000,
              max_records: int = 0) -> tuple[RecordSet, RecordSet | None, str]:
    """The evaluation set and the real-data floor set of ``DATASET[:split]``.

    ``max_records`` > 0 keeps a random subset of that many records (seeded by ``seed``, in
    dataset order) of a larger evaluation set.

    The floor is the ``train`` split when the evaluation split is another one (sub-sampled to
    the evaluation set's size, at most ``floor_max_records``, with ``seed``); otherwise None
    (the analysis then splits the evaluation set in halves).
    """
    from quakesynth.data.store import Dataset

    path, split = parse_data_spec(spec)
    if not Path(path).exists():
        raise FileNotFoundError(f"dataset {path!r} not found")
    ds = Dataset(path)
    splits = _splits(ds)
    if len(ds) and split is not None and split not in splits:
        raise ValueError(f"dataset {path!r} has no split {split!r} (splits: {', '.join(splits) or 'none'})")
    view = ds.split(split) if split is not None and len(ds) else ds
    if len(view) == 0:
        raise ValueError((f"split {split!r} of dataset {path!r}" if split is not None else f"dataset {path!r}")
                         + " has no records: nothing to evaluate")
    data = RecordSet(view.metadata, view.get, name=f"{Path(path).name}" + (f":{split}" if split else ""))
    if max_records and len(data) > max_records:
        keep = np.sort(np.random.default_rng([seed, 1]).choice(len(data), size=max_records, replace=False))
        data = data.subset(keep)
    floor = None
    if split is not None and split != "train" and "train" in splits:
        tr = ds.split("train")
        m = min(len(tr), len(data), floor_max_records)
        if m >= 2:
            pos = np.sort(np.random.default_rng(seed).choice(len(tr), size=m, replace=False))
            floor = RecordSet(tr.metadata, tr.get, name=f"{Path(path).name}:train").subset(pos)
    return data, floor, data.name


def _splits(ds: Any) -> list[str]:
    meta = ds.metadata
    if "split" not in meta:
        return []
    return sorted(str(s) for s in meta["split"].dropna().unique())


def parse_model_spec(spec: str) -> tuple[str, str]:
    """``"LABEL=NAME_OR_PATH"`` or ``"NAME_OR_PATH"`` -> (label, name or path)."""
    if "=" in spec:
        label, target = spec.split("=", 1)
        if not label:
            raise ValueError(f"model {spec!r}: empty label before '='")
        return label, target
    p = Path(spec)
    return (p.name if p.exists() else spec), spec


def load_models(specs: list[str]) -> dict[str, Any]:
    """Generators by label; unknown names raise ValueError naming them."""
    from quakesynth.generate import load_model

    if not specs:
        raise ValueError("no model given: pass at least one --model")
    out: dict[str, Any] = {}
    for spec in specs:
        label, target = parse_model_spec(spec)
        if label in out or label in ("data", "floor"):
            raise ValueError(f"model label {label!r} is used twice or reserved; name models with LABEL=MODEL")
        out[label] = load_model(target)
    return out


def load_gmms(specs: list[str]) -> dict[str, Any]:
    """GMMs by name (``NAME`` or ``NAME:REGION``); unknown names raise ValueError."""
    out: dict[str, Any] = {}
    if not specs:
        return out
    from quakesynth.gmm import get_gmm

    for spec in specs:
        name, region = (spec.split(":", 1) + [None])[:2] if ":" in spec else (spec, None)
        kw = {"region": region} if region else {}
        try:
            out[spec] = get_gmm(name, **kw)
        except (KeyError, ImportError) as e:
            raise ValueError(f"GMM {spec!r} unavailable: {e}") from e
    return out


# -- the whole run -------------------------------------------------------------------------
def evaluate(data: str | RecordSet, models: list[str] | dict[str, Any], gmms: list[str] | dict[str, Any] = (),
             output: str | Path | None = None, config: EvaluateConfig | None = None, *,
             classifier: str | Path | Any = None, floor: RecordSet | None = None, overwrite: bool = False,
             out_of_range: str = "drop", progress: bool = False, executor: Any = None) -> EvaluationResult:
    """Evaluate generators against a dataset and GMMs; write the report folder.

    Parameters
    ----------
    data : ``"DATASET[:split]"`` or a :class:`RecordSet`.
    models : names/paths (``LABEL=PATH`` to name them) or a dict label -> generator.
    gmms : GMM names (``NAME[:REGION]``) or a dict label -> GMM object.
    output : report folder (None: nothing written).
    config : bins, scenarios, realisations, seed, batch size, workers (default config).
    classifier : a classifier model directory or a ready adapter (``embed_predict``/``labels``).
    floor : real records for the floor when ``data`` is a RecordSet.
    overwrite : replace an existing report folder.
    out_of_range : records outside a model's range: ``drop`` (default), ``extrapolate`` or ``error``.
    executor : a ``concurrent.futures`` executor for the IM stage (default: a process pool of
        ``config.workers`` processes when workers > 1).
    """
    t_start, c_start = time.perf_counter(), time.process_time()
    cfg = config or EvaluateConfig()
    if output is not None:
        check_writable(output, overwrite)
    # every input is checked before any work
    model_objs = dict(models) if isinstance(models, dict) else load_models(list(models))
    gmm_objs = dict(gmms) if isinstance(gmms, dict) else load_gmms(list(gmms))
    if isinstance(data, RecordSet):
        dset, floor_set, data_name = data, floor, data.name
        if len(dset) == 0:
            raise ValueError(f"the evaluation set {data_name!r} has no records: nothing to evaluate")
    else:
        dset, floor_set, data_name = open_data(data, cfg.seed, cfg.floor_max_records, cfg.max_records)
    if classifier is not None and isinstance(classifier, (str, Path)):
        from quakesynth.evaluate.classifier import ClassifierAdapter

        classifier = ClassifierAdapter.load(classifier)
    n_total = len(dset)
    dset, notes = select_records(dset, model_objs, out_of_range)

    with contextlib.ExitStack() as stack:
        # the report folder is written in a temporary folder beside it, moved into place at the end
        tmp = stack.enter_context(atomic_path(output, overwrite=overwrite, directory=True)) if output is not None else None
        own_pool = None
        if executor is None and cfg.workers > 1:
            from quakesynth.pool import process_pool

            executor = own_pool = stack.enter_context(process_pool(cfg.workers))
        table_name = TidyWriter.default_name()
        coll = collect(dset, model_objs, cfg, floor=floor_set, classifier=classifier, executor=executor,
                       allow_extrapolation=(out_of_range == "extrapolate"), progress=progress,
                       table_path=(tmp / table_name) if tmp is not None else None)
        if own_pool is not None:
            own_pool.shutdown()
        coll.notes.extend(notes)
        t_collect = time.perf_counter() - t_start
        c_collect = time.process_time() - c_start

        from quakesynth.evaluate.analysis import analyse

        metrics, extras = analyse(coll, gmm_objs)
        t_analyse = time.perf_counter() - t_start - t_collect
        c_analyse = time.process_time() - c_start - c_collect
        metrics = {"run": _run_info(data_name, n_total, coll, cfg, list(gmm_objs), classifier), **metrics}
        metrics["run"]["timing"]["total"].update({"collect_s": round(t_collect, 3), "analyse_s": round(t_analyse, 3),
                                                  "collect_main_cpu_s": round(c_collect, 3),
                                                  "analyse_cpu_s": round(c_analyse, 3)})

        from quakesynth.evaluate.report import console_summary

        summary = console_summary(metrics)
        out_path = None
        if tmp is not None:
            figures = make_figures(metrics, extras, coll)
            write_report(tmp, metrics, figures, coll, cfg, summary, table_name=table_name)
            out_path = Path(output)
    return EvaluationResult(metrics=metrics, collection=coll, output=out_path, summary=summary)


def _run_info(data_name: str, n_total: int, coll: Collection, cfg: EvaluateConfig, gmms: list[str],
              classifier: Any) -> dict:
    import quakesynth

    timing = {}
    for k, v in coll.timing.items():
        timing[k] = {kk: (round(vv, 3) if isinstance(vv, float) else int(vv)) for kk, vv in v.items()}
    return {"data": data_name, "n_records_in_split": int(n_total), "n_records": int(len(coll.conditioning)),
            "models": [s for s in coll.sources if s != "data"], "paired_models": coll.paired_sources,
            "gmms": gmms, "realizations": cfg.realizations, "seed": cfg.seed,
            "classifier": type(classifier).__name__ if classifier is not None else None,
            "notes": list(coll.notes), "model_info": to_plain(coll.model_info, nonfinite="none", other="str"), "timing": timing,
            "quakesynth_version": quakesynth.__version__, "config": cfg.to_dict()}


def make_figures(metrics: dict, extras: dict, coll: Collection) -> dict[str, list]:
    """All figures, by report section id."""
    from quakesynth.evaluate import figures as F

    models = metrics["run"]["models"]
    colors = F.Colors(models, metrics["run"]["gmms"])
    mb = coll.config.max_bins_plotted
    return {
        "envelopes": F.binned_curve_figures(metrics["envelopes"], "t_s", colors, mb, "log10 envelope",
                                            "time (s)", "log10 envelope (m/s^2)", logx=False),
        "log-fas": F.binned_curve_figures(metrics["log_fas"], "f_Hz", colors, mb, "log10 FAS",
                                          "frequency (Hz)", "log10 FAS (m/s)", logx=True),
        "bias": F.bias_figure(metrics["bias_distance"], colors),
        "residuals": F.residual_figure(metrics["residuals"], extras.get("residuals", {}), colors),
        "duration": F.duration_figure(metrics["duration"], coll.table, coll.conditioning["magnitude"].to_numpy(float),
                                      colors),
        "convergence": F.convergence_figure(metrics["convergence"], colors),
        "scenarios": F.scenario_figures(metrics["scenarios"], extras.get("scenarios", {}), colors),
        "model-probability": F.model_probability_figures(metrics["model_probability"]),
        "frechet": F.frechet_figure(metrics["frechet"], colors),
        "classifier": F.classifier_figure(metrics["classifier"], colors),
        "hvsr": F.hvsr_figure(metrics["hvsr"], colors),
    }


def _write_table(df: pd.DataFrame, path_stem: Path) -> str:
    try:
        import pyarrow  # noqa: F401

        df.to_parquet(path_stem.with_suffix(".parquet"), index=False)
        return path_stem.with_suffix(".parquet").name
    except ImportError:
        df.to_csv(path_stem.with_suffix(".csv"), index=False)
        return path_stem.with_suffix(".csv").name


def write_report(folder: str | Path, metrics: dict, figures: dict, coll: Collection, cfg: EvaluateConfig,
                 summary: str, table_name: str | None = None) -> None:
    """Write the report files into ``folder`` (an existing, empty folder; :func:`evaluate`
    passes the temporary folder it later moves into place). ``table_name``: the full tidy
    table already streamed there by :func:`collect`, if any."""
    import yaml

    from quakesynth.evaluate.report import build_html

    folder = Path(folder)
    folder.chmod(0o755)
    files = [table_name] if table_name else []
    if len(coll.scenario_table):
        files.append(_write_table(coll.scenario_table, folder / "scenarios"))
    if coll.paired is not None and len(coll.paired):
        files.append(_write_table(coll.paired, folder / "paired"))
    metrics["run"]["files"] = sorted(files + ["index.html", "metrics.json", "config.yaml", "summary.txt"])
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    (folder / "config.yaml").write_text(yaml.safe_dump(to_plain(dataclasses.asdict(cfg), nonfinite="none", other="str"), sort_keys=False),
                                        encoding="utf-8")
    (folder / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    (folder / "index.html").write_text(build_html(metrics, figures), encoding="utf-8")
