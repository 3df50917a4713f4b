"""The one training loop of every kind: :func:`fit` (Lightning Trainer with EMA, periodic
resumable checkpoints, CSV loss curves, deterministic data order, single- or multi-process
(DDP) execution) and :func:`run_plan`, which fits the stages of a recipe's plan
(:mod:`quakesynth.train.recipes`) and writes the model directory.

The run folder::

    RUN/
      config.yaml          resolved run configuration (written by :mod:`quakesynth.train.run`)
      checkpoints/         last.ckpt (+ step-XXXXXXXX.ckpt): resumable Lightning checkpoints
      logs/metrics.csv     loss curves (step, train/loss, val/loss, lr, ...)
      model/               the self-describing model directory (written at the end)
"""

from __future__ import annotations

import csv
import datetime
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from torch.utils.data import DataLoader

from quakesynth._atomic import atomic_path
from quakesynth.train.batching import StepBatchSampler
from quakesynth.train.callbacks import EMA, AtomicCheckpointIO, PeriodicCheckpoint
from quakesynth.train.config import TrainConfig


class ArrayDataset(torch.utils.data.Dataset):
    """In-memory records as named arrays with a common first axis; items and batches are dicts
    of tensors (batched fetching through ``__getitems__``)."""

    def __init__(self, **arrays: np.ndarray | torch.Tensor) -> None:
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = {k: torch.as_tensor(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v)
                       for k, v in arrays.items()}
        lengths = {k: len(v) for k, v in self.arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"arrays have different lengths: {lengths}")
        self.n = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.arrays.items()}

    def __getitems__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        t = torch.as_tensor(idx, dtype=torch.long)
        return {k: v[t] for k, v in self.arrays.items()}


def _passthrough(batch: Any) -> Any:
    return batch


class _AppendingWriter(ExperimentWriter):
    """CSV writer that keeps an existing metrics.csv (Lightning's deletes it)."""

    def __init__(self, log_dir: str, keys: list[str]) -> None:
        super().__init__(log_dir)
        self.metrics_keys = list(keys)

    def _check_log_dir_exists(self) -> None:
        pass


class ResumableCSVLogger(pl.loggers.CSVLogger):
    """CSVLogger writing ``RUN/logs/metrics.csv``; when resuming from step ``s`` it keeps the
    rows of steps before ``s`` (those after were logged by the interrupted run and are
    recomputed) and appends, so the file holds one continuous loss curve."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None) -> None:
        super().__init__(save_dir=str(run_dir), name="logs", version="")
        self._keys: list[str] = []
        path = Path(self.log_dir) / "metrics.csv"
        if resume_step is not None and path.exists():
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                self._keys = list(reader.fieldnames or [])
                rows = [r for r in reader if int(float(r.get("step") or 0)) < resume_step]
            with atomic_path(path, overwrite=True) as tmp, open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self._keys)
                writer.writeheader()
                writer.writerows(rows)
        elif path.exists():
            path.unlink()

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            Path(self.log_dir).mkdir(parents=True, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, self._keys)
        return self._experiment


def _checkpoint_step(path: Path) -> int:
    """The global step stored in a Lightning checkpoint (weights-only read)."""
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


class StepDataModule(pl.LightningDataModule):
    """Training batches from :class:`StepBatchSampler` (resumable, DDP-aware); validation
    batches in a fixed order."""

    def __init__(self, train_set: ArrayDataset, val_set: ArrayDataset | None, batch_size: int,
                 seed: int, max_steps: int, num_workers: int = 0) -> None:
        super().__init__()
        self.train_set, self.val_set = train_set, val_set
        self.batch_size, self.seed, self.max_steps = batch_size, seed, max_steps
        self.num_workers = num_workers

    def train_dataloader(self) -> DataLoader:
        sampler = StepBatchSampler(
            len(self.train_set), self.batch_size, self.seed,
            start_step=lambda: self.trainer.global_step, rank=lambda: self.trainer.global_rank,
            world_size=lambda: self.trainer.world_size, max_steps=self.max_steps)
        return DataLoader(self.train_set, batch_sampler=sampler, collate_fn=_passthrough,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None or len(self.val_set) == 0:
            return []  # type: ignore[return-value]
        batches = [list(range(i, min(i + self.batch_size, len(self.val_set))))
                   for i in range(0, len(self.val_set), self.batch_size)]
        return DataLoader(self.val_set, batch_sampler=batches, collate_fn=_passthrough)


def build_trainer(run_dir: str | Path, train: TrainConfig, devices: int = 1, accelerator: str = "cpu",
                  strategy: str | None = None, progress: bool = True, has_val: bool = False,
                  extra_callbacks: Sequence[pl.Callback] = (),
                  resume_step: int | None = None) -> tuple[pl.Trainer, EMA]:
    """A configured Trainer and its EMA callback (see the module doc for the run folder)."""
    run_dir = Path(run_dir)
    if accelerator not in ("cpu", "gpu", "cuda", "mps", "auto"):
        raise ValueError(f"accelerator must be cpu, gpu, cuda, mps or auto; got {accelerator!r}")
    if devices < 1:
        raise ValueError(f"devices must be >= 1; got {devices}")
    precision = str(train.precision)
    if accelerator == "cpu" and precision == "16-mixed":
        raise ValueError("precision '16-mixed' needs a GPU; use 'bf16-mixed' or '32' on CPU")
    if strategy is None:
        strategy = "ddp" if devices > 1 else "auto"
    ema = EMA(train.ema_decay, train.ema_rampup)
    callbacks: list[pl.Callback] = [ema, *extra_callbacks,
                                    PeriodicCheckpoint(run_dir / "checkpoints", train.checkpoint_every,
                                                       train.keep_checkpoints)]
    if progress:
        callbacks.append(pl.callbacks.TQDMProgressBar(refresh_rate=max(1, train.log_every)))
    logger = ResumableCSVLogger(run_dir, resume_step)
    val = has_val and train.val_every > 0
    max_time = datetime.timedelta(minutes=train.max_minutes) if train.max_minutes > 0 else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer = pl.Trainer(
            max_steps=train.max_steps, max_epochs=-1, max_time=max_time, accelerator=accelerator, devices=devices,
            strategy=strategy, precision=precision, callbacks=callbacks, logger=logger,
            log_every_n_steps=train.log_every, enable_progress_bar=progress,
            enable_model_summary=False, num_sanity_val_steps=0,
            val_check_interval=train.val_every if val else None,
            check_val_every_n_epoch=None, limit_val_batches=train.val_batches if val else 0,
            gradient_clip_val=train.grad_clip or None, use_distributed_sampler=False,
            plugins=[AtomicCheckpointIO()], default_root_dir=str(run_dir))
    return trainer, ema


def fit(module: pl.LightningModule, data: StepDataModule, run_dir: str | Path, train: TrainConfig,
        resume: bool = False, devices: int = 1, accelerator: str = "cpu", strategy: str | None = None,
        progress: bool = True, extra_callbacks: Sequence[pl.Callback] = ()) -> tuple[pl.Trainer, EMA]:
    """Train ``module`` on ``data`` into ``run_dir``; with ``resume`` continue from
    ``run_dir/checkpoints/last.ckpt`` (weights-only load) exactly where it stopped."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if resume and not ckpt.exists():
        raise FileNotFoundError(f"cannot resume: {str(ckpt)!r} does not exist")
    trainer, ema = build_trainer(run_dir, train, devices=devices, accelerator=accelerator,
                                 strategy=strategy, progress=progress,
                                 has_val=data.val_set is not None and len(data.val_set) > 0,
                                 extra_callbacks=extra_callbacks,
                                 resume_step=_checkpoint_step(ckpt) if resume else None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*infinite.*")
        warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before the epoch ended.*")
        warnings.filterwarnings("ignore", message=".*Experiment logs directory.*")
        warnings.filterwarnings("ignore", message=".*You are using a CUDA device.*")
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # the frozen VAE
        trainer.fit(module, datamodule=data, ckpt_path=str(ckpt) if resume else None, weights_only=True)
    return trainer, ema


def run_plan(plan: Any, out: str | Path, resume: bool = False, devices: int = 1, accelerator: str = "cpu",
             strategy: str | None = None, progress: bool = True, meta: dict[str, Any] | None = None,
             warm: Callable[[Any], Any] | None = None) -> Path | None:
    """Fit the stages of ``plan`` in ``out`` (:func:`quakesynth.train.fit.fit`: EMA, resumable
    checkpoints, CSV losses, DDP) and write ``out/model``; returns its path (``None`` in DDP
    worker processes). ``meta``: written with the resolved config to ``out/config.yaml``;
    ``warm(module)``: called on the first stage's module before training (a warm start).

    ``plan``: a :class:`quakesynth.train.recipes.Plan`. With ``resume``, every stage that has a
    ``checkpoints/last.ckpt`` continues from it; the others start at step 0.
    """
    import yaml

    from quakesynth.config import to_dict
    from quakesynth.modeldir import save_model_dir, steps_behind

    out = Path(out)
    if int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0 \
            and int(os.environ.get("RANK", "0")) == 0:
        out.mkdir(parents=True, exist_ok=True)
        if meta is not None:
            with atomic_path(out / "config.yaml", overwrite=True) as tmp:
                tmp.write_text(yaml.safe_dump({**meta, "config": to_dict(plan.config)}, sort_keys=False))
    modules: list[Any] = []
    states: dict[str, dict[str, torch.Tensor]] = {}
    trainer = None
    for i, stage in enumerate(plan.stages):
        module = stage.build(states)
        if warm is not None and i == 0:
            warm(module)
        run_dir = out / stage.name if stage.name else out
        t = stage.train
        data = StepDataModule(ArrayDataset(**stage.arrays),
                              ArrayDataset(**stage.val_arrays) if stage.val_arrays else None,
                              t.batch_size, t.seed, t.max_steps, t.num_workers)
        trainer, ema = fit(module, data, run_dir, t, resume=resume and (run_dir / "checkpoints" / "last.ckpt").exists(),
                           devices=devices, accelerator=accelerator, strategy=strategy, progress=progress)
        states[stage.name] = ema.averaged_state_dict()
        modules.append(module)
    if trainer is None or not trainer.is_global_zero:
        return None
    from quakesynth import __version__

    last = plan.stages[-1].train
    provenance = {"kind": (meta or {}).get("kind"), "dataset": (meta or {}).get("data"), "run": str(out),
                  "steps": int(trainer.global_step), "quakesynth_version": __version__,
                  "weights": f"EMA (decay {last.ema_decay:g})"}
    if (meta or {}).get("init"):  # a warm start: the steps behind the weights include the init's
        provenance["init"] = str(meta["init"])
        before = steps_behind(meta["init"])
        provenance["steps_total"] = None if before is None else provenance["steps"] + before
    config_dict, state_dicts = plan.export(modules, states, provenance)
    return save_model_dir(out / "model", config_dict, state_dicts, overwrite=True)
