"""Passes over count data for the Poisson mixture, and its M-step.

:func:`poisson_pass` runs the fused E-step + statistics kernel over every block
of rows (added in block order by :meth:`~emfast.rows.Rows.reduce`);
:func:`update` turns the small summed :class:`PoissonStats` into new
parameters; :func:`em_step` is the two together, the ``step`` of
:func:`emfast.mixture._engine.em.run_em`. :func:`resp_pass` gives the
statistics of the initial responsibilities, :func:`poisson_score` the per-row
results of ``score_samples``/``predict``/``predict_proba``, and
:func:`count_summary`/:func:`check_counts` validate the data as counts.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from emfast import _chunks
from emfast._numba import for_rows
from emfast.kernels.mixture import poisson as kernels
from emfast.kernels.mixture import poisson_tile as tile_kernels
from emfast.mixture._engine.weights import (  # noqa: F401  (NK_OFFSET: unit weights')
    NK_OFFSET,
    kernel_weights,
    nk_offset,
    weight_scale,
)
from emfast.rows import chunk_sums

# Smallest rate the M-step returns. A component whose rows all have a zero count
# in some feature has a maximum-likelihood rate of exactly 0 there; flooring it
# keeps log(rate) finite (about -23), so such a component still gives finite
# log-densities (a strong penalty for a non-zero count) and can take rows again.
MIN_RATE = 1e-10
# The kernels multiply every count by its log rate, zeros included (a branch on
# zero counts made the pass 15-25 % slower). A rate of exactly 0 (set by hand: fits
# floor at MIN_RATE) would give 0 * log(0) = NaN, so log rates are clamped to a
# finite value that still sends any non-zero count's probability to 0 (and is
# finite in float32).
LOG_RATE_OF_ZERO = -1e30
# Counts must be below 2**53: from there on float64 (and float32) hold only
# whole numbers, and an int64 count above it changes when made a float.
MAX_COUNT = 2.0**53
# log(n!) of small counts by table look-up (lgamma beyond)
_TABLE_SIZE = 1024
_log_factorial_table = None


def log_factorial_table():
    """``log(n!)`` for ``n < 1024`` (float64), built on first use."""
    global _log_factorial_table
    if _log_factorial_table is None:
        _log_factorial_table = np.array(
            [math.lgamma(n + 1.0) for n in range(_TABLE_SIZE)]
        )
    return _log_factorial_table


class PoissonParams(NamedTuple):
    """Parameters of a Poisson mixture (float64 during a fit)."""

    weights: np.ndarray  # (n_components,)
    rates: np.ndarray  # (n_components, n_features)


@dataclass
class PoissonStats:
    """Sufficient statistics of one pass.

    Attributes
    ----------
    log_norm : float
        ``sum w log p(x)`` under the parameters of the pass, without the
        ``log(x!)`` terms (nan when not computed).
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


class CountSummary(NamedTuple):
    """What :func:`count_summary` finds in the data."""

    n_negative: int
    n_too_large: int  # entries >= MAX_COUNT
    n_fractional: int
    log_factorial: float  # sum w sum_l log(x_l!)


def kernel_params(params):
    """``(const, log_rates_t)``: the log-density terms the kernels use (float64).

    ``const[k] = log(weight_k) - sum_l rate_lk``; the log rate of a rate of exactly
    0 is ``LOG_RATE_OF_ZERO`` (finite, so that a zero count times it is 0). They
    stay float64 for float32 rows too: the kernels sum log-densities in their
    dtype (see :mod:`emfast.kernels.mixture.poisson`).
    """
    weights, rates = (np.asarray(p, dtype=np.float64) for p in params)
    with np.errstate(divide="ignore"):
        const = np.log(weights) - rates.sum(axis=1)
        log_rates_t = np.maximum(np.log(rates).T, LOG_RATE_OF_ZERO)
    return const, np.ascontiguousarray(log_rates_t)


def poisson_pass(data, params):
    """E-step + statistics over ``data`` (a :class:`~emfast.rows.Rows`).

    Returns
    -------
    PoissonStats
    """
    const, log_rates_t = kernel_params(params)
    scale = weight_scale(data)  # kernels see weights near one (exact)
    sums = data.reduce(_stats_block, const, log_rates_t, scale)
    log_norm, nk, s1 = [total * scale for total in sums]
    return PoissonStats(float(log_norm), data.weight_sum, nk, s1.T.copy())


def _stats_block(X_block, w_block, const, log_rates_t, scale):
    n_features, n_components = log_rates_t.shape

    log_rates = np.ascontiguousarray(log_rates_t.T)

    def fill(*out):
        weights = kernel_weights(w_block, scale)
        for_rows(tile_kernels.stats, X_block.shape[0])(
            X_block, weights, const, log_rates, _chunks.CHUNK_ROWS, *out
        )

    shapes = [(), (n_components,), (n_features, n_components)]
    return chunk_sums(fill, X_block.shape[0], shapes)


def resp_pass(data, resp, n_components):
    """Statistics of given responsibilities (a :class:`~emfast.rows.RowAligned`
    source of :mod:`emfast.mixture._engine.init`)."""
    nk, s1 = data.reduce(_resp_block, resp, n_components)
    return PoissonStats(math.nan, data.weight_sum, nk, s1.T.copy())


def _resp_block(X_block, w_block, resp, n_components):
    resp = np.ascontiguousarray(resp, dtype=X_block.dtype)

    def fill(*out):
        for_rows(kernels.resp_stats, X_block.shape[0])(
            X_block, resp, w_block, _chunks.CHUNK_ROWS, *out
        )

    shapes = [(n_components,), (X_block.shape[1], n_components)]
    return chunk_sums(fill, X_block.shape[0], shapes)


def update(stats, offset=NK_OFFSET):
    """The M-step: weights ``nk / sum nk`` and rates ``s1 / nk`` (floored).

    ``offset``, added to each ``nk`` so that an emptied component keeps a
    finite log-weight, is scikit-learn's ``10 eps`` in the unit of the sample
    weights (:func:`~emfast.mixture._engine.weights.nk_offset`).
    """
    nk = stats.nk + offset
    rates = np.maximum(stats.s1 / nk[:, np.newaxis], MIN_RATE)
    return PoissonParams(nk / nk.sum(), rates)


def em_step(data, params, log_factorial):
    """One EM iteration: ``(new params, mean log-likelihood under params)``.

    ``log_factorial`` is the data's ``sum w sum_l log(x_l!)`` (from
    :func:`count_summary`), constant over the fit.
    """
    stats = poisson_pass(data, params)
    return (
        update(stats, nk_offset(data)),
        (stats.log_norm - log_factorial) / stats.weight_sum,
    )


def initial_params(data, resp):
    """Parameters from the initial responsibilities (see ``_init.initial_resp``)."""
    stats = resp_pass(data, resp, resp.n_components)
    return update(stats, nk_offset(data))


def count_summary(data):
    """Count invalid entries of ``data`` and sum its weighted ``log(x!)``.

    Returns
    -------
    CountSummary
    """
    n_negative, n_too_large, n_fractional, log_factorial = data.reduce(
        _count_block, log_factorial_table()
    )
    return CountSummary(
        int(n_negative), int(n_too_large), int(n_fractional), float(log_factorial)
    )


def _count_block(X_block, w_block, table):
    def fill(*out):
        for_rows(kernels.count_summary, X_block.shape[0])(
            X_block, w_block, table, MAX_COUNT, _chunks.CHUNK_ROWS, *out
        )

    return chunk_sums(fill, X_block.shape[0], [(), (), (), ()])


def check_counts(X, summary, estimator_name, first_row=0):
    """Raise a ``ValueError`` naming the first invalid entry if X is not counts.

    Negative values get scikit-learn's "Negative values in data passed to" wording.
    The entries are found with the kernel's tests, in the same order (negative,
    then too large, then not whole). ``X`` may be a block of the rows whose
    first row has index ``first_row`` (None: unknown).
    """
    if summary.n_negative:
        raise ValueError(
            f"Negative values in data passed to {estimator_name}: it expects counts "
            f"(non-negative integers), but X has {summary.n_negative} negative "
            f"value(s){_example(X, X < 0, first_row)}."
        )
    if summary.n_too_large:
        raise ValueError(
            f"{estimator_name} expects counts below 2**53 = {int(MAX_COUNT)} (the "
            "whole numbers float64 holds exactly), but X has "
            f"{summary.n_too_large} larger value(s)"
            f"{_example(X, X >= MAX_COUNT, first_row)}."
        )
    if summary.n_fractional:
        fractional = (X >= 0) & (X < MAX_COUNT) & (X != np.floor(X))
        raise ValueError(
            f"{estimator_name} expects counts (non-negative integers), but X has "
            f"{summary.n_fractional} non-integer value(s)"
            f"{_example(X, fractional, first_row)}."
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


def poisson_score(X, params, want_resp=False, want_log_norm=True):
    """Per-row ``log p(x)``, the most probable component and optional posteriors.

    The log-densities are computed whatever ``want_log_norm`` says (the
    Poisson kernel needs them for the labels).

    Returns
    -------
    log_norm : ndarray (n_samples,) of X.dtype
    labels : ndarray (n_samples,) of intp
    resp : ndarray (n_samples, n_components) of X.dtype, or None
    """
    const, log_rates_t = kernel_params(params)
    n_samples = X.shape[0]
    n_components = const.shape[0]
    log_norm = np.empty(n_samples, dtype=X.dtype)
    labels = np.empty(n_samples, dtype=np.intp)
    resp = np.empty((n_samples if want_resp else 0, n_components), dtype=X.dtype)
    for_rows(kernels.score, X.shape[0])(
        X,
        const,
        log_rates_t,
        log_factorial_table(),
        _chunks.CHUNK_ROWS,
        log_norm,
        labels,
        resp,
    )
    return log_norm, labels, (resp if want_resp else None)
