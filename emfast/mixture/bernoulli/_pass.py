"""Passes over binary data for the Bernoulli mixture, and its M-step.

:func:`bernoulli_pass` runs the fused E-step + statistics kernel over every
block of rows (added in block order by :meth:`~emfast.rows.Rows.reduce`);
:func:`update` turns the small summed :class:`BernoulliStats` into new
parameters. :func:`resp_pass` gives the statistics of the initial
responsibilities, :func:`bernoulli_score` the per-row results of
``score_samples``/``predict``/``predict_proba``, and
:func:`range_summary`/:func:`check_unit_interval` check that the data lie in
[0, 1].
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from emfast import _chunks
from emfast._numba import for_rows
from emfast.kernels.mixture import bernoulli as kernels
from emfast.mixture._engine.weights import NK_OFFSET, kernel_weights, weight_scale
from emfast.rows import ArrayRows, chunk_sums

# Probabilities are kept in [MIN_PROBABILITY, 1 - MIN_PROBABILITY]. A component
# whose rows all have a 0 (or all a 1) in some feature has a maximum-likelihood
# probability of exactly 0 (or 1) there, and log(0) would make its log-density
# -inf for any row with a 1 (a 0) in that feature. Clipped, such a row costs
# about 23 nats instead, and the component can take rows again. Clipping is the
# exact M-step of the likelihood restricted to that interval (it is concave in
# each probability), so EM still never lowers the log-likelihood.
MIN_PROBABILITY = 1e-10


class BernoulliParams(NamedTuple):
    """Parameters of a Bernoulli mixture (float64 during a fit)."""

    weights: np.ndarray  # (n_components,)
    probabilities: np.ndarray  # (n_components, n_features)


@dataclass
class BernoulliStats:
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
    s1 : ndarray (n_components, n_features)
        ``sum w r x``.
    """

    log_norm: float
    weight_sum: float
    nk: np.ndarray
    s1: np.ndarray


def kernel_params(params):
    """``(const, logits_t)``: the log-density terms the kernels use (float64).

    ``const[k] = log(weight_k) + sum_l log(1 - p_kl)`` and ``logits_t[l, k] =
    log(p_kl / (1 - p_kl))``, from probabilities clipped to ``[MIN_PROBABILITY,
    1 - MIN_PROBABILITY]`` in float64: a fitted float32 model holds 1.0 where
    its fit had ``1 - MIN_PROBABILITY`` (float32 has no number in between), and
    scores as the fit did.
    """
    weights, probabilities = (np.asarray(p, dtype=np.float64) for p in params)
    probabilities = np.clip(
        probabilities,
        MIN_PROBABILITY,
        1.0 - MIN_PROBABILITY,
    )
    log_p, log_q = np.log(probabilities), np.log1p(-probabilities)
    with np.errstate(divide="ignore"):  # a weight of 0: log-density -inf
        const = np.log(weights) + log_q.sum(axis=1)
    return const, np.ascontiguousarray((log_p - log_q).T)


def bernoulli_pass(data, params):
    """E-step + statistics over ``data`` (a :class:`~emfast.rows.Rows`).

    Returns
    -------
    BernoulliStats
    """
    const, logits_t = kernel_params(params)
    scale = weight_scale(data)  # kernels see weights near one (exact)
    sums = data.reduce(_stats_block, const, logits_t, scale)
    log_norm, nk, s1 = [total * scale for total in sums]
    return BernoulliStats(float(log_norm), data.weight_sum, nk, s1.T.copy())


def _stats_block(X_block, w_block, const, logits_t, scale):
    n_features, n_components = logits_t.shape

    def fill(*out):
        weights = kernel_weights(w_block, scale)
        for_rows(kernels.stats, X_block.shape[0])(
            X_block, weights, const, logits_t, _chunks.CHUNK_ROWS, *out
        )

    shapes = [(), (n_components,), (n_features, n_components)]
    return chunk_sums(fill, X_block.shape[0], shapes)


def resp_pass(data, resp, n_components):
    """Statistics of given responsibilities (a :class:`~emfast.rows.RowAligned`
    source of :mod:`emfast.mixture._engine.init`)."""
    nk, s1 = data.reduce(_resp_block, resp, n_components)
    return BernoulliStats(math.nan, data.weight_sum, nk, s1.T.copy())


def _resp_block(X_block, w_block, resp, n_components):
    resp = np.ascontiguousarray(resp, dtype=X_block.dtype)

    def fill(*out):
        for_rows(kernels.resp_stats, X_block.shape[0])(
            X_block, resp, w_block, _chunks.CHUNK_ROWS, *out
        )

    shapes = [(n_components,), (X_block.shape[1], n_components)]
    return chunk_sums(fill, X_block.shape[0], shapes)


def update(stats, offset=NK_OFFSET):
    """The M-step: weights ``nk / sum nk``, probabilities ``s1 / nk`` (clipped).

    ``offset``, added to each ``nk`` so that an emptied component keeps a
    finite log-weight, is scikit-learn's ``10 eps`` in the unit of the sample
    weights (:func:`~emfast.mixture._engine.weights.nk_offset`).
    """
    nk = stats.nk + offset
    probabilities = np.clip(
        stats.s1 / nk[:, np.newaxis], MIN_PROBABILITY, 1.0 - MIN_PROBABILITY
    )
    return BernoulliParams(nk / nk.sum(), probabilities)


def bernoulli_score(X, params, want_resp=False, want_log_norm=True):
    """Per-row ``log p(x)``, the most probable component and optional posteriors.

    The log-densities are computed whatever ``want_log_norm`` says (the
    kernel needs them for the labels).

    Returns
    -------
    log_norm : ndarray (n_samples,) of X.dtype
    labels : ndarray (n_samples,) of intp
    resp : ndarray (n_samples, n_components) of X.dtype, or None
    """
    const, logits_t = kernel_params(params)
    n_samples = X.shape[0]
    n_components = const.shape[0]
    log_norm = np.empty(n_samples, dtype=X.dtype)
    labels = np.empty(n_samples, dtype=np.intp)
    resp = np.empty((n_samples if want_resp else 0, n_components), dtype=X.dtype)
    for_rows(kernels.score, X.shape[0])(
        X, const, logits_t, _chunks.CHUNK_ROWS, log_norm, labels, resp
    )
    return log_norm, labels, (resp if want_resp else None)


# ------------------------------------------------------------- data checks
class RangeSummary(NamedTuple):
    """What :func:`range_summary` finds in the data."""

    n_negative: int
    n_outside: int  # entries that are not in [0, 1], negative ones included


def range_summary(X):
    """Count the entries of ``X`` below 0 and those outside [0, 1].

    Returns
    -------
    RangeSummary
    """
    n_negative, n_outside = ArrayRows(X).reduce(_range_block)
    return RangeSummary(int(n_negative), int(n_outside))


def _range_block(X_block, w_block):
    def fill(*out):
        kernels.range_summary(X_block, _chunks.CHUNK_ROWS, *out)

    return chunk_sums(fill, X_block.shape[0], [(), ()])


def check_unit_interval(X, estimator_name, first_row=0):
    """Raise a ``ValueError`` naming the first entry of X outside [0, 1].

    Negative values get scikit-learn's "Negative values in data passed to"
    wording. ``X`` may be a block of the rows whose first row has index
    ``first_row`` (None: unknown).
    """
    summary = range_summary(X)
    if summary.n_negative:
        raise ValueError(
            f"Negative values in data passed to {estimator_name}: it expects "
            f"binary data in [0, 1], but X has {summary.n_negative} negative "
            f"value(s){_example(X, X < 0, first_row)}."
        )
    if summary.n_outside:
        outside = ~((X >= 0) & (X <= 1))
        raise ValueError(
            f"{estimator_name} expects binary data in [0, 1], but X has "
            f"{summary.n_outside} value(s) outside it"
            f"{_example(X, outside, first_row)}."
        )


def _example(X, mask, first_row=0):
    """``, e.g. X[i, j] = value`` for the first entry of ``mask`` (or nothing)."""
    found = np.argwhere(mask)
    if not found.shape[0]:
        return ""
    row, col = found[0]
    if first_row is None:
        return f", e.g. {X[row, col]} in row {row} of a block, column {col}"
    return f", e.g. X[{first_row + row}, {col}] = {X[row, col]}"
