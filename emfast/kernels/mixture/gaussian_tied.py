"""Kernels for Gaussian components sharing one (tied) covariance matrix.

With one precision factor ``U`` the Mahalanobis term of component k is
``|(x - c) U - (mu_k - c) U|^2``: one triangular product per row, whatever the
number of components. ``shift`` (``c``, the data mean) keeps both products small
so that float32 data do not lose digits to a large offset.

Parameters in kernel layout: ``const[k]`` (log weight + log det U - D/2 log 2 pi),
``means_t[l, k]``, ``prec_chol[l, j] = U[l, j]`` (upper triangular) and
``means_prec_t[j, k] = ((mu_k - c) U)[j]``.

The pass only needs ``nk`` and the centred first moments ``s1``: the pooled
scatter is the total scatter about ``c`` (computed once per fit by
:func:`emfast.kernels.mixture.moments.scatter`) minus a K x D x D correction.
"""

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.accumulate import TILE_ROWS, cast_like, flush
from emfast.kernels.mixture.logsumexp import argmax, posterior_row, resp_log_resp


@jit
def log_prob_row(x, shift, const, prec_chol, means_prec_t, x_prec, log_prob):
    """Per-component weighted log-density of one row."""
    n_features, n_components = means_prec_t.shape
    half = cast_like(0.5, log_prob)
    for j in range(n_features):
        acc = x_prec[0] * 0  # zero in the data dtype
        for l in range(j + 1):
            acc += (x[l] - shift[l]) * prec_chol[l, j]
        x_prec[j] = acc
    for k in range(n_components):
        log_prob[k] = 0.0
    for j in range(n_features):
        x_j = x_prec[j]
        for k in range(n_components):
            y = x_j - means_prec_t[j, k]
            log_prob[k] += y * y
    for k in range(n_components):
        log_prob[k] = const[k] - half * log_prob[k]


@jit(parallel=True)
def stats(
    X,
    sample_weight,
    shift,
    const,
    means_t,
    prec_chol,
    means_prec_t,
    chunk_rows,
    with_entropy,
    ll,
    ent,
    nk,
    s1,
):
    """E-step fused with the statistics ``nk`` and ``s1`` (centred on ``means_t``)."""
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    weighted = sample_weight.shape[0] > 0
    dtype = X.dtype
    for c in prange(ll.shape[0]):
        x_prec = np.zeros(n_features, dtype=dtype)
        log_prob = np.empty(n_components, dtype=dtype)
        resp = np.empty(n_components, dtype=dtype)
        nk_t = np.zeros(n_components, dtype=dtype)
        s1_t = np.zeros((n_features, n_components), dtype=dtype)
        nk[c][:] = 0.0
        s1[c][:] = 0.0
        ll_c = 0.0
        ent_c = 0.0
        in_tile = 0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            weight = sample_weight[i] if weighted else 1.0
            if weight == 0.0:
                continue
            x = X[i]
            log_prob_row(x, shift, const, prec_chol, means_prec_t, x_prec, log_prob)
            log_norm = posterior_row(log_prob, weight, resp)
            ll_c += weight * log_norm
            if log_norm == -np.inf:  # every log-density underflowed
                continue
            if with_entropy:
                ent_c += resp_log_resp(resp, log_prob, log_norm)
            for k in range(n_components):
                nk_t[k] += resp[k]
            for l in range(n_features):
                x_l = x[l]
                for k in range(n_components):
                    s1_t[l, k] += resp[k] * (x_l - means_t[l, k])
            in_tile += 1
            if in_tile == TILE_ROWS:
                flush(nk_t, nk[c])
                flush(s1_t, s1[c])
                in_tile = 0
        flush(nk_t, nk[c])
        flush(s1_t, s1[c])
        ll[c] = ll_c
        ent[c] = ent_c


@jit(parallel=True)
def score(X, shift, const, prec_chol, means_prec_t, chunk_rows, log_norm, labels, resp):
    """Per-row ``log p(x)``, most probable component and optional posteriors."""
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    want_resp = resp.shape[0] > 0
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        x_prec = np.zeros(n_features, dtype=X.dtype)
        log_prob = np.empty(n_components, dtype=X.dtype)
        resp_row = np.empty(n_components, dtype=X.dtype)
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            log_prob_row(X[i], shift, const, prec_chol, means_prec_t, x_prec, log_prob)
            log_norm[i] = posterior_row(log_prob, 1.0, resp_row)
            labels[i] = argmax(log_prob)
            if want_resp:
                resp[i] = resp_row
