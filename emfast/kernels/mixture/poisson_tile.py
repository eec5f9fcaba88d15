"""The Poisson pass on tiles of rows, vectorised across rows.

The same statistics as the row-by-row formulas of
:mod:`emfast.kernels.mixture.poisson` (see there for the log-density, the
layout and why the sums are float64), computed on the tiles of
:mod:`emfast.kernels.mixture.row_tiles`: a tile of rows transposed into float64,
for each component the tile's log-densities ``const_k + sum_l x_l log rate_lk``
as a loop over the rows inside a loop over the features, the tile's
posteriors, then for each component ``sum r`` and ``sum r x_l`` as reductions
over the rows. Every inner loop runs over the tile's rows, so it vectorises
whatever the number of components (the row kernel vectorised across
components: short vectors at K = 16).
"""

from emfast._numba import jit, prange
from emfast.kernels.mixture.row_tiles import (
    TILE_ROWS,
    load_rows,
    log_likelihood,
    negligible_log,
    posterior,
    workspace,
)

_CONTRACT = {"contract"}
# per-tile sums over the rows may be reassociated (vectorised); the order is
# fixed at compile time, so results do not depend on the number of threads
_REDUCTION = {"reassoc", "nsz", "contract"}


@jit(fastmath=_CONTRACT)
def linear_log_prob(x_tile, log_rates, const, lanes, log_prob):
    """``log_prob[t] = const + sum_l x_tile[l, t] log_rates[l]`` (features in order)."""
    for t in range(lanes):
        log_prob[t] = const
    for l in range(x_tile.shape[0]):
        log_rate = log_rates[l]
        row = x_tile[l]
        for t in range(lanes):
            log_prob[t] += row[t] * log_rate


@jit(fastmath=_REDUCTION)
def first_sums(x_tile, resp, lanes, nk, s1, k):
    """Add the tile's ``sum_t r_t`` to ``nk[k]``, ``sum_t r_t x_lt`` to ``s1[l, k]``."""
    total = 0.0
    for t in range(lanes):
        total += resp[t]
    nk[k] += total
    for l in range(x_tile.shape[0]):
        row = x_tile[l]
        weighted_sum = 0.0
        for t in range(lanes):
            weighted_sum += resp[t] * row[t]
        s1[l, k] += weighted_sum


@jit(parallel=True)
def stats(X, sample_weight, const, log_rates, chunk_rows, ll, nk, s1):
    """E-step fused with the statistics ``nk`` and ``s1`` (one chunk per task).

    ``log_rates[k, l]`` (component-major, float64 like ``const``); outputs as in
    :func:`emfast.kernels.mixture.poisson.stats`: ``ll[c]`` is
    ``sum w log p(x)`` over chunk c without the ``log(x!)`` terms,
    ``nk[c, k]`` and ``s1[c, l, k]``. ``sample_weight`` is empty for unit
    weights.
    """
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    for c in prange(ll.shape[0]):
        x_tile, weights, top, total, scale, log_prob, resp, log_norm = workspace(
            n_features, n_components, const.dtype
        )
        floor = negligible_log(const)
        nk_c, s1_c = nk[c], s1[c]
        nk_c[:] = 0.0
        s1_c[:] = 0.0
        ll_c = 0.0
        chunk_stop = min((c + 1) * chunk_rows, n_samples)
        for start in range(c * chunk_rows, chunk_stop, TILE_ROWS):
            stop = min(start + TILE_ROWS, chunk_stop)
            lanes = load_rows(X, sample_weight, start, stop, x_tile, weights)
            for k in range(n_components):
                linear_log_prob(x_tile, log_rates[k], const[k], lanes, log_prob[k])
            posterior(log_prob, lanes, weights, top, total, scale, resp, floor)
            ll_c += log_likelihood(top, total, lanes, weights, log_norm)
            for k in range(n_components):
                first_sums(x_tile, resp[k], lanes, nk_c, s1_c, k)
        ll[c] = ll_c
