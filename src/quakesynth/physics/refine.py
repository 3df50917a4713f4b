"""Refine any low-frequency records with a trained refiner (what ``quakesynth refine`` runs).

Records are resampled to the refiner's sampling rate when needed (polyphase,
:func:`quakesynth.data.preprocess.resample`), cut into consecutive windows of the refiner's
length (the last one zero-padded), refined window by window with per-(record, window) seeds
derived from ``seed`` (so a record's output does not depend on the batch), joined and cut back
to the record length. The output keeps the input's components, quantity, unit and metadata, at
the refiner's sampling rate, and records the step ``refine`` in its processing history.
"""

from __future__ import annotations

import numpy as np
import torch

from quakesynth.records import Records
from quakesynth.seeds import derive_seed32


def window_seeds(seed: int, n_records: int, n_windows: int) -> list[int]:
    """Seeds of (record i, window w), row-major: ``SeedSequence([seed, i, w])``."""
    return [derive_seed32(seed, i, w)
            for i in range(n_records) for w in range(n_windows)]


def refine_records(records: Records, model_dir, num_steps: int = 18, seed: int = 0, batch_size: int = 64,
                   device: str = "cpu", progress: bool = False) -> Records:
    """Refined copy of ``records`` (see the module doc); ``model_dir`` is a refiner model."""
    from quakesynth.data.preprocess import resample
    from quakesynth.physics.models import load_refiner

    refiner, config = load_refiner(model_dir, device=device)
    C, fs_m, T_m = refiner.cfg.channels, float(config["waveform"]["fs"]), int(config["waveform"]["n_samples"])
    if records.n_components != C:
        raise ValueError(f"the refiner takes {C} components per record; INPUT has {records.n_components} "
                         f"({records.components})")
    x = records.data.astype(np.float64)
    if not np.isclose(records.fs, fs_m):
        x = resample(x, records.fs, fs_m)
    N, _, T = x.shape
    n_win = -(-T // T_m)
    padded = np.zeros((N, C, n_win * T_m))
    padded[..., :T] = x
    windows = padded.reshape(N, C, n_win, T_m).transpose(0, 2, 1, 3).reshape(N * n_win, C, T_m)
    seeds = window_seeds(seed, N, n_win)
    out = np.empty_like(windows, dtype=np.float32)
    starts = range(0, len(windows), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="refine", unit="batch")
    for i in starts:
        y = torch.as_tensor(windows[i:i + batch_size], dtype=torch.float32, device=device)
        out[i:i + batch_size] = refiner.refine(y, seeds[i:i + batch_size], num_steps=num_steps).cpu().numpy()
    data = out.reshape(N, n_win, C, T_m).transpose(0, 2, 1, 3).reshape(N, C, n_win * T_m)[..., :T]
    res = records.replace(data=data, fs=fs_m)
    res.metadata["trace_sampling_rate_hz"] = fs_m
    res.add_processing("refine", model=str(model_dir), num_steps=int(num_steps), seed=int(seed))
    return res
