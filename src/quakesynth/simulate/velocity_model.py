"""1-D layered crustal velocity model and first-arrival P and S travel times.

The simulator places the P onset of every record at a fixed time after the window start and
the S onset at the S-P time of the source depth and hypocentral distance. Times come from a
flat, horizontally layered model with constant velocity in each layer: the first arrival is
the earliest of the direct ray (found by shooting on the ray parameter) and the head waves
along every interface below the source that are past their critical distance (Shearer 2009,
*Introduction to Seismology*, ch. 4; Lay & Wallace 1995, ch. 3).

The default model is the crust and uppermost mantle of ak135 (Kennett, Engdahl & Buland
1995, GJI 122, 108-124): 0-20 km Vp 5.8 / Vs 3.46 km/s, 20-35 km 6.5 / 3.85 km/s, mantle
8.04 / 4.48 km/s. Its Moho depth (35 km) and crustal velocities are within the range of the
1-D models used for routine locations in Japan (e.g. JMA2001, Ueno et al. 2002); the
S-P constant it implies, Rhyp = 8.6 km/s x (tS - tP), is the usual Omori coefficient (~8).
ObsPy ships the same numbers in ``obspy/taup/data/ak135.tvel``; a test cross-checks the
layered times against ObsPy's TauP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VelocityModel:
    """A stack of constant-velocity layers over a half-space (the last layer)."""

    name: str = "ak135-crust"  # label stored with the corpus
    layer_tops_km: tuple[float, ...] = (0.0, 20.0, 35.0)  # depth of each layer's top, km (first is 0)
    vp_kms: tuple[float, ...] = (5.8, 6.5, 8.04)  # P-wave velocity of each layer, km/s
    vs_kms: tuple[float, ...] = (3.46, 3.85, 4.48)  # S-wave velocity of each layer, km/s

    def __post_init__(self) -> None:
        n = len(self.layer_tops_km)
        if n == 0 or len(self.vp_kms) != n or len(self.vs_kms) != n:
            raise ValueError(f"velocity model {self.name!r}: layer_tops_km, vp_kms and vs_kms must "
                             f"have the same non-zero length; got {n}, {len(self.vp_kms)}, {len(self.vs_kms)}")
        if self.layer_tops_km[0] != 0.0 or np.any(np.diff(self.layer_tops_km) <= 0):
            raise ValueError(f"layer_tops_km must start at 0 and increase; got {self.layer_tops_km}")
        if min(self.vp_kms) <= 0 or min(self.vs_kms) <= 0:
            raise ValueError("velocities must be positive")

    def velocities(self, phase: str) -> np.ndarray:
        """Layer velocities (km/s) of ``phase`` ("P" or "S")."""
        if phase == "P":
            return np.asarray(self.vp_kms, dtype=np.float64)
        if phase == "S":
            return np.asarray(self.vs_kms, dtype=np.float64)
        raise ValueError(f"phase must be 'P' or 'S'; got {phase!r}")

    def at_depth(self, depth_km: np.ndarray, phase: str) -> np.ndarray:
        """Velocity (km/s) at each depth (the layer containing it; a top belongs to its layer)."""
        idx = np.searchsorted(np.asarray(self.layer_tops_km), np.asarray(depth_km), side="right") - 1
        return self.velocities(phase)[np.clip(idx, 0, len(self.layer_tops_km) - 1)]


#: The default model (ak135 crust, Kennett et al. 1995).
AK135_CRUST = VelocityModel()


def _thickness_above(tops: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Thickness (km) of each layer lying between the surface and ``depth``: (B, L)."""
    bottoms = np.append(tops[1:], np.inf)
    return np.clip(np.minimum(bottoms[None, :], depth[:, None]) - tops[None, :], 0.0, None)


def first_arrival(depth_km: np.ndarray, epicentral_km: np.ndarray, model: VelocityModel = AK135_CRUST,
                  phase: str = "P") -> tuple[np.ndarray, np.ndarray]:
    """First-arrival travel time and ray parameter from a source at depth to a surface receiver.

    Parameters
    ----------
    depth_km : (B,) source depths, km (>= 0).
    epicentral_km : (B,) epicentral distances, km (>= 0).
    model : layered velocity model.
    phase : ``"P"`` or ``"S"``.

    Returns
    -------
    time_s : (B,) travel time of the first arrival, s.
    p_skm : (B,) its ray parameter (horizontal slowness), s/km; the incidence angle at the
        surface is ``arcsin(p * v_surface)``.

    >>> t, p = first_arrival(np.array([10.0]), np.array([0.0]), phase="P")
    >>> round(float(t[0]), 3), float(p[0])
    (1.724, 0.0)
    """
    z = np.atleast_1d(np.asarray(depth_km, dtype=np.float64))
    x = np.atleast_1d(np.asarray(epicentral_km, dtype=np.float64))
    z, x = np.broadcast_arrays(z, x)
    if np.any(~np.isfinite(z)) or np.any(z < 0):
        raise ValueError(f"depth_km must be finite and >= 0; got {z[~np.isfinite(z) | (z < 0)][:3]}")
    if np.any(~np.isfinite(x)) or np.any(x < 0):
        raise ValueError(f"epicentral_km must be finite and >= 0; got {x[~np.isfinite(x) | (x < 0)][:3]}")
    tops = np.asarray(model.layer_tops_km, dtype=np.float64)
    v = model.velocities(phase)

    # -- direct ray: shoot on u = p * v_max in [0, 1) so that X(p) = x -------------------
    h = _thickness_above(tops, z)  # (B, L) path thickness in each layer
    on_path = h > 0
    vmax = np.where(on_path, v[None, :], 0.0).max(axis=1)
    vmax = np.where(vmax > 0, vmax, v[0])  # source at the surface: horizontal ray in layer 0

    def offset(u: np.ndarray) -> np.ndarray:
        s = (u / vmax)[:, None] * v[None, :]  # sin of the angle in each layer
        return (h * s / np.sqrt(np.clip(1.0 - s**2, 1e-300, None))).sum(axis=1)

    lo, hi = np.zeros_like(x), np.full_like(x, 1.0)
    for _ in range(60):  # bisection: X(u) is increasing; 60 halvings reach machine precision
        mid = 0.5 * (lo + hi)
        below = offset(mid) < x
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    u = np.where(x > 0, 0.5 * (lo + hi), 0.0)
    p_dir = u / vmax
    s = p_dir[:, None] * v[None, :]
    t_dir = (h / (v[None, :] * np.sqrt(np.clip(1.0 - s**2, 1e-300, None)))).sum(axis=1)
    surface = h.sum(axis=1) <= 1e-9
    t_dir = np.where(surface, x / v[0], t_dir)
    p_dir = np.where(surface, 1.0 / v[0], p_dir)

    time, p = t_dir, p_dir
    # -- head waves along each interface below the source ------------------------------
    for j in range(1, len(tops)):
        below_src = tops[j] >= z
        vj = v[j]
        if not np.any(below_src) or vj <= v[:j].max():
            continue
        pj = 1.0 / vj
        eta = np.sqrt(1.0 / v[:j] ** 2 - pj**2)  # vertical slowness above the interface
        tan = pj * v[:j] / np.sqrt(1.0 - (pj * v[:j]) ** 2)
        up = np.diff(tops[: j + 1])  # receiver leg: every layer above interface j
        down = _thickness_above(tops, np.full_like(z, tops[j]))[:, :j] - h[:, :j]  # source leg
        legs = up[None, :] + np.clip(down, 0.0, None)  # (B, j)
        t_head = x * pj + (legs * eta[None, :]).sum(axis=1)
        x_crit = (legs * tan[None, :]).sum(axis=1)
        ok = below_src & (x >= x_crit)
        better = ok & (t_head < time)
        time = np.where(better, t_head, time)
        p = np.where(better, pj, p)
    return time, p


def travel_times(depth_km: np.ndarray, hypocentral_km: np.ndarray,
                 model: VelocityModel = AK135_CRUST) -> dict[str, np.ndarray]:
    """P and S first-arrival times (s) and ray parameters (s/km) for hypocentral distances.

    The epicentral distance is ``sqrt(Rhyp**2 - depth**2)``; ``hypocentral_km`` must not be
    smaller than ``depth_km``.

    Returns a dict with ``tP``, ``tS`` (s), ``pP``, ``pS`` (s/km) and ``epicentral_km``.
    """
    z = np.atleast_1d(np.asarray(depth_km, dtype=np.float64))
    r = np.atleast_1d(np.asarray(hypocentral_km, dtype=np.float64))
    z, r = np.broadcast_arrays(z, r)
    if np.any(r < z - 1e-6):
        i = int(np.argmax(r < z - 1e-6))
        raise ValueError(f"hypocentral distance {r[i]:g} km is smaller than the depth {z[i]:g} km")
    x = np.sqrt(np.clip(r**2 - z**2, 0.0, None))
    tp, pp = first_arrival(z, x, model, "P")
    ts, ps = first_arrival(z, x, model, "S")
    return {"tP": tp, "tS": ts, "pP": pp, "pS": ps, "epicentral_km": x}
