"""Patch discriminator and adversarial losses for fine-tuning the spectrogram VAE's decoder.

A decoder trained on the mean squared error alone returns the conditional mean of what its
latent left undetermined: a log-spectrogram smoothed in time and frequency, so that onsets and
the peak against the coda lose contrast. As in the first stage of latent-diffusion image models
(the VQGAN / Stable Diffusion autoencoders) and in GAN vocoders (MelGAN, HiFi-GAN), a small
convolutional discriminator judges local patches of the decoded spectrogram against real ones;
the decoder is trained on the hinge adversarial loss and on feature matching (the L1 distance of
the discriminator's intermediate features of the decoded and the real spectrogram), with the
mean squared error kept as an anchor.

The discriminator is unconditional and local: each output logit sees a patch of about
``receptive_field(n_layers)`` frequency bins by as many time frames. Spectral normalisation
(Miyato et al. 2018) keeps it Lipschitz, so the fine-tune stays stable on CPU batch sizes.

>>> import torch
>>> d = PatchDiscriminator(in_channels=3, channels=8, n_layers=3)
>>> logits, feats = d(torch.zeros(2, 3, 64, 64))
>>> tuple(logits.shape), len(feats)
((2, 1, 8, 8), 3)
>>> receptive_field(3)
46
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def receptive_field(n_layers: int) -> int:
    """Receptive field (pixels per axis) of a :class:`PatchDiscriminator` with ``n_layers``
    stride-2 4x4 convolutions followed by its 3x3 output convolution."""
    rf, jump = 1, 1
    for k, s in [(4, 2)] * n_layers + [(3, 1)]:
        rf += (k - 1) * jump
        jump *= s
    return rf


class PatchDiscriminator(nn.Module):
    """x (B, in_channels, F, T) -> (logits (B, 1, F / 2^n_layers, T / 2^n_layers), features).

    ``features`` lists the activations after each stride-2 layer (the feature-matching targets).
    Widths double per layer from ``channels`` (capped at 8 x ``channels``); LeakyReLU(0.2); every
    convolution spectrally normalised; no normalisation layers, so a patch's logit does not
    depend on the rest of the batch.
    """

    def __init__(self, in_channels: int = 3, channels: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        if in_channels < 1 or channels < 1 or n_layers < 1:
            raise ValueError(f"PatchDiscriminator needs positive sizes; got {in_channels}, {channels}, {n_layers}")
        layers, ch = [], in_channels
        for i in range(n_layers):
            out = channels * min(2**i, 8)
            layers.append(nn.Sequential(spectral_norm(nn.Conv2d(ch, out, 4, stride=2, padding=1)),
                                        nn.LeakyReLU(0.2)))
            ch = out
        self.layers = nn.ModuleList(layers)
        self.output_layer = spectral_norm(nn.Conv2d(ch, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if x.ndim != 4:
            raise ValueError(f"x must have shape (B, C, F, T); got {tuple(x.shape)}")
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return self.output_layer(x), feats


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator: ``mean(relu(1 - real)) + mean(relu(1 + fake))``; 0 when
    every real patch scores >= 1 and every fake one <= -1, 2 for a discriminator that says 0."""
    return torch.mean(torch.relu(1.0 - real_logits)) + torch.mean(torch.relu(1.0 + fake_logits))


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge adversarial loss of the generator (decoder): ``-mean(fake)``."""
    return -torch.mean(fake_logits)


def feature_matching_loss(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the L1 distance between the discriminator's features of decoded and
    real spectrograms (the real ones are targets: detach them or compute them without gradient)."""
    if len(fake_feats) != len(real_feats) or not fake_feats:
        raise ValueError("feature lists must be non-empty and of equal length")
    return sum(torch.mean(torch.abs(f - r)) for f, r in zip(fake_feats, real_feats)) / len(fake_feats)
