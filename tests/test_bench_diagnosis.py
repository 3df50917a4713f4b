"""The S-onset picker of ``benchmarks/bench_default_diagnosis.py s-onset`` on analytic traces."""

from __future__ import annotations

import numpy as np

from refcompat import load_script


def _bench():
    return load_script("benchmarks/bench_default_diagnosis.py")


def test_s_onset_picker_finds_a_step_in_horizontal_energy_and_ignores_the_p_wave():
    """Noise, a P wave on Z only (larger than the S wave, so a vertical-aware picker would stop
    there) and an S wave of 10 times the noise on N and E starting at known times: the pick is
    within the 0.5-s smoothing of the true S onset; scaling a trace does not move its pick."""
    fs, n = 100.0, 4000
    rng = np.random.default_rng(0)
    onsets = np.array([9.0, 14.5, 22.25])
    x = 0.01 * rng.standard_normal((3, 3, n))
    t = np.arange(n) / fs
    for i, ts in enumerate(onsets):
        x[i, 0, (t >= 5) & (t < 7)] += 30.0 * rng.standard_normal(200)      # P on Z
        s = (t >= ts) & (t < ts + 6)
        x[i, 1:, s] += rng.standard_normal((int(s.sum()), 2))
    pick = _bench().s_onset_times(x, fs, p_time=5.0)
    assert np.all(np.abs(pick - onsets) <= 0.3), pick
    np.testing.assert_array_equal(_bench().s_onset_times(1e3 * x, fs, p_time=5.0), pick)
