"""Lightning callbacks and checkpoint I/O: EMA of the weights, periodic resumable
checkpoints written atomically, weights-only checkpoint loading."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from quakesynth._atomic import atomic_path


class EMA(pl.Callback):
    """Exponential moving average of the trainable network's weights.

    After optimiser step ``t`` (1, 2, ...), ``theta_ema <- beta * theta_ema + (1 - beta) * theta``
    for floating-point parameters and buffers of ``pl_module.ema_target()`` (other buffers are
    copied), with ``beta = decay``, or ``min(decay, (1 + t) / (10 + t))`` with ``rampup``.
    The average lives in the callback's state, so it is saved in every resumable checkpoint and
    restored on resume.
    """

    def __init__(self, decay: float = 0.999, rampup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1); got {decay}")
        self.decay = float(decay)
        self.rampup = bool(rampup)
        self.ema: dict[str, torch.Tensor] | None = None

    def beta(self, t: int) -> float:
        """Decay used at update ``t``."""
        return min(self.decay, (1 + t) / (10 + t)) if self.rampup else self.decay

    @property
    def state_key(self) -> str:
        return "EMA"

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        target = pl_module.ema_target()
        if self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in target.state_dict().items()}
        else:
            missing = set(target.state_dict()) ^ set(self.ema)
            if missing:
                raise ValueError(f"EMA state does not match the network (differing keys {sorted(missing)[:5]})")
            self.ema = {k: v.to(pl_module.device) for k, v in self.ema.items()}

    @torch.no_grad()
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        assert self.ema is not None
        w = 1.0 - self.beta(trainer.global_step)
        for k, v in pl_module.ema_target().state_dict().items():
            e = self.ema[k]
            if e.is_floating_point():
                e.lerp_(v.detach().to(e.dtype), w)
            else:
                e.copy_(v)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "rampup": self.rampup,
                "ema": {k: v.detach().cpu() for k, v in (self.ema or {}).items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.decay = float(state_dict["decay"])
        self.rampup = bool(state_dict.get("rampup", True))
        self.ema = dict(state_dict["ema"]) or None

    def averaged_state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights (a state dict of ``ema_target()``), on CPU."""
        if self.ema is None:
            raise RuntimeError("EMA has not started: no training step was run")
        return {k: v.detach().cpu().clone() for k, v in self.ema.items()}


class PeriodicCheckpoint(Checkpoint):
    """Resumable checkpoint ``last.ckpt`` every ``every`` optimiser steps, plus up to ``keep``
    step-numbered copies ``step-00001000.ckpt``.

    Subclassing Lightning's ``Checkpoint`` makes it run after every other callback, so the EMA
    of the step is in the file.
    """

    def __init__(self, dirpath: str | Path, every: int, keep: int = 1) -> None:
        self.dirpath = Path(dirpath)
        self.every, self.keep = int(every), int(keep)
        self._saved_step = -1  # the step of the last save (on_train_end saves only a newer one)

    @property
    def state_key(self) -> str:
        return "PeriodicCheckpoint"

    @property
    def last(self) -> Path:
        return self.dirpath / "last.ckpt"

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every == 0 or step >= (trainer.max_steps or 0) > 0:
            self.save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """A run stopped early (``train.max_minutes``) still leaves a checkpoint of its last step."""
        if trainer.global_step > 0 and self._saved_step != trainer.global_step:
            self.save(trainer)

    def save(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        self._saved_step = step
        trainer.save_checkpoint(self.last, weights_only=False)
        if self.keep > 0:
            trainer.save_checkpoint(self.dirpath / f"step-{step:08d}.ckpt", weights_only=False)
            if trainer.is_global_zero:
                old = sorted(self.dirpath.glob("step-*.ckpt"), key=_step_of)
                for p in old[:-self.keep]:
                    p.unlink(missing_ok=True)


def _step_of(p: Path) -> int:
    m = re.search(r"step-(\d+)", p.name)
    return int(m.group(1)) if m else -1


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoint files written beside the target and moved into place (an interrupted save
    never leaves a truncated ``last.ckpt``) and read with weights-only deserialisation."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        with atomic_path(path, overwrite=True) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = True) -> dict[str, Any]:
        if not os.path.exists(path):
            raise FileNotFoundError(f"checkpoint {str(path)!r} not found")
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)
