"""The broadband refiner as a loadable model: :class:`BroadbandRefiner` and its loader.

The generator side of :mod:`quakesynth.physics.broadband` (whose module documentation gives
the method): it opens a ``"refiner"`` model directory (:mod:`quakesynth.modeldir`) and refines
low-frequency records to broadband; the signal processing (crossover filters, windows, keep
mask, spectral differentiation) stays in :mod:`quakesynth.physics.broadband`, the network in
:mod:`quakesynth.models.refiner`. Not a scenario :class:`~quakesynth.generate.Generator`: it
takes records, and is the paired model of :mod:`quakesynth.evaluate.paired` that
``load_model(PATH)`` returns for a broadband refiner directory. No Lightning is imported.
"""

from __future__ import annotations

import warnings

import numpy as np

from quakesynth.physics.broadband import (
    _ORDER,
    BroadbandConfig,
    anchor_high_frequencies,
    check_input,
    component_channels,
    convert_quantity,
    crossover_lowpass,
    keep_mask,
    scenario_log_fas,
    scenario_table,
    simulator_table,
    smoothing_centres,
    spectral_filter,
    window_starts,
)
from quakesynth.records import QUANTITY_UNITS, Records
from quakesynth.seeds import derive_seed32

#: sources of the level above fc (:meth:`BroadbandRefiner.refine`)
HF_LEVELS = ("model", "scenario")
#: the default source
HF_LEVEL = "scenario"


def resolve_model(name_or_path) -> str:
    """A refiner model directory from a path or a model shipped in ``quakesynth/weights/<name>``."""
    from pathlib import Path

    from quakesynth.modeldir import resolve_model_dir

    try:
        return str(resolve_model_dir(name_or_path))  # a model directory or a run folder
    except FileNotFoundError:
        pass
    shipped = Path(__file__).resolve().parents[1] / "weights" / str(name_or_path)
    if (shipped / "config.json").exists():
        return str(shipped)
    raise FileNotFoundError(f"no refiner model {str(name_or_path)!r}: neither a model directory nor a model "
                            f"shipped in quakesynth/weights")



class BroadbandRefiner:
    """A loaded broadband refiner model directory (see the module doc).

    Also a paired model of :mod:`quakesynth.evaluate.paired`: :meth:`reproduce` low-passes each
    record at the default ``fc`` and refines it back to broadband.
    """

    def __init__(self, path, device: str = "cpu") -> None:
        from quakesynth.config import from_dict
        from quakesynth.models.conditioning import Conditioning
        from quakesynth.physics.models import load_refiner

        self.path = resolve_model(path)
        self.refiner, self.config = load_refiner(self.path, device=device)
        if "broadband" not in self.config:
            raise ValueError(f"{self.path!r} is a refiner but not a broadband one (no 'broadband' section)")
        self.cfg = from_dict(BroadbandConfig, self.config["broadband"])
        self.conditioning = Conditioning.from_dict(self.config["conditioning"])
        self.components = str(self.config["components"])
        self.device = device
        self.name = f"refiner:{self.path}"
        self.variables = self.cfg.variables

    @property
    def lowpass(self) -> tuple[float, int]:
        """``(fc, order)`` of the crossover low-pass :meth:`reproduce` gives the network (the
        paired-model attribute that selects the evaluation's broadband section)."""
        return float(self.cfg.fc), int(self.cfg.order)

    def features(self, records: Records, scenario: dict | None = None) -> np.ndarray:
        """Normalised scenario (N, V); missing optional variables get the training mean (0)."""
        table = scenario_table(records, self.cfg.variables, self.cfg.required, scenario)
        c = self.conditioning(table)
        if not np.isfinite(c).all():
            warnings.warn(f"{int((~np.isfinite(c)).any(axis=1).sum())} record(s) lack an optional scenario "
                          f"variable: the training mean is used", stacklevel=2)
        return np.where(np.isfinite(c), c, 0.0).astype(np.float32)

    def refine(self, records: Records, fc: float | None = None, seed: int = 0, seeds=None, num_steps: int = 18,
               batch_size: int = 32, scenario: dict | None = None, progress: bool = False,
               hf_level: str | None = None) -> Records:
        """Broadband copy of low-frequency ``records`` at the model rate (see the module doc).

        ``seeds`` (N,) per-record seeds (default ``SeedSequence([seed, i])``); window w of record i
        uses ``SeedSequence([seeds[i], w])``, so a record's output does not depend on its batch. ``scenario`` values override the metadata.

        ``hf_level``: where the level above ``fc`` comes from (default :data:`HF_LEVEL`).
        ``"model"``: the network's, which scales with the input's amplitude; ``"scenario"``: the
        stochastic simulator's median spectrum for the scenario plus the part of the input's
        low-frequency deviation from it that correlates with each frequency (Baker & Jayaram
        2008), the network giving the waveform
        (:func:`quakesynth.physics.broadband.anchor_high_frequencies`; needs magnitude and
        distance, and Vs30, depth and gap where known).
        """
        import torch

        from quakesynth.data.preprocess import resample
        from quakesynth.diffusion.sampler import StackedRandomGenerator

        cfg = self.cfg
        hf_level = HF_LEVEL if hf_level is None else hf_level
        if hf_level not in HF_LEVELS:
            raise ValueError(f"hf_level must be one of {list(HF_LEVELS)}; got {hf_level!r}")
        fc = cfg.fc if fc is None else float(fc)
        if not cfg.fc_min <= fc <= cfg.fc_max:
            raise ValueError(f"fc = {fc:g} Hz is outside the crossovers this refiner was trained for "
                             f"[{cfg.fc_min:g}, {cfg.fc_max:g}] Hz")
        check_input(records, fc, cfg.window / cfg.fs)
        channels = component_channels(records.components, self.components)
        if records.quantity not in _ORDER or records.unit != QUANTITY_UNITS[records.quantity]:
            raise ValueError(f"INPUT is {records.quantity} in {records.unit}; convert it to SI units (m/s^2, m/s "
                             f"or m) first, e.g. by removing the instrument response")
        feats = self.features(records, scenario)
        order_q = _ORDER[records.quantity] - _ORDER[cfg.quantity]
        rec = records
        x = np.zeros((len(rec), len(self.components), rec.n_samples))
        x[:, channels] = rec.data  # components the input lacks stay zero
        if not np.isclose(rec.fs, cfg.fs):
            x = resample(x, rec.fs, cfg.fs)
        N, C, T = x.shape
        if T < cfg.window:
            raise ValueError(f"records are {T / cfg.fs:g} s long, shorter than the refiner's window of "
                             f"{cfg.window / cfg.fs:g} s")
        a = convert_quantity(x, cfg.fs, order_q, pad=False)  # acceleration-equivalent (differentiation)
        y = crossover_lowpass(a, cfg.fs, fc, cfg.order)
        starts = window_starts(T, cfg.window, cfg.hop)
        W = len(starts)
        if seeds is None:
            seeds = [derive_seed32(seed, i) for i in range(N)]
        if len(seeds) != N:
            raise ValueError(f"need one seed per record ({N}); got {len(seeds)}")
        extra = np.column_stack([feats, np.full(N, np.log2(fc))]).astype(np.float32)
        res = np.zeros((N, C, T))
        filled = 0  # samples of every record generated so far
        steps = [(w, j) for w in range(W) for j in range(0, N, batch_size)]
        it = steps
        if progress:
            from tqdm import tqdm

            it = tqdm(steps, desc="refine", unit="window batch")
        for w, j in it:
            s0, b = starts[w], slice(j, j + batch_size)
            n_known = max(0, filled - s0)
            yt = torch.as_tensor(y[b, :, s0:s0 + cfg.window], dtype=torch.float32, device=self.device)
            rnd = StackedRandomGenerator(yt.device, [derive_seed32(seeds[i], w)
                                                     for i in range(N)[b]])
            known = torch.as_tensor(res[b, :, s0:s0 + n_known], dtype=torch.float32, device=self.device)
            r = self.refiner.residual_sample(yt, rnd.randn(yt.shape, device=yt.device), rnd.randn_like, num_steps,
                                             extra=torch.as_tensor(extra[b], device=self.device), known=known)
            res[b, :, s0:s0 + cfg.window] = r.cpu().numpy()
            if j + batch_size >= N:
                filled = s0 + cfg.window
        acc = y + res
        if hf_level == "scenario":
            centres = smoothing_centres(cfg.fs, fc)
            log_sim = scenario_log_fas(simulator_table(records, scenario), cfg.fs, self.components, centres,
                                       seeds=[derive_seed32(int(s), 1 << 20) for s in seeds])  # apart from windows
            acc, _ = anchor_high_frequencies(acc, y, log_sim, centres, cfg.fs, fc, cfg.order, cfg.keep_fraction)
        x_hat = convert_quantity(acc, cfg.fs, -order_q, fmin=0.5 * cfg.keep_fraction * fc, pad=False)
        # circular on the record's grid: below keep_fraction fc the DFT of out is the input's, exactly
        out = x + spectral_filter(x_hat - x, cfg.fs, lambda f: keep_mask(f, fc, cfg.keep_fraction), pad=False)
        result = rec.replace(data=out[:, channels].astype(np.float32), fs=cfg.fs)
        result.metadata["trace_sampling_rate_hz"] = cfg.fs
        result.add_processing("refine_broadband", model=self.path, fc=fc, num_steps=int(num_steps), seed=int(seed),
                              hf_level=hf_level)
        return result

    def reproduce(self, records: Records, seeds: np.ndarray) -> Records:
        """Paired-model interface: record i low-passed at the default ``fc`` (crossover ``L``) and
        refined with seed ``seeds[i]``; same fs as ``records`` when that is the model rate."""
        low = records.replace(data=crossover_lowpass(records.data, records.fs, self.cfg.fc,
                                                     self.cfg.order).astype(np.float32))
        return self.refine(low, seeds=[int(s) for s in np.asarray(seeds).reshape(-1)])


def load_generator(path, **kwargs) -> BroadbandRefiner:
    """Loader of ``"refiner"`` model directories for :func:`quakesynth.generate.load_model` (the
    evaluation's paired models); only broadband refiners reproduce records."""
    return BroadbandRefiner(path, **kwargs)
