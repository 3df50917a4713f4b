"""Magnitude-distance bins: the one binning rule of the evaluation, the classifier and flatfiles.

Bins are closed on the left and open on the right, ``[e_k, e_{k+1})``; the last bin of an axis
also holds its upper edge unless the caller says otherwise (``include_last_edge=False`` keeps
the flatfile residual curves' half-open last bin). Values outside the edges or not finite get
index -1. A magnitude-distance grid is flattened row-major: ``i_m * n_r + i_r``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bin_index", "mr_bin_index"]


def bin_index(x, edges, include_last_edge: bool = True) -> np.ndarray:
    """Bin of each value, int64 array shaped like ``x``; -1 outside ``[edges[0], edges[-1]]``.

    Parameters
    ----------
    x : array-like of values (any unit; the same as ``edges``).
    edges : increasing bin edges, shape (B + 1,).
    include_last_edge : whether ``x == edges[-1]`` falls in the last bin (True) or outside.

    >>> bin_index([4.0, 5.0, 7.0, 7.5, float("nan")], [4, 5, 7]).tolist()
    [0, 1, 1, -1, -1]
    >>> bin_index([7.0], [4, 5, 7], include_last_edge=False).tolist()
    [-1]
    """
    x = np.asarray(x, dtype=float)
    edges = np.asarray(edges, dtype=float)
    i = np.searchsorted(edges, x, side="right") - 1
    if include_last_edge:
        i = np.where(x == edges[-1], len(edges) - 2, i)
    return np.where(np.isfinite(x) & (i >= 0) & (i <= len(edges) - 2), i, -1).astype(np.int64)


def mr_bin_index(magnitude, distance, magnitude_edges, distance_edges) -> np.ndarray:
    """Flat magnitude-distance bin ``i_m * n_r + i_r`` per record (N,), int64; -1 outside the grid.

    ``magnitude`` and ``distance`` (km) have shape (N,); the edges are increasing.

    >>> mr_bin_index(np.array([4.5, 6.0, 9.5]), np.array([30.0, 100.0, 10.0]), [4, 5, 7], [0, 50, 200]).tolist()
    [0, 3, -1]
    """
    im = bin_index(magnitude, magnitude_edges)
    ir = bin_index(distance, distance_edges)
    n_r = len(distance_edges) - 1
    return np.where((im < 0) | (ir < 0), -1, im * n_r + ir).astype(np.int64)
