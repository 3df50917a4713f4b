"""Moving-average envelope representation (the time-domain alternative of HighFEM's ablation).

A record ``x`` (..., C, T) is split into its moving-average envelope
``e = MA_w(|x|) + eps`` (:func:`quakesynth.metrics.spectra.moving_average_envelope`, centred
window of ``window`` samples, averaged over the samples inside the record at the edges) and the
envelope-normalised signal ``x / e``; the network sees 2C channels
``[x / e, (log10 e - log_center) / log_scale]``, both of order one, and the inverse is exactly
``x = (x / e) 10^(log10 e)``. Unlike the log-spectrogram it keeps the phase, so it needs no
phase retrieval, but the model has to generate a 4064-sample oscillation directly.

>>> import numpy as np
>>> rep = MovingAverageEnvelope(EnvelopeConfig(window=32, n_samples=256))
>>> x = np.random.default_rng(0).normal(size=(2, 3, 256)) * 1e-2
>>> bool(np.allclose(rep.inverse(rep.forward(x)), x, rtol=1e-10, atol=0))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class EnvelopeConfig:
    """Parameters of the moving-average envelope representation."""

    window: int = 128  # moving-average length, samples (1.28 s at 100 Hz)
    n_samples: int = 4064  # waveform length, samples
    fs: float = 100.0  # sampling rate, Hz
    eps: float = 1e-10  # floor added to the envelope, waveform unit (m/s^2)
    log_center: float = -2.5  # log10-envelope mapped to 0 (log10 of waveform unit; 3.2e-3 m/s^2)
    log_scale: float = 2.0  # log10-envelope units (decades) per unit of the scaled channel

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"EnvelopeConfig.window must be >= 1 sample; got {self.window}")
        if self.n_samples < 1 or self.fs <= 0:
            raise ValueError(f"EnvelopeConfig needs n_samples >= 1 and fs > 0; got {self.n_samples}, {self.fs}")
        if self.eps <= 0 or self.log_scale <= 0:
            raise ValueError(f"EnvelopeConfig needs eps > 0 and log_scale > 0; got {self.eps}, {self.log_scale}")

    @property
    def window_s(self) -> float:
        """Window length in seconds."""
        return self.window / self.fs


class MovingAverageEnvelope:
    """``forward`` (..., C, T) -> (..., 2C, T) = [x / e, scaled ln e]; ``inverse`` back.

    Arrays in, arrays out (same float dtype); tensors in, tensors out.
    """

    def __init__(self, cfg: EnvelopeConfig | None = None) -> None:
        self.cfg = cfg or EnvelopeConfig()

    def envelope(self, wave):
        """Moving-average envelope ``MA_w(|x|) + eps`` (..., T), waveform unit."""
        x, numpy = _tensor(wave)
        self._check(x)
        e = self._envelope(x)
        return e.numpy() if numpy else e

    def _envelope(self, x: torch.Tensor) -> torch.Tensor:
        from quakesynth.metrics.spectra import moving_average_envelope

        e = moving_average_envelope(x.detach().cpu().double().numpy(), kernel=self.cfg.window, edges="inside")
        return torch.from_numpy(e).to(device=x.device, dtype=x.dtype) + self.cfg.eps

    def forward(self, wave):
        """(..., C, T) -> (..., 2C, T): ``[x / e, (log10 e - log_center) / log_scale]``."""
        x, numpy = _tensor(wave)
        self._check(x)
        e = self._envelope(x)
        out = torch.cat([x / e, (torch.log10(e) - self.cfg.log_center) / self.cfg.log_scale], dim=-2)
        return out.numpy() if numpy else out

    __call__ = forward

    def inverse(self, rep):
        """(..., 2C, T) -> (..., C, T): ``(x / e) 10^(log10 e)``."""
        r, numpy = _tensor(rep)
        if r.ndim < 2 or r.shape[-2] % 2 or r.shape[-1] != self.cfg.n_samples:
            raise ValueError(f"rep must have shape (..., 2C, {self.cfg.n_samples}); got {tuple(r.shape)}")
        c = r.shape[-2] // 2
        s, log_e = r[..., :c, :], r[..., c:, :] * self.cfg.log_scale + self.cfg.log_center
        out = s * torch.pow(10.0, log_e)
        return out.numpy() if numpy else out

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim < 2 or x.shape[-1] != self.cfg.n_samples:
            raise ValueError(f"wave must have shape (..., C, {self.cfg.n_samples}); got {tuple(x.shape)}")


def _tensor(a) -> tuple[torch.Tensor, bool]:
    if isinstance(a, torch.Tensor):
        return (a if a.is_floating_point() else a.float()), False
    arr = np.asarray(a)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return torch.from_numpy(np.ascontiguousarray(arr)), True
