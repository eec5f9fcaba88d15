"""Plain numpy references (float64, textbook formulas, no tricks).

Every emfast kernel is tested against these on fresh random inputs. They hold
(n_samples, n_components) arrays freely: clarity over speed.
"""

import numpy as np
from scipy.special import logsumexp


def expand_precisions(precisions_chol, covariance_type, n_components, n_features):
    """Full (K, D, D) Cholesky factors of the precisions, whatever the type."""
    if covariance_type == "full":
        return np.asarray(precisions_chol, dtype=np.float64)
    if covariance_type == "tied":
        return np.repeat(np.asarray(precisions_chol, float)[None], n_components, 0)
    if covariance_type == "diag":
        return np.array([np.diag(p) for p in np.asarray(precisions_chol, float)])
    return np.array(
        [np.eye(n_features) * p for p in np.asarray(precisions_chol, float)]
    )


def weighted_log_prob(X, weights, means, precisions_chol, covariance_type):
    """``log w_k + log N(x | mu_k, Sigma_k)``, shape (n_samples, n_components)."""
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    n_components = len(weights)
    chol = expand_precisions(precisions_chol, covariance_type, n_components, n_features)
    out = np.empty((n_samples, n_components))
    for k in range(n_components):
        y = (X - means[k]) @ chol[k]
        log_det = np.log(np.abs(np.diag(chol[k]))).sum()
        out[:, k] = (
            np.log(weights[k])
            - 0.5 * n_features * np.log(2 * np.pi)
            + log_det
            - 0.5 * (y**2).sum(axis=1)
        )
    return out


def e_step(X, weights, means, precisions_chol, covariance_type):
    """``(log p(x), resp)`` per sample."""
    wlp = weighted_log_prob(X, weights, means, precisions_chol, covariance_type)
    log_norm = logsumexp(wlp, axis=1)
    return log_norm, np.exp(wlp - log_norm[:, None])


# scikit-learn adds 10 eps to every component's responsibility sum
NK_OFFSET = 10 * np.finfo(np.float64).eps


def m_step(X, resp, reg_covar, covariance_type, sample_weight=None):
    """``(nk, means, covariances)`` from responsibilities, two-pass formulas.

    ``nk = sum r + NK_OFFSET`` as in scikit-learn.
    """
    X = np.asarray(X, dtype=np.float64)
    if sample_weight is not None:
        resp = resp * sample_weight[:, None]
    nk = resp.sum(axis=0) + NK_OFFSET
    means = resp.T @ X / nk[:, None]
    n_features = X.shape[1]
    full = np.array(
        [
            (resp[:, k, None] * (X - means[k])).T @ (X - means[k]) / nk[k]
            for k in range(len(nk))
        ]
    )
    if covariance_type == "full":
        covariances = full + reg_covar * np.eye(n_features)
    elif covariance_type == "tied":
        covariances = (nk[:, None, None] * full).sum(0) / nk.sum()
        covariances = covariances + reg_covar * np.eye(n_features)
    elif covariance_type == "diag":
        covariances = np.array([np.diag(c) for c in full]) + reg_covar
    else:
        covariances = np.array([np.diag(c).mean() for c in full]) + reg_covar
    return nk, means, covariances


def precisions_cholesky(covariances, covariance_type):
    """Upper-triangular ``U`` with ``U U^T = inverse(covariance)``."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / np.sqrt(covariances)
    covs = covariances if covariance_type == "full" else covariances[None]
    chol = np.array([np.linalg.inv(np.linalg.cholesky(c)).T for c in covs])
    return chol if covariance_type == "full" else chol[0]


def em_step(X, params, reg_covar, covariance_type):
    """One EM iteration: ``(new_params, mean log-likelihood under params)``."""
    weights, means, precisions_chol = params
    log_norm, resp = e_step(X, weights, means, precisions_chol, covariance_type)
    nk, new_means, covariances = m_step(X, resp, reg_covar, covariance_type)
    new = (nk / nk.sum(), new_means, precisions_cholesky(covariances, covariance_type))
    return new, log_norm.mean(), covariances


def random_params(rng, n_components, n_features, covariance_type, scale=1.0):
    """Well-conditioned random mixture parameters (weights, means, prec_chol)."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    means = rng.normal(scale=3.0 * scale, size=(n_components, n_features))

    def spd():
        a = rng.normal(size=(n_features, n_features))
        return scale**2 * (a @ a.T / n_features + 0.5 * np.eye(n_features))

    if covariance_type == "full":
        covariances = np.array([spd() for _ in range(n_components)])
    elif covariance_type == "tied":
        covariances = spd()
    elif covariance_type == "diag":
        covariances = scale**2 * rng.uniform(0.3, 2.0, size=(n_components, n_features))
    else:
        covariances = scale**2 * rng.uniform(0.3, 2.0, size=n_components)
    return weights, means, precisions_cholesky(covariances, covariance_type)


def sample_mixture(rng, n_samples, weights, means, precisions_chol, covariance_type):
    """Rows drawn from the mixture (component labels discarded)."""
    n_components, n_features = means.shape
    chol = expand_precisions(precisions_chol, covariance_type, n_components, n_features)
    labels = rng.choice(n_components, size=n_samples, p=weights)
    z = rng.normal(size=(n_samples, n_features))
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        rows = labels == k
        # x = mu + U^{-T} z has covariance (U U^T)^{-1}
        X[rows] = means[k] + np.linalg.solve(chol[k].T, z[rows].T).T
    return X
