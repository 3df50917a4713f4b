"""U-Net backbone: shapes, gradients, conditioning and its null embedding, the paper preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quakesynth.config import from_dict, load_preset
from quakesynth.models.unet import UNet, UNetConfig

TINY = UNetConfig(in_channels=4, out_channels=4, model_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                  attention_resolutions=(2,), num_heads=1, num_groups=4, dropout=0.0, cond_features=5)




def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_shapes_and_downsampling():
    for cfg in (TINY, UNetConfig(in_channels=2, out_channels=3, model_channels=8, channel_mult=(1, 2, 2),
                                 num_res_blocks=2, attention_resolutions=(2, 4), num_heads=2, num_groups=4,
                                 cond_features=3)):
        net = UNet(cfg)
        x = torch.randn(2, cfg.in_channels, 16, 8)
        out = net(x, torch.randn(2), torch.randn(2, cfg.cond_features))
        assert out.shape == (2, cfg.out_channels, 16, 8)
        # the output convolution starts at zero (ADM's zero_module): a fresh network outputs 0,
        # so EDM's preconditioned denoiser starts as D = c_skip x
        assert torch.count_nonzero(out) == 0
    with pytest.raises(ValueError, match="divisible"):
        UNet(TINY)(torch.randn(1, 4, 15, 16), torch.zeros(1), torch.zeros(1, 5))
    with pytest.raises(ValueError, match="cond must have shape"):
        UNet(TINY)(torch.randn(1, 4, 16, 16), torch.zeros(1), torch.zeros(1, 4))


def test_save_load_gives_identical_outputs(tmp_path):
    """The state dict through a file (weights-only) into a network built with another seed:
    identical outputs, so every weight and the Fourier-feature buffer are saved."""
    torch.manual_seed(0)
    net = UNet(TINY).eval()
    _randomise(net)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(1)
    other = UNet(TINY).eval()
    x, t, c = torch.randn(2, 4, 8, 8), torch.randn(2), torch.randn(2, 5)
    with torch.no_grad():
        assert not torch.equal(other(x, t, c), net(x, t, c))
        other.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
        assert torch.equal(other(x, t, c), net(x, t, c))


def test_paper_preset_is_the_published_size():
    cfg = from_dict(UNetConfig, load_preset("unet_paper"))
    assert cfg == UNetConfig()
    with torch.device("meta"):
        net = UNet(cfg)
    n = sum(p.numel() for p in net.parameters())
    assert n == 101_399_048  # "101.4 M parameters" of the issue
    for name in ("small", "tiny"):
        from_dict(UNetConfig, load_preset(f"unet_{name}"))


def test_every_parameter_gets_a_gradient():
    from conftest import params_without_gradient

    cfg = UNetConfig(**{**TINY.__dict__, "null_cond": "learned"})
    net = UNet(cfg)
    _randomise(net)
    x = torch.randn(4, 4, 8, 8)
    drop = torch.tensor([True, False, False, True])
    net(x, torch.randn(4), torch.randn(4, 5), drop_cond=drop).square().mean().backward()
    assert not params_without_gradient(net)  # present, finite and non-zero
    # the Fourier frequencies are a fixed buffer saved with the weights
    assert "time_embed.W" in net.state_dict() and "time_embed.W" not in dict(net.named_parameters())


def test_null_embedding_and_dropout():
    net = UNet(TINY)
    _randomise(net)
    x, t, c = torch.randn(3, 4, 8, 8), torch.randn(3), torch.randn(3, 5)
    with torch.no_grad():
        cond = net(x, t, c)
        uncond = net(x, t, None)
        mixed = net(x, t, c, drop_cond=torch.tensor([False, True, False]))
    assert torch.allclose(mixed[[0, 2]], cond[[0, 2]], atol=1e-6)
    assert torch.allclose(mixed[1], uncond[1], atol=1e-6)
    assert not torch.allclose(cond[1], uncond[1], atol=1e-4)
    # zero null: the conditioning embedding is absent
    emb = net.embedding(t, None)
    assert torch.allclose(emb, net.time_mlp(net.time_embed(t)))


def test_unconditional_model_refuses_cond():
    net = UNet(UNetConfig(**{**TINY.__dict__, "cond_features": 0}))
    assert net.cond_mlp is None
    assert net(torch.randn(1, 4, 8, 8), torch.zeros(1)).shape == (1, 4, 8, 8)
    with pytest.raises(ValueError, match="unconditional"):
        net(torch.randn(1, 4, 8, 8), torch.zeros(1), torch.zeros(1, 5))


def test_scalar_noise_label_broadcasts_and_batch_independence():
    net = UNet(TINY).eval()
    _randomise(net)
    x, c = torch.randn(3, 4, 8, 8), torch.randn(3, 5)
    with torch.no_grad():
        a = net(x, torch.tensor(0.3), c)
        b = net(x, torch.full((3,), 0.3), c)
        one = net(x[1:2], torch.tensor([0.3]), c[1:2])
    assert torch.allclose(a, b)
    assert torch.allclose(a[1:2], one, atol=1e-5)


def test_positional_noise_embedding_and_1d():
    cfg = UNetConfig(**{**TINY.__dict__, "noise_embedding": "positional", "dims": 1})
    torch.manual_seed(0)
    net = UNet(cfg)
    assert net(torch.randn(2, 4, 32), torch.randn(2), torch.randn(2, 5)).shape == (2, 4, 32)
    # the 1-D network learns: a few Adam steps on a fixed batch lower the regression loss
    x, t, c = torch.randn(4, 4, 32), torch.randn(4), torch.randn(4, 5)
    target = torch.sin(torch.linspace(0, 6.0, 32)).expand(4, 4, 32) * c[:, :1, None]
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = (net(x, t, c) - target).square().mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
    with pytest.raises(ValueError, match="noise_embedding"):
        UNetConfig(noise_embedding="sinus")


def test_coordinate_channels_are_linear_ramps():
    from quakesynth.models.unet import coordinate_channels

    c = coordinate_channels(torch.zeros(3, 5, 4, 6))
    assert c.shape == (3, 2, 4, 6)
    torch.testing.assert_close(c[1, 0, :, 2], torch.linspace(-1, 1, 4))   # axis 0 varies along H only
    torch.testing.assert_close(c[2, 1, 3], torch.linspace(-1, 1, 6))      # axis 1 along W only
    assert torch.equal(c[:, 0], c[:, 0, :, :1].expand(-1, -1, 6))
    assert coordinate_channels(torch.zeros(2, 1, 8)).shape == (2, 1, 8)


def test_coords_place_features_away_from_the_borders():
    """Without coordinates, a spatially constant input gives the same output at interior pixels
    (zero padding tells position only near the borders); with them the interior differs."""
    from dataclasses import replace

    x, t, c = torch.ones(1, 4, 64, 64), torch.zeros(1), torch.zeros(1, 5)
    for coords in (False, True):
        net = UNet(replace(TINY, coords=coords)).eval()
        _randomise(net)
        with torch.no_grad():
            out = net(x, t, c)[0, :, 24:40, 24:40]
        spread = float((out - out[:, :1, :1]).abs().max())
        assert (spread > 1e-3) if coords else (spread < 1e-5), (coords, spread)


def test_warm_start_widens_the_input_and_keeps_the_function(tmp_path):
    """--init of a coords U-Net from one without: the first convolution gets zero weights for
    the new channels, so the network computes exactly what the old one did."""
    import warnings
    from dataclasses import replace
    from types import SimpleNamespace

    from quakesynth.modeldir import save_model_dir
    from quakesynth.train.run import warm_start

    old = UNet(TINY).eval()
    _randomise(old)
    save_model_dir(tmp_path / "old", {"model": "highfem"}, {"edm": old.state_dict()})
    new = UNet(replace(TINY, coords=True)).eval()
    _randomise(new, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # nothing is left at its fresh initialisation
        counts = warm_start(SimpleNamespace(net=new), "edm", tmp_path / "old")
    assert counts["widened"] == 1 and counts["skipped"] == 0
    x, t, c = torch.randn(2, 4, 16, 16), torch.randn(2), torch.randn(2, 5)
    with torch.no_grad():
        torch.testing.assert_close(new(x, t, c), old(x, t, c), rtol=1e-5, atol=1e-6)
        w = new.input_blocks[0][0].weight
        assert w.shape[1] == 6 and torch.count_nonzero(w[:, 4:]) == 0


ARRIVAL = (0.0, 1.8, 0.3, 5.0, 0.12, 40.0)  # log10 R = 1.8 + 0.3 c0; t_S = 5 s + 0.12 s/km R; 40-s window


def test_arrival_channel_is_zero_at_the_expected_s_onset():
    """Analytic case: R = 10^(1.8 + 0.3 c) km, t_S = 5 + 0.12 R s; the channel changes sign
    between the two time cells around t_S, is constant along frequency, is (t - t_S) / cell
    clipped to +-2, and is zero for absent or dropped conditioning."""
    from quakesynth.models.unet import arrival_channel

    x = torch.zeros(3, 4, 8, 32)
    c = torch.tensor([[0.0, 9.0], [1.0, -3.0], [-1.0, 0.5]])
    ch = arrival_channel(x, c, ARRIVAL)
    assert ch.shape == (3, 1, 8, 32)
    assert torch.equal(ch, ch[:, :, :1].expand_as(ch))            # the same at every frequency
    cell = 40.0 / 32
    t = (torch.arange(32) + 0.5) * cell
    for b, cb in enumerate(c[:, 0].tolist()):
        t_s = 5.0 + 0.12 * 10 ** (1.8 + 0.3 * cb)
        torch.testing.assert_close(ch[b, 0, 0], ((t - t_s) / cell).clamp(-2, 2), rtol=0, atol=1e-5)
        assert ch[b, 0, 0, 0] == -2 and ch[b, 0, 0, -1] == 2
        k = int(np.searchsorted(t.numpy(), t_s))                   # first cell centre after t_S
        assert ch[b, 0, 0, k - 1] < 0 <= ch[b, 0, 0, k]
    assert torch.count_nonzero(arrival_channel(x, None, ARRIVAL)) == 0
    dropped = arrival_channel(x, c, ARRIVAL, torch.tensor([False, True, False]))
    assert torch.count_nonzero(dropped[1]) == 0 and torch.equal(dropped[0], ch[0])


def test_arrival_unet_uses_the_distance_and_warm_starts_from_a_coords_unet(tmp_path):
    """A U-Net with the arrival channel warm-started from a coords U-Net computes the old function
    (zero weights for the new channel); once that weight is non-zero its output depends on the
    distance entry through the channel also with the conditioning embedding dropped."""
    import warnings
    from dataclasses import replace
    from types import SimpleNamespace

    from quakesynth.modeldir import save_model_dir
    from quakesynth.train.run import warm_start

    old = UNet(replace(TINY, coords=True)).eval()
    _randomise(old)
    save_model_dir(tmp_path / "old", {"model": "highfem"}, {"edm": old.state_dict()})
    new = UNet(replace(TINY, coords=True, arrival=ARRIVAL)).eval()
    _randomise(new, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        counts = warm_start(SimpleNamespace(net=new), "edm", tmp_path / "old")
    assert counts["widened"] == 1
    x, t, c = torch.randn(2, 4, 16, 16), torch.randn(2), torch.randn(2, 5)
    with torch.no_grad():
        torch.testing.assert_close(new(x, t, c), old(x, t, c), rtol=1e-5, atol=1e-6)
        w = new.input_blocks[0][0].weight
        assert w.shape[1] == 4 + 2 + 1 and torch.count_nonzero(w[:, 6:]) == 0
        w[:, 6:] = 0.5
        drop = torch.tensor([True, True])
        c2 = c.clone()
        c2[:, 0] += 1.0                                              # farther: S later
        assert not torch.allclose(new(x, t, c), new(x, t, c2))
        # dropped conditioning: the embedding and the channel are both null, distance has no effect
        torch.testing.assert_close(new(x, t, c, drop), new(x, t, c2, drop))


def test_arrival_config_is_checked():
    from dataclasses import replace

    with pytest.raises(ValueError, match="arrival"):
        replace(TINY, arrival=(0.0, 1.0))
    with pytest.raises(ValueError, match="conditioning index"):
        replace(TINY, arrival=(7.0, *ARRIVAL[1:]))
    with pytest.raises(ValueError, match="window"):
        replace(TINY, arrival=(*ARRIVAL[:5], 0.0))
