"""Stepwise (online) EM for ``partial_fit``: Gaussian running statistics.

The engine (:mod:`emfast.mixture._engine.stream`) blends statistics per unit
weight. Gaussian statistics are centred on the means of their own pass, so
before blending the running ones are moved to the batch's centres with exact
algebra (no raw ``sum r x x^T`` is formed).
"""

import dataclasses
import math

import numpy as np

from emfast.mixture.gaussian._covariance import covariance
from emfast.mixture.gaussian._pass import GaussianStats


def fitted_statistics(params, covariance_type, reg_covar):
    """Statistics per unit weight whose M-step gives back ``params``.

    A fitted model (by ``fit``, or loaded) has no running statistics; these
    take their place. Centred on the means: ``nk = weights``, ``s1 = 0`` and
    the scatter ``weights * (covariance - reg_covar)``, so that the M-step,
    which adds ``reg_covar`` back, returns the same covariances (to rounding;
    ``nk`` carries scikit-learn's ``10 eps`` on top). Tied covariances are
    stored as the total scatter about the weighted mean of the means: the
    pooled within-component part plus the between-component part.

    Parameters
    ----------
    params : GaussianParams
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float

    Returns
    -------
    GaussianStats
    """
    weights = np.asarray(params.weights, dtype=np.float64)
    means = np.asarray(params.means, dtype=np.float64)
    covariances = np.asarray(params.covariances, dtype=np.float64)
    nk = weights / weights.sum()
    return GaussianStats(
        centers=means.copy(),
        log_norm=math.nan,  # a batch's; the running value is never read
        weight_sum=1.0,
        nk=nk,
        s1=np.zeros(means.shape),
        **covariance(covariance_type).scatter_statistics(
            nk, means, covariances, reg_covar
        ),
    )


def recentred(stats, centers):
    """The same statistics taken about ``centers`` instead of ``stats.centers``."""
    offset = stats.centers - centers  # d = c_old - c_new
    resp_sum = stats.nk[:, None]
    s1 = stats.s1 + resp_sum * offset
    s2 = stats.s2
    if s2 is not None and s2.ndim == 3:  # sum r (x - c_new)(x - c_new)^T
        cross = offset[:, :, None] * stats.s1[:, None, :]
        s2 = (
            s2
            + cross
            + cross.transpose(0, 2, 1)
            + resp_sum[:, :, None] * offset[:, :, None] * offset[:, None, :]
        )
    elif s2 is not None:  # diagonal
        s2 = s2 + 2 * offset * stats.s1 + resp_sum * offset**2
    return dataclasses.replace(
        stats, centers=np.array(centers, dtype=float), s1=s1, s2=s2
    )


def blend(running, batch, rho):
    """``(1 - rho) running + rho batch`` (per unit weight), about batch centres."""
    running = recentred(running, batch.centers)
    mixed = {
        name: (1 - rho) * getattr(running, name) + rho * getattr(batch, name)
        for name in ("nk", "s1", "s2")
        if getattr(batch, name) is not None
    }
    if batch.scatter is not None:  # tied: total scatter about the blended mean
        shift = (1 - rho) * running.shift + rho * batch.shift
        old, new = running.shift - shift, batch.shift - shift
        mixed["scatter"] = (1 - rho) * (running.scatter + np.outer(old, old)) + rho * (
            batch.scatter + np.outer(new, new)
        )
        mixed["shift"] = shift
    return dataclasses.replace(
        batch,
        log_norm=(1 - rho) * running.log_norm + rho * batch.log_norm,
        **mixed,
    )
