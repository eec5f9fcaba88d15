"""Weighted moments that do not come from an E-step.

- :func:`scatter`: the total scatter of the data about a fixed point (once per
  fit, for tied covariances); :func:`squares`: its diagonal alone.
- :func:`resp_stats`: statistics of given responsibilities (the initialisation
  of scikit-learn, whose responsibilities come from k-means labels, random
  numbers or chosen rows), one block of rows at a time.

All sums are float64 and per chunk, as in the E-step kernels.
"""

import numpy as np

from emfast._numba import jit, prange

# what resp_stats computes besides nk and s1
FIRST_MOMENTS = 0
DIAG = 1
FULL = 2
FULL_AND_DEFICIT = 3


@jit(parallel=True)
def scatter(X, sample_weight, shift, chunk_rows, weight_sum, out):
    """``out[c] = sum w (x - shift)(x - shift)^T`` (upper triangle) per chunk."""
    n_samples, n_features = X.shape
    weighted = sample_weight.shape[0] > 0
    for c in prange(weight_sum.shape[0]):
        diff = np.empty(n_features)
        out_c = out[c]
        out_c[:] = 0.0
        total = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            weight = sample_weight[i] if weighted else 1.0
            total += weight
            for l in range(n_features):
                diff[l] = X[i, l] - shift[l]
            for l in range(n_features):
                w_diff = weight * diff[l]
                for j in range(l, n_features):
                    out_c[l, j] += w_diff * diff[j]
        weight_sum[c] = total


@jit(parallel=True)
def squares(X, sample_weight, shift, chunk_rows, weight_sum, out):
    """``out[c] = sum w (x - shift)**2`` (the scatter's diagonal) per chunk."""
    n_samples, n_features = X.shape
    weighted = sample_weight.shape[0] > 0
    for c in prange(weight_sum.shape[0]):
        out_c = out[c]
        out_c[:] = 0.0
        total = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            weight = sample_weight[i] if weighted else 1.0
            total += weight
            for l in range(n_features):
                diff = X[i, l] - shift[l]
                out_c[l] += weight * diff * diff
        weight_sum[c] = total


@jit(parallel=True)
def resp_stats(
    X,
    resp,
    sample_weight,
    centers_t,
    mode,
    chunk_rows,
    nk,
    s1,
    s2_diag,
    s2_full,
    deficit,
):
    """Statistics of the responsibilities ``resp`` (rows aligned with ``X``).

    Always ``nk[c, k] = sum r`` and ``s1[c, l, k] = sum r (x_l - center_lk)``;
    ``mode`` DIAG adds ``s2_diag[c, l, k] = sum r (x_l - center_lk)^2``, FULL adds
    the upper triangle of ``s2_full[c, l, j, k]``, and FULL_AND_DEFICIT also
    ``deficit[c] = sum (w - sum_k r) x x^T`` (upper triangle, about the origin):
    the part of ``X^T X`` that scikit-learn's tied covariance counts for rows
    whose responsibilities do not sum to their weight.
    Rows whose responsibility is exactly zero cost nothing (one-hot inits).
    """
    n_samples, n_features = X.shape
    n_components = centers_t.shape[1]
    weighted = sample_weight.shape[0] > 0
    for c in prange(nk.shape[0]):
        diff = np.empty(n_features)
        nk_c = nk[c]
        s1_c = s1[c]
        nk_c[:] = 0.0
        s1_c[:] = 0.0
        if mode == DIAG:
            s2_diag[c][:] = 0.0
        if mode >= FULL:
            s2_full[c][:] = 0.0
        if mode == FULL_AND_DEFICIT:
            deficit[c][:] = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            weight = sample_weight[i] if weighted else 1.0
            row_total = 0.0
            for k in range(n_components):
                r = weight * resp[i, k]
                if r == 0.0:
                    continue
                row_total += r
                nk_c[k] += r
                for l in range(n_features):
                    diff[l] = X[i, l] - centers_t[l, k]
                    s1_c[l, k] += r * diff[l]
                if mode == DIAG:
                    for l in range(n_features):
                        s2_diag[c, l, k] += r * diff[l] * diff[l]
                elif mode >= FULL:
                    for l in range(n_features):
                        r_diff = r * diff[l]
                        for j in range(l, n_features):
                            s2_full[c, l, j, k] += r_diff * diff[j]
            if mode == FULL_AND_DEFICIT:
                missing = weight - row_total
                if missing != 0.0:
                    for l in range(n_features):
                        m_x = missing * X[i, l]
                        for j in range(l, n_features):
                            deficit[c, l, j] += m_x * X[i, j]
