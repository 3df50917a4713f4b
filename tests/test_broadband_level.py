"""The broadband refiner's high-frequency level anchored on the scenario
(quakesynth.physics.broadband.anchor_high_frequencies) and the inter-period correlation it uses
(quakesynth.gmm.correlation)."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.gmm.correlation import baker_jayaram_2008
from quakesynth.metrics.spectra import smoothed_log_fas
from quakesynth.physics.broadband import (
    anchor_high_frequencies,
    crossover_lowpass,
    smoothing_centres,
)

FS, FC = 100.0, 1.0


def test_baker_jayaram_properties():
    t = np.geomspace(0.01, 10, 31)
    rho = baker_jayaram_2008(t[:, None], t[None, :])
    np.testing.assert_allclose(rho, rho.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(rho), 1.0)
    assert (rho > 0).all() and (rho <= 1).all()
    # above 0.109 s the correlation falls monotonically with the period ratio
    long = t[t > 0.2]
    assert (np.diff(baker_jayaram_2008(long[-1], long)) > 0).all()
    assert baker_jayaram_2008(1.0, 0.1) == pytest.approx(0.27905, abs=1e-4)  # the paper's Figure 2
    with pytest.raises(ValueError, match="positive"):
        baker_jayaram_2008(0.0, 1.0)


def test_baker_jayaram_matches_openquake():
    pytest.importorskip("openquake.hazardlib", reason="OpenQuake (extra 'gmm') is not installed")
    from openquake.hazardlib.cross_correlation import BakerJayaram2008
    from openquake.hazardlib.imt import SA

    ref = BakerJayaram2008()
    for a in np.geomspace(0.01, 10, 13):
        for b in np.geomspace(0.012, 8, 11):
            assert baker_jayaram_2008(a, b) == pytest.approx(ref.get_correlation(SA(a), SA(b)), abs=1e-12)


def _noise(rng, shape, T=8192):
    return rng.standard_normal(shape + (T,))


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.7])
def test_anchoring_sets_the_conditional_level_and_keeps_the_input(delta):
    """White noise records at level A_out, an input low-passed from noise at level
    A_s 10^delta, a flat scenario spectrum A_s: above fc the output's level becomes
    A_s 10^(rho(f) delta), below 0.8 fc it is untouched, and a missing component stays as it was."""
    rng = np.random.default_rng(0)
    out = 3.0 * _noise(rng, (2, 3))
    out[:, 0] *= 0.01  # a component far too weak: the gain must lift it
    low = crossover_lowpass(10.0**delta * _noise(rng, (2, 3)), FS, FC)
    low[1, 2] = 0.0  # record 1 lacks component 2
    centres = smoothing_centres(FS, FC)
    # the scenario spectrum: that of unit white noise (the same smoothing)
    log_s = smoothed_log_fas(_noise(np.random.default_rng(1), (64,)), FS, centres).mean(axis=0)
    log_sim = np.broadcast_to(log_s, (2, 3, len(centres))).copy()
    new, d = anchor_high_frequencies(out, low, log_sim, centres, FS, FC)
    assert d == pytest.approx([delta, delta], abs=0.08)
    got = smoothed_log_fas(new, FS, centres)
    f_ref = np.sqrt(0.5 * 0.8) * FC
    rho = baker_jayaram_2008(1 / f_ref, 1 / centres)
    sel = (centres > 1.5 * FC) & (centres < 40)
    for i, c in ((0, 0), (0, 1), (1, 0)):
        want = log_s + rho * d[i]
        assert np.abs(got[i, c, sel] - want[sel]).max() < 0.05
    # rho falls with frequency: a stronger input raises 2 Hz more than 20 Hz
    assert rho[np.searchsorted(centres, 2.0)] > rho[np.searchsorted(centres, 20.0)] + 0.2
    np.testing.assert_array_equal(new[1, 2], out[1, 2])  # missing component unchanged
    F = np.fft.rfftfreq(out.shape[-1], 1 / FS)
    below = F <= 0.8 * FC
    np.testing.assert_allclose(np.fft.rfft(new)[..., below], np.fft.rfft(out)[..., below],
                               atol=1e-9 * np.abs(np.fft.rfft(out)).max())


def test_anchoring_rejects_bad_shapes():
    centres = smoothing_centres(FS, FC)
    x = np.zeros((1, 3, 1024))
    with pytest.raises(ValueError, match="log_sim"):
        anchor_high_frequencies(x, x, np.zeros((1, 3, 5)), centres, FS, FC)
    with pytest.raises(ValueError, match="centres"):
        anchor_high_frequencies(x, x, np.zeros((1, 3, 4)), np.array([2.0, 3, 4, 5]), FS, FC)
