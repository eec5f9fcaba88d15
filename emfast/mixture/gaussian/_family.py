"""The Gaussian family: the mixture scikit-learn's ``GaussianMixture`` fits by EM.

:class:`GaussianFamily` is what the engine asks of it (see
:class:`~emfast.mixture._engine.family.Family`); the work is done by the pass
(:mod:`emfast.mixture.gaussian._pass`), the M-step
(:mod:`emfast.mixture.gaussian._update`) and the covariance types
(:mod:`emfast.mixture.gaussian._covariance`). The variational mixture reuses
the initial statistics and the scoring.
"""

import dataclasses
from typing import NamedTuple

import numpy as np

from emfast import _sklearn
from emfast._numba import serial_blas
from emfast.mixture._engine.family import Context, Family
from emfast.mixture._engine.init import initial_resp
from emfast.mixture._engine.weights import nk_offset
from emfast.mixture.gaussian import _stream
from emfast.mixture.gaussian._checks import check_gaussian_init, check_gaussian_values
from emfast.mixture.gaussian._covariance import covariance
from emfast.mixture.gaussian._pass import (
    gaussian_pass,
    gaussian_score,
    log_weights,
    resp_pass,
)
from emfast.mixture.gaussian._update import (
    estimate_gaussian_parameters,
    precisions_cholesky,
)

# the fitted arrays, in scikit-learn's _get_parameters order, and precisions_
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


class GaussianParams(NamedTuple):
    """Parameters of a Gaussian mixture, in scikit-learn's ``_get_parameters`` order."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


@dataclasses.dataclass(frozen=True)
class GaussianContext(Context):
    """:class:`~emfast.mixture._engine.family.Context` with the validated
    ``(weights_init, means_init, precisions_init)`` (None where unset)."""

    init: tuple = (None, None, None)


def score_rows(X, params, covariance_type, want_resp=False, want_log_norm=True):
    """``(log p(x), labels, resp or None)`` of validated rows (``score_block``).

    ``params`` is ``(additive log term, means, precisions_cholesky)``. Without
    ``want_log_norm`` (labels only) the log-densities may be None.
    """
    with serial_blas():
        return gaussian_score(
            X,
            params,
            covariance_type,
            want_resp=want_resp,
            want_log_norm=want_log_norm,
        )


class GaussianFamily(Family):
    """Gaussian components with one of four covariance types (see ``Family``)."""

    fitted_attribute = "precisions_cholesky_"
    score_block = staticmethod(score_rows)

    def __init__(
        self,
        *,
        n_components,
        covariance_type,
        reg_covar,
        init_params,
        weights_init=None,
        means_init=None,
        precisions_init=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    # ------------------------------------------------------------ fitting
    def prepare(self, rows, estimator, *, continuing=False):
        init = (None,) * 3 if continuing else check_gaussian_init(self, rows.n_features)
        return GaussianContext(rows.dtype, nk_offset(rows), init)

    def initial_params(self, rows, context, random_state):
        """Starting parameters of one init, drawn as scikit-learn draws them."""
        if any(value is None for value in context.init):
            resp = initial_resp(rows, self.n_components, self.init_params, random_state)
        else:  # all given: scikit-learn draws nothing
            resp = None
        return params_from_resp(
            rows, resp, context.init, self.covariance_type, self.reg_covar
        )

    def resp_statistics(self, rows, resp, context):
        return initial_statistics(rows, resp, self.covariance_type)

    def statistics(self, rows, params, context):
        kernel_params = (log_weights(params.weights), params.means)
        return gaussian_pass(
            rows, (*kernel_params, params.precisions_cholesky), self.covariance_type
        )

    def m_step(self, stats, context):
        """New :class:`GaussianParams` from summed statistics."""
        nk, means, covariances = estimate_gaussian_parameters(
            stats, self.reg_covar, self.covariance_type, context.nk_offset
        )
        return GaussianParams(
            nk / nk.sum(),
            means,
            covariances,
            precisions_cholesky(covariances, self.covariance_type, context.dtype),
        )

    def lower_bound(self, stats, params, context):
        """The mean log-likelihood under the parameters of the pass."""
        return stats.log_norm / stats.weight_sum

    # ------------------------------------------------- fitted attributes
    def params_from(self, estimator):
        return GaussianParams(*(getattr(estimator, name) for name in FITTED[:4]))

    def set_fitted(self, estimator, params, dtype=None):
        """Set ``weights_`` ... ``precisions_`` (``precisions_`` derived in
        float64) in ``dtype`` (default: as given, float32 at least)."""
        if dtype is None:
            dtype = np.result_type(params[1], np.float32)
        weights, means, covariances, precisions_chol = params
        precisions = covariance(self.covariance_type).precisions(
            np.asarray(precisions_chol, dtype=np.float64)
        )
        values = (weights, means, covariances, precisions_chol, precisions)
        for name, value in zip(FITTED, values):
            setattr(estimator, name, np.asarray(value, dtype=dtype))

    def scoring_args(self, estimator):
        return (
            (
                log_weights(estimator.weights_),
                estimator.means_,
                estimator.precisions_cholesky_,
            ),
            self.covariance_type,
        )

    def n_parameters(self, estimator):
        n_features = estimator.means_.shape[1]
        cov_params = covariance(self.covariance_type).n_parameters(
            self.n_components, n_features
        )
        return int(cov_params + n_features * self.n_components + self.n_components - 1)

    def sample(self, estimator, n_samples, rng):
        return sample(
            GaussianParams(*(getattr(estimator, name) for name in FITTED[:4])),
            self.covariance_type,
            n_samples,
            rng,
        )

    # ----------------------------------------------------------- streaming
    def blend(self, running, batch, rho):
        return _stream.blend(running, batch, rho)

    def fitted_statistics(self, params, context):
        return _stream.fitted_statistics(params, self.covariance_type, self.reg_covar)

    # ------------------------------------------------------- model files
    def file_arrays(self, estimator, n_features):
        k, d = self.n_components, n_features
        shape = covariance(self.covariance_type).shape(k, d)
        return {
            "weights_": (k,),
            "means_": (k, d),
            "covariances_": shape,
            "precisions_cholesky_": shape,
            "precisions_": shape,
        }

    def check_file_values(self, fitted, estimator):
        check_gaussian_values(fitted, self.covariance_type, fitted["n_iter_"])

    def check_file_params(self, estimator, n_features):
        check_gaussian_init(self, n_features)


def params_from_resp(data, resp, init, covariance_type, reg_covar):
    """scikit-learn's ``_initialize``: statistics of ``resp``, then user values.

    ``resp`` is a responsibility source of :mod:`emfast.mixture._engine.init` (or
    None when every initial parameter is given).
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
        covariances = covariance(covariance_type).covariances(precisions_init)
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


def sample(params, covariance_type, n_samples, rng):
    """Rows drawn from the mixture exactly as scikit-learn draws them."""
    weights, means, covariances, _ = params
    weights = np.asarray(weights, dtype=np.float64)
    if weights.dtype != np.asarray(params.weights).dtype:  # float32 fit
        weights = weights / weights.sum()
    counts = rng.multinomial(n_samples, weights)
    parts = covariance(covariance_type).draw(
        rng,
        np.asarray(means, dtype=np.float64),
        np.asarray(covariances, dtype=np.float64),
        counts,
    )
    labels = np.concatenate(
        [np.full(int(n), k, dtype=np.int64) for k, n in enumerate(counts)]
    )
    return np.vstack(parts), labels
