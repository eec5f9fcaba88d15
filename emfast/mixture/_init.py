"""Initial responsibilities, drawn exactly as scikit-learn draws them.

The same ``random_state`` must give the same starting parameters as
``sklearn.mixture.GaussianMixture``, so each method makes the same calls on the
generator in the same order (``KMeans(n_init=1).fit``, ``uniform`` of shape
(n_samples, n_components), ``choice`` without replacement, ``kmeans_plusplus``).

scikit-learn builds an (n_samples, n_components) matrix of responsibilities; we
hand them to the statistics kernel one block of rows at a time instead, so the
initialisation never holds more than a block.
"""

import numpy as np

from emfast import _chunks


class AssignedResp:
    """Responsibilities that are 1 at ``(rows[i], cols[i])`` and 0 elsewhere."""

    replayable = True

    def __init__(self, rows, cols, n_samples, n_components, dtype):
        order = np.argsort(rows, kind="stable")
        self.rows = np.asarray(rows)[order]
        self.cols = np.asarray(cols)[order]
        self.n_samples = n_samples
        self.n_components = n_components
        self.dtype = dtype

    def blocks(self):
        for start, stop in _chunks.iter_blocks(self.n_samples):
            lo, hi = np.searchsorted(self.rows, [start, stop])
            resp = np.zeros((stop - start, self.n_components), dtype=self.dtype)
            resp[self.rows[lo:hi] - start, self.cols[lo:hi]] = 1
            yield resp


class DenseResp:
    """Responsibilities given as a full (n_samples, n_components) array."""

    replayable = True

    def __init__(self, resp):
        self.resp = resp
        self.n_components = resp.shape[1]

    def blocks(self):
        for start, stop in _chunks.iter_blocks(self.resp.shape[0]):
            yield self.resp[start:stop]


class RandomResp:
    """Uniform random responsibilities normalised per row (``init_params='random'``).

    Drawn block by block from ``random_state``: consecutive ``uniform`` calls give
    the same numbers as scikit-learn's single call, and normalising a row does not
    depend on the block it is in. One use only (the generator moves on).
    """

    replayable = False

    def __init__(self, random_state, n_samples, n_components, dtype):
        self.random_state = random_state
        self.n_samples = n_samples
        self.n_components = n_components
        self.dtype = dtype

    def blocks(self):
        for start, stop in _chunks.iter_blocks(self.n_samples):
            resp = self.random_state.uniform(size=(stop - start, self.n_components))
            resp = resp.astype(self.dtype, copy=False)
            resp /= resp.sum(axis=1)[:, np.newaxis]
            yield resp


def initial_resp(X, n_components, init_params, random_state):
    """The responsibilities scikit-learn's ``_initialize_parameters`` would build.

    Parameters
    ----------
    X : ndarray (n_samples, n_features)
    n_components : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    random_state : numpy.random.RandomState

    Returns
    -------
    AssignedResp or RandomResp
    """
    n_samples = X.shape[0]
    if init_params == "kmeans":
        from sklearn.cluster import KMeans

        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(X)
            .labels_
        )
        return AssignedResp(
            np.arange(n_samples), labels, n_samples, n_components, X.dtype
        )
    if init_params == "random":
        return RandomResp(random_state, n_samples, n_components, X.dtype)
    if init_params == "random_from_data":
        rows = random_state.choice(n_samples, size=n_components, replace=False)
    elif init_params == "k-means++":
        from sklearn.cluster import kmeans_plusplus

        _, rows = kmeans_plusplus(X, n_components, random_state=random_state)
    else:  # parameter validation rejects anything else first
        raise ValueError(f"Unknown init_params {init_params!r}")
    return AssignedResp(rows, np.arange(n_components), n_samples, n_components, X.dtype)
