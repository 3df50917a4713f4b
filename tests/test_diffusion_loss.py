"""EDM loss: weighting and the ideal denoiser's expected loss."""

from __future__ import annotations

import pytest
import torch

from quakesynth.diffusion.loss import EDMLoss

SD = 0.5


def ideal(x, sigma, cond, **kw):
    s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
    return x * SD**2 / (s**2 + SD**2)


def test_ideal_denoiser_has_unit_expected_loss():
    """For N(0, SD^2) data the ideal denoiser's MSE is sigma^2 SD^2 / (sigma^2 + SD^2), which
    lambda(sigma) turns into exactly 1 at every noise level."""
    loss_fn = EDMLoss(-1.2, 1.2, SD)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 1, 8, 8, generator=g) * SD
    loss = loss_fn(ideal, x, None, generator=g)
    assert loss.shape == x.shape
    assert float(loss.mean()) == pytest.approx(1.0, rel=0.03)


def test_weight_and_noise_levels():
    loss_fn = EDMLoss(-1.2, 1.2, SD)
    sigma = torch.tensor([0.1, 1.0, 10.0])
    assert torch.allclose(loss_fn.weight(sigma), (sigma**2 + SD**2) / (sigma * SD) ** 2)
    seen = []

    def record(x, s, cond, **kw):
        seen.append(s)
        return x

    loss_fn(record, torch.zeros(20000, 1), None, generator=torch.Generator().manual_seed(1))
    log_sigma = torch.log(seen[0])
    assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.03)
    assert float(log_sigma.std()) == pytest.approx(1.2, rel=0.03)


def test_condition_dropout_passes_a_mask():
    got = {}

    def net(x, s, cond, **kw):
        got.update(kw)
        return x

    EDMLoss(cond_dropout=0.5)(net, torch.zeros(1000, 1), torch.zeros(1000, 5))
    mask = got["drop_cond"]
    assert mask.dtype == torch.bool and 0.4 < float(mask.float().mean()) < 0.6
    got.clear()
    EDMLoss()(net, torch.zeros(10, 1), torch.zeros(10, 5))
    assert "drop_cond" not in got
    with pytest.raises(ValueError, match="cond_dropout"):
        EDMLoss(cond_dropout=1.0)
