"""A plain numpy EM for mixtures of independent categoricals (latent classes).

Dense (n_samples, n_components) responsibilities and one-hot matrices, float64
throughout: the reference CategoricalMixture's kernels and M-step are tested
against. The M-step's smoothing is the estimator's documented rule,
``p = (m + smoothing) / (sum(m) + smoothing * n_levels)`` with ``m = counts /
(nk + 10 eps)``.
"""

import numpy as np
from scipy.special import logsumexp

NK_OFFSET = 10 * np.finfo(np.float64).eps


def simulate(rng, n_samples, weights, probabilities):
    """Rows of codes drawn from a latent class model, and their classes."""
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    X = np.empty((n_samples, len(probabilities)), dtype=np.int64)
    for j, table in enumerate(probabilities):
        cumulative = np.cumsum(table, axis=1)[labels]
        draws = rng.uniform(size=(n_samples, 1))
        X[:, j] = np.minimum((draws > cumulative).sum(axis=1), table.shape[1] - 1)
    return X, labels


def random_params(rng, n_components, n_levels, concentration=1.0):
    """Weights and per-column probabilities drawn from Dirichlet distributions."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    probabilities = [
        rng.dirichlet(np.full(levels, concentration), size=n_components)
        for levels in n_levels
    ]
    return weights, probabilities


def weighted_log_prob(X, weights, probabilities):
    """``log w_k + sum_j log p_jk(x_j)``, shape (n_samples, n_components)."""
    codes = np.asarray(X).astype(np.int64)
    with np.errstate(divide="ignore"):
        total = np.tile(np.log(weights), (codes.shape[0], 1))
        for j, table in enumerate(probabilities):
            total = total + np.log(table[:, codes[:, j]]).T
    return total


def m_step(X, resp, n_levels, smoothing, sample_weight=None):
    """Weights and smoothed probabilities from dense responsibilities."""
    codes = np.asarray(X).astype(np.int64)
    if sample_weight is not None:
        resp = resp * sample_weight[:, np.newaxis]
    nk = resp.sum(axis=0) + NK_OFFSET
    probabilities = []
    for j, levels in enumerate(n_levels):
        one_hot = np.eye(levels)[codes[:, j]]
        ratios = (resp.T @ one_hot) / nk[:, np.newaxis]
        denominator = ratios.sum(axis=1, keepdims=True) + smoothing * levels
        probabilities.append((ratios + smoothing) / denominator)
    return nk / nk.sum(), probabilities


def em_step(X, weights, probabilities, smoothing, sample_weight=None):
    """One EM iteration: ``((weights, probabilities), mean log-likelihood)``."""
    log_prob = weighted_log_prob(X, weights, probabilities)
    log_norm = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - log_norm[:, np.newaxis])
    n_levels = [table.shape[1] for table in probabilities]
    new = m_step(X, resp, n_levels, smoothing, sample_weight)
    return new, np.average(log_norm, weights=sample_weight)


def initial_resp(n_samples, n_components, init_params, seed):
    """Dense initial responsibilities drawn the way scikit-learn draws them."""
    random_state = np.random.RandomState(seed)
    if init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        return resp / resp.sum(axis=1, keepdims=True)
    rows = random_state.choice(n_samples, size=n_components, replace=False)
    resp = np.zeros((n_samples, n_components))
    resp[rows, np.arange(n_components)] = 1
    return resp
