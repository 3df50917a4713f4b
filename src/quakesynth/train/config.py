"""Training configuration shared by every model kind (optimiser, schedule, EMA, checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("32", "bf16-mixed", "16-mixed", "64")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of one training run."""

    max_steps: int = 1000  # optimiser steps in the whole run (the cosine schedule spans them)
    batch_size: int = 32  # records per optimiser step on each device (global batch = batch_size x devices)
    lr: float = 1e-4  # peak learning rate of Adam
    lr_min: float = 0.0  # learning rate at the end of the cosine schedule
    warmup_steps: int = 0  # linear warm-up steps before the cosine decay
    adam_beta1: float = 0.9  # Adam beta_1
    adam_beta2: float = 0.999  # Adam beta_2
    weight_decay: float = 0.0  # decoupled weight decay (AdamW) when > 0
    grad_clip: float = 0.0  # clip the gradient norm to this value; 0 disables
    ema_decay: float = 0.999  # exponential moving average of the weights, per step
    ema_rampup: bool = True  # use decay min(ema_decay, (1 + t) / (10 + t)) at update t, so short runs average recent weights
    seed: int = 0  # seeds weight init, data order and every per-step random draw
    precision: str = "32"  # "32", "bf16-mixed", "16-mixed" (GPUs) or "64"
    checkpoint_every: int = 500  # steps between resumable checkpoints (and at the end)
    keep_checkpoints: int = 1  # step-numbered checkpoints kept besides last.ckpt (0: only last.ckpt)
    log_every: int = 10  # steps between logged loss values (CSV)
    val_every: int = 0  # steps between validation passes on the dev split; 0 disables
    val_batches: int = 4  # batches per validation pass
    num_workers: int = 0  # data-loader worker processes

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "checkpoint_every", "log_every", "val_batches"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}")
        for name in ("warmup_steps", "val_every", "num_workers", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); got {self.ema_decay}")
        if self.lr <= 0 or self.lr_min < 0 or self.lr_min > self.lr:
            raise ValueError(f"need 0 <= lr_min <= lr and lr > 0; got lr={self.lr}, lr_min={self.lr_min}")
        if str(self.precision) not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {self.precision!r}")
