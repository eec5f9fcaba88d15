"""Kernels for Gaussian components with full covariance matrices.

Parameters arrive in kernel layout (component axis last):

- ``const[k] = log w_k + log det U_k - D/2 log(2 pi)``,
- ``means_t[l, k]``: component means,
- ``prec_t[l, j, k] = U_k[l, j]``: upper-triangular Cholesky factors of the
  precisions (``precisions_cholesky_`` of scikit-learn), so that the Mahalanobis
  term is ``|(x - mu_k) U_k|^2``.

Statistics are centred on the means the pass was run with (``means_t``):
``s1[l, k] = sum r (x_l - mu_lk)`` and
``s2[l, j, k] = sum r (x_l - mu_lk)(x_j - mu_jk)`` (upper triangle, ``l <= j``),
accumulated per tile of rows in the dtype of ``X``, then in float64
(:mod:`emfast.kernels.accumulate`).
"""

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.accumulate import TILE_ROWS, cast_like, flush
from emfast.kernels.mixture.logsumexp import argmax, posterior_row, resp_log_resp


@jit
def log_prob_row(x, const, means_t, prec_t, diff, y, log_prob):
    """Per-component weighted log-density of one row; fills ``diff`` too."""
    n_features, n_components = means_t.shape
    half = cast_like(0.5, log_prob)
    for l in range(n_features):
        x_l = x[l]
        for k in range(n_components):
            diff[l, k] = x_l - means_t[l, k]
    for k in range(n_components):
        log_prob[k] = 0.0
    for j in range(n_features):
        for k in range(n_components):
            y[k] = 0.0
        for l in range(j + 1):
            for k in range(n_components):
                y[k] += diff[l, k] * prec_t[l, j, k]
        for k in range(n_components):
            log_prob[k] += y[k] * y[k]
    for k in range(n_components):
        log_prob[k] = const[k] - half * log_prob[k]


@jit(parallel=True)
def stats(
    X,
    sample_weight,
    const,
    means_t,
    prec_t,
    chunk_rows,
    with_entropy,
    ll,
    ent,
    nk,
    s1,
    s2,
):
    """E-step fused with the M-step statistics over the chunks of ``X``.

    Chunk ``c`` covers rows ``[c * chunk_rows, (c + 1) * chunk_rows)`` and writes
    ``ll[c]`` (sum of weighted log p(x)), ``ent[c]`` (``sum r log p(k|x)``, only
    computed ``with_entropy``, for variational bounds), ``nk[c]``, ``s1[c]``,
    ``s2[c]``. ``sample_weight`` is empty for unit weights.
    """
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    weighted = sample_weight.shape[0] > 0
    dtype = X.dtype
    for c in prange(ll.shape[0]):
        diff = np.empty((n_features, n_components), dtype=dtype)
        y = np.empty(n_components, dtype=dtype)
        log_prob = np.empty(n_components, dtype=dtype)
        resp = np.empty(n_components, dtype=dtype)
        r_diff = np.empty((n_features, n_components), dtype=dtype)
        nk_t = np.zeros(n_components, dtype=dtype)
        s1_t = np.zeros((n_features, n_components), dtype=dtype)
        s2_t = np.zeros((n_features, n_features, n_components), dtype=dtype)
        nk[c][:] = 0.0
        s1[c][:] = 0.0
        s2[c][:] = 0.0
        ll_c = 0.0
        ent_c = 0.0
        in_tile = 0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            weight = sample_weight[i] if weighted else 1.0
            if weight == 0.0:
                continue
            log_prob_row(X[i], const, means_t, prec_t, diff, y, log_prob)
            log_norm = posterior_row(log_prob, weight, resp)
            ll_c += weight * log_norm
            if log_norm == -np.inf:  # every log-density underflowed
                continue
            if with_entropy:
                ent_c += resp_log_resp(resp, log_prob, log_norm)
            for k in range(n_components):
                nk_t[k] += resp[k]
            for l in range(n_features):
                for k in range(n_components):
                    r_diff[l, k] = resp[k] * diff[l, k]
                    s1_t[l, k] += r_diff[l, k]
            for l in range(n_features):
                for j in range(l, n_features):
                    for k in range(n_components):
                        s2_t[l, j, k] += r_diff[l, k] * diff[j, k]
            in_tile += 1
            if in_tile == TILE_ROWS:
                flush(nk_t, nk[c])
                flush(s1_t, s1[c])
                flush(s2_t, s2[c])
                in_tile = 0
        flush(nk_t, nk[c])
        flush(s1_t, s1[c])
        flush(s2_t, s2[c])
        ll[c] = ll_c
        ent[c] = ent_c


@jit(parallel=True)
def score(X, const, means_t, prec_t, chunk_rows, log_norm, labels, resp):
    """Per-row ``log p(x)``, most probable component and (optionally) posteriors.

    ``resp`` is either ``(n_samples, n_components)`` or empty (not wanted).
    """
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    want_resp = resp.shape[0] > 0
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        diff = np.empty((n_features, n_components), dtype=X.dtype)
        y = np.empty(n_components, dtype=X.dtype)
        log_prob = np.empty(n_components, dtype=X.dtype)
        resp_row = np.empty(n_components, dtype=X.dtype)
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            log_prob_row(X[i], const, means_t, prec_t, diff, y, log_prob)
            log_norm[i] = posterior_row(log_prob, 1.0, resp_row)
            labels[i] = argmax(log_prob)
            if want_resp:
                resp[i] = resp_row
