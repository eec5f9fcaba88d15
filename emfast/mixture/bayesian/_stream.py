"""The statistics a variational posterior stands for (to continue it by SVI).

A model fitted by ``fit`` (or loaded) has a posterior but no running
statistics. The variational update (:func:`~emfast.mixture.bayesian._update.
variational_update`) maps the Gaussian estimates ``(nk, xk, sk)`` of the
statistics to the posterior; :func:`fitted_statistics` inverts it (Bishop
10.60-10.63 solved for ``nk``, ``xk`` and ``sk``) and returns the statistics
per unit weight whose update, scaled to ``sum nk``, gives back the posterior
(to rounding; scikit-learn's ``10 eps`` on ``nk`` is counted twice).
"""

import numpy as np

from emfast.mixture.gaussian import _stream as gaussian_stream
from emfast.mixture.gaussian._family import GaussianParams


def fitted_statistics(params, priors, covariance_type, reg_covar):
    """Statistics per unit weight whose scaled variational update gives ``params``.

    Parameters
    ----------
    params : VariationalParams
        The posterior (float64).
    priors : Priors
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float

    Returns
    -------
    GaussianStats
        With ``resp_log_resp = 0`` (a fitted posterior's entropy term is not
        known; the first batch brings its own).
    """
    beta = np.asarray(params.mean_precision, dtype=np.float64)
    nk = beta - priors.mean_precision
    means = np.asarray(params.means, dtype=np.float64)
    xk = (beta[:, None] * means - priors.mean_precision * priors.mean) / nk[:, None]
    dof = np.asarray(params.degrees_of_freedom, dtype=np.float64)
    scale = np.asarray(params.covariances, dtype=np.float64)
    diff = xk - priors.mean
    shrink = priors.mean_precision / beta  # beta_0 / beta_k
    if covariance_type == "full":
        scatter = scale * dof[:, None, None] - priors.covariance
        scatter -= (nk * shrink)[:, None, None] * (diff[:, :, None] * diff[:, None, :])
        sk = scatter / nk[:, None, None]
    elif covariance_type == "tied":
        n_components = nk.shape[0]
        between = priors.mean_precision / n_components * ((nk / beta) * diff.T) @ diff
        sk = (scale * dof - priors.covariance - between) * n_components / nk.sum()
    elif covariance_type == "diag":
        sk = (scale * dof[:, None] - priors.covariance) / nk[:, None]
        sk -= shrink[:, None] * np.square(diff)
    else:
        sk = (scale * dof - priors.covariance) / nk
        sk -= shrink * np.mean(np.square(diff), axis=1)
    stats = gaussian_stream.fitted_statistics(
        GaussianParams(nk, xk, sk, None), covariance_type, reg_covar
    )
    stats.resp_log_resp = 0.0
    return stats
