"""Process pools and ordered work units: the one set-up of every local process pool.

:func:`process_pool` is the pool of the evaluation, the IM tables and the simulator corpus:
spawned processes with one BLAS/OpenMP thread each, plus the caller's own initialiser.

The IM stage of the evaluation is a sequence of independent work units (one generated or
recorded batch each). :class:`OrderedPipeline` runs them in process (``workers=1``) or on an
executor (a local process pool by default; any ``concurrent.futures.Executor`` such as an MPI
or cluster pool can be passed), keeps a bounded number in flight so that memory stays
independent of the dataset size, and hands results back strictly in submission order. Results
therefore never depend on the number of workers: every reduction in the main process sees the
same units in the same order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(initializer: Callable[..., Any] | None = None, *initargs: Any) -> None:
    """Worker initialiser: one BLAS/OpenMP thread per process (the pool is the parallelism),
    then the caller's ``initializer(*initargs)``."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        pass
    if initializer is not None:
        initializer(*initargs)


def process_pool(workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> Executor:
    """A local pool of ``workers`` spawned processes with one thread each.

    ``spawn`` (not ``fork``) so that a parent holding torch/OpenMP threads cannot deadlock
    its children. ``initializer(*initargs)`` (picklable) runs once in each worker, after the
    thread limits.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers}")
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_init_worker, initargs=(initializer, *initargs))


class OrderedPipeline:
    """Submit work units; their callbacks run in submission order.

    Parameters
    ----------
    executor : where units run; ``None`` runs each unit immediately in this process.
    max_pending : units in flight before the oldest is waited for (bounds memory).
    """

    def __init__(self, executor: Executor | None = None, max_pending: int = 4) -> None:
        self.executor = executor
        self.max_pending = max(1, int(max_pending))
        self._queue: deque[tuple[Future | Any, Callable[[Any], None]]] = deque()

    def submit(self, fn: Callable[..., Any], *args: Any, callback: Callable[[Any], None],
               **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` and later call ``callback(result)`` (in submission order)."""
        if self.executor is None:
            callback(fn(*args, **kwargs))
            return
        self._queue.append((self.executor.submit(fn, *args, **kwargs), callback))
        while len(self._queue) > self.max_pending:
            self._pop()

    def _pop(self) -> None:
        fut, callback = self._queue.popleft()
        callback(fut.result())

    def imap(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``fn(item)`` for each item, yielded in order, at most ``max_pending`` in flight."""
        done: deque[Any] = deque()
        for item in items:
            self.submit(fn, item, callback=done.append)
            while done:
                yield done.popleft()
        self.drain()
        while done:
            yield done.popleft()

    def drain(self) -> None:
        """Wait for every unit in flight and run its callback."""
        while self._queue:
            self._pop()
