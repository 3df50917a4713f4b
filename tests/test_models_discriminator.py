"""The patch discriminator and the adversarial fine-tune of the VAE (``vae_train.adv_weight``):
receptive field, analytic losses and adaptive weight, what one training step moves (and what
it must not), the loss it adds, exact resume through ``quakesynth train vae``, bad options."""

from __future__ import annotations

import shutil

import pytest
import torch

from quakesynth.models.discriminator import (
    PatchDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    receptive_field,
)
from quakesynth.models.vae import VAEConfig

TINY = VAEConfig(model_channels=8, channel_mult=(1, 2), num_res_blocks=1, num_groups=4, latent_channels=4,
                 dropout=0.0)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_receptive_field_is_the_support_of_an_interior_logit(n_layers):
    """The input pixels that move the centre logit span exactly ``receptive_field`` per axis."""
    torch.manual_seed(0)
    d = PatchDiscriminator(in_channels=1, channels=4, n_layers=n_layers).eval()
    size = 128
    x = torch.randn(1, 1, size, size, requires_grad=True)
    logits, _ = d(x)
    c = logits.shape[-1] // 2
    logits[0, 0, c, c].backward()
    support = x.grad[0, 0].abs() > 0
    rows = torch.nonzero(support.any(dim=1)).flatten()
    cols = torch.nonzero(support.any(dim=0)).flatten()
    assert int(rows[-1] - rows[0] + 1) == int(cols[-1] - cols[0] + 1) == receptive_field(n_layers)


def test_hinge_and_feature_matching_losses_analytic():
    ones = torch.ones(2, 1, 4, 4)
    assert float(discriminator_loss(ones, -ones)) == 0.0  # perfect margins
    assert float(discriminator_loss(0 * ones, 0 * ones)) == 2.0  # undecided
    assert float(discriminator_loss(3 * ones, -0.5 * ones)) == 0.5
    assert float(generator_loss(-2 * ones)) == 2.0
    f = [torch.randn(2, 3, 4, 4), torch.randn(2, 5, 2, 2)]
    assert float(feature_matching_loss(f, [t.clone() for t in f])) == 0.0
    g = [f[0] + 1.0, f[1] - 3.0]
    assert float(feature_matching_loss(g, f)) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        feature_matching_loss(f, f[:1])


def test_adaptive_weight_equalises_the_pull_on_a_layer():
    pytest.importorskip("lightning.pytorch")
    from quakesynth.train.modules import adaptive_weight

    w = torch.randn(3, 4, requires_grad=True)
    a, b = torch.full((3, 4), 2.0), torch.full((3, 4), 0.5)
    rec, adv = torch.sum(a * w), torch.sum(b * w)
    assert adaptive_weight(rec, adv, w) == pytest.approx(4.0, rel=1e-3)
    assert adaptive_weight(rec, 0 * torch.sum(w), w, max_weight=50.0) == 50.0  # clamped


def _module(part="decoder", adv_start=0):
    from quakesynth.repr.spectrogram import SpectrogramConfig
    from quakesynth.train.config import TrainConfig, VAEPartConfig
    from quakesynth.train.modules import VAEModule

    spec = SpectrogramConfig(n_fft=64, hop=16, n_samples=1008)
    cfg = VAEPartConfig(part=part, adv_weight=0.5, fm_weight=2.0, disc_channels=4, disc_layers=2,
                        adv_start=adv_start)
    torch.manual_seed(0)
    return VAEModule(spec, TINY, TrainConfig(), cfg)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_training_step_moves_the_discriminator_and_never_the_frozen_encoder():
    pytest.importorskip("lightning.pytorch")
    m = _module().train()
    wave = {"wave": torch.randn(4, 3, 1008)}
    before = _snapshot(m)
    loss, parts = m.compute_loss(wave)
    loss.backward()
    after = _snapshot(m)
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("disc.") and "original" in k for k in moved)  # a discriminator step
    assert not any(k.startswith("vae.") for k in moved)  # only the Lightning optimiser moves the VAE
    assert all(p.grad is None for p in m.vae.encoder.parameters())
    assert all(p.grad is None or not p.grad.any() for p in m.disc.parameters())  # no decoder term leaks into D
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.vae.decoder.parameters())
    assert {"recon", "disc", "adv", "fm", "adv_scale"} <= parts.keys()
    # validation (eval, no grad) must not train the discriminator
    m.eval()
    before = _snapshot(m)
    with torch.no_grad():
        m.compute_loss(wave)
    assert all(torch.equal(before[k], v) for k, v in _snapshot(m).items())


@pytest.mark.parametrize("part", ["all", "decoder"])
def test_adversarial_terms_join_the_loss_from_adv_start(part):
    pytest.importorskip("lightning.pytorch")
    wave = {"wave": torch.randn(2, 3, 1008)}
    m = _module(part, adv_start=10**6).train()
    torch.manual_seed(1)
    loss, parts = m.compute_loss(wave)
    base = parts["recon"] + (TINY.kl_weight * parts["kl"] if part == "all" else 0)
    assert torch.allclose(loss.detach(), base, rtol=1e-5)  # before adv_start: the plain loss
    m = _module(part, adv_start=0).train()
    torch.manual_seed(1)
    loss, parts = m.compute_loss(wave)
    expect = base + 0.5 * parts["adv_scale"] * parts["adv"] + 2.0 * parts["fm"]
    assert float(parts["adv_scale"]) > 0 and float(parts["fm"]) > 0
    assert torch.allclose(loss.detach(), expect, rtol=1e-5)


def test_adversarial_run_resumes_exactly(tmp_path):
    """4 steps straight vs. interrupted at step 2 and resumed: identical VAE weights. The
    discriminator's Adam state must travel in the checkpoint for this to hold."""
    pytest.importorskip("lightning.pytorch")
    from quakesynth.cli.main import main
    from quakesynth.modeldir import load_model_dir
    from test_train_cli import make_tiny_dataset

    data = make_tiny_dataset(tmp_path / "ds", n_samples=1024)
    args = ["train", "vae", "--data", str(data), "--preset", "tiny", "--quiet", "--threads", "1",
            "--set", "train.max_steps=4", "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=3",
            "--set", "vae_train.adv_weight=1.0", "--set", "vae_train.fm_weight=1.0", "--set", "vae_train.disc_lr=0.05"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*args, "-o", str(a)]) == 0
    ck = torch.load(a / "checkpoints" / "last.ckpt", weights_only=True)
    assert "discriminator_optimizer" in ck and any(k.startswith("disc.") for k in ck["state_dict"])
    shutil.copytree(a, b)
    shutil.copy(b / "checkpoints" / "step-00000002.ckpt", b / "checkpoints" / "last.ckpt")
    shutil.rmtree(b / "model")
    assert main(["train", "vae", "--resume", "-o", str(b), "--quiet", "--threads", "1"]) == 0
    sa, sb = load_model_dir(a / "model")[1], load_model_dir(b / "model")[1]
    assert not any(k.startswith("disc") for k in sa["vae"])  # the discriminator is not exported
    for name in sa:
        assert all(torch.equal(sa[name][k], sb[name][k]) for k in sa[name]), name


@pytest.mark.parametrize("bad, match", [({"fm_weight": 1.0}, "adv_weight > 0"), ({"adv_weight": -1.0}, "adv_weight"),
                                        ({"adv_weight": 1.0, "disc_lr": 0.0}, "disc_lr"),
                                        ({"disc_layers": 0}, "disc_layers")])
def test_bad_adversarial_options_are_refused(bad, match):
    pytest.importorskip("lightning.pytorch")
    from quakesynth.train.config import VAEPartConfig

    with pytest.raises(ValueError, match=match):
        VAEPartConfig(**bad)
