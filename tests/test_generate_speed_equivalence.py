"""The buffered Griffin-Lim iteration (preallocated work buffers, issue 18 speed work) against a
straightforward reference that allocates every tensor afresh: the same float32 arithmetic, so
the outputs must be bitwise equal (Griffin-Lim with momentum amplifies any round-off change to
tens of per cent of the peak, so "close" would not be enough)."""

from __future__ import annotations

import pytest
import torch

from quakesynth.repr.spectrogram import (
    SpectrogramConfig,
    _fast_stft,
    _initial_phases,
    _iterate,
    _project_magnitude,
)


def _reference_iterate(ops, mag, c, n_iter, method, momentum, beta, gamma):
    """The plain iteration: every tensor newly allocated, complex product on the complex view."""

    def project(c):
        n2 = torch.addcmul(c[..., 0] * c[..., 0], c[..., 1], c[..., 1])
        scale = n2.clamp(min=torch.finfo(torch.float32).tiny).rsqrt().mul(mag)
        return torch.view_as_complex(c) * scale

    def inverse(C):
        frames = torch.fft.irfft(C, n=ops.n_fft, dim=-1) * ops.w
        frames = frames.reshape(C.shape[0], ops.frames, ops.r, ops.hop)
        y = torch.zeros(C.shape[0], ops.blocks, ops.hop)
        for j in range(ops.r):
            y[:, j:j + ops.frames] = y[:, j:j + ops.frames] + frames[:, :, j]
        return y.reshape(C.shape[0], -1) * ops.g

    def forward(y):
        return torch.fft.rfft(y.unfold(-1, ops.n_fft, ops.hop) * ops.w, dim=-1)

    alpha = 0.0 if method == "gla" else float(momentum)
    c = torch.view_as_real(c)
    t_prev = d = None
    for _ in range(n_iter):
        t = torch.view_as_real(forward(inverse(project(c))))
        if method == "agla" and d is not None:
            t = torch.lerp(d, t, gamma)
        if t_prev is None:
            c = d = t
        elif method == "agla":
            diff = t - t_prev
            c, d = torch.add(t, diff, alpha=alpha), torch.add(t, diff, alpha=beta)
        elif alpha:
            c = torch.sub(t, t_prev, alpha=alpha / (1 + alpha))
        else:
            c = t
        t_prev = t
    return ops.signal(inverse(project(c)))


@pytest.mark.parametrize("method", ["fgla", "gla", "agla"])
def test_buffered_griffin_lim_is_bitwise_the_plain_iteration(method):
    cfg = SpectrogramConfig(n_fft=64, hop=16, n_samples=512)
    ops = _fast_stft(cfg, "cpu")
    g = torch.Generator().manual_seed(3)
    mag = torch.rand(5, cfg.n_frames, cfg.n_fft // 2 + 1, generator=g) ** 4  # (N, frames, bins)
    mag[1] = 0.0  # a silent signal: the zero-modulus guard
    c = _initial_phases(mag, (5,), cfg, seed=list(range(5)), init="random")
    ours = _iterate(ops, mag, c, 7, method, 0.99, 1.1, 1.25)
    ref = _reference_iterate(ops, mag, c, 7, method, 0.99, 1.1, 1.25)
    assert ours.shape == (5, cfg.n_samples)
    assert torch.equal(ours, ref)
    assert bool(ours[0].abs().max() > 0) and bool(ours[1].abs().max() == 0)


def test_project_magnitude_buffers_change_nothing():
    g = torch.Generator().manual_seed(1)
    c = torch.randn(4, 9, 17, 2, generator=g)
    mag = torch.rand(4, 9, 17, generator=g)
    plain = _project_magnitude(c, mag)
    out, work = torch.empty(4, 9, 17, 2), torch.empty(4, 9, 17)
    buffered = _project_magnitude(c, mag, out=out, work=work)
    assert torch.equal(plain, buffered) and buffered.data_ptr() == out.data_ptr()
    assert torch.allclose(plain.abs(), mag, rtol=1e-6, atol=1e-7)
