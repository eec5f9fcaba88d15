"""Passes over integer codes for the categorical mixture, and its M-step.

:func:`categorical_pass` runs the fused E-step + statistics kernel over every
block of rows (added in block order by :meth:`~emfast.rows.Rows.reduce`);
:func:`update` turns the small summed :class:`CategoricalStats` into new
parameters. :func:`resp_pass` gives the statistics of the initial
responsibilities, :func:`categorical_score` the per-row results of
``score_samples``/``predict``/``predict_proba``.

During a fit the probabilities of every column sit side by side in one
(n_components, sum(n_levels)) table, column 0's levels first
(:func:`table_offsets`); the fitted attribute ``probabilities_`` is the same
table cut into one (n_components, n_levels[j]) array per column.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from emfast import _chunks
from emfast.kernels.mixture import categorical as kernels
from emfast.mixture._engine.weights import NK_OFFSET, kernel_weights, weight_scale
from emfast.rows import chunk_sums


class CategoricalParams(NamedTuple):
    """Parameters of a categorical mixture (float64 during a fit)."""

    weights: np.ndarray  # (n_components,)
    table: np.ndarray  # (n_components, sum(n_levels)): every column's probabilities


@dataclass
class CategoricalStats:
    """Sufficient statistics of one pass.

    Attributes
    ----------
    log_norm : float
        ``sum w log p(x)`` under the parameters of the pass (nan when not
        computed).
    weight_sum : float
        ``sum w`` (the number of rows without sample weights).
    nk : ndarray (n_components,)
        ``sum w r``.
    counts : ndarray (n_components, sum(n_levels))
        ``sum w r [x_j = level]``, in the layout of the table.
    """

    log_norm: float
    weight_sum: float
    nk: np.ndarray
    counts: np.ndarray


def table_offsets(n_levels):
    """``offsets[j]``: where column j's levels start in the table (int64,
    ``n_features + 1`` entries, the last one the table's width)."""
    return np.concatenate([[0], np.cumsum(n_levels)]).astype(np.int64)


def split_table(table, n_levels):
    """The table cut into one (n_components, n_levels[j]) array per column."""
    offsets = table_offsets(n_levels)
    return [
        np.ascontiguousarray(table[:, start:stop])
        for start, stop in zip(offsets[:-1], offsets[1:])
    ]


def kernel_params(params):
    """``(const, log_table_t)``: ``log(weights)`` and the log-probabilities in
    the kernels' layout (levels, components), float64.

    A probability of exactly 0 (set by hand or loaded: fits keep every
    probability positive) gives ``-inf``: rows with that code get no
    responsibility from the component, and never NaN.
    """
    weights, table = (np.asarray(p, dtype=np.float64) for p in params)
    with np.errstate(divide="ignore"):
        return np.log(weights), np.ascontiguousarray(np.log(table).T)


def _level_arrays(n_levels):
    n_levels = np.asarray(n_levels, dtype=np.int64)
    return table_offsets(n_levels)[:-1].copy(), n_levels


def _check_valid(n_invalid):
    if n_invalid:
        raise ValueError(
            f"{int(n_invalid)} row(s) held codes beyond the levels found when the "
            "fit began: a chunk source (or Dask array) must give the same rows on "
            "every pass."
        )


def categorical_pass(data, params, n_levels):
    """E-step + statistics over ``data`` (a :class:`~emfast.rows.Rows`).

    Returns
    -------
    CategoricalStats
    """
    const, log_table_t = kernel_params(params)
    offsets, levels = _level_arrays(n_levels)
    scale = weight_scale(data)  # kernels see weights near one (exact)
    sums = data.reduce(_stats_block, const, log_table_t, offsets, levels, scale)
    log_norm, n_invalid, nk, counts = sums
    _check_valid(n_invalid)
    return CategoricalStats(
        float(log_norm * scale),
        data.weight_sum,
        nk * scale,
        np.ascontiguousarray(counts.T) * scale,
    )


def _stats_block(X_block, w_block, const, log_table_t, offsets, n_levels, scale):
    n_rows, n_components = log_table_t.shape

    def fill(*out):
        weights = kernel_weights(w_block, scale)
        kernels.stats(
            X_block,
            weights,
            const,
            log_table_t,
            offsets,
            n_levels,
            _chunks.CHUNK_ROWS,
            *out,
        )

    shapes = [(), (), (n_components,), (n_rows, n_components)]
    return chunk_sums(fill, X_block.shape[0], shapes)


def resp_pass(data, resp, n_levels):
    """Statistics of given responsibilities (a :class:`~emfast.rows.RowAligned`
    source of :mod:`emfast.mixture._engine.init`)."""
    offsets, levels = _level_arrays(n_levels)
    n_invalid, nk, counts = data.reduce(
        _resp_block, resp, offsets, levels, resp.n_components
    )
    _check_valid(n_invalid)
    return CategoricalStats(math.nan, data.weight_sum, nk, counts.T.copy())


def _resp_block(X_block, w_block, resp, offsets, n_levels, n_components):
    resp = np.ascontiguousarray(resp, dtype=X_block.dtype)

    def fill(*out):
        kernels.resp_stats(
            X_block, resp, w_block, offsets, n_levels, _chunks.CHUNK_ROWS, *out
        )

    shapes = [(), (n_components,), (int(n_levels.sum()), n_components)]
    return chunk_sums(fill, X_block.shape[0], shapes)


def update(stats, n_levels, smoothing, offset=NK_OFFSET):
    """The M-step: weights ``nk / sum nk`` and smoothed probabilities.

    Each column's maximum-likelihood probabilities ``m = counts / nk`` are
    mixed with the uniform distribution,

        p_jk(l) = (m_jk(l) + smoothing) / (sum_l' m_jk(l') + smoothing n_levels[j]),

    so that no probability is 0 and each column's sum to 1 (an emptied
    component gets uniform probabilities). The rule depends on the
    statistics only through ratios, so the unit of the sample weights does not
    matter. ``offset``, added to each ``nk``, is scikit-learn's ``10 eps`` in
    the unit of the sample weights.
    """
    nk = stats.nk + offset
    ratios = stats.counts / nk[:, np.newaxis]
    offsets = table_offsets(n_levels)
    levels = np.diff(offsets)
    column_sums = np.add.reduceat(ratios, offsets[:-1], axis=1)
    denominators = np.repeat(column_sums + smoothing * levels, levels, axis=1)
    return CategoricalParams(nk / nk.sum(), (ratios + smoothing) / denominators)


def unsmoothed_ratios(table, n_levels, smoothing):
    """Ratios ``m`` whose :func:`update` gives back ``table`` (where a table
    probability is below ``smoothing / (1 + smoothing n_levels)``, which no
    fit makes, ``m`` is 0 and the probability comes back slightly changed)."""
    levels = np.repeat(np.asarray(n_levels, dtype=np.float64), n_levels)
    return np.maximum(table * (1.0 + smoothing * levels) - smoothing, 0.0)


def categorical_score(X, params, n_levels, want_resp=False, want_log_norm=True):
    """Per-row ``log p(x)``, the most probable component and optional posteriors.

    The log-densities are computed whatever ``want_log_norm`` says (the
    kernel needs them for the labels).

    Raises a ``ValueError`` for a code at or beyond its column's number of
    levels (the rows are checked as codes before).

    Returns
    -------
    log_norm : ndarray (n_samples,) of X.dtype
    labels : ndarray (n_samples,) of intp
    resp : ndarray (n_samples, n_components) of X.dtype, or None
    """
    const, log_table_t = kernel_params(params)
    offsets, levels = _level_arrays(n_levels)
    n_samples = X.shape[0]
    n_components = const.shape[0]
    log_norm = np.empty(n_samples, dtype=X.dtype)
    labels = np.empty(n_samples, dtype=np.intp)
    resp = np.empty((n_samples if want_resp else 0, n_components), dtype=X.dtype)
    kernels.score(
        X,
        const,
        log_table_t,
        offsets,
        levels,
        _chunks.CHUNK_ROWS,
        log_norm,
        labels,
        resp,
    )
    if n_samples and labels.min() < 0:
        _raise_unknown_code(X, levels)
    return log_norm, labels, (resp if want_resp else None)


def _raise_unknown_code(X, n_levels):
    """Name the first code beyond its column's levels (scanned block by block)."""
    for start, stop in _chunks.iter_blocks(X.shape[0]):
        found = np.argwhere(X[start:stop] >= n_levels)
        if found.shape[0]:
            column = found[0][1]
            code = X[start + found[0][0], column]
            n = int(n_levels[column])
            raise ValueError(
                f"X holds code {code:g} in column {column}, but the fitted model "
                f"has n_levels_[{column}] = {n} level(s) there (codes 0 to "
                f"{n - 1}). A model knows the levels it was given (n_levels) or, "
                "without them, each column's largest training code + 1: give "
                "n_levels to fit levels that the training rows do not show."
            )
    raise ValueError("X holds codes the model cannot score.")  # not reached
