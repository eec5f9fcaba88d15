"""Kernels for mixtures of independent Poissons (count data); the fit's pass is
:mod:`emfast.kernels.mixture.poisson_tile`.

The weighted log-density of a row ``x`` under component k is

    log pi_k - sum_l rate_lk + sum_l x_l log(rate_lk) - sum_l log(x_l!)

The first two terms do not depend on the row (``const[k]``); the last one does not
depend on the component, so it changes neither the responsibilities nor the M-step
and the fused pass leaves it out: the caller adds its total once per fit
(:func:`count_summary`). Per row the pass then costs one multiply-add per
(feature, component) and one ``exp`` per component.

Layout: ``log_rates_t[l, k]`` (component axis innermost, as in every kernel).
Statistics, in float64: ``nk[k] = sum r`` and ``s1[l, k] = sum r x_l``. Counts are
non-negative, so the uncentred sum loses no digits to cancellation.

The log-densities are summed in the dtype of ``const`` (float64), whatever the
dtype of X: the terms ``x log(rate)`` and ``rate`` of a large count are large and
nearly cancel, and float32 sums lost about 10 nats per row at counts of 1e7
(float64: under 1e-6). Costs about 10 % of a float32 pass.

Log rates must be finite (the caller clamps the log of a zero rate to a huge
negative number): zero counts are multiplied too, as skipping them made the
pass 15-25 % slower (measured with 8 % and 64 % zeros), and ``0 * -inf`` is NaN.
"""

import math

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.logsumexp import argmax, posterior_row


@jit
def log_factorial(x, table):
    """``log(x!)`` of a whole number ``x >= 0``: a table look-up for small ``x``.

    ``x + 1`` is formed in float64: a float32 ``x`` above 2**24 has no ``x + 1``.
    """
    if x < table.shape[0]:
        return table[int(x)]
    return math.lgamma(float(x) + 1.0)


@jit
def log_prob_row(x, const, log_rates_t, log_prob):
    """``const[k] + sum_l x_l log_rates_t[l, k]`` for every component k."""
    n_features, n_components = log_rates_t.shape
    for k in range(n_components):
        log_prob[k] = const[k]
    for l in range(n_features):
        x_l = x[l]
        for k in range(n_components):
            log_prob[k] += x_l * log_rates_t[l, k]


@jit(parallel=True)
def score(X, const, log_rates_t, table, chunk_rows, log_norm, labels, resp):
    """Per-row ``log p(x)`` (with ``log(x!)``), best component, optional posteriors."""
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    want_resp = resp.shape[0] > 0
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        log_prob = np.empty(n_components, dtype=const.dtype)
        resp_row = np.empty(n_components, dtype=const.dtype)
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            x = X[i]
            log_prob_row(x, const, log_rates_t, log_prob)
            row_log_factorial = 0.0
            for l in range(n_features):
                row_log_factorial += log_factorial(x[l], table)
            log_norm[i] = posterior_row(log_prob, 1.0, resp_row) - row_log_factorial
            labels[i] = argmax(log_prob)
            if want_resp:
                resp[i] = resp_row


@jit(parallel=True)
def resp_stats(X, resp, sample_weight, chunk_rows, nk, s1):
    """``nk`` and ``s1`` of given responsibilities (the initialisation's).

    Rows whose responsibility is exactly zero cost nothing (one-hot inits).
    """
    n_samples, n_features = X.shape
    n_components = resp.shape[1]
    weighted = sample_weight.shape[0] > 0
    for c in prange(nk.shape[0]):
        nk_c = nk[c]
        s1_c = s1[c]
        nk_c[:] = 0.0
        s1_c[:] = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            weight = sample_weight[i] if weighted else 1.0
            for k in range(n_components):
                r = weight * resp[i, k]
                if r == 0.0:
                    continue
                nk_c[k] += r
                for l in range(n_features):
                    s1_c[l, k] += r * X[i, l]


@jit(parallel=True)
def count_summary(
    X,
    sample_weight,
    table,
    max_count,
    chunk_rows,
    n_negative,
    n_too_large,
    n_fractional,
    log_factorials,
):
    """Per chunk: entries < 0, entries >= ``max_count``, entries that are not
    whole, and ``sum w sum_l log(x_l!)``.

    An entry is whole when it equals ``np.floor`` of itself, the test numpy
    makes: ``math.floor`` would convert to int64, which overflows from 2**63.
    ``log_factorials`` is only meaningful when the three counts are zero.
    """
    n_samples, n_features = X.shape
    weighted = sample_weight.shape[0] > 0
    for c in prange(n_negative.shape[0]):
        negative = 0.0
        too_large = 0.0
        fractional = 0.0
        total = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            row_total = 0.0
            for l in range(n_features):
                x_l = X[i, l]
                if x_l < 0:
                    negative += 1.0
                elif x_l >= max_count:
                    too_large += 1.0
                elif x_l != np.floor(x_l):
                    fractional += 1.0
                else:
                    row_total += log_factorial(x_l, table)
            total += (sample_weight[i] if weighted else 1.0) * row_total
        n_negative[c] = negative
        n_too_large[c] = too_large
        n_fractional[c] = fractional
        log_factorials[c] = total
