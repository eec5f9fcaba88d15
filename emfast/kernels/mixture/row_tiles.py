"""Tiles of rows with the rows innermost: the shared steps of the tile kernels.

A tile holds up to :data:`TILE_ROWS` rows of a chunk transposed,
``x_tile[l, t]`` = feature l of row t, and every array of per-row values has the
row axis last (``log_prob[k, t]``, ``resp[k, t]``). Each step below is a loop
over components with a loop over the tile's rows inside it, which LLVM
vectorises across rows: 4 float64 or 8 float32 lanes per 256-bit vector,
whatever the number of components.

Only the first ``lanes`` columns of a tile are computed: the rows of the tile
rounded up to :data:`LANE_MULTIPLE` (padding rows are zeros with weight 0, so
they contribute nothing). Tiles are 256 rows: a larger tile spreads the
per-component set-up and the final reduction of the per-tile sums over more
rows (one pass at D = 8, K = 16 took 9.4 / 9.0 / 8.7 ns per row and component
with 64 / 128 / 256 rows on one thread of an Intel Xeon, Sapphire Rapids
class), and 2 x 256 x K values per thread still sit in L2 at K = 64.
"""

import numpy as np
from numba import types
from numba.extending import overload

from emfast._numba import jit
from emfast.kernels.fastexp import exp_in_range, log_nonnegative
from emfast.kernels.mixture.accumulate import cast_like

TILE_ROWS = 256
LANE_MULTIPLE = 16

_CONTRACT = {"contract"}
# sums over the rows of a tile may be reassociated (vectorised); the order is
# fixed at compile time, so results do not depend on the number of threads
_REDUCTION = {"reassoc", "nsz", "contract"}


@jit
def workspace(n_features, n_components, dtype):
    """Buffers of one tile.

    Returns ``x_tile`` (features x rows), four per-row vectors (``weights``,
    ``top``, ``total``, ``scale``), ``log_prob`` and ``resp`` (components x rows)
    in ``dtype``, and per-row float64 ``log_norm``.
    """
    x_tile = np.zeros((n_features, TILE_ROWS), dtype=dtype)
    lane_values = np.zeros((4, TILE_ROWS), dtype=dtype)
    log_prob = np.zeros((n_components, TILE_ROWS), dtype=dtype)
    resp = np.zeros((n_components, TILE_ROWS), dtype=dtype)
    log_norm = np.zeros(TILE_ROWS)
    return (
        x_tile,
        lane_values[0],
        lane_values[1],
        lane_values[2],
        lane_values[3],
        log_prob,
        resp,
        log_norm,
    )


@jit
def load_rows(X, sample_weight, start, stop, x_tile, weights):
    """Copy rows ``[start, stop)`` into ``x_tile`` (transposed) and their weights.

    ``sample_weight`` is empty for unit weights. Returns the number of lanes to
    compute; the lanes past ``stop - start`` get zeros and weight 0.
    """
    n_features = X.shape[1]
    n_rows = stop - start
    lanes = min(x_tile.shape[1], -(-n_rows // LANE_MULTIPLE) * LANE_MULTIPLE)
    weighted = sample_weight.shape[0] > 0
    for t in range(n_rows):
        for l in range(n_features):
            x_tile[l, t] = X[start + t, l]
        weights[t] = sample_weight[start + t] if weighted else 1.0
    for t in range(n_rows, lanes):
        for l in range(n_features):
            x_tile[l, t] = 0.0
        weights[t] = 0.0
    return lanes


def negligible_log(like):
    """Below this ``log_prob - max`` a fit's posteriors are taken as exactly 0.

    Posteriors that small change no statistic (scikit-learn adds 10 eps to every
    ``nk``; float32 sums round them away), but multiplied by the differences of
    a row they reach the subnormal range, where every operation costs a
    microcode assist of about 150 cycles on x86: float32 posteriors of
    ``exp(-100)`` made a D = 8 scatter 130x slower (1.25 -> 166 ns per row and
    component). The cut-offs keep ``r * d * d`` normal for ``|d| > 1e-6`` and
    up to a million components: ``exp(-44) ~ 2^-64`` (float32) and
    ``exp(-665) ~ 2^-960`` (float64).
    """
    return -44.0 if like.dtype == np.float32 else -665.0


@overload(negligible_log, inline="always")
def _negligible_log_overload(like):
    value = like.dtype(-44.0 if like.dtype == types.float32 else -665.0)
    return lambda like: value


@jit
def row_maxima(log_prob, lanes, top):
    """``top[t] = max_k log_prob[k, t]`` (-inf when every entry is -inf)."""
    for t in range(lanes):
        top[t] = log_prob[0, t]
    for k in range(1, log_prob.shape[0]):
        for t in range(lanes):
            top[t] = max(top[t], log_prob[k, t])


@jit(fastmath=_CONTRACT)
def posterior(log_prob, lanes, weights, top, total, scale, resp, log_floor):
    """``resp[k, t] = w_t exp(log_prob[k, t]) / sum_j exp(log_prob[j, t])``.

    Leaves ``top[t] = max_k log_prob[k, t]`` and ``total[t] = sum_k exp(log_prob[k,
    t] - top[t])``, the two parts of the row's log-sum-exp (``scale`` is scratch).
    Terms with ``log_prob - top < log_floor`` count as 0: ``log_floor`` is
    :func:`negligible_log` in a fit, and at least
    :func:`~emfast.kernels.fastexp.lowest_exp_argument` (below which ``exp``
    rounds to 0) when every term counts. When every entry of a
    row is -inf (all densities underflowed) ``top`` is 0, ``total`` is 0 and the
    row's posteriors are 0.
    """
    n_components = log_prob.shape[0]
    zero = cast_like(0.0, resp)  # float64 constants would promote float32 loops
    floor = cast_like(log_floor, resp)
    row_maxima(log_prob, lanes, top)
    for t in range(lanes):
        top[t] = top[t] if top[t] > -np.inf else zero
        total[t] = zero
    for k in range(n_components):
        for t in range(lanes):
            shifted = log_prob[k, t] - top[t]
            e = exp_in_range(shifted) if shifted >= floor else zero
            resp[k, t] = e
            total[t] += e
    for t in range(lanes):
        scale[t] = weights[t] / total[t] if total[t] > zero else zero
    for k in range(n_components):
        for t in range(lanes):
            resp[k, t] *= scale[t]


@jit(fastmath=_REDUCTION)
def log_likelihood(top, total, lanes, weights, log_norm):
    """``log_norm[t] = top[t] + log(total[t])`` (float64); return ``sum w log_norm``.

    Rows of weight 0 are left out of the sum (their ``log_norm`` may be -inf).
    """
    ll = 0.0
    for t in range(lanes):
        value = np.float64(top[t]) + log_nonnegative(total[t])
        log_norm[t] = value
        ll += weights[t] * value if weights[t] != 0.0 else 0.0
    return ll


@jit(fastmath=_REDUCTION)
def entropy(log_prob, resp, lanes, log_norm):
    """``sum_t sum_k r_kt (log_prob[k, t] - log_norm[t])`` over ``r_kt > 0``."""
    total = 0.0
    for k in range(log_prob.shape[0]):
        for t in range(lanes):
            r = resp[k, t]
            term = r * (log_prob[k, t] - log_norm[t])
            total += term if r > 0.0 else 0.0
    return total


@jit
def score_tile(
    log_prob, lanes, need_exp, lowest, weights, top, total, scale, resp, log_norm
):
    """Posteriors and ``log_norm`` of a scored tile, or (``need_exp`` False, for
    labels alone) no exponentials and the row maxima in ``log_norm``.

    Either way ``log_norm[t]`` is -inf exactly when every density of row t
    underflowed.
    """
    if need_exp:
        posterior(log_prob, lanes, weights, top, total, scale, resp, lowest)
        log_likelihood(top, total, lanes, weights, log_norm)
    else:
        row_maxima(log_prob, lanes, top)
        for t in range(lanes):
            log_norm[t] = top[t]


@jit
def write_scores(
    start, stop, log_prob, top, resp, log_norm_lanes, log_norm, labels, resp_out
):
    """Store a tile's per-row results at rows ``[start, stop)`` of the outputs.

    ``labels`` gets the first component of largest ``log_prob``, or -1 for rows
    whose densities all underflowed (the caller gives them their limit);
    ``log_norm`` and ``resp_out`` are written unless they are empty.
    """
    n_components = log_prob.shape[0]
    n_rows = stop - start
    for t in range(n_rows):
        labels[start + t] = -1
    for k in range(n_components - 1, -1, -1):
        for t in range(n_rows):
            if log_prob[k, t] == top[t]:
                labels[start + t] = k
    for t in range(n_rows):
        if log_norm_lanes[t] == -np.inf:
            labels[start + t] = -1
    if log_norm.shape[0] > 0:
        for t in range(n_rows):
            log_norm[start + t] = log_norm_lanes[t]
    if resp_out.shape[0] > 0:
        for t in range(n_rows):
            for k in range(n_components):
                resp_out[start + t, k] = resp[k, t]
