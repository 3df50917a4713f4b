"""VAE: shapes derived from the config, gradients, loss, presets."""

from __future__ import annotations

import pytest
import torch

from quakesynth.config import from_dict, load_preset
from quakesynth.models.vae import VAE, VAEConfig, gradient_loss

TINY = VAEConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, num_groups=4, latent_channels=4,
                 dropout=0.0)




def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Random values for every parameter (zero-initialised output convolutions included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize("cfg", [TINY, VAEConfig(model_channels=8, channel_mult=(1, 2, 4), num_res_blocks=1,
                                                 num_groups=4, attention_resolutions=(2,), mid_attention=True)])
def test_shapes_follow_config(cfg):
    vae = VAE(cfg)
    x = torch.randn(2, 3, 32, 64)
    assert cfg.latent_shape((3, 32, 64)) == (cfg.latent_channels, 32 // cfg.downsampling, 64 // cfg.downsampling)
    mean, log_std = vae.encode(x)
    assert mean.shape == log_std.shape == (2, *cfg.latent_shape((3, 32, 64)))
    recon, m2, s2 = vae(x)
    assert recon.shape == x.shape and m2.shape == mean.shape
    assert vae.decode(mean).shape == x.shape
    # the reparameterisation: with noise n the decoder sees z = mean + exp(log_std) n
    noise = torch.randn(mean.shape)
    with torch.no_grad():
        torch.testing.assert_close(vae(x, noise)[0], vae.decode(mean + torch.exp(log_std) * noise))
        torch.testing.assert_close(vae(x, torch.zeros_like(mean))[0], vae.decode(mean))


def test_paper_preset_latent_is_8x32x32():
    cfg = from_dict(VAEConfig, load_preset("vae_paper"))
    assert cfg == VAEConfig()  # the dataclass defaults are the published architecture
    assert cfg.latent_shape((3, 128, 128)) == (8, 32, 32)
    with torch.device("meta"):
        n = sum(p.numel() for p in VAE(cfg).parameters())
    assert n == 7_083_347
    for name in ("small", "tiny"):
        from_dict(VAEConfig, load_preset(f"vae_{name}"))


def test_every_parameter_gets_a_gradient():
    cfg = VAEConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, num_groups=4, latent_channels=4,
                    attention_resolutions=(1,), mid_attention=True, dropout=0.0)
    vae = VAE(cfg)
    _randomise(vae)
    loss, parts = vae.loss(torch.randn(2, 3, 16, 16))
    loss.backward()
    for name, p in vae.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert set(parts) == {"loss", "recon", "kl"}


def test_kl_and_loss_definitions():
    vae = VAE(TINY)
    mean, log_std = torch.zeros(2, 4, 3, 3), torch.zeros(2, 4, 3, 3)
    assert torch.equal(vae.kl_divergence(mean, log_std), torch.zeros(2, 3, 3))
    mean = torch.ones(2, 4, 3, 3)
    assert torch.allclose(vae.kl_divergence(mean, log_std), torch.full((2, 3, 3), 2.0))  # 0.5 * 4 channels
    x = torch.randn(2, 3, 16, 16)
    noise = torch.randn(2, 4, 8, 8)
    total, parts = vae.loss(x, noise)
    recon, m, s = vae(x, noise)
    assert torch.allclose(parts["recon"], ((x - recon) ** 2).mean())
    assert torch.allclose(total, parts["recon"] + TINY.kl_weight * vae.kl_divergence(m, s).mean())


def test_gradient_loss_punishes_a_smoothed_envelope_and_can_ignore_speckle():
    """The contrast term: zero for a perfect reconstruction and for a constant offset (only
    differences count); a time-smoothed onset pays, while its plain MSE is small; with pooling,
    pixel-scale speckle that averages out costs nothing."""
    t = torch.arange(32.0)
    onset = (t >= 12).float() * torch.exp(-(t - 12).clamp(min=0) / 8)  # a sharp S onset and its coda
    x = onset.expand(1, 1, 8, 32).clone()
    assert float(gradient_loss(x, x)) == 0.0
    assert float(gradient_loss(x + 0.3, x)) == pytest.approx(0.0, abs=1e-12)
    kernel = torch.ones(1, 1, 1, 5) / 5
    smooth = torch.nn.functional.conv2d(x, kernel, padding=(0, 2))
    assert float(gradient_loss(smooth, x)) > 0.5 * float(((smooth - x) ** 2).mean())
    # a 2 x 2 checkerboard: large differences, zero mean over every 2 x 2 cell
    checker = 0.1 * (-1.0) ** (torch.arange(8)[:, None] + torch.arange(32)[None, :]).float()
    speckled = x + checker
    assert float(gradient_loss(speckled, x)) > 0.01
    assert float(gradient_loss(speckled, x, pool=2)) == pytest.approx(0.0, abs=1e-12)
    # in the VAE's loss, with its weight, and in one dimension too
    vae = VAE(TINY)
    xb, noise = torch.randn(2, 3, 16, 16), torch.randn(2, 4, 8, 8)
    plain, _ = vae.loss(xb, noise)
    total, parts = vae.loss(xb, noise, grad_weight=2.0, grad_pool=2)
    recon = vae(xb, noise)[0]
    assert torch.allclose(parts["grad"], gradient_loss(recon, xb, 2))
    assert torch.allclose(total, plain + 2.0 * parts["grad"])
    assert float(gradient_loss(onset[None, None], torch.zeros(1, 1, 32))) > 0


def test_loss_falls_in_a_few_steps():
    torch.manual_seed(0)
    vae = VAE(TINY)
    x = torch.tanh(torch.randn(4, 3, 16, 16))
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        loss, _ = vae.loss(x)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(vae.loss(x, torch.zeros(4, 4, 8, 8))[0].detach()) < 0.8 * first


def test_invalid_inputs_raise():
    vae = VAE(TINY)
    with pytest.raises(ValueError, match="x must have shape"):
        vae.encode(torch.zeros(1, 2, 16, 16))
    with pytest.raises(ValueError, match="divisible"):
        vae.encode(torch.zeros(1, 3, 15, 16))
    with pytest.raises(ValueError, match="z must have shape"):
        vae.decode(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="kernel_size"):
        VAEConfig(kernel_size=4)
    with pytest.raises(ValueError, match="num_groups"):
        VAE(VAEConfig(model_channels=8, num_groups=3))


def test_one_dimensional_variant(tmp_path):
    cfg = VAEConfig(in_channels=6, model_channels=8, channel_mult=(1, 2), num_res_blocks=1, num_groups=4,
                    latent_channels=4, dims=1)
    vae = VAE(cfg).eval()
    _randomise(vae)
    x, noise = torch.randn(2, 6, 64), torch.randn(2, 4, 32)
    recon, mean, _ = vae(x, noise)
    assert recon.shape == (2, 6, 64) and mean.shape == (2, 4, 32)
    # save and load: identical outputs from a network built with another seed
    torch.save(vae.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(1)
    other = VAE(cfg).eval()
    other.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(other(x, noise)[0], vae(x, noise)[0])


def test_vae_module_adds_the_contrast_term_in_both_parts():
    pytest.importorskip("lightning.pytorch")
    from quakesynth.repr.spectrogram import SpectrogramConfig
    from quakesynth.train.config import TrainConfig, VAEPartConfig
    from quakesynth.train.modules import VAEModule

    spec = SpectrogramConfig(n_fft=64, hop=16, n_samples=1008)
    wave = {"wave": torch.randn(2, 3, 1008)}
    for part in ("all", "decoder"):
        torch.manual_seed(0)
        plain = VAEModule(spec, TINY, TrainConfig(), VAEPartConfig(part))
        torch.manual_seed(0)
        with_grad = VAEModule(spec, TINY, TrainConfig(), VAEPartConfig(part, grad_weight=3.0, grad_pool=2))
        torch.manual_seed(1)
        base, logs0 = plain.compute_loss(wave)
        torch.manual_seed(1)
        total, logs = with_grad.compute_loss(wave)
        assert "grad" not in logs0 and float(logs["grad"]) > 0
        assert torch.allclose(total, base + 3.0 * logs["grad"], rtol=1e-5), part
    with pytest.raises(ValueError, match="grad_pool"):
        VAEPartConfig(grad_pool=0)
