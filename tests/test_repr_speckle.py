"""The STFT speckle put back on decoded log-spectrograms (LogSpectrogram.add_speckle) and its use
by the HighFEM generator (``phase_retrieval.speckle``).

The decoder returns the conditional mean of ln|S|, a smooth surface. Griffin-Lim on it makes a
waveform that is too regular: at the record's true peak its own log-spectrogram reads too high.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from quakesynth.generate.highfem import HighFEMGenerator
from quakesynth.generate.toy import random_model
from quakesynth.repr.spectrogram import LogSpectrogram, SpectrogramConfig
from quakesynth.seeds import speckle_seed

EULER = 0.5772156649015329
REP = LogSpectrogram(SpectrogramConfig())
UNIT = (REP.cfg.log_max - REP.cfg.log_clip) / 2  # ln units per representation unit


def test_speckle_is_rayleigh_with_zero_log_mean():
    """Analytic statistics of the added ln|S|: complex rows have the Rayleigh log-sd pi / sqrt(24)
    and zero mean, the DC row zero mean too, and the power rises by e^gamma."""
    flat = torch.full((8, 3, *REP.cfg.shape), 0.2)
    d = (REP.add_speckle(flat, 11) - flat).double() * UNIT  # ln units
    body = d[..., 2:-2, 4:-4]  # rows away from DC; frames away from nothing in particular
    assert abs(float(body.mean())) < 0.01
    assert float(body.std()) == pytest.approx(math.pi / math.sqrt(24), rel=0.02)
    assert abs(float(d[..., 0, :].mean())) < 0.05  # the real DC row
    assert float(torch.exp(2 * body).mean()) == pytest.approx(math.exp(EULER), rel=0.03)


def test_speckle_is_seeded_per_item_and_keeps_types():
    spec = np.full((3, 2, *REP.cfg.shape), -0.2, np.float32)
    a = REP.add_speckle(spec, [5, 6, 7])
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == spec.shape
    np.testing.assert_array_equal(a[1:2], REP.add_speckle(spec[1:2], [6]))  # an item depends on its seed only
    np.testing.assert_array_equal(a, REP.add_speckle(spec, [5, 6, 7]))
    assert not np.allclose(a[0], a[1])
    low = REP.add_speckle(np.full(REP.cfg.shape, -1.0, np.float32), 3)
    assert low.min() >= -1.0  # never below the clip level
    with pytest.raises(ValueError, match="one per item"):
        REP.add_speckle(spec, [1, 2])
    with pytest.raises(ValueError, match="shape"):
        REP.add_speckle(spec[..., :10], 1)


def test_speckle_removes_the_level_bias_of_a_smooth_spectrogram_at_the_true_peak():
    """Band-limited noise under a pulse envelope (a stand-in for an S-wave train); its
    log-spectrogram smoothed over 7 x 7 bins (a stand-in for the decoder's conditional mean);
    Griffin-Lim, then the waveform scaled to the record's true peak, as the amplitude path does.
    Without speckle the waveform is too regular: fewer and lower peaks for its spectral level, so
    at the true peak its log-spectrogram reads 0.05-0.1 log10 too high (the defect, measured as
    +0.07 on the default model's VAE round trip). With the speckle put back the bias is gone."""
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(0)
    t = np.arange(REP.cfg.n_samples) / REP.cfg.fs
    colour = np.exp(-((np.fft.rfftfreq(t.size, 0.01) - 5) / 6) ** 2)
    env = np.exp(-((t - 15) / 5) ** 2)
    x = (np.fft.irfft(np.fft.rfft(rng.standard_normal((8, t.size))) * colour, n=t.size) * env).astype(np.float32)
    spec = REP.forward(torch.from_numpy(x))
    smooth = torch.from_numpy(uniform_filter(spec.numpy(), size=(1, 7, 7)))

    def level_at_true_peak(s):
        w = REP.inverse(s, n_iter=128, seed=0).numpy()
        w *= np.abs(x).max(-1, keepdims=True) / np.abs(w).max(-1, keepdims=True)
        d = (REP.forward(torch.from_numpy(w)) - spec)[..., 3:60, 8:-8] * UNIT / math.log(10)
        return float(d.mean())  # 1-23 Hz, frames whose window lies inside the record

    assert level_at_true_peak(smooth) > 0.05
    assert abs(level_at_true_peak(REP.add_speckle(smooth, list(range(8))))) < 0.03


@pytest.mark.filterwarnings("ignore:representation values up to")
def test_generator_applies_the_model_speckle_per_waveform():
    config, states = random_model("tiny")
    plain = HighFEMGenerator(config, states, num_steps=2, gl_iters=4)
    assert plain.speckle is False  # absent from the config: the paper's models are unchanged
    on = HighFEMGenerator({**config, "phase_retrieval": {"speckle": True}}, states, num_steps=2, gl_iters=4)
    assert on.speckle and on.info()["phase_retrieval"]["speckle"]
    scen = dict(magnitude=5.5, distance=40.0, vs30=400.0, depth=10.0, gap=90.0)
    a = on.generate(**scen, n=3, seed=4)
    assert not np.allclose(a.data, plain.generate(**scen, n=3, seed=4).data)
    alone = on.generate(**scen, n=3, seed=4, batch_size=1)
    np.testing.assert_allclose(alone.data, a.data, rtol=0, atol=1e-3 * np.abs(a.data).max())
    off = HighFEMGenerator({**config, "phase_retrieval": {"speckle": True}}, states, num_steps=2, gl_iters=4,
                           speckle=False)
    np.testing.assert_array_equal(off.generate(**scen, n=2, seed=4).data, plain.generate(**scen, n=2, seed=4).data)
    assert speckle_seed(4) != 4 and speckle_seed(4) == speckle_seed(4)
