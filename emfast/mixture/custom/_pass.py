"""Passes over the rows for a user-defined family, and its M-step.

:func:`custom_pass` runs the generic fused kernel (E-step and the family's
statistics) over every block of rows; :func:`resp_pass` runs it with given
responsibilities (the initialisation's); :func:`update` is the M-step (the
engine's weights, the user's ``m_step`` for the parameters, checked);
:func:`custom_score` gives the per-row results of
``score_samples``/``predict``/``predict_proba``. The
user's numba functions travel as arguments of the block functions, so Dask
ships them with each pass (numba pickles them by reference to their module).
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from emfast import _chunks
from emfast.kernels.mixture import generic as kernels
from emfast.mixture._engine.weights import kernel_weights, weight_scale
from emfast.rows import chunk_sums

# values after a user function's arrays that it must not touch (checked)
_GUARD = 8


class CustomParams(NamedTuple):
    """Parameters of a mixture of a user-defined family (float64 during a fit)."""

    weights: np.ndarray  # (n_components,)
    params: np.ndarray  # (n_components, n_params)


@dataclass
class CustomStats:
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
    sums : ndarray (n_components, n_statistics)
        ``sum w r T(x)``.
    """

    log_norm: float
    weight_sum: float
    nk: np.ndarray
    sums: np.ndarray


def kernel_params(params):
    """``(log_weights, params)`` as the kernels take them: float64, C order."""
    weights, theta = params
    with np.errstate(divide="ignore"):  # an emptied component: log(0) = -inf
        log_weights = np.log(np.asarray(weights, dtype=np.float64))
    return log_weights, np.ascontiguousarray(theta, dtype=np.float64)


def custom_pass(data, params, component, n_statistics):
    """E-step + statistics over ``data`` (a :class:`~emfast.rows.Rows`).

    Returns
    -------
    CustomStats
    """
    log_weights, theta = kernel_params(params)
    scale = weight_scale(data)  # kernels see weights near one (exact)
    sums = data.reduce(
        _stats_block, None, component, log_weights, theta, n_statistics, scale
    )
    log_norm, nk, stat_sums = [total * scale for total in sums]
    return CustomStats(float(log_norm), data.weight_sum, nk, stat_sums)


def resp_pass(data, resp, component, n_statistics):
    """Statistics of given responsibilities (a :class:`~emfast.rows.RowAligned`
    source of :mod:`emfast.mixture._engine.init`)."""
    n_components = resp.n_components
    scale = weight_scale(data)
    _, nk, sums = data.reduce(
        _stats_block,
        resp,
        component,
        np.zeros(n_components),  # not read: only the number of components
        np.empty((n_components, 0)),
        n_statistics,
        scale,
    )
    return CustomStats(math.nan, data.weight_sum, nk * scale, sums * scale)


def _stats_block(
    X_block, w_block, given_resp, component, log_weights, params, n_stats, scale
):
    n_components = log_weights.shape[0]
    if given_resp is None:
        given_resp = np.empty((0, n_components), dtype=X_block.dtype)
        check_functions(component, X_block, n_stats, params)
    else:
        given_resp = np.ascontiguousarray(given_resp, dtype=X_block.dtype)
        check_functions(component, X_block, n_stats)

    def fill(*out):
        kernels.stats(
            X_block,
            kernel_weights(w_block, scale),
            given_resp,
            log_weights,
            params,
            component.log_density,
            component.statistics,
            _chunks.CHUNK_ROWS,
            *out,
        )

    shapes = [(), (n_components,), (n_components, n_stats)]
    return chunk_sums(fill, X_block.shape[0], shapes)


def update(stats, offset, component):
    """The M-step: weights ``nk / sum nk`` and the family's parameters.

    ``offset`` (scikit-learn's ``10 eps`` in the unit of the weights) is added
    to each ``nk`` so that an emptied component divides by something. The
    user's ``m_step`` gets copies, and what it returns is checked.
    """
    nk = stats.nk + offset
    theta = component.m_step(nk.copy(), np.array(stats.sums, dtype=np.float64))
    return CustomParams(nk / nk.sum(), check_params(theta, nk.shape[0], component))


def check_params(theta, n_components, component, source="m_step"):
    """``theta`` as a float64 (n_components, n_params) array of finite values.

    Raises
    ------
    ValueError
        For another shape, or non-finite values (naming the first component
        that has one).
    """
    try:
        theta = np.asarray(theta, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{source} of the {component.name} family must return a float "
            f"array of shape (n_components, n_params), got {type(theta)}: {err}"
        ) from None
    if theta.ndim != 2 or theta.shape[0] != n_components or theta.shape[1] < 1:
        raise ValueError(
            f"{source} of the {component.name} family must return an array of "
            f"shape (n_components, n_params) = ({n_components}, n_params), got "
            f"shape {theta.shape}"
        )
    finite = np.isfinite(theta).all(axis=1)
    if not finite.all():
        k = int(np.argmin(finite))
        raise ValueError(
            f"{source} of the {component.name} family returned non-finite "
            f"parameters for component {k}: {theta[k]!r}"
        )
    return np.ascontiguousarray(theta)


def custom_score(
    X,
    component,
    n_statistics,
    log_weights,
    params,
    want_resp=False,
    want_log_norm=True,
):
    """Per-row ``log p(x)``, the most probable component and optional posteriors.

    The log-densities are computed whatever ``want_log_norm`` says (the
    kernel needs them for the labels).

    Returns
    -------
    log_norm : ndarray (n_samples,) of X.dtype
    labels : ndarray (n_samples,) of intp
    resp : ndarray (n_samples, n_components) of X.dtype, or None
    """
    check_functions(component, X, n_statistics, params)
    n_samples = X.shape[0]
    n_components = log_weights.shape[0]
    log_norm = np.empty(n_samples, dtype=X.dtype)
    labels = np.empty(n_samples, dtype=np.intp)
    resp = np.empty((n_samples if want_resp else 0, n_components), dtype=X.dtype)
    kernels.score(
        X,
        log_weights,
        params,
        component.log_density,
        component.statistics,
        n_statistics,
        _chunks.CHUNK_ROWS,
        log_norm,
        labels,
        resp,
    )
    return log_norm, labels, (resp if want_resp else None)


def check_functions(component, X, n_statistics, params=None):
    """Raise a ``ValueError`` if the family's functions go past their arrays.

    The kernels do not check bounds (numba does not): a ``statistics`` that
    writes more than ``n_statistics`` values would overwrite memory, and a
    ``log_density`` that reads more values than ``m_step`` returns would read
    the next component's parameters. So each block first calls them from here,
    on its first row, with arrays followed by NaN guards: ``statistics`` must
    leave the guard as it is, and ``log_density`` must give the same value with
    the guard after ``theta`` as with ``theta`` alone (a few microseconds).
    """
    if not X.shape[0]:
        return
    x = X[0]
    guarded = np.full(n_statistics + _GUARD, np.nan)
    t = guarded[:n_statistics]
    t[:] = 0.0
    component.statistics(x, t)
    if not np.isnan(guarded[n_statistics:]).all():
        raise ValueError(
            f"statistics of the {component.name} family writes past the "
            f"n_statistics = {n_statistics} values it declares"
        )
    if params is None or not params.shape[0]:
        return
    theta = params[0]
    alone = component.log_density(x, t, theta.copy())
    padded = np.full(theta.shape[0] + _GUARD, np.nan)
    padded[: theta.shape[0]] = theta
    if math.isnan(component.log_density(x, t, padded[: theta.shape[0]])) and (
        not math.isnan(alone)
    ):
        raise ValueError(
            f"log_density of the {component.name} family reads past the "
            f"{theta.shape[0]} parameters per component that its m_step returns"
        )
