"""The priors of the variational mixture, resolved as scikit-learn resolves them.

:func:`resolve_priors` is scikit-learn's ``_check_parameters``: the given priors
are checked with its messages, and the defaults come from the (weighted) mean
and covariance of the training rows.
"""

from typing import NamedTuple

import numpy as np
from sklearn.utils import check_array

from emfast import _sklearn  # scikit-learn's prior checks, for its exact messages
from emfast.mixture.gaussian._covariance import covariance


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
    mean_prior, covariance_prior = check_given_priors(settings, n_features)
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
        "mean_prior_": data.mean() if mean_prior is None else mean_prior,
        "degrees_of_freedom_prior_": (
            n_features
            if settings.degrees_of_freedom_prior is None
            else settings.degrees_of_freedom_prior
        ),
    }
    if covariance_prior is None:
        covariance_prior = sample_covariance(data, settings.covariance_type)
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


def check_given_priors(settings, n_features):
    """The given ``mean_prior`` and ``covariance_prior`` (None if unset), checked
    with scikit-learn's messages, as are ``degrees_of_freedom_prior``'s range.

    Given arrays are kept as ``check_array`` returns them, as in scikit-learn.
    """
    cov_type = settings.covariance_type
    mean_prior = covariance_prior = None
    if settings.mean_prior is not None:
        mean_prior = check_array(
            settings.mean_prior, dtype=[np.float64, np.float32], ensure_2d=False
        )
        _sklearn._check_shape(mean_prior, (n_features,), "means")
    dof_prior = settings.degrees_of_freedom_prior
    if dof_prior is not None and not dof_prior > n_features - 1.0:
        raise ValueError(
            "The parameter 'degrees_of_freedom_prior' "
            "should be greater than %d, but got %.3f." % (n_features - 1, dof_prior)
        )
    if settings.covariance_prior is None:
        pass
    elif cov_type in ("full", "tied", "diag"):
        shape = covariance(cov_type).prior_shape(n_features)
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
    return mean_prior, covariance_prior


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
    if covariance(covariance_type).matrix:
        _, scatter = data.centred_scatter()
        prior = scatter / (data.weight_sum - 1.0)
    else:  # only the diagonal: O(n_features) per row
        _, squares = data.centred_squares()
        prior = squares / (data.weight_sum - 1.0)
        if covariance_type == "spherical":
            prior = prior.mean()
    return prior
