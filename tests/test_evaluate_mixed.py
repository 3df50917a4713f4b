"""Mixed-effects decomposition: recovery of known terms, cross-check with statsmodels."""

from __future__ import annotations

import numpy as np
import pytest

from quakesynth.evaluate.mixed import fit_mixed_effects


def synthetic(seed=0, n_ev=60, n_st=50, per_event=25, c=0.2, tau=0.45, phi_s2s=0.3, phi_0=0.5):
    """Residuals with known bias, event terms and site terms (crossed: stations record many events)."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(0, tau, n_ev)
    s2s = rng.normal(0, phi_s2s, n_st)
    ev = np.repeat(np.arange(n_ev), per_event)
    st = np.concatenate([rng.choice(n_st, per_event, replace=False) for _ in range(n_ev)])
    r = c + eta[ev] + s2s[st] + rng.normal(0, phi_0, ev.size)
    return r, ev.astype(str), st.astype(str), eta, s2s


def test_recovers_known_variances_and_terms():
    r, ev, st, eta, s2s = synthetic()
    fit = fit_mixed_effects(r, ev, st)
    assert fit.converged
    assert abs(fit.bias - 0.2) < 3 * fit.bias_se + 0.02
    # tolerances: the sampling error of a standard deviation from k levels is ~ sd / sqrt(2k)
    assert fit.tau == pytest.approx(0.45, rel=0.2)  # 60 events
    assert fit.phi_s2s == pytest.approx(0.3, rel=0.25)  # 50 stations
    assert fit.phi_0 == pytest.approx(0.5, rel=0.06)  # 1,500 records
    est_eta = np.array([fit.event_terms[str(i)] for i in range(60)])
    est_s2s = np.array([fit.site_terms[str(i)] for i in range(50)])
    assert np.corrcoef(est_eta, eta)[0, 1] > 0.9
    assert np.corrcoef(est_s2s, s2s)[0, 1] > 0.85
    # BLUPs shrink toward zero but stay within a fraction of the true spread
    assert np.sqrt(np.mean((est_eta - eta + eta.mean() - est_eta.mean()) ** 2)) < 0.2
    assert fit.phi == pytest.approx(np.hypot(fit.phi_s2s, fit.phi_0))


def test_single_station_records_get_no_site_term():
    rng = np.random.default_rng(1)
    ev = np.repeat(np.arange(30), 10).astype(str)
    st = np.arange(300).astype(str)  # every station once
    r = rng.normal(0, 0.3, 30)[np.repeat(np.arange(30), 10)] + rng.normal(0, 0.5, 300)
    fit = fit_mixed_effects(r, ev, st)
    assert fit.phi_s2s is None and fit.n_stations == 0
    assert "no station" in fit.notes[0]
    assert fit.phi_0 == pytest.approx(0.5, rel=0.15)


def test_zero_event_variance_is_found():
    rng = np.random.default_rng(2)
    ev = np.repeat(np.arange(40), 20).astype(str)
    r = rng.normal(0, 0.6, 800)
    fit = fit_mixed_effects(r, ev)
    assert fit.tau < 0.1
    assert fit.phi_0 == pytest.approx(0.6, rel=0.08)


def test_matches_statsmodels_on_a_nested_case():
    """One grouping factor (events only): statsmodels MixedLM (REML) must give the same numbers."""
    sm = pytest.importorskip("statsmodels.formula.api", reason="statsmodels not installed (cross-check only)")
    import pandas as pd

    rng = np.random.default_rng(3)
    evn = np.repeat(np.arange(25), rng.integers(3, 30, 25))
    r = -0.1 + rng.normal(0, 0.4, 25)[evn] + rng.normal(0, 0.55, evn.size)
    ev = evn.astype(str)
    fit = fit_mixed_effects(r, ev)
    ref = sm.mixedlm("r ~ 1", pd.DataFrame({"r": r, "ev": ev}), groups="ev").fit(reml=True)
    assert fit.bias == pytest.approx(float(ref.fe_params.iloc[0]), abs=1e-4)
    assert fit.tau == pytest.approx(float(np.sqrt(ref.cov_re.iloc[0, 0])), rel=1e-3)
    assert fit.phi_0 == pytest.approx(float(np.sqrt(ref.scale)), rel=1e-3)
    assert fit.bias_se == pytest.approx(float(ref.bse_fe.iloc[0]), rel=1e-2)
    blups = {k: float(v.iloc[0]) for k, v in ref.random_effects.items()}
    for k, v in blups.items():
        assert fit.event_terms[k] == pytest.approx(v, abs=1e-3)


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        fit_mixed_effects(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="at least 3"):
        fit_mixed_effects([0.1, np.nan], ["a", "b"])
