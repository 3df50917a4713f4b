"""Magnitude x distance classifier on log-spectrograms, for classifier accuracy and the
embedding Frechet distance of generated waveforms (HighFEM evaluation).

The classes are the cells of a magnitude x hypocentral-distance grid (the bins of the HighFEM
reference evaluation, :data:`MAG_BINS` and :data:`DIST_BINS`: 6 x 6 = 36 classes); class
``k = i_mag * n_dist + i_dist``. The network is a convolutional encoder (residual blocks with
group norm and SiLU, stride-2 downsampling per level) whose feature map is averaged over
frequency and time and passed through a two-layer MLP: that vector is the embedding
(:meth:`SpectrogramClassifier.embed`), and a linear layer on it gives the class logits.

>>> import torch
>>> net = SpectrogramClassifier(ClassifierConfig(model_channels=8, channel_mult=(1, 2), embed_dim=16))
>>> net(torch.zeros(2, 3, 32, 32)).shape, net.embed(torch.zeros(2, 3, 32, 32)).shape
(torch.Size([2, 36]), torch.Size([2, 16]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from quakesynth.binning import mr_bin_index
from quakesynth.models.layers import Downsample, ResBlock, normalization

#: Magnitude bin edges of the HighFEM reference classifier (tqdne ``SpectrogramClassificationConfig``).
MAG_BINS: tuple[float, ...] = (4.0, 4.75, 5.0, 5.5, 6.5, 7.5, 9.1)
#: Hypocentral-distance bin edges, km.
DIST_BINS: tuple[float, ...] = (0.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0)


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture and classes of :class:`SpectrogramClassifier`."""

    in_channels: int = 3  # spectrogram channels (components)
    model_channels: int = 32  # width of the first level
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)  # width multiplier per level; one stride-2 downsampling between levels
    num_res_blocks: int = 1  # residual blocks per level
    groups: int = 8  # group-norm groups (must divide every width)
    embed_dim: int = 256  # embedding size (the Frechet-distance feature)
    dropout: float = 0.1  # dropout inside residual blocks
    mag_bins: tuple[float, ...] = MAG_BINS  # magnitude bin edges
    dist_bins: tuple[float, ...] = DIST_BINS  # hypocentral-distance bin edges, km

    def __post_init__(self) -> None:
        for name in ("mag_bins", "dist_bins"):
            edges = np.asarray(getattr(self, name), dtype=float)
            if edges.size < 2 or np.any(np.diff(edges) <= 0):
                raise ValueError(f"{name} must be at least two increasing edges; got {getattr(self, name)}")
        for m in self.channel_mult:
            if (self.model_channels * m) % self.groups:
                raise ValueError(f"groups={self.groups} does not divide width {self.model_channels * m}")

    @property
    def num_classes(self) -> int:
        return (len(self.mag_bins) - 1) * (len(self.dist_bins) - 1)


def bin_labels(magnitude: np.ndarray, distance: np.ndarray, mag_bins=MAG_BINS, dist_bins=DIST_BINS) -> np.ndarray:
    """Class index ``i_mag * n_dist + i_dist`` per record (N,), int64; -1 outside the grid.

    Bins are closed on the left, open on the right, except the last one which includes its
    upper edge.

    >>> bin_labels(np.array([4.0, 9.1, 6.0, 3.0]), np.array([10.0, 200.0, 120.0, 10.0])).tolist()
    [0, 35, 20, -1]
    """
    m = np.asarray(magnitude, dtype=float)
    d = np.asarray(distance, dtype=float)
    if m.shape != d.shape:
        raise ValueError(f"magnitude {m.shape} and distance {d.shape} shapes differ")
    return mr_bin_index(m, d, mag_bins, dist_bins)


def class_names(mag_bins=MAG_BINS, dist_bins=DIST_BINS) -> list[str]:
    """Readable class names, e.g. ``"M[5,5.5) R[75,100) km"``."""
    return [f"M[{mag_bins[i]:g},{mag_bins[i + 1]:g}) R[{dist_bins[j]:g},{dist_bins[j + 1]:g}) km"
            for i in range(len(mag_bins) - 1) for j in range(len(dist_bins) - 1)]


class SpectrogramClassifier(nn.Module):
    """Classifier of (B, C, F, T) log-spectrograms into magnitude x distance classes."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.model_channels * config.channel_mult[0]
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, c, 3, padding=1)]
        for level, mult in enumerate(config.channel_mult):
            width = config.model_channels * mult
            for _ in range(config.num_res_blocks):
                layers.append(ResBlock(c, width, dropout=config.dropout, num_groups=config.groups))
                c = width
            if level < len(config.channel_mult) - 1:
                layers.append(Downsample(c, use_conv=True))
        layers += [normalization(c, config.groups), nn.SiLU()]
        self.encoder = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(c, config.embed_dim), nn.SiLU(),
                                 nn.Linear(config.embed_dim, config.embed_dim))
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(config.embed_dim, config.num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding (B, embed_dim) of spectrograms x (B, C, F, T)."""
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"x must have shape (B, {self.config.in_channels}, F, T); got {tuple(x.shape)}")
        h = self.encoder(x).mean(dim=(2, 3))
        return self.mlp(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, num_classes)."""
        return self.head(self.embed(x))

