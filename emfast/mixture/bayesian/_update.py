"""Variational updates and lower bound of the Bayesian Gaussian mixture.

Everything here works on the small summed statistics of one pass (K x D x D at
most), in float64, with the formulas of scikit-learn's
``BayesianGaussianMixture`` (Bishop 2006, ch. 10.2; Blei & Jordan 2006 for the
Dirichlet process), term by term and in the same order, so that the variational
path follows scikit-learn's to rounding:

- :func:`variational_update`: the M-step, from the Gaussian estimates
  ``(nk, xk, sk)`` of the summed statistics (``sk`` includes ``reg_covar``,
  ``nk`` its ``10 eps``) to the parameters of the posterior factors: weight
  concentrations, mean precisions and means, Wishart degrees of freedom and
  normalised covariances;
- :func:`log_density_offsets`: the per-component additive term the E-step
  kernels take in place of log mixing weights,
  ``E[log pi_k] - D/2 log nu_k + 1/2 (E[log det Lambda_k] - D / beta_k)``;
- :func:`lower_bound`: scikit-learn's bound (constant terms dropped), from the
  new parameters and the ``sum r log r`` of the pass that produced them.

The priors are resolved in :mod:`emfast.mixture.bayesian._priors`.
"""

import math
from typing import NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln

from emfast.mixture.gaussian._covariance import covariance
from emfast.mixture.gaussian._kernels import log_det_cholesky
from emfast.mixture.gaussian._update import (
    estimate_gaussian_parameters,
    precisions_cholesky,
)

DIRICHLET_PROCESS = "dirichlet_process"


class VariationalParams(NamedTuple):
    """Posterior factors, in the order of scikit-learn's ``_get_parameters``.

    ``weight_concentration`` is a pair of arrays (Beta parameters of the stick
    lengths) for the Dirichlet process, one array for the Dirichlet
    distribution; ``degrees_of_freedom`` is a scalar for tied covariances.
    ``covariances`` are the Wishart scale inverses divided by the degrees of
    freedom, as scikit-learn stores them.
    """

    weight_concentration: object
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: object
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def variational_update(
    stats, reg_covar, priors, covariance_type, prior_type, dtype, nk_offset
):
    """The variational M-step: :class:`VariationalParams` from summed statistics.

    As scikit-learn's ``_m_step``: the Gaussian estimates ``(nk, xk, sk)`` of
    the statistics (``nk`` with its ``10 eps``, ``sk`` with ``reg_covar``), then
    the updates of Bishop (10.58, 10.60-10.63).

    Parameters
    ----------
    stats : GaussianStats
        Of a pass, or of the initial responsibilities.
    reg_covar : float
    priors : Priors
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    prior_type : {'dirichlet_process', 'dirichlet_distribution'}
    dtype : numpy dtype
        Data dtype (only for the wording of a failed Cholesky).
    nk_offset : float
        scikit-learn's ``10 eps`` in the unit of the sample weights
        (:func:`~emfast.mixture._engine.weights.nk_offset`).
    """
    nk, xk, sk = estimate_gaussian_parameters(
        stats, reg_covar, covariance_type, nk_offset
    )
    weight_concentration = estimate_weight_concentration(
        nk, priors.weight_concentration, prior_type
    )
    mean_precision = priors.mean_precision + nk
    means = (
        priors.mean_precision * priors.mean + nk[:, np.newaxis] * xk
    ) / mean_precision[:, np.newaxis]
    degrees_of_freedom, covariances = _estimate_wishart(
        nk, xk, sk, priors, mean_precision, covariance_type
    )
    return VariationalParams(
        weight_concentration,
        mean_precision,
        means,
        degrees_of_freedom,
        covariances,
        precisions_cholesky(covariances, covariance_type, dtype),
    )


def estimate_weight_concentration(nk, weight_concentration_prior, prior_type):
    """Posterior concentrations of the weights (Beta pairs for the process)."""
    if prior_type == DIRICHLET_PROCESS:
        # component k's stick is broken by the mass of the components after it
        mass_after = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0))
        return (1.0 + nk, weight_concentration_prior + mass_after)
    return weight_concentration_prior + nk


def _estimate_wishart(nk, xk, sk, priors, mean_precision, covariance_type):
    """``(degrees_of_freedom, covariances)``: Bishop 10.62-10.63, normalised.

    As in scikit-learn the degrees of freedom are ``nu_0 + N_k`` (Bishop's book
    has a typo there) and the covariances are divided by them.
    """
    n_components = nk.shape[0]
    diff = xk - priors.mean
    shrink = priors.mean_precision / mean_precision  # beta_0 / beta_k
    if covariance_type == "full":
        degrees_of_freedom = priors.degrees_of_freedom + nk
        covariances = (
            priors.covariance
            + nk[:, None, None] * sk
            + (nk * priors.mean_precision / mean_precision)[:, None, None]
            * (diff[:, :, None] * diff[:, None, :])
        )
        covariances /= degrees_of_freedom[:, np.newaxis, np.newaxis]
    elif covariance_type == "tied":
        degrees_of_freedom = priors.degrees_of_freedom + nk.sum() / n_components
        covariances = (
            priors.covariance
            + sk * nk.sum() / n_components
            + priors.mean_precision
            / n_components
            * np.dot((nk / mean_precision) * diff.T, diff)
        )
        covariances /= degrees_of_freedom
    elif covariance_type == "diag":
        degrees_of_freedom = priors.degrees_of_freedom + nk
        covariances = priors.covariance + nk[:, np.newaxis] * (
            sk + shrink[:, np.newaxis] * np.square(diff)
        )
        covariances /= degrees_of_freedom[:, np.newaxis]
    else:
        degrees_of_freedom = priors.degrees_of_freedom + nk
        covariances = priors.covariance + nk * (
            sk + shrink * np.mean(np.square(diff), 1)
        )
        covariances /= degrees_of_freedom
    return degrees_of_freedom, covariances


def expected_log_weights(weight_concentration, prior_type):
    """``E[log pi_k]`` under the posterior of the weights."""
    if prior_type == DIRICHLET_PROCESS:
        alpha, beta = weight_concentration
        digamma_sum = digamma(alpha + beta)
        log_stick = digamma(alpha) - digamma_sum
        log_rest = digamma(beta) - digamma_sum
        return log_stick + np.hstack((0, np.cumsum(log_rest)[:-1]))
    return digamma(weight_concentration) - digamma(np.sum(weight_concentration))


def mixture_weights(weight_concentration, prior_type):
    """``weights_``: the expected weights, normalised to sum to one."""
    if prior_type == DIRICHLET_PROCESS:
        alpha, beta = weight_concentration
        total = alpha + beta
        rest = beta / total
        weights = alpha / total * np.hstack((1, np.cumprod(rest[:-1])))
        return weights / np.sum(weights)
    return weight_concentration / np.sum(weight_concentration)


def log_density_offsets(params, prior_type):
    """The additive per-component term of the variational E-step (float64, (K,)).

    The kernels add ``log det U_k - D/2 log 2 pi - |(x - m_k) U_k|^2 / 2`` with
    ``U_k`` the Cholesky factor of the normalised precision; scikit-learn's
    ``_estimate_log_prob`` + ``_estimate_log_weights`` add to it
    ``-D/2 log nu_k`` (undoing the normalisation), ``1/2 E[log det Lambda_k]``,
    ``-D / (2 beta_k)`` and ``E[log pi_k]``.
    """
    means = np.asarray(params.means, dtype=np.float64)
    n_components, n_features = means.shape
    degrees_of_freedom = np.asarray(params.degrees_of_freedom, dtype=np.float64)
    mean_precision = np.asarray(params.mean_precision, dtype=np.float64)
    log_lambda = n_features * np.log(2.0) + np.sum(
        digamma(0.5 * (degrees_of_freedom - np.arange(n_features)[:, np.newaxis])), 0
    )
    offsets = (
        -0.5 * n_features * np.log(degrees_of_freedom)
        + 0.5 * (log_lambda - n_features / mean_precision)
        + expected_log_weights(_as_float64(params.weight_concentration), prior_type)
    )
    return np.broadcast_to(offsets, (n_components,)).copy()


def lower_bound(params, resp_log_resp, covariance_type, prior_type):
    """scikit-learn's ``_compute_lower_bound`` (constant terms dropped).

    Parameters
    ----------
    params : VariationalParams
        The parameters after the M-step.
    resp_log_resp : float
        ``sum w r log r`` of the E-step those parameters were estimated from.
    """
    means = params.means
    n_components, n_features = means.shape
    degrees_of_freedom = np.asarray(params.degrees_of_freedom, dtype=np.float64)
    # log det of the Wishart scale's Cholesky factor: the stored factor is that of
    # the normalised precision, hence the -D/2 log nu
    log_det_chol = log_det_cholesky(
        np.asarray(params.precisions_cholesky, dtype=np.float64),
        covariance_type,
        n_features,
    ) - 0.5 * n_features * np.log(degrees_of_freedom)
    log_wishart = np.sum(
        _log_wishart_norm(degrees_of_freedom, log_det_chol, n_features)
    )
    if covariance_type == "tied":  # one shared Wishart factor, counted K times
        log_wishart = n_components * log_wishart
    weight_concentration = _as_float64(params.weight_concentration)
    if prior_type == DIRICHLET_PROCESS:
        log_norm_weight = -np.sum(betaln(*weight_concentration))
    else:
        log_norm_weight = _log_dirichlet_norm(weight_concentration)
    mean_precision = np.asarray(params.mean_precision, dtype=np.float64)
    return float(
        -resp_log_resp
        - log_wishart
        - log_norm_weight
        - 0.5 * n_features * np.sum(np.log(mean_precision))
    )


def fitted_arrays(params, covariance_type, prior_type, dtype):
    """The fitted attributes (``weight_concentration_`` ... ``precisions_``).

    Arrays are cast to ``dtype``; the tied degrees of freedom stay a scalar and
    the process's concentrations a pair, as in scikit-learn. ``weights_`` and
    ``precisions_`` are derived in float64 first.
    """

    def cast(values):
        return np.asarray(values, dtype=dtype)[()]

    concentration = params.weight_concentration
    if isinstance(concentration, tuple):
        fitted_concentration = tuple(cast(a) for a in concentration)
    else:
        fitted_concentration = cast(concentration)
    precisions = covariance(covariance_type).precisions(
        np.asarray(params.precisions_cholesky, dtype=np.float64)
    )
    return {
        "weight_concentration_": fitted_concentration,
        "mean_precision_": cast(params.mean_precision),
        "means_": cast(params.means),
        "degrees_of_freedom_": cast(params.degrees_of_freedom),
        "covariances_": cast(params.covariances),
        "precisions_cholesky_": cast(params.precisions_cholesky),
        "weights_": cast(mixture_weights(_as_float64(concentration), prior_type)),
        "precisions_": cast(precisions),
    }


def _log_dirichlet_norm(dirichlet_concentration):
    """Log normalisation of a Dirichlet distribution (scikit-learn's helper)."""
    return gammaln(np.sum(dirichlet_concentration)) - np.sum(
        gammaln(dirichlet_concentration)
    )


def _log_wishart_norm(degrees_of_freedom, log_det_precisions_chol, n_features):
    """Log normalisation of Wishart distributions, without the log pi term.

    Same signature and result as scikit-learn's helper: shape (n_components,),
    or (1,) for one scalar number of degrees of freedom (tied).
    """
    return -(
        degrees_of_freedom * log_det_precisions_chol
        + degrees_of_freedom * n_features * 0.5 * math.log(2.0)
        + np.sum(
            gammaln(0.5 * (degrees_of_freedom - np.arange(n_features)[:, np.newaxis])),
            0,
        )
    )


def _as_float64(weight_concentration):
    """Weight concentrations (a pair of arrays or one array) in float64."""
    if isinstance(weight_concentration, tuple):
        return tuple(np.asarray(a, dtype=np.float64) for a in weight_concentration)
    return np.asarray(weight_concentration, dtype=np.float64)
