"""Test problems with missing values, shared by the missing-value test modules."""

import numpy as np

from emfast.mixture.gaussian._family import GaussianParams

from . import reference


def random_params(rng, n_components, n_features, covariance_type, dtype):
    """Well-conditioned parameters; means exact in ``dtype`` (as a pass rounds them)."""
    K, D = n_components, n_features

    def spd():
        a = rng.normal(size=(D, D))
        return a @ a.T / D + 0.5 * np.eye(D)

    covariances = {
        "full": lambda: np.array([spd() for _ in range(K)]),
        "tied": spd,
        "diag": lambda: rng.uniform(0.3, 2.0, size=(K, D)),
        "spherical": lambda: rng.uniform(0.3, 2.0, size=K),
    }[covariance_type]()
    means = rng.normal(scale=3.0, size=(K, D)).astype(dtype).astype(np.float64)
    return GaussianParams(
        rng.dirichlet(np.full(K, 2.0)),
        means,
        covariances,
        reference.precisions_cholesky(covariances, covariance_type),
    )


def hide(rng, X, fraction):
    """A copy of ``X`` with entries set to NaN at random, one value kept per row."""
    X = X.copy()
    mask = rng.random(X.shape) < fraction
    keep = rng.integers(X.shape[1], size=X.shape[0])
    mask[np.arange(X.shape[0]), keep] &= ~mask.all(axis=1)
    X[mask] = np.nan
    return X


def sample(rng, params, n_samples, covariance_type):
    """Rows drawn from ``params`` (a ``GaussianParams``)."""
    return reference.sample_mixture(
        rng,
        n_samples,
        params.weights,
        params.means,
        params.precisions_cholesky,
        covariance_type,
    )


def problem(rng, covariance_type, dtype, n_samples=150, n_components=3, n_features=4):
    """Rows with NaN, a single observed value, no NaN and far from every mean."""
    params = random_params(rng, n_components, n_features, covariance_type, dtype)
    X = hide(rng, sample(rng, params, n_samples, covariance_type), 0.3)
    X[0] = np.nan
    X[0, n_features - 1] = 1.5  # one observed coordinate
    X[1] = params.means[0] + 0.5  # complete
    X[2, :] = params.means[-1] + 40.0  # far: posteriors 0/1, log p ~ -1e3
    X[2, 0] = np.nan
    return X.astype(dtype), params


def sample_weights(rng, n_samples, weighted=True):
    """Positive weights with about 10 % zeros (None if not ``weighted``)."""
    if not weighted:
        return None
    weights = rng.uniform(0.2, 3.0, size=n_samples)
    weights[rng.random(n_samples) < 0.1] = 0.0
    return weights


def precisions(covariances, covariance_type):
    """The inverse of each covariance (``precisions_init`` of the reference)."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / covariances
    return np.linalg.inv(covariances)


def blobs(rng, n_per_blob=3000, n_features=4):
    """Three well-separated Gaussian blobs: ``(X, means, covariances)``."""
    means = np.array([[0.0, 0, 0, 0], [8, 0, 8, 0], [0, 8, 0, -8]])[:, :n_features]
    covariances = []
    for _ in means:
        a = rng.normal(scale=0.5, size=(n_features, n_features))
        covariances.append(a @ a.T + 0.5 * np.eye(n_features))
    X = np.vstack(
        [rng.multivariate_normal(m, c, n_per_blob) for m, c in zip(means, covariances)]
    )
    return X, means, np.array(covariances)


def matched(fitted, truth):
    """Indices of the fitted rows nearest to each true mean (a permutation)."""
    order = [int(np.argmin(((fitted - m) ** 2).sum(axis=1))) for m in truth]
    assert len(set(order)) == len(truth)
    return np.asarray(order)
