"""Site response of the stochastic simulator: Vs30 scaling, 1-D resonance, station tables.

Three pieces act on the Fourier amplitude spectrum at the surface, after the rock
(Vs30 = 760 m/s) spectrum of :mod:`quakesynth.simulate.stochastic`:

1. **Vs30 scaling** -- the site term of Boore, Stewart, Seyhan & Atkinson (2014, Earthquake
   Spectra 30(3), 1057-1085; "BSSA14"), equations 6-8: a linear term
   ``c ln(min(Vs30, Vc) / 760)`` and a nonlinear term ``f2 ln((PGAr + f3) / f3)`` that
   de-amplifies soft sites under strong rock shaking PGAr (g). The coefficients are
   BSSA14's for 5%-damped PSA; we apply the term at period ``T = 1/f`` to the Fourier
   spectrum, the usual approximation when a response-spectral site term drives a stochastic
   simulation. Using BSSA14's own term keeps the simulator's Vs30 scaling consistent with
   the GMM it is calibrated against. The coefficients are tabulated below (a subset of
   BSSA14's periods, interpolated in ln T); a test compares them with OpenQuake's table.
2. **1-D resonance** -- a damped soil layer over an elastic half-space (Kramer 1996,
   *Geotechnical Earthquake Engineering*, sec. 7.2.1): vertically incident SH waves give the
   horizontal transfer function ``1 / |cos(k* H) + i alpha* sin(k* H)|`` with
   ``k* H = (pi/2)(f/f0)/(1 + i xi)``, fundamental frequency ``f0 = Vs/4H`` and impedance
   ratio ``alpha = rho_s Vs / (rho_r Vr)``, peak ``~ 1/(alpha + pi xi / 2)``. The vertical
   component sees the P-wave resonance of the same layer, at ``(Vp/Vs)_soil f0`` and with a
   weaker contrast, so the horizontal-to-vertical ratio peaks at f0 (the basis of HVSR,
   Nakamura 1989; Lermo & Chavez-Garcia 1993).
3. **Station terms** -- a station's kappa0 (Anderson & Hough 1984) and a smooth random
   amplification (delta S2S, three nodes in ln f), drawn once per station.

The Vs30 term is a GMM's: the *average* response of the sites of that Vs30, resonant or not.
A layer drawn on top of it lifts the network's mean (the layer amplifies, ``|H| >= 1`` up to
its first peaks), by about 0.1 log10 in PGA at Vs30 400 m/s with half the soil sites layered.
``StationConfig.resonance_centred`` keeps the mean where the GMM puts it: every soil site of
a network with layers has its smooth amplification lowered by the network's mean layer
amplification at its Vs30 (:func:`layer_mean_ln_amplification` times the layered share, the
record parameter ``resonance_centring``). Layered sites then sit above the Vs30 term near
their resonances and the others below it, and the network's mean log of the band-averaged
energy amplification (what response spectra and peaks see) is the Vs30 term's: the mean log
PSA stays within 0.01 log10 of the no-layer level (``benchmarks/results/default_model.md``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quakesynth.seeds import keyed_rng

#: BSSA14 site coefficients (Boore et al. 2014, Table 2): period T (s; 0.01 also stands for
#: PGA), c, Vc (m/s), f4, f5 (1/(m/s)). f1 = 0, f3 = 0.1 g, Vref = 760 m/s.
BSSA14_SITE = np.array([
    # T       c          Vc        f4         f5
    [0.010, -0.603720, 1500.20, -0.148330, -0.007010],
    [0.020, -0.573880, 1500.36, -0.147100, -0.007280],
    [0.030, -0.534140, 1502.95, -0.154850, -0.007350],
    [0.050, -0.457950, 1501.42, -0.192000, -0.006470],
    [0.075, -0.444110, 1494.00, -0.235000, -0.005730],
    [0.100, -0.487240, 1479.12, -0.249160, -0.005600],
    [0.150, -0.579620, 1442.85, -0.257130, -0.005850],
    [0.200, -0.687620, 1392.61, -0.246580, -0.006140],
    [0.300, -0.841650, 1308.47, -0.219120, -0.006700],
    [0.400, -0.910920, 1252.66, -0.195820, -0.007130],
    [0.500, -0.969300, 1203.91, -0.175000, -0.007440],
    [0.750, -1.015400, 1147.59, -0.138660, -0.008120],
    [1.000, -1.050000, 1109.95, -0.105210, -0.008440],
    [1.500, -1.045400, 1072.39, -0.062000, -0.007710],
    [2.000, -1.039200, 1009.49, -0.036136, -0.004790],
    [3.000, -1.011200, 922.43, -0.013577, -0.001830],
    [4.000, -0.969380, 844.48, -0.003212, -0.001520],
    [5.000, -0.919540, 793.13, -0.000255, -0.001440],
    [7.500, -0.776650, 771.01, -0.000055, -0.001370],
    [10.00, -0.655750, 775.00, 0.000000, -0.001360],
])
BSSA14_VREF = 760.0  # reference Vs30 of BSSA14, m/s
BSSA14_F3 = 0.1  # g


def bssa14_site_coefficients(freqs_hz: np.ndarray) -> dict[str, np.ndarray]:
    """BSSA14 site coefficients ``c, Vc, f4, f5`` at periods ``1/f`` (linear in ln T, held
    constant outside 0.01-10 s). ``freqs_hz`` has any shape; the outputs have its shape."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    ln_t = np.log(1.0 / np.clip(f, 1e-6, None))
    table_ln_t = np.log(BSSA14_SITE[:, 0])
    return {name: np.interp(ln_t, table_ln_t, BSSA14_SITE[:, k])
            for k, name in enumerate(("c", "Vc", "f4", "f5"), start=1)}


def bssa14_ln_site_amplification(freqs_hz: np.ndarray, vs30_mps: np.ndarray,
                                 pga_rock_g: np.ndarray | float = 0.0) -> np.ndarray:
    """ln of the BSSA14 site amplification relative to Vs30 = 760 m/s (linear + nonlinear).

    Parameters
    ----------
    freqs_hz : (F,) frequencies, Hz (the term of period 1/f is used).
    vs30_mps : (B,) Vs30, m/s.
    pga_rock_g : (B,) or scalar median PGA on the reference rock (Vs30 = 760 m/s), g.

    Returns
    -------
    (B, F) array of ln amplification.

    >>> a = bssa14_ln_site_amplification(np.array([1.0]), np.array([380.0]))
    >>> round(float(a[0, 0]), 3)  # c(T=1 s) * ln(380/760)
    0.728
    """
    co = bssa14_site_coefficients(freqs_hz)
    v = np.atleast_1d(np.asarray(vs30_mps, dtype=np.float64))[:, None]
    pga = np.broadcast_to(np.asarray(pga_rock_g, dtype=np.float64), v.shape[:1])[:, None]
    f_lin = co["c"][None, :] * np.log(np.minimum(v, co["Vc"][None, :]) / BSSA14_VREF)
    v_nl = np.minimum(v, BSSA14_VREF)
    f2 = co["f4"][None, :] * (np.exp(co["f5"][None, :] * (v_nl - 360.0))
                              - np.exp(co["f5"][None, :] * (BSSA14_VREF - 360.0)))
    f_nl = f2 * np.log((pga + BSSA14_F3) / BSSA14_F3)
    return f_lin + f_nl


def layer_transfer_function(freqs_hz: np.ndarray, f0_hz: np.ndarray, impedance_ratio: np.ndarray,
                            damping: np.ndarray) -> np.ndarray:
    """Modulus of the transfer function of a damped layer over an elastic half-space.

    Outcrop-to-surface amplification for vertically incident waves (Kramer 1996, eq. 7.29
    with complex impedance): ``|1 / (cos(k* H) + i alpha sin(k* H))|`` with
    ``k* H = (pi/2) (f/f0) / (1 + i xi)``. Rows with ``f0`` NaN get 1 (no layer).

    Parameters
    ----------
    freqs_hz : (F,) frequencies, Hz.
    f0_hz : (B,) fundamental frequencies Vs/4H, Hz.
    impedance_ratio : (B,) alpha = rho_s Vs / (rho_r Vr) in (0, 1].
    damping : (B,) soil damping ratio xi.

    Returns
    -------
    (B, F) amplification (1 at f -> 0, peak ~ 1/(alpha + pi xi/2) at f0).

    >>> h = layer_transfer_function(np.array([2.0]), np.array([2.0]), np.array([0.2]), np.array([0.0]))
    >>> round(float(h[0, 0]), 6)
    5.0
    """
    f = np.asarray(freqs_hz, dtype=np.float64)[None, :]
    f0 = np.atleast_1d(np.asarray(f0_hz, dtype=np.float64))
    out = np.ones((len(f0), f.shape[1]))
    rows = np.flatnonzero(np.isfinite(f0))
    if len(rows):
        alpha = np.broadcast_to(np.asarray(impedance_ratio, dtype=np.float64), f0.shape)[rows, None]
        xi = np.broadcast_to(np.asarray(damping, dtype=np.float64), f0.shape)[rows, None]
        # k* H = x / (1 + i xi) = u - i v; expand cos and sin of the complex argument
        x = 0.5 * np.pi * f / f0[rows, None]
        u, v = x / (1.0 + xi**2), x * xi / (1.0 + xi**2)
        ch, sh = np.cosh(v), np.sinh(v)
        out[rows] = 1.0 / np.sqrt((np.cos(u) * (ch + alpha * sh)) ** 2 + (np.sin(u) * (sh + alpha * ch)) ** 2)
    return out


#: Quadrature of :func:`layer_mean_ln_amplification`: midpoints in thickness (log-uniform),
#: impedance ratio and damping (uniform). 96 thicknesses put neighbouring f0 2.7 % apart for
#: the default 5-60 m, under the width of a 2-5 %-damped peak.
_LAYER_QUADRATURE = (96, 4, 2)
#: Width (sd of a Gaussian in ln f) of the band over which a layer's energy amplification is
#: averaged before its log is taken: response spectra and peaks see the energy of a band, not
#: the log of a sharp peak. 0.25 centres the simulator's mean log10 PSA (0.05-1 s) within
#: 0.007 of the no-layer level at Vs30 250 and 400 m/s (the mean of ln |H| itself leaves
#: +0.015-0.027; ``benchmarks/results/default_model.md``, session 16).
LAYER_CENTRING_BANDWIDTH_LN = 0.25
_CENTRING_VS30_NODES = np.geomspace(80.0, BSSA14_VREF, 48)  # m/s, interpolated in ln Vs30


def layer_mean_ln_amplification(freqs_hz: np.ndarray, vs30_mps: np.ndarray, cfg: StationConfig,
                                 soil_vp_vs: float | None = None) -> np.ndarray:
    """Mean ln amplification of the resonant layers :func:`draw_site_parameters` draws for a
    layered soil site of Vs30 ``vs30_mps``, the quantity by which ``resonance_centred`` lowers
    its network's soil sites (times the layered share).

    Per layer the amplification is taken in energy over a band,
    ``0.5 ln(sum_f' w(f, f') |H(f')|^2)`` with ``w`` a Gaussian in ln f of sd
    :data:`LAYER_CENTRING_BANDWIDTH_LN`, then averaged over the layer's random thickness,
    impedance ratio and damping (a layer whose ``f0`` falls outside ``f0_min_hz``-``f0_max_hz``
    is dropped and counts as 1). Computed on a Vs30 grid (80-760 m/s, each node once per
    configuration, when first needed) and interpolated in ln Vs30; 0 from 760 m/s, where no
    layer is drawn.

    With ``soil_vp_vs``, the vertical component's P resonance of the same layers (at
    ``soil_vp_vs * f0``, impedance ratio ``alpha soil_vp_vs / sqrt(3)``, as the simulator
    applies it).

    Parameters
    ----------
    freqs_hz : (F,) positive frequencies, Hz.
    vs30_mps : (B,) Vs30 of the sites, m/s (the layer's Vs; ``f0 = Vs30 / 4H``).
    cfg : the station configuration (layer ranges).
    soil_vp_vs : Vp/Vs of the layer for the vertical component; None: horizontal (SH).

    Returns
    -------
    (B, F) mean ln amplification (0 at f -> 0, about 0.2-0.25 at 3-12 Hz for Vs30 400 m/s).

    >>> m = layer_mean_ln_amplification(np.array([0.05, 5.0]), np.array([400.0, 900.0]), StationConfig())
    >>> bool(abs(m[0, 0]) < 1e-3 and m[0, 1] > 0.15 and m[1, 1] == 0.0)
    True
    """
    f = np.asarray(freqs_hz, dtype=np.float64).reshape(-1)
    vs30 = np.atleast_1d(np.asarray(vs30_mps, dtype=np.float64))
    x = np.log(_CENTRING_VS30_NODES)
    xv = np.log(np.clip(vs30, _CENTRING_VS30_NODES[0], BSSA14_VREF))
    i = np.clip(np.searchsorted(x, xv) - 1, 0, len(x) - 2)
    w = ((xv - x[i]) / (x[i + 1] - x[i]))[:, None]
    rows = {k: _centring_row(f.tobytes(), cfg, soil_vp_vs, int(k)) for k in np.unique(np.concatenate([i, i + 1]))}
    lo = np.stack([rows[k] for k in i])
    hi = np.stack([rows[k + 1] for k in i])
    return np.where((vs30 < BSSA14_VREF)[:, None], lo * (1.0 - w) + hi * w, 0.0)


@functools.lru_cache(maxsize=512)
def _centring_row(freqs_bytes: bytes, cfg: StationConfig, soil_vp_vs: float | None, node: int) -> np.ndarray:
    """(F,) :func:`layer_mean_ln_amplification` at the Vs30 node ``_CENTRING_VS30_NODES[node]``
    (computed when first needed: a scenario's waveforms need two nodes, a corpus all of them)."""
    f = np.frombuffer(freqs_bytes, dtype=np.float64)
    sd = LAYER_CENTRING_BANDWIDTH_LN
    fine = np.exp(np.arange(np.log(f.min()) - 4 * sd, np.log(f.max()) + 4 * sd, sd / 8))
    kernel = np.exp(-0.5 * ((np.log(f)[:, None] - np.log(fine)[None, :]) / sd) ** 2)
    kernel /= kernel.sum(axis=1, keepdims=True)  # (F, F_fine)
    u_h, u_a, u_x = ((np.arange(k) + 0.5) / k for k in _LAYER_QUADRATURE)
    thick = cfg.layer_thickness_min_m * (cfg.layer_thickness_max_m / cfg.layer_thickness_min_m) ** u_h
    alpha = cfg.impedance_ratio_min + (cfg.impedance_ratio_max - cfg.impedance_ratio_min) * u_a
    xi = cfg.damping_min + (cfg.damping_max - cfg.damping_min) * u_x
    th, al, xx = (g.ravel() for g in np.meshgrid(thick, alpha, xi, indexing="ij"))
    if soil_vp_vs is not None:
        al = np.clip(al * soil_vp_vs / np.sqrt(3.0), 0.0, 1.0)
    f0 = _CENTRING_VS30_NODES[node] / (4.0 * th)
    f0 = np.where((f0 >= cfg.f0_min_hz) & (f0 <= cfg.f0_max_hz), f0, np.nan)
    if soil_vp_vs is not None:
        f0 = f0 * soil_vp_vs
    h2 = layer_transfer_function(fine, f0, al, xx) ** 2  # (layers, F_fine)
    return 0.5 * np.log(h2 @ kernel.T).mean(axis=0)


# -- station tables ----------------------------------------------------------------------
@dataclass(frozen=True)
class StationConfig:
    """How a synthetic station network is drawn (see :func:`make_station_table`)."""

    n_stations: int = 500  # number of stations in the table
    vs30_median_mps: float = 400.0  # median Vs30 (K-NET/KiK-net sites: ~300-500), m/s
    vs30_sigma_ln: float = 0.5  # standard deviation of ln Vs30
    vs30_min_mps: float = 100.0  # lower clip of Vs30, m/s
    vs30_max_mps: float = 2000.0  # upper clip of Vs30, m/s
    kappa0_median_s: float = 0.022  # median kappa0 at Vs30 = 760 m/s (calibrated; see stochastic.py), s
    kappa0_sigma_ln: float = 0.4  # station-to-station standard deviation of ln kappa0
    site_sigma_ln: float = 0.42  # station-to-station sd of the smooth ln amplification (delta S2S)
    site_node_correlation: float = 0.5  # correlation of delta S2S between its three frequency nodes
    resonance_fraction: float = 0.5  # fraction of soil stations (Vs30 < 760) with a resonant layer
    resonance_centred: bool = False  # centre the layers on the Vs30 term (see the module docstring)
    layer_thickness_min_m: float = 5.0  # resonant layer thickness H, lower bound (log-uniform), m
    layer_thickness_max_m: float = 60.0  # resonant layer thickness H, upper bound, m
    impedance_ratio_min: float = 0.1  # alpha = rho_s Vs / (rho_r Vr) of the layer, lower bound (uniform)
    impedance_ratio_max: float = 0.4  # upper bound: a contrast of 2.5 or more, a clear HVSR peak
    damping_min: float = 0.02  # soil damping ratio, lower bound
    damping_max: float = 0.05  # soil damping ratio, upper bound
    f0_min_hz: float = 0.5  # resonances below this are dropped, Hz
    f0_max_hz: float = 15.0  # resonances above this are dropped, Hz
    noise_rms_median_mps2: float = 3e-6  # median pre-event noise rms (K-NET/KiK-net records), m/s^2
    noise_sigma_ln: float = 0.8  # station-to-station sd of ln noise rms
    lat0_deg: float = 36.0  # centre of the station box, degrees north
    lon0_deg: float = 138.0  # centre of the station box, degrees east
    half_width_km: float = 220.0  # half side of the (square) station box, km


#: Columns of a station table, their units and meaning.
STATION_COLUMNS = {
    "station_code": "station code",
    "station_latitude_deg": "degrees north",
    "station_longitude_deg": "degrees east",
    "x_km": "east of the box centre, km",
    "y_km": "north of the box centre, km",
    "vs30_mps": "Vs30, m/s",
    "kappa0_s": "site kappa0, s",
    "site_term_low": "delta S2S at 0.2 Hz, ln units",
    "site_term_mid": "delta S2S at 2 Hz, ln units",
    "site_term_high": "delta S2S at 20 Hz, ln units",
    "f0_hz": "fundamental frequency of the resonant layer, Hz (NaN: none)",
    "impedance_ratio": "alpha = rho_s Vs / (rho_r Vr) of the layer",
    "damping": "damping ratio of the layer",
    "noise_rms_mps2": "pre-event noise rms, m/s^2",
    "resonance_centring": "share of the network's soil sites with a layer when the layers are centred on "
                          "the Vs30 term (0: not centred)",
}

KM_PER_DEG = 111.19  # km per degree of latitude (mean Earth radius 6371 km)


def km_to_latlon(x_km: np.ndarray, y_km: np.ndarray, lat0: float, lon0: float) -> tuple[np.ndarray, np.ndarray]:
    """Local equirectangular projection back to degrees (accurate to ~0.5% over 400 km)."""
    lat = lat0 + np.asarray(y_km) / KM_PER_DEG
    lon = lon0 + np.asarray(x_km) / (KM_PER_DEG * np.cos(np.radians(lat0)))
    return lat, lon


def site_node_terms(rng: np.random.Generator, n: int, sigma: float, rho: float) -> np.ndarray:
    """(n, 3) correlated normal terms (sd ``sigma``, inter-node correlation ``rho``)."""
    common = rng.standard_normal((n, 1))
    own = rng.standard_normal((n, 3))
    return sigma * (np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own)


def draw_site_parameters(rng: np.random.Generator, vs30_mps: np.ndarray, cfg: StationConfig) -> dict[str, np.ndarray]:
    """Random station parameters (kappa0, delta S2S, resonance, noise) for given Vs30 values."""
    vs30 = np.asarray(vs30_mps, dtype=np.float64)
    n = len(vs30)
    kappa0 = cfg.kappa0_median_s * np.exp(cfg.kappa0_sigma_ln * rng.standard_normal(n))
    nodes = site_node_terms(rng, n, cfg.site_sigma_ln, cfg.site_node_correlation)
    # resonant layer: Vs of the layer ~ Vs30 (the top 30 m are mostly the layer), H log-uniform
    u = rng.random((n, 4))
    thick = cfg.layer_thickness_min_m * (cfg.layer_thickness_max_m / cfg.layer_thickness_min_m) ** u[:, 0]
    f0 = vs30 / (4.0 * thick)
    alpha = cfg.impedance_ratio_min + (cfg.impedance_ratio_max - cfg.impedance_ratio_min) * u[:, 1]
    xi = cfg.damping_min + (cfg.damping_max - cfg.damping_min) * u[:, 2]
    resonant = ((u[:, 3] < cfg.resonance_fraction) & (vs30 < BSSA14_VREF)
                & (f0 >= cfg.f0_min_hz) & (f0 <= cfg.f0_max_hz))
    noise = cfg.noise_rms_median_mps2 * np.exp(cfg.noise_sigma_ln * rng.standard_normal(n))
    share = cfg.resonance_fraction if cfg.resonance_centred else 0.0
    return {"kappa0_s": kappa0, "site_term_low": nodes[:, 0], "site_term_mid": nodes[:, 1],
            "site_term_high": nodes[:, 2], "f0_hz": np.where(resonant, f0, np.nan),
            "impedance_ratio": np.where(resonant, alpha, np.nan), "damping": np.where(resonant, xi, np.nan),
            "noise_rms_mps2": noise, "resonance_centring": np.where(vs30 < BSSA14_VREF, share, 0.0)}


def make_station_table(cfg: StationConfig = StationConfig(), seed: int = 0) -> pd.DataFrame:
    """A synthetic station network: positions in a square box, Vs30, kappa0, site terms,
    optional resonant layer (``f0_hz``; NaN for none) and noise level. Columns:
    :data:`STATION_COLUMNS`. Deterministic in ``seed``."""
    if cfg.n_stations <= 0:
        raise ValueError(f"n_stations must be positive; got {cfg.n_stations}")
    rng = keyed_rng(seed, 0xC0DE5)
    n = cfg.n_stations
    xy = rng.uniform(-cfg.half_width_km, cfg.half_width_km, size=(n, 2))
    vs30 = np.clip(cfg.vs30_median_mps * np.exp(cfg.vs30_sigma_ln * rng.standard_normal(n)),
                   cfg.vs30_min_mps, cfg.vs30_max_mps)
    params = draw_site_parameters(rng, vs30, cfg)
    lat, lon = km_to_latlon(xy[:, 0], xy[:, 1], cfg.lat0_deg, cfg.lon0_deg)
    table = pd.DataFrame({
        "station_code": [f"S{i:04d}" for i in range(n)],
        "station_latitude_deg": lat, "station_longitude_deg": lon,
        "x_km": xy[:, 0], "y_km": xy[:, 1], "vs30_mps": vs30, **params,
    })
    return table[list(STATION_COLUMNS)]
