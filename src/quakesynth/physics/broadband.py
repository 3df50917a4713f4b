"""Broadband records from any low-frequency record: learned refiner and classic hybrid baseline.

Hybrid broadband simulation takes deterministic physics below a crossover ``fc`` (about 1 Hz)
and needs realistic high frequencies above. Two ways are here, sharing one set of filters:

**Crossover filters** (zero phase, applied in the frequency domain, exactly complementary)::

    L(f) = 1 / (1 + (f / fc)^(2 n)),     H(f) = 1 - L(f)

(``L`` is the squared magnitude of an order-n Butterworth, i.e. its forward-backward filter).
``L`` makes the training conditions and the evaluation inputs; ``L`` and ``H`` merge the hybrid
baseline.

**Classic hybrid baseline** (:func:`hybrid_baseline`): ``L * low + H * stochastic`` where
``stochastic`` is the stochastic simulator's record for the same scenario
(:class:`quakesynth.generate.stochastic.StochasticGenerator`), shifted so that its low-passed
energy peak meets the input's.

**Learned refiner** (:class:`quakesynth.generate.refiner.BroadbandRefiner`): an EDM refiner
(:class:`quakesynth.models.refiner.Refiner`) generates the residual ``x - L x`` given
``y = L x`` (amplitude-normalised), the scenario (magnitude, distance, Vs30, depth, normalised
by :class:`quakesynth.models.conditioning.Conditioning`) and ``log2 fc`` as extra channels. It is
trained on low-passed broadband pairs of the stochastic-simulator corpus (``quakesynth
simulate``), with ``fc`` drawn log-uniformly in ``fc_range`` so one model serves any crossover in
that range. At inference a record is low-passed (``y = L input``) and cut into windows of the
model's length overlapping by ``window - hop`` samples; they are refined one after the other
(records in batches) with per-(record, window) seeds, each window inpainting its overlap with the
residual already generated (:meth:`quakesynth.models.refiner.Refiner.residual_sample` with
``known``), so consecutive windows agree exactly where they overlap and no cross-fade changes
the amplitude of the high frequencies; the result is blended into the input with the keep mask::

    out = input + M(f) (y + r - input),   M(f) = 0 for f <= k fc, raised cosine to 1 at fc

(``k = keep_fraction``, 0.8; ``M`` applied on the record's own DFT grid): the input is returned
exactly below ``k fc`` and the generated record above ``fc``. By default (``hf_level="scenario"``)
the level of the generated record above ``fc`` is first set to the scenario's conditional median
(:func:`anchor_high_frequencies`): the stochastic simulator's median spectrum for the scenario
plus the input's low-frequency deviation from it weighted by the Baker & Jayaram (2008)
inter-period correlation; the network keeps the waveform. Velocity and displacement inputs are
refined as acceleration (spectral differentiation) and converted back (spectral integration,
safe since ``M = 0`` near 0 Hz).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from quakesynth.metrics.spectra import smoothed_log_fas
from quakesynth.records import QUANTITY_UNITS, Records
from quakesynth.scenario import SCENARIO_VARIABLES

#: order of spectral differentiation that turns a quantity into acceleration
_ORDER = {"acceleration": 0, "velocity": 1, "displacement": 2}


@dataclass(frozen=True)
class BroadbandConfig:
    """The broadband refiner's data layout (stored in its model directory as ``broadband``)."""

    fc: float = 1.0  # default crossover frequency, Hz
    fc_min: float = 0.5  # lowest crossover trained for, Hz
    fc_max: float = 2.0  # highest crossover trained for, Hz
    order: int = 8  # crossover order n of L = 1 / (1 + (f/fc)^(2n))
    keep_fraction: float = 0.8  # input returned exactly below keep_fraction * fc
    fs: float = 100.0  # sampling rate of the model and of the output, Hz
    window: int = 2048  # samples per refined window
    hop: int = 1024  # samples between window starts
    variables: tuple[str, ...] = ("magnitude", "distance", "vs30", "depth")  # scenario variables
    required: tuple[str, ...] = ("magnitude", "distance")  # variables that must be known (others: training mean)
    quantity: str = "acceleration"  # quantity the model works in
    crops_per_record: int = 2  # training windows cut from each corpus record
    double_lowpass: float = 0.5  # fraction of training conditions low-passed twice (inputs already low-passed)

    def __post_init__(self) -> None:
        if not 0 < self.fc_min <= self.fc <= self.fc_max < self.fs / 4:
            raise ValueError(f"need 0 < fc_min <= fc <= fc_max < fs/4; got {self.fc_min}, {self.fc}, "
                             f"{self.fc_max}, fs={self.fs}")
        if self.order < 1:
            raise ValueError(f"order must be >= 1; got {self.order}")
        if not 0 < self.keep_fraction < 1:
            raise ValueError(f"keep_fraction must be in (0, 1); got {self.keep_fraction}")
        if not 0 < self.hop <= self.window:
            raise ValueError(f"hop must be in (0, window = {self.window}]; got {self.hop}")
        if not set(self.required) <= set(self.variables):
            raise ValueError(f"required {self.required} must be among variables {self.variables}")
        if self.quantity not in _ORDER:
            raise ValueError(f"quantity must be one of {list(_ORDER)}; got {self.quantity!r}")


# --------------------------------------------------------------------------------------
# filters (pure functions)
# --------------------------------------------------------------------------------------
def crossover_lowpass_response(freqs, fc: float, order: int = 8) -> np.ndarray:
    """``L(f) = 1 / (1 + (f / fc)^(2 order))`` at ``freqs`` (Hz); ``H = 1 - L``."""
    if not fc > 0:
        raise ValueError(f"fc must be > 0 Hz; got {fc}")
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + (np.abs(np.asarray(freqs, dtype=np.float64)) / fc) ** (2 * int(order)))


def keep_mask(freqs, fc: float, keep_fraction: float = 0.8) -> np.ndarray:
    """``M(f)``: 0 up to ``keep_fraction fc``, raised cosine to 1 at ``fc``, 1 above."""
    f = np.asarray(freqs, dtype=np.float64)
    a = keep_fraction * fc
    t = np.clip((f - a) / (fc - a), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def spectral_filter(x, fs: float, response, pad: bool = True) -> np.ndarray:
    """Zero-phase filter of ``x`` (..., T) sampled at ``fs`` Hz by a real ``response(freqs)``
    applied to the rFFT of the signal zero-padded to at least 2 T (linear filtering), or with
    ``pad=False`` to its T-point rFFT (circular; exact on the record's own frequency grid);
    float64, same shape."""
    from scipy import fft

    x = np.asarray(x, dtype=np.float64)
    T = x.shape[-1]
    n = fft.next_fast_len(2 * T, real=True) if pad else T
    X = fft.rfft(x, n=n, axis=-1)
    return fft.irfft(X * response(fft.rfftfreq(n, 1.0 / fs)), n=n, axis=-1)[..., :T]


def crossover_lowpass(x, fs: float, fc: float, order: int = 8, pad: bool = True) -> np.ndarray:
    """``L x``: zero-phase crossover low-pass of ``x`` (..., T) at ``fc`` Hz (``fs`` Hz); ``pad``
    as in :func:`spectral_filter`."""
    return spectral_filter(x, fs, lambda f: crossover_lowpass_response(f, fc, order), pad=pad)


def crossover_merge(low, high, fs: float, fc: float, order: int = 8) -> np.ndarray:
    """``L low + H high`` with the matched complementary crossover filters (same shapes (..., T)),
    on the record's own DFT grid (so ``L + H = 1`` holds exactly there)."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    if low.shape != high.shape:
        raise ValueError(f"low and high shapes differ: {low.shape} vs {high.shape}")
    return high + crossover_lowpass(low - high, fs, fc, order, pad=False)


def convert_quantity(x, fs: float, order: int, fmin: float = 0.0, pad: bool = True) -> np.ndarray:
    """Spectral differentiation (``order`` > 0) or integration (< 0) of ``x`` (..., T):
    multiply by ``(i 2 pi f)^order``; for integration frequencies below ``fmin`` Hz (> 0) are
    zeroed. ``pad=False`` works on the record's own DFT grid, where integration inverts
    differentiation exactly above ``fmin``. ``order = 0`` returns a float64 copy."""
    from scipy import fft

    x = np.asarray(x, dtype=np.float64)
    if order == 0:
        return x.copy()
    if order < 0 and not fmin > 0:
        raise ValueError(f"integration needs fmin > 0 Hz; got {fmin}")
    T = x.shape[-1]
    n = fft.next_fast_len(2 * T, real=True) if pad else T
    f = fft.rfftfreq(n, 1.0 / fs)
    w = 2j * np.pi * f
    if order > 0:
        g = w**order
    else:
        g = np.zeros_like(w)
        ok = f >= fmin
        g[ok] = w[ok] ** order
    return fft.irfft(fft.rfft(x, n=n, axis=-1) * g, n=n, axis=-1)[..., :T]


def band_kept_error(out, inp, fs: float, fmax: float) -> np.ndarray:
    """Relative RMS difference of ``out`` and ``inp`` (N, C, T) below ``fmax`` Hz, per record (N,):
    ``||F(out - inp)||_{f < fmax} / ||F(inp)||_{f < fmax}`` over all components (Parseval: the
    RMS of the difference of the band-limited records over that of the input)."""
    from scipy import fft

    out, inp = np.asarray(out, np.float64), np.asarray(inp, np.float64)
    if out.shape != inp.shape or out.ndim != 3:
        raise ValueError(f"out and inp must be (N, C, T) of equal shapes; got {out.shape}, {inp.shape}")
    f = fft.rfftfreq(out.shape[-1], 1.0 / fs)
    sel = f < fmax
    d = np.abs(fft.rfft(out - inp, axis=-1)[..., sel]) ** 2
    r = np.abs(fft.rfft(inp, axis=-1)[..., sel]) ** 2
    return np.sqrt(d.sum(axis=(1, 2)) / np.maximum(r.sum(axis=(1, 2)), 1e-300))


# --------------------------------------------------------------------------------------
# scenario and input checks
# --------------------------------------------------------------------------------------
def scenario_table(records: Records, variables, required, scenario: dict | None = None) -> np.ndarray:
    """(N, V) scenario in physical units from the metadata, ``scenario`` values overriding; a
    missing hypocentral distance is computed from the event and station coordinates when known.

    Raises ``ValueError`` naming the first record and variable when a ``required`` one is missing;
    other missing values stay NaN (imputed with the training mean by the caller).
    """
    from quakesynth.records import CONDITIONING_COLUMNS

    scenario = {k: v for k, v in (scenario or {}).items() if v is not None}
    meta = records.metadata
    coords = ("source_latitude_deg", "source_longitude_deg", "source_depth_km", "station_latitude_deg",
              "station_longitude_deg")
    if "distance" in variables and "distance" not in scenario and all(c in meta for c in coords):
        from quakesynth.data.conditioning_columns import add_path_features

        meta = add_path_features(meta)  # hypocentral distance from the coordinates where missing
    cols = []
    for v in variables:
        if v in scenario:
            cols.append(np.full(len(records), float(scenario[v])))
            continue
        col = CONDITIONING_COLUMNS.get(v, v)
        cols.append(meta[col].astype("float64").to_numpy(na_value=np.nan)
                    if col in meta else np.full(len(records), np.nan))
    table = np.stack(cols, axis=1) if cols else np.zeros((len(records), 0))
    for j, v in enumerate(variables):
        if v in required:
            bad = ~np.isfinite(table[:, j])
            if bad.any():
                i = int(np.argmax(bad))
                name = records.metadata["trace_name"].iloc[i] if "trace_name" in records.metadata else i
                raise ValueError(f"missing scenario: record {i} ({name}) has no {v}; give it in the metadata "
                                 f"or as --{v}")
    return table


def check_input(records: Records, fc: float, window_s: float) -> None:
    """One-line ``ValueError`` for inputs a broadband refine cannot use: NaN/inf samples, a
    sampling rate below ``2 fc``, a record shorter than ``window_s`` seconds."""
    if len(records) == 0:
        raise ValueError("INPUT holds no records")
    finite = np.isfinite(records.data).reshape(len(records), -1).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"record {i} has NaN or infinite samples; repair or drop it first")
    if records.fs < 2 * fc:
        raise ValueError(f"sampling rate {records.fs:g} Hz is below 2 fc = {2 * fc:g} Hz: the record cannot "
                         f"hold the band up to the crossover")
    if records.duration < window_s - 1e-9:
        raise ValueError(f"records are {records.duration:g} s long, shorter than the refiner's window of "
                         f"{window_s:g} s")


def window_starts(T: int, window: int, hop: int) -> list[int]:
    """Starts of windows of ``window`` samples every ``hop`` covering ``T >= window`` samples
    (the last one ends at T)."""
    if T < window:
        raise ValueError(f"T = {T} samples is shorter than the window of {window}")
    starts = list(range(0, T - window + 1, hop))
    if starts[-1] != T - window:
        starts.append(T - window)
    return starts


# --------------------------------------------------------------------------------------
# the hybrid baseline
# --------------------------------------------------------------------------------------
#: values used by the hybrid baseline when a record lacks them (the simulator needs all five)
BASELINE_DEFAULTS = {"vs30": 400.0, "depth": 10.0, "gap": 180.0}


def simulator_table(records: Records, scenario: dict | None = None) -> np.ndarray:
    """(N, 5) scenario of :data:`~quakesynth.scenario.SCENARIO_VARIABLES` for the stochastic
    simulator: magnitude and distance required (``ValueError`` otherwise), missing Vs30, depth
    and gap filled with :data:`BASELINE_DEFAULTS`, depth capped at the hypocentral distance."""
    table = scenario_table(records, tuple(SCENARIO_VARIABLES), ("magnitude", "distance"), scenario)
    for j, k in ((2, "vs30"), (3, "depth"), (4, "gap")):
        table[:, j] = np.where(np.isfinite(table[:, j]), table[:, j], BASELINE_DEFAULTS[k])
    table[:, 3] = np.minimum(table[:, 3], table[:, 1])  # the simulator needs depth <= distance
    return table


def _peak_time(x: np.ndarray, fs: float, smooth_s: float = 2.0) -> np.ndarray:
    """Sample of the peak of the smoothed energy summed over components, (N,) for x (N, C, T)."""
    from scipy.ndimage import uniform_filter1d

    e = uniform_filter1d((np.asarray(x, np.float64) ** 2).sum(axis=1), max(1, int(smooth_s * fs)), axis=-1)
    return e.argmax(axis=-1)


def hybrid_baseline(low: Records, fc: float = 1.0, order: int = 8, seed: int = 0,
                    scenario: dict | None = None, generator=None) -> Records:
    """Classic hybrid broadband: ``L low + H stochastic`` (see the module doc).

    Parameters
    ----------
    low : low-frequency records (N, C, T) in SI units (acceleration, velocity or displacement),
        components among Z, N, E; metadata with magnitude and distance (``scenario`` overrides).
    fc, order : crossover (Hz) and its order.
    seed : the stochastic record of record i is generated with seed ``waveform_seed(seed, i, 0)``.
    generator : a :class:`~quakesynth.generate.stochastic.StochasticGenerator` (default config).

    Returns records like ``low`` (same fs, quantity, components), with a ``hybrid`` processing
    step. Missing Vs30, depth and gap take :data:`BASELINE_DEFAULTS`; scenarios outside the
    simulator's validity range are extrapolated.
    """
    import pandas as pd

    from quakesynth.data.preprocess import resample
    from quakesynth.generate.base import waveform_seed
    from quakesynth.generate.stochastic import StochasticGenerator

    gen = generator or StochasticGenerator()
    if low.quantity not in _ORDER or low.unit != QUANTITY_UNITS[low.quantity]:
        raise ValueError(f"records must be in SI units of acceleration, velocity or displacement; got "
                         f"{low.quantity} in {low.unit}")
    channels = component_channels(low.components, gen.components)
    table = simulator_table(low, scenario)
    N, C, T = low.data.shape
    x = low.data.astype(np.float64)
    out = np.empty((N, C, T))
    peak_low = _peak_time(crossover_lowpass(x, low.fs, fc, order), low.fs)
    for i in range(N):
        row = pd.DataFrame([dict(zip(SCENARIO_VARIABLES, table[i]))])
        sim = gen.generate_table(row, seed=waveform_seed(seed, i, 0), allow_extrapolation=True).data
        sim = np.asarray(sim, np.float64)[:, channels]
        if not np.isclose(gen.fs, low.fs):
            sim = resample(sim, gen.fs, low.fs)
        sim = convert_quantity(sim, low.fs, -_ORDER[low.quantity], fmin=0.5 * fc)[0]
        shift = int(peak_low[i] - _peak_time(crossover_lowpass(sim[None], low.fs, fc, order), low.fs)[0])
        placed = np.zeros((C, T))
        a, b = max(0, shift), min(T, shift + sim.shape[-1])
        if b > a:
            from scipy.signal.windows import tukey

            placed[:, a:b] = sim[:, a - shift:b - shift] * tukey(b - a, min(1.0, 2 * low.fs / (b - a)))
        out[i] = crossover_merge(x[i], placed, low.fs, fc, order)
    res = low.replace(data=out.astype(np.float32))
    res.add_processing("hybrid", fc=float(fc), order=int(order), seed=int(seed), high="stochastic")
    return res


# --------------------------------------------------------------------------------------
# the high-frequency level: anchored on the scenario (hf_level="scenario")
# --------------------------------------------------------------------------------------
def smoothing_centres(fs: float, fc: float, n: int = 96) -> np.ndarray:
    """Log-spaced centre frequencies (Hz) from ``fc / 4`` to ``0.45 fs`` of the level anchoring."""
    return np.geomspace(0.25 * fc, 0.45 * fs, n)


def scenario_log_fas(table: np.ndarray, fs: float, components: str, centres, seeds,
                     n_realisations: int = 4, generator=None) -> np.ndarray:
    """The stochastic simulator's median spectrum for each scenario: (N, C, F) ``log10`` smoothed
    FAS (m/s) of acceleration at ``centres`` (Hz), the mean over ``n_realisations`` records of
    row i of ``table`` (N, 5) (:func:`simulator_table`) generated with seed ``seeds[i]`` (so a
    row's spectrum does not depend on the others), resampled to ``fs`` Hz, components in the
    order of ``components`` (a component the simulator lacks raises ``ValueError``)."""
    import pandas as pd

    from quakesynth.data.preprocess import resample
    from quakesynth.generate.stochastic import StochasticGenerator

    gen = generator or StochasticGenerator()
    missing = set(components) - set(gen.components)
    if missing:
        raise ValueError(f"the simulator has no component(s) {''.join(sorted(missing))}")
    if len(seeds) != len(table):
        raise ValueError(f"need one seed per scenario ({len(table)}); got {len(seeds)}")
    idx = [gen.components.index(c) for c in components]
    out = np.empty((len(table), len(components), len(np.asarray(centres))))
    for i, row in enumerate(np.asarray(table, np.float64)):
        rows = pd.DataFrame([row], columns=list(SCENARIO_VARIABLES)).assign(n=int(n_realisations))
        x = np.asarray(gen.generate_table(rows, seed=int(seeds[i]), allow_extrapolation=True).data,
                       np.float64)[:, idx]
        if not np.isclose(gen.fs, fs):
            x = resample(x, gen.fs, fs)
        out[i] = smoothed_log_fas(x, fs, centres).mean(axis=0)
    return out


def anchor_high_frequencies(out, low, log_sim, centres, fs: float, fc: float, order: int = 8,
                            keep_fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Set the level above ``fc`` of broadband records from the scenario and the input.

    The expected log spectrum of a record above ``fc`` given its scenario and its observed low
    frequencies is the scenario's median plus the part of the input's deviation from it that
    correlates with each frequency::

        log10 A(f) = log10 S(f) + rho(f) delta,   delta = mean over [0.5 fc, keep fc] of
                                                          log10 (Y(f) / (L(f) S(f)))

    with ``S`` the scenario's median spectrum (``log_sim``), ``Y`` the low-passed input, ``L`` the
    crossover low-pass and ``rho(f)`` the Baker & Jayaram (2008) correlation between the periods
    ``1 / f`` and ``1 / f_ref`` (``f_ref`` the geometric centre of the band of ``delta``;
    :func:`quakesynth.gmm.correlation.baker_jayaram_2008`). Each component of ``out`` is scaled
    in the frequency domain by the smooth gain ``A / R`` (``R`` its own smoothed spectrum), which
    keeps its waveform and fine spectral structure; the gain ramps in from 1 at ``keep fc`` to
    full at ``fc`` (the keep mask), so the band below ``keep fc`` is untouched. Components whose
    input is zero (missing) are returned unchanged.

    Parameters
    ----------
    out : (N, C, T) broadband acceleration (m/s^2) at ``fs`` Hz.
    low : (N, C, T) the low-passed input acceleration it was made from.
    log_sim : (N, C, F) ``log10`` smoothed scenario FAS at ``centres`` (:func:`scenario_log_fas`).
    centres : (F,) Hz, ascending, covering ``[0.5 fc, 0.45 fs]`` (:func:`smoothing_centres`).

    Returns the adjusted ``out`` (float64, same shape) and ``delta`` (N,) in log10 units.
    """
    from scipy import fft

    from quakesynth.gmm.correlation import baker_jayaram_2008

    out = np.asarray(out, np.float64)
    low = np.asarray(low, np.float64)
    centres = np.asarray(centres, np.float64)
    log_sim = np.asarray(log_sim, np.float64)
    N, C, T = out.shape
    if low.shape != out.shape or log_sim.shape != (N, C, len(centres)):
        raise ValueError(f"need out and low (N, C, T) and log_sim (N, C, F = {len(centres)}); got "
                         f"{out.shape}, {low.shape}, {log_sim.shape}")
    ref = (centres >= 0.5 * fc) & (centres <= keep_fraction * fc)
    if not ref.any() or centres[-1] <= fc:
        raise ValueError("centres must cover [0.5 fc, keep_fraction fc] and reach above fc")
    active = np.abs(low).max(axis=-1) > 0  # (N, C): components the input has
    log_y = smoothed_log_fas(low, fs, centres)
    log_l = np.log10(crossover_lowpass_response(centres, fc, order))
    dev = (log_y - log_sim - log_l)[..., ref].mean(axis=-1)  # (N, C)
    n_act = active.sum(axis=1)
    delta = np.where(n_act > 0, (dev * active).sum(axis=1) / np.maximum(n_act, 1), 0.0)
    f_ref = np.sqrt(0.5 * keep_fraction) * fc
    rho = np.where(centres > f_ref, baker_jayaram_2008(1.0 / f_ref, 1.0 / centres), 1.0)
    log_gain = log_sim + rho * delta[:, None, None] - smoothed_log_fas(out, fs, centres)  # (N, C, F)
    f = fft.rfftfreq(T, 1.0 / fs)
    lf, lc = np.log(np.maximum(f, centres[0])), np.log(centres)
    ramp = keep_mask(f, fc, keep_fraction)
    new = out.copy()
    for i, c in zip(*np.nonzero(active)):
        gain = 10.0 ** (ramp * np.interp(lf, lc, log_gain[i, c]))
        new[i, c] = fft.irfft(fft.rfft(out[i, c]) * gain, n=T)
    return new, delta


# --------------------------------------------------------------------------------------
# training pairs
# --------------------------------------------------------------------------------------
def broadband_pairs(x, fs: float, features, cfg: BroadbandConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Training pairs from broadband records ``x`` (N, C, T) at ``fs`` = ``cfg.fs`` Hz (T >= window).

    Each record gives ``cfg.crops_per_record`` random windows; each draws ``fc`` log-uniformly in
    [fc_min, fc_max] and its condition is ``L x`` (``L L x`` for a fraction ``double_lowpass``).
    ``features`` (N, V) normalised scenario. Returns ``x``, ``y`` (M, C, window) float32 and
    ``extra`` (M, V + 1): the scenario and ``log2 fc``.
    """
    x = np.asarray(x, dtype=np.float64)
    features = np.asarray(features, dtype=np.float32)
    N, C, T = x.shape
    if not np.isclose(fs, cfg.fs):
        raise ValueError(f"records must be at the model rate {cfg.fs} Hz; got {fs}")
    if T < cfg.window:
        raise ValueError(f"records of {T} samples are shorter than the window of {cfg.window}")
    if features.shape[0] != N:
        raise ValueError(f"features must have one row per record ({N}); got {features.shape}")
    rng = np.random.default_rng(seed)
    K = cfg.crops_per_record
    fcs = np.exp(rng.uniform(np.log(cfg.fc_min), np.log(cfg.fc_max), (N, K)))
    twice = rng.random((N, K)) < cfg.double_lowpass
    starts = rng.integers(0, T - cfg.window + 1, (N, K))
    xs, ys, ex = [], [], []
    for k in range(K):
        y = np.empty_like(x)
        for i in range(N):
            y[i] = crossover_lowpass(x[i], fs, fcs[i, k], cfg.order)
            if twice[i, k]:
                y[i] = crossover_lowpass(y[i], fs, fcs[i, k], cfg.order)
        idx = starts[:, k, None] + np.arange(cfg.window)
        xs.append(np.take_along_axis(x, idx[:, None, :].repeat(C, 1), axis=-1))
        ys.append(np.take_along_axis(y, idx[:, None, :].repeat(C, 1), axis=-1))
        ex.append(np.column_stack([features, np.log2(fcs[:, k])]))
    return {"x": np.concatenate(xs).astype(np.float32), "y": np.concatenate(ys).astype(np.float32),
            "extra": np.concatenate(ex).astype(np.float32)}


# --------------------------------------------------------------------------------------
# the learned refiner's input handling (the refiner itself: quakesynth.generate.refiner)
# --------------------------------------------------------------------------------------
def component_channels(components: str, model_components: str) -> list[int]:
    """Model channel of each input component. Components the input lacks are zero-filled by
    the caller (a warning says so); inputs named otherwise (e.g. PEER's ``12``) are taken as the
    model's horizontals in order when they are at most two. Raises ``ValueError`` otherwise."""
    if len(set(components)) != len(components):
        raise ValueError(f"components {components!r} repeat a component")
    if set(components) <= set(model_components):
        idx = [model_components.index(c) for c in components]
    else:
        horizontals = [c for c in model_components if c != "Z"]
        if len(components) > len(horizontals) or set(components) & set(model_components):
            raise ValueError(f"the refiner takes components {model_components}; INPUT has {components!r}")
        idx = [model_components.index(h) for h in horizontals[:len(components)]]
        warnings.warn(f"components {components!r} are refined as {''.join(horizontals[:len(components)])}",
                      stacklevel=3)
    if len(idx) < len(model_components):
        missing = "".join(c for i, c in enumerate(model_components) if i not in idx)
        warnings.warn(f"INPUT lacks components {missing!r}: they are zero for the refiner and not returned",
                      stacklevel=3)
    return idx
