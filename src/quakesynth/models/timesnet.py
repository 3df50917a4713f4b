"""TimesNet backbone and the TimesNet-Gen autoencoder for three-component waveforms.

TimesNet (Wu et al. 2023, ICLR, "TimesNet: Temporal 2D-variation modeling for general time
series analysis") turns a 1-D sequence into 2-D grids, one per dominant period, so that 2-D
convolutions see intra-period variation along one axis and inter-period variation along the
other. One :class:`TimesBlock` on features ``X`` (B, T, d):

1. ``A = mean_d |FFT_t(X)|`` (B, F), ``A[:, 0] = 0``; the top-k frequencies ``f_1..f_k`` give
   the periods ``p_i = floor(T / f_i)`` and the weights ``A_{f_i}``.
2. For each period: zero-pad to a multiple of ``p_i``, reshape to a (T/p_i, p_i) grid of ``d``
   channels, apply an Inception block (2-D convolutions with kernels 1, 3, 5, ... averaged),
   GELU, another Inception block, and reshape back to (T, d).
3. Aggregate the k branches with ``softmax(A_{f_1..f_k})`` weights and add the input (residual).

Periods are chosen **per sample** (the reference averages the amplitudes over the batch), so
a waveform's output does not depend on the other waveforms of its batch (the project's
per-waveform seeding rule, see :mod:`quakesynth.generate`).

TimesNet-Gen (arXiv 2512.04694) uses TimesBlocks as an encoder-decoder with a latent
bottleneck and conditions on the station: a one-hot station vector (B, S) is broadcast over
each 2-D grid, concatenated to its channels and projected back to ``d`` channels by a 1 x 1
convolution (channel-wise modulation) before the Inception blocks. With no station (``-1``)
the one-hot vector is zero: phase-0 pre-training and the zero-shot variant use that path.

Shapes of :class:`TimesNetAE` (``n_samples`` T, ``patch`` P, ``latent_stride`` L)::

    x (B, C, T) --conv stride P--> (B, T/P, d) --TimesBlocks--> --conv stride L--> z (B, c_z, T/(P L))
    z --transposed conv stride L--> (B, T/P, d) --TimesBlocks--> --transposed conv stride P, convs--> x_hat (B, C, T)

Every down-sampling has a learned up-sampling as its mirror (a transposed convolution of the
same kernel and stride): a synthesis filter bank that, with ``d >= C P`` channels, reaches the
whole band up to the Nyquist frequency ``fs / 2``. The first version (``upsample=
"interpolate"``, kept to load its model directories) repeated latent frames (nearest) and
up-sampled the features by linear interpolation, a low-pass of gain ``sinc^2(f P / fs)``
(0.40 at ``fs / 2P``, 0.02 at 11 Hz for P = 4 at 50 Hz) that leaves ``fs / 2P .. fs / 2``
to images its 7-tap head had to re-shape.

The latent is a lossy bottleneck where :attr:`TimesNetConfig.compression` (waveform numbers
per latent number) exceeds 1. TimesNet-Gen's reference latent is the full-rate feature
sequence: the generator averages and perturbs latents of recorded waveforms, which needs a
decoder that reconstructs them -- spectrum and H/V ratio included. With the first presets'
latent (P = L = 4, c_z = 8 on 3 x 1024 samples: compression 6) the reconstructions were
uncorrelated with the inputs (r = 0.00; only the envelope was kept, r = 0.99 of log
envelopes) and every station's reconstructions had one average HVSR (f0 ~ 1 Hz).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Decoder up-sampling variants of :class:`TimesNetConfig` (module docstring).
UPSAMPLINGS = ("transposed", "interpolate")


@dataclass(frozen=True)
class TimesNetConfig:
    """Architecture of the TimesNet-Gen autoencoder (:class:`TimesNetAE`)."""

    in_channels: int = 3  # waveform components
    n_samples: int = 1024  # waveform length, samples (divisible by patch * latent_stride)
    d_model: int = 16  # feature channels of the TimesBlocks
    d_ff: int = 32  # hidden channels inside the Inception blocks
    top_k: int = 2  # periods per TimesBlock
    num_kernels: int = 3  # Inception kernel sizes 1, 3, ..., 2 num_kernels - 1
    e_layers: int = 2  # TimesBlocks in the encoder
    d_layers: int = 2  # TimesBlocks in the decoder
    patch: int = 4  # time downsampling of the input embedding, samples
    latent_stride: int = 1  # further time downsampling into the latent (keep compression <= 1)
    latent_channels: int = 16  # channels of the latent z (>= in_channels * patch * latent_stride: no lossy bottleneck)
    n_stations: int = 0  # station classes of the one-hot conditioning (0: unconditioned model)
    upsample: str = "transposed"  # decoder up-sampling: "transposed" (learned, full band) or "interpolate" (v1 models)

    def __post_init__(self) -> None:
        for name in ("in_channels", "n_samples", "d_model", "d_ff", "top_k", "num_kernels", "patch",
                     "latent_stride", "latent_channels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TimesNetConfig.{name} must be positive; got {getattr(self, name)}")
        if self.e_layers < 0 or self.d_layers < 0 or self.n_stations < 0:
            raise ValueError("TimesNetConfig.e_layers, d_layers and n_stations must be >= 0")
        if self.n_samples % (self.patch * self.latent_stride):
            raise ValueError(f"TimesNetConfig.n_samples={self.n_samples} must be divisible by patch * "
                             f"latent_stride = {self.patch * self.latent_stride}")
        if self.upsample not in UPSAMPLINGS:
            raise ValueError(f"TimesNetConfig.upsample must be one of {UPSAMPLINGS}; got {self.upsample!r}")

    @property
    def seq_len(self) -> int:
        """Length T/P of the TimesBlock feature sequences."""
        return self.n_samples // self.patch

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(c_z, T_z) of one latent."""
        return (self.latent_channels, self.n_samples // (self.patch * self.latent_stride))

    @property
    def compression(self) -> float:
        """Waveform numbers per latent number, ``C T / (c_z T_z)`` (> 1: a lossy bottleneck)."""
        c_z, t_z = self.latent_shape
        return self.in_channels * self.n_samples / (c_z * t_z)


def fft_periods(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` periods of feature sequences, per sample.

    Parameters
    ----------
    x : (B, T, d) features.
    k : number of periods.

    Returns
    -------
    periods : (B, k) int64, ``T // f`` for the k frequency bins ``f >= 1`` of largest mean
        amplitude (largest first).
    amplitudes : (B, k) the mean amplitudes ``mean_d |FFT(x)|`` at those bins (differentiable).

    >>> t = torch.arange(128.0)
    >>> fft_periods(torch.sin(2 * torch.pi * t / 16)[None, :, None], 1)[0].tolist()
    [[16]]
    """
    T = x.shape[1]
    if not 1 <= k <= T // 2:
        raise ValueError(f"k must be in [1, T/2 = {T // 2}]; got {k}")
    amp = torch.fft.rfft(x, dim=1).abs().mean(-1)  # (B, F)
    amp = torch.cat([torch.zeros_like(amp[:, :1]), amp[:, 1:]], dim=1)  # no period for the mean
    weights, f = torch.topk(amp, k, dim=1)
    return T // f.clamp(min=1), weights


class InceptionBlock(nn.Module):
    """2-D convolutions with kernels 1, 3, ..., 2 n - 1 ('same' padding), averaged
    (TimesNet's ``Inception_Block_V1``)."""

    def __init__(self, c_in: int, c_out: int, num_kernels: int) -> None:
        super().__init__()
        self.kernels = nn.ModuleList([nn.Conv2d(c_in, c_out, 2 * i + 1, padding=i) for i in range(num_kernels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([conv(x) for conv in self.kernels], dim=-1).mean(-1)


class TimesBlock(nn.Module):
    """One TimesBlock (module docstring), optionally conditioned on a one-hot station vector."""

    def __init__(self, d_model: int, d_ff: int, top_k: int, num_kernels: int, n_stations: int = 0) -> None:
        super().__init__()
        self.top_k, self.n_stations = int(top_k), int(n_stations)
        # one-hot station maps concatenated to the grid, projected back by a 1 x 1 convolution
        self.station_proj = nn.Conv2d(d_model + n_stations, d_model, 1) if n_stations > 0 else None
        self.conv = nn.Sequential(InceptionBlock(d_model, d_ff, num_kernels), nn.GELU(),
                                  InceptionBlock(d_ff, d_model, num_kernels))

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, d), onehot (B, S) or None -> (B, T, d)."""
        B, T, d = x.shape
        periods, amp = fft_periods(x, self.top_k)
        res = x.new_zeros(B, self.top_k, T, d)
        for p in torch.unique(periods).tolist():
            rows, cols = (periods == p).nonzero(as_tuple=True)
            xs = x[rows]
            L = -(-T // p) * p
            if L != T:
                xs = F.pad(xs, (0, 0, 0, L - T))
            grid = xs.reshape(len(rows), L // p, p, d).permute(0, 3, 1, 2)  # (b, d, T/p, p)
            if self.station_proj is not None:
                oh = (onehot[rows] if onehot is not None
                      else grid.new_zeros(len(rows), self.n_stations))
                grid = self.station_proj(torch.cat([grid, oh[:, :, None, None].expand(-1, -1, *grid.shape[2:])], 1))
            out = self.conv(grid).permute(0, 2, 3, 1).reshape(len(rows), L, d)[:, :T]
            res = res.index_put((rows, cols), out)  # out of place: autograd-safe
        w = torch.softmax(amp, dim=1)
        return (res * w[:, :, None, None]).sum(1) + x


def one_hot(station: torch.Tensor | None, n_stations: int, batch: int, like: torch.Tensor) -> torch.Tensor | None:
    """(B, S) one-hot vectors of station indices (B,) (-1: none -> zeros); None without stations."""
    if n_stations == 0:
        return None
    if station is None:
        return like.new_zeros(batch, n_stations)
    s = torch.as_tensor(station, device=like.device).long().reshape(-1)
    if s.numel() != batch:
        raise ValueError(f"station must have one index per record ({batch}); got {s.numel()}")
    if (s >= n_stations).any() or (s < -1).any():
        raise ValueError(f"station indices must be in [-1, {n_stations - 1}]; got {s.tolist()[:5]}")
    return F.one_hot(s.clamp(min=0), n_stations).to(like.dtype) * (s >= 0).to(like.dtype)[:, None]


class TimesNetAE(nn.Module):
    """TimesNet encoder-decoder with a latent bottleneck (module docstring for shapes)."""

    def __init__(self, cfg: TimesNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, P, Ls = cfg.d_model, cfg.patch, cfg.latent_stride
        # kernel 2P, stride P on the input padded by P/2 at both ends (P//2, P - P//2): T/P frames
        self.embed = nn.Conv1d(cfg.in_channels, d, 2 * P, stride=P)
        self.pos_enc = nn.Parameter(torch.zeros(1, cfg.seq_len, d))
        self.pos_dec = nn.Parameter(torch.zeros(1, cfg.seq_len, d))
        blk = dict(d_model=d, d_ff=cfg.d_ff, top_k=cfg.top_k, num_kernels=cfg.num_kernels, n_stations=cfg.n_stations)
        self.enc_blocks = nn.ModuleList([TimesBlock(**blk) for _ in range(cfg.e_layers)])
        self.enc_norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(cfg.e_layers)])
        self.to_latent = nn.Conv1d(d, cfg.latent_channels, Ls, stride=Ls)
        if cfg.upsample == "transposed":  # mirrors of to_latent and embed
            self.from_latent = nn.ConvTranspose1d(cfg.latent_channels, d, Ls, stride=Ls)
            self.unpatch = nn.ConvTranspose1d(d, d, 2 * P, stride=P)
        else:  # v1: 1 x 1 conv + nearest, then linear interpolation
            self.from_latent = nn.Conv1d(cfg.latent_channels, d, 1)
            self.unpatch = None
        self.dec_blocks = nn.ModuleList([TimesBlock(**blk) for _ in range(cfg.d_layers)])
        self.dec_norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(cfg.d_layers)])
        self.head = nn.Sequential(nn.Conv1d(d, d, 7, padding=3), nn.GELU(), nn.Conv1d(d, cfg.in_channels, 7, padding=3))

    def _check(self, x: torch.Tensor) -> None:
        c = self.cfg
        if x.ndim != 3 or x.shape[1] != c.in_channels or x.shape[2] != c.n_samples:
            raise ValueError(f"x must have shape (B, {c.in_channels}, {c.n_samples}); got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor, station: torch.Tensor | None = None) -> torch.Tensor:
        """Latents z (B, c_z, T_z) of normalised waveforms x (B, C, T); ``station`` (B,) indices
        (-1 or None: unconditioned)."""
        self._check(x)
        oh = one_hot(station, self.cfg.n_stations, x.shape[0], x)
        P = self.cfg.patch
        h = self.embed(F.pad(x, (P // 2, P - P // 2))).transpose(1, 2) + self.pos_enc
        for blk, norm in zip(self.enc_blocks, self.enc_norms):
            h = norm(blk(h, oh))
        return self.to_latent(h.transpose(1, 2))

    def decode(self, z: torch.Tensor, station: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised waveforms (B, C, T) of latents z (B, c_z, T_z)."""
        c_z, t_z = self.cfg.latent_shape
        if z.ndim != 3 or tuple(z.shape[1:]) != (c_z, t_z):
            raise ValueError(f"z must have shape (B, {c_z}, {t_z}); got {tuple(z.shape)}")
        oh = one_hot(station, self.cfg.n_stations, z.shape[0], z)
        P = self.cfg.patch
        h = self.from_latent(z)
        if self.unpatch is None:
            h = F.interpolate(h, scale_factor=self.cfg.latent_stride, mode="nearest")
        h = h.transpose(1, 2) + self.pos_dec
        for blk, norm in zip(self.dec_blocks, self.dec_norms):
            h = norm(blk(h, oh))
        h = h.transpose(1, 2)
        if self.unpatch is None:
            h = F.interpolate(h, scale_factor=P, mode="linear", align_corners=False)
        else:  # (T/P - 1) P + 2P = T + P samples: drop the embedding's padding
            h = self.unpatch(h)[..., P // 2:P // 2 + self.cfg.n_samples]
        return self.head(h)

    def forward(self, x: torch.Tensor, station: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_hat, z) of waveforms x (B, C, T)."""
        z = self.encode(x, station)
        return self.decode(z, station), z


@dataclass(frozen=True)
class TimesNetLossConfig:
    """Loss weights of TimesNet-Gen."""

    spectral_weight: float = 1.0  # weight of the multi-resolution log-STFT-magnitude L1 term
    spectral_eps: float = 0.01  # floor added to |STFT| before the log, normalised unit x samples
    latent_weight: float = 1e-4  # weight of mean(z^2) (latent scale regulariser)


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, spectral_weight: float = 1.0,
                        eps: float = 1e-2, n_ffts: tuple[int, ...] = (32, 128)) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``MSE(x_hat, x) + spectral_weight * mean_n mean |ln(|S_n x_hat| + eps) - ln(|S_n x| + eps)|``.

    ``S_n`` is the project's STFT (:meth:`quakesynth.repr.spectrogram.LogSpectrogram.stft`,
    Hann window of ``n`` samples, hop ``n/4``) at the resolutions ``n_ffts`` (a multi-resolution
    STFT loss, as in neural vocoders): it keeps the time-frequency shape -- spectrum, hence the
    HVSR, and envelope, hence the arrivals -- that a plain MSE on noise-like waveforms smooths
    away. ``eps`` is in the unit of the (peak-normalised) waveforms times samples.
    """
    from quakesynth.repr.spectrogram import LogSpectrogram, SpectrogramConfig

    mse = F.mse_loss(x_hat, x)
    T = x.shape[-1]
    terms = []
    for n in n_ffts:
        rep = LogSpectrogram(SpectrogramConfig(n_fft=n, hop=n // 4, n_samples=T, fs=1.0))
        a_hat, a = rep.stft(x_hat).abs(), rep.stft(x).abs()
        terms.append((torch.log(a_hat + eps) - torch.log(a + eps)).abs().mean())
    spec = torch.stack(terms).mean()
    return mse + spectral_weight * spec, {"mse": mse, "spectral": spec}
