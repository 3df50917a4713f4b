"""Data-parallel generation of large ensembles over several processes, GPUs or nodes.

The flattened (scenario, realisation) list of a scenario table is cut into contiguous,
disjoint slices, one per rank; rank ``r`` generates its slice with
``Generator.iter_table(rows=slice)`` and streams it into a part on disk; the parts are then
merged in rank order into the requested output format. Because every waveform depends only on
``(seed, scenario row, realisation)`` (:func:`quakesynth.generate.waveform_seed`), the result is
identical to a single-process run, whatever the number of ranks or the batch size.

One machine (several CPU processes or GPUs)::

    generate_parallel("default", "scenarios.csv", "out.h5", workers=4,
                      devices=["cuda:0", "cuda:1", "cuda:2", "cuda:3"])

Several nodes (e.g. under ``torchrun`` or SLURM, which set ``RANK`` and ``WORLD_SIZE``): each
rank runs ``generate_rank(model, table, "parts/", rank, world_size)``; once all are done, one
process runs ``merge_parts("parts/", "out.h5")``.

Workers are started with the ``spawn`` method (safe with CUDA and threads); ``model`` is a
registered name or a saved-model path (each worker loads it), a picklable Generator class /
factory (called with ``model_kwargs``), or a Generator instance (pickled to every worker).
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quakesynth.generate.base import Generator
from quakesynth.generate.output import DEFAULT_ORIGIN_TIME
from quakesynth.generate.registry import load_model, model_factory
from quakesynth.records import Records

ModelSpec = str | Path | Callable[..., Generator] | Generator


def rank_slice(total: int, rank: int, world_size: int) -> slice:
    """The contiguous share of rank ``rank`` of ``total`` waveforms (sizes differ by at most 1).

    >>> [rank_slice(10, r, 3) for r in range(3)]
    [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size; got rank={rank}, world_size={world_size}")
    q, r = divmod(int(total), int(world_size))
    start = rank * q + min(rank, r)
    return slice(start, start + q + (1 if rank < r else 0))


# -- threads --------------------------------------------------------------------------------
#: Environment variable giving the threads per process of every command (``--threads`` wins).
THREADS_ENV = "QUAKESYNTH_THREADS"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """CPU cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def default_threads(workers: int = 1) -> int:
    """Threads per process when none is given: ``$QUAKESYNTH_THREADS``, else 1.

    One thread per process is the default on purpose (issue 14, benchmarks/results/reliability.md):

    - it never oversubscribes, whatever else runs on the machine: with one competing CPU-bound
      process, 2 threads on the 2-core box were 1.9 times slower than 1 (OpenMP workers wait on
      each other when one is descheduled); the cores available to the process (affinity, cgroup
      quota) cannot see another process's load;
    - the learned models' bits depend on the thread count (rounding of the reductions), so a
      fixed default gives the same waveforms on every machine, whatever its core count;
    - idle, the second thread gained only 13 % on 2 cores. For throughput use ``workers`` (data
      parallel, bitwise equal to one thread) or ``--threads N`` explicitly.

    ``workers`` is accepted for the callers' symmetry; workers x 1 thread never exceeds the
    workers asked for.
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive whole number of threads; got {env!r}")
        return int(env)
    return 1


def set_threads(threads: int | None = None, workers: int = 1) -> int:
    """Use ``threads`` (default :func:`default_threads`) compute threads in this process (torch
    intra-op, OpenMP, MKL, OpenBLAS; the environment variables are inherited by workers);
    returns the number. Results of the learned models are bitwise reproducible for a given
    device and thread count; a different thread count changes the rounding of the networks."""
    n = int(threads) if threads else default_threads(workers)
    if n < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    for var in _THREAD_VARS:
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    return n


def _load(model: ModelSpec, model_kwargs: dict | None) -> Generator:
    if isinstance(model, Generator):
        return model
    if isinstance(model, (str, Path)):
        return load_model(model, **(model_kwargs or {}))
    return model(**(model_kwargs or {}))


# -- parts ---------------------------------------------------------------------------------
def _part_name(rank: int, world_size: int) -> str:
    return f"part-{rank:05d}-of-{world_size:05d}"


def generate_rank(model: ModelSpec, scenarios: pd.DataFrame | str | Path, parts_dir: str | Path,
                  rank: int, world_size: int, seed: int = 0, batch_size: int | None = None,
                  device: str = "cpu", quantity: str = "acceleration", allow_extrapolation: bool = False,
                  model_kwargs: dict | None = None, counter: Any = None,
                  origin_time: str = DEFAULT_ORIGIN_TIME) -> Path:
    """Generate rank ``rank``'s slice of the table into ``parts_dir/part-RRRRR-of-WWWWW/``
    (``data.npy`` (n, C, T) float32 written through a memory map, ``metadata.json``,
    ``format.json``); returns the part folder. ``counter`` (a shared integer) counts waveforms."""
    gen = _load(model, model_kwargs)
    table = gen.check_table(scenarios, allow_extrapolation)
    total = int(table["n"].sum())
    rows = rank_slice(total, rank, world_size)
    part = Path(parts_dir) / _part_name(rank, world_size)
    part.mkdir(parents=True, exist_ok=True)
    count = rows.stop - rows.start
    data, meta, info, done = None, [], {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # extrapolation warnings were shown by the caller
        for chunk in gen.iter_table(table, seed=seed, batch_size=batch_size, device=device,
                                    allow_extrapolation=allow_extrapolation, rows=rows, quantity=quantity,
                                    origin_time=origin_time):
            if data is None:
                data = np.lib.format.open_memmap(part / "data.npy", mode="w+", dtype=np.float32,
                                                 shape=(count, chunk.n_components, chunk.n_samples))
                info = {"fs": chunk.fs, "components": chunk.components, "quantity": chunk.quantity,
                        "unit": chunk.unit, "count": count, "rows": [rows.start, rows.stop]}
            data[done:done + len(chunk)] = chunk.data
            meta.append(chunk.metadata)
            done += len(chunk)
            if counter is not None:
                with counter.get_lock():
                    counter.value += len(chunk)
    if data is not None:
        data.flush()
        del data
        from quakesynth.formats._common import metadata_to_json

        (part / "metadata.json").write_text(metadata_to_json(pd.concat(meta, ignore_index=True)), encoding="utf-8")
    import json

    (part / "format.json").write_text(json.dumps({**info, "count": done}), encoding="utf-8")
    return part


def iter_part(part: str | Path, chunk_size: int = 256) -> Iterator[Records]:
    """Stream a part written by :func:`generate_rank` as Records chunks (memory-mapped)."""
    import json

    from quakesynth.formats._common import metadata_from_json

    part = Path(part)
    info = json.loads((part / "format.json").read_text(encoding="utf-8"))
    if info["count"] == 0:
        return
    data = np.load(part / "data.npy", mmap_mode="r")
    meta = metadata_from_json((part / "metadata.json").read_text(encoding="utf-8"))
    for start in range(0, info["count"], chunk_size):
        stop = min(start + chunk_size, info["count"])
        yield Records(np.array(data[start:stop]), fs=info["fs"], components=info["components"],
                      quantity=info["quantity"], unit=info["unit"], metadata=meta.iloc[start:stop])


def merge_parts(parts: str | Path | Sequence[str | Path], output: str | Path, format: str | None = None,
                overwrite: bool = False, chunk_size: int = 256) -> int:
    """Merge parts (a folder of ``part-*`` folders, or a list of them in rank order) into one
    output of any format, streaming; returns the number of records written."""
    from quakesynth.formats import open_writer

    if isinstance(parts, (str, Path)):
        parts = sorted(p for p in Path(parts).iterdir() if p.name.startswith("part-"))
        if not parts:
            raise ValueError("no part-* folders to merge")
    with open_writer(output, format=format, overwrite=overwrite) as w:
        for part in parts:
            for chunk in iter_part(part, chunk_size):
                w.add(chunk)
    return w.count


# -- one machine, several processes --------------------------------------------------------
def _worker(model, model_kwargs, table, parts_dir, rank, world_size, kw, counter, threads) -> None:
    set_threads(threads)
    try:
        generate_rank(model, table, parts_dir, rank, world_size, model_kwargs=model_kwargs,
                      counter=counter, **kw)
    except BaseException:
        (Path(parts_dir) / f"error-{rank}.txt").write_text(traceback.format_exc(), encoding="utf-8")
        raise SystemExit(1) from None


def generate_parallel(model: ModelSpec, scenarios: pd.DataFrame | str | Path, output: str | Path, *,
                      workers: int = 2, devices: Sequence[str] | None = None, format: str | None = None,
                      overwrite: bool = False, seed: int = 0, batch_size: int | None = None,
                      quantity: str = "acceleration", allow_extrapolation: bool = False,
                      progress: bool = False, model_kwargs: dict | None = None,
                      threads: int | None = None, origin_time: str = DEFAULT_ORIGIN_TIME) -> int:
    """Generate a scenario table with ``workers`` processes and write one output.

    Parameters
    ----------
    model : registered name, saved-model path, a picklable Generator class / factory, or a
        Generator instance (pickled to each worker).
    scenarios : DataFrame or CSV path (see :meth:`Generator.generate_table`).
    output : output path (format from the suffix unless ``format``).
    workers : number of processes (ranks); rank ``r`` uses ``devices[r % len(devices)]``
        (default ``"cpu"`` for all).
    threads : compute threads per worker (default :func:`default_threads`: ``$QUAKESYNTH_THREADS``,
        else the available cores divided by ``workers``); the output is bitwise that of a
        single process run with the same threads.
    Other parameters as :func:`quakesynth.generate.generate_to_file`.

    Returns the number of waveforms written; the output equals a single-process run's.
    """
    from quakesynth.formats import open_writer
    from quakesynth.generate.base import _progress

    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers}")
    devices = list(devices) if devices else ["cpu"]
    output = Path(output)
    writer = open_writer(output, format=format, overwrite=overwrite)  # existence check before work
    gen = _load(model, model_kwargs)
    table = gen.check_table(scenarios, allow_extrapolation)  # one clear error, before any process
    if isinstance(model, str) and model_factory(model) is not None:
        # a registered name: hand the workers its factory, so models registered in this
        # process (not only the built-in ones) load in the spawned workers too
        try:
            pickle.dumps(model_factory(model))
            model = model_factory(model)
        except Exception:  # noqa: BLE001 -- an unpicklable factory: workers look the name up
            pass
    total = int(table["n"].sum())
    kw = dict(seed=seed, batch_size=batch_size, quantity=quantity, allow_extrapolation=allow_extrapolation,
              origin_time=origin_time)
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    threads = int(threads) if threads else default_threads(workers)
    from quakesynth._atomic import _remove, temp_path

    tmp = str(temp_path(output, suffix=".parts", directory=True))  # removed below, or as stale by a later run
    try:
        procs = [ctx.Process(target=_worker, daemon=True,
                             args=(model, model_kwargs, table, tmp, r, workers,
                                   {**kw, "device": devices[r % len(devices)]}, counter, threads))
                 for r in range(workers)]
        bar = _progress(total=total, enabled=progress, desc=f"generate ({gen.name}, {workers} workers)")
        try:
            for p in procs:
                p.start()
            while True:
                bar.update(counter.value - bar.n)
                codes = [p.exitcode for p in procs]
                if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                    break
                time.sleep(0.1)
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join()
            bar.close()
        errors = sorted(Path(tmp).glob("error-*.txt"))
        if errors or any(p.exitcode != 0 for p in procs):
            msg = errors[0].read_text(encoding="utf-8").strip().splitlines()[-1] if errors else "a worker died"
            raise RuntimeError(f"data-parallel generation failed: {msg}")
        with writer as w:
            for r in range(workers):
                for chunk in iter_part(Path(tmp) / _part_name(r, workers)):
                    w.add(chunk)
    finally:
        _remove(Path(tmp))
    return w.count
