"""Kernels for rows with missing values (NaN) under full or tied covariances.

Exact incomplete-data EM: a row's density is the marginal of its observed
coordinates ``o``, and its statistics take the conditional mean and covariance
of the missing coordinates ``m`` given ``o``. Both come from the precision
``P = U U^T`` of a component without inverting its observed block:

- ``E[x_m | x_o] - mu_m = -P_mm^{-1} P_mo (x_o - mu_o)`` and
  ``Cov[x_m | x_o] = P_mm^{-1}``;
- completing the row's offset ``e = x - mu`` with that conditional mean makes
  ``|e U|^2`` the Mahalanobis term of the observed marginal (the conditional mean
  minimises the quadratic form over ``x_m``, leaving the Schur complement), and
  ``log det Cov_oo = log det Cov + log det P_mm``.

So each missingness pattern needs one Cholesky factorisation of ``P_mm`` per
component (of size ``m``, the smaller side when few values are missing, which is
the common case), and each row then costs what a complete row costs plus
``m * o`` multiply-adds per component. Rows are grouped by pattern inside their
chunk (a stable sort on a key of the NaN mask), so the factorisation is shared
by all rows of the chunk with the pattern. The chunk's rows are visited in that
order: the order depends only on the chunk's data, never on the thread count.

Everything after reading ``X`` is float64 (the per-pattern algebra needs it, and
the incomplete rows are a side path next to the data-dtype kernels of complete
rows). Tied covariances use the same kernels with one factor repeated for every
component (the per-pattern algebra is then done once).

Rows to process are given as ``rows`` (sorted block row indices) and
``bounds``: chunk ``c`` owns ``rows[bounds[c]:bounds[c + 1]]``, the listed rows
whose index falls in ``[c * chunk_rows, (c + 1) * chunk_rows)``. Statistics
``s1[c][l, k] = sum r E[x_l - mu_lk]`` and
``s2[c][l, j, k] = sum r E[(x_l - mu_lk)(x_j - mu_jk)]`` (upper triangle,
``l <= j``) are centred on ``means_t``.
"""

import math
from collections import namedtuple

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.logsumexp import argmax, posterior_row

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# pattern keys are the NaN mask read as a binary number, modulo this prime:
# exact below 61 features; beyond, equal keys are checked mask by mask
_KEY_MODULUS = 2**61 - 1

Model = namedtuple("Model", "log_w means_t prec_t precision log_det_chol")
Model.__doc__ = """Mixture parameters in kernel layout (float64).

``log_w[k]``; ``means_t[l, k]``; ``prec_t[l, j, k] = U_k[l, j]``, the
upper-triangular Cholesky factors of the precisions (repeated for tied);
``precision[l, j, f] = (U_f U_f^T)[l, j]`` with one matrix per component, or one
(tied); ``log_det_chol[f] = log det U_f``.
"""

# per-chunk scratch: feature indices, pattern algebra and one row's terms
Workspace = namedtuple(
    "Workspace",
    "obs miss sub work log_det_mm regress cond_cov const e y log_prob resp",
)


@jit(parallel=True)
def count_missing(X, chunk_rows, counts):
    """``counts[i]``: number of NaN in row ``i``, or -1 if it holds an infinity.

    Branch-free over a row's entries: missing values fall at random, so a
    branch per entry would be mispredicted often (this runs on every block of
    every pass).
    """
    n_samples, n_features = X.shape
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            n_nan = 0
            n_inf = 0
            for l in range(n_features):
                v = X[i, l]
                n_nan += v != v
                n_inf += abs(v) == np.inf
            counts[i] = -1 if n_inf else n_nan


@jit
def pattern_order(X, rows, lo, hi):
    """Positions ``lo..hi-1`` of ``rows`` ordered by missingness pattern.

    The order within a pattern is that of a deterministic quicksort: it depends
    on the chunk's data only.
    """
    n_features = X.shape[1]
    keys = np.empty(hi - lo, dtype=np.int64)
    for t in range(hi - lo):
        x = X[rows[lo + t]]
        key = 0
        for l in range(n_features):
            key = 2 * key + (1 if x[l] != x[l] else 0)
            if key >= _KEY_MODULUS:  # 2 * key + 1 < 2**62: no int64 overflow
                key -= _KEY_MODULUS
        keys[t] = key
    return lo + np.argsort(keys)


@jit
def pattern_end(X, rows, order, start):
    """End of the run of ``order`` from ``start`` whose rows share a NaN mask."""
    first = X[rows[order[start]]]
    stop = start + 1
    while stop < order.shape[0]:
        row = X[rows[order[stop]]]
        for l in range(first.shape[0]):
            if (first[l] != first[l]) != (row[l] != row[l]):
                return stop
        stop += 1
    return stop


@jit
def _cholesky_inverse(A, L, inverse, n, log_det):
    """``inverse[:n, :n, f] = A[:n, :n, f]^{-1}`` for SPD matrices ``A[..., f]``.

    Cholesky factors ``L`` (lower), then ``L^{-1}`` in place, then
    ``L^{-T} L^{-1}``, with the matrix axis ``f`` innermost so that every step
    vectorises across components. ``log_det[f]`` gets ``log det A[..., f]``. A
    non-positive pivot (a precision that is not positive definite in floating
    point) gives nan.
    """
    n_f = A.shape[2]
    for f in range(n_f):
        log_det[f] = 0.0
    for j in range(n):
        for f in range(n_f):
            L[j, j, f] = A[j, j, f]
        for p in range(j):
            for f in range(n_f):
                L[j, j, f] -= L[j, p, f] * L[j, p, f]
        for f in range(n_f):
            pivot = L[j, j, f]
            root = math.sqrt(pivot) if pivot > 0.0 else np.nan
            L[j, j, f] = root
            log_det[f] += 2.0 * math.log(root)
        for i in range(j + 1, n):
            for f in range(n_f):
                L[i, j, f] = A[i, j, f]
            for p in range(j):
                for f in range(n_f):
                    L[i, j, f] -= L[i, p, f] * L[j, p, f]
            for f in range(n_f):
                L[i, j, f] /= L[j, j, f]
    # L^{-1} column by column from the left; ``inverse`` holds the partial sums
    for j in range(n):
        for f in range(n_f):
            L[j, j, f] = 1.0 / L[j, j, f]
        for i in range(j + 1, n):
            for f in range(n_f):
                inverse[i, j, f] = 0.0
            for p in range(j, i):
                for f in range(n_f):
                    inverse[i, j, f] -= L[i, p, f] * L[p, j, f]
            for f in range(n_f):
                L[i, j, f] = inverse[i, j, f] / L[i, i, f]
    for a in range(n):  # A^{-1} = L^{-T} L^{-1}
        for b in range(a, n):
            for f in range(n_f):
                inverse[a, b, f] = 0.0
            for p in range(b, n):
                for f in range(n_f):
                    inverse[a, b, f] += L[p, a, f] * L[p, b, f]
            for f in range(n_f):
                inverse[b, a, f] = inverse[a, b, f]


@jit
def pattern_setup(x, model, ws):
    """Per-component algebra of the pattern of row ``x``, into ``ws``.

    Fills ``ws.obs``/``ws.miss`` (observed and missing feature indices,
    ascending), ``ws.regress[a, b, k] = (P_mm^{-1} P_mo)[a, b]``,
    ``ws.cond_cov[a, a2, k] = (P_mm^{-1})[a, a2]`` and ``ws.const[k]``, the log
    weight plus the log normaliser of the observed marginal. Returns
    ``(n_obs, n_miss)``.
    """
    precision = model.precision
    obs, miss, sub = ws.obs, ws.miss, ws.sub
    regress, cond_cov, log_det_mm = ws.regress, ws.cond_cov, ws.log_det_mm
    n_features = x.shape[0]
    n_components = model.log_w.shape[0]
    n_factors = precision.shape[2]
    n_obs = 0
    n_miss = 0
    for l in range(n_features):
        if x[l] != x[l]:
            miss[n_miss] = l
            n_miss += 1
        else:
            obs[n_obs] = l
            n_obs += 1
    for a in range(n_miss):
        for a2 in range(n_miss):
            for f in range(n_factors):
                sub[a, a2, f] = precision[miss[a], miss[a2], f]
    _cholesky_inverse(sub, ws.work, cond_cov, n_miss, log_det_mm)
    for a in range(n_miss):
        for b in range(n_obs):
            for f in range(n_factors):
                regress[a, b, f] = 0.0
            for a2 in range(n_miss):
                for f in range(n_factors):
                    regress[a, b, f] += (
                        cond_cov[a, a2, f] * precision[miss[a2], obs[b], f]
                    )
    for k in range(n_components):
        f = k if n_factors > 1 else 0
        const = model.log_w[k] + model.log_det_chol[f] - n_obs * _HALF_LOG_2PI
        ws.const[k] = const - 0.5 * log_det_mm[f]
    if n_factors == 1:  # tied: every component shares the algebra
        for a in range(n_miss):
            for k in range(1, n_components):
                for a2 in range(n_miss):
                    cond_cov[a, a2, k] = cond_cov[a, a2, 0]
                for b in range(n_obs):
                    regress[a, b, k] = regress[a, b, 0]
    return n_obs, n_miss


@jit
def completed_log_prob(x, n_obs, n_miss, model, ws):
    """Marginal log-density terms of one row into ``ws.log_prob``.

    ``ws.e[l, k]`` gets ``E[x_l - mu_lk | x_o]``: the offset itself on observed
    features, the conditional mean offset on missing ones.
    """
    means_t, prec_t = model.means_t, model.prec_t
    obs, miss, regress = ws.obs, ws.miss, ws.regress
    e, y, log_prob = ws.e, ws.y, ws.log_prob
    n_features, n_components = means_t.shape
    for b in range(n_obs):
        l = obs[b]
        x_l = x[l]
        for k in range(n_components):
            e[l, k] = x_l - means_t[l, k]
    for a in range(n_miss):
        l = miss[a]
        for k in range(n_components):
            e[l, k] = 0.0
        for b in range(n_obs):
            l_obs = obs[b]
            for k in range(n_components):
                e[l, k] -= regress[a, b, k] * e[l_obs, k]
    for k in range(n_components):
        log_prob[k] = 0.0
    for j in range(n_features):
        for k in range(n_components):
            y[k] = 0.0
        for l in range(j + 1):
            for k in range(n_components):
                y[k] += e[l, k] * prec_t[l, j, k]
        for k in range(n_components):
            log_prob[k] += y[k] * y[k]
    for k in range(n_components):
        log_prob[k] = ws.const[k] - 0.5 * log_prob[k]


@jit
def _workspace(n_features, n_components, n_factors):
    D, K, F = n_features, n_components, n_factors
    return Workspace(
        np.empty(D, dtype=np.int64),
        np.empty(D, dtype=np.int64),
        np.empty((D, D, F)),
        np.zeros((D, D, F)),
        np.empty(F),
        np.empty((D, D, K)),
        np.empty((D, D, K)),
        np.empty(K),
        np.empty((D, K)),
        np.empty(K),
        np.empty(K),
        np.empty(K),
    )


@jit
def add_conditional_covariance(n_miss, ws, r_pattern, s2):
    """``s2[l, j, k] += r_pattern[k] Cov[x_l, x_j | x_o, k]`` on the missing block.

    The conditional covariance is the same for every row of a pattern, so it
    enters once per pattern, weighted by the pattern's summed posteriors.
    """
    for a in range(n_miss):
        for a2 in range(a, n_miss):
            l, j = ws.miss[a], ws.miss[a2]
            for k in range(r_pattern.shape[0]):
                s2[l, j, k] += r_pattern[k] * ws.cond_cov[a, a2, k]


@jit(parallel=True)
def stats(X, rows, bounds, sample_weight, model, ll, nk, s1, s2):
    """E-step fused with the expected statistics of the listed rows, per chunk.

    ``model`` is a :class:`Model`. ``ll[c]`` is ``sum w log p(x_o)``; ``nk``,
    ``s1``, ``s2`` as in the module docstring, ``s2`` including
    ``sum r Cov[x_m | x_o]`` on the missing block. ``sample_weight`` is indexed
    by block row and empty for unit weights.
    """
    n_features, n_components = model.means_t.shape
    weighted = sample_weight.shape[0] > 0
    for c in prange(ll.shape[0]):
        ws = _workspace(n_features, n_components, model.precision.shape[2])
        e, resp = ws.e, ws.resp
        r_e = np.empty((n_features, n_components))
        r_pattern = np.empty(n_components)
        nk_c, s1_c, s2_c = nk[c], s1[c], s2[c]
        nk_c[:] = 0.0
        s1_c[:] = 0.0
        s2_c[:] = 0.0
        ll_c = 0.0
        order = pattern_order(X, rows, bounds[c], bounds[c + 1])
        start = 0
        while start < order.shape[0]:
            stop = pattern_end(X, rows, order, start)
            n_obs, n_miss = pattern_setup(X[rows[order[start]]], model, ws)
            r_pattern[:] = 0.0
            for t in range(start, stop):
                i = rows[order[t]]
                weight = sample_weight[i] if weighted else 1.0
                if weight == 0.0:
                    continue
                completed_log_prob(X[i], n_obs, n_miss, model, ws)
                log_norm = posterior_row(ws.log_prob, weight, resp)
                ll_c += weight * log_norm
                if log_norm == -np.inf:  # every log-density underflowed
                    continue
                for k in range(n_components):
                    nk_c[k] += resp[k]
                    r_pattern[k] += resp[k]
                for l in range(n_features):
                    for k in range(n_components):
                        r_e[l, k] = resp[k] * e[l, k]
                        s1_c[l, k] += r_e[l, k]
                for l in range(n_features):
                    for j in range(l, n_features):
                        for k in range(n_components):
                            s2_c[l, j, k] += r_e[l, k] * e[j, k]
            add_conditional_covariance(n_miss, ws, r_pattern, s2_c)
            start = stop
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
        ws = _workspace(n_features, n_components, model.precision.shape[2])
        order = pattern_order(X, rows, bounds[c], bounds[c + 1])
        start = 0
        while start < order.shape[0]:
            stop = pattern_end(X, rows, order, start)
            n_obs, n_miss = pattern_setup(X[rows[order[start]]], model, ws)
            for t in range(start, stop):
                p = order[t]
                completed_log_prob(X[rows[p]], n_obs, n_miss, model, ws)
                log_norm[p] = posterior_row(ws.log_prob, 1.0, ws.resp)
                labels[p] = argmax(ws.log_prob)
                if want_resp:
                    resp[p] = ws.resp
            start = stop


@jit(parallel=True)
def impute(X, rows, bounds, model, out, log_norm):
    """``out[i, l] = sum_k p(k | x_o) E[x_l | x_o, k]`` on the NaN of listed rows.

    ``out`` is a copy of ``X``; ``log_norm[p]`` (position in ``rows``) tells the
    caller which rows underflowed (``-inf``: their posteriors are all zero).
    """
    n_features, n_components = model.means_t.shape
    for c in prange(bounds.shape[0] - 1):
        ws = _workspace(n_features, n_components, model.precision.shape[2])
        order = pattern_order(X, rows, bounds[c], bounds[c + 1])
        start = 0
        while start < order.shape[0]:
            stop = pattern_end(X, rows, order, start)
            n_obs, n_miss = pattern_setup(X[rows[order[start]]], model, ws)
            for t in range(start, stop):
                p = order[t]
                i = rows[p]
                completed_log_prob(X[i], n_obs, n_miss, model, ws)
                log_norm[p] = posterior_row(ws.log_prob, 1.0, ws.resp)
                for a in range(n_miss):
                    l = ws.miss[a]
                    value = 0.0
                    for k in range(n_components):
                        value += ws.resp[k] * (model.means_t[l, k] + ws.e[l, k])
                    out[i, l] = value
            start = stop
