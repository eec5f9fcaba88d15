"""The values of a loaded BayesianGaussianMixture, checked as a fit makes them.

The Gaussian arrays (``weights_``, ``means_``, ``covariances_``,
``precisions_cholesky_``, ``precisions_``) get the Gaussian mixture's checks;
the posterior and the priors must be what a fit can produce: positive
concentrations and mean precisions (at least the prior's), degrees of freedom
above ``n_features - 1``, ``weights_`` the expected weights of the
concentrations (to rounding), and priors that scikit-learn would accept.
"""

import numpy as np

from emfast.mixture.bayesian._priors import check_given_priors
from emfast.mixture.bayesian._update import mixture_weights
from emfast.mixture.gaussian._checks import check_gaussian_values
from emfast.mixture.gaussian._covariance import covariance


def check_variational_values(fitted, settings, n_iter):
    """Raise ValueError naming the field if ``fitted`` holds impossible values.

    Parameters
    ----------
    fitted : dict
        The fitted attributes, checked for shape, dtype and finiteness; the
        weight concentrations of a Dirichlet process as a (2, n_components)
        array.
    settings : VariationalFamily
    n_iter : int
    """
    check_gaussian_values(fitted, settings.covariance_type, n_iter)
    n_features = fitted["means_"].shape[1]
    for name in ("weight_concentration_prior_", "mean_precision_prior_"):
        _check_positive(fitted, name)
    _check_positive(fitted, "weight_concentration_")
    _check_positive(fitted, "mean_precision_")
    prior = float(fitted["mean_precision_prior_"])
    beta = fitted["mean_precision_"]
    if (beta < prior * (1 - 4 * _eps(beta))).any():
        raise ValueError(
            f"fitted.mean_precision_ holds {beta.min()!r}, below the prior's "
            f"{prior!r}: a posterior precision is the prior's plus the weight seen"
        )
    for name in ("degrees_of_freedom_", "degrees_of_freedom_prior_"):
        dof = np.asarray(fitted[name])
        if (dof <= n_features - 1).any():
            raise ValueError(
                f"fitted.{name} holds {dof.min()!r}; degrees of freedom must be "
                f"greater than n_features - 1 = {n_features - 1}"
            )
    _check_covariance_prior(fitted["covariance_prior_"], settings.covariance_type)
    concentration = fitted["weight_concentration_"].astype(np.float64)
    if settings.weight_concentration_prior_type == "dirichlet_process":
        concentration = tuple(concentration)
    expected = mixture_weights(concentration, settings.weight_concentration_prior_type)
    weights = fitted["weights_"].astype(np.float64)
    tolerance = (8 + 4 * weights.shape[0]) * _eps(fitted["weights_"])
    if (np.abs(weights - expected) > tolerance * np.maximum(expected, 1e-300)).any():
        raise ValueError(
            "fitted.weights_ disagrees with fitted.weight_concentration_: they "
            "must be the expected weights of the concentrations"
        )


def check_prior_params(settings, n_features):
    """``mean_prior``, ``covariance_prior`` and ``degrees_of_freedom_prior`` as
    a fit checks them (scikit-learn's messages)."""
    check_given_priors(settings, n_features)


def _eps(array):
    return float(np.finfo(np.asarray(array).dtype).eps)


def _check_positive(fitted, name):
    values = np.asarray(fitted[name])
    if not (values > 0).all():
        raise ValueError(f"fitted.{name} must be positive, but holds {values.min()!r}")


def _check_covariance_prior(prior, covariance_type):
    prior = np.asarray(prior, dtype=np.float64)
    if covariance(covariance_type).matrix:
        symmetric = np.allclose(prior, prior.T)  # scikit-learn's own tolerance
        if not symmetric or np.linalg.eigvalsh(prior).min() <= 0:
            raise ValueError(
                "fitted.covariance_prior_ must be symmetric positive definite"
            )
    elif not (prior > 0).all():
        raise ValueError(
            f"fitted.covariance_prior_ must be positive, but holds {prior.min()!r}"
        )
