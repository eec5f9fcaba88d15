"""The Gaussian M-step on summed statistics: weights, means, covariances.

Statistics arrive centred on the means the pass ran with (``centers``). With
``R = sum r``, ``s1 = sum r (x - c)`` and ``s2 = sum r (x - c)(x - c)^T``, the
new mean and scatter follow exactly (no ``sum r x x^T - n m m^T`` cancellation):

    m = (s1 + R c) / nk,        d = m - c,
    sum r (x - m)(x - m)^T = s2 - d s1^T - s1 d^T + R d d^T,

where ``nk = R + 10 eps`` as in scikit-learn, so that a component with no
responsibility gets mean 0 and covariance ``reg_covar``, as it does there. eps is
float64's for every data dtype because the statistics are float64 (scikit-learn
uses float32's for float32 data, which moves a one-row component's mean by 1e-6
of its norm). With sample weights the ``10 eps`` is taken in the unit of the
weights (:func:`emfast.mixture._engine.weights.nk_offset`), so that scaling every
weight leaves the fit unchanged. Everything here is float64 and of size
K x D x D at most.
"""

import numpy as np

from emfast import _sklearn
from emfast.kernels.mixture.cholesky import precision_factors
from emfast.mixture._engine.weights import NK_OFFSET

# beyond this many features LAPACK's factorisation pays for its call overhead
SMALL_FACTOR_FEATURES = 64
ILL_DEFINED = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


def estimate_gaussian_parameters(
    stats, reg_covar, covariance_type, nk_offset=NK_OFFSET
):
    """M-step: ``(nk, means, covariances)`` from :class:`GaussianStats`.

    ``nk`` (including the ``nk_offset``, scikit-learn's ``10 eps`` for unit
    weights) is returned unnormalised: the EM step divides it by its sum, the
    initialisation by the weight total. Data too large for float64 give
    non-finite covariances, which :func:`precisions_cholesky` reports as a
    ``ValueError``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return _estimate(stats, reg_covar, covariance_type, nk_offset)


def _estimate(stats, reg_covar, covariance_type, nk_offset):
    resp_sum = stats.nk
    nk = resp_sum + nk_offset
    means = (stats.s1 + resp_sum[:, None] * stats.centers) / nk[:, None]
    delta = means - stats.centers
    n_features = means.shape[1]

    if covariance_type in ("diag", "spherical"):
        scatter = stats.s2 - 2 * delta * stats.s1 + resp_sum[:, None] * delta**2
        covariances = scatter / nk[:, None] + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
        return nk, means, covariances

    if stats.s2 is not None:  # per-component full scatter
        cross = delta[:, :, None] * stats.s1[:, None, :]
        scatter = (
            stats.s2
            - cross
            - cross.transpose(0, 2, 1)
            + resp_sum[:, None, None] * delta[:, :, None] * delta[:, None, :]
        )
    if covariance_type == "full":
        covariances = scatter / nk[:, None, None]
        covariances[:, np.arange(n_features), np.arange(n_features)] += reg_covar
        return nk, means, covariances

    # tied: the pooled within-component scatter
    if stats.s2 is not None:  # initialisation: per-component scatter + deficit
        pooled = scatter.sum(axis=0) + stats.deficit
    else:  # EM pass: total scatter about `shift` minus the between-component part
        first = stats.s1 + resp_sum[:, None] * (stats.centers - stats.shift)
        offset = means - stats.shift
        cross = first.T @ offset
        pooled = stats.scatter - cross - cross.T + (offset.T * resp_sum) @ offset
    covariance = pooled / nk.sum()
    covariance.flat[:: n_features + 1] += reg_covar
    return nk, means, covariance


def precisions_cholesky(covariances, covariance_type, dtype):
    """Cholesky factors of the precisions, computed in float64.

    Raises scikit-learn's ``ValueError`` for an ill-defined covariance (with its
    float32 hint when the data are float32).
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    if not np.all(np.isfinite(covariances)):
        raise ValueError(
            "Fitting the mixture model failed because the covariances overflowed "
            "(the data are too large in magnitude). Scale the input data."
        )
    try:
        return _factor(covariances, covariance_type)
    except ValueError as error:
        if dtype == np.float32:
            raise ValueError(
                f"{error} The numerical accuracy can also be improved by passing "
                "float64 data instead of float32."
            ) from None
        raise


def _factor(covariances, covariance_type):
    matrix = covariance_type in ("full", "tied")
    if not matrix or covariances.shape[-1] > SMALL_FACTOR_FEATURES:
        return _sklearn._compute_precision_cholesky(covariances, covariance_type, xp=np)
    stack = np.ascontiguousarray(covariances.reshape(-1, *covariances.shape[-2:]))
    factors = np.empty_like(stack)
    if precision_factors(stack, factors) >= 0:
        raise ValueError(ILL_DEFINED)
    return factors.reshape(covariances.shape)
