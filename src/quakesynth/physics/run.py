"""Training entry of the physics-guided models: ``python -m quakesynth.physics.run KIND ...``.

Until ``quakesynth train`` takes these kinds, each model trains with one command (resumable with
``--resume``; the run folder holds ``config.yaml``, checkpoints, CSV losses and ``model/``):

- ``surrogate``: MIFNO on a ``quakesynth simulate-3d`` corpus (split 80/10/10, seed 0);
- ``refiner``: the refiner on the paper's pairs (frozen surrogate prediction -> simulation);
  ``--patch 2`` makes the joint one; ``--calibrate`` then fits the spatial noise correlation on
  dev wavefields (:mod:`quakesynth.physics.joint`) and stores it in the model directory;
- ``broadband``: the broadband refiner on low-passed pairs of a ``quakesynth simulate`` dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np


def _configs(preset: str, overrides) -> dict:
    from quakesynth.config import apply_overrides, load_preset

    return apply_overrides(load_preset(preset), list(overrides))


def _write_resolved(out: Path, kind: str, d: dict, **extra) -> None:
    import yaml

    from quakesynth._atomic import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "config.yaml", overwrite=True) as tmp:
        tmp.write_text(yaml.safe_dump({"kind": kind, **d, **extra}, sort_keys=False))


_common = [
    click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
                 help="Run folder (new unless --resume)."),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                 help="Override a preset value, e.g. --set train.max_steps=200 (repeatable)."),
    click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads."),
    click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint."),
    click.option("--quiet", is_flag=True, help="No progress bar."),
]


def common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


def _prepare(out: Path, resume: bool, threads: int):
    import logging
    import warnings

    import lightning.pytorch  # noqa: F401 -- sets its loggers to INFO on import; quieten them after
    import torch

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    torch.set_num_threads(threads)
    if (out / "model").exists():
        raise FileExistsError(f"{str(out / 'model')!r} exists: the run is finished; choose another --out")
    if out.exists() and any(out.iterdir()) and not resume:
        raise FileExistsError(f"{str(out)!r} exists and is not empty; use --resume to continue it")
    return resume and (out / "checkpoints" / "last.ckpt").exists()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
def cli() -> None:
    """Train the physics-guided models (surrogate, refiner on paper pairs / joint, broadband).

    \b
    Example:
      python -m quakesynth.physics.run surrogate --corpus corpus3d --preset fno_small -o runs/surrogate
      python -m quakesynth.physics.run refiner --corpus corpus3d --surrogate runs/surrogate/model -o runs/refiner
      python -m quakesynth.physics.run broadband --data corpus --preset refiner_broadband_small -o runs/broadband
    """


@cli.command()
@click.option("--corpus", required=True, type=click.Path(exists=True, file_okay=False), help="simulate-3d corpus.")
@click.option("--preset", default="fno_small", help="Preset name (configs/<name>.yaml) or YAML file.")
@click.option("--limit", type=click.IntRange(min=3), default=None, help="Use the first N simulations.")
@common
def surrogate(corpus, preset, limit, out, overrides, threads, resume, quiet) -> None:
    """Train the MIFNO surrogate (test-split metrics: benchmarks/bench_physics.py).

    \b
    Example:
      python -m quakesynth.physics.run surrogate --corpus corpus3d --preset fno_small -o runs/surrogate
    """
    from quakesynth.config import from_dict
    from quakesynth.models.fno import MIFNOConfig
    from quakesynth.physics.data import load_corpus, split_indices
    from quakesynth.physics.train import SurrogateLoss, train_surrogate
    from quakesynth.train.config import TrainConfig

    d = _configs(preset, overrides)
    res = _prepare(out, resume, threads)
    data = load_corpus(corpus, limit=limit)
    mcfg = from_dict(MIFNOConfig, {**d["mifno"], "n_sensors": data["u"].shape[2], "n_times": data["u"].shape[-1]})
    sp = split_indices(len(data["u"]), (0.8, 0.1, 0.1), seed=0)
    _write_resolved(out, "surrogate", d, corpus=str(corpus), limit=limit)
    path = train_surrogate(data, sp["train"], out, mcfg, from_dict(TrainConfig, d["train"]),
                           from_dict(SurrogateLoss, d.get("loss", {})), val_idx=sp["dev"], resume=res,
                           progress=not quiet)
    click.echo(f"model written to {path}", err=True)


@cli.command()
@click.option("--corpus", required=True, type=click.Path(exists=True, file_okay=False), help="simulate-3d corpus.")
@click.option("--surrogate", "surrogate_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Trained surrogate model directory.")
@click.option("--preset", default="refiner_small", help="Preset name (configs/<name>.yaml) or YAML file.")
@click.option("--patch", type=click.IntRange(min=1), default=None, help="Sensors per block side [default: preset].")
@click.option("--limit", type=click.IntRange(min=3), default=None, help="Use the first N simulations.")
@click.option("--calibrate/--no-calibrate", default=False,
              help="Fit the spatial noise correlation on dev wavefields (joint refiner).")
@click.option("--calibration-wavefields", type=click.IntRange(min=1), default=8, help="Dev wavefields used.")
@common
def refiner(corpus, surrogate_dir, preset, patch, limit, calibrate, calibration_wavefields, out, overrides,
            threads, resume, quiet) -> None:
    """Train the refiner on the paper's pairs (surrogate prediction in, simulation out).

    \b
    Example:
      python -m quakesynth.physics.run refiner --corpus corpus3d --surrogate runs/surrogate/model -o runs/refiner
      python -m quakesynth.physics.run refiner --corpus corpus3d --surrogate runs/surrogate/model --patch 2 \\
          --calibrate -o runs/joint
    """
    from quakesynth.config import from_dict
    from quakesynth.models.refiner import RefinerConfig
    from quakesynth.physics.data import load_corpus, split_indices
    from quakesynth.physics.models import Surrogate
    from quakesynth.physics.train import surrogate_pairs, train_refiner
    from quakesynth.train.config import TrainConfig

    d = _configs(preset, overrides)
    if patch is not None:
        d["refiner"]["patch"] = patch
    res = _prepare(out, resume, threads)
    data = load_corpus(corpus, limit=limit)
    sp = split_indices(len(data["u"]), (0.8, 0.1, 0.1), seed=0)
    rcfg = from_dict(RefinerConfig, d["refiner"])
    sur = Surrogate(surrogate_dir)
    _write_resolved(out, "refiner", d, corpus=str(corpus), surrogate=str(surrogate_dir), limit=limit)
    pairs = surrogate_pairs(sur, data, sp["train"], patch=rcfg.patch)
    val = surrogate_pairs(sur, data, sp["dev"], patch=rcfg.patch) if len(sp["dev"]) else None
    path = train_refiner(pairs, out, rcfg, from_dict(TrainConfig, d["train"]), fs=float(data["fs"]), val_pairs=val,
                         resume=res, progress=not quiet,
                         extra={"surrogate": str(surrogate_dir), "num_steps": int(d.get("num_steps", 18))})
    if calibrate:
        fmax = float(json.loads((Path(corpus) / "config.json").read_text())["wave3d"]["fmax"])
        band = coherence_band(float(data["fs"]), fmax)
        result = calibrate_model(path, sur, data, sp["dev"][:calibration_wavefields], band,
                                 int(d.get("num_steps", 18)))
        click.echo(f"noise correlation: length {result['length']:g} spacings, power {result['power']:g}, "
                   f"max |coherence error| {result['max_abs_error']:.3f}", err=True)
    click.echo(f"model written to {path}", err=True)


def coherence_band(fs: float, fmax: float) -> tuple[float, float]:
    """High-frequency band of the coherence (the top third of the corpus band), Hz."""
    return (2 * fmax / 3, min(fmax * 1.2, fs / 2 * 0.9))


def calibrate_model(model_dir, sur, data: dict, idx, band: tuple[float, float], num_steps: int = 18,
                    seed: int = 0, **grid) -> dict:
    """Fit the noise correlation of a refiner on wavefields ``idx`` of ``data`` (coherence in
    ``band`` Hz against the simulated truth) and store it in the model directory."""
    import torch

    from quakesynth.modeldir import load_model_dir, save_model_dir
    from quakesynth.physics.evaluate import hf_coherence
    from quakesynth.physics.joint import calibrate_noise_correlation, refine_wavefields
    from quakesynth.physics.models import load_refiner

    idx = np.asarray(idx)
    ref, config = load_refiner(model_dir)
    y = sur.predict(data["vs"][idx], data["source"][idx])
    fs = float(data["fs"])
    target = hf_coherence(data["u"][idx], fs, band, 4)
    result = calibrate_noise_correlation(
        lambda length, power: refine_wavefields(ref, y, seed=seed, length=length, power=power, num_steps=num_steps),
        lambda u: hf_coherence(u, fs, band, 4), target, **grid)
    cfg, sd = load_model_dir(model_dir, map_location="cpu")
    for k in ("format", "format_version", "quakesynth_version", "weights"):
        cfg.pop(k, None)
    cfg["noise_correlation"] = {**{k: result[k] for k in ("length", "power", "max_abs_error")},
                                "band_hz": list(band), "target": target.tolist(), "wavefields": len(idx)}
    save_model_dir(model_dir, cfg, {k: {n: torch.as_tensor(t) for n, t in v.items()} for k, v in sd.items()},
                   overwrite=True)
    return result


@cli.command()
@click.option("--data", "dataset", required=True, type=click.Path(exists=True, file_okay=False),
              help="Dataset store of broadband records (`quakesynth simulate` corpus; splits train, dev).")
@click.option("--preset", default="refiner_broadband_small", help="Preset name (configs/<name>.yaml) or YAML file.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use the first N training records.")
@common
def broadband(dataset, preset, limit, out, overrides, threads, resume, quiet) -> None:
    """Train the broadband refiner on low-passed pairs of a broadband dataset.

    \b
    Example:
      python -m quakesynth.physics.run broadband --data corpus --preset refiner_broadband_small -o runs/broadband
      quakesynth refine record.mseed --model runs/broadband/model --fc 1.0 -o broadband.mseed
    """
    from quakesynth.config import from_dict
    from quakesynth.models.refiner import RefinerConfig
    from quakesynth.physics.broadband import BroadbandConfig
    from quakesynth.physics.train import train_broadband
    from quakesynth.train.config import TrainConfig

    d = _configs(preset, overrides)
    res = _prepare(out, resume, threads)
    bb = from_dict(BroadbandConfig, d.get("broadband", {}))
    _write_resolved(out, "broadband", d, data=str(dataset), limit=limit)
    path = train_broadband(dataset, out, from_dict(RefinerConfig, d["refiner"]), from_dict(TrainConfig, d["train"]),
                           bb, limit=limit, resume=res, progress=not quiet)
    click.echo(f"model written to {path}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point; 0 ok, 2 bad input (one line on stderr)."""
    try:
        rv = cli.main(args=argv, prog_name="python -m quakesynth.physics.run", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        click.echo(f"error: {msg}", err=True)
        return 2
    return int(rv or 0)


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.exit(main())

