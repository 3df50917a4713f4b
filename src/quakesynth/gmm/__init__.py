"""Ground-motion models: published GMMs (via OpenQuake hazardlib) and the fitted simple GMM.

>>> from quakesynth.gmm import get_gmm
>>> gmm = get_gmm("BooreEtAl2014", region="japan")
>>> ln_median, sigma = gmm.predict("SA(1.0)", magnitude=6.5, rhyp_km=30.0, depth_km=10.0,
...                               vs30_mps=400.0)  # doctest: +SKIP

* :func:`get_gmm`, :func:`available_gmms`: ``BooreEtAl2014`` (RotD50, Rjb; regions global,
  california, china, turkey, italy, japan), ``Kanno2006Shallow``, ``Kanno2006Deep`` and
  ``Kanno2006`` (peak SRSS, Rrup; the branch chosen per scenario by focal depth). Predictions
  are ``(ln median, total sigma)``: ln of g for PGA and SA(T), ln of cm/s for PGV. They need the
  optional ``gmm`` extra (``pip install 'quakesynth[gmm]'``); OpenQuake is imported on the first
  prediction only.
* :func:`rhyp_to_rjb`, :func:`rhyp_to_rrup`: hypocentral distance to the GMMs' distances (point
  source, or an azimuth-averaged Wells & Coppersmith 1994 rupture).
* :class:`SimpleGMM`: OLS of log10 IM on M, log10 Rhyp and log10 Vs30 (HighFEM eqs. 11-12).
"""

from quakesynth.gmm.distance import rhyp_to_repi, rhyp_to_rjb, rhyp_to_rrup, rupture_dimensions
from quakesynth.gmm.models import (
    BooreEtAl2014,
    GroundMotionModel,
    Kanno2006,
    available_gmms,
    get_gmm,
    parse_imt,
)
from quakesynth.gmm.simple import SimpleGMM

__all__ = [
    "BooreEtAl2014",
    "GroundMotionModel",
    "Kanno2006",
    "SimpleGMM",
    "available_gmms",
    "get_gmm",
    "parse_imt",
    "rhyp_to_repi",
    "rhyp_to_rjb",
    "rhyp_to_rrup",
    "rupture_dimensions",
]
