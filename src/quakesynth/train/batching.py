"""Deterministic, resumable data order.

The training stream is an endless concatenation of permutations of the training records,
permutation ``e`` drawn from ``(seed, e)``. Optimiser step ``s`` uses global batch ``s``:
stream positions ``[s * B, (s + 1) * B)`` with ``B = batch_size * world_size``; rank ``r``
takes the ``r``-th slice of it. The data of a step is therefore a function of
``(seed, step)`` alone, so a run resumed at step ``s`` sees exactly the batches an
uninterrupted run sees, and a DDP run with ``k`` devices sees the same global batches as one
device with a ``k`` times larger batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np


def stream_indices(n: int, seed: int, start: int, count: int) -> np.ndarray:
    """Positions ``[start, start + count)`` of the permutation stream of ``n`` records.

    >>> a = stream_indices(5, 0, 0, 10)
    >>> sorted(a[:5].tolist()) == list(range(5)) and sorted(a[5:].tolist()) == list(range(5))
    True
    """
    if n <= 0:
        raise ValueError(f"n must be positive; got {n}")
    pos = np.arange(start, start + count, dtype=np.int64)
    epochs = pos // n
    out = np.empty(count, dtype=np.int64)
    for e in np.unique(epochs):
        sel = epochs == e
        perm = np.random.default_rng([int(seed), int(e)]).permutation(n)
        out[sel] = perm[pos[sel] - e * n]
    return out


class StepBatchSampler:
    """Batch sampler whose batch ``s`` depends only on ``(seed, s)`` (see module doc).

    Parameters
    ----------
    n : number of records.
    batch_size : records per device per step.
    seed : data-order seed.
    start_step : callable giving the step to start from when iteration begins (the trainer's
        global step, so a resumed run continues the stream).
    rank, world_size : callables giving this process's rank and the number of processes.
    max_steps : the stream ends at this step (``None``: endless).
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_step: Callable[[], int] = lambda: 0,
                 rank: Callable[[], int] = lambda: 0, world_size: Callable[[], int] = lambda: 1,
                 max_steps: int | None = None) -> None:
        if n <= 0:
            raise ValueError(f"the training split is empty (n={n})")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive; got {batch_size}")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.start_step, self.rank, self.world_size = start_step, rank, world_size
        self.max_steps = max_steps

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> np.ndarray:
        """Record indices of ``rank``'s share of global batch ``step``."""
        big = self.batch_size * world_size
        idx = stream_indices(self.n, self.seed, step * big, big)
        return idx[rank * self.batch_size:(rank + 1) * self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        step, rank, world = int(self.start_step()), int(self.rank()), int(self.world_size())
        while self.max_steps is None or step < self.max_steps:
            yield self.batch(step, rank, world).tolist()
            step += 1
