"""``quakesynth generate``: waveforms for scenarios, with any model, in any output format."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from quakesynth.cli.main import threads_option
from quakesynth.formats import DESCRIPTIONS, FORMATS
from quakesynth.generate import DEFAULT_ORIGIN_TIME
from quakesynth.scenario import SCENARIO_VARIABLES

QUANTITIES = ("acceleration", "velocity", "displacement")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"quakesynth: warning: {message}", err=True)


def load_generator(model: str):
    """``load_model`` with a one-line error for models that cannot be loaded here."""
    from quakesynth.generate import Generator, load_model

    try:
        gen = load_model(model)
    except ImportError as e:
        raise ValueError(f"model {model!r} is not available in this installation: {e}") from e
    except (ValueError, FileNotFoundError):
        raise
    except Exception as e:  # noqa: BLE001 -- torch/pickle errors of a damaged model folder: one line
        bad = _bad_weights_file(model)
        where = f"weights file {str(bad)!r}" if bad is not None else f"model {model!r}"
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if bad is not None:
            reason = "it is truncated, corrupt, or holds objects other than tensors (refused without running them)"
        elif "state_dict" in reason:
            reason = "its weights do not match the architecture in config.json"
        raise ValueError(f"cannot load {where}: {reason}; re-download or re-export the model") from e
    if not isinstance(gen, Generator):  # a refiner: it takes records, not scenarios
        raise ValueError(f"model {model!r} refines records rather than generating them from scenarios; "
                         f"use quakesynth refine INPUT --model {model}")
    return gen


def _bad_weights_file(model: str) -> Path | None:
    """The first ``*.pt`` file of a model folder that weights-only loading refuses (None if
    ``model`` is no folder or every file loads)."""
    import torch

    folder = Path(model)
    if not folder.is_dir():
        return None
    for f in sorted([*folder.glob("*.pt"), *folder.glob("model/*.pt")]):
        try:
            torch.load(f, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 -- any failure names this file
            return f
    return None


def scenario_table(scenarios: Path | None, n: int, **values: float | str | None):
    """The scenario table of the command line: the CSV (its ``n`` column, else ``n``) or one
    row of the given values (missing ones are left out, so the model names them)."""
    import pandas as pd

    given = {k: v for k, v in values.items() if v is not None}
    if scenarios is not None:
        if given:
            raise ValueError(f"give either --scenarios or scenario values, not both (got --scenarios and "
                             f"{', '.join('--' + k for k in given)})")
        table = pd.read_csv(scenarios)
        if "n" not in table:
            table["n"] = n
        return table
    return pd.DataFrame([{**given, "n": n}])


@click.command(context_settings={"show_default": True})
@click.option("--magnitude", type=float, help=SCENARIO_VARIABLES["magnitude"].description)
@click.option("--distance", type=float, help=SCENARIO_VARIABLES["distance"].description)
@click.option("--vs30", type=float, help=SCENARIO_VARIABLES["vs30"].description)
@click.option("--depth", type=float, help=SCENARIO_VARIABLES["depth"].description)
@click.option("--gap", type=float, help=SCENARIO_VARIABLES["gap"].description)
@click.option("--station", type=str, default=None,
              help="Station code, for site-specific models (TimesNet-Gen, site CVAE; `quakesynth models`).")
@click.option("-n", "--n", "n", type=click.IntRange(min=1), default=1,
              help="Waveforms per scenario (for --scenarios: rows without an `n` column).")
@click.option("--scenarios", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns magnitude, distance, vs30, depth, gap and optionally n.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output file or folder; the format follows the suffix (.h5, .npz, .mseed, .sac, .at2, "
                   "no suffix = SeisBench dataset).")
@click.option("--model", default="default", help="Registered model name (see `quakesynth models`) or saved-model path.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed; waveform k of scenario i is the same in every run.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Waveforms per batch [default: the model's].")
@click.option("--device", default="cpu", help="Torch device (cpu, cuda, cuda:1); with --workers a comma-separated list.")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="Data-parallel processes (one per device).")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default=None,
              help="Output format [default: from the suffix]. " + "; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()))
@click.option("--quantity", type=click.Choice(QUANTITIES), default="acceleration",
              help="Output quantity; velocity and displacement by integration with baseline correction.")
@click.option("--allow-extrapolation", is_flag=True, help="Warn instead of failing outside the model's ranges.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--origin-time", default=DEFAULT_ORIGIN_TIME,
              help="Origin time of every event (ISO 8601, UTC); records start at it, or where the model states "
                   "the P arrival, at origin + P travel time - P pick.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@threads_option(workers_param="workers")
def command(magnitude, distance, vs30, depth, gap, station, n, scenarios, output, model, seed, batch_size, device,
            workers, fmt, quantity, allow_extrapolation, overwrite, origin_time, progress, threads) -> None:
    """Generate waveforms for scenarios with any model.

    One scenario from the options, or many from a CSV (--scenarios). Waveforms are streamed to
    the output chunk by chunk (memory does not grow with n) and the output appears only when
    all of it is written. Conditioning outside the model's ranges is an error unless
    --allow-extrapolation.

    \b
    Example:
      quakesynth generate --magnitude 6.5 --distance 30 --vs30 400 --depth 10 --gap 120 -n 20 -o out.h5
      quakesynth generate --scenarios scenarios.csv --model stochastic -o out.mseed --quantity velocity
      quakesynth generate --scenarios big.csv -o big.h5 --workers 2 --device cuda:0,cuda:1
      quakesynth generate --model runs/timesnet/model --station ST03 -n 50 -o st03.h5
    """
    from quakesynth.formats import check_output
    from quakesynth.generate import parse_origin_time

    parse_origin_time(origin_time)  # a bad value fails before the model is loaded
    table = scenario_table(scenarios, n, magnitude=magnitude, distance=distance, vs30=vs30, depth=depth, gap=gap,
                           station=station)
    devices = [d.strip() for d in device.split(",") if d.strip()] or ["cpu"]
    if workers == 1 and len(devices) > 1:
        raise ValueError(f"--device lists {len(devices)} devices; use --workers {len(devices)} to use them all")
    fmt = check_output(output, fmt, overwrite)  # fail on a bad or existing output before loading a model
    gen = load_generator(model)
    # the library validates the table once, before any work; its warnings as one line each
    kw = dict(format=fmt, overwrite=overwrite, seed=seed, batch_size=batch_size, quantity=quantity,
              allow_extrapolation=allow_extrapolation, progress=progress, origin_time=origin_time)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        if workers > 1:
            from quakesynth.parallel import generate_parallel

            try:
                count = generate_parallel(model, table, output, workers=workers, devices=devices, threads=threads, **kw)
            except RuntimeError as e:  # a worker failed: one line, exit 1
                raise click.ClickException(str(e).splitlines()[0]) from e
        else:
            from quakesynth.generate import generate_to_file

            count = generate_to_file(gen, table, output, device=devices[0], **kw)
    unit = {"acceleration": "m/s^2", "velocity": "m/s", "displacement": "m"}[quantity]
    click.echo(f"wrote {count} waveforms ({quantity} in {unit}) to {output} [{fmt}]")
