"""Published ground-motion models, computed by OpenQuake hazardlib (the optional ``gmm`` extra).

Each model predicts, for arrays of scenarios, the natural log of the median intensity measure
and its total standard deviation (ln units):

* PGA and SA(T) in g (5 %-damped pseudo-spectral acceleration), PGV in cm/s;
* on the horizontal component the model is defined on (:attr:`GroundMotionModel.component`):
  ``"RotD50"`` for Boore et al. (2014) and ``"peak SRSS"`` (the peak of the square root of the
  sum of squares of the two horizontals in the time domain) for Kanno et al. (2006).

Scenarios are given as the generative models' conditioning -- magnitude, hypocentral
distance, focal depth and Vs30 -- and converted to the model's distance metric by
:mod:`quakesynth.gmm.distance`; :meth:`GroundMotionModel.predict_native` takes the model's own
distance directly.

OpenQuake is imported on the first prediction only (importing it takes several seconds and
registers a few warning filters).

References
----------
Boore, D. M., J. P. Stewart, E. Seyhan, and G. M. Atkinson (2014). NGA-West2 equations for
predicting PGA, PGV, and 5% damped PSA for shallow crustal earthquakes. Earthquake Spectra
30(3), 1057-1085.

Kanno, T., A. Narita, N. Morikawa, H. Fujiwara, and Y. Fukushima (2006). A new attenuation
relation for strong ground motion in Japan based on recorded data. BSSA 96(3), 879-897.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
from typing import Any

import numpy as np

from quakesynth.gmm.distance import rhyp_to_rjb, rhyp_to_rrup

_INSTALL_HINT = ("OpenQuake hazardlib is not installed: install the gmm extra "
                 "(pip install 'quakesynth[gmm]', i.e. 'openquake.engine>=3.24.1,<3.26' fiona h3)")


# -- intensity-measure names ----------------------------------------------------------------
_SA_RE = re.compile(r"^(?:P?SA)\(?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:s)?\)?$", re.IGNORECASE)


def parse_imt(imt: str) -> tuple[str, float | None]:
    """``"PGA"``, ``"PGV"`` or ``("SA", T)`` from ``"SA(1.0)"``, ``"SA(1)"`` or ``"PSA1.0"``.

    >>> parse_imt("SA(0.3)"), parse_imt("pga"), parse_imt("PSA1.0")
    (('SA', 0.3), ('PGA', None), ('SA', 1.0))
    """
    if not isinstance(imt, str):
        raise ValueError(f"imt must be a string such as 'PGA', 'PGV' or 'SA(1.0)'; got {imt!r}")
    s = imt.strip()
    if s.upper() in ("PGA", "PGV"):
        return s.upper(), None
    m = _SA_RE.match(s)
    if m:
        T = float(m.group(1))
        if not (math.isfinite(T) and T > 0):
            raise ValueError(f"imt {imt!r}: the period must be positive; got {T!r} s")
        return "SA", T
    raise ValueError(f"unknown imt {imt!r}; use 'PGA', 'PGV' or 'SA(T)' with T in seconds, e.g. 'SA(1.0)'")


# -- input checks ---------------------------------------------------------------------------
def _finite(name: str, value: Any) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.size == 0:
        raise ValueError(f"{name} is empty: give at least one scenario")
    if not np.all(np.isfinite(a)):
        bad = a[~np.isfinite(a)].ravel()[0]
        raise ValueError(f"{name} must be finite; got {float(bad)!r} ({int((~np.isfinite(a)).sum())} non-finite value(s))")
    return a


def _check_range(gmm: str, name: str, values: np.ndarray, bounds: tuple[float, float], hint: str = "",
                 extrapolate_ok: bool = True) -> None:
    lo, hi = bounds
    bad = (values < lo) | (values > hi)
    if np.any(bad):
        v = values[bad].ravel()[0]
        tip = "; pass allow_extrapolation=True to extrapolate" if extrapolate_ok else ""
        raise ValueError(f"{name}={v:g}{hint} is outside the validity range [{lo:g}, {hi:g}] of {gmm} "
                         f"({int(bad.sum())} of {values.size} scenario(s)){tip}")


def _check_openquake() -> None:
    """ImportError with the install hint where OpenQuake hazardlib is absent (nothing imported)."""
    if importlib.util.find_spec("openquake") is None or importlib.util.find_spec("openquake.hazardlib") is None:
        raise ImportError(_INSTALL_HINT)


@functools.cache
def _oq_gsim(cls_name: str, **kwargs: Any):
    """An OpenQuake GSIM instance (cached); imports hazardlib on first use."""
    _check_openquake()
    from openquake.hazardlib import gsim as oq_gsim  # noqa: F401  (registers every GSIM)
    from openquake.hazardlib.gsim.base import registry

    return registry[cls_name](**kwargs)


def _oq_imt(kind: str, period: float | None):
    from openquake.hazardlib import imt as oq_imt

    return {"PGA": oq_imt.PGA, "PGV": oq_imt.PGV}[kind]() if kind != "SA" else oq_imt.SA(period)


def _oq_compute(gsim, kind: str, period: float | None, fields: dict[str, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ln mean, total sigma, tau and phi (1-D, one per scenario) from an OpenQuake GSIM
    (tau and phi are zero where the GSIM publishes only the total)."""
    n = next(iter(fields.values())).size
    ctx = np.recarray(n, dtype=[(k, np.float64) for k in fields])
    for k, v in fields.items():
        ctx[k] = v.ravel()
    mean, sig, tau, phi = (np.zeros((1, n)) for _ in range(4))
    gsim.compute(ctx, [_oq_imt(kind, period)], mean, sig, tau, phi)
    return mean[0], sig[0], tau[0], phi[0]


# -- the model interface ---------------------------------------------------------------------
class GroundMotionModel:
    """A ground-motion model: ln median and total sigma for arrays of scenarios.

    Attributes
    ----------
    name : the name :func:`get_gmm` knows it by.
    component : the horizontal component it is defined on (``"RotD50"``, ``"peak SRSS"``).
    distance_metric : ``"rjb"`` or ``"rrup"`` (km).
    validity : variable -> (min, max) of its stated range of applicability; keys among
        ``magnitude``, ``rjb_km``, ``rrup_km``, ``vs30_mps``, ``depth_km``, ``period_s``.
    region : the regional variant.
    reference : the paper.
    """

    name: str = ""
    component: str = ""
    distance_metric: str = ""
    validity: dict[str, tuple[float, float]] = {}
    region: str | None = None
    reference: str = ""

    def __repr__(self) -> str:
        reg = f", region={self.region!r}" if self.region else ""
        return f"{type(self).__name__}(name={self.name!r}{reg}, component={self.component!r})"

    # public ---------------------------------------------------------------------------------
    def predict(self, imt: str, magnitude, rhyp_km, depth_km, vs30_mps, *, distance_method: str = "point",
                allow_extrapolation: bool = False, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """ln median and total sigma for scenarios given by hypocentral distance.

        Parameters
        ----------
        imt : ``"PGA"``, ``"PGV"`` or ``"SA(T)"`` (T in s; ``"PSA1.0"`` is accepted too).
        magnitude : moment magnitude.
        rhyp_km : hypocentral distance, km.
        depth_km : focal depth, km.
        vs30_mps : time-averaged shear-wave velocity of the top 30 m, m/s.
            All four broadcast against each other (any shapes).
        distance_method : ``"point"`` or ``"finite"``: how ``Rhyp`` becomes the model's distance
            (:func:`~quakesynth.gmm.rhyp_to_rjb`, :func:`~quakesynth.gmm.rhyp_to_rrup`).
        allow_extrapolation : predict outside :attr:`validity` instead of raising ValueError.
        **kwargs : model-specific options (``rake_deg``, ``z1pt0_m`` for BSSA14).

        Returns
        -------
        ln_median : natural log of the median, in g (PGA, SA) or cm/s (PGV); broadcast shape.
        sigma : total standard deviation of ln IM, same shape.
        """
        return self.predict_components(imt, magnitude, rhyp_km, depth_km, vs30_mps, distance_method=distance_method,
                                       allow_extrapolation=allow_extrapolation, **kwargs)[:2]

    def predict_native(self, imt: str, magnitude, distance_km, vs30_mps, depth_km=None, *,
                       allow_extrapolation: bool = False, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`predict`, with the model's own distance (:attr:`distance_metric`, km).

        ``depth_km`` is needed only where the model uses it (``Kanno2006`` chooses its shallow
        or deep branch by it; otherwise it is checked against :attr:`validity` if given).
        """
        M = _finite("magnitude", magnitude)
        dist = _finite(f"{self.distance_metric}_km", distance_km)
        D = None if depth_km is None else _finite("depth_km", depth_km)
        return self._predict(imt, M, dist, vs30_mps, D, allow_extrapolation, **kwargs)[:2]

    def predict_components(self, imt: str, magnitude, rhyp_km, depth_km, vs30_mps, *,
                           distance_method: str = "point", allow_extrapolation: bool = False, **kwargs: Any
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`predict`, with the parts of the standard deviation.

        Returns ``(ln_median, sigma, tau, phi)``: total, between-event and within-event
        standard deviations of ln IM (NaN where the model publishes only the total).
        """
        M = _finite("magnitude", magnitude)
        R = _finite("rhyp_km", rhyp_km)
        D = _finite("depth_km", depth_km)
        convert = rhyp_to_rjb if self.distance_metric == "rjb" else rhyp_to_rrup
        dist = convert(R, D, magnitude=M, method=distance_method)
        return self._predict(imt, M, dist, vs30_mps, D, allow_extrapolation,
                             hint=f" (from rhyp_km and depth_km, {distance_method} source)", **kwargs)

    def data_support(self, magnitude, distance_km) -> np.ndarray:
        """Relative weight (0-1) of scenarios by how well the model's data constrain them.

        ``distance_km`` is the model's own distance (:attr:`distance_metric`). The base class
        gives 1 inside :attr:`validity` and 0 outside; models override it where their data
        are known to thin out (used by :func:`quakesynth.simulate.calibration.fit_simulator`).
        """
        M = np.asarray(magnitude, dtype=np.float64)
        R = np.asarray(distance_km, dtype=np.float64)
        lo_m, hi_m = self.validity.get("magnitude", (-np.inf, np.inf))
        lo_r, hi_r = self.validity.get(f"{self.distance_metric}_km", (0.0, np.inf))
        return ((M >= lo_m) & (M <= hi_m) & (R >= lo_r) & (R <= hi_r)).astype(np.float64)

    def in_validity(self, magnitude, rhyp_km, depth_km, vs30_mps) -> np.ndarray:
        """Scenarios inside the stated range of applicability (:attr:`validity`), bool (N,).

        Magnitude, Vs30 (m/s) and depth (km) are checked directly; the model's own distance
        (Rjb or Rrup, km) is converted from the hypocentral distance ``rhyp_km`` and depth for a
        point source. Non-finite values, Vs30 <= 0, Rhyp <= 0 and depth < 0 are outside.
        """
        return validity_mask(self.validity, self.distance_metric, magnitude, rhyp_km, depth_km, vs30_mps)

    def supports(self, imt: str) -> bool:
        """Whether ``imt`` is one this model predicts (SA periods within ``validity['period_s']``)."""
        try:
            kind, T = parse_imt(imt)
        except ValueError:
            return False
        if kind != "SA":
            return True
        lo, hi = self.validity["period_s"]
        return lo <= T <= hi

    # internals ------------------------------------------------------------------------------
    def _predict(self, imt, M, dist, vs30_mps, D, allow_extrapolation, hint: str = "", **kwargs):
        kind, T = parse_imt(imt)
        if kind == "SA":
            _check_range(self.name, "period_s", np.asarray(T), self.validity["period_s"],
                         hint=f" (imt {imt!r})", extrapolate_ok=False)
        V = _finite("vs30_mps", vs30_mps)
        if np.any(V <= 0):
            raise ValueError(f"vs30_mps must be positive (m/s); got {float(V[V <= 0].ravel()[0])!r}")
        if np.any(dist < 0):
            raise ValueError(f"{self.distance_metric}_km must be >= 0; got {float(dist[dist < 0].ravel()[0])!r}")
        if D is not None and np.any(D < 0):
            raise ValueError(f"depth_km must be >= 0 (km below the surface); got {float(D[D < 0].ravel()[0])!r}")
        arrays = [M, dist, V] + ([] if D is None else [D])
        try:
            arrays = np.broadcast_arrays(*arrays)
        except ValueError as e:
            shapes = ", ".join(str(np.shape(a)) for a in arrays)
            raise ValueError(f"scenario arrays do not broadcast: shapes {shapes}") from e
        M, dist, V = arrays[:3]
        D = arrays[3] if D is not None else None
        if not allow_extrapolation:
            for key, values, h in (("magnitude", M, ""), (f"{self.distance_metric}_km", dist, hint),
                                   ("vs30_mps", V, ""), ("depth_km", D, "")):
                if values is not None and key in self.validity:
                    _check_range(self.name, key, values, self.validity[key], hint=h)
        out = self._compute(kind, T, M, dist, V, D, allow_extrapolation, **kwargs)
        mu, sig = out[0].reshape(M.shape), out[1].reshape(M.shape)
        if len(out) == 4 and np.any(out[3] > 0):  # the model publishes tau and phi
            return mu, sig, out[2].reshape(M.shape), out[3].reshape(M.shape)
        return mu, sig, np.full(M.shape, np.nan), np.full(M.shape, np.nan)

    def _compute(self, kind, T, M, dist, V, D, allow_extrapolation, **kwargs):  # pragma: no cover
        raise NotImplementedError


class BooreEtAl2014(GroundMotionModel):
    """Boore, Stewart, Seyhan and Atkinson (2014), NGA-West2 (BSSA14): RotD50, Rjb, Vs30.

    Regions (``region=``) select the anelastic-attenuation adjustment ``Delta c3`` and the
    basin-depth model, as in the paper and OpenQuake's classes:

    ========== ===================================== ======================================
    region     Delta c3 (path)                       basin term (needs ``z1pt0_m``)
    ========== ===================================== ======================================
    global     global/California (OQ BooreEtAl2014)  none
    california global/California                     California mu(z1) model (eq. 11)
    china      high Q (China/Turkey)                 none
    turkey     high Q (China/Turkey)                 none
    italy      low Q (Italy/Japan)                   none
    japan      low Q (Italy/Japan)                   Japan mu(z1) model (eq. 12)
    ========== ===================================== ======================================

    ``rake_deg`` (optional, per scenario) selects the style of faulting (strike-slip |rake|<=30
    or >=150; reverse 30<rake<150; normal -150<rake<-30); without it the "unspecified"
    mechanism coefficient ``e0`` is used. ``z1pt0_m`` (depth to Vs = 1 km/s, m) enables the
    basin term in the japan and california regions; without it the basin term is zero
    (``delta z1 = 0``).

    Validity (paper): M 3-8.5 (normal faulting to 7.0), Rjb 0-400 km, Vs30 150-1500 m/s,
    T 0.01-10 s.
    """

    component = "RotD50"
    distance_metric = "rjb"
    validity = {"magnitude": (3.0, 8.5), "rjb_km": (0.0, 400.0), "vs30_mps": (150.0, 1500.0),
                "period_s": (0.01, 10.0)}
    reference = "Boore, Stewart, Seyhan & Atkinson (2014), Earthquake Spectra 30(3), 1057-1085"

    #: region -> (OpenQuake class, basin region of OpenQuake's ``region=`` argument)
    REGIONS: dict[str, tuple[str, str]] = {
        "global": ("BooreEtAl2014", "nobasin"),
        "california": ("BooreEtAl2014", "CAL"),
        "china": ("BooreEtAl2014HighQ", "nobasin"),
        "turkey": ("BooreEtAl2014HighQ", "nobasin"),
        "italy": ("BooreEtAl2014LowQ", "nobasin"),
        "japan": ("BooreEtAl2014LowQ", "JPN"),
    }

    def __init__(self, region: str | None = "global") -> None:
        region = "global" if region is None else str(region).lower()
        if region not in self.REGIONS:
            raise ValueError(f"region must be one of {sorted(self.REGIONS)} for BooreEtAl2014; got {region!r}")
        self.name = "BooreEtAl2014"
        self.region = region

    def data_support(self, magnitude, distance_km) -> np.ndarray:
        """NGA-West2 (Ancheta et al. 2014) holds few records of M >= 7 events within 10 km
        and few of M < 5 events beyond 150 km (small events trigger few distant stations):
        those scenarios get half weight; 1 elsewhere inside the validity range."""
        w = super().data_support(magnitude, distance_km)
        M, R = np.broadcast_arrays(np.asarray(magnitude, float), np.asarray(distance_km, float))
        thin = ((M >= 7.0) & (R < 10.0)) | ((M < 5.0) & (R > 150.0))
        return np.where(thin, 0.5 * w, w)

    def _compute(self, kind, T, M, dist, V, D, allow_extrapolation, rake_deg=None, z1pt0_m=None):
        cls_name, basin = self.REGIONS[self.region]
        fields = {"mag": M.ravel(), "rjb": dist.ravel(), "vs30": V.ravel()}
        if z1pt0_m is not None:
            if basin == "nobasin":
                raise ValueError(f"z1pt0_m is used only by regions 'japan' and 'california'; region is {self.region!r}")
            z1 = np.broadcast_to(_finite("z1pt0_m", z1pt0_m), M.shape)
            if np.any(z1 < 0):
                raise ValueError(f"z1pt0_m must be >= 0 (m); got {float(z1[z1 < 0].ravel()[0])!r}")
            fields["z1pt0"] = z1.ravel()
        elif basin != "nobasin":
            fields["z1pt0"] = np.full(M.size, -999.0)  # OpenQuake: use the model's mu(z1) -> no basin term
        if rake_deg is None:
            fields["rake"] = np.zeros(M.size)
            gsim = _oq_gsim(cls_name, region=basin, sof=0)
        else:
            rake = np.broadcast_to(_finite("rake_deg", rake_deg), M.shape)
            if np.any(np.abs(rake) > 180):
                raise ValueError(f"rake_deg must be within [-180, 180]; got {float(rake[np.abs(rake) > 180].ravel()[0])!r}")
            normal = (rake > -150) & (rake < -30)
            if not allow_extrapolation and np.any(normal & (M > 7.0)):
                raise ValueError(f"magnitude={M[normal & (M > 7.0)].ravel()[0]:g} is above 7.0, the limit of "
                                 "BooreEtAl2014 for normal faulting; pass allow_extrapolation=True to extrapolate")
            fields["rake"] = rake.ravel()
            gsim = _oq_gsim(cls_name, region=basin, sof=1)
        return _oq_compute(gsim, kind, T, fields)


class Kanno2006(GroundMotionModel):
    """Kanno, Narita, Morikawa, Fujiwara and Fukushima (2006): peak SRSS, Rrup, Vs30 (Japan).

    ``log10(pre) = a M + b X - log10(X + d 10^(e M)) + c`` (shallow events, focal depth <= 30 km;
    deep events use other coefficients with ``d = 0``), plus the site term ``p log10(Vs30) + q``
    (their eqs. 5, 6, 8, 9); ``X`` is the rupture distance, which is the hypocentral distance for
    events without a fault model (p. 880). The peak is "the peak square root of the sum of
    squares of two orthogonal horizontal components in the time domain" (p. 880). Only the total
    sigma is published.

    ``branch``: ``"shallow"``, ``"deep"`` or ``"auto"`` (per scenario from ``depth_km``: deep where
    the focal depth exceeds 30 km).

    Validity: focal depth <= 30 km (shallow) or > 30 km (deep); T 0.05-5 s (their tables);
    magnitude 5.5-8.2 and Rrup <= 300 km approximate the range of their regression data (the
    paper states no formal limits, nor a Vs30 range: only Vs30 > 0 is checked).
    """

    component = "peak SRSS"
    distance_metric = "rrup"
    reference = "Kanno, Narita, Morikawa, Fujiwara & Fukushima (2006), BSSA 96(3), 879-897"
    DEPTH_SPLIT_KM = 30.0  # shallow: focal depth <= 30 km (p. 895)

    _NAMES = {"shallow": "Kanno2006Shallow", "deep": "Kanno2006Deep", "auto": "Kanno2006"}

    def __init__(self, branch: str = "auto", region: str | None = None) -> None:
        if branch not in self._NAMES:
            raise ValueError(f"branch must be one of {sorted(self._NAMES)}; got {branch!r}")
        if region not in (None, "japan"):
            raise ValueError(f"Kanno2006 is a model for Japan: region must be None or 'japan'; got {region!r}")
        self.branch = branch
        self.name = self._NAMES[branch]
        self.region = "japan"
        depth = {"shallow": (0.0, self.DEPTH_SPLIT_KM), "deep": (self.DEPTH_SPLIT_KM, math.inf),
                 "auto": (0.0, math.inf)}[branch]
        self.validity = {"magnitude": (5.5, 8.2), "rrup_km": (0.0, 300.0), "depth_km": depth,
                         "period_s": (0.05, 5.0)}

    def _compute(self, kind, T, M, dist, V, D, allow_extrapolation):
        fields = {"mag": M.ravel(), "rrup": dist.ravel(), "vs30": V.ravel()}
        if self.branch != "auto":
            return _oq_compute(_oq_gsim(self._NAMES[self.branch]), kind, T, fields)
        if D is None:
            raise ValueError("depth_km is required by Kanno2006 (it chooses the shallow or deep branch)")
        deep = D.ravel() > self.DEPTH_SPLIT_KM
        out = tuple(np.empty(M.size) for _ in range(4))  # mu, sigma, tau, phi
        for mask, cls_name in ((~deep, "Kanno2006Shallow"), (deep, "Kanno2006Deep")):
            if mask.any():
                sub = {k: v[mask] for k, v in fields.items()}
                for a, part in zip(out, _oq_compute(_oq_gsim(cls_name), kind, T, sub)):
                    a[mask] = part
        return out


# -- registry -------------------------------------------------------------------------------
_FACTORIES = {
    "BooreEtAl2014": lambda region=None: BooreEtAl2014(region=region),
    "Kanno2006Shallow": lambda region=None: Kanno2006("shallow", region=region),
    "Kanno2006Deep": lambda region=None: Kanno2006("deep", region=region),
    "Kanno2006": lambda region=None: Kanno2006("auto", region=region),
}
_ALIASES = {"bssa14": "BooreEtAl2014", "boore2014": "BooreEtAl2014"}


def available_gmms() -> list[str]:
    """Names :func:`get_gmm` knows."""
    return list(_FACTORIES)


def get_gmm(name: str, region: str | None = None) -> GroundMotionModel:
    """A ground-motion model by name.

    Parameters
    ----------
    name : one of :func:`available_gmms` (case-insensitive; ``"BSSA14"`` is an alias).
    region : regional variant (BooreEtAl2014: global, california, china, turkey, italy, japan;
        default global). Kanno 2006 is for Japan only.

    Raises ValueError for unknown names or regions and ImportError (with the install hint)
    where OpenQuake is not installed; OpenQuake itself is imported on the first prediction.

    >>> get_gmm("BooreEtAl2014", region="japan").component  # doctest: +SKIP
    'RotD50'
    """
    if not isinstance(name, str):
        raise ValueError(f"GMM name must be a string; got {name!r}")
    key = {k.lower(): k for k in _FACTORIES}.get(name.lower()) or _ALIASES.get(name.lower())
    if key is None:
        raise ValueError(f"unknown GMM {name!r}; known: {', '.join(available_gmms())}")
    gmm = _FACTORIES[key](region=region)
    _check_openquake()
    return gmm


def validity_mask(validity: dict, distance_metric: str, magnitude, rhyp_km, depth_km, vs30_mps) -> np.ndarray:
    """Rows inside ``validity`` (variable -> (min, max)), bool (N,); see
    :meth:`GroundMotionModel.in_validity`. Also serves fitted or user GMMs that only carry a
    ``validity`` table and a ``distance_metric``."""
    M = np.asarray(magnitude, dtype=float)
    R = np.asarray(rhyp_km, dtype=float)
    D = np.asarray(depth_km, dtype=float)
    V = np.asarray(vs30_mps, dtype=float)
    ok = np.isfinite(M) & np.isfinite(R) & np.isfinite(D) & np.isfinite(V) & (V > 0) & (R > 0) & (D >= 0)
    validity = dict(validity or {})
    values = {"magnitude": M, "vs30_mps": V, "depth_km": D}
    if distance_metric in ("rjb", "rrup") and f"{distance_metric}_km" in validity and ok.any():
        convert = rhyp_to_rjb if distance_metric == "rjb" else rhyp_to_rrup
        dist = np.full(len(M), np.nan)
        dist[ok] = convert(np.maximum(R[ok], D[ok]), D[ok], magnitude=M[ok], method="point")
        values[f"{distance_metric}_km"] = dist
    for key, x in values.items():
        if key in validity:
            lo, hi = validity[key]
            with np.errstate(invalid="ignore"):
                ok &= (x >= lo) & (x <= hi)
    return ok
