"""The shipped default model scales with magnitude and distance like the simulator it learned
from (issue 18): the ratio of median RotD50 PGA between a large near event (M 6.5, 30 km) and
a small distant one (M 4.5, 50 km) is within a factor 1.5 of the simulator's ratio.

32 model waveforms per scenario with fixed seeds (the ratio spans ~1.5 decades; a median of 32
has a sampling error of ~0.07 log10, so the model's ratio is known to ~0.1 log10), against 512
waveforms per scenario of the simulator drawn as the training corpus draws it (one stress
deviate per record, the network's resonant soil sites). The simulator is cheap, and with 32 of
its waveforms too the comparison's own sampling error (~0.13 log10) would make a factor 1.5 a
1.4-sigma limit that a perfect model fails one time in six. The pre-issue-18 default compresses it by ~5 (measured: model
ratio ~0.2 of the simulator's), so this test is an expected failure while those weights ship
(``PRE_ISSUE18_EDM_SHA256``); it becomes a plain test automatically when a new model ships.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import quakesynth
from quakesynth.generate.highfem import DEFAULT_MODEL_DIR
from quakesynth.metrics.peaks import rotd50

#: sha256 of weights/default/edm.pt of the model shipped in commit 66ee77a (before issue 18).
PRE_ISSUE18_EDM_SHA256 = "78f5f0bfa6adad1497bb6f90cc3ce698141b13bf0efe3537b866d1d1313d73b6"
SITE = dict(vs30=400.0, depth=10.0, gap=120.0)
N = 32  # model waveforms per scenario
N_SIM = 512  # simulator waveforms per scenario: its median is the reference


def _shipped_is_pre_issue18() -> bool:
    p = DEFAULT_MODEL_DIR / "edm.pt"
    return p.exists() and hashlib.sha256(p.read_bytes()).hexdigest() == PRE_ISSUE18_EDM_SHA256


def median_rotd50_pga(gen, seed: int, n: int, **scenario: float) -> float:
    """Median RotD50 PGA (m/s^2) of ``n`` waveforms of one scenario (ZNE records)."""
    rec = gen.generate(**scenario, **SITE, n=n, seed=seed)
    h1, h2 = (rec.components.index(c) for c in "NE")
    return float(np.median(rotd50(rec.data[:, h1].astype(np.float64), rec.data[:, h2].astype(np.float64))))


def pga_ratio(gen, n: int) -> float:
    return (median_rotd50_pga(gen, 11, n, magnitude=6.5, distance=30.0)
            / median_rotd50_pga(gen, 12, n, magnitude=4.5, distance=50.0))


@pytest.mark.xfail(_shipped_is_pre_issue18(), strict=True, raises=AssertionError,
                   reason="the pre-issue-18 default model compresses magnitude-distance scaling ~5x (issue 18)")
def test_default_model_scales_like_the_simulator():
    sim_ratio = pga_ratio(quakesynth.load_model("stochastic", event_term=True, site_resonance=True), N_SIM)
    model_ratio = pga_ratio(quakesynth.load_model("default"), N)
    assert sim_ratio > 10  # the scenarios differ by ~1.5 decades in the simulator
    assert 1 / 1.5 <= model_ratio / sim_ratio <= 1.5, (
        f"PGA(M 6.5, 30 km) / PGA(M 4.5, 50 km): default {model_ratio:.1f}, simulator {sim_ratio:.1f}")
