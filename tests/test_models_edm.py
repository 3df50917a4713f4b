"""EDM preconditioning (Karras et al. 2022, Table 1)."""

from __future__ import annotations

import math

import pytest
import torch

from quakesynth.models.edm import EDMConfig, EDMPrecond


class Recorder(torch.nn.Module):
    """Backbone that records its inputs and returns a constant."""

    def forward(self, x, noise_labels, cond, **kw):
        self.seen = (x, noise_labels, cond, kw)
        return torch.full_like(x, 2.0)


def test_coefficients_follow_table_1():
    net = EDMPrecond(Recorder(), sigma_data=0.5)
    sigma = torch.tensor([0.002, 0.5, 80.0])
    c_skip, c_out, c_in, c_noise = net.coefficients(sigma)
    sd = 0.5
    for i, s in enumerate(sigma.tolist()):
        assert float(c_skip[i]) == pytest.approx(sd**2 / (s**2 + sd**2), rel=1e-6)
        assert float(c_out[i]) == pytest.approx(s * sd / math.sqrt(s**2 + sd**2), rel=1e-6)
        assert float(c_in[i]) == pytest.approx(1 / math.sqrt(s**2 + sd**2), rel=1e-6)
        assert float(c_noise[i]) == pytest.approx(math.log(s) / 4, rel=1e-6)
    # unit variance of the network input and of its training target (the point of Table 1)
    assert torch.allclose(c_in**2 * (sd**2 + sigma**2), torch.ones(3))


def test_forward_composes_skip_and_output():
    bb = Recorder()
    net = EDMPrecond(bb, sigma_data=0.5)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    cond = torch.randn(2, 5)
    out = net(x, torch.tensor([1.0, 10.0]), cond, drop_cond=torch.tensor([True, False]))
    assert out.dtype == torch.float32
    sx, labels, c, kw = bb.seen
    c_skip, c_out, c_in, c_noise = net.coefficients(torch.tensor([1.0, 10.0]))
    assert torch.allclose(sx, x.float() * c_in.view(-1, 1, 1, 1))
    assert torch.allclose(labels, c_noise) and c is cond and "drop_cond" in kw
    assert torch.allclose(out, c_skip.view(-1, 1, 1, 1) * x.float() + 2.0 * c_out.view(-1, 1, 1, 1))
    # scalar sigma broadcasts
    assert net(x, 1.0, cond).shape == x.shape
    with pytest.raises(ValueError, match="one value per sample"):
        net(x, torch.ones(3), cond)


def test_config_validation():
    assert EDMConfig() == EDMConfig(0.002, 80.0, 7.0, 0.5, -1.2, 1.2)
    with pytest.raises(ValueError, match="sigma_min"):
        EDMConfig(sigma_min=100.0)
    with pytest.raises(ValueError, match="sigma_data"):
        EDMConfig(sigma_data=0.0)
