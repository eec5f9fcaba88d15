"""Initial responsibilities, drawn exactly as scikit-learn draws them.

The same ``random_state`` must give the same starting parameters as
``sklearn.mixture.GaussianMixture``, so each method makes the same calls on the
generator in the same order (``KMeans(n_init=1).fit``, ``uniform`` of shape
(n_samples, n_components), ``choice`` without replacement, ``kmeans_plusplus``).
On arrays in memory the k-means inits run :mod:`~emfast.mixture._engine.lloyd`,
scikit-learn's ``KMeans`` and ``kmeans_plusplus`` step for step on emfast's
kernels.

scikit-learn builds an (n_samples, n_components) matrix of responsibilities; we
hand them to the statistics kernel one block of rows at a time instead, so the
initialisation never holds more than a block.

Rows that are not one array (chunk sources, Dask arrays, memory maps) are not
read whole: there the k-means inits run the scalable k-means of
:mod:`emfast.mixture._engine.kmeans` (k-means|| seeding, Lloyd passes over the
blocks), reproducible from ``random_state`` but not scikit-learn's draws.
"""

import numpy as np

from emfast import _chunks
from emfast.kernels.mixture import kmeans as kmeans_kernels
from emfast.mixture._engine import kmeans, lloyd
from emfast.mixture._engine.weights import kernel_weights, weight_scale
from emfast.rows import LargestKeys, RowAligned, RowArray, RowOffset, maps_a_file


class AssignedResp(RowAligned):
    """Responsibilities that are 1 at ``(rows[i], cols[i])`` and 0 elsewhere.

    A block gets its dense (rows, n_components) array; a Dask block gets only
    the pairs of its rows.
    """

    replayable = True

    def __init__(self, rows, cols, n_samples, n_components, dtype):
        order = np.argsort(rows, kind="stable")
        self.rows = np.asarray(rows)[order]
        self.cols = np.asarray(cols)[order]
        self.n_samples = n_samples
        self.n_components = n_components
        self.dtype = dtype

    def block(self, start, stop):
        lo, hi = np.searchsorted(self.rows, [start, stop])
        resp = np.zeros((stop - start, self.n_components), dtype=self.dtype)
        resp[self.rows[lo:hi] - start, self.cols[lo:hi]] = 1
        return resp

    def restrict(self, start, stop):
        lo, hi = np.searchsorted(self.rows, [start, stop])
        return AssignedResp(
            self.rows[lo:hi] - start,
            self.cols[lo:hi],
            stop - start,
            self.n_components,
            self.dtype,
        )


class NearestResp(RowAligned):
    """Responsibilities that are 1 for each row's nearest centre, 0 elsewhere.

    The k-means labels of rows that are not one array: computed block by
    block from the rows (on the workers for Dask), never held for all rows.
    Ties go to the lower centre, as ``numpy.argmin`` breaks them.
    """

    replayable = True

    def __init__(self, centers, dtype):
        self.centers_t = np.ascontiguousarray(np.asarray(centers, np.float64).T)
        self.n_components = self.centers_t.shape[1]
        self.dtype = dtype

    def block(self, start, stop):
        raise TypeError("NearestResp needs the rows of the block (of_rows).")

    def of_rows(self, X_block, start, stop):
        n_rows = X_block.shape[0]
        n_chunks = _chunks.n_chunks(n_rows)
        labels = np.empty(n_rows, dtype=np.int64)
        kmeans_kernels.assign(
            X_block,
            np.empty(0),
            self.centers_t,
            _chunks.CHUNK_ROWS,
            labels,
            np.empty(0),
            np.empty((n_chunks, self.n_components)),
            np.empty((n_chunks, 0, 0)),
            np.empty(n_chunks),
        )
        resp = np.zeros((n_rows, self.n_components), dtype=self.dtype)
        resp[np.arange(n_rows), labels] = 1
        return resp

    def restrict(self, start, stop):
        return self  # depends on the rows only


class DenseResp(RowArray):
    """Responsibilities given as a full (n_samples, n_components) array."""

    replayable = True

    def __init__(self, resp):
        super().__init__(resp)
        self.n_components = resp.shape[1]


class RandomResp(RowAligned):
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

    def block(self, start, stop):
        resp = self.random_state.uniform(size=(stop - start, self.n_components))
        resp = resp.astype(self.dtype, copy=False)
        resp /= resp.sum(axis=1)[:, np.newaxis]
        return resp

    def restrict(self, start, stop):
        raise ValueError(
            "init_params='random' draws one number per row and component in "
            "row order and is not supported on Dask arrays; use "
            "init_params='random_from_data' or give weights_init, means_init "
            "and precisions_init."
        )


class _Uniforms(RowAligned):
    """One uniform number per row, drawn from ``random_state`` in row order."""

    def __init__(self, random_state):
        self.random_state = random_state

    def block(self, start, stop):
        return self.random_state.uniform(size=stop - start)

    def restrict(self, start, stop):
        return RowArray(self.block(start, stop))


def initial_resp(data, n_components, init_params, random_state):
    """The responsibilities scikit-learn's ``_initialize_parameters`` would build.

    Parameters
    ----------
    data : Rows
        The training rows. The k-means inits run scikit-learn's ``KMeans`` and
        ``kmeans_plusplus`` algorithms (:mod:`~emfast.mixture._engine.lloyd`) on
        arrays in memory, and the scalable k-means of
        :mod:`~emfast.mixture._engine.kmeans` on others: chunk sources, Dask
        arrays and memory maps (never read whole).
    n_components : int
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    random_state : numpy.random.RandomState

    Returns
    -------
    AssignedResp, NearestResp or RandomResp

    Notes
    -----
    With sample weights, k-means and k-means++ weigh the rows as scikit-learn's
    ``KMeans`` and ``kmeans_plusplus`` do, and 'random_from_data' draws rows with
    probability proportional to their weight (without replacement, by the
    exponential-keys method, which streams); zero-weight rows are never drawn.
    """
    n_samples = data.n_samples
    in_memory = data.in_memory()
    if in_memory is not None and maps_a_file(in_memory[0]):
        in_memory = None  # read block by block, never loaded whole
    if init_params in ("kmeans", "k-means++") and in_memory is None:
        what = f"init_params={init_params!r}"
        if init_params == "kmeans":
            centers = kmeans.kmeans_centers(data, n_components, random_state, what)
            return NearestResp(centers, data.dtype)
        rows = kmeans.plusplus_rows(data, n_components, random_state, what)
        return AssignedResp(
            rows, np.arange(n_components), n_samples, n_components, data.dtype
        )
    if init_params in ("kmeans", "k-means++"):
        X, weights = in_memory
        if weights is None:
            weights = np.empty(0)
        else:  # k-means weighs rows by their weights near one (exact, see there)
            weights = kernel_weights(weights, weight_scale(data))
    if init_params == "kmeans":
        labels = lloyd.kmeans_labels(X, n_components, random_state, weights)
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
        X = np.ascontiguousarray(X)
        rows = lloyd.plusplus(X, n_components, random_state, weights)
    else:  # parameter validation rejects anything else first
        raise ValueError(f"Unknown init_params {init_params!r}")
    return AssignedResp(
        rows, np.arange(n_components), n_samples, n_components, data.dtype
    )


def _weighted_rows(data, n_rows, random_state):
    """Draw ``n_rows`` distinct rows with probability proportional to weight.

    Efraimidis-Spirakis: keep the rows with the largest ``log(u) / w``; one
    uniform per row, drawn in row order, so every form of the rows gives the
    same rows.
    """
    scale = weight_scale(data)  # keys of weights near one stay finite
    (best,) = data.reduce(
        _largest_keys, _Uniforms(random_state), RowOffset(), scale, n_rows
    )
    if best.rows.shape[0] < n_rows or np.isneginf(best.keys).any():
        raise ValueError(
            f"init_params='random_from_data' needs at least n_components={n_rows} "
            "rows with a positive sample weight."
        )
    return best.rows


def _largest_keys(X_block, w_block, uniforms, first_row, scale, n_rows):
    with np.errstate(divide="ignore"):  # zero weight: -inf, never drawn
        keys = np.log(uniforms) / kernel_weights(w_block, scale)
    rows = first_row + np.arange(w_block.shape[0])
    return (LargestKeys(keys, rows, n_rows),)
