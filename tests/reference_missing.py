"""Exact incomplete-data EM for Gaussian mixtures in plain numpy (float64).

The textbook formulas of Ghahramani and Jordan (1994), row by row and component
by component, from the covariances (the kernels work from the precisions): for
a row with observed coordinates ``o`` and missing ``m`` under component k,

- ``log p(x_o | k) = log N(x_o; mu_o, S_oo)``,
- ``E[x_m | x_o, k] = mu_m + S_mo S_oo^{-1} (x_o - mu_o)``,
- ``Cov[x_m | x_o, k] = S_mm - S_mo S_oo^{-1} S_om``,

and the M-step of complete-data EM with ``x x^T`` replaced by its conditional
expectation. Slow and obvious on purpose: small inputs only.
"""

import numpy as np
from scipy.special import logsumexp

# scikit-learn adds 10 eps to every component's responsibility sum
NK_OFFSET = 10 * np.finfo(np.float64).eps


def full_covariances(covariances, covariance_type, n_components, n_features):
    """The (K, D, D) covariance matrices, whatever the covariance type."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.repeat(covariances[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in covariances])
    return np.array([c * np.eye(n_features) for c in covariances])


def conditional(x, mean, cov):
    """``(log N(x_o), E[x | x_o], Cov[x | x_o])`` for one row and one component.

    The expectation holds ``x_o`` on observed coordinates; the covariance is
    zero outside the missing block.
    """
    o = ~np.isnan(x)
    m = ~o
    cov_oo = cov[np.ix_(o, o)]
    diff = x[o] - mean[o]
    _, log_det = np.linalg.slogdet(cov_oo)
    maha = diff @ np.linalg.solve(cov_oo, diff)
    log_density = -0.5 * (o.sum() * np.log(2 * np.pi) + log_det + maha)
    expected = x.copy()
    expected[m] = mean[m] + cov[np.ix_(m, o)] @ np.linalg.solve(cov_oo, diff)
    cond_cov = np.zeros_like(cov)
    cond_cov[np.ix_(m, m)] = cov[np.ix_(m, m)] - cov[np.ix_(m, o)] @ np.linalg.solve(
        cov_oo, cov[np.ix_(o, m)]
    )
    return log_density, expected, cond_cov


def e_step(X, weights, means, covariances, covariance_type):
    """Per row: ``log p(x_o)``, posteriors and the conditional moments.

    Returns
    -------
    log_norm : (n_samples,)
    resp : (n_samples, n_components)
    expected : (n_samples, n_components, n_features), ``E[x | x_o, k]``
    cond_cov : (n_samples, n_components, n_features, n_features)
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    n_components = len(weights)
    covs = full_covariances(covariances, covariance_type, n_components, n_features)
    log_prob = np.empty((n_samples, n_components))
    expected = np.empty((n_samples, n_components, n_features))
    cond_cov = np.empty((n_samples, n_components, n_features, n_features))
    for i, x in enumerate(X):
        for k in range(n_components):
            log_density, expected[i, k], cond_cov[i, k] = conditional(
                x, means[k], covs[k]
            )
            log_prob[i, k] = np.log(weights[k]) + log_density
    log_norm = logsumexp(log_prob, axis=1)
    return log_norm, np.exp(log_prob - log_norm[:, None]), expected, cond_cov


def centred_statistics(
    X, weights, means, covariances, covariance_type, centers, sample_weight=None
):
    """``(sum w log p, nk, s1, s2)`` about ``centers``, s2 as full (K, D, D)."""
    log_norm, resp, expected, cond_cov = e_step(
        X, weights, means, covariances, covariance_type
    )
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    r = resp * w[:, None]
    diff = expected - centers  # (n, K, D)
    nk = r.sum(axis=0)
    s1 = np.einsum("nk,nkd->kd", r, diff)
    s2 = np.einsum("nk,nkd,nke->kde", r, diff, diff) + np.einsum(
        "nk,nkde->kde", r, cond_cov
    )
    return float(w @ log_norm), nk, s1, s2


def m_step(X, resp, expected, cond_cov, reg_covar, covariance_type, sample_weight=None):
    """``(nk, means, covariances)`` from the expected complete-data statistics."""
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    r = resp * w[:, None]
    nk = r.sum(axis=0) + NK_OFFSET
    means = np.einsum("nk,nkd->kd", r, expected) / nk[:, None]
    n_components, n_features = means.shape
    full = np.empty((n_components, n_features, n_features))
    for k in range(n_components):
        diff = expected[:, k] - means[k]
        scatter = (r[:, k, None] * diff).T @ diff
        scatter += np.einsum("n,nde->de", r[:, k], cond_cov[:, k])
        full[k] = scatter / nk[k]
    eye = np.eye(n_features)
    if covariance_type == "full":
        covariances = full + reg_covar * eye
    elif covariance_type == "tied":
        covariances = (nk[:, None, None] * full).sum(0) / nk.sum() + reg_covar * eye
    elif covariance_type == "diag":
        covariances = np.array([np.diag(c) for c in full]) + reg_covar
    else:
        covariances = np.array([np.diag(c).mean() for c in full]) + reg_covar
    return nk, means, covariances


def em_step(X, params, reg_covar, covariance_type, sample_weight=None):
    """One EM iteration from ``(weights, means, covariances)``.

    Returns ``(new_params, mean log-likelihood of the observed values)``.
    """
    weights, means, covariances = params
    log_norm, resp, expected, cond_cov = e_step(
        X, weights, means, covariances, covariance_type
    )
    nk, new_means, new_covariances = m_step(
        X, resp, expected, cond_cov, reg_covar, covariance_type, sample_weight
    )
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    return (nk / nk.sum(), new_means, new_covariances), (w @ log_norm) / w.sum()


def impute(X, weights, means, covariances, covariance_type):
    """``X`` with each NaN replaced by ``sum_k p(k | x_o) E[x_m | x_o, k]``."""
    _, resp, expected, _ = e_step(X, weights, means, covariances, covariance_type)
    return np.einsum("nk,nkd->nd", resp, expected)
