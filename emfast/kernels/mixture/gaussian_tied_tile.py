"""Tied-covariance kernels on tiles of rows, for few features.

With one precision factor ``U`` the Mahalanobis term of component k is
``|(x - c) U - (mu_k - c) U|^2``: each row of a tile is projected once
(:func:`~emfast.kernels.mixture.unrolled.tied_project`, D(D+1)/2 multiply-adds per row),
then each component costs D multiply-adds per row. ``shift`` (``c``, the data
mean) keeps both products small so that float32 data do not lose digits to a
large offset.

Parameters: ``shift`` (D values), ``prec_chol`` (the upper triangle of U column
by column, as in :mod:`emfast.kernels.mixture.gaussian_full_tile`), ``const[k]``,
``offsets[k] = (mu_k - c) U`` and ``means[k]``.

The pass only needs ``sums[c, k] = [sum r, sum r (x_l - mu_l)]``: the pooled
scatter is the total scatter about ``c`` (once per fit, by
:func:`emfast.kernels.mixture.moments.scatter`) minus a K x D x D correction.
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
from emfast.kernels.mixture.unrolled import first_moments, tied_log_prob, tied_project


@jit
def _log_prob_tile(
    size, x_tile, shift, prec_chol, const, offsets, lanes, projected, log_prob
):
    tied_project(size, x_tile, shift, prec_chol, lanes, projected)
    for k in range(const.shape[0]):
        tied_log_prob(size, projected, offsets[k], const[k], lanes, log_prob[k])


@jit(parallel=True)
def stats(
    X,
    sample_weight,
    size,
    shift,
    prec_chol,
    const,
    offsets,
    means,
    chunk_rows,
    with_entropy,
    ll,
    ent,
    sums,
):
    """E-step fused with the statistics ``nk`` and ``s1`` (centred on ``means``)."""
    n_samples = X.shape[0]
    n_components = const.shape[0]
    for c in prange(ll.shape[0]):
        x_tile, weights, top, total, scale, log_prob, resp, log_norm = workspace(
            len(size), n_components, X.dtype
        )
        projected = np.empty_like(x_tile)
        floor = negligible_log(X)
        sums_c = sums[c]
        sums_c[:] = 0.0
        ll_c = 0.0
        ent_c = 0.0
        chunk_stop = min((c + 1) * chunk_rows, n_samples)
        for start in range(c * chunk_rows, chunk_stop, TILE_ROWS):
            stop = min(start + TILE_ROWS, chunk_stop)
            lanes = load_rows(X, sample_weight, start, stop, x_tile, weights)
            _log_prob_tile(
                size,
                x_tile,
                shift,
                prec_chol,
                const,
                offsets,
                lanes,
                projected,
                log_prob,
            )
            posterior(log_prob, lanes, weights, top, total, scale, resp, floor)
            ll_c += log_likelihood(top, total, lanes, weights, log_norm)
            if with_entropy:
                ent_c += entropy(log_prob, resp, lanes, log_norm)
            for k in range(n_components):
                first_moments(size, x_tile, means[k], resp[k], lanes, sums_c[k])
        ll[c] = ll_c
        ent[c] = ent_c


@jit(parallel=True)
def score(
    X, size, shift, prec_chol, const, offsets, chunk_rows, log_norm, labels, resp
):
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
        projected = np.empty_like(x_tile)
        chunk_stop = min((c + 1) * chunk_rows, n_samples)
        for start in range(c * chunk_rows, chunk_stop, TILE_ROWS):
            stop = min(start + TILE_ROWS, chunk_stop)
            lanes = load_rows(X, unit_weights, start, stop, x_tile, weights)
            _log_prob_tile(
                size,
                x_tile,
                shift,
                prec_chol,
                const,
                offsets,
                lanes,
                projected,
                log_prob,
            )
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
