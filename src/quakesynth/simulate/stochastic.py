"""The stochastic method (Boore 2003): point-source spectra from pyrvt, windowed noise, P/S/coda.

Boore (2003, PAGEOPH 160, 635-676) simulates a ground-motion time series by shaping windowed
Gaussian noise with a target Fourier amplitude spectrum (FAS): the spectrum of the windowed
noise is normalised to unit root-mean-square amplitude and multiplied by the target FAS, then
transformed back. This module builds records that also carry the structure of real
accelerograms:

* **Source and path (pyrvt).** The FAS of the S waves is computed by
  :class:`pyrvt.motions.SourceTheoryMotion` -- Brune omega-squared source (radiation 0.55,
  free surface 2, partition 1/sqrt 2) with corner frequency ``fc = 4.9e6 beta (dsigma/M0)^(1/3)``,
  piece-wise geometric spreading, ``Q(f) = Q0 f^eta`` and ``exp(-pi kappa0 f)`` -- with
  regional parameters set on its attributes (pyrvt offers only its 'wna'/'cena' presets).
  The crustal amplification is pyrvt's Al Atik & Abrahamson (2021) function for
  Vs30 = 760 m/s (``StaffordEtAl22Motion.site_amp``), the reference of BSSA14's site term.
  The P-wave FAS is the same pyrvt model evaluated with the P velocity (far-field P
  amplitude ``R_P M0 / (4 pi rho alpha^3 r)``, travel time R/alpha in the attenuation), its
  corner at ``p_corner_ratio * fc`` (Madariaga 1976), radiation 0.52 (Boore & Boatwright
  1984), no partition, crustal amplification to the power ``p_crustal_exponent``.
* **Two-corner shape (not in pyrvt).** The Brune spectrum is multiplied by the ratio of an
  Atkinson & Silva (2000) two-corner spectrum with the same M0 and high-frequency level
  (:func:`two_corner_factor`): the spectral sag of moderate and large earthquakes, without
  which a single-corner point source overpredicts 1-3 s motions by a factor ~1.5-2 relative
  to short periods for M 5.5-7.5 (found against BSSA14; Boore et al. 2014 report the same).
* **Finite-fault saturation.** The point source sits at ``R_eff = sqrt(Rhyp^2 + h(M)^2)``
  with ``log10 h = -0.405 + 0.235 M`` (Yenier & Atkinson 2015, BSSA 105(4)).
* **Durations.** The S excitation duration is source ``1/fc`` plus the Boore & Thompson
  (2014, BSSA 104(5)) path duration (pyrvt's ``StaffordEtAl22Motion.calc_duration``); the P
  packet lasts ``1/fc_P`` plus the S-P time (P and P coda fill the interval). Each is
  Gaussian noise under a Saragoni & Hart (1974) window (Boore 2003 eq. 7: eps = 0.2,
  eta = 0.05, f_Tgm = 2) whose peak comes no later than ``peak_delay_s`` after ``1/fc`` (a
  sharp direct arrival; the path duration goes into the decay). The coda follows the single
  back-scattering envelope ``t^-1 exp(-pi f t / Qc)`` in lapse time (Aki & Chouet 1975) at
  3 Hz, from half the S duration on; it shares the S noise series (the sum of independent
  Gaussian noises under envelopes w1, w2 is Gaussian noise under ``sqrt(w1^2 + w2^2)``).
* **Normalisation.** Boore's: the windowed noise spectrum is divided by its realised rms
  and multiplied by the target FAS; where a window runs past the simulated buffer the
  spectrum is scaled by the square root of the share of the window's energy that is kept,
  so a truncated packet is the cut-off part of the full one.
* **Timing.** The P onset is at ``p_onset_s`` (5 s) after the window start; the S onset
  follows at the S-P time of a 1-D layered model (:mod:`quakesynth.simulate.velocity_model`).
* **Components.** Radial, transverse and vertical: P is polarised along the ray (vertical
  and radial share one noise series, split by the incidence angle at the surface, plus a
  scattered transverse part); S and coda go to R and T with independent noise and to Z
  through a frequency-dependent V/H ratio. Records are returned as ZNE (rotated with the
  back azimuth) or ZRT.
* **Site.** :mod:`quakesynth.simulate.site`: BSSA14 Vs30 term (linear and nonlinear, with the
  rock PGA from pyrvt's random-vibration peak of the rock FAS), station kappa0 and delta
  S2S, an optional resonant layer (SH on horizontals, P on the vertical; optionally centred
  on the Vs30 term, ``stations.resonance_centred``), a vertical site term reduced to
  ``A_h ** vertical_site_exponent``.
* **Variability.** Event term (log-normal stress drop), site terms (kappa0, delta S2S),
  path term (smooth in frequency, per record) and the noise realisation; together a total
  sigma of ln PGA of ~0.65 (see ``benchmarks/results/simulate.md``).
* **Recording.** Pre-event (ambient + instrument) noise at the station's level, an 8-pole
  30 Hz anti-alias response, and the causal 0.1 Hz order-2 Butterworth high-pass of the real
  data (:func:`quakesynth.data.preprocess.highpass`).

Regional parameters (``configs/simulator.yaml``) were chosen within published ranges for
Japan and then adjusted so that the simulator's medians sit between BooreEtAl2014 (Japan)
and Kanno et al. (2006): Q(f) = 160 f^0.65 (Japanese crustal Q is 85-160 f^0.6-0.7, e.g.
Zhang et al. 2016 for Kyushu: 120 f^0.64), geometric spreading R^-1.08 to 50 km and R^-0.5
beyond, kappa0 = 0.022 s at the Vs30 = 760 m/s reference (the Vs30 dependence is in the
BSSA14 site term), stress parameter 45 / 95 / 75 bar at M 4 / 5.5 / 7.5 for crustal events
and 2.5 times that for intraslab depths (Oth et al. 2011; Kanno et al. 2006's deep model).

What pyrvt does not provide and is implemented here: the two-corner factor, the
time-domain synthesis (windows, noise, normalisation), P and coda packets, components, the
site terms and the noise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from quakesynth.simulate.site import (
    StationConfig,
    bssa14_ln_site_amplification,
    draw_site_parameters,
    layer_mean_ln_amplification,
    layer_transfer_function,
    site_node_terms,
)
from quakesynth.simulate.velocity_model import VelocityModel, travel_times

G = 9.80665  # m/s^2 per g


# -- configuration -----------------------------------------------------------------------
@dataclass(frozen=True)
class SourceConfig:
    """Omega-squared point source (Brune 1970; Boore 2003)."""

    stress_magnitudes: tuple[float, ...] = (4.0, 5.5, 7.5)  # magnitudes of the stress-drop nodes
    stress_drops_bar: tuple[float, ...] = (45.0, 95.0, 75.0)  # median stress parameter at those nodes (shallow), bar
    stress_sigma_ln: float = 0.6  # event-to-event sd of ln stress drop (event term)
    deep_stress_factor: float = 2.5  # stress multiplier reached at depth >= deep_depth_max_km (slab events)
    deep_depth_min_km: float = 25.0  # depth where the deep increase starts, km
    deep_depth_max_km: float = 60.0  # depth where it is complete, km
    beta_kms: float = 3.5  # shear-wave velocity at the source, km/s
    alpha_kms: float = 6.0  # P-wave velocity at the source, km/s
    density_gcc: float = 2.8  # density at the source, g/cm^3
    radiation_p: float = 0.52  # average P radiation coefficient (S: pyrvt's 0.55)
    p_corner_ratio: float = 1.5  # fc_P / fc_S (Madariaga 1976)
    two_corner: bool = True  # Atkinson & Silva (2000) two-corner shape at the Brune high-frequency level
    fa_a: float = 2.181  # log10 fa = fa_a + fa_b M, lower corner (Atkinson & Silva 2000), Hz
    fa_b: float = -0.496  # magnitude slope of log10 fa
    eps_a: float = 0.605  # log10 eps = eps_a + eps_b M, weight of the upper corner (Atkinson & Silva 2000)
    eps_b: float = -0.255  # magnitude slope of log10 eps
    fa_magnitudes: tuple[float, ...] = ()  # if set: Mw nodes of the lower corner fa, replacing fa_a + fa_b M
    fa_hz: tuple[float, ...] = ()  # fa at those nodes (log-linear in M between, constant beyond), Hz
    finite_fault_a: float = -0.405  # log10 h(M) = a + b M, pseudo-depth (Yenier & Atkinson 2015), km
    finite_fault_b: float = 0.235  # magnitude slope of log10 h(M)
    finite_fault_magnitudes: tuple[float, ...] = ()  # if set: Mw nodes of h(M), replacing a + b M
    finite_fault_h_km: tuple[float, ...] = ()  # pseudo-depth h at those nodes (log-linear in M between), km


@dataclass(frozen=True)
class PathConfig:
    """Geometric spreading and anelastic attenuation."""

    q0: float = 160.0  # Q(f) = q0 f^q_eta (Japan: 85-160 f^0.6-0.7, e.g. Zhang et al. 2016)
    q_eta: float = 0.65  # frequency exponent of Q
    spreading_r1_km: float = 50.0  # hinge distance of the geometric spreading, km
    spreading_slope1: float = 1.08  # spreading R^-slope1 out to the hinge (body waves)
    spreading_slope2: float = 0.5  # spreading R^-slope2 beyond (Lg / surface waves)
    coda_q0: float = 100.0  # coda Q: Qc(f) = coda_q0 f^coda_eta (Sato et al. 2012 compilation)
    coda_eta: float = 0.7  # frequency exponent of Qc
    coda_energy_ratio: float = 0.15  # coda energy / direct-S energy
    coda_start: float = 0.5  # coda starts this fraction of Tgm after the S onset
    adjust_distances_km: tuple[float, ...] = ()  # calibration: hypocentral-distance nodes of ln A(R, f), km
    adjust_frequencies_hz: tuple[float, ...] = ()  # calibration: frequency nodes of ln A(R, f), Hz
    adjust_ln: tuple[tuple[float, ...], ...] = ()  # ln A at (distance node, frequency node); () = none


@dataclass(frozen=True)
class SiteResponseConfig:
    """Reference rock, vertical component and Vs30 scaling."""

    nonlinear: bool = True  # apply BSSA14's nonlinear site term with pyrvt's RVT rock PGA
    vertical_site_exponent: float = 0.8  # vertical site amplification = horizontal ** this (V/H of soil)
    p_crustal_exponent: float = 0.5  # P-wave crustal amplification = the S one (AA21) ** this
    vh_low: float = 0.6  # S-wave V/H Fourier ratio on rock below vh_corner_hz
    vh_high: float = 0.8  # S-wave V/H Fourier ratio on rock above vh_corner_hz
    vh_corner_hz: float = 8.0  # centre of the V/H transition, Hz
    surface_vp_kms: float = 1.5  # near-surface P velocity for the P incidence angle, km/s
    p_transverse_ratio: float = 0.15  # scattered P energy on the transverse component (amplitude)
    soil_vp_vs: float = 3.0  # Vp/Vs of a resonant layer (vertical resonance at soil_vp_vs * f0)


@dataclass(frozen=True)
class VariabilityConfig:
    """Within-event (path-to-path) variability, per record."""

    path_sigma_ln: float = 0.45  # sd of the smooth ln path term (nodes at 0.2, 2, 20 Hz)
    path_node_correlation: float = 0.5  # correlation between the three nodes
    path_sigma_magnitudes: tuple[float, ...] = ()  # if set: Mw nodes of a magnitude-dependent path sd
    path_sigma_ln_nodes: tuple[float, ...] = ()  # path sd at those nodes (linear in M between, constant beyond)


@dataclass(frozen=True)
class WaveformConfig:
    """Time series layout and recording."""

    fs: float = 100.0  # sampling rate, Hz
    n_samples: int = 4096  # record length, samples
    p_onset_s: float = 5.0  # P onset after the window start, s
    pad_s: float = 10.0  # buffer beyond the record end: half carries energy, half guards the circular FFT, s
    components: str = "ZNE"  # "ZNE" (rotated with the back azimuth) or "ZRT"
    window_eps: float = 0.2  # Saragoni-Hart: time of the peak as a fraction of f_tgm * Tgm
    window_eta: float = 0.05  # Saragoni-Hart: amplitude at f_tgm * Tgm
    window_ftgm: float = 2.0  # Saragoni-Hart: window length in units of Tgm
    peak_delay_s: float = 1.0  # P and S envelopes peak at most this long after 1/fc, s
    antialias_hz: float = 30.0  # corner of the recorder's anti-alias low-pass, Hz
    antialias_order: int = 8  # its Butterworth order (magnitude response)
    highpass_hz: float = 0.1  # causal Butterworth high-pass of the processing, Hz
    highpass_order: int = 2  # its order


@dataclass(frozen=True)
class ValidityConfig:
    """The scenario range the simulator is calibrated for (``allow_extrapolation`` to leave it)."""

    magnitude: tuple[float, float] = (4.0, 7.5)  # moment magnitude
    distance: tuple[float, float] = (1.0, 200.0)  # hypocentral distance, km
    vs30: tuple[float, float] = (100.0, 2000.0)  # m/s
    depth: tuple[float, float] = (0.0, 100.0)  # hypocentral depth, km
    gap: tuple[float, float] = (0.0, 360.0)  # azimuthal gap, degrees (stored, not used)


@dataclass(frozen=True)
class StochasticConfig:
    """Everything the stochastic simulator needs (preset: ``configs/simulator.yaml``)."""

    source: SourceConfig = field(default_factory=SourceConfig)
    path: PathConfig = field(default_factory=PathConfig)
    site: SiteResponseConfig = field(default_factory=SiteResponseConfig)
    variability: VariabilityConfig = field(default_factory=VariabilityConfig)
    waveform: WaveformConfig = field(default_factory=WaveformConfig)
    velocity: VelocityModel = field(default_factory=VelocityModel)
    stations: StationConfig = field(default_factory=StationConfig)
    validity: ValidityConfig = field(default_factory=ValidityConfig)

    def __post_init__(self) -> None:
        w = self.waveform
        if w.components not in ("ZNE", "ZRT"):
            raise ValueError(f"waveform.components must be 'ZNE' or 'ZRT'; got {w.components!r}")
        if w.fs <= 0 or w.n_samples <= 0:
            raise ValueError(f"waveform.fs and waveform.n_samples must be positive; got {w.fs}, {w.n_samples}")
        if not 0 <= w.p_onset_s < w.n_samples / w.fs:
            raise ValueError(f"waveform.p_onset_s={w.p_onset_s} must lie inside the {w.n_samples / w.fs:g} s window")


#: Simulator presets: name -> preset file in ``quakesynth/configs`` (each documents its source).
PRESETS = {
    "japan": "simulator",  # Japan-like parameters, tuned between BSSA14 (Japan) and Kanno 2006 (2026-11)
    "bssa14": "simulator_bssa14",  # fitted to BooreEtAl2014 (global) by `quakesynth calibrate --fit`
}


#: The preset that :class:`quakesynth.generate.stochastic.StochasticGenerator` and ``quakesynth simulate`` use by default.
DEFAULT_PRESET = "bssa14"


def preset_name(name: str | None) -> str:
    """The preset file stem of a preset name (``None``: :data:`DEFAULT_PRESET`), or the
    argument unchanged if it is a path or a file stem already."""
    if name is None:
        return PRESETS[DEFAULT_PRESET]
    key = str(name)
    if key in PRESETS:
        return PRESETS[key]
    if key in PRESETS.values() or Path(key).suffix:
        return key
    raise ValueError(f"unknown simulator preset {key!r}; presets: {sorted(PRESETS)} (or a YAML file path)")


def load_config(config: StochasticConfig | dict | str | Path | None = None,
                overrides: list[str] | tuple[str, ...] = ()) -> StochasticConfig:
    """A :class:`StochasticConfig` from a preset name (:data:`PRESETS`) or YAML path (its
    ``simulator`` section or the whole file), a dict, or the defaults, with
    ``section.key=value`` overrides."""
    from quakesynth.config import apply_overrides, from_dict, load_preset, to_dict

    if isinstance(config, str) and config in PRESETS:
        config = PRESETS[config]

    if isinstance(config, StochasticConfig):
        d = to_dict(config)
    elif isinstance(config, dict):
        d = dict(config)
    elif config is None:
        d = to_dict(StochasticConfig())
    else:
        d = load_preset(config)
        d = d.get("simulator", d)
    d = apply_overrides(to_dict(from_dict(StochasticConfig, d)), list(overrides)) if overrides else d
    return from_dict(StochasticConfig, d)


# -- pyrvt source/path model ---------------------------------------------------------------
_FREQS_COARSE = np.geomspace(0.01, 60.0, 192)  # Hz, where pyrvt evaluates the FAS
_SITE_AMP_CACHE: dict[float, Any] = {}


def _crustal_amplification(exponent: float):
    """pyrvt's Vs30 = 760 m/s crustal amplification (Al Atik & Abrahamson 2021), raised to
    ``exponent``, as the ln-frequency interpolator pyrvt's SourceTheoryMotion expects."""
    if exponent not in _SITE_AMP_CACHE:
        from pyrvt.motions import StaffordEtAl22Motion
        from scipy.interpolate import interp1d

        amp = StaffordEtAl22Motion.site_amp(_FREQS_COARSE, 0.0) ** exponent
        _SITE_AMP_CACHE[exponent] = interp1d(np.log(_FREQS_COARSE), amp, bounds_error=False,
                                             fill_value=(amp[0], amp[-1]))
    return _SITE_AMP_CACHE[exponent]


@lru_cache(maxsize=1)
def _peak_calculator():
    """pyrvt's Vanmarcke (1975) peak-factor calculator (built once)."""
    from pyrvt.peak_calculators import get_peak_calculator

    return get_peak_calculator("V75", None)


@lru_cache(maxsize=1)
def _motion_class():
    from pyrvt.motions import RvtMotion, SourceTheoryMotion

    class RegionalSourceMotion(SourceTheoryMotion):
        """pyrvt's single-corner source-theory model with explicit regional parameters.

        pyrvt's constructor only knows the 'wna'/'cena' presets; this sets the same
        attributes its ``calc_fourier_amps`` reads (the formulas are pyrvt's) and computes
        the corner frequency as pyrvt does (Boore 2003 eq. 4)."""

        def __init__(self, magnitude: float, distance: float, pseudo_depth: float, stress_drop: float,
                     velocity: float, density: float, q0: float, q_eta: float,
                     spreading: list, kappa: float, site_amp, freqs: np.ndarray) -> None:
            RvtMotion.__init__(self, peak_calculator=_peak_calculator())
            self._disable_site_amp = False
            self.magnitude, self.distance, self.depth = magnitude, distance, pseudo_depth
            self.region = "wna"  # unused by calc_fourier_amps once the attributes are set
            self.shear_velocity, self.density = velocity, density
            self.path_atten_coeff, self.path_atten_power = q0, q_eta
            self.site_atten, self.geometric_spreading = kappa, spreading
            self.stress_drop, self.site_amp = stress_drop, site_amp
            self.hypo_distance = np.sqrt(distance**2 + pseudo_depth**2)
            self.seismic_moment = 10.0 ** (1.5 * (magnitude + 10.7))
            self.corner_freq = 4.9e6 * velocity * (stress_drop / self.seismic_moment) ** (1.0 / 3.0)
            self.calc_fourier_amps(freqs)

        def calc_duration(self) -> float:  # Boore & Thompson (2014); set properly by the caller
            return 1.0 / self.corner_freq

    return RegionalSourceMotion


def lower_corner(magnitude, cfg: SourceConfig) -> np.ndarray:
    """Lower corner ``fa`` (Hz) of the two-corner source: ``log10 fa = fa_a + fa_b M``
    (Atkinson & Silva 2000), or, where ``fa_magnitudes`` is set (a calibrated preset),
    log-linear interpolation of ``fa_hz`` between those nodes (constant beyond)."""
    m = np.asarray(magnitude, dtype=np.float64)
    if len(cfg.fa_magnitudes):
        return np.exp(np.interp(m, np.asarray(cfg.fa_magnitudes, dtype=np.float64),
                                np.log(np.asarray(cfg.fa_hz, dtype=np.float64))))
    return 10.0 ** (cfg.fa_a + cfg.fa_b * m)


def two_corner_factor(freqs: np.ndarray, magnitude: float, fc: float, cfg: SourceConfig) -> np.ndarray:
    """Ratio of a two-corner source spectrum to the Brune spectrum of corner ``fc`` (Hz).

    The two-corner shape ``(1 - eps)/(1 + (f/fa)^2) + eps/(1 + (f/fb)^2)`` of Atkinson &
    Silva (2000) takes ``fa`` and ``eps`` from their magnitude relations and ``fb`` such that
    the high-frequency level ``(1 - eps) fa^2 + eps fb^2`` equals the Brune level ``fc^2``
    (so the stress parameter keeps setting the high frequencies, and M0 the low ones).
    The factor is 1 at both ends and dips between the corners (the spectral sag of large
    earthquakes); where ``fc^2 <= (1 - eps) fa^2`` (small events) the Brune shape is kept.
    pyrvt has no two-corner source, so this factor multiplies its Brune spectrum.

    >>> f = np.array([1e-4, 0.3, 1e4])
    >>> np.round(two_corner_factor(f, 7.0, 0.1, SourceConfig()), 2).tolist()
    [1.0, 0.63, 1.0]
    """
    fa = float(lower_corner(magnitude, cfg))
    eps = 10.0 ** (cfg.eps_a + cfg.eps_b * magnitude)
    if not cfg.two_corner or eps >= 1.0 or fc**2 <= (1.0 - eps) * fa**2:
        return np.ones_like(freqs, dtype=np.float64)
    fb = np.sqrt((fc**2 - (1.0 - eps) * fa**2) / eps)
    two = (1.0 - eps) / (1.0 + (freqs / fa) ** 2) + eps / (1.0 + (freqs / fb) ** 2)
    return two * (1.0 + (freqs / fc) ** 2)


# -- windows -------------------------------------------------------------------------------
def _sh_shape(eps, eta: float):
    """Saragoni-Hart exponents b, c and ln a for peak position ``eps`` (array or scalar)."""
    eps = np.asarray(eps, dtype=np.float64)
    b = -eps * np.log(eta) / (1.0 + eps * (np.log(eps) - 1.0))
    return b, b / eps, b * (1.0 - np.log(eps))


def saragoni_hart_window(t: np.ndarray, tgm: np.ndarray, eps: float | np.ndarray = 0.2, eta: float = 0.05,
                         f_tgm: float = 2.0) -> np.ndarray:
    """Saragoni & Hart (1974) window in Boore's (2003, eq. 7) parameterisation.

    ``w(t) = a (t/t_eta)^b exp(-c t/t_eta)`` for ``0 <= t <= t_eta = f_tgm * Tgm`` (0
    outside), with ``b = -eps ln(eta) / (1 + eps (ln eps - 1))``, ``c = b/eps`` and
    ``a = (e/eps)^b``: peak 1 at ``eps * t_eta``, value ``eta`` at ``t_eta``.

    Parameters
    ----------
    t : (..., T) time since the window start, s.
    tgm : duration Tgm (s), broadcastable against ``t``.
    eps : peak position as a fraction of ``t_eta`` (scalar or broadcastable against ``t``).

    >>> w = saragoni_hart_window(np.array([0.4, 1.0, 2.0]), 1.0)
    >>> np.round(w, 3).tolist()
    [1.0, 0.481, 0.05]
    """
    b, c, ln_a = _sh_shape(eps, eta)
    t = np.asarray(t)
    dtype = np.float32 if t.dtype == np.float32 else np.float64
    x = (t / (f_tgm * np.asarray(tgm, dtype=dtype))).astype(dtype, copy=False)
    inside = (x > 0) & (x <= 1)
    xs = np.where(inside, x, dtype(0.5))
    arg = ln_a.astype(dtype) + b.astype(dtype) * np.log(xs) - c.astype(dtype) * xs
    return np.where(inside, np.exp(arg), dtype(0.0))


def saragoni_hart_energy(tgm: np.ndarray, eps: float | np.ndarray = 0.2, eta: float = 0.05,
                         f_tgm: float = 2.0) -> np.ndarray:
    """Integral of the squared Saragoni-Hart window over its whole support, s (closed form
    with the regularised lower incomplete gamma function)."""
    from scipy.special import gamma, gammainc

    b, c, ln_a = _sh_shape(eps, eta)
    k = 2.0 * b + 1.0
    return np.exp(2.0 * ln_a) * f_tgm * np.asarray(tgm) * gamma(k) * gammainc(k, 2.0 * c) / (2.0 * c) ** k


def window_peak_fraction(tgm: np.ndarray, source_duration: np.ndarray, cfg: WaveformConfig) -> np.ndarray:
    """Peak position ``eps`` of a packet's Saragoni-Hart window: Boore's ``window_eps``, but
    the envelope peaks no later than ``peak_delay_s`` after the source duration (a direct
    wave arrives sharply; the path duration goes into the decay)."""
    t_pk = np.minimum(cfg.window_eps * cfg.window_ftgm * tgm, source_duration + cfg.peak_delay_s)
    return np.clip(t_pk / (cfg.window_ftgm * tgm), 0.02, cfg.window_eps)


def coda_envelope(x: np.ndarray, lapse_start: np.ndarray, tau: float, length: float, rise: float = 1.0) -> np.ndarray:
    """Coda amplitude envelope ``(t_c / t) exp(-(t - t_c) / tau)`` at time ``x`` after the coda
    start (lapse time ``t = lapse_start + x``), with a cosine onset of ``rise`` s, zero
    outside ``[0, length]`` (single back-scattering, Aki & Chouet 1975)."""
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    lapse_start = np.asarray(lapse_start, dtype=dtype)
    xp = np.clip(x, 0, None)
    onset = np.where(x < rise, 0.5 - 0.5 * np.cos(dtype(np.pi / rise) * np.clip(x, 0, rise)), dtype(1.0))
    env = onset * lapse_start / (lapse_start + xp) * np.exp(-xp / dtype(tau))
    return np.where((x >= 0) & (x <= length), env, dtype(0.0))


# -- per-record parameters -----------------------------------------------------------------
#: Keys of the per-record parameter table :func:`simulate` takes (arrays of shape (B,)).
RECORD_PARAMETERS = {
    "magnitude": "moment magnitude",
    "distance": "hypocentral distance, km",
    "depth": "hypocentral depth, km",
    "vs30": "Vs30, m/s",
    "stress_drop_bar": "stress parameter of the event, bar",
    "kappa0_s": "site kappa0, s",
    "site_term_low": "site delta S2S at 0.2 Hz, ln units",
    "site_term_mid": "site delta S2S at 2 Hz, ln units",
    "site_term_high": "site delta S2S at 20 Hz, ln units",
    "f0_hz": "resonance frequency of the site layer, Hz (NaN: none)",
    "impedance_ratio": "impedance ratio of the layer",
    "damping": "damping ratio of the layer",
    "noise_rms_mps2": "pre-event noise rms, m/s^2",
    "back_azimuth": "back azimuth (station to event, clockwise from north), degrees",
}
#: Optional keys of the table, with their value when absent.
OPTIONAL_RECORD_PARAMETERS = {
    "resonance_centring": 0.0,  # the site's layered share when its network's layers are centred
}


def median_stress_drop(magnitude: np.ndarray, depth: np.ndarray, cfg: SourceConfig) -> np.ndarray:
    """Median stress parameter (bar) of the source model for given magnitude and depth (km).

    ``ln dsigma`` is piece-wise linear in M through ``(stress_magnitudes, ln stress_drops_bar)``
    (constant beyond the end nodes) plus ``ln(deep factor) * ramp(depth)``; the depth ramp goes
    from 0 at ``deep_depth_min_km`` to 1 at ``deep_depth_max_km``
    (intraslab events in Japan radiate more high-frequency energy than crustal ones:
    Oth et al. 2011; Kanno et al. 2006's deep-event model).
    """
    m = np.asarray(magnitude, dtype=np.float64)
    z = np.asarray(depth, dtype=np.float64)
    ramp = np.clip((z - cfg.deep_depth_min_km) / max(cfg.deep_depth_max_km - cfg.deep_depth_min_km, 1e-9), 0.0, 1.0)
    ln_ds = np.interp(m, np.asarray(cfg.stress_magnitudes, dtype=np.float64),
                      np.log(np.asarray(cfg.stress_drops_bar, dtype=np.float64)))
    return np.exp(ln_ds + np.log(cfg.deep_stress_factor) * ramp)


def pseudo_depth(magnitude: np.ndarray, cfg: SourceConfig) -> np.ndarray:
    """Finite-fault pseudo-depth ``h(M)`` (km) of the effective distance ``sqrt(R^2 + h^2)``.

    ``log10 h = finite_fault_a + finite_fault_b M`` (Yenier & Atkinson 2015, eq. 6), or, where
    ``finite_fault_magnitudes`` is set (a calibrated preset), log-linear interpolation of
    ``finite_fault_h_km`` between those nodes (constant beyond the end nodes).

    >>> float(np.round(pseudo_depth(6.0, SourceConfig()), 2))
    10.05
    """
    m = np.asarray(magnitude, dtype=np.float64)
    if len(cfg.finite_fault_magnitudes):
        return np.exp(np.interp(m, np.asarray(cfg.finite_fault_magnitudes, dtype=np.float64),
                                np.log(np.asarray(cfg.finite_fault_h_km, dtype=np.float64))))
    return 10.0 ** (cfg.finite_fault_a + cfg.finite_fault_b * m)


def path_sigma(magnitude: np.ndarray, cfg: VariabilityConfig) -> np.ndarray:
    """Standard deviation of the ln path term (per record) at ``magnitude``: ``path_sigma_ln``,
    or the magnitude-dependent nodes ``path_sigma_ln_nodes`` where they are set."""
    m = np.asarray(magnitude, dtype=np.float64)
    if len(cfg.path_sigma_magnitudes):
        return np.interp(m, np.asarray(cfg.path_sigma_magnitudes, dtype=np.float64),
                         np.asarray(cfg.path_sigma_ln_nodes, dtype=np.float64))
    return np.full(m.shape, cfg.path_sigma_ln)


def path_adjustment(freqs: np.ndarray, distance: np.ndarray, cfg: PathConfig) -> np.ndarray:
    """(B, F) calibration adjustment ``ln A(R, f)`` of the Fourier spectra (0 when unset).

    A smooth correction of the apparent attenuation, fitted by
    :func:`quakesynth.simulate.calibration.fit_simulator` where geometric spreading and
    ``Q(f)`` alone cannot follow the reference GMM (like the distance-dependent calibration
    term Cp of Yenier & Atkinson 2015). Bilinear in ``ln R`` (hypocentral, km) and ``ln f``
    between the nodes ``adjust_distances_km`` x ``adjust_frequencies_hz``, constant beyond.
    """
    R = np.atleast_1d(np.asarray(distance, dtype=np.float64))
    if not len(cfg.adjust_ln):
        return np.zeros((len(R), len(freqs)))
    table = np.asarray(cfg.adjust_ln, dtype=np.float64)  # (n_R, n_f)
    lr = np.log(np.asarray(cfg.adjust_distances_km, dtype=np.float64))
    lf = np.log(np.asarray(cfg.adjust_frequencies_hz, dtype=np.float64))
    by_f = np.stack([np.interp(np.log(np.clip(freqs, 1e-6, None)), lf, row) for row in table])  # (n_R, F)
    x = np.clip(np.log(R), lr[0], lr[-1])
    i = np.clip(np.searchsorted(lr, x) - 1, 0, max(len(lr) - 2, 0))
    if len(lr) == 1:
        return np.repeat(by_f, len(R), axis=0)
    w = ((x - lr[i]) / (lr[i + 1] - lr[i]))[:, None]
    return by_f[i] * (1.0 - w) + by_f[i + 1] * w


def _terms_rng(seed: int) -> np.random.Generator:
    """The stream of a generated waveform's event/site terms: event-term deviate, back
    azimuth, then the site draws (the noise uses the separate stream ``[seed, 0]``)."""
    return np.random.default_rng([seed, 1])


def draw_record_parameters(magnitude: np.ndarray, distance: np.ndarray, depth: np.ndarray, vs30: np.ndarray,
                           seeds: np.ndarray, cfg: StochasticConfig, event_term: bool = True,
                           site_resonance: bool = False) -> dict[str, np.ndarray]:
    """Site terms, back azimuth and (with ``event_term``) an event term drawn from each
    waveform's seed: every record gets its own site and back azimuth, and with ``event_term``
    its own stress-parameter deviate of sd ``source.stress_sigma_ln`` (independent events);
    without it every record has the median stress parameter (one median event, so the spread
    of the records is the within-event variability). The deviate is drawn either way, so the
    site and azimuth draws do not depend on the option.

    ``site_resonance``: draw a resonant soil layer for a share ``stations.resonance_fraction``
    of the soil sites, as the corpus network's stations have (the corpus's site
    distribution; with ``stations.resonance_centred`` the layers are centred on the Vs30 term,
    so the mean level stays the calibrated one); without it no site has a layer, and the Vs30
    term (BSSA14's, an average over sites) is the whole site response, as in the calibration
    against a GMM."""
    n = len(seeds)
    eps_event = np.empty(n)
    baz = np.empty(n)
    site_cols: dict[str, list] = {}
    no_layer = cfg.stations if site_resonance else dataclasses.replace(cfg.stations, resonance_fraction=0.0)
    for i, s in enumerate(seeds):
        rng = _terms_rng(int(s))
        eps_event[i], baz[i] = rng.standard_normal(), 360.0 * rng.random()
        st = draw_site_parameters(rng, np.array([vs30[i]]), no_layer)
        for k, v in st.items():
            site_cols.setdefault(k, []).append(v[0])
    sd_event = cfg.source.stress_sigma_ln if event_term else 0.0
    stress = median_stress_drop(magnitude, depth, cfg.source) * np.exp(sd_event * eps_event)
    out = {"magnitude": np.asarray(magnitude, float), "distance": np.asarray(distance, float),
           "depth": np.asarray(depth, float), "vs30": np.asarray(vs30, float),
           "stress_drop_bar": stress, "back_azimuth": baz}
    out.update({k: np.asarray(v, dtype=np.float64) for k, v in site_cols.items()})
    return out


# -- the simulation ------------------------------------------------------------------------
def _node_interp(freqs: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """(B, F) piece-wise linear interpolation in ln f of node values at 0.2, 2, 20 Hz."""
    ln_f = np.log(np.clip(freqs, 1e-6, None))
    x = np.log(np.array([0.2, 2.0, 20.0]))
    w = np.clip((ln_f[None, :] - x[0]) / (x[1] - x[0]), 0, 1)
    w2 = np.clip((ln_f[None, :] - x[1]) / (x[2] - x[1]), 0, 1)
    return (nodes[:, :1] * (1 - w) + nodes[:, 1:2] * w) * (ln_f[None, :] <= x[1]) + \
           (nodes[:, 1:2] * (1 - w2) + nodes[:, 2:3] * w2) * (ln_f[None, :] > x[1])


def _interp_weights(f_new: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights for linear interpolation in ln f from grid ``f`` onto ``f_new``
    (held constant outside ``f``; ``f_new = 0`` takes the first value)."""
    x = np.log(f)
    xn = np.log(np.clip(f_new, f[0], f[-1]))
    i = np.clip(np.searchsorted(x, xn) - 1, 0, len(f) - 2)
    w = (xn - x[i]) / (x[i + 1] - x[i])
    return i, w


def _interp_rows(values: np.ndarray, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(B, F_new) rows of ``values`` (B, F) interpolated with :func:`_interp_weights`."""
    return values[:, idx] * (1.0 - w) + values[:, idx + 1] * w


def ambient_noise_shape(freqs: np.ndarray) -> np.ndarray:
    """Relative amplitude spectrum of pre-event noise on K-NET/KiK-net records: a flat floor
    with the microseism bump (~0.4 Hz) and a cultural bump (~12 Hz), cut by the anti-alias
    filter above 30 Hz (shape read from the pre-event windows of the shared K-NET records)."""
    f = np.clip(freqs, 1e-3, None)
    psd = 0.3 + np.exp(-np.log(f / 0.4) ** 2 / (2 * 0.6**2)) + np.exp(-np.log(f / 12.0) ** 2 / (2 * 0.6**2))
    psd = psd / (1.0 + (f / 30.0) ** 16)
    return np.sqrt(psd)


def fourier_spectra(p: dict[str, np.ndarray], cfg: StochasticConfig, freqs: np.ndarray = _FREQS_COARSE
                    ) -> dict[str, np.ndarray]:
    """Rock (Vs30 = 760 m/s, with the station's kappa0) Fourier amplitude spectra of S and P.

    Returns ``S``, ``P`` (B, F) in m/s, and per record ``fc``, ``fc_p`` (Hz), ``Tgm_s`` (s),
    ``r_eff`` (km), ``pga_rock_g`` (pyrvt RVT peak of the rock S spectrum, g).
    """
    from pyrvt.motions import StaffordEtAl22Motion

    motion = _motion_class()
    src, path = cfg.source, cfg.path
    spreading = [(path.spreading_slope1, path.spreading_r1_km), (path.spreading_slope2, None)]
    amp_s = _crustal_amplification(1.0)
    amp_p = _crustal_amplification(cfg.site.p_crustal_exponent)
    n = len(p["magnitude"])
    out = {k: np.empty(n) for k in ("fc", "fc_p", "Tgm_s", "r_eff", "pga_rock_g")}
    S = np.empty((n, len(freqs)))
    P = np.empty((n, len(freqs)))
    p_scale = np.sqrt(2.0) * src.radiation_p / 0.55  # no horizontal partition, P radiation
    for i in range(n):
        m = float(p["magnitude"][i])
        h = float(pseudo_depth(m, src))
        args = dict(magnitude=m, distance=float(p["distance"][i]), pseudo_depth=h,
                    stress_drop=float(p["stress_drop_bar"][i]), density=src.density_gcc, q0=path.q0,
                    q_eta=path.q_eta, spreading=spreading, kappa=float(p["kappa0_s"][i]), freqs=freqs)
        ms = motion(velocity=src.beta_kms, site_amp=amp_s, **args)
        # P: corner p_corner_ratio * fc (pyrvt's fc scales with the velocity it is given)
        args["stress_drop"] *= (src.p_corner_ratio * src.beta_kms / src.alpha_kms) ** 3
        mp = motion(velocity=src.alpha_kms, site_amp=amp_p, **args)
        r_eff = ms.hypo_distance
        dur = StaffordEtAl22Motion.calc_duration(ms.corner_freq, r_eff)
        ms._duration = dur
        ms._fourier_amps = ms.fourier_amps * two_corner_factor(freqs, m, ms.corner_freq, src)  # g s
        S[i] = ms.fourier_amps * G
        P[i] = mp.fourier_amps * G * p_scale * two_corner_factor(freqs, m, mp.corner_freq, src)
        out["fc"][i], out["fc_p"][i], out["r_eff"][i] = ms.corner_freq, mp.corner_freq, r_eff
        out["Tgm_s"][i] = dur
        out["pga_rock_g"][i] = ms.calc_peak() if (cfg.site.nonlinear and p["vs30"][i] < 760.0) else 0.0
    out["S"], out["P"] = S, P
    return out


def simulate(params: dict[str, np.ndarray], seeds: np.ndarray, cfg: StochasticConfig = StochasticConfig(),
             return_info: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate one three-component acceleration record per row of ``params``.

    Parameters
    ----------
    params : dict of (B,) arrays with the keys of :data:`RECORD_PARAMETERS` (and optionally
        those of :data:`OPTIONAL_RECORD_PARAMETERS`).
    seeds : (B,) non-negative integers; record ``i`` depends only on ``seeds[i]`` and row ``i``.
    cfg : simulator configuration.
    return_info : also return per-record derived quantities (arrival samples, durations,
        corner frequencies, ...).

    Returns
    -------
    data : (B, 3, n_samples) float32 acceleration in m/s^2, components ``cfg.waveform.components``.
    info : dict of (B,) arrays (only with ``return_info``): ``tP``, ``tS`` (travel times, s),
        ``p_sample``, ``s_sample`` (arrival samples in the record), ``fc``, ``Tgm_s`` ...
    """
    from scipy import fft as sfft

    from quakesynth.data.preprocess import highpass

    missing = [k for k in RECORD_PARAMETERS if k not in params]
    if missing:
        raise ValueError(f"params lacks {missing}; needs {list(RECORD_PARAMETERS)}")
    seeds = np.asarray(seeds)
    B = len(seeds)
    p = {k: np.asarray(params[k], dtype=np.float64).reshape(B) for k in RECORD_PARAMETERS}
    p.update({k: np.broadcast_to(np.asarray(params.get(k, v), dtype=np.float64), (B,))
              for k, v in OPTIONAL_RECORD_PARAMETERS.items()})
    wcfg, scfg = cfg.waveform, cfg.site
    fs, dt = wcfg.fs, 1.0 / wcfg.fs
    n_out = wcfg.n_samples
    pad = int(round(wcfg.pad_s * fs))
    n_fft = sfft.next_fast_len(n_out + pad, real=True)
    t = np.arange(n_fft) * dt
    t_trunc = (n_out + pad // 2) * dt  # energy beyond never reaches the record; the rest is a wrap guard
    freqs = np.fft.rfftfreq(n_fft, dt)

    # -- arrivals, spectra, durations ---------------------------------------------------
    tt = travel_times(p["depth"], p["distance"], cfg.velocity)
    t_p = np.full(B, wcfg.p_onset_s)
    t_s = wcfg.p_onset_s + tt["tS"] - tt["tP"]
    spec = fourier_spectra(p, cfg)
    spec["Tgm_p"] = 1.0 / spec["fc_p"] + (t_s - t_p)  # P and its coda fill the S-P interval
    sin_i = np.clip(tt["pP"] * scfg.surface_vp_kms, 0.0, 1.0)
    cos_i = np.sqrt(1.0 - sin_i**2)

    # -- windows (B, n_fft) and their energy over the full support -----------------------
    f32 = np.float32
    sh = dict(eta=wcfg.window_eta, f_tgm=wcfg.window_ftgm)
    eps_p = window_peak_fraction(spec["Tgm_p"], 1.0 / spec["fc_p"], wcfg)
    eps_s = window_peak_fraction(spec["Tgm_s"], 1.0 / spec["fc"], wcfg)
    t32 = t.astype(f32)[None, :]
    keep = (t < t_trunc)[None, :]
    w_p = saragoni_hart_window(t32 - t_p[:, None].astype(f32), spec["Tgm_p"][:, None], eps_p[:, None], **sh) * keep
    w_s = saragoni_hart_window(t32 - t_s[:, None].astype(f32), spec["Tgm_s"][:, None], eps_s[:, None], **sh) * keep
    e_p = saragoni_hart_energy(spec["Tgm_p"], eps_p, **sh)
    e_s = saragoni_hart_energy(spec["Tgm_s"], eps_s, **sh)
    path = cfg.path
    f_ref = 3.0
    tau = path.coda_q0 * f_ref**path.coda_eta / (np.pi * f_ref)  # amplitude decay time of the coda, s
    # single back-scattering (Aki & Chouet 1975): amplitude ~ t^-1 exp(-pi f t / Qc) in lapse
    # time t since the origin, from the coda start t_c (a 1 s cosine onset) to 3 tau later
    t_c = t_s + path.coda_start * spec["Tgm_s"]
    lapse_c = (t_c - t_p + tt["tP"])[:, None]  # lapse time of the coda start, s
    length, rise = 3.0 * tau, 1.0
    w_c = coda_envelope(t32 - t_c[:, None].astype(f32), lapse_c, tau, length, rise) * keep
    xs = np.linspace(0.0, length, 2049)[None, :]
    e_c = np.trapezoid(coda_envelope(xs, lapse_c, tau, length, rise) ** 2, xs, axis=-1)  # full energy, s

    # -- per-record randomness: path term and noise (only where the windows are non-zero) ---
    # The S packet and its coda share one noise series per component: a sum of independent
    # Gaussian noises under envelopes w1, w2 is Gaussian noise under sqrt(w1^2 + w2^2).
    i_p = np.floor(t_p * fs).astype(int)
    i_s = np.floor(t_s * fs).astype(int)
    i_end = int(np.ceil(t_trunc * fs))
    path_nodes = np.empty((B, 3))
    sd_path = path_sigma(p["magnitude"], cfg.variability)
    noise = np.zeros((B, 8, n_fft), dtype=f32)  # P: ZR, T; S+coda: R, T, Z; ambient: Z, R, T
    for i, s in enumerate(seeds):
        rng = np.random.default_rng([int(s), 0])
        path_nodes[i] = site_node_terms(rng, 1, float(sd_path[i]), cfg.variability.path_node_correlation)[0]
        noise[i, 0:2, i_p[i]:i_end] = rng.standard_normal((2, max(i_end - i_p[i], 0)), dtype=f32)
        noise[i, 2:5, i_s[i]:i_end] = rng.standard_normal((3, max(i_end - i_s[i], 0)), dtype=f32)
        noise[i, 5:8, :n_out] = rng.standard_normal((3, n_out), dtype=f32)

    # -- smooth spectral terms on the coarse grid, then one interpolation (B, F) -----------
    fc_grid = _FREQS_COARSE
    ln_site = bssa14_ln_site_amplification(fc_grid, p["vs30"], spec["pga_rock_g"])
    nodes_site = np.stack([p["site_term_low"], p["site_term_mid"], p["site_term_high"]], axis=1)
    ln_h = ln_site + _node_interp(fc_grid, nodes_site) + _node_interp(fc_grid, path_nodes)
    ln_v = scfg.vertical_site_exponent * ln_site + _node_interp(fc_grid, nodes_site) + _node_interp(fc_grid, path_nodes)
    centred = np.flatnonzero(p["resonance_centring"] > 0)
    if len(centred):  # the network's mean layer amplification, taken off all its soil sites
        share = p["resonance_centring"][centred, None]
        ln_h[centred] -= share * layer_mean_ln_amplification(fc_grid, p["vs30"][centred], cfg.stations)
        ln_v[centred] -= share * layer_mean_ln_amplification(fc_grid, p["vs30"][centred], cfg.stations,
                                                             soil_vp_vs=scfg.soil_vp_vs)
    ln_vh = np.log(scfg.vh_low) + (np.log(scfg.vh_high) - np.log(scfg.vh_low)) / (1.0 + (scfg.vh_corner_hz / fc_grid) ** 2)
    ln_adj = path_adjustment(fc_grid, p["distance"], cfg.path)
    ln_s, ln_p = np.log(spec["S"]) + ln_adj, np.log(spec["P"]) + ln_adj
    idx, wgt = _interp_weights(freqs, fc_grid)
    aa = 1.0 / np.sqrt(1.0 + (freqs / wcfg.antialias_hz) ** (2 * wcfg.antialias_order))
    aa[0] = 0.0  # no static offset
    aa32, wgt32 = aa.astype(f32), wgt.astype(f32)
    fine = {k: np.exp(_interp_rows(v.astype(f32), idx, wgt32)) * aa32[None, :] for k, v in {
        "SH": ln_s + ln_h, "SV": ln_s + ln_vh[None, :] + ln_v, "PH": ln_p + ln_h, "PV": ln_p + ln_v}.items()}
    res = np.isfinite(p["f0_hz"])
    if res.any():  # sharp resonances on the fine grid, only for the rows that have one
        rows = np.flatnonzero(res)
        res_h = layer_transfer_function(freqs, p["f0_hz"][rows], p["impedance_ratio"][rows], p["damping"][rows])
        alpha_p = np.clip(p["impedance_ratio"][rows] * scfg.soil_vp_vs / np.sqrt(3.0), 0.0, 1.0)
        res_v = layer_transfer_function(freqs, p["f0_hz"][rows] * scfg.soil_vp_vs, alpha_p, p["damping"][rows])
        for k in ("SH", "PH"):
            fine[k][rows] *= res_h.astype(f32)
        for k in ("SV", "PV"):
            fine[k][rows] *= res_v.astype(f32)
    noise_shape = ambient_noise_shape(freqs)
    noise_shape = noise_shape / np.sqrt(np.mean(noise_shape**2))

    # -- windowed, normalised noise spectra (Boore 2003) ---------------------------------
    # unit-energy envelopes (full support); the S envelope carries the coda's extra energy
    w_p = w_p / np.sqrt(e_p)[:, None].astype(f32)
    w_sc = np.sqrt(w_s**2 / e_s[:, None].astype(f32) + f32(path.coda_energy_ratio) * w_c**2 / e_c[:, None].astype(f32))
    noise[:, 0:2] *= w_p[:, None]
    noise[:, 2:5] *= w_sc[:, None]
    X = sfft.rfft(noise, axis=-1)  # (B, 8, F); the factor dt cancels in the normalisation
    ms = np.mean(X[:, :5].real ** 2 + X[:, :5].imag ** 2, axis=-1, dtype=np.float64)  # realised mean square
    # Boore's unit-rms normalisation times the share of the window's energy inside the buffer
    e_kept = np.stack([np.sum(w.astype(np.float64) ** 2, axis=-1) * dt for w in (w_p, w_sc)], axis=1)[:, [0, 0, 1, 1, 1]]
    scale = np.where(ms > 0, np.sqrt(e_kept / np.clip(ms, 1e-300, None)), 0.0).astype(f32)
    Xn = X[:, :5] * scale[:, :, None]
    Pz = Xn[:, 0]
    Z = fine["PV"] * cos_i[:, None].astype(f32) * Pz + fine["SV"] * Xn[:, 4]
    R = fine["PH"] * sin_i[:, None].astype(f32) * Pz + fine["SH"] * Xn[:, 2]
    T = fine["PH"] * f32(scfg.p_transverse_ratio) * Xn[:, 1] + fine["SH"] * Xn[:, 3]
    Y = np.stack([Z, R, T], axis=1)  # (B, 3, F), m/s
    Y += X[:, 5:8] * (noise_shape[None, None, :].astype(f32) * (p["noise_rms_mps2"][:, None, None] * dt).astype(f32))
    y = sfft.irfft(Y, n=n_fft, axis=-1)[..., :n_out].astype(np.float64) / dt  # (B, 3, T) m/s^2
    y = highpass(y, fs, freq=wcfg.highpass_hz, order=wcfg.highpass_order, causal=True)
    if wcfg.components == "ZNE":
        baz = np.radians(p["back_azimuth"])[:, None]
        r, tr = y[:, 1], y[:, 2]
        # ObsPy's rotate_rt_ne convention: n = -r cos(baz) + t sin(baz), e = -r sin(baz) - t cos(baz)
        y = np.stack([y[:, 0], -r * np.cos(baz) + tr * np.sin(baz), -r * np.sin(baz) - tr * np.cos(baz)], axis=1)
    data = np.ascontiguousarray(y, dtype=np.float32)
    if not return_info:
        return data
    info = {"tP": tt["tP"], "tS": tt["tS"], "p_sample": t_p * fs, "s_sample": t_s * fs,
            "epicentral_km": tt["epicentral_km"], "incidence_sin": sin_i,
            **{k: spec[k] for k in ("fc", "fc_p", "Tgm_s", "Tgm_p", "r_eff", "pga_rock_g")}}
    return data, info
