"""A plain numpy EM for mixtures of independent Bernoullis (float64, textbook).

The log-density is written term by term, ``x log p + (1 - x) log(1 - p)``
(not as emfast's ``const + x . logit``), over dense (n_samples, n_components)
arrays; the M-step is the weighted average of the rows with the same clipping
and ``nk`` offset as emfast's.
"""

import numpy as np
from scipy.special import logsumexp, xlog1py, xlogy
from sklearn.cluster import KMeans, kmeans_plusplus

NK_OFFSET = 10 * np.finfo(np.float64).eps
MIN_PROBABILITY = 1e-10


def weighted_log_prob(X, weights, probabilities):
    """``log w_k + sum_l x_l log p_kl + (1 - x_l) log(1 - p_kl)``, shape (n, K)."""
    X = np.asarray(X, dtype=np.float64)[:, None, :]
    p = np.asarray(probabilities, dtype=np.float64)[None]
    per_feature = xlogy(X, p) + xlog1py(1.0 - X, -p)
    with np.errstate(divide="ignore"):
        return np.log(weights) + per_feature.sum(axis=2)


def log_likelihood(X, weights, probabilities):
    """``(log p(x) per row, responsibilities)``."""
    wlp = weighted_log_prob(X, weights, probabilities)
    log_norm = logsumexp(wlp, axis=1)
    return log_norm, np.exp(wlp - log_norm[:, None])


def m_step(X, resp, sample_weight=None):
    """Weights and probabilities from dense responsibilities."""
    if sample_weight is not None:
        resp = resp * np.asarray(sample_weight, dtype=np.float64)[:, None]
    nk = resp.sum(axis=0) + NK_OFFSET
    probabilities = resp.T @ np.asarray(X, dtype=np.float64) / nk[:, None]
    probabilities = np.clip(probabilities, MIN_PROBABILITY, 1 - MIN_PROBABILITY)
    return nk / nk.sum(), probabilities


def em_step(X, weights, probabilities, sample_weight=None):
    """One EM iteration: ``((weights, probabilities), mean log-likelihood)``."""
    log_norm, resp = log_likelihood(X, weights, probabilities)
    bound = np.average(log_norm, weights=sample_weight)
    return m_step(X, resp, sample_weight), bound


def initial_resp(X, n_components, init_params, seed):
    """Dense initial responsibilities drawn the way scikit-learn draws them."""
    random_state = np.random.RandomState(seed)
    n_samples = X.shape[0]
    resp = np.zeros((n_samples, n_components))
    if init_params == "kmeans":
        labels = KMeans(n_components, n_init=1, random_state=random_state).fit(X)
        resp[np.arange(n_samples), labels.labels_] = 1
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    else:
        if init_params == "random_from_data":
            rows = random_state.choice(n_samples, size=n_components, replace=False)
        else:
            rows = kmeans_plusplus(X, n_components, random_state=random_state)[1]
        resp[rows, np.arange(n_components)] = 1
    return resp


def fit(X, weights, probabilities, n_iter, sample_weight=None):
    """``n_iter`` EM iterations: ``(weights, probabilities, bounds)``."""
    bounds = []
    for _ in range(n_iter):
        (weights, probabilities), bound = em_step(
            X, weights, probabilities, sample_weight
        )
        bounds.append(bound)
    return weights, probabilities, bounds


def simulate(rng, n_samples=181, n_features=6, n_components=3, fractional=False):
    """Rows from a random Bernoulli mixture, and that mixture's parameters.

    ``fractional``: a third of the entries are replaced by numbers in [0, 1].
    """
    probabilities = rng.beta(0.5, 0.5, size=(n_components, n_features))
    weights = rng.dirichlet(np.full(n_components, 2.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = (rng.uniform(size=(n_samples, n_features)) < probabilities[labels]) * 1.0
    if fractional:
        soft = rng.uniform(size=X.shape) < 1 / 3
        X[soft] = rng.uniform(size=soft.sum())
    return X, weights, probabilities


def other_params(rng, n_components, n_features):
    """Parameters unrelated to the data: responsibilities are far from one-hot."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    return weights, rng.uniform(0.05, 0.95, size=(n_components, n_features))
