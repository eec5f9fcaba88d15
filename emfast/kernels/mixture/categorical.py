"""Kernels for mixtures of independent categorical distributions (latent classes).

Column j of a row holds an integer code ``x_j`` in ``[0, n_levels[j])``, given
as a float (the rows are validated as float arrays). The weighted log-density of
a row under component k is

    log pi_k + sum_j log p_jk(x_j)

The log-probabilities of every column sit in one flat table,
``log_table[offsets[j] + level, k]``: the levels of column 0, then those of
column 1, ... (``offsets[j]`` is the number of levels of the columns before j),
with the component axis innermost as in every kernel. A row looks up one table
row of K values per column and adds them: per row, D gathers and D * K adds,
then one ``exp`` per component. The statistics mirror the table:
``counts[offsets[j] + x_j, k] = sum w r_k`` and ``nk[k] = sum w r_k``, in
float64 whatever the dtype of X.

A code outside ``[0, n_levels[j])`` is never used as an index: the callers
check every block before it gets here, but a chunk source read again (or a Dask
block computed again) may give other values, so the fitting kernels count such
rows in ``n_invalid`` and skip them, and the scoring kernel labels them ``-1``.
"""

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.logsumexp import argmax, posterior_row


@jit
def table_rows(x, offsets, n_levels, index):
    """``index[j] = offsets[j] + x_j``; False if a code is out of range."""
    for j in range(x.shape[0]):
        code = x[j]
        if not (code >= 0 and code < n_levels[j]):
            return False
        index[j] = offsets[j] + int(code)
    return True


@jit
def log_prob_row(index, const, log_table, log_prob):
    """``const[k] + sum_j log_table[index[j], k]`` for every component k."""
    n_components = const.shape[0]
    for k in range(n_components):
        log_prob[k] = const[k]
    for j in range(index.shape[0]):
        row = log_table[index[j]]
        for k in range(n_components):
            log_prob[k] += row[k]


@jit
def add_row(index, resp, nk, counts):
    """``nk += resp`` and ``counts[index[j]] += resp`` for every column j."""
    n_components = resp.shape[0]
    for k in range(n_components):
        nk[k] += resp[k]
    for j in range(index.shape[0]):
        row = counts[index[j]]
        for k in range(n_components):
            row[k] += resp[k]


@jit(parallel=True)
def stats(
    X,
    sample_weight,
    const,
    log_table,
    offsets,
    n_levels,
    chunk_rows,
    ll,
    n_invalid,
    nk,
    counts,
):
    """E-step fused with the statistics ``nk`` and ``counts`` (one chunk per task).

    ``ll[c]`` is ``sum w log p(x)`` over chunk c, ``n_invalid[c]`` the number of
    its rows with a code out of range (skipped).
    """
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    weighted = sample_weight.shape[0] > 0
    for c in prange(ll.shape[0]):
        log_prob = np.empty(n_components, dtype=const.dtype)
        resp = np.empty(n_components, dtype=const.dtype)
        index = np.empty(n_features, dtype=np.int64)
        nk_c = nk[c]
        counts_c = counts[c]
        nk_c[:] = 0.0
        counts_c[:] = 0.0
        ll_c = 0.0
        invalid = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            if not table_rows(X[i], offsets, n_levels, index):
                invalid += 1.0
                continue
            weight = sample_weight[i] if weighted else 1.0
            if weight == 0.0:
                continue
            log_prob_row(index, const, log_table, log_prob)
            log_norm = posterior_row(log_prob, weight, resp)
            ll_c += weight * log_norm
            if log_norm == -np.inf:  # no component can produce this row
                continue
            add_row(index, resp, nk_c, counts_c)
        ll[c] = ll_c
        n_invalid[c] = invalid


@jit(parallel=True)
def resp_stats(
    X, resp, sample_weight, offsets, n_levels, chunk_rows, n_invalid, nk, counts
):
    """``nk`` and ``counts`` of given responsibilities (the initialisation's)."""
    n_samples, n_features = X.shape
    n_components = resp.shape[1]
    weighted = sample_weight.shape[0] > 0
    for c in prange(nk.shape[0]):
        index = np.empty(n_features, dtype=np.int64)
        resp_row = np.empty(n_components)
        nk_c = nk[c]
        counts_c = counts[c]
        nk_c[:] = 0.0
        counts_c[:] = 0.0
        invalid = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            if not table_rows(X[i], offsets, n_levels, index):
                invalid += 1.0
                continue
            weight = sample_weight[i] if weighted else 1.0
            for k in range(n_components):
                resp_row[k] = weight * resp[i, k]
            add_row(index, resp_row, nk_c, counts_c)
        n_invalid[c] = invalid


@jit(parallel=True)
def score(X, const, log_table, offsets, n_levels, chunk_rows, log_norm, labels, resp):
    """Per-row ``log p(x)``, best component and optional posteriors.

    A row with a code out of range gets label ``-1`` and ``log p = nan``.
    """
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    want_resp = resp.shape[0] > 0
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        log_prob = np.empty(n_components, dtype=const.dtype)
        resp_row = np.empty(n_components, dtype=const.dtype)
        index = np.empty(n_features, dtype=np.int64)
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            if not table_rows(X[i], offsets, n_levels, index):
                log_norm[i] = np.nan
                labels[i] = -1
                continue
            log_prob_row(index, const, log_table, log_prob)
            log_norm[i] = posterior_row(log_prob, 1.0, resp_row)
            labels[i] = argmax(log_prob)
            if want_resp:
                resp[i] = resp_row


@jit(parallel=True)
def code_summary(
    X, limits, chunk_rows, n_negative, n_fractional, n_too_large, column_max
):
    """Per chunk: entries < 0, entries that are not whole, entries at or above
    their column's ``limits[j]``, and each column's largest valid code (-1 if
    none).

    An entry is whole when it equals ``np.floor`` of itself, the test numpy
    makes (``math.floor`` would convert to int64, which overflows from 2**63).
    """
    n_samples, n_features = X.shape
    for c in prange(n_negative.shape[0]):
        negative = 0.0
        fractional = 0.0
        too_large = 0.0
        largest = column_max[c]
        largest[:] = -1.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            for j in range(n_features):
                code = X[i, j]
                if code < 0:
                    negative += 1.0
                elif code != np.floor(code):
                    fractional += 1.0
                elif code >= limits[j]:
                    too_large += 1.0
                elif code > largest[j]:
                    largest[j] = code
        n_negative[c] = negative
        n_fractional[c] = fractional
        n_too_large[c] = too_large
