"""Stepwise (online) EM for ``partial_fit``: running sufficient statistics.

Each batch gives statistics per unit weight under the current parameters; the
running statistics move towards them with step ``rho_t = (t + 2) ** -decay``
(Cappé & Moulines 2009; ``0.5 < decay <= 1`` guarantees convergence, smaller
decays forget faster) and the M-step runs on the blend. Statistics are centred
on the means of their own pass, so before blending the running ones are moved
to the batch's centres with exact algebra (no raw ``sum r x x^T`` is formed).
"""

import dataclasses
import math
from numbers import Real

import numpy as np

from emfast.mixture.gaussian._pass import GaussianStats

DEFAULT_DECAY = 0.6


def check_decay(decay):
    """Raise unless ``decay`` is a real number in (0.5, 1]."""
    if isinstance(decay, bool) or not isinstance(decay, Real):
        raise TypeError(f"decay must be a float in (0.5, 1], got {decay!r}")
    if not 0.5 < decay <= 1.0:  # also rejects NaN
        raise ValueError(f"decay must be in (0.5, 1], got {decay!r}")


def step_size(step, decay=DEFAULT_DECAY):
    """Weight of the ``step``-th batch (0-based) in the running statistics."""
    check_decay(decay)
    return (step + 2.0) ** -decay


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
    n_components, n_features = means.shape
    stats = GaussianStats(
        centers=means.copy(),
        log_norm=math.nan,  # a batch's; the running value is never read
        weight_sum=1.0,
        nk=weights / weights.sum(),
        s1=np.zeros((n_components, n_features)),
    )
    if covariance_type == "full":
        within = covariances - reg_covar * np.eye(n_features)
        stats.s2 = stats.nk[:, None, None] * within
    elif covariance_type == "diag":
        stats.s2 = stats.nk[:, None] * (covariances - reg_covar)
    elif covariance_type == "spherical":
        variances = np.broadcast_to(covariances[:, None], (n_components, n_features))
        stats.s2 = stats.nk[:, None] * (variances - reg_covar)
    else:
        shift = stats.nk @ means
        between = (means - shift).T @ (stats.nk[:, None] * (means - shift))
        stats.shift = shift
        stats.scatter = covariances - reg_covar * np.eye(n_features) + between
    return stats


def per_unit_weight(stats):
    """The statistics divided by their total weight (so they sum to one)."""
    scale = 1.0 / stats.weight_sum
    changes = {
        name: getattr(stats, name) * scale
        for name in ("nk", "s1", "s2", "scatter", "deficit")
        if getattr(stats, name) is not None
    }
    return dataclasses.replace(
        stats, log_norm=stats.log_norm * scale, weight_sum=1.0, **changes
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
