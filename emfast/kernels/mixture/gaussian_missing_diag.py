"""Kernels for rows with missing values (NaN) under diagonal or spherical covariances.

With a diagonal covariance the features of a component are independent: the
observed marginal is the product over observed features, a missing feature's
conditional mean is the component mean and its conditional variance the
component variance. No per-pattern algebra is needed, so rows are processed in
their order.

Parameters in kernel layout: ``log_w[k]``, ``means_t[l, k]``, ``prec_t[l, k]``
(precision ``1 / var``, equal across features for spherical components) and
``half_log_prec_t[l, k] = log(prec_t[l, k]) / 2``. Rows are listed as for
:mod:`~emfast.kernels.mixture.gaussian_missing` (``rows`` and chunk
``bounds``), and so are the per-chunk float64 statistics, here with the
diagonal of the second moments only: ``s2[c][l, k] = sum r E[(x_l - mu_lk)^2]``.
"""

import math
from collections import namedtuple

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.logsumexp import argmax, posterior_row

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

Model = namedtuple("Model", "log_w means_t prec_t half_log_prec_t")
Model.__doc__ = "Mixture parameters in kernel layout (float64, see the module)."


@jit
def observed_log_prob(x, model, e, log_prob):
    """Observed-marginal log-density terms of one row.

    ``e[l, k]`` gets ``x_l - mu_lk`` on observed features and 0 (the conditional
    mean offset) on missing ones.
    """
    means_t, prec_t, half_log_prec_t = (
        model.means_t,
        model.prec_t,
        model.half_log_prec_t,
    )
    n_features, n_components = means_t.shape
    for k in range(n_components):
        log_prob[k] = 0.0
    n_obs = 0
    for l in range(n_features):
        x_l = x[l]
        if x_l != x_l:
            for k in range(n_components):
                e[l, k] = 0.0
            continue
        n_obs += 1
        for k in range(n_components):
            d = x_l - means_t[l, k]
            e[l, k] = d
            log_prob[k] += half_log_prec_t[l, k] - 0.5 * d * d * prec_t[l, k]
    for k in range(n_components):
        log_prob[k] += model.log_w[k] - n_obs * _HALF_LOG_2PI


@jit(parallel=True)
def stats(X, rows, bounds, sample_weight, model, ll, nk, s1, s2):
    """E-step fused with the expected statistics of the listed rows, per chunk."""
    n_features, n_components = model.means_t.shape
    weighted = sample_weight.shape[0] > 0
    for c in prange(ll.shape[0]):
        e = np.empty((n_features, n_components))
        log_prob = np.empty(n_components)
        resp = np.empty(n_components)
        nk_c, s1_c, s2_c = nk[c], s1[c], s2[c]
        nk_c[:] = 0.0
        s1_c[:] = 0.0
        s2_c[:] = 0.0
        ll_c = 0.0
        for p in range(bounds[c], bounds[c + 1]):
            i = rows[p]
            weight = sample_weight[i] if weighted else 1.0
            if weight == 0.0:
                continue
            x = X[i]
            observed_log_prob(x, model, e, log_prob)
            log_norm = posterior_row(log_prob, weight, resp)
            ll_c += weight * log_norm
            if log_norm == -np.inf:  # every log-density underflowed
                continue
            for k in range(n_components):
                nk_c[k] += resp[k]
            for l in range(n_features):
                if x[l] != x[l]:  # conditional variance of a missing feature
                    for k in range(n_components):
                        s2_c[l, k] += resp[k] / model.prec_t[l, k]
                    continue
                for k in range(n_components):
                    r_e = resp[k] * e[l, k]
                    s1_c[l, k] += r_e
                    s2_c[l, k] += r_e * e[l, k]
        ll[c] = ll_c


@jit(parallel=True)
def score(X, rows, bounds, model, log_norm, labels, resp):
    """Per listed row ``p``: ``log p(x_o)``, most probable component, posteriors.

    Outputs are indexed by position in ``rows``; ``resp`` is
    ``(len(rows), n_components)`` or empty (not wanted).
    """
    n_features, n_components = model.means_t.shape
    want_resp = resp.shape[0] > 0
    for c in prange(bounds.shape[0] - 1):
        e = np.empty((n_features, n_components))
        log_prob = np.empty(n_components)
        resp_row = np.empty(n_components)
        for p in range(bounds[c], bounds[c + 1]):
            observed_log_prob(X[rows[p]], model, e, log_prob)
            log_norm[p] = posterior_row(log_prob, 1.0, resp_row)
            labels[p] = argmax(log_prob)
            if want_resp:
                resp[p] = resp_row


@jit(parallel=True)
def impute(X, rows, bounds, model, out, log_norm):
    """``out[i, l] = sum_k p(k | x_o) mu_lk`` on the NaN of listed rows.

    ``out`` is a copy of ``X``; ``log_norm[p]`` as in
    :func:`emfast.kernels.mixture.gaussian_missing.impute`.
    """
    n_features, n_components = model.means_t.shape
    for c in prange(bounds.shape[0] - 1):
        e = np.empty((n_features, n_components))
        log_prob = np.empty(n_components)
        resp = np.empty(n_components)
        for p in range(bounds[c], bounds[c + 1]):
            i = rows[p]
            x = X[i]
            observed_log_prob(x, model, e, log_prob)
            log_norm[p] = posterior_row(log_prob, 1.0, resp)
            for l in range(n_features):
                if x[l] != x[l]:
                    value = 0.0
                    for k in range(n_components):
                        value += resp[k] * model.means_t[l, k]
                    out[i, l] = value
