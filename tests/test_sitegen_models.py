"""TimesNet backbone, TimesNet-Gen autoencoder and the spectrogram CVAE (tiny sizes)."""

import dataclasses

import numpy as np
import pytest
import torch

from conftest import params_without_gradient
from quakesynth.models.cvae import CVAE, AmplitudePhaseSTFT, CVAEConfig
from quakesynth.models.timesnet import (
    TimesBlock,
    TimesNetAE,
    TimesNetConfig,
    fft_periods,
    one_hot,
    reconstruction_loss,
)

TINY = TimesNetConfig(n_samples=128, d_model=8, d_ff=8, top_k=2, num_kernels=2, e_layers=1, d_layers=1,
                      latent_channels=4, n_stations=3)


@pytest.mark.parametrize("period", [8, 16, 20])
def test_period_selection_on_sinusoid(period):
    t = torch.arange(160.0)
    x = torch.sin(2 * torch.pi * t / period)[None, :, None].repeat(2, 1, 3)
    p, amp = fft_periods(x, 1)
    assert p.tolist() == [[period], [period]]
    assert (amp > 0).all()


def test_period_selection_is_per_sample():
    t = torch.arange(128.0)
    x = torch.stack([torch.sin(2 * torch.pi * t / 16), torch.sin(2 * torch.pi * t / 32)])[:, :, None]
    assert fft_periods(x, 1)[0][:, 0].tolist() == [16, 32]
    # a sample's output does not depend on its batch mates
    blk = TimesBlock(1, 4, top_k=2, num_kernels=2)
    both = blk(x)
    assert torch.allclose(both[1:], blk(x[1:]), atol=1e-6)


def test_timesblock_shapes_gradients_and_conditioning():
    torch.manual_seed(0)
    blk = TimesBlock(8, 8, top_k=3, num_kernels=3, n_stations=4)
    x = torch.randn(5, 30, 8, requires_grad=True)  # 30 is not a multiple of most periods: padding
    oh = one_hot(torch.tensor([0, 1, 2, 3, -1]), 4, 5, x)
    y = blk(x, oh)
    assert y.shape == x.shape
    y.pow(2).mean().backward()
    assert not params_without_gradient(blk)
    # the one-hot changes the output; zero one-hot == no station
    assert not torch.allclose(blk(x, one_hot(torch.zeros(5), 4, 5, x)), blk(x, one_hot(torch.ones(5), 4, 5, x)))
    assert torch.allclose(blk(x, None), blk(x, one_hot(torch.full((5,), -1), 4, 5, x)))


def test_one_hot_rejects_bad_indices():
    with pytest.raises(ValueError, match="station"):
        one_hot(torch.tensor([3]), 3, 1, torch.zeros(1))


def test_timesnet_ae_shapes_and_gradients():
    torch.manual_seed(0)
    net = TimesNetAE(TINY)
    x = torch.randn(4, 3, 128)
    x_hat, z = net(x, torch.tensor([0, 1, 2, -1]))
    assert x_hat.shape == x.shape and z.shape == (4, *TINY.latent_shape) == (4, 4, 32)
    loss, parts = reconstruction_loss(x_hat, x)
    loss.backward()
    assert not params_without_gradient(net)
    with pytest.raises(ValueError, match="shape"):
        net(torch.randn(2, 3, 100))
    with pytest.raises(ValueError, match="divisible"):
        dataclasses.replace(TINY, n_samples=102)


@pytest.mark.parametrize("patch", [1, 2, 3, 4])
@pytest.mark.parametrize("upsample", ["transposed", "interpolate"])
def test_timesnet_ae_any_patch_keeps_length(patch, upsample):
    # the v1 embedding (padding P // 2 on both sides) gave T/P - 1 frames for odd P
    cfg = dataclasses.replace(TINY, n_samples=96, patch=patch, latent_stride=2, upsample=upsample)
    torch.manual_seed(0)
    net = TimesNetAE(cfg).eval()
    x, station = torch.randn(2, 3, 96), torch.tensor([0, 2])
    with torch.no_grad():
        x_hat, z = net(x, station)
        assert x_hat.shape == (2, 3, 96) and z.shape == (2, *cfg.latent_shape)
        # per-sample periods and no batch statistics: a record's output ignores its batch mates
        one, z1 = net(x[1:], station[1:])
    torch.testing.assert_close(one, x_hat[1:], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(z1, z[1:], rtol=1e-5, atol=1e-6)


def test_timesnet_config_compression_and_upsample():
    assert TimesNetConfig().compression <= 1  # default latent: no lossy bottleneck
    assert TimesNetConfig(patch=4, latent_stride=4, latent_channels=8).compression == 6.0
    with pytest.raises(ValueError, match="upsample"):
        TimesNetConfig(upsample="cubic")


@pytest.mark.slow
def test_timesnet_ae_reconstructs_site_resonance():
    """A few Adam steps on records of two 'stations' (horizontals through a resonant layer at
    f0 = 3 and 7 Hz, white vertical): the reconstructions keep each station's HVSR f0. The v1
    design (latent 6x smaller than the waveform, interpolating decoder) gave waveforms
    uncorrelated with the inputs (r ~ 0.02) and one f0 (2.1 Hz) for both stations."""
    from quakesynth.sitegen import evaluate as ev
    from quakesynth.sitegen.data import normalise
    from test_evaluate_site_metrics import FS, _resonant

    band = (1.5, 8.5)  # keeps the layers' second modes (3 f0) out
    x = np.concatenate([_resonant(16, f0, T=256, seed=i) for i, f0 in enumerate((3.0, 7.0))])
    x = torch.from_numpy(normalise(x)[0])
    station = np.repeat([0, 1], 16)
    torch.manual_seed(0)
    cfg = TimesNetConfig(n_samples=256, d_model=16, d_ff=8, top_k=1, num_kernels=2, e_layers=1, d_layers=1,
                         patch=4, latent_stride=1, latent_channels=16)
    net = TimesNetAE(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        reconstruction_loss(net(x)[0], x)[0].backward()
        opt.step()
    with torch.no_grad():
        x_hat = net(x)[0].numpy()
    x = x.numpy()
    r = (x * x_hat).sum(-1) / np.sqrt((x**2).sum(-1) * (x_hat**2).sum(-1))
    assert r.mean() > 0.4
    freqs, c_real = ev.hvsr_of(x, FS)
    _, c_rec = ev.hvsr_of(x_hat, FS, freqs=freqs)
    for real, rec in zip(ev.station_hvsr(c_real, freqs, station, 2, band), ev.station_hvsr(c_rec, freqs, station, 2, band)):
        assert abs(rec["f0_of_median"] / real["f0_of_median"] - 1) < 0.1


def test_timesnet_loss_falls():
    torch.manual_seed(0)
    net = TimesNetAE(dataclasses.replace(TINY, n_stations=0))
    t = torch.arange(128.0)
    x = torch.stack([torch.sin(2 * torch.pi * t / p) for p in (8, 12, 16)])[None].repeat(4, 1, 1)
    x = x * torch.linspace(0.5, 1.0, 4)[:, None, None]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss, _ = reconstruction_loss(net(x)[0], x)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:2])


def test_amplitude_phase_stft_round_trip():
    cfg = CVAEConfig(n_samples=256, n_fft=32, hop=8)
    rep = AmplitudePhaseSTFT(cfg)
    x = torch.randn(2, 3, 256) * 0.3
    X = rep(x)
    assert X.shape == (2, *cfg.shape) == (2, 9, 17, 33)
    assert X[:, :3].min() >= -1 and (X[:, 3:].abs() <= 1).all()
    assert torch.allclose(rep.inverse(X), x, atol=1e-5)


def test_cvae_shapes_gradients_and_loss_falls():
    torch.manual_seed(0)
    cfg = CVAEConfig(n_samples=256, n_fft=32, hop=16, channels=4, latent_dim=8, n_stations=3)
    net, rep = CVAE(cfg), AmplitudePhaseSTFT(cfg)
    X = rep(torch.randn(6, 3, 256) * 0.3)
    s = torch.tensor([0, 1, 2, 0, 1, 2])
    mu, logvar = net.encode(X, s)
    assert mu.shape == logvar.shape == (6, 8)
    assert net.decode(mu, s).shape == X.shape
    loss, parts = net.loss(X, s)
    loss.backward()
    assert not params_without_gradient(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = loss.item()
    for _ in range(30):
        opt.zero_grad()
        loss, _ = net.loss(X, s)
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first
    with pytest.raises(ValueError, match="station"):
        net.decode(mu, torch.tensor([0, 1, 2, 3, 0, 1]))


@pytest.mark.parametrize("n_fft, hop", [(32, 16), (16, 4)])
def test_cvae_kl_weight_is_per_record(n_fft, hop):
    # loss = (SSE per record + beta KL) / N for any representation size N: beta = 1 is the
    # standard VAE (the v1 loss, MSE + beta KL, made beta's meaning scale with N)
    torch.manual_seed(0)
    cfg = CVAEConfig(n_samples=256, n_fft=n_fft, hop=hop, channels=4, latent_dim=8, n_stations=3, beta=2.0)
    net, rep = CVAE(cfg), AmplitudePhaseSTFT(cfg)
    X, s = rep(torch.randn(4, 3, 256) * 0.3), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    loss, parts = net.loss(X, s)
    torch.manual_seed(1)
    mu, logvar = net.encode(X, s)
    X_hat = net.decode(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), s)
    sse = (X_hat - X).pow(2).sum((1, 2, 3)).mean()
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(mu, torch.exp(0.5 * logvar)),
                                           torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
    n = int(np.prod(cfg.shape))
    assert torch.isclose(loss * n, sse + 2.0 * kl, rtol=1e-5)
    assert torch.isclose(parts["kl"], kl, rtol=1e-5)
