"""Kernels for mixtures of a user-defined component family.

The family's two per-row functions are numba functions passed in as
arguments:

- ``statistics(x, t)``: write the family's sufficient statistics ``T(x)`` of
  one row ``x`` (1-D, in the rows' dtype) into ``t`` (1-D float64, zeroed
  before the call);
- ``log_density(x, t, theta)``: ``log p(x | theta)`` of the row under one
  component's parameters ``theta`` (1-D float64, a row of the
  (n_components, n_params) parameter array), with ``t = T(x)`` at hand.

Per row, ``T(x)`` is computed once, before the components: a log-density
linear in it (an exponential family written with its natural parameters)
costs a few multiply-adds per component, whatever ``T`` costs. The kernels do
the rest exactly as the built-in ones do: fixed chunks of ``chunk_rows`` rows
in a ``prange``, float64 sums per chunk (added in chunk order by the caller, so
1 or 2 threads give the same bits), the log-sum-exp and responsibilities of
:func:`~emfast.kernels.mixture.logsumexp.posterior_row`, and the sums
``nk[k] = sum w r_k`` and ``sums[k] = sum w r_k T(x)``. A responsibility of
exactly zero adds nothing (``T(x)`` of a row that a component cannot reach, if
infinite, never meets a zero).

Compilation. A numba function passed as an argument has a type of its own
(``types.Dispatcher`` of that very function object), so each kernel is compiled
once per pair of user functions and dtype of the rows, and the user's code is
inlined into the loop. (Functions typed as first-class function values,
``types.FunctionType``, give one kernel that the disk cache keeps, but every
call goes through a pointer: a test pass ran about 2x slower.) The disk cache
cannot serve the specialisations: its index keys them by function objects that
do not exist in a new process, so a cached kernel is never found again and each
process would add another file to the cache. The kernels here are therefore
compiled in memory (``cache=False``) on their first call in a process, and kept
for the life of the process: every later fit, clone, ``n_init`` run or number
of components reuses them. That costs about 3 s for :func:`stats` and 2 s for
:func:`score` per family and dtype (a shared 2-core Intel Xeon, Sapphire Rapids
class); :func:`stats` also serves the initialisation (given responsibilities),
which saves compiling a third kernel.
"""

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.logsumexp import argmax, posterior_row


@jit(parallel=True, cache=False)
def stats(
    X,
    sample_weight,
    given_resp,
    log_weights,
    params,
    log_density,
    statistics,
    chunk_rows,
    ll,
    nk,
    sums,
):
    """E-step fused with the statistics, one chunk per task.

    With ``given_resp`` empty, the responsibilities are the posteriors under
    ``log_weights`` and ``params`` (an EM iteration); with one row per row of
    X, they are those rows (the initialisation's statistics; ``params`` is
    then not read and ``ll`` stays 0). One kernel does both: each kernel costs
    seconds to compile for every family (see the module).

    Parameters
    ----------
    X : (n_rows, n_features) array, float32 or float64
    sample_weight : (n_rows,) float64, or empty for unit weights
    given_resp : (n_rows, n_components) or (0, n_components), dtype of X
    log_weights : (n_components,) float64
    params : (n_components, n_params) float64
    log_density, statistics : numba functions (see the module)
    chunk_rows : int
    ll : (n_chunks,) float64, out
        ``sum w log p(x)`` of each chunk.
    nk : (n_chunks, n_components) float64, out
        ``sum w r`` of each chunk.
    sums : (n_chunks, n_components, n_statistics) float64, out
        ``sum w r T(x)`` of each chunk.
    """
    n_samples = X.shape[0]
    n_components = log_weights.shape[0]
    n_statistics = sums.shape[2]
    weighted = sample_weight.shape[0] > 0
    given = given_resp.shape[0] > 0
    for c in prange(ll.shape[0]):
        log_prob = np.empty(n_components)
        resp = np.empty(n_components)
        t = np.empty(n_statistics)
        nk_c = nk[c]
        sums_c = sums[c]
        nk_c[:] = 0.0
        sums_c[:] = 0.0
        ll_c = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            weight = sample_weight[i] if weighted else 1.0
            if weight == 0.0:
                continue
            x = X[i]
            t[:] = 0.0
            statistics(x, t)
            if given:
                for k in range(n_components):
                    resp[k] = weight * given_resp[i, k]
            else:
                for k in range(n_components):
                    log_prob[k] = log_weights[k] + log_density(x, t, params[k])
                log_norm = posterior_row(log_prob, weight, resp)
                ll_c += weight * log_norm
                if log_norm == -np.inf:  # no component can produce this row
                    continue
            for k in range(n_components):
                r = resp[k]
                if r != 0.0:
                    nk_c[k] += r
                    for j in range(n_statistics):
                        sums_c[k, j] += r * t[j]
        ll[c] = ll_c


@jit(parallel=True, cache=False)
def score(
    X,
    log_weights,
    params,
    log_density,
    statistics,
    n_statistics,
    chunk_rows,
    log_norm,
    labels,
    resp,
):
    """Per-row ``log p(x)``, most probable component and optional posteriors.

    ``log_norm`` (n_rows,) and ``labels`` (n_rows,) are written for every row,
    ``resp`` (n_rows, n_components) only if it has rows (else it is empty).
    """
    n_samples = X.shape[0]
    n_components = log_weights.shape[0]
    want_resp = resp.shape[0] > 0
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        log_prob = np.empty(n_components)
        resp_row = np.empty(n_components)
        t = np.empty(n_statistics)
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            x = X[i]
            t[:] = 0.0
            statistics(x, t)
            for k in range(n_components):
                log_prob[k] = log_weights[k] + log_density(x, t, params[k])
            log_norm[i] = posterior_row(log_prob, 1.0, resp_row)
            labels[i] = argmax(log_prob)
            if want_resp:
                for k in range(n_components):
                    resp[i, k] = resp_row[k]
