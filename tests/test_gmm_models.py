"""quakesynth.gmm published models against independent verification values.

Reference values are rows of OpenQuake's own GSIM verification tables (oq-engine,
``openquake/hazardlib/tests/gsim/data/``; the tables are not shipped in the wheel, so a few rows
are copied here):

* ``BSSA2014/BSSA_2014_LOWQ_JAPAN_NOSOF_{MEAN,TOTAL_STD}.csv`` and ``BSSA_2014_MEAN.csv`` were
  generated with David Boore's Fortran implementation of BSSA14 (July 2014) -- independent of
  OpenQuake; OpenQuake's tolerance is 2 % (mean) and 1 % (sigma).
* ``KNMF06/KNMF06_{S,D}_MEAN_FIG*.csv`` follow a test vector from the lead author of
  Kanno et al. (2006); OpenQuake's tolerance is 0.15 % (mean).
"""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pandas as pd
import pytest

from quakesynth.gmm import available_gmms, get_gmm, parse_imt

# checked without importing OpenQuake (its import takes ~5 CPU-s; the first test pays it)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("openquake") is None,
                                reason="needs the gmm extra (OpenQuake hazardlib): pip install 'quakesynth[gmm]'")

_PERIOD_COLS = ("0.010,0.020,0.050,0.100,0.150,0.200,0.210,0.220,0.230,0.240,0.250,0.300,0.400,0.500,0.600,"
                "0.700,0.800,0.900,1.000,1.500,2.000,2.500,3.000,3.500,4.000,4.500,5.000,5.500,6.000,6.500,"
                "7.000,7.500,8.000,8.500,9.000,9.500,10.000")

# BSSA_2014_LOWQ_JAPAN_NOSOF_MEAN.csv (Boore's Fortran; low-Q Italy/Japan path, Japan basin, unspecified mechanism)
BSSA_JAPAN_MEAN = f"""rup_mag,dist_rjb,site_vs30,site_z1pt0,result_type,damping,pgv,pga,{_PERIOD_COLS}
3.0,0.0,200.0,1000.0,MEAN,5.0,0.263183,0.0147212,0.0151613,0.0149135,0.0227455,0.0316959,0.0239282,0.0174187,0.0163968,0.0154783,0.0142679,0.0131978,0.0123648,0.00879995,0.00492416,0.00317304,0.0021317,0.00154306,0.00118798,0.000962044,0.000794517,0.000312825,0.000172987,0.000121834,9.70802e-05,7.84761e-05,6.43336e-05,5.22667e-05,4.06191e-05,3.10544e-05,2.30129e-05,1.68574e-05,1.24323e-05,9.20278e-06,7.11522e-06,5.73296e-06,4.75092e-06,4.0266e-06,3.45795e-06
6.0,20.0,400.0,500.0,MEAN,5.0,8.56874,0.124672,0.126069,0.124962,0.152851,0.236094,0.303855,0.328341,0.327614,0.326922,0.318913,0.311428,0.301212,0.259033,0.205995,0.173769,0.146688,0.127058,0.112522,0.102345,0.0939547,0.0558797,0.03785,0.0278641,0.0217228,0.0174467,0.0143738,0.0120454,0.0102296,0.00876718,0.00752292,0.00651294,0.00569597,0.00500314,0.00442066,0.00389123,0.00340695,0.00297729,0.00261364
6.0,100.0,1250.0,0.0,MEAN,5.0,0.510399,0.00754033,0.0076538,0.00780834,0.0102402,0.0153447,0.0188512,0.0188126,0.0185448,0.0182931,0.0176612,0.0170767,0.0163099,0.0132684,0.0101935,0.0086609,0.0073102,0.00641049,0.00559373,0.00492952,0.00439335,0.00261485,0.00179505,0.00130359,0.00103823,0.000866227,0.000750531,0.00066519,0.000604062,0.000538404,0.000484699,0.000440313,0.000402489,0.000368724,0.000344476,0.000312938,0.000282214,0.000253842,0.000229667
7.0,0.0,400.0,500.0,MEAN,5.0,64.9464,0.540943,0.546878,0.547204,0.65955,0.922065,1.13064,1.22196,1.22423,1.22641,1.22419,1.22207,1.21731,1.19486,1.08328,0.969005,0.85827,0.780446,0.724059,0.686682,0.656336,0.448978,0.331599,0.26543,0.222306,0.18714,0.159229,0.137331,0.117879,0.101562,0.0862603,0.0737643,0.0642613,0.056126,0.0498697,0.0443556,0.0393466,0.0349267,0.0310331
7.0,100.0,250.0,900.0,MEAN,5.0,5.57888,0.0382112,0.0390388,0.0375695,0.039372,0.0560774,0.0743396,0.0867019,0.088145,0.0895434,0.0904822,0.0913903,0.0916499,0.0928386,0.0872895,0.0816936,0.0738602,0.0684452,0.0647248,0.0632478,0.0619885,0.0465655,0.0365425,0.0297083,0.0258664,0.0230281,0.0210427,0.0195667,0.0185365,0.0171895,0.0158834,0.0146386,0.0134251,0.0121969,0.0111074,0.00991974,0.00876835,0.00769761,0.00675527
"""

# BSSA_2014_LOWQ_JAPAN_NOSOF_TOTAL_STD.csv
BSSA_JAPAN_SIGMA = f"""rup_mag,dist_rjb,site_vs30,site_z1pt0,result_type,damping,pgv,pga,{_PERIOD_COLS}
3.0,0.0,200.0,1000.0,TOTAL_STDDEV,5.0,0.6920,0.7410,0.7456,0.7867,0.8808,0.8258,0.7889,0.7496,0.7453,0.7412,0.7381,0.7351,0.7321,0.7228,0.7057,0.6900,0.6819,0.6818,0.6931,0.7112,0.7294,0.7403,0.7425,0.7510,0.7573,0.7616,0.7630,0.7584,0.7495,0.7453,0.7410,0.7333,0.7276,0.7234,0.7191,0.7156,0.7121,0.7079,0.7052
3.0,100.0,400.0,500.0,TOTAL_STDDEV,5.0,0.7586,0.8009,0.8055,0.8125,0.9066,0.8521,0.8209,0.8006,0.7982,0.7960,0.7930,0.7901,0.7845,0.7664,0.7474,0.7391,0.7388,0.7384,0.7409,0.7426,0.7442,0.7474,0.7481,0.7524,0.7573,0.7616,0.7630,0.7584,0.7495,0.7453,0.7410,0.7333,0.7276,0.7234,0.7191,0.7156,0.7121,0.7079,0.7052
7.0,75.0,200.0,1000.0,TOTAL_STDDEV,5.0,0.5852,0.5493,0.5505,0.5852,0.6584,0.6982,0.6504,0.5827,0.5765,0.5706,0.5670,0.5635,0.5593,0.5600,0.5710,0.5837,0.5853,0.6039,0.6243,0.6512,0.6744,0.6856,0.6931,0.7030,0.7082,0.7079,0.7080,0.7083,0.7065,0.7054,0.7026,0.7066,0.7041,0.6891,0.6886,0.6761,0.6628,0.6496,0.6496
8.0,100.0,200.0,1000.0,TOTAL_STDDEV,5.0,0.5852,0.5493,0.5505,0.5852,0.6594,0.7106,0.6671,0.5928,0.5855,0.5786,0.5739,0.5694,0.5630,0.5600,0.5710,0.5837,0.5853,0.6039,0.6243,0.6512,0.6744,0.6856,0.6931,0.7030,0.7082,0.7079,0.7080,0.7083,0.7065,0.7054,0.7026,0.7066,0.7041,0.6891,0.6886,0.6761,0.6628,0.6496,0.6496
"""

# BSSA_2014_MEAN.csv (global path, no basin term, style of faulting from rake)
BSSA_GLOBAL_MEAN = f"""rup_mag,rup_rake,dist_rjb,site_vs30,result_type,damping,pgv,pga,{_PERIOD_COLS}
3.0,-90.0,0.0,200.0,MEAN,5.0,0.219327,0.0122054,0.0125633,0.0125127,0.019862,0.0252967,0.0190413,0.0144677,0.0136759,0.0129613,0.0119639,0.0110809,0.0103826,0.00737147,0.00408498,0.00262545,0.00177279,0.0012463,0.000913172,0.000695087,0.000543518,0.000196796,0.000104595,7.26461e-05,5.60736e-05,4.35335e-05,3.35508e-05,2.53815e-05,1.83854e-05,1.31316e-05,9.1265e-06,6.33873e-06,4.49817e-06,3.24184e-06,2.46696e-06,1.98124e-06,1.65236e-06,1.4201e-06,1.24281e-06
4.0,-90.0,20.0,200.0,MEAN,5.0,0.299424,0.00764461,0.00782691,0.00769268,0.0102058,0.0146481,0.0160435,0.0158512,0.0156333,0.0154284,0.0148794,0.0143721,0.0139886,0.0118001,0.00820204,0.00606893,0.00448767,0.00333832,0.00255181,0.00201324,0.00162003,0.000652341,0.000356857,0.000239873,0.000175523,0.000134171,0.000104106,8.10589e-05,6.31062e-05,4.87443e-05,3.73355e-05,2.8877e-05,2.27317e-05,1.81795e-05,1.48885e-05,1.25117e-05,1.06966e-05,9.26097e-06,8.11715e-06
"""

# KNMF06_S_MEAN_FIG4.csv (Kanno 2006 shallow; PGA in g, PGV in cm/s)
KANNO_SHALLOW_MEAN = """rup_mag,dist_rrup,site_vs30,PGA,PGV
6.5,1.0,300.0,0.67304,91.71399
6.5,22.0,300.0,0.19617,16.4792
6.5,220.0,300.0,0.00668,1.24859
7.0,10.0,300.0,0.47073,58.17452
7.5,47.0,300.0,0.24129,34.36198
8.0,1.0,300.0,0.88444,221.79139
8.0,150.0,300.0,0.08394,21.34889
"""

# KNMF06_D_MEAN_FIG5.csv (Kanno 2006 deep; SA in g)
KANNO_DEEP_MEAN = """rup_mag,dist_rrup,site_vs30,0.05,0.1,0.3,1.0,2.0,5.0
7.0,40.0,300.0,0.56943,0.95102,0.89202,0.27658,0.09501,0.02343
7.0,120.0,300.0,0.09018,0.14331,0.1482,0.06114,0.02311,0.00574
7.0,200.0,300.0,0.02571,0.03887,0.04432,0.02432,0.01012,0.00253
"""


def _table(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def _imt_columns(df: pd.DataFrame, first: int) -> list[tuple[str, str]]:
    out = []
    for c in df.columns[first:]:
        imt = c.upper() if c.lower() in ("pga", "pgv") else f"SA({float(c)})"
        out.append((c, imt))
    return out


def test_bssa14_japan_mean_matches_boore_fortran():
    df = _table(BSSA_JAPAN_MEAN)
    gmm = get_gmm("BooreEtAl2014", region="japan")
    for col, imt in _imt_columns(df, 6):
        mu, sig = gmm.predict_native(imt, df.rup_mag, df.dist_rjb, df.site_vs30, z1pt0_m=df.site_z1pt0)
        np.testing.assert_allclose(np.exp(mu), df[col], rtol=0.02, err_msg=imt)


def test_bssa14_japan_sigma_matches_boore_fortran():
    df = _table(BSSA_JAPAN_SIGMA)
    gmm = get_gmm("BooreEtAl2014", region="japan")
    for col, imt in _imt_columns(df, 6):
        _, sig = gmm.predict_native(imt, df.rup_mag, df.dist_rjb, df.site_vs30, z1pt0_m=df.site_z1pt0)
        np.testing.assert_allclose(sig, df[col], rtol=0.01, err_msg=imt)


def test_bssa14_global_with_rake_matches_boore_fortran():
    df = _table(BSSA_GLOBAL_MEAN)
    gmm = get_gmm("BooreEtAl2014")  # region global by default
    assert gmm.region == "global"
    for col, imt in _imt_columns(df, 6):
        mu, _ = gmm.predict_native(imt, df.rup_mag, df.dist_rjb, df.site_vs30, rake_deg=df.rup_rake)
        np.testing.assert_allclose(np.exp(mu), df[col], rtol=0.02, err_msg=imt)


def test_kanno2006_shallow_and_deep_match_author_test_vector():
    df = _table(KANNO_SHALLOW_MEAN)
    shallow = get_gmm("Kanno2006Shallow")
    for imt in ("PGA", "PGV"):
        mu, sig = shallow.predict_native(imt, df.rup_mag, df.dist_rrup, df.site_vs30, allow_extrapolation=False)
        np.testing.assert_allclose(np.exp(mu), df[imt], rtol=2e-3, err_msg=imt)
    # total sigma: published in log10 units (Table 3: 0.37 PGA, 0.32 PGV), returned in ln units
    _, sig = shallow.predict_native("PGA", 6.5, 10.0, 300.0)
    assert sig == pytest.approx(0.366 * np.log(10), rel=1e-3)
    df = _table(KANNO_DEEP_MEAN)
    deep = get_gmm("Kanno2006Deep")
    for col, imt in _imt_columns(df, 3):
        mu, _ = deep.predict_native(imt, df.rup_mag, df.dist_rrup, df.site_vs30, depth_km=50.0)
        np.testing.assert_allclose(np.exp(mu), df[col], rtol=2e-3, err_msg=imt)


def test_kanno2006_auto_picks_branch_by_depth_and_uses_rhyp_as_rrup():
    auto, shallow, deep = get_gmm("Kanno2006"), get_gmm("Kanno2006Shallow"), get_gmm("Kanno2006Deep")
    depth = np.array([10.0, 30.0, 31.0, 80.0])
    rhyp = np.array([60.0, 60.0, 90.0, 120.0])
    mu, sig = auto.predict("PGV", magnitude=6.8, rhyp_km=rhyp, depth_km=depth, vs30_mps=350.0)
    mu_s, sig_s = shallow.predict_native("PGV", 6.8, rhyp[:2], 350.0)
    mu_d, sig_d = deep.predict_native("PGV", 6.8, rhyp[2:], 350.0)
    np.testing.assert_allclose(mu, np.r_[mu_s, mu_d])
    np.testing.assert_allclose(sig, np.r_[sig_s, sig_d])
    assert auto.component == shallow.component == "peak SRSS"
    assert auto.distance_metric == "rrup"


def test_bssa14_predict_converts_rhyp_to_rjb():
    gmm = get_gmm("BooreEtAl2014", region="japan")
    mu, sig = gmm.predict("SA(1.0)", magnitude=6.0, rhyp_km=50.0, depth_km=30.0, vs30_mps=400.0)
    mu2, sig2 = gmm.predict_native("SA(1.0)", 6.0, 40.0, 400.0)  # Rjb = sqrt(50^2 - 30^2)
    assert float(mu) == pytest.approx(float(mu2)) and float(sig) == pytest.approx(float(sig2))
    assert gmm.component == "RotD50" and gmm.distance_metric == "rjb"
    # a finite rupture is closer than its hypocentre: larger median
    mu_f, _ = gmm.predict("SA(1.0)", magnitude=7.5, rhyp_km=50.0, depth_km=30.0, vs30_mps=400.0,
                          distance_method="finite")
    mu_p, _ = gmm.predict("SA(1.0)", magnitude=7.5, rhyp_km=50.0, depth_km=30.0, vs30_mps=400.0)
    assert mu_f > mu_p


def test_vectorised_equals_loop_and_broadcasts():
    gmm = get_gmm("BooreEtAl2014", region="japan")
    rng = np.random.default_rng(0)
    M = rng.uniform(4, 7.5, 12)
    R = rng.uniform(15, 200, 12)
    V = rng.uniform(200, 1000, 12)
    mu, sig = gmm.predict("PGA", M, R, 10.0, V)
    assert mu.shape == sig.shape == (12,)
    for i in range(12):
        m1, s1 = gmm.predict("PGA", M[i], R[i], 10.0, V[i])
        assert np.ndim(m1) == 0
        assert float(m1) == pytest.approx(mu[i]) and float(s1) == pytest.approx(sig[i])
    grid, _ = gmm.predict("PGV", np.array([5.0, 6.0, 7.0])[:, None], np.array([20.0, 50.0]), 10.0, 400.0)
    assert grid.shape == (3, 2)
    assert np.all(np.diff(grid, axis=0) > 0) and np.all(np.diff(grid, axis=1) < 0)  # grows with M, decays with R


def test_unknown_names_and_bad_imts_raise_valueerror():
    with pytest.raises(ValueError, match="known: BooreEtAl2014"):
        get_gmm("AbrahamsonEtAl2014")
    with pytest.raises(ValueError, match="region"):
        get_gmm("BooreEtAl2014", region="mars")
    with pytest.raises(ValueError, match="region"):
        get_gmm("Kanno2006Shallow", region="california")
    assert set(available_gmms()) >= {"BooreEtAl2014", "Kanno2006Shallow", "Kanno2006Deep"}
    assert get_gmm("bssa14").name == "BooreEtAl2014"
    gmm = get_gmm("BooreEtAl2014")
    with pytest.raises(ValueError, match="unknown imt"):
        gmm.predict("PGD", 6.0, 30.0, 10.0, 400.0)
    with pytest.raises(ValueError, match="period_s=20"):
        gmm.predict("SA(20)", 6.0, 30.0, 10.0, 400.0)
    with pytest.raises(ValueError, match="period_s=0.02"):  # Kanno's table starts at 0.05 s
        get_gmm("Kanno2006Shallow").predict("SA(0.02)", 6.0, 30.0, 10.0, 400.0, allow_extrapolation=True)
    assert parse_imt("PSA1.0") == ("SA", 1.0) and parse_imt("SA(1)") == ("SA", 1.0)
    assert gmm.supports("SA(3.0)") and not gmm.supports("SA(20)") and not gmm.supports("Arias")


def test_out_of_validity_and_nan_raise_unless_extrapolating():
    gmm = get_gmm("BooreEtAl2014", region="japan")
    with pytest.raises(ValueError, match=r"magnitude=9\.1 .*BooreEtAl2014"):
        gmm.predict("PGA", [6.0, 9.1], 30.0, 10.0, 400.0)
    with pytest.raises(ValueError, match=r"vs30_mps=100"):
        gmm.predict("PGA", 6.0, 30.0, 10.0, 100.0)
    with pytest.raises(ValueError, match=r"rjb_km=499.9"):
        gmm.predict("PGA", 6.0, 500.0, 10.0, 400.0)
    mu, _ = gmm.predict("PGA", 9.1, 30.0, 10.0, 400.0, allow_extrapolation=True)
    assert np.isfinite(mu)
    with pytest.raises(ValueError, match="magnitude must be finite; got nan"):
        gmm.predict("PGA", [6.0, np.nan], 30.0, 10.0, 400.0, allow_extrapolation=True)
    with pytest.raises(ValueError, match="vs30_mps must be positive"):
        gmm.predict("PGA", 6.0, 30.0, 10.0, -5.0, allow_extrapolation=True)
    with pytest.raises(ValueError, match="shorter than depth_km"):
        gmm.predict("PGA", 6.0, 5.0, 10.0, 400.0)
    with pytest.raises(ValueError, match="empty"):
        gmm.predict("PGA", [], [], [], [])
    with pytest.raises(ValueError, match="normal faulting"):
        gmm.predict_native("PGA", 7.5, 10.0, 400.0, rake_deg=-90.0)
    with pytest.raises(ValueError, match="z1pt0_m"):
        get_gmm("BooreEtAl2014", region="global").predict_native("PGA", 6.0, 10.0, 400.0, z1pt0_m=300.0)
    kanno = get_gmm("Kanno2006Shallow")
    with pytest.raises(ValueError, match=r"depth_km=45 .*Kanno2006Shallow"):
        kanno.predict("PGA", 6.5, 60.0, 45.0, 400.0)
    with pytest.raises(ValueError, match=r"magnitude=4.5"):
        kanno.predict("PGA", 4.5, 60.0, 10.0, 400.0)
    with pytest.raises(ValueError, match="depth_km is required"):
        get_gmm("Kanno2006").predict_native("PGA", 6.5, 60.0, 400.0)


def test_missing_openquake_is_an_importerror_with_the_install_hint(monkeypatch):
    import quakesynth.gmm.models as models

    real = importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("openquake") else real(name, *a))
    with pytest.raises(ImportError, match=r"quakesynth\[gmm\]"):
        get_gmm("BooreEtAl2014")
    with pytest.raises(ValueError, match="unknown GMM"):  # names are checked first
        get_gmm("NoSuchModel")
