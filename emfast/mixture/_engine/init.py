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
from emfast.mixture._engine.weights import kernel_weights, weight_scale


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


def initial_resp(data, n_components, init_params, random_state):
    """The responsibilities scikit-learn's ``_initialize_parameters`` would build.

    Parameters
    ----------
    data : Rows
        The training rows (``data.X`` is needed by the k-means inits).
    n_components : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    random_state : numpy.random.RandomState

    Returns
    -------
    AssignedResp or RandomResp

    Notes
    -----
    With sample weights, k-means and k-means++ weigh the rows as scikit-learn's
    ``KMeans`` and ``kmeans_plusplus`` do, and 'random_from_data' draws rows with
    probability proportional to their weight (without replacement, by the
    exponential-keys method, which streams); zero-weight rows are never drawn.
    """
    n_samples = data.n_samples
    # k-means casts weights to the data dtype: give them near one (exact scaling)
    weights = (
        kernel_weights(data.sample_weight, weight_scale(data))
        if data.weighted
        else None
    )
    if init_params in ("kmeans", "k-means++") and data.X is None:
        raise ValueError(
            f"init_params={init_params!r} needs all rows in memory; with chunked "
            "input use init_params='random' or 'random_from_data', or give "
            "weights_init, means_init and precisions_init."
        )
    if init_params == "kmeans":
        from sklearn.cluster import KMeans

        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(data.X, sample_weight=weights)
            .labels_
        )
        return AssignedResp(
            np.arange(n_samples), labels, n_samples, n_components, data.dtype
        )
    if init_params == "random":
        return RandomResp(random_state, n_samples, n_components, data.dtype)
    if init_params == "random_from_data":
        if data.weighted:
            rows = _weighted_rows(data, n_components, random_state)
        else:
            rows = random_state.choice(n_samples, size=n_components, replace=False)
    elif init_params == "k-means++":
        from sklearn.cluster import kmeans_plusplus

        _, rows = kmeans_plusplus(
            data.X, n_components, random_state=random_state, sample_weight=weights
        )
    else:  # parameter validation rejects anything else first
        raise ValueError(f"Unknown init_params {init_params!r}")
    return AssignedResp(
        rows, np.arange(n_components), n_samples, n_components, data.dtype
    )


def _weighted_rows(data, n_rows, random_state):
    """Draw ``n_rows`` distinct rows with probability proportional to weight.

    Efraimidis-Spirakis: keep the rows with the largest ``log(u) / w``; one
    uniform per row, drawn block by block, so chunked input gives the same rows.
    """
    best_keys = np.empty(0)
    best_rows = np.empty(0, dtype=np.intp)
    start = 0
    scale = weight_scale(data)  # keys of weights near one stay finite
    for w_block in data.weight_blocks():
        u = random_state.uniform(size=w_block.shape[0])
        with np.errstate(divide="ignore"):
            # zero weight: -inf, never drawn
            keys = np.log(u) / kernel_weights(w_block, scale)
        keys = np.concatenate([best_keys, keys])
        rows = np.concatenate([best_rows, start + np.arange(w_block.shape[0])])
        keep = np.argsort(-keys, kind="stable")[:n_rows]
        best_keys, best_rows = keys[keep], rows[keep]
        start += w_block.shape[0]
    if best_rows.shape[0] < n_rows or np.isneginf(best_keys).any():
        raise ValueError(
            f"init_params='random_from_data' needs at least n_components={n_rows} "
            "rows with a positive sample weight."
        )
    return best_rows
