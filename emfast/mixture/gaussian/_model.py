"""The Gaussian mixture as functions of the data: initial parameters, EM steps.

:class:`~emfast.mixture.gaussian.GaussianMixture` holds state and validates
input; everything it computes goes through these functions (and the EM driver),
which only ever see :class:`~emfast.rows._local.Rows` and small parameter
arrays.
"""

from typing import NamedTuple

import numpy as np

from emfast import _sklearn
from emfast.mixture._engine.init import initial_resp
from emfast.mixture._engine.weights import NK_OFFSET, nk_offset
from emfast.mixture.gaussian._pass import gaussian_pass, log_weights, resp_pass
from emfast.mixture.gaussian._update import (
    covariances_from_precisions,
    estimate_gaussian_parameters,
    precisions_cholesky,
    precisions_from_cholesky,
)


class GaussianParams(NamedTuple):
    """Parameters of a Gaussian mixture, in scikit-learn's ``_get_parameters`` order."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def initial_params(data, random_state, init, settings):
    """Starting parameters of one init, drawn as scikit-learn draws them.

    Parameters
    ----------
    data : Rows
    random_state : numpy.random.RandomState
    init : tuple
        Validated ``(weights_init, means_init, precisions_init)`` (None if unset).
    settings : GaussianMixture
        Supplies ``n_components``, ``init_params``, ``covariance_type``,
        ``reg_covar``.
    """
    if any(value is None for value in init):
        resp = initial_resp(
            data, settings.n_components, settings.init_params, random_state
        )
    else:  # all given: scikit-learn draws nothing
        resp = None
    return params_from_resp(
        data, resp, init, settings.covariance_type, settings.reg_covar
    )


def params_from_resp(data, resp, init, covariance_type, reg_covar):
    """scikit-learn's ``_initialize``: statistics of ``resp``, then user values.

    ``resp`` is a responsibility source of :mod:`emfast.mixture._engine.init` (or None
    when every initial parameter is given).
    """
    weights_init, means_init, precisions_init = init
    weights = means = covariances = None
    if resp is not None:
        stats = initial_statistics(data, resp, covariance_type)
        nk, means, covariances = estimate_gaussian_parameters(
            stats, reg_covar, covariance_type, nk_offset(data)
        )
        weights = nk / data.weight_sum
    if weights_init is not None:
        weights = np.asarray(weights_init, dtype=np.float64)
    if means_init is not None:
        means = np.asarray(means_init, dtype=np.float64)
    if precisions_init is None:
        precisions_chol = precisions_cholesky(covariances, covariance_type, data.dtype)
    else:
        precisions_chol = _sklearn._compute_precision_cholesky_from_precisions(
            np.asarray(precisions_init, dtype=np.float64), covariance_type, xp=np
        )
        covariances = covariances_from_precisions(precisions_init, covariance_type)
    return GaussianParams(weights, means, covariances, precisions_chol)


def initial_statistics(data, resp, covariance_type):
    """:class:`GaussianStats` of initial responsibilities, centred on their means.

    A replayable source is read twice: first for the means, then for moments
    centred on them (exact); random responsibilities, whose means all lie near
    the data mean, are read once, centred on the data mean.
    """
    centers = np.broadcast_to(data.mean(), (resp.n_components, data.n_features))
    if resp.replayable:
        first = resp_pass(data, resp, centers, "diag")
        centers = estimate_gaussian_parameters(first, 0.0, "diag", nk_offset(data))[1]
    return resp_pass(data, resp, centers, covariance_type)


def e_step(data, params, covariance_type):
    """One fused pass: :class:`GaussianStats` under ``params``."""
    return gaussian_pass(
        data,
        (log_weights(params.weights), params.means, params.precisions_cholesky),
        covariance_type,
    )


def m_step(stats, covariance_type, reg_covar, dtype, offset=NK_OFFSET):
    """New :class:`GaussianParams` from summed statistics.

    ``offset`` is added to each component's responsibility sum: scikit-learn's
    ``10 eps`` in the unit of the weights
    (:func:`~emfast.mixture._engine.weights.nk_offset`).
    """
    nk, means, covariances = estimate_gaussian_parameters(
        stats, reg_covar, covariance_type, offset
    )
    return GaussianParams(
        nk / nk.sum(),
        means,
        covariances,
        precisions_cholesky(covariances, covariance_type, dtype),
    )


def em_step(data, params, covariance_type, reg_covar):
    """One EM iteration: ``(new_params, mean log-likelihood under params)``."""
    stats = e_step(data, params, covariance_type)
    new = m_step(stats, covariance_type, reg_covar, data.dtype, nk_offset(data))
    return new, stats.log_norm / stats.weight_sum


def fitted_arrays(params, covariance_type, dtype):
    """The fitted attributes (``weights_`` ... ``precisions_``) in ``dtype``."""
    weights, means, covariances, precisions_chol = params
    precisions = precisions_from_cholesky(
        np.asarray(precisions_chol, dtype=np.float64), covariance_type
    )
    return {
        "weights_": np.asarray(weights, dtype=dtype),
        "means_": np.asarray(means, dtype=dtype),
        "covariances_": np.asarray(covariances, dtype=dtype),
        "precisions_cholesky_": np.asarray(precisions_chol, dtype=dtype),
        "precisions_": np.asarray(precisions, dtype=dtype),
    }


def n_parameters(n_components, n_features, covariance_type):
    """Number of free parameters of the model."""
    cov_params = {
        "full": n_components * n_features * (n_features + 1) / 2.0,
        "diag": n_components * n_features,
        "tied": n_features * (n_features + 1) / 2.0,
        "spherical": n_components,
    }[covariance_type]
    return int(cov_params + n_features * n_components + n_components - 1)


def sample(params, covariance_type, n_samples, rng):
    """Rows drawn from the mixture exactly as scikit-learn draws them."""
    weights, means, covariances, _ = params
    n_features = means.shape[1]
    weights = np.asarray(weights, dtype=np.float64)
    if weights.dtype != np.asarray(params.weights).dtype:  # float32 fit
        weights = weights / weights.sum()
    counts = rng.multinomial(n_samples, weights)
    means = np.asarray(means, dtype=np.float64)
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        parts = [
            rng.multivariate_normal(m, c, int(n))
            for m, c, n in zip(means, covariances, counts)
        ]
    elif covariance_type == "tied":
        parts = [
            rng.multivariate_normal(m, covariances, int(n))
            for m, n in zip(means, counts)
        ]
    else:
        parts = [
            m + rng.standard_normal(size=(n, n_features)) * np.sqrt(c)
            for m, c, n in zip(means, covariances, counts)
        ]
    labels = np.concatenate(
        [np.full(int(n), k, dtype=np.int64) for k, n in enumerate(counts)]
    )
    return np.vstack(parts), labels
