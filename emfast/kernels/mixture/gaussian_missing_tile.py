"""Rows with missing values on tiles of rows of one pattern (full, tied; few features).

The same statistics as :func:`emfast.kernels.mixture.gaussian_missing.stats`,
computed the way the complete-data tile kernels compute theirs
(:mod:`emfast.kernels.mixture.row_tiles`): a chunk's rows are grouped by
missingness pattern, and the rows of a pattern are taken in tiles, transposed,
with the rows innermost so that every step vectorises across rows.

For component k, a row completed with the conditional mean of its missing
coordinates, ``x_m = mu_m - R_k (x_o - mu_o)`` with ``R_k = P_mm^{-1} P_mo``,
has the Mahalanobis term of the observed marginal and the expected first and
second moments of the row, up to the conditional covariance (see
:mod:`~emfast.kernels.mixture.gaussian_missing`). So the tile's missing
coordinates are overwritten with their completion for each component in turn,
and the complete-data bodies of :mod:`~emfast.kernels.mixture.unrolled`
(:func:`~emfast.kernels.mixture.unrolled.full_log_prob` and
:func:`~emfast.kernels.mixture.unrolled.full_scatter`) do the rest. The
conditional covariance is added once per pattern, weighted by the pattern's
summed posteriors.

Everything after reading ``X`` is float64, like the row kernels. Outputs have
the layout of :func:`~emfast.kernels.mixture.gaussian_missing.stats` (the
caller picks either kernel with the same arrays).
"""

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.gaussian_missing import (
    _workspace,
    add_conditional_covariance,
    pattern_setup,
)
from emfast.kernels.mixture.row_tiles import (
    TILE_ROWS,
    log_likelihood,
    negligible_log,
    posterior,
    workspace,
)
from emfast.kernels.mixture.unrolled import full_log_prob, full_scatter

# Patterns must repeat for tiles to fill: at 20 % missing (N = 3e5, K = 16,
# 2 threads, Intel Xeon with AVX-512) a pass took 0.55 / 0.61 / 0.88 / 1.5 times
# the row kernels' time at D = 4 / 10 / 12 / 16, where most rows have a pattern
# of their own. The counting sort takes 2**D counters.
MAX_FEATURES = 12
# a pattern's last tile is rounded up to whole vectors of float64 rows (AVX-512:
# 8 lanes); patterns hold few rows when many values are missing
LANE_MULTIPLE = 8
_CONTRACT = {"contract"}


@jit
def load_pattern_rows(X, rows, order, start, stop, sample_weight, x_tile, weights):
    """Copy rows ``rows[order[start:stop]]`` into ``x_tile`` (transposed, float64).

    Returns the number of lanes to compute; the lanes past ``stop - start`` get
    zeros and weight 0.
    """
    n_features = X.shape[1]
    n_rows = stop - start
    lanes = min(x_tile.shape[1], -(-n_rows // LANE_MULTIPLE) * LANE_MULTIPLE)
    weighted = sample_weight.shape[0] > 0
    for t in range(n_rows):
        i = rows[order[start + t]]
        for l in range(n_features):
            x_tile[l, t] = X[i, l]
        weights[t] = sample_weight[i] if weighted else 1.0
    for t in range(n_rows, lanes):
        for l in range(n_features):
            x_tile[l, t] = 0.0
        weights[t] = 0.0
    return lanes


@jit(fastmath=_CONTRACT)
def complete_tile(x_tile, n_obs, n_miss, ws, means_t, k, lanes):
    """Overwrite the missing rows of ``x_tile`` with their conditional means under k.

    ``x_l = mu_lk - sum_b R_k[a, b] (x_{o_b} - mu_{o_b k})`` for the a-th missing
    feature l; ``ws`` holds the pattern's algebra from
    :func:`~emfast.kernels.mixture.gaussian_missing.pattern_setup`.
    """
    for a in range(n_miss):
        row = x_tile[ws.miss[a]]
        for t in range(lanes):
            row[t] = 0.0
        for b in range(n_obs):
            l_obs = ws.obs[b]
            coef = ws.regress[a, b, k]
            mu_obs = means_t[l_obs, k]
            observed = x_tile[l_obs]
            for t in range(lanes):
                row[t] -= coef * (observed[t] - mu_obs)
        mu = means_t[ws.miss[a], k]
        for t in range(lanes):
            row[t] += mu


@jit
def copy_missing(x_tile, n_miss, ws, completed, to_tile, lanes):
    """Copy the tile's missing rows to ``completed[a]`` or (``to_tile``) back."""
    for a in range(n_miss):
        row = x_tile[ws.miss[a]]
        saved = completed[a]
        if to_tile:
            for t in range(lanes):
                row[t] = saved[t]
        else:
            for t in range(lanes):
                saved[t] = row[t]


@jit
def add_tile_sums(tile_sums, n_features, nk, s1, s2, k):
    """Add ``[sum r, sum r d_l, sum r d_l d_j (l <= j, row by row)]`` of component k."""
    nk[k] += tile_sums[0]
    q = 1 + n_features
    for l in range(n_features):
        s1[l, k] += tile_sums[1 + l]
        for j in range(l, n_features):
            s2[l, j, k] += tile_sums[q]
            q += 1


@jit
def sort_patterns(X, rows, lo, hi, order, keys):
    """Positions ``lo..hi-1`` of ``rows`` sorted by NaN mask, into ``order[lo:hi]``.

    A counting sort on the mask read as a binary number (exact: at most
    :data:`MAX_FEATURES` features), stable, so the order depends on the data
    alone; ``keys[lo:hi]`` gets the sorted masks.
    """
    n_features = X.shape[1]
    counts = np.zeros(2**n_features + 1, dtype=np.int64)
    row_keys = np.empty(hi - lo, dtype=np.int64)
    for t in range(hi - lo):
        x = X[rows[lo + t]]
        key = 0
        for l in range(n_features):
            key = 2 * key + (x[l] != x[l])
        row_keys[t] = key
        counts[key + 1] += 1
    for key in range(1, counts.shape[0]):
        counts[key] += counts[key - 1]
    for t in range(hi - lo):
        key = row_keys[t]
        position = lo + counts[key]
        counts[key] += 1
        order[position] = lo + t
        keys[position] = key


@jit(parallel=True)
def stats(
    X, rows, bounds, segments, sample_weight, size, params, model, ll, nk, s1, s2
):
    """E-step fused with the expected statistics of the listed rows, per segment.

    The rows of chunk ``c`` (positions ``bounds[c]:bounds[c + 1]`` of ``rows``)
    are sorted by pattern; segment ``s`` covers sorted positions
    ``segments[s]:segments[s + 1]``, inside one chunk, and writes ``ll[s]``,
    ``nk[s]``, ``s1[s]``, ``s2[s]`` (layout of
    :func:`emfast.kernels.mixture.gaussian_missing.stats`). Chunks give the
    patterns many rows, segments the parallel work: both bounds depend on the
    row indices and the data alone, never on the thread count.

    ``size`` is a tuple of D items (it selects the compiled bodies);
    ``params[k]`` the centre of component k (D values) and then the upper
    triangle of its precision's Cholesky factor column by column, as in
    :mod:`~emfast.kernels.mixture.gaussian_full_tile`; ``model`` the
    :class:`~emfast.kernels.mixture.gaussian_missing.Model` of the same
    parameters. ``sample_weight`` is indexed by block row and empty for unit
    weights.
    """
    n_features, n_components = model.means_t.shape
    means_t = model.means_t
    order = np.empty(rows.shape[0], dtype=np.int64)
    keys = np.empty(rows.shape[0], dtype=np.int64)
    for c in prange(bounds.shape[0] - 1):
        sort_patterns(X, rows, bounds[c], bounds[c + 1], order, keys)
    for s in prange(ll.shape[0]):
        ws = _workspace(n_features, n_components, model.precision.shape[2])
        x_tile, weights, top, total, scale, log_prob, resp, log_norm = workspace(
            n_features, n_components, means_t.dtype
        )
        floor = negligible_log(means_t)
        tile_sums = np.empty(1 + n_features * (n_features + 3) // 2)
        r_pattern = np.empty(n_components)
        # each component's completion of the tile, computed once for both steps
        completed = np.empty((n_components, n_features, TILE_ROWS))
        nk_s, s1_s, s2_s = nk[s], s1[s], s2[s]
        nk_s[:] = 0.0
        s1_s[:] = 0.0
        s2_s[:] = 0.0
        ll_s = 0.0
        start, segment_stop = segments[s], segments[s + 1]
        while start < segment_stop:
            stop = start + 1
            while stop < segment_stop and keys[stop] == keys[start]:
                stop += 1
            n_obs, n_miss = pattern_setup(X[rows[order[start]]], model, ws)
            r_pattern[:] = 0.0
            for tile_start in range(start, stop, TILE_ROWS):
                tile_stop = min(tile_start + TILE_ROWS, stop)
                lanes = load_pattern_rows(
                    X,
                    rows,
                    order,
                    tile_start,
                    tile_stop,
                    sample_weight,
                    x_tile,
                    weights,
                )
                for k in range(n_components):
                    complete_tile(x_tile, n_obs, n_miss, ws, means_t, k, lanes)
                    copy_missing(x_tile, n_miss, ws, completed[k], False, lanes)
                    full_log_prob(
                        size, x_tile, params[k], ws.const[k], lanes, log_prob[k]
                    )
                posterior(log_prob, lanes, weights, top, total, scale, resp, floor)
                ll_s += log_likelihood(top, total, lanes, weights, log_norm)
                for k in range(n_components):
                    copy_missing(x_tile, n_miss, ws, completed[k], True, lanes)
                    tile_sums[:] = 0.0
                    full_scatter(size, x_tile, params[k], resp[k], lanes, tile_sums)
                    add_tile_sums(tile_sums, n_features, nk_s, s1_s, s2_s, k)
                    r_pattern[k] += tile_sums[0]
            add_conditional_covariance(n_miss, ws, r_pattern, s2_s)
            start = stop
        ll[s] = ll_s
