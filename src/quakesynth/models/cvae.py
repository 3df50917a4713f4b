"""Conditional VAE on STFT spectrograms (amplitude and phase channels), the TimesNet-Gen baseline.

Representation (per component, from the project's STFT,
:meth:`quakesynth.repr.spectrogram.LogSpectrogram.stft`, all rows kept): the scaled log
amplitude of :class:`~quakesynth.repr.spectrogram.LogSpectrogram` in [-1, 1] and the phase as
``cos(phi)``, ``sin(phi)`` (continuous, unlike the wrapped angle): 3 channels per component,
``(B, 3 C, n_fft/2 + 1, n_frames)``. The inverse recombines ``|S| (cos + i sin) / |(cos, sin)|``
and applies the inverse STFT (no Griffin-Lim: the phase is modelled).

Model (Sohn et al. 2015, "Learning structured output representation using deep conditional
generative models"): encoder ``q(z | X, s)`` and decoder ``p(X | z, s)`` with the station
one-hot ``s`` concatenated to the input channels (encoder) and to ``z`` (decoder); loss, per
record of ``N = 3 C F N_frames`` representation numbers,

    ``MSE(X_hat, X) + beta KL(q || N(0, I)) / N``,

i.e. ``(SSE + beta KL) / N``: ``beta = 1`` is the standard VAE with a Gaussian decoder of
variance 1/2 per number, whatever the STFT shape. (The first version weighted the summed KL
against the per-number *mean* squared error, ``MSE + beta KL``: its ``beta = 1e-3`` on the
9 x 33 x 65 representation was a per-record ``beta`` of 19, and the posterior collapsed to
KL = 0.02 nats.) Generation decodes ``z ~ N(0, I)`` under ``s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CVAEConfig:
    """Architecture and loss of the spectrogram CVAE."""

    in_channels: int = 3  # waveform components (3 representation channels each)
    n_samples: int = 1024  # waveform length, samples
    n_fft: int = 64  # STFT window and FFT length, samples
    hop: int = 16  # STFT hop, samples
    clip: float = 1e-5  # floor of |S| before the log, unit of the normalised waveform
    log_max: float = 3.5  # ln|S| mapped to +1
    channels: int = 16  # channels of the first convolution (doubled at the second)
    latent_dim: int = 32  # dimension of z
    n_stations: int = 1  # station classes of the one-hot conditioning
    beta: float = 1.0  # KL weight against the per-record sum of squared errors (1: standard VAE; module docstring)

    def __post_init__(self) -> None:
        for name in ("in_channels", "n_samples", "n_fft", "hop", "channels", "latent_dim", "n_stations"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CVAEConfig.{name} must be positive; got {getattr(self, name)}")
        if self.beta < 0:
            raise ValueError(f"CVAEConfig.beta must be >= 0; got {self.beta}")

    def spectrogram(self):
        """The :class:`~quakesynth.repr.spectrogram.SpectrogramConfig` of the representation
        (``fs`` is irrelevant to the model and set to 1)."""
        from quakesynth.repr.spectrogram import SpectrogramConfig

        return SpectrogramConfig(n_fft=self.n_fft, hop=self.hop, n_samples=self.n_samples, fs=1.0,
                                 clip=self.clip, log_max=self.log_max, drop_nyquist=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, n_freq, n_frames) of the representation."""
        return (3 * self.in_channels, self.n_fft // 2 + 1, 1 + self.n_samples // self.hop)


class AmplitudePhaseSTFT:
    """Waveforms (B, C, T) <-> representation (B, 3C, F, N) (module docstring)."""

    def __init__(self, cfg: CVAEConfig) -> None:
        from quakesynth.repr.spectrogram import LogSpectrogram

        self.cfg = cfg
        self.rep = LogSpectrogram(cfg.spectrogram())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        S = self.rep.stft(x.to(torch.float64))  # (B, C, F, N) complex
        sc = self.rep.cfg
        L = torch.log(torch.clamp(S.abs(), min=sc.clip))
        amp = (L - sc.log_clip) / (sc.log_max - sc.log_clip) * 2 - 1
        phi = torch.angle(S)
        out = torch.cat([amp, torch.cos(phi), torch.sin(phi)], dim=1)  # (B, 3C, F, N)
        return out.to(x.dtype)

    __call__ = forward

    def inverse(self, r: torch.Tensor) -> torch.Tensor:
        C = self.cfg.in_channels
        amp, c, s = r[:, :C].double(), r[:, C:2 * C].double(), r[:, 2 * C:].double()
        mag = torch.exp(self.rep._log(amp))
        norm = torch.sqrt(c**2 + s**2).clamp(min=1e-6)
        S = torch.complex(mag * c / norm, mag * s / norm)
        return self.rep.istft(S, length=self.cfg.n_samples).to(r.dtype)


class CVAE(nn.Module):
    """Convolutional conditional VAE on (B, 3C, F, N) representations."""

    def __init__(self, cfg: CVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c_in, nf, nt = cfg.shape
        ch, S = cfg.channels, cfg.n_stations
        self.enc = nn.Sequential(nn.Conv2d(c_in + S, ch, 3, stride=2, padding=1), nn.GELU(),
                                 nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1), nn.GELU())
        self.h_shape = (2 * ch, (nf + 3) // 4, (nt + 3) // 4)
        n_h = self.h_shape[0] * self.h_shape[1] * self.h_shape[2]
        self.to_stats = nn.Linear(n_h, 2 * cfg.latent_dim)
        self.from_z = nn.Linear(cfg.latent_dim + S, n_h)
        self.dec1 = nn.Conv2d(2 * ch + S, ch, 3, padding=1)
        self.dec2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.out = nn.Conv2d(ch, c_in, 3, padding=1)

    def _onehot(self, station: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(station, device=like.device).long().reshape(-1)
        if (s < 0).any() or (s >= self.cfg.n_stations).any():
            raise ValueError(f"station indices must be in [0, {self.cfg.n_stations - 1}]; got {s.tolist()[:5]}")
        return F.one_hot(s, self.cfg.n_stations).to(like.dtype)

    def encode(self, X: torch.Tensor, station: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) (B, latent_dim) of representations X (B, 3C, F, N)."""
        if tuple(X.shape[1:]) != self.cfg.shape:
            raise ValueError(f"X must have shape (B, {self.cfg.shape}); got {tuple(X.shape)}")
        oh = self._onehot(station, X)
        h = self.enc(torch.cat([X, oh[:, :, None, None].expand(-1, -1, *X.shape[2:])], 1))
        mu, logvar = self.to_stats(h.flatten(1)).chunk(2, dim=1)
        return mu, logvar.clamp(-20, 10)

    def decode(self, z: torch.Tensor, station: torch.Tensor) -> torch.Tensor:
        """Representations (B, 3C, F, N) of latents z (B, latent_dim)."""
        oh = self._onehot(station, z)
        c_in, nf, nt = self.cfg.shape
        h = self.from_z(torch.cat([z, oh], 1)).reshape(-1, *self.h_shape)
        h = F.interpolate(h, size=((nf + 1) // 2, (nt + 1) // 2), mode="nearest")
        h = F.gelu(self.dec1(torch.cat([h, oh[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)))
        h = F.interpolate(h, size=(nf, nt), mode="nearest")
        return self.out(F.gelu(self.dec2(h)))

    def loss(self, X: torch.Tensor, station: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``MSE + beta KL / N`` (module docstring) with the reparameterisation trick (uses the
        global torch RNG); ``parts["kl"]`` is the KL per record, nats."""
        mu, logvar = self.encode(X, station)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        X_hat = self.decode(z, station)
        recon = F.mse_loss(X_hat, X)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1).mean()
        n = X[0].numel()  # representation numbers per record
        return recon + self.cfg.beta * kl / n, {"recon": recon, "kl": kl}
