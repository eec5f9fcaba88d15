"""Full-covariance kernels on tiles of rows, for few features.

Each chunk of rows is processed in tiles (:mod:`emfast.kernels.mixture.row_tiles`):
for every component the log-densities of all the tile's rows, vectorised across
rows (:func:`~emfast.kernels.mixture.unrolled.full_log_prob`); then the responsibilities
of the tile; then, for every component, the tile's statistics, summed across
rows in the data dtype with the sums in registers
(:func:`~emfast.kernels.mixture.unrolled.full_scatter`) and added to the chunk's float64
sums once per tile.

Each number of features D compiles its own code (straight-line bodies of
D(D+1)/2 multiply-adds), so compile time grows as D^2: the caller
(:mod:`emfast.mixture.gaussian._kernels`) uses these kernels for few features
only.

Parameters in kernel layout:

- ``size``: a tuple of length D (its length selects the compiled code);
- ``const[k] = log w_k + log det U_k - D/2 log(2 pi)``;
- ``params[k]``: the mean of component k (D values), then the upper triangle of
  the Cholesky factor ``U_k`` of its precision column by column (``U[0, j], ...,
  U[j, j]`` for ``j = 0, ..., D - 1``), so that the Mahalanobis term is
  ``|(x - mu_k) U_k|^2``.

Statistics per chunk ``c`` and component ``k``, centred on the means of the pass:
``sums[c, k] = [sum r, sum r (x_l - mu_l), sum r (x_l - mu_l)(x_j - mu_j) for
l <= j (the upper triangle row by row)]``.
"""

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.fastexp import lowest_exp_argument
from emfast.kernels.mixture.row_tiles import (
    TILE_ROWS,
    entropy,
    load_rows,
    log_likelihood,
    negligible_log,
    posterior,
    score_tile,
    workspace,
    write_scores,
)
from emfast.kernels.mixture.unrolled import full_log_prob, full_scatter


@jit(parallel=True)
def stats(
    X, sample_weight, size, const, params, chunk_rows, with_entropy, ll, ent, sums
):
    """E-step fused with the M-step statistics over the chunks of ``X``.

    Chunk ``c`` covers rows ``[c * chunk_rows, (c + 1) * chunk_rows)`` and writes
    ``ll[c]`` (sum of weighted log p(x)), ``ent[c]`` (``sum r log p(k|x)``, only
    computed ``with_entropy``) and ``sums[c]``. ``sample_weight`` is empty for
    unit weights.
    """
    n_samples = X.shape[0]
    n_components = const.shape[0]
    for c in prange(ll.shape[0]):
        x_tile, weights, top, total, scale, log_prob, resp, log_norm = workspace(
            len(size), n_components, X.dtype
        )
        floor = negligible_log(X)
        sums_c = sums[c]
        sums_c[:] = 0.0
        ll_c = 0.0
        ent_c = 0.0
        chunk_stop = min((c + 1) * chunk_rows, n_samples)
        for start in range(c * chunk_rows, chunk_stop, TILE_ROWS):
            stop = min(start + TILE_ROWS, chunk_stop)
            lanes = load_rows(X, sample_weight, start, stop, x_tile, weights)
            for k in range(n_components):
                full_log_prob(size, x_tile, params[k], const[k], lanes, log_prob[k])
            posterior(log_prob, lanes, weights, top, total, scale, resp, floor)
            ll_c += log_likelihood(top, total, lanes, weights, log_norm)
            if with_entropy:
                ent_c += entropy(log_prob, resp, lanes, log_norm)
            for k in range(n_components):
                full_scatter(size, x_tile, params[k], resp[k], lanes, sums_c[k])
        ll[c] = ll_c
        ent[c] = ent_c


@jit(parallel=True)
def score(X, size, const, params, chunk_rows, log_norm, labels, resp):
    """Per-row ``log p(x)``, most probable component and optional posteriors.

    ``log_norm`` (n_samples,) and ``resp`` (n_samples, n_components) may be
    empty (not wanted; with both empty no exponential is computed). ``labels``
    is -1 for rows whose densities all underflow.
    """
    n_samples = X.shape[0]
    n_components = const.shape[0]
    unit_weights = np.empty(0, dtype=X.dtype)
    lowest = lowest_exp_argument(X)  # every posterior counts
    need_exp = log_norm.shape[0] > 0 or resp.shape[0] > 0
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        x_tile, weights, top, total, scale, log_prob, resp_tile, log_norm_tile = (
            workspace(len(size), n_components, X.dtype)
        )
        chunk_stop = min((c + 1) * chunk_rows, n_samples)
        for start in range(c * chunk_rows, chunk_stop, TILE_ROWS):
            stop = min(start + TILE_ROWS, chunk_stop)
            lanes = load_rows(X, unit_weights, start, stop, x_tile, weights)
            for k in range(n_components):
                full_log_prob(size, x_tile, params[k], const[k], lanes, log_prob[k])
            score_tile(
                log_prob,
                lanes,
                need_exp,
                lowest,
                weights,
                top,
                total,
                scale,
                resp_tile,
                log_norm_tile,
            )
            write_scores(
                start,
                stop,
                log_prob,
                top,
                resp_tile,
                log_norm_tile,
                log_norm,
                labels,
                resp,
            )
