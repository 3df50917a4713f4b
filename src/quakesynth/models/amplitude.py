"""Explicit amplitude path of HighFEM: per-component log peak amplitudes modelled apart from shape.

With ``amplitude.mode = "peak"`` each training record's three components are divided by their
own peak absolute acceleration and multiplied by a fixed ``reference`` (m/s^2), so every
component of every record peaks at ``reference``. In the log-spectrogram a scale factor is a
pure shift, ``ln|S(k x)| = ln|S(x)| + ln k``, so the VAE and the latent diffusion model learn
the normalised *shape* only (spectral content, duration, envelope) and the amplitude drops out
of the clipped [-1, 1] representation. Griffin-Lim commutes with a positive scale (the
phase-gradient start and every projection are scale-equivariant), so rescaling after phase
retrieval equals rescaling before it.

The amplitude itself is the vector ``a = log10(max_t |x_c(t)|)`` (c = the three components;
log10 of m/s^2), modelled by a small conditional Gaussian (:class:`AmplitudeModel`): an MLP maps
the normalised conditioning vector ``c`` (B, V) to a mean ``mu(c)`` (B, 3) and a log scale
``s(c)``; the Cholesky factor of the covariance of ``a`` is ``L(c) = exp(s(c)) L0`` with a learned
lower-triangular ``L0`` (positive diagonal through ``exp``) shared by all scenarios; it is
trained by the Gaussian negative log-likelihood

    NLL = 1/2 |L^-1 (a - mu)|^2 + sum_i ln L_ii + 3/2 ln(2 pi).

At generation, ``a = mu + L eps`` with ``eps`` drawn from the waveform's own seed (a waveform
depends on its seed, not on its batch), and each generated component is rescaled so that its
peak equals ``10**a_c`` exactly: the output amplitude is right by construction, with the
between-component correlation of the training data.

**Shape-aware amplitude** (``amplitude.shape: pgv``). A peak is not independent of the shape it
scales. In the stochastic simulator and in real records the peak velocity varies less than the
peak acceleration: a record rich in high frequencies (high stress drop, low kappa, a short
path) has a high PGA and a low PGV / PGA, so ``log PGA`` and ``log(PGV / PGA)`` are negatively
correlated (at M 5, 30 km: sd of log10 PGA 0.29, of log10(PGV / PGA) 0.14, of log10 PGV only
0.25). Drawn independently of the shape, the amplitude adds the two spreads and over-states the
spread of PGV by ~20 %. With ``shape: pgv`` the amplitude model is also conditioned on the
shape's own ``s_c = log10(PGV_c / PGA_c)`` (:func:`shape_features`, s, computed on the
normalised training record and on the generated, phase-retrieved shape alike), so it learns
``p(a | c, s)`` and the joint spread of PGA and PGV follows the data's.

**Spectral shape features** (``amplitude.shape: spectral``, session 15). PGV / PGA is one summary
of the shape; the shape tells more about its own scale. Given the magnitude and distance, the
long-period Fourier level is fixed by the seismic moment and the path, whatever the stress drop;
the shape's Fourier level *relative to its peak* at those periods then fixes the peak. With
``shape: spectral`` each component contributes 8 scale-free features: log10(PGV / PGA), the
shape's log10(FAS / PGA) averaged (geometric mean) over the bands :data:`SPECTRAL_BANDS_HZ`, and
log10 of its significant duration D5-95. On the 20,000-record seed-0 corpus this lowers the
validation NLL from -2.42 to -4.73 nats and the residual sd of the mean from 0.26-0.27 to 0.23
log10. A draw that ignores what the shape says about its scale is the wrong peak for that shape:
the evaluation classifier, given 1,000 dev records with peaks drawn by the ``pgv`` model, scores
0.61 against 0.68 with their own; with the ``spectral`` model 0.67.

>>> import numpy as np
>>> x = np.array([[[0.0, 2.0, -4.0]]], np.float32)          # (N=1, C=1, T=3), m/s^2
>>> y, a = normalise_peaks(x, reference=0.1)
>>> round(float(np.abs(y).max()), 6), a.round(3).tolist()
(0.1, [[0.602]])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from quakesynth.models.layers import RowLinear
from quakesynth.seeds import amplitude_seed

AMPLITUDE_MODES = ("none", "peak")
#: Shape features the amplitude model can be conditioned on: none, log10(PGV / PGA) per component, or
#: ``spectral`` (log10 PGV / PGA, band-averaged log10 FAS / PGA and log10 D5-95 per component).
SHAPE_FEATURES = ("none", "pgv", "spectral")
#: The bands (Hz) of the ``spectral`` shape features' Fourier levels.
SPECTRAL_BANDS_HZ = ((0.2, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 20.0))
#: Peaks below this (m/s^2) count as silent: the log amplitude uses it instead of log10(0).
PEAK_FLOOR = 1e-10
#: Smallest diagonal element of the amplitude model's Cholesky factor L0, log10 units.
SD_FLOOR = 1e-3
#: Largest |ln| change of the amplitude model's spread with the conditioning (a factor 2).
SCALE_BOUND = math.log(2.0)


@dataclass(frozen=True)
class AmplitudeConfig:
    """The explicit amplitude path (``mode: none`` keeps the reference HighFEM behaviour)."""

    mode: str = "none"  # "none" (amplitude inside the spectrogram, as the paper) or "peak" (per-component peak normalisation + amplitude model)
    reference: float = 0.1  # peak of every normalised component, m/s^2 (centres the [-1, 1] log-spectrogram)
    hidden: int = 64  # width of the amplitude MLP's hidden layers
    layers: int = 2  # hidden layers of the amplitude MLP
    steps: int = 2000  # AdamW steps when fitting the amplitude model (at the edm export)
    batch_size: int = 1024  # records per step (the whole split when smaller)
    lr: float = 3e-3  # Adam learning rate of the amplitude model
    weight_decay: float = 1e-4  # AdamW weight decay of the amplitude model
    shape: str = "none"  # "none", "pgv" (the shape's log10(PGV / PGA) per component) or "spectral" (8 features per component)

    def __post_init__(self) -> None:
        if self.mode not in AMPLITUDE_MODES:
            raise ValueError(f"amplitude.mode must be one of {AMPLITUDE_MODES}; got {self.mode!r}")
        if self.shape not in SHAPE_FEATURES:
            raise ValueError(f"amplitude.shape must be one of {SHAPE_FEATURES}; got {self.shape!r}")
        if not self.reference > 0:
            raise ValueError(f"amplitude.reference must be > 0 m/s^2; got {self.reference}")
        for name in ("hidden", "layers", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"amplitude.{name} must be >= 1; got {getattr(self, name)}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"amplitude.lr must be > 0 and weight_decay >= 0; got {self.lr}, {self.weight_decay}")


def log_peaks(wave: np.ndarray) -> np.ndarray:
    """log10 of the peak absolute value per component: (N, C, T) m/s^2 -> (N, C) log10(m/s^2).

    Silent components get ``log10(PEAK_FLOOR)``.
    """
    x = np.asarray(wave)
    if x.ndim != 3:
        raise ValueError(f"wave must have shape (N, C, T); got {x.shape}")
    peak = np.abs(x).max(axis=-1).astype(np.float64)
    return np.log10(np.maximum(peak, PEAK_FLOOR))


def normalise_peaks(wave: np.ndarray, reference: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(waveforms scaled so each component peaks at ``reference`` m/s^2, their log10 peaks (N, C)).

    ``wave`` (N, C, T) in m/s^2; silent components stay zero. The inverse is
    :func:`rescale_peaks` with the returned log peaks.
    """
    if not reference > 0:
        raise ValueError(f"reference must be > 0 m/s^2; got {reference}")
    x = np.asarray(wave)
    a = log_peaks(x)
    peak = np.abs(x).max(axis=-1, keepdims=True).astype(np.float64)
    gain = np.where(peak > PEAK_FLOOR, reference / np.maximum(peak, PEAK_FLOOR), 0.0)
    return (x * gain).astype(x.dtype, copy=False), a


def shape_features(wave: np.ndarray, fs: float, kind: str = "pgv") -> np.ndarray:
    """Scale-free shape features: (N, C, T) acceleration -> (N, S), the same for a record and its
    peak-normalised shape. Silent components get 0.

    - ``kind="pgv"``: log10(PGV / PGA) per component, log10(s); S = C. PGV by
      :func:`quakesynth.metrics.peaks.pgv` (its default baseline correction, the one the
      evaluation uses).
    - ``kind="spectral"``: S = 8 C, grouped by feature, then component: log10(PGV / PGA); the
      log10 of the Fourier amplitude over PGA (:func:`quakesynth.metrics.spectra.fourier_amplitude`,
      log10 s) averaged in log over each band of :data:`SPECTRAL_BANDS_HZ`; log10 of the
      significant duration D5-95 (s; :func:`quakesynth.metrics.energy.significant_duration`,
      floored at 0.05 s).

    >>> t = np.arange(4000) / 100.0
    >>> x = np.sin(2 * np.pi * 1.0 * t)[None, None] * np.hanning(4000)      # 1 Hz: PGV/PGA ~ 1/(2 pi)
    >>> round(float(shape_features(x, 100.0)[0, 0]), 2), round(float(-np.log10(2 * np.pi)), 2)
    (-0.8, -0.8)
    >>> shape_features(np.stack([x[0]] * 3, 1), 100.0, "spectral").shape
    (1, 24)
    """
    from quakesynth.metrics.peaks import pgv

    if kind not in SHAPE_FEATURES or kind == "none":
        raise ValueError(f"kind must be one of {SHAPE_FEATURES[1:]}; got {kind!r}")
    x = np.asarray(wave, np.float64)
    if x.ndim != 3:
        raise ValueError(f"wave must have shape (N, C, T); got {x.shape}")
    if not fs > 0:
        raise ValueError(f"fs must be > 0 Hz; got {fs}")
    a = np.abs(x).max(axis=-1)
    v = pgv(x, fs)
    ok = (a > PEAK_FLOOR) & (v > 0)
    ratio = np.where(ok, np.log10(np.where(ok, v, 1.0) / np.where(ok, a, 1.0)), 0.0)
    if kind == "pgv":
        return ratio
    import warnings

    from quakesynth.metrics.energy import significant_duration
    from quakesynth.metrics.spectra import fourier_amplitude

    live = a > PEAK_FLOOR
    log_a = np.log10(np.where(live, a, 1.0))
    f, fas = fourier_amplitude(x, fs)
    log_fas = np.log10(np.maximum(fas, 1e-30))
    cols = [ratio]
    for lo, hi in SPECTRAL_BANDS_HZ:
        band = (f >= lo) & (f < hi)
        if not band.any():
            raise ValueError(f"the record ({x.shape[-1]} samples at {fs} Hz) has no frequency in {lo}-{hi} Hz")
        cols.append(np.where(live, log_fas[..., band].mean(-1) - log_a, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # silent components: NaN duration, set to 0 below
        d = significant_duration(x, fs)
    cols.append(np.where(live & np.isfinite(d), np.log10(np.maximum(np.nan_to_num(d), 0.05)), 0.0))
    return np.concatenate(cols, axis=1)


def n_shape_features(kind: str, components: int) -> int:
    """S, the number of shape features of ``kind`` for ``components`` components."""
    return {"none": 0, "pgv": 1, "spectral": 2 + len(SPECTRAL_BANDS_HZ)}[kind] * int(components)


def rescale_peaks(wave: torch.Tensor, log_peak: torch.Tensor) -> torch.Tensor:
    """Waveforms (B, C, T) rescaled so that component c peaks at exactly ``10**log_peak[:, c]``.

    Components that are all zero stay zero.
    """
    if wave.ndim != 3 or tuple(log_peak.shape) != tuple(wave.shape[:2]):
        raise ValueError(f"need wave (B, C, T) and log_peak (B, C); got {tuple(wave.shape)}, {tuple(log_peak.shape)}")
    peak = wave.abs().amax(dim=-1, keepdim=True).to(torch.float64)
    target = torch.pow(10.0, log_peak.to(torch.float64)).unsqueeze(-1)
    gain = torch.where(peak > 0, target / peak.clamp_min(1e-30), torch.zeros_like(peak))
    return (wave.to(torch.float64) * gain).to(wave.dtype)


class AmplitudeModel(nn.Module):
    """Conditional Gaussian of the per-component log10 peaks: ``c`` (B, V) [and shape features
    ``s`` (B, S)] -> (mu (B, K), L (B, K, K)).

    Parameters
    ----------
    cond_features : V, length of the normalised conditioning vector.
    components : K, number of components (3).
    hidden, layers : MLP width and number of hidden layers (SiLU).
    shape_features : S, number of shape features (0: none; :func:`n_shape_features`), standardised
        inside by the buffers ``shape_shift`` / ``shape_scale`` set by :meth:`set_shape_offset`.
    shape_kind : the ``kind`` of :func:`shape_features` the model reads (``"pgv"`` or ``"spectral"``).
    """

    def __init__(self, cond_features: int, components: int = 3, hidden: int = 64, layers: int = 2,
                 shape_features: int = 0, shape_kind: str = "pgv") -> None:
        super().__init__()
        if cond_features < 1 or components < 1 or shape_features < 0:
            raise ValueError(f"cond_features and components must be >= 1, shape_features >= 0; got "
                             f"{cond_features}, {components}, {shape_features}")
        self.cond_features, self.components = int(cond_features), int(components)
        self.shape_features = int(shape_features)
        self.shape_kind = str(shape_kind) if self.shape_features else "none"  # the kind of :func:`shape_features`
        k = self.components
        if self.shape_features:
            self.register_buffer("shape_shift", torch.zeros(self.shape_features))
            self.register_buffer("shape_scale", torch.ones(self.shape_features))
        dims = [self.cond_features + self.shape_features] + [int(hidden)] * int(layers)
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [RowLinear(a, b), nn.SiLU()]
        self.body = nn.Sequential(*mods)
        self.head = RowLinear(dims[-1], k + 1)  # mean (K) and the log scale s(c) of the covariance
        rows, cols = torch.tril_indices(k, k, offset=-1)
        self.register_buffer("tril_rows", rows, persistent=False)
        self.register_buffer("tril_cols", cols, persistent=False)
        self.L0_lower = nn.Parameter(torch.zeros(k * (k - 1) // 2))  # off-diagonal of L0, log10 units
        self.L0_log_diag = nn.Parameter(torch.zeros(k))  # ln of L0's diagonal relative to log_sd0
        # The mean and the log-diagonal start at the statistics set by :meth:`set_offset`.
        self.register_buffer("mu0", torch.zeros(k))
        self.register_buffer("log_sd0", torch.zeros(k))

    def set_offset(self, mu: np.ndarray, sd: np.ndarray) -> None:
        """Start from the unconditional mean and standard deviations (log10 units)."""
        self.mu0.copy_(torch.as_tensor(np.asarray(mu, np.float64), dtype=torch.float32))
        self.log_sd0.copy_(torch.as_tensor(np.log(np.maximum(np.asarray(sd, np.float64), 1e-3)), dtype=torch.float32))

    def set_shape_offset(self, shift: np.ndarray, scale: np.ndarray) -> None:
        """Standardise the shape features as ``(s - shift) / scale`` (S,) before the MLP."""
        if not self.shape_features:
            raise ValueError("this amplitude model has no shape features")
        self.shape_shift.copy_(torch.as_tensor(np.asarray(shift, np.float64), dtype=torch.float32))
        self.shape_scale.copy_(torch.as_tensor(np.maximum(np.asarray(scale, np.float64), 1e-3), dtype=torch.float32))

    def _inputs(self, c: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        if not self.shape_features:
            if s is not None:
                raise ValueError("this amplitude model takes no shape features")
            return c
        if s is None or tuple(s.shape) != (len(c), self.shape_features):
            raise ValueError(f"this amplitude model needs shape features ({len(c)}, {self.shape_features}); "
                             f"got {None if s is None else tuple(s.shape)}")
        return torch.cat([c, (s.to(c.dtype) - self.shape_shift) / self.shape_scale], dim=-1)

    def forward(self, c: torch.Tensor, s: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (B, K) and lower-triangular Cholesky factor (B, K, K), log10(m/s^2) units, from the
        normalised conditioning ``c`` (B, V) and, for a shape-aware model, the shape features
        ``s`` (B, S), log10(PGV / PGA) in log10(s).

        ``L(c) = exp(s(c)) L0``: the between-component correlation (``L0``, learned) is shared by
        all scenarios and the spread scales with the conditioning by at most a factor 2 either way
        (``|s| <= ln 2``). A fully conditional Cholesky factor, and an unbounded ``s``, over-fitted
        a 1,000-record corpus (near-singular covariances at unusual conditioning such as Vs30
        near 100 m/s: validation NLL 1e6 and 1e3 nats against -2.9 in training).
        """
        k = self.components
        h = self.head(self.body(self._inputs(c, s)))
        mu = self.mu0 + h[:, :k]
        L0 = torch.diag(torch.exp(self.L0_log_diag + self.log_sd0) + SD_FLOOR)
        L0 = L0.index_put((self.tril_rows, self.tril_cols), self.L0_lower)
        s = SCALE_BOUND * torch.tanh(h[:, k:k + 1] / SCALE_BOUND)
        return mu, torch.exp(s).unsqueeze(-1) * L0

    def nll(self, c: torch.Tensor, a: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        """Mean Gaussian negative log-likelihood (nats per record) of log peaks ``a`` (B, K)."""
        mu, L = self(c, s)
        r = torch.linalg.solve_triangular(L, (a - mu).unsqueeze(-1), upper=False).squeeze(-1)
        logdet = torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        return (0.5 * (r**2).sum(-1) + logdet + 0.5 * self.components * math.log(2 * math.pi)).mean()

    @torch.no_grad()
    def sample(self, c: torch.Tensor, seeds: Sequence[int], s: torch.Tensor | None = None) -> torch.Tensor:
        """Log10 peaks (B, K), one draw per waveform from its own seed; ``s`` (B, S): the shape
        features of the waveforms being scaled (shape-aware models only).

        Each row is evaluated on its own (the network is tiny), so a waveform's amplitude is
        bitwise the same whatever batch it is generated in.
        """
        if len(seeds) != len(c):
            raise ValueError(f"need one seed per conditioning row; got {len(seeds)} seeds for {len(c)} rows")
        rows = [None] * len(c) if s is None else list(torch.as_tensor(s, dtype=torch.float32))
        out = []
        for row, srow, seed in zip(c.float(), rows, seeds):
            mu, L = self(row[None], None if srow is None else srow[None].to(row.device))
            eps = torch.randn(self.components, generator=torch.Generator().manual_seed(amplitude_seed(seed)),
                              dtype=torch.float32).to(mu.device)
            out.append(mu[0] + L[0] @ eps)
        return torch.stack(out) if out else torch.zeros(0, self.components)




def fit_amplitude_model(c: np.ndarray, a: np.ndarray, cfg: AmplitudeConfig = AmplitudeConfig(),
                        seed: int = 0, c_val: np.ndarray | None = None,
                        a_val: np.ndarray | None = None, s: np.ndarray | None = None,
                        s_val: np.ndarray | None = None) -> tuple[AmplitudeModel, dict[str, float]]:
    """Fit :class:`AmplitudeModel` by AdamW (``cfg.steps`` steps of ``cfg.batch_size`` records drawn
    without replacement per epoch, cosine learning-rate decay) on normalised conditioning ``c``
    (N, V) and log10 peaks ``a`` (N, K) of the training split; with ``cfg.shape = "pgv"`` also on
    the records' shape features ``s`` (N, S) (:func:`shape_features`).

    Returns the model (eval mode) and a report: ``nll_train`` (and ``nll_val`` with validation
    data), nats per record, and ``sd_train`` (per-component residual sd of the mean, log10).
    """
    c = np.asarray(c, np.float32)
    a = np.asarray(a, np.float32)
    if c.ndim != 2 or a.ndim != 2 or len(c) != len(a) or len(c) < 2:
        raise ValueError(f"need c (N, V) and a (N, K) with the same N >= 2; got {c.shape}, {a.shape}")
    if (cfg.shape != "none") != (s is not None):
        raise ValueError(f"amplitude.shape={cfg.shape!r} needs shape features exactly when it is not 'none'")
    if s is not None:
        s = np.asarray(s, np.float32)
        if s.ndim != 2 or len(s) != len(c):
            raise ValueError(f"need shape features s (N, S) with N = {len(c)}; got {s.shape}")
    torch.manual_seed(seed)
    model = AmplitudeModel(c.shape[1], a.shape[1], cfg.hidden, cfg.layers, 0 if s is None else s.shape[1],
                           shape_kind=cfg.shape)
    model.set_offset(a.mean(0), a.std(0))
    if s is not None:
        model.set_shape_offset(s.mean(0), s.std(0))
    with torch.no_grad():  # start at the unconditional Gaussian
        model.head.weight.mul_(0.01)
        model.head.bias.zero_()
    ct, at = torch.from_numpy(c), torch.from_numpy(a)
    st = None if s is None else torch.from_numpy(s)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    g = torch.Generator().manual_seed(seed)
    bs = min(cfg.batch_size, len(c))
    order, pos = torch.randperm(len(c), generator=g), 0
    for _ in range(cfg.steps):
        if pos + bs > len(c):
            order, pos = torch.randperm(len(c), generator=g), 0
        idx = order[pos:pos + bs]
        pos += bs
        opt.zero_grad(set_to_none=True)
        loss = model.nll(ct[idx], at[idx], None if st is None else st[idx])
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        report = {"nll_train": float(model.nll(ct, at, st)),
                  "sd_train": (at - model(ct, st)[0]).std(0).tolist()}
        if c_val is not None and a_val is not None and len(c_val):
            sv = None if s_val is None else torch.from_numpy(np.asarray(s_val, np.float32))
            report["nll_val"] = float(model.nll(torch.from_numpy(np.asarray(c_val, np.float32)),
                                                torch.from_numpy(np.asarray(a_val, np.float32)), sv))
    return model, report


def amplitude_config_dict(cfg: AmplitudeConfig, cond_features: int, components: int,
                          report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``amplitude`` section of a model directory's config.json."""
    out = {"mode": cfg.mode, "reference": cfg.reference, "hidden": cfg.hidden, "layers": cfg.layers,
           "cond_features": int(cond_features), "components": int(components),
           "fit": dict(report or {})}
    if cfg.shape != "none":  # absent in older model folders: no shape features
        out["shape"] = cfg.shape
    return out


def load_amplitude_model(section: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> AmplitudeModel:
    """An :class:`AmplitudeModel` (eval mode) from a config section and its weights."""
    shape = section.get("shape", "none")
    if shape not in SHAPE_FEATURES:
        raise ValueError(f"unknown amplitude shape feature {shape!r}; this version knows {SHAPE_FEATURES}")
    k = int(section["components"])
    model = AmplitudeModel(int(section["cond_features"]), k, int(section["hidden"]), int(section["layers"]),
                           shape_features=n_shape_features(shape, k), shape_kind=shape)
    model.load_state_dict(dict(state))
    return model.requires_grad_(False).eval()
