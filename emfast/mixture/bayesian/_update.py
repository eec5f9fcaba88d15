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
  new parameters and the ``sum r log r`` of the pass that produced them;
- :func:`resolve_priors`: the priors, checked as scikit-learn checks them, with
  defaults from the (weighted) mean and covariance of the data.
"""

import math
from typing import NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln
from sklearn.utils import check_array

from emfast import _sklearn  # scikit-learn's prior checks, for its exact messages
from emfast.mixture.gaussian._kernels import log_det_cholesky
from emfast.mixture.gaussian._update import (
    estimate_gaussian_parameters,
    precisions_cholesky,
    precisions_from_cholesky,
)

DIRICHLET_PROCESS = "dirichlet_process"


class Priors(NamedTuple):
    """The resolved priors (scikit-learn's ``*_prior_`` attributes), float64."""

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray

    @classmethod
    def from_attributes(cls, estimator):
        """The priors a fitted (or prior-checked) estimator holds, in float64."""
        return cls(
            float(estimator.weight_concentration_prior_),
            float(estimator.mean_precision_prior_),
            np.asarray(estimator.mean_prior_, dtype=np.float64),
            float(estimator.degrees_of_freedom_prior_),
            np.asarray(estimator.covariance_prior_, dtype=np.float64),
        )


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
    precisions = precisions_from_cholesky(
        np.asarray(params.precisions_cholesky, dtype=np.float64), covariance_type
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


def resolve_priors(settings, data):
    """scikit-learn's ``_check_parameters``: the ``*_prior_`` attributes.

    Parameters
    ----------
    settings : BayesianGaussianMixture
        Supplies the prior parameters, ``n_components`` and ``covariance_type``.
    data : Rows
        The training rows; their weighted mean and covariance are the defaults.

    Returns
    -------
    attributes : dict
        Attribute name -> value. Defaults are in the data dtype; given arrays
        are kept as ``check_array`` returns them, as in scikit-learn.
    priors : Priors
        The same priors in float64, defaults unrounded: for float32 rows far
        from the origin the data mean rounded to float32 is off by up to half a
        float32 spacing (0.03 at 1e6), which would move the fit and its bound
        away from the float64 fit of the same rows. The fitted arrays are
        rounded alike: the fit runs in float64, the attributes keep the dtype.
    """
    n_features = data.n_features
    cov_type = settings.covariance_type
    priors = {
        "weight_concentration_prior_": (
            1.0 / settings.n_components
            if settings.weight_concentration_prior is None
            else settings.weight_concentration_prior
        ),
        "mean_precision_prior_": (
            1.0
            if settings.mean_precision_prior is None
            else settings.mean_precision_prior
        ),
    }
    if settings.mean_prior is None:
        priors["mean_prior_"] = data.mean()
    else:
        mean_prior = check_array(
            settings.mean_prior, dtype=[np.float64, np.float32], ensure_2d=False
        )
        _sklearn._check_shape(mean_prior, (n_features,), "means")
        priors["mean_prior_"] = mean_prior
    if settings.degrees_of_freedom_prior is None:
        priors["degrees_of_freedom_prior_"] = n_features
    elif settings.degrees_of_freedom_prior > n_features - 1.0:
        priors["degrees_of_freedom_prior_"] = settings.degrees_of_freedom_prior
    else:
        raise ValueError(
            "The parameter 'degrees_of_freedom_prior' "
            "should be greater than %d, but got %.3f."
            % (n_features - 1, settings.degrees_of_freedom_prior)
        )
    if settings.covariance_prior is None:
        covariance_prior = sample_covariance(data, cov_type)
    elif cov_type in ("full", "tied", "diag"):
        shape = (n_features,) if cov_type == "diag" else (n_features, n_features)
        covariance_prior = check_array(
            settings.covariance_prior, dtype=[np.float64, np.float32], ensure_2d=False
        )
        _sklearn._check_shape(covariance_prior, shape, f"{cov_type} covariance_prior")
        if cov_type == "diag":
            _sklearn._check_precision_positivity(covariance_prior, cov_type)
        else:
            _sklearn._check_precision_matrix(covariance_prior, cov_type)
    else:
        covariance_prior = settings.covariance_prior
    priors["covariance_prior_"] = covariance_prior
    exact = Priors(
        float(priors["weight_concentration_prior_"]),
        float(priors["mean_precision_prior_"]),
        np.asarray(priors["mean_prior_"], dtype=np.float64),
        float(priors["degrees_of_freedom_prior_"]),
        np.asarray(covariance_prior, dtype=np.float64),
    )
    for name, given in (
        ("mean_prior_", settings.mean_prior),
        ("covariance_prior_", settings.covariance_prior),
    ):
        if given is None:
            priors[name] = np.asarray(priors[name], dtype=data.dtype)[()]
    return priors, exact


def sample_covariance(data, covariance_type):
    """The default covariance prior: the (weighted) covariance of the data.

    ``np.cov(X.T)`` for full and tied, ``np.var(X, axis=0, ddof=1)`` for diag and
    its mean for spherical, with the total weight in place of the row count
    (integer weights act as repeated rows). Centred sums in float64, by blocks.
    """
    if not data.weight_sum > 1.0:
        raise ValueError(
            "The default covariance_prior is the covariance of the data, which "
            "needs sample weights that sum to more than 1 (they count rows), but "
            f"they sum to {data.weight_sum:g}. Scale the weights or give "
            "covariance_prior."
        )
    if covariance_type in ("full", "tied"):
        _, scatter = data.centred_scatter()
        covariance = scatter / (data.weight_sum - 1.0)
    else:  # only the diagonal: O(n_features) per row
        _, squares = data.centred_squares()
        covariance = squares / (data.weight_sum - 1.0)
        if covariance_type == "spherical":
            covariance = covariance.mean()
    return covariance
