"""Point-source mechanics shared by the 3D wave-propagation solver (:mod:`quakesynth.simulate.wave3d`)
and the HEMEW^S-3D corpus reader and writer (:mod:`quakesynth.simulate.hemew`), which therefore
do not import each other for it.
"""

from __future__ import annotations

import numpy as np


def moment_tensor(strike, dip, rake, M0=1.0) -> tuple:
    """Double-couple moment tensor (Aki & Richards 1980, Box 4.4), x North, y East, z down.

    Angles in degrees; returns ``(Mxx, Myy, Mzz, Mxy, Mxz, Myz)`` in the units of ``M0``
    (arrays broadcast). The tensor is traceless and has eigenvalues (M0, 0, -M0).

    >>> [round(float(m), 6) for m in moment_tensor(0, 90, 0)]
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    """
    phi, delta, lam = (np.deg2rad(np.asarray(a, dtype=np.float64)) for a in (strike, dip, rake))
    sd, cd, s2d, c2d = np.sin(delta), np.cos(delta), np.sin(2 * delta), np.cos(2 * delta)
    sl, cl = np.sin(lam), np.cos(lam)
    sp, cp, s2p, c2p = np.sin(phi), np.cos(phi), np.sin(2 * phi), np.cos(2 * phi)
    Mxx = -M0 * (sd * cl * s2p + s2d * sl * sp**2)
    Mxy = M0 * (sd * cl * c2p + 0.5 * s2d * sl * s2p)
    Mxz = -M0 * (cd * cl * cp + c2d * sl * sp)
    Myy = M0 * (sd * cl * s2p - s2d * sl * cp**2)
    Myz = -M0 * (cd * cl * sp - c2d * sl * cp)
    Mzz = M0 * s2d * sl
    return Mxx, Myy, Mzz, Mxy, Mxz, Myz
