"""MIFNO surrogate and diffusion refiner: shapes, gradients, losses, training, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from quakesynth.models.fno import (
    MIFNO,
    FactorizedFourierLayer,
    MIFNOConfig,
    SpectralConv1dAxis,
    relative_loss,
    trace_relative_loss,
)
from quakesynth.models.refiner import (
    Refiner,
    RefinerConfig,
    RefinerUNet1d,
    amplitude_scale,
    from_patches,
    to_patches,
)
from quakesynth.train.config import TrainConfig

BENCH_MODELS = Path(__file__).resolve().parents[1] / "benchmarks" / "models"  # judged benchmark models

TINY = MIFNOConfig(width=8, modes=4, modes_time=8, n_layers_geology=1, n_layers_source=1, n_layers_time=1,
                   n_sensors=4, n_times=16)


def test_mifno_shapes_and_every_parameter_gets_a_gradient():
    from conftest import params_without_gradient

    torch.manual_seed(0)
    net = MIFNO(TINY)
    g, pos, M = torch.randn(2, 6, 6, 8), torch.randn(2, 3), torch.randn(2, 6)
    out = net(g, pos, M)
    assert out.shape == (2, 3, 4, 4, 16)
    G = net.greens(g, pos)
    assert G.shape == (2, 6, 3, 4, 4, 16)
    # the wavefield is the moment-weighted sum of the six Green's fields: u = sum_k M_k G_k
    torch.testing.assert_close(out, (M[:, :, None, None, None, None] * G).sum(1), rtol=1e-5, atol=1e-6)
    out.square().mean().backward()
    assert not params_without_gradient(net)  # present, finite and non-zero
    with pytest.raises(ValueError, match="position"):
        net(torch.randn(2, 6, 6, 8), torch.randn(2, 6), torch.randn(2, 6))
    with pytest.raises(ValueError, match="moment"):
        net(torch.randn(2, 6, 6, 8), torch.randn(2, 3), torch.randn(2, 3))


def test_mifno_is_linear_in_the_moment_tensor():
    """Representation theorem: u = sum_k M_k G_k(geology, position), so u(-M) = -u(M) exactly.

    A surrogate taking the mechanism as an additive input is not odd in M; with uniform rakes
    (M and -M equally likely) its loss is minimised by predicting zero (the first CPU run).
    """
    torch.manual_seed(0)
    net = MIFNO(TINY)
    g, pos = torch.randn(3, 6, 6, 8), torch.randn(3, 3)
    M1, M2 = torch.randn(3, 6), torch.randn(3, 6)
    with torch.no_grad():
        u1, u2, u12 = net(g, pos, M1), net(g, pos, M2), net(g, pos, 2.0 * M1 - 0.5 * M2)
        torch.testing.assert_close(u12, 2.0 * u1 - 0.5 * u2, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(net(g, pos, -M1), -u1)
        torch.testing.assert_close(net(g, pos, torch.zeros(3, 6)), torch.zeros_like(u1))


@pytest.mark.slow
def test_surrogate_learns_the_mechanism_well_below_the_zero_predictor():
    """One geology and source position, random double couples (HEMEW's angle ranges): the mean
    wavefield is zero, so a surrogate that cannot follow the mechanism stays at relative error 1.
    The training loss of :class:`MIFNOModule` (default weights) on 16 mechanisms must bring the
    error on 8 unseen mechanisms far below that in 60 steps (0.56-0.58 for seeds 0-2; the
    previous angles-as-bias MIFNO with relative L1 + L2 stayed at 1.00)."""
    from quakesynth.simulate.wave3d import moment_tensor
    from quakesynth.train.modules import MIFNOModule

    rng = np.random.default_rng(0)
    N = 24
    angles = np.column_stack([rng.uniform(0, 360, N), rng.uniform(0, 90, N), rng.uniform(0, 360, N)])
    M = torch.as_tensor(np.stack(moment_tensor(*angles.T), axis=1), dtype=torch.float32)
    t = torch.arange(16.0)
    wavelet = torch.exp(-(((t - 6) / 2) ** 2)) * torch.sin(2 * torch.pi * (t - 6) / 8)
    A = torch.as_tensor(rng.standard_normal((6, 3, 4, 4)), dtype=torch.float32)  # radiation amplitudes
    u = torch.einsum("nk,kcxy,t->ncxyt", M, A, wavelet)
    batch = {"geology": torch.as_tensor(0.3 * rng.standard_normal((6, 6, 8)), dtype=torch.float32).expand(N, -1, -1, -1),
             "position": torch.tensor([0.4, 0.6, -0.5]).expand(N, -1), "moment": M, "u": u}
    torch.manual_seed(0)
    module = MIFNOModule(TINY, TrainConfig())
    opt = torch.optim.Adam(module.net.parameters(), lr=2e-2)
    for k in range(60):
        b = torch.as_tensor(np.random.default_rng(k).choice(16, 8, replace=False))
        opt.zero_grad()
        loss, _ = module.compute_loss({key: v[b] for key, v in batch.items()})
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = module.net(batch["geology"][16:], batch["position"][16:], M[16:])
    assert float(relative_loss(torch.zeros_like(u[16:]), u[16:], 2)) == pytest.approx(1.0)
    assert float(relative_loss(pred, u[16:], 2)) < 0.75


def test_spectral_conv_is_a_convolution_along_its_axis():
    """Shift equivariance along the transformed axis (periodic) and mode truncation."""
    torch.manual_seed(0)
    conv = SpectralConv1dAxis(3, 4, dim=2)
    x = torch.randn(2, 3, 16, 5)
    np.testing.assert_allclose(conv(torch.roll(x, 3, dims=2)).detach(), torch.roll(conv(x), 3, dims=2).detach(),
                               atol=1e-5)
    # a pure high-frequency input (mode 8 > modes) is removed
    hf = torch.cos(torch.pi * torch.arange(16.0)).expand(2, 3, 5, 16).transpose(2, 3).contiguous()
    assert conv(hf).abs().max() < 1e-5
    layer = FactorizedFourierLayer(3, 4, ndim=2)
    assert layer(x).shape == x.shape
    # spectral convolutions along each axis plus a pointwise MLP: equivariant to periodic
    # shifts along both axes at once
    np.testing.assert_allclose(layer(torch.roll(x, (3, 2), dims=(2, 3))).detach(),
                               torch.roll(layer(x), (3, 2), dims=(2, 3)).detach(), atol=1e-5)


def test_relative_loss():
    t = torch.ones(2, 10)
    assert float(relative_loss(t * 1.1, t, p=1)) == pytest.approx(0.1)
    assert float(relative_loss(t * 0.5, t, p=2)) == pytest.approx(0.5)
    # scale invariant: tiny-amplitude samples weigh as much as large ones
    assert float(relative_loss(t * 1e-9 * 1.1, t * 1e-9, p=1)) == pytest.approx(0.1, rel=1e-4)


def test_trace_relative_loss_is_the_mean_rrmse_of_the_evaluation():
    from quakesynth.metrics.gof import rrmse

    g = torch.Generator().manual_seed(0)
    t = torch.randn(2, 3, 4, 4, 32, generator=g) * torch.logspace(-3, 0, 4)[None, None, :, None, None]
    p = t + 0.3 * torch.randn(t.shape, generator=g) * t.std(dim=-1, keepdim=True)
    want = float(np.mean(rrmse(p.numpy().astype(np.float64), t.numpy().astype(np.float64))))
    assert float(trace_relative_loss(p, t, floor=0.0)) == pytest.approx(want, rel=1e-5)
    # unlike the per-sample loss, a weak trace weighs as much as a strong one
    q = t.clone()
    q[:, :, 0] *= 2  # the weakest rows (1e-3) doubled: 1 per trace, nothing in energy
    assert float(trace_relative_loss(q, t, floor=0.0)) == pytest.approx(0.25, rel=1e-5)
    assert float(relative_loss(q, t, p=2)) < 0.01
    # the floor bounds a (near-)nodal trace's weight
    z = t.clone()
    z[0, 0, 0, 0] = 0
    assert np.isfinite(float(trace_relative_loss(p, z)))
    with pytest.raises(ValueError, match="floor"):
        trace_relative_loss(p, t, floor=-1)


@pytest.mark.slow
def test_mifno_loss_falls():
    torch.manual_seed(0)
    net = MIFNO(TINY)
    g, pos, M = torch.randn(4, 6, 6, 8), torch.randn(4, 3), torch.randn(4, 6)
    u = torch.sin(torch.linspace(0, 6, 16)).expand(4, 3, 4, 4, 16) * M[:, :1, None, None, None]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = relative_loss(net(g, pos, M), u, 2)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_patches_roundtrip_and_layout():
    u = np.arange(2 * 3 * 4 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 4, 5)
    p = to_patches(u, 2)
    assert p.shape == (8, 12, 5)
    np.testing.assert_array_equal(from_patches(p, 2, 3, 4, 4), u)
    np.testing.assert_array_equal(p[1, 0], u[0, 0, 0, 2])  # block (0, 1), component 0, sensor (0, 0)
    np.testing.assert_array_equal(to_patches(torch.as_tensor(u), 2).numpy(), p)
    np.testing.assert_array_equal(to_patches(u, 1)[:, :, 0], u.transpose(0, 2, 3, 1, 4).reshape(-1, 3, 5)[:, :, 0])
    with pytest.raises(ValueError, match="patch"):
        to_patches(u, 3)


def test_refiner_backbone_gradients_and_odd_lengths():
    from conftest import params_without_gradient

    torch.manual_seed(0)
    cfg = RefinerConfig(patch=2, model_channels=8, emb_channels=16)
    net = RefinerUNet1d(cfg)
    x = torch.randn(3, 12, 37)
    out = net(x, torch.randn(3), torch.randn(3, 13, 37))
    assert out.shape == x.shape
    # zero-initialised output layers (of the network and of its residual branches) give zero
    # gradients upstream at first; random weights everywhere test the gradient flow
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(std=0.1)
    t, c = torch.randn(3), torch.randn(3, 13, 37)
    net(x, t, c).square().mean().backward()
    assert not params_without_gradient(net)  # present, finite and non-zero
    # an odd-length record's output does not depend on its batch mates
    with torch.no_grad():
        torch.testing.assert_close(net(x[1:2], t[1:2], c[1:2]), net(x, t, c)[1:2], rtol=1e-5, atol=1e-6)


def test_conditioning_is_amplitude_normalised():
    """A 1e-9-amplitude condition looks to the network like the same waveform at unit scale."""
    ref = Refiner(RefinerConfig(model_channels=8, emb_channels=16))
    y = torch.randn(2, 3, 32)
    c1, s1 = ref.condition(y)
    c2, s2 = ref.condition(y * 1e-9)
    torch.testing.assert_close(c1[:, :3], c2[:, :3])
    torch.testing.assert_close(s2, s1 * 1e-9)
    assert not torch.allclose(c1[:, 3], c2[:, 3])  # the amplitude channel tells them apart
    assert torch.all(amplitude_scale(torch.zeros(1, 3, 4)) > 0)


def test_refiner_sampling_per_sample_seeds_and_gaussian_residual_at_init():
    torch.manual_seed(0)
    ref = Refiner(RefinerConfig(model_channels=8, emb_channels=16), sigma_data=0.1).eval()
    y = torch.randn(3, 3, 200)
    a = ref.refine(y, [5, 6, 7], num_steps=40)
    b = ref.refine(y[1:2], [6], num_steps=40)
    torch.testing.assert_close(a[1:2], b)
    # zero-initialised output layer: D = c_skip x is the ideal denoiser of N(0, sigma_data^2)
    # residuals, so the sampled residual (a - y) / s has standard deviation sigma_data
    r = ref.residual(a, y)
    assert float(r.mean().abs()) < 0.02
    assert float(r.std()) == pytest.approx(0.1, rel=0.05)  # (12 Heun steps give 0.12 here)


@pytest.mark.slow
def test_train_surrogate_and_refiner_save_load(tmp_path):
    """Lightning training end to end (few steps), model directories, identical reloads."""
    from quakesynth.physics.data import (
        lowpass_pairs,
        normalise_geology,
        source_inputs,
        split_indices,
    )
    from quakesynth.physics.models import Surrogate, load_refiner, surrogate_pairs
    from quakesynth.train.recipes import train_refiner, train_surrogate

    rng = np.random.default_rng(0)
    N = 12
    corpus = {"vs": rng.uniform(1500, 4500, (N, 6, 6, 8)).astype(np.float32),
              "source": np.column_stack([rng.uniform(0, 4800, (N, 2)), -rng.uniform(900, 4000, N),
                                         rng.uniform(0, 90, (N, 3))]).astype(np.float32),
              "u": (1e-3 * rng.standard_normal((N, 3, 4, 4, 16))).astype(np.float32),
              "fs": 20.0, "domain_m": (4800.0, 4800.0, 4800.0)}
    sp = split_indices(N, (0.5, 0.25, 0.25))
    train = TrainConfig(max_steps=4, batch_size=4, lr=1e-3, checkpoint_every=4, log_every=1)
    sdir = train_surrogate(corpus, sp["train"], tmp_path / "s", TINY, train)
    sur = Surrogate(sdir)
    pred = sur.predict(corpus["vs"][:2], corpus["source"][:2])
    assert pred.shape == (2, 3, 4, 4, 16)
    # predictions are the network's output in m/s: inputs normalised as in training, output x u_scale
    g = torch.as_tensor(normalise_geology(corpus["vs"][:2], sur.norm))
    pos, M = (torch.as_tensor(a) for a in source_inputs(corpus["source"][:2], sur.norm))
    with torch.no_grad():
        np.testing.assert_allclose(pred, sur.net(g, pos, M).numpy() * sur.norm.u_scale, rtol=1e-5, atol=1e-12)
    assert sur.norm.u_scale == pytest.approx(float(np.std(corpus["u"][sp["train"]])))
    np.testing.assert_array_equal(pred, Surrogate(sdir).predict(corpus["vs"][:2], corpus["source"][:2]))
    pairs = surrogate_pairs(sur, corpus, sp["train"], patch=2)
    assert pairs["x"].shape == (len(sp["train"]) * 4, 12, 16)
    cfg = RefinerConfig(patch=2, model_channels=8, emb_channels=16)
    rdir = train_refiner(pairs, tmp_path / "r", cfg, train, fs=20.0)
    ref, conf = load_refiner(rdir)
    assert conf["waveform"] == {"fs": 20.0, "n_samples": 16, "channels": 12}
    y = torch.as_tensor(pairs["y"][:2])
    torch.testing.assert_close(ref.refine(y, [1, 2], num_steps=2), load_refiner(rdir)[0].refine(y, [1, 2], num_steps=2))
    lp = lowpass_pairs(rng.standard_normal((2, 3, 200)), 20.0, 2.0)
    assert lp["y"].shape == (2, 3, 200) and np.std(lp["y"]) < np.std(lp["x"])


def test_the_committed_surrogate_loads_and_is_odd_in_the_mechanism():
    """``benchmarks/models/surrogate_wide`` (the judged surrogate, kept so that the refiners can be
    trained and judged without its two hours of training) loads with the current code, knows its
    training, and obeys the representation theorem: reversing the slip (rake + 180 deg) negates
    the moment tensor and so the whole wavefield."""
    from quakesynth.physics.models import Surrogate

    sur = Surrogate(BENCH_MODELS / "surrogate_wide")
    prov = sur.config["provenance"]
    assert prov["steps_total"] > prov["steps"] > 0 and sur.config["mifno"]["width"] == 16
    vs = np.linspace(4500.0, 1500.0, 16)[None, None, None, :] * np.ones((1, 16, 16, 1))  # HEMEW: z 0 at the bottom
    src = np.array([[2400.0, 2100.0, -2500.0, 30.0, 60.0, 45.0]])
    u = sur.predict(vs, src)
    assert u.shape == (1, 3, 16, 16, 160) and np.isfinite(u).all() and np.abs(u).max() > 0
    np.testing.assert_allclose(sur.predict(vs, src + [0, 0, 0, 0, 0, 180.0]), -u, rtol=1e-4,
                               atol=1e-5 * np.abs(u).max())


def test_the_committed_refiner_lifts_the_high_band_most_and_correlates_sensors():
    """``benchmarks/models/refiner_wide`` (the judged refiner of session 19, on the committed
    surrogate) loads with the current code, and on a surrogate wavefield of a geology outside its
    corpus does what it was trained for: it adds the energy the surrogate misses, most where the
    surrogate misses most (its test biases are -0.21 at 1-1.5 Hz and -0.07 at 0-0.5 Hz), and its
    calibrated noise correlation gives neighbouring sensors a higher high-band coherence than
    independent noise does."""
    from quakesynth.evaluate.physics import hf_coherence
    from quakesynth.metrics.gof import frequency_bias
    from quakesynth.physics.joint import refine_wavefields
    from quakesynth.physics.models import Surrogate, load_refiner

    sur = Surrogate(BENCH_MODELS / "surrogate_wide")
    ref, conf = load_refiner(BENCH_MODELS / "refiner_wide")
    assert conf["provenance"]["steps"] > 0 and conf["noise_correlation"]["length"]
    vs = np.linspace(4000.0, 1800.0, 16)[None, None, None, :] * np.ones((1, 16, 16, 1))  # HEMEW: z 0 at the bottom
    y = sur.predict(vs, np.array([[2100.0, 2700.0, -3000.0, 120.0, 45.0, -90.0]]))
    out = refine_wavefields(ref, y, seed=0, config=conf, num_steps=8)
    assert out.shape == y.shape and np.isfinite(out).all()
    bias = np.median(frequency_bias(out, y, 20.0, ((0.0, 0.5), (1.0, 1.5))).reshape(-1, 2), axis=0)
    assert bias[1] > 0.2 and bias[1] > bias[0] + 0.1 and abs(bias[0]) < 0.3, bias
    indep = refine_wavefields(ref, y, seed=0, length=0.0, num_steps=8)
    coh = hf_coherence(out - y, 20.0, (1.0, 1.8), max_sep=1)[:, 0]
    coh0 = hf_coherence(indep - y, 20.0, (1.0, 1.8), max_sep=1)[:, 0]
    assert (coh > 0.6).all() and (coh0 < 0.2).all(), (coh, coh0)  # calibrated: exp(-(1/3)^2) = 0.89
