"""Source-to-site distances of a scenario given by its hypocentral distance.

The generative models are conditioned on the hypocentral distance ``Rhyp`` of a point source;
ground-motion models want the Joyner-Boore distance ``Rjb`` (BSSA14) or the rupture distance
``Rrup`` (Kanno et al. 2006). Two conversions are offered:

``method="point"`` (default) -- the source *is* a point at the hypocentre:

.. math::

    R_{epi} = \\sqrt{R_{hyp}^2 - D^2}, \\qquad R_{JB} = R_{epi}, \\qquad R_{rup} = R_{hyp}

(``D`` the focal depth). Kanno et al. (2006, p. 880) use exactly this for events without a
fault model: "the hypocentral distance in the case of earthquakes for which the fault model
is not available".

``method="finite"`` -- an average over source-to-site azimuth for a vertical rectangular
rupture centred on the hypocentre, with the subsurface rupture length ``L`` and down-dip width
``W`` of Wells and Coppersmith (1994, Table 2A, all slip types):

.. math::

    \\log_{10} L = -2.44 + 0.59\\,M, \\qquad \\log_{10} W = -1.01 + 0.32\\,M \\quad (km).

The rupture spans depths ``[z_top, z_top + W]`` with ``z_top = max(D - W/2, 0)`` (it is
pushed down where it would break the surface). A site at epicentral distance ``R_epi`` and
azimuth ``phi`` from the strike has along-strike offset ``x = R_epi cos(phi)`` and normal offset
``y = R_epi sin(phi)``; then ``R_JB = sqrt(max(|x| - L/2, 0)^2 + y^2)`` and
``R_rup = sqrt(R_JB^2 + z_top^2)``. Both are averaged over a uniform ``phi``. This is a
transparent first-order approximation, not a calibrated one (compare Thompson and Worden 2017,
``ps2ff``, for region-specific tables); for small magnitudes it tends to the point source.

References
----------
Wells, D. L., and K. J. Coppersmith (1994). New empirical relationships among magnitude,
rupture length, rupture width, rupture area, and surface displacement. BSSA 84(4), 974-1002.

Kanno, T., A. Narita, N. Morikawa, H. Fujiwara, and Y. Fukushima (2006). A new attenuation
relation for strong ground motion in Japan based on recorded data. BSSA 96(3), 879-897.
"""

from __future__ import annotations

import numpy as np

#: Wells & Coppersmith (1994) Table 2A, all slip types: log10(value in km) = a + b M.
WC94_SUBSURFACE_LENGTH = (-2.44, 0.59)  # RLD, subsurface rupture length, km
WC94_WIDTH = (-1.01, 0.32)  # RW, down-dip rupture width, km

_METHODS = ("point", "finite")
_N_AZIMUTH = 90  # midpoint rule over 0..90 degrees (symmetry), enough for < 0.1 % error


def _as_float(name: str, value) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.size and not np.all(np.isfinite(a)):
        bad = a[~np.isfinite(a)].ravel()[0]
        raise ValueError(f"{name} must be finite; got {float(bad)!r}")
    return a


def rupture_dimensions(magnitude) -> tuple[np.ndarray, np.ndarray]:
    """Subsurface rupture length and down-dip width (km) from Wells & Coppersmith (1994).

    Parameters
    ----------
    magnitude : moment magnitude, any shape.

    Returns
    -------
    L, W : arrays of the shape of ``magnitude``, km (all-slip-type regressions, Table 2A).

    >>> L, W = rupture_dimensions(6.0)
    >>> round(float(L), 1), round(float(W), 1)
    (12.6, 8.1)
    """
    M = _as_float("magnitude", magnitude)
    a, b = WC94_SUBSURFACE_LENGTH
    L = 10.0 ** (a + b * M)
    a, b = WC94_WIDTH
    W = 10.0 ** (a + b * M)
    return L, W


def rhyp_to_repi(rhyp_km, depth_km) -> np.ndarray:
    """Epicentral distance ``sqrt(Rhyp^2 - D^2)`` in km (arrays broadcast).

    Raises ValueError where ``rhyp_km < depth_km`` (beyond a rounding tolerance of 1 m).
    """
    R = _as_float("rhyp_km", rhyp_km)
    D = _as_float("depth_km", depth_km)
    if np.any(R < 0):
        raise ValueError(f"rhyp_km must be >= 0; got {float(R[R < 0].ravel()[0])!r}")
    if np.any(D < 0):
        raise ValueError(f"depth_km must be >= 0 (km below the surface); got {float(D[D < 0].ravel()[0])!r}")
    R, D = np.broadcast_arrays(R, D)
    short = R < D - 1e-3
    if np.any(short):
        i = np.flatnonzero(short.ravel())[0]
        raise ValueError(f"rhyp_km={float(R.ravel()[i])!r} is shorter than depth_km={float(D.ravel()[i])!r}: "
                         "a hypocentral distance is at least the focal depth")
    return np.sqrt(np.maximum(R * R - D * D, 0.0))


def _finite_average(repi: np.ndarray, depth: np.ndarray, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    L, W = rupture_dimensions(magnitude)
    ztop = np.maximum(depth - W / 2.0, 0.0)
    phi = (np.arange(_N_AZIMUTH) + 0.5) * (np.pi / 2.0) / _N_AZIMUTH  # (K,)
    x = repi[..., None] * np.cos(phi)
    y = repi[..., None] * np.sin(phi)
    rjb = np.sqrt(np.maximum(x - L[..., None] / 2.0, 0.0) ** 2 + y * y)
    rrup = np.sqrt(rjb * rjb + ztop[..., None] ** 2)
    return rjb.mean(axis=-1), rrup.mean(axis=-1)


def _convert(rhyp_km, depth_km, magnitude, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    repi = rhyp_to_repi(rhyp_km, depth_km)
    R = np.broadcast_to(_as_float("rhyp_km", rhyp_km), repi.shape)
    if method == "point":
        return repi, repi, R.copy()
    if magnitude is None:
        raise ValueError("magnitude is required for method='finite' (it sets the rupture size)")
    M = _as_float("magnitude", magnitude)
    repi, D, M = np.broadcast_arrays(repi, _as_float("depth_km", depth_km), M)
    rjb, rrup = _finite_average(repi, D, M)
    return repi, rjb, rrup


def rhyp_to_rjb(rhyp_km, depth_km, magnitude=None, method: str = "point") -> np.ndarray:
    """Joyner-Boore distance (km) of a scenario given by hypocentral distance and depth.

    Parameters
    ----------
    rhyp_km : hypocentral distance, km, any shape.
    depth_km : focal depth, km (broadcast against ``rhyp_km``).
    magnitude : moment magnitude; needed only for ``method="finite"``.
    method : ``"point"`` (``Rjb = Repi = sqrt(Rhyp^2 - D^2)``) or ``"finite"`` (azimuth-averaged
        vertical Wells & Coppersmith 1994 rupture; see the module docstring).

    >>> float(rhyp_to_rjb(50.0, 30.0))
    40.0
    """
    return _convert(rhyp_km, depth_km, magnitude, method)[1]


def rhyp_to_rrup(rhyp_km, depth_km, magnitude=None, method: str = "point") -> np.ndarray:
    """Rupture distance (km) of a scenario given by hypocentral distance and depth.

    ``method="point"`` returns ``Rrup = Rhyp``; ``"finite"`` the azimuth average of
    ``sqrt(Rjb^2 + z_top^2)`` for the rupture of the module docstring.

    >>> float(rhyp_to_rrup(50.0, 30.0))
    50.0
    """
    return _convert(rhyp_km, depth_km, magnitude, method)[2]
