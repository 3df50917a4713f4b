"""The LightningModule base of every quakesynth model: optimiser, schedule, per-step seeding.

Subclasses implement :meth:`TrainModule.ema_target` (the network that is optimised, averaged
and saved) and :meth:`TrainModule.compute_loss` (a scalar loss and extra values to log).

Reproducibility: before every training step the global torch RNG (CPU and CUDA) is seeded
from ``(seed, global_step, rank)``; validation batches from ``(seed, "val", batch_idx)``.
Every random draw of a step (noise levels, noise, dropout, conditioning dropout) is thus a
function of the step, so a resumed run repeats the uninterrupted one without having to
restore generator states, and validation losses are comparable between evaluations.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from quakesynth.train.config import TrainConfig


def step_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed derived from ``seed`` and integer keys (step, rank...)."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def cosine_factor(step: int, max_steps: int, warmup_steps: int = 0, floor: float = 0.0) -> float:
    """Learning-rate multiplier: linear warm-up, then half a cosine from 1 down to ``floor``.

    >>> cosine_factor(0, 100), cosine_factor(50, 100), cosine_factor(100, 100)
    (1.0, 0.5, 0.0)
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(max_steps - warmup_steps, 1)
    t = min(max(step - warmup_steps, 0), span) / span
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


class TrainModule(pl.LightningModule):
    """Base class; see the module docstring."""

    def __init__(self, train: TrainConfig) -> None:
        super().__init__()
        self.train_cfg = train

    # -- to implement ----------------------------------------------------------------------
    def ema_target(self) -> nn.Module:
        """The trained network (its parameters are optimised, averaged and saved)."""
        raise NotImplementedError

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Scalar loss of a batch and other scalars to log."""
        raise NotImplementedError

    # -- Lightning hooks -------------------------------------------------------------------
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(step_seed(self.train_cfg.seed, self.global_step, self.global_rank))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, logs = self.compute_loss(batch)
        self.log("train/loss", loss.detach(), prog_bar=True)
        for k, v in logs.items():
            self.log(f"train/{k}", v.detach() if torch.is_tensor(v) else v)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        state = torch.random.get_rng_state()
        torch.manual_seed(step_seed(self.train_cfg.seed, 2**31, batch_idx))
        try:
            loss, logs = self.compute_loss(batch)
        finally:
            torch.random.set_rng_state(state)
        self.log("val/loss", loss, sync_dist=True, prog_bar=True)
        for k, v in logs.items():
            self.log(f"val/{k}", v, sync_dist=True)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.train_cfg
        params = [p for p in self.ema_target().parameters() if p.requires_grad]
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        if cfg.weight_decay > 0:
            opt = torch.optim.AdamW(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, betas=betas)
        floor = cfg.lr_min / cfg.lr
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: cosine_factor(s, cfg.max_steps, cfg.warmup_steps, floor))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
