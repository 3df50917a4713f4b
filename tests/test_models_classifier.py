"""The magnitude x distance spectrogram classifier: bins, shapes, gradients, embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quakesynth.models.classifier import (
    DIST_BINS,
    MAG_BINS,
    ClassifierConfig,
    SpectrogramClassifier,
    bin_labels,
    class_names,
)

TINY = ClassifierConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, groups=4, embed_dim=16, dropout=0.0)


def test_reference_bins_give_36_classes():
    assert ClassifierConfig().num_classes == 36 == len(class_names())
    assert MAG_BINS[0] == 4.0 and MAG_BINS[-1] == 9.1 and DIST_BINS == (0.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0)


def test_bin_labels_edges_and_outside():
    m = np.array([4.0, 4.74, 4.75, 9.1, 9.2, np.nan, 6.0])
    d = np.array([0.0, 74.9, 75.0, 200.0, 10.0, 10.0, 200.1])
    assert bin_labels(m, d).tolist() == [0, 0, 7, 35, -1, -1, -1]
    # class k = i_mag * n_dist + i_dist, consistent with the names
    assert class_names()[7].startswith("M[4.75,5) R[75,100)")
    with pytest.raises(ValueError, match="shapes differ"):
        bin_labels(np.zeros(2), np.zeros(3))


def test_config_validation():
    with pytest.raises(ValueError, match="mag_bins"):
        ClassifierConfig(mag_bins=(5.0, 4.0))
    with pytest.raises(ValueError, match="groups"):
        ClassifierConfig(model_channels=6, groups=4)


def test_shapes_gradients_and_embedding():
    from conftest import params_without_gradient

    torch.manual_seed(0)
    net = SpectrogramClassifier(TINY)
    x = torch.randn(3, 3, 32, 64)
    logits, emb = net(x), net.embed(x)
    assert logits.shape == (3, 36) and emb.shape == (3, 16)
    # the embedding (the one the report's embedding distance uses) is what the head reads,
    # and a record's output does not depend on its batch mates (no batch statistics)
    torch.testing.assert_close(logits, net.head(emb))
    torch.testing.assert_close(net(x[1:2]), logits[1:2], rtol=1e-5, atol=1e-6)
    y = torch.tensor([0, 5, 35])
    torch.nn.functional.cross_entropy(logits, y).backward()
    assert all(p.grad is not None for p in net.parameters())
    # residual branches start at zero (zero-initialised last conv): after one step every
    # parameter receives a gradient
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    net.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    assert not params_without_gradient(net)
    with pytest.raises(ValueError, match="shape"):
        net(torch.zeros(2, 2, 32, 64))


def test_save_load_gives_identical_outputs(tmp_path):
    """Weights through a file (weights-only) into a fresh network: the same logits, bit for bit."""
    torch.manual_seed(0)
    net = SpectrogramClassifier(TINY).eval()
    torch.nn.init.normal_(net.head[-1].weight)  # not the initial weights of a fresh network
    torch.save(net.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(1)
    other = SpectrogramClassifier(TINY).eval()
    x = torch.randn(2, 3, 32, 64)
    assert not torch.equal(other(x), net(x))
    other.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    assert torch.equal(other(x), net(x)) and torch.equal(other.embed(x), net.embed(x))


def test_learns_a_separable_problem():
    """Two classes told apart by spectrogram level: the loss falls and accuracy reaches 1."""
    torch.manual_seed(0)
    cfg = ClassifierConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, groups=4, embed_dim=16,
                           dropout=0.0, mag_bins=(4.0, 5.0, 6.0), dist_bins=(0.0, 100.0))
    net = SpectrogramClassifier(cfg)
    y = torch.tensor([0, 1] * 8)
    x = torch.randn(16, 3, 16, 16) * 0.1 + (y.float() * 2 - 1)[:, None, None, None] * 0.5
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert (net(x).argmax(1) == y).all()
