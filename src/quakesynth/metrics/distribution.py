"""Distribution metrics: Frechet distances, residual statistics, normality, histogram and
classifier-based comparisons of generated and real data sets.

Frechet distance between Gaussians ``N(mu1, C1)`` and ``N(mu2, C2)`` (the squared
2-Wasserstein distance; HighFEM eq. 15 on feature vectors such as log-FAS)::

    FD = |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2})

computed with symmetric eigendecompositions (``C1^{1/2}`` of a PSD matrix, then the
eigenvalues of the PSD matrix ``C1^{1/2} C2 C1^{1/2}``, negative round-off clipped to zero),
so it is always real and non-negative -- unlike ``scipy.linalg.sqrtm(C1 @ C2)``, which can
return complex values for nearly singular covariances. The element-wise form (HighFEM
eq. 14; independent features) is ``sum_i (mu1_i - mu2_i)^2 + (sigma1_i - sigma2_i)^2``.

Residuals are natural-log residuals ``ln(observed) - ln(predicted)`` unless stated.
"""

from __future__ import annotations

import numpy as np

from quakesynth.metrics._checks import as_array


# --------------------------------------------------------------------------------------
# Frechet distances
# --------------------------------------------------------------------------------------
def _sqrtm_psd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((c + c.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Frechet distance between two Gaussians given their means (D,) and covariances (D, D).

    >>> import numpy as np
    >>> frechet_distance(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), np.eye(2))
    25.0
    """
    m1 = np.atleast_1d(as_array(mu1, "mu1", min_ndim=0))
    m2 = np.atleast_1d(as_array(mu2, "mu2", min_ndim=0))
    c1 = np.atleast_2d(as_array(cov1, "cov1", min_ndim=0))
    c2 = np.atleast_2d(as_array(cov2, "cov2", min_ndim=0))
    d = m1.shape[0]
    if m1.shape != (d,) or m2.shape != (d,) or c1.shape != (d, d) or c2.shape != (d, d):
        raise ValueError(f"need mu1, mu2 of shape (D,) and cov1, cov2 of shape (D, D); got "
                         f"{m1.shape}, {m2.shape}, {c1.shape}, {c2.shape}")
    s1 = _sqrtm_psd(c1)
    w = np.linalg.eigvalsh((s1 @ c2 @ s1 + (s1 @ c2 @ s1).T) / 2.0)
    tr_sqrt = np.sqrt(np.clip(w, 0.0, None)).sum()
    fd = float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2.0 * tr_sqrt)
    return max(fd, 0.0)


def frechet_distance_diagonal(mu1, sigma1, mu2, sigma2) -> float:
    """Element-wise Gaussian Frechet distance ``sum (mu1-mu2)^2 + (sigma1-sigma2)^2``."""
    a = [np.atleast_1d(as_array(v, n, min_ndim=0)) for v, n in
         ((mu1, "mu1"), (sigma1, "sigma1"), (mu2, "mu2"), (sigma2, "sigma2"))]
    if len({x.shape for x in a}) != 1:
        raise ValueError(f"mu1, sigma1, mu2, sigma2 must have the same shape; got {[x.shape for x in a]}")
    if (a[1] < 0).any() or (a[3] < 0).any():
        raise ValueError("sigma1 and sigma2 must be non-negative standard deviations")
    return float(((a[0] - a[2]) ** 2).sum() + ((a[1] - a[3]) ** 2).sum())


def _features(x, name: str) -> np.ndarray:
    a = as_array(x, name, min_ndim=1)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be samples x features (N, D); got shape {a.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples to estimate a covariance; got {a.shape[0]}")
    return a


def embedding_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) (ddof = 1) of features or embeddings (N, D)."""
    f = _features(features, "features")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance_samples(x, y, kind: str = "full") -> float:
    """Frechet distance between the Gaussian fits of two sample sets (N, D) and (M, D).

    ``kind="full"``: full covariances (HighFEM eq. 15; also the "FID" on classifier
    embeddings). ``kind="diagonal"``: independent features (HighFEM eq. 14; standard
    deviations with ddof = 1).
    """
    a = _features(x, "x")
    b = _features(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same number of features; got {a.shape[1]} and {b.shape[1]}")
    if kind == "full":
        return frechet_distance(*embedding_statistics(a), *embedding_statistics(b))
    if kind == "diagonal":
        return frechet_distance_diagonal(a.mean(0), a.std(0, ddof=1), b.mean(0), b.std(0, ddof=1))
    raise ValueError(f"kind must be 'full' or 'diagonal'; got {kind!r}")


def log_fas_frechet_distance(acc_x, acc_y, fs: float, kind: str = "diagonal",
                             fmin: float = 0.0, fmax: float | None = None, eps: float = 1e-12) -> float:
    """Frechet distance between the natural-log Fourier amplitude spectra of two record sets.

    ``acc_x`` (N, T) and ``acc_y`` (M, T) (one component each, same fs and length); features
    are ``ln(max(|FFT|/fs, eps))`` at the FFT frequencies with ``fmin <= f <= fmax`` (Hz).
    ``kind="diagonal"`` is HighFEM eq. 14, ``"full"`` eq. 15.
    """
    from quakesynth.metrics.spectra import log_fourier_amplitude

    fx, lx = log_fourier_amplitude(acc_x, fs, eps=eps)
    fy, ly = log_fourier_amplitude(acc_y, fs, eps=eps)
    if lx.shape[-1] != ly.shape[-1]:
        raise ValueError("acc_x and acc_y must have the same number of samples")
    hi = fs / 2 if fmax is None else fmax
    sel = (fx >= fmin) & (fx <= hi)
    return frechet_distance_samples(lx.reshape(-1, lx.shape[-1])[:, sel],
                                    ly.reshape(-1, ly.shape[-1])[:, sel], kind)


# --------------------------------------------------------------------------------------
# residuals
# --------------------------------------------------------------------------------------
def log_residuals(observed, predicted) -> np.ndarray:
    """Natural-log residuals ``ln(observed) - ln(predicted)`` (positive values required)."""
    o = as_array(observed, "observed", min_ndim=0)
    p = as_array(predicted, "predicted", min_ndim=0)
    if (o <= 0).any() or (p <= 0).any():
        raise ValueError("observed and predicted must be positive to take logarithms")
    return np.log(o) - np.log(p)


def residual_statistics(residuals, event_id=None) -> dict[str, float]:
    """Mean bias and standard deviations of residuals (any log base, as given).

    Parameters
    ----------
    residuals : array (N,)
        Log residuals, e.g. from :func:`log_residuals`.
    event_id : array (N,), optional
        Event of each residual; if given the residuals are split into between-event terms
        ``dB_e`` (the mean residual of event ``e`` minus the overall mean) and within-event
        terms ``dW_ij = r_ij - mean_e`` (method of moments, not a mixed-effects fit).

    Returns
    -------
    dict with ``"bias"`` (mean), ``"sigma"`` (standard deviation, ddof = 1), ``"n"`` and, with
    ``event_id``, ``"tau"`` (std of the between-event terms over events, ddof = 1), ``"phi"``
    (std of the within-event terms, ddof = number of events) and ``"n_events"``.
    """
    r = as_array(residuals, "residuals")
    if r.ndim != 1:
        raise ValueError(f"residuals must be 1-D; got shape {r.shape}")
    out: dict[str, float] = {"bias": float(r.mean()), "n": int(r.size),
                             "sigma": float(r.std(ddof=1)) if r.size > 1 else 0.0}
    if event_id is not None:
        ev = np.asarray(event_id)
        if ev.shape != r.shape:
            raise ValueError(f"event_id must have the shape of residuals {r.shape}; got {ev.shape}")
        codes, inv = np.unique(ev, return_inverse=True)
        counts = np.bincount(inv)
        means = np.bincount(inv, weights=r) / counts
        between = means - r.mean()
        within = r - means[inv]
        ne = len(codes)
        out["n_events"] = ne
        out["tau"] = float(between.std(ddof=1)) if ne > 1 else 0.0
        dof = r.size - ne
        out["phi"] = float(np.sqrt((within**2).sum() / dof)) if dof > 0 else 0.0
    return out


def shapiro_wilk_log(values) -> tuple[float, float]:
    """Shapiro-Wilk test of ``ln(values)`` (e.g. peaks): statistic W and p-value.

    A large p-value is consistent with lognormal peaks (3 to 5000 samples).
    """
    from scipy.stats import shapiro

    v = as_array(values, "values").ravel()
    if (v <= 0).any():
        raise ValueError("values must be positive to take logarithms")
    if v.size < 3:
        raise ValueError(f"Shapiro-Wilk needs at least 3 values; got {v.size}")
    res = shapiro(np.log(v))
    return float(res.statistic), float(res.pvalue)


# --------------------------------------------------------------------------------------
# HighFEM eq. 13: average model probability
# --------------------------------------------------------------------------------------
def average_model_probability(im_observed, bin_observed, im_model, bin_model,
                              n_bins: int | None = None) -> np.ndarray:
    """Average model probability density of observed intensity measures, per bin.

    For every bin ``b`` (e.g. a magnitude-distance cell; integer labels 0..n_bins-1) the
    model's distribution of ``ln IM`` is taken as normal with the model samples' median
    ``mu_b = ln(median IM)`` and ``sigma_b = (ln IM_84 - ln IM_16) / 2`` (16th and 84th
    percentiles of the model samples in the bin). The score of the bin is

        P_b = (1 / N_b) sum_{i in b} phi(ln IM_i; mu_b, sigma_b),

    the mean normal density (per unit of ln IM, not a probability) of the ``N_b`` observed
    values in the bin. Higher is better; a model that is too wide or off-centre scores low.
    This is HighFEM's eq. 13 as in its evaluation code (observed records binned, model
    samples generated per bin).

    Parameters
    ----------
    im_observed : (N,) positive IM values of the observed records; bin_observed : (N,) int.
    im_model : (M,) positive IM values of the model samples; bin_model : (M,) int.
    n_bins : int, optional
        Number of bins (default: 1 + the largest label).

    Returns
    -------
    (n_bins,) array; NaN for bins without observations or with fewer than 2 model samples.
    """
    from scipy.stats import norm

    io = as_array(im_observed, "im_observed")
    im = as_array(im_model, "im_model")
    bo = np.asarray(bin_observed)
    bm = np.asarray(bin_model)
    if bo.shape != io.shape or bm.shape != im.shape:
        raise ValueError("bin labels must have the shapes of their IM arrays")
    if (io <= 0).any() or (im <= 0).any():
        raise ValueError("IM values must be positive")
    if not (np.issubdtype(bo.dtype, np.integer) and np.issubdtype(bm.dtype, np.integer)):
        raise ValueError("bin labels must be integers")
    if (bo < 0).any() or (bm < 0).any():
        raise ValueError("bin labels must be non-negative")
    nb = int(max(bo.max(), bm.max())) + 1 if n_bins is None else int(n_bins)
    out = np.full(nb, np.nan)
    for b in range(nb):
        mod = np.log(im[bm == b])
        obs = np.log(io[bo == b])
        if obs.size == 0 or mod.size < 2:
            continue
        mu = np.percentile(mod, 50)
        sigma = (np.percentile(mod, 84) - np.percentile(mod, 16)) / 2.0
        if sigma <= 0:
            continue
        out[b] = norm.pdf(obs, mu, sigma).mean()
    return out


def average_model_probability_parametric(im_observed, mu_ln, sigma_ln) -> float:
    """Eq. 13 for a parametric model (a GMM): mean of ``phi(ln IM_i; mu_i, sigma_i)``.

    ``mu_ln``, ``sigma_ln`` (N,) are the model's natural-log median and standard deviation
    for each observed record.
    """
    from scipy.stats import norm

    io = as_array(im_observed, "im_observed")
    mu = as_array(mu_ln, "mu_ln")
    sg = as_array(sigma_ln, "sigma_ln")
    if not (io.shape == mu.shape == sg.shape):
        raise ValueError(f"im_observed, mu_ln and sigma_ln must have one shape; got {io.shape}, "
                         f"{mu.shape}, {sg.shape}")
    if (io <= 0).any() or (sg <= 0).any():
        raise ValueError("im_observed and sigma_ln must be positive")
    return float(norm.pdf(np.log(io), mu, sg).mean())


# --------------------------------------------------------------------------------------
# histograms, confusion matrices, classifiers
# --------------------------------------------------------------------------------------
def jensen_shannon_similarity(p, q) -> float:
    """``1 - JSD(p, q)`` with the base-2 Jensen-Shannon divergence of two histograms (0..1).

    ``p`` and ``q`` are non-negative counts or densities on the same bins (normalised here).
    1 means identical distributions, 0 disjoint supports.
    """
    a = as_array(p, "p")
    b = as_array(q, "q")
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"p and q must be 1-D histograms on the same bins; got {a.shape}, {b.shape}")
    if (a < 0).any() or (b < 0).any() or a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("p and q must be non-negative with a positive sum")
    a = a / a.sum()
    b = b / b.sum()
    m = (a + b) / 2.0

    def kl(x, y):
        s = x > 0
        return float((x[s] * np.log2(x[s] / y[s])).sum())

    return float(np.clip(1.0 - 0.5 * (kl(a, m) + kl(b, m)), 0.0, 1.0))


def histogram_similarity(x, y, bins=20, value_range=None, log: bool = False) -> float:
    """Jensen-Shannon similarity of the histograms of two samples on common bins.

    ``bins`` as ``numpy.histogram`` over ``value_range`` (default: the joint range);
    ``log=True`` bins ``log10`` of positive values (e.g. f0 in Hz).
    """
    a = as_array(x, "x").ravel()
    b = as_array(y, "y").ravel()
    if log:
        if (a <= 0).any() or (b <= 0).any():
            raise ValueError("log=True needs positive values")
        a, b = np.log10(a), np.log10(b)
    lo_hi = (min(a.min(), b.min()), max(a.max(), b.max())) if value_range is None else value_range
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=bins, range=lo_hi)
    return jensen_shannon_similarity(np.histogram(a, edges)[0] + 0.0, np.histogram(b, edges)[0] + 0.0)


def confusion_matrix(y_true, y_pred, n_classes: int | None = None, normalize: str | None = None
                     ) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = count of true class i predicted as j.

    ``normalize="true"`` divides each row by its count (recall per class).
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1 or t.size == 0:
        raise ValueError(f"y_true and y_pred must be non-empty 1-D label arrays of one shape; got {t.shape}, {p.shape}")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)):
        raise ValueError("labels must be integers")
    k = int(max(t.max(), p.max())) + 1 if n_classes is None else int(n_classes)
    c = np.zeros((k, k))
    np.add.at(c, (t, p), 1.0)
    if normalize == "true":
        rows = c.sum(axis=1, keepdims=True)
        c = np.divide(c, rows, out=np.zeros_like(c), where=rows > 0)
    elif normalize is not None:
        raise ValueError(f"normalize must be None or 'true'; got {normalize!r}")
    return c


def confusion_ncc(c1, c2) -> float:
    """Normalised cross-correlation of two confusion matrices (Pearson over the cells).

    ``sum (A - mean A)(B - mean B) / sqrt(sum (A - mean A)^2 sum (B - mean B)^2)``, -1..1;
    1 when the classifier confuses generated data exactly as it confuses real data (up to
    scale). Row-normalise first (``confusion_matrix(..., normalize="true")``) to compare
    sets of different sizes.
    """
    a = as_array(c1, "c1", min_ndim=2)
    b = as_array(c2, "c2", min_ndim=2)
    if a.shape != b.shape:
        raise ValueError(f"c1 and c2 must have the same shape; got {a.shape}, {b.shape}")
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    if den == 0:
        raise ValueError("a confusion matrix is constant; NCC is undefined")
    return float((a * b).sum() / den)


def accuracy(y_true, y_pred_or_scores) -> float:
    """Classifier accuracy; predictions as labels (N,) or class scores/logits (N, K)."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred_or_scores)
    if p.ndim == 2:
        p = p.argmax(axis=1)
    if t.shape != p.shape or t.size == 0:
        raise ValueError(f"y_true and predictions must be non-empty with one length; got {t.shape}, {p.shape}")
    return float((t == p).mean())


def softmax(logits, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of classifier logits."""
    z = as_array(logits, "logits")
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def embedding_frechet_distance(emb_real, emb_generated) -> float:
    """Frechet distance between classifier embeddings (N, D) of real and generated records.

    Any classifier can feed it (the "Frechet Inception Distance" with a seismic classifier's
    penultimate layer in place of Inception).
    """
    return frechet_distance_samples(emb_real, emb_generated, kind="full")
