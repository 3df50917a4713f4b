"""The joint refiner keeps inter-sensor coherence: spatially correlated noise (models.refiner.SpatialNoise)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from quakesynth.metrics.coherence import spatial_coherence
from quakesynth.models.refiner import (
    Refiner,
    RefinerConfig,
    SpatialNoise,
    correlation_sqrt,
    sensor_correlation,
)
from quakesynth.physics.joint import calibrate_noise_correlation, refine_wavefields

TINY = RefinerConfig(model_channels=8, emb_channels=16, channel_mult=(1, 2))
FS, BAND = 20.0, (2.0, 8.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _field(N=2, S=8, T=256, seed=0):
    """Surrogate-like wavefields: one smooth pulse shared by every sensor (identical conditions)."""
    t = np.arange(T) / FS
    pulse = np.exp(-((t - 4) / 1.5) ** 2) * np.sin(2 * np.pi * 0.4 * t)
    amp = np.random.default_rng(seed).uniform(0.5, 2, (N, 3, 1, 1, 1))
    return (amp * pulse).astype(np.float32) * np.ones((N, 3, S, S, T), np.float32)


def _ideal_refiner(patch=1) -> Refiner:
    """An untrained refiner: its output layer is zero, so D(x; sigma) = c_skip x, the ideal
    denoiser of Gaussian residuals with std sigma_data; its samples are linear in the noise."""
    torch.manual_seed(0)
    return Refiner(RefinerConfig(**{**TINY.__dict__, "patch": patch}), sigma_data=0.5).eval()


def test_sensor_correlation_is_a_valid_correlation_matrix():
    R = sensor_correlation(4, 5, 2.0, 1.5)
    assert R.shape == (20, 20) and np.allclose(np.diag(R), 1) and np.allclose(R, R.T)
    assert np.linalg.eigvalsh(R).min() > 0
    assert R[0, 1] == pytest.approx(np.exp(-(0.5**1.5)))  # neighbours along y, d = 1
    np.testing.assert_array_equal(sensor_correlation(3, 3, 0.0), np.eye(9))
    with pytest.raises(ValueError, match="power"):
        sensor_correlation(3, 3, 1.0, 2.5)


def test_spatial_noise_per_wavefield_seeds_and_unit_marginals():
    a = SpatialNoise([3, 4], (2, 6, 6, 512), length=3.0).randn()
    b = SpatialNoise([4], (2, 6, 6, 512), length=3.0).randn()
    torch.testing.assert_close(a[1], b[0])  # wavefield noise depends on its seed, not the batch
    assert abs(float(a.std()) - 1) < 0.05
    c = spatial_coherence(a.numpy(), FS, BAND, 3)
    np.testing.assert_allclose(c, np.broadcast_to(np.exp(-np.arange(1, 4) / 3.0), c.shape), atol=0.06)


def test_spatial_noise_factor_is_unique_so_a_seed_gives_the_same_noise_everywhere(tmp_path):
    """The grid's correlation has repeated eigenvalues (its symmetries), and the eigenvectors
    LAPACK returns for them change with the BLAS thread count: the old eigen-factor
    ``V sqrt(w)`` differed by 0.7 between 1 and 2 OpenBLAS threads, so one seed gave other noise
    (and other refined wavefields) in another process. The symmetric square root is unique: it
    squares to R and commutes with the grid's symmetries, and the noise is the same whatever the
    thread count."""
    import subprocess
    import sys

    R = sensor_correlation(6, 6, 3.0, 2.0)
    L = correlation_sqrt(R)
    np.testing.assert_allclose(L @ L.T, R, atol=1e-10)
    flip = np.arange(36).reshape(6, 6)[::-1].ravel()  # mirror the grid in x: R is invariant
    np.testing.assert_array_equal(R[np.ix_(flip, flip)], R)
    np.testing.assert_allclose(L[np.ix_(flip, flip)], L, atol=1e-10)
    code = ("import sys, numpy as np; from quakesynth.models.refiner import SpatialNoise; "
            "np.save(sys.argv[1], SpatialNoise([7], (1, 16, 16, 4), length=3.0, power=2.0).randn().numpy())")
    for t in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": t, "OMP_NUM_THREADS": t, "MKL_NUM_THREADS": t}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{t}.npy")], env=env, check=True)
    np.testing.assert_allclose(np.load(tmp_path / "1.npy"), np.load(tmp_path / "2.npy"), atol=1e-5)


@pytest.mark.parametrize("length,power", [(0.0, 1.0), (2.0, 1.0), (3.0, 2.0)])
def test_refined_high_frequencies_follow_the_noise_correlation(length, power):
    """With the ideal Gaussian denoiser a refined residual is a linear map of its noise, so the
    coherence of the generated high frequencies is exactly that of the field: 0 for independent
    noise (the per-sensor refiner), exp(-(d / length)^power) for the joint one."""
    ref = _ideal_refiner()
    y = _field(N=1)
    out = ref.refine_field(torch.as_tensor(y), [11], length=length, power=power, num_steps=4).numpy()
    assert out.shape == y.shape
    res = out - y
    c = spatial_coherence(res, FS, BAND, 4)
    expected = np.exp(-((np.arange(1, 5) / length) ** power)) if length else np.zeros(4)
    np.testing.assert_allclose(c, np.broadcast_to(expected, c.shape), atol=0.1)
    # every sensor keeps its marginal law: the residual level does not depend on the correlation
    ind = ref.refine_field(torch.as_tensor(y), [11], length=0.0, num_steps=4).numpy() - y
    assert res.std() == pytest.approx(ind.std(), rel=0.1)


def test_joint_patches_and_identical_noise_give_identical_sensors():
    """patch = 2 refines 2 x 2 blocks jointly; with a very long correlation every block of a
    wavefield gets (almost) the same noise, slot by slot, and, with equal conditions, the same
    refinement: sensors an even number of spacings apart (the same slot of two blocks) agree."""
    ref = _ideal_refiner(patch=2)
    y = _field(N=1, S=4)
    out = ref.refine_field(torch.as_tensor(y), [5], length=1e4, power=2.0, num_steps=6).numpy()
    r = out - y
    for c in range(3):
        assert np.allclose(r[0, c, 0, 0], r[0, c, 2, 2], atol=1e-3 * np.abs(r).max())
        assert np.allclose(r[0, c, 1, 0], r[0, c, 3, 2], atol=1e-3 * np.abs(r).max())
    with pytest.raises(ValueError, match="one seed per wavefield"):
        ref.refine_field(torch.as_tensor(y), [1, 2])


def test_joint_noise_is_iid_inside_a_block_and_correlated_between_blocks(monkeypatch):
    """The joint network was trained on i.i.d. N(0, 1) noise over its C k^2 channels: the noise it
    is given must stay so inside a block (correlating the sensors of a block drove the calibrated
    joint refiner 3-7 log10 units off), while the same slot of neighbouring blocks is correlated as
    exp(-(d / length)^power) at the block spacing d = k sensors."""
    ref = _ideal_refiner(patch=2)
    seen = []

    def capture(yp, latents, randn_like, *args, **kwargs):
        seen.append(latents.clone())
        return torch.zeros_like(yp)

    monkeypatch.setattr(ref, "residual_sample", capture)
    S, T, length = 8, 4000, 4.0
    ref.refine_field(torch.zeros(1, 3, S, S, T), [3], length=length, power=1.0)
    z = seen[0].reshape(S // 2, S // 2, 12, T)  # blocks (bx, by), channels, time
    within = np.corrcoef(z[1, 1].numpy())  # the 12 channels of one block
    assert np.abs(within - np.eye(12)).max() < 0.1
    assert abs(float(z.std()) - 1.0) < 0.02
    between = float(np.corrcoef(z[1, 1, 0].numpy(), z[1, 2, 0].numpy())[0, 1])  # 2 sensors apart
    assert abs(between - np.exp(-2.0 / length)) < 0.1


def test_calibration_recovers_the_correlation_that_made_the_target():
    ref = _ideal_refiner()
    y = _field(N=1)
    truth = refine_wavefields(ref, y, seed=3, length=3.0, power=1.0, num_steps=3)
    coh = lambda u: spatial_coherence(u - y, FS, BAND, 4)  # noqa: E731
    target = coh(truth)
    res = calibrate_noise_correlation(lambda L, p: refine_wavefields(ref, y, seed=7, length=L, power=p, num_steps=3),
                                      coh, target, lengths=(0.0, 1.0, 3.0, 8.0), powers=(1.0, 2.0))
    assert (res["length"], res["power"]) == (3.0, 1.0)
    assert res["max_abs_error"] < 0.15 and len(res["grid"]) == 7
    # the calibrated values are the defaults of refine_wavefields through a model config
    a = refine_wavefields(ref, y, seed=1, config={"noise_correlation": res}, num_steps=4)
    b = refine_wavefields(ref, y, seed=1, length=3.0, power=1.0, num_steps=4)
    np.testing.assert_array_equal(a, b)


def test_per_component_noise_correlation():
    """One length per component: each component's noise has its own spatial correlation, and a
    component whose length equals the shared one gets the very same noise."""
    a = SpatialNoise([9], (3, 6, 6, 512), length=[1.0, 3.0, 0.0]).randn().numpy()
    shared = SpatialNoise([9], (3, 6, 6, 512), length=3.0).randn().numpy()
    c = spatial_coherence(a, FS, BAND, 3)
    d = np.arange(1, 4)
    np.testing.assert_allclose(c[0], np.exp(-d / 1.0), atol=0.06)
    np.testing.assert_allclose(c[1], np.exp(-d / 3.0), atol=0.06)
    np.testing.assert_allclose(c[2], 0.0, atol=0.06)
    np.testing.assert_allclose(a[:, 1], shared[:, 1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="1 or 3 values"):
        SpatialNoise([9], (3, 6, 6, 8), length=[1.0, 2.0])


def test_calibration_per_component_finds_each_components_correlation():
    """A target made with a different length per component: the shared grid search cannot fit
    all three, the per-component choice does, and the stored lists drive refine_wavefields."""
    ref = _ideal_refiner()
    y = _field(N=1)
    lengths = [1.0, 3.0, 8.0]
    truth = refine_wavefields(ref, y, seed=3, length=lengths, power=1.0, num_steps=3)
    coh = lambda u: spatial_coherence(u - y, FS, BAND, 4)  # noqa: E731
    target = coh(truth)
    refine = lambda L, p: refine_wavefields(ref, y, seed=7, length=L, power=p, num_steps=3)  # noqa: E731
    grid = dict(lengths=(0.0, 1.0, 3.0, 8.0), powers=(1.0,))
    shared = calibrate_noise_correlation(refine, coh, target, **grid)
    per = calibrate_noise_correlation(refine, coh, target, per_component=True, **grid)
    assert per["length"] == lengths and per["power"] == [1.0, 1.0, 1.0]
    assert per["max_abs_error"] < 0.15 < shared["max_abs_error"]
    a = refine_wavefields(ref, y, seed=1, config={"noise_correlation": per}, num_steps=4)
    np.testing.assert_array_equal(a, refine_wavefields(ref, y, seed=1, length=lengths, power=1.0, num_steps=4))
