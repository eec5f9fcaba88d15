"""k-means on an array in memory, step for step as scikit-learn's ``KMeans`` runs it.

The k-means inits of a mixture (``init_params='kmeans'`` and ``'k-means++'``)
are defined by scikit-learn's ``KMeans(n_clusters, n_init=1,
random_state=random_state).fit(X, sample_weight=w).labels_`` and
``kmeans_plusplus(X, n_clusters, random_state=random_state, sample_weight=w)``.
This module follows the same algorithm and draws the same random numbers in the
same order, so the same ``random_state`` gives the same seeds and labels (to
rounding: a row exactly between two centres may go either way, as in
scikit-learn, whose threads add their sums in varying order):

- **k-means++** (Arthur and Vassilvitskii, 2007, greedy): the first seed drawn by
  ``random_state.choice`` in proportion to weight; then, per seed,
  ``2 + int(log k)`` candidates drawn by ``random_state.uniform`` against the
  cumulative weighted squared distances, the one that lowers the potential most
  kept;
- **Lloyd iterations** until the labels repeat or the squared centre shifts sum
  to at most ``1e-4`` times the mean variance of the features, at most 300; a
  centre left without rows moves to the row farthest from its centre, as
  scikit-learn's ``_relocate_empty_clusters_dense`` moves it; the labels of the
  final centres are computed again when the shifts stopped the loop.

scikit-learn forms its distances as ``|x|^2 - 2 x.c + |c|^2`` on centred data,
in the data dtype, with BLAS; emfast forms ``sum (x - c)^2`` in float64. The
two differ by rounding, which decides only between distances that are equal
to rounding: exact ties, common in discrete data (binary rows are at integer
distances). So every step checks its margins: a row whose two nearest centres
are within ``TIE_MARGIN`` times the largest squared distance of a row from the
mean, two different candidate seeds whose potentials are that close, or centre
shifts that close to the tolerance make the result depend on the rounding; the
fit then runs scikit-learn's ``KMeans`` from the same state of
``random_state`` instead, and gets its labels exactly. float32 data always do:
scikit-learn computes their k-means in float32, whose rounding decides near
ties too often to be checked away (every one of ten fits of 1e3 to 3e5 rows
in 16 overlapping blobs met such a tie).

Each step is one pass of :func:`emfast.kernels.mixture.kmeans.assign` (squared
distances formed directly in float64, per-chunk sums added in chunk order, so
the result does not depend on the thread count) where scikit-learn validates,
centres a copy of the data and runs its own thread pool per call: on the
tutorial's 178 wines a ``KMeans`` fit took about 2.4 ms, most of it overhead.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from emfast import _chunks
from emfast._numba import for_rows
from emfast.kernels.mixture import kmeans as kernels

MAX_ITER = 300
TOL = 1e-4
# relative margin within which the rounding of a distance may decide: the
# rounding error of scikit-learn's float64 distances is a few units of epsilon
# times the squared norms involved
TIE_MARGIN = 1e-9


class _Ambiguous(Exception):
    """A k-means step whose outcome depends on the rounding of distances."""


_NO_LABELS = np.empty(0, dtype=np.int64)


def _assign(
    X, weights, centers, labels=_NO_LABELS, sq_dist=None, sums=True, tie_margin=None
):
    """Nearest centre of every row: ``(weight per centre, weighted sums)``.

    With a ``tie_margin``, raises :class:`_Ambiguous` if a row's second-nearest
    centre is within it.
    """
    n_samples, n_features = X.shape
    n_centers = centers.shape[0]
    n_chunks = _chunks.n_chunks(n_samples)
    counts = np.empty((n_chunks, n_centers))
    sums_out = np.empty((n_chunks, n_centers if sums else 0, n_features))
    inertia = np.empty(n_chunks)
    near_ties = np.zeros(n_chunks if tie_margin is not None else 0, dtype=np.int64)
    for_rows(kernels.assign, n_samples)(
        X,
        weights,
        np.ascontiguousarray(centers.T, dtype=np.float64),
        _chunks.CHUNK_ROWS,
        labels,
        np.empty(0) if sq_dist is None else sq_dist,
        counts,
        sums_out,
        inertia,
        0.0 if tie_margin is None else tie_margin,
        near_ties,
    )
    if near_ties.any():
        raise _Ambiguous
    return counts.sum(axis=0), sums_out.sum(axis=0)


def plusplus(X, n_clusters, random_state, sample_weight):
    """Row indices of the k-means++ seeds (scikit-learn's ``kmeans_plusplus``).

    Parameters
    ----------
    X : ndarray (n_samples, n_features), C-contiguous float32 or float64
    n_clusters : int
    random_state : numpy.random.RandomState
    sample_weight : ndarray (n_samples,) of float64, or empty for unit weights

    Returns
    -------
    ndarray (n_clusters,) of int
    """
    return _guarded(
        _plusplus, _sklearn_plusplus, X, n_clusters, random_state, sample_weight
    )


def kmeans_labels(X, n_clusters, random_state, sample_weight):
    """Labels of ``KMeans(n_clusters, n_init=1, random_state).fit(X, w)``.

    Parameters as :func:`plusplus`. Warns as ``KMeans`` does (a
    ``ConvergenceWarning``) when fewer distinct labels than clusters remain.

    Returns
    -------
    ndarray (n_samples,) of int64
    """
    return _guarded(
        _kmeans, _sklearn_kmeans, X, n_clusters, random_state, sample_weight
    )


def _guarded(fast, reference, X, n_clusters, random_state, sample_weight):
    """``fast(...)``, or ``reference(...)`` from the same generator state if the
    fast run met a step that rounding decides."""
    X = np.ascontiguousarray(X)
    weights = None if sample_weight.shape[0] == 0 else sample_weight
    if X.dtype != np.float64:  # scikit-learn's own float32 rounding decides
        return reference(X, n_clusters, random_state, weights)
    state = random_state.get_state()
    try:
        return fast(X, n_clusters, random_state, sample_weight)
    except _Ambiguous:
        random_state.set_state(state)
        return reference(X, n_clusters, random_state, weights)


def _sklearn_plusplus(X, n_clusters, random_state, weights):
    from sklearn.cluster import kmeans_plusplus

    return kmeans_plusplus(
        X, n_clusters, random_state=random_state, sample_weight=weights
    )[1]


def _sklearn_kmeans(X, n_clusters, random_state, weights):
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state)
    return kmeans.fit(X, sample_weight=weights).labels_


def _spread(X):
    """Mean unweighted variance of the features and largest squared distance of
    a row from the mean (float64)."""
    n_samples = X.shape[0]
    mean = X.sum(axis=0, dtype=np.float64) / n_samples
    sq_dist = np.empty(n_samples)
    _assign(X, np.empty(0), mean[None], sq_dist=sq_dist, sums=False)
    return float(sq_dist.sum()) / n_samples / X.shape[1], float(sq_dist.max())


def _plusplus(X, n_clusters, random_state, sample_weight, margin=None):
    n_samples = X.shape[0]
    if margin is None:
        margin = TIE_MARGIN * _spread(X)[1]
    weights = np.ones(n_samples) if sample_weight.shape[0] == 0 else sample_weight
    n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.full(n_clusters, -1, dtype=int)
    indices[0] = random_state.choice(n_samples, p=weights / weights.sum())
    closest_sq = np.empty(n_samples)
    _assign(X, sample_weight, X[indices[:1]], sq_dist=closest_sq, sums=False)
    current_pot = closest_sq @ weights
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidates = np.searchsorted(np.cumsum(weights * closest_sq), rand_vals)
        np.clip(candidates, None, n_samples - 1, out=candidates)
        trial_sq = np.empty((n_local_trials, n_samples))
        pots = np.empty((_chunks.n_chunks(n_samples), n_local_trials))
        for_rows(kernels.plusplus_trials, n_samples)(
            X,
            sample_weight,
            closest_sq,
            np.ascontiguousarray(X[candidates].T, dtype=np.float64),
            _chunks.CHUNK_ROWS,
            trial_sq,
            pots,
        )
        pots = pots.sum(axis=0)
        best = np.argmin(pots)  # the first of equal potentials
        close = np.abs(pots - pots[best]) <= margin * weights.sum()
        if np.any(close & np.any(X[candidates] != X[candidates[best]], axis=1)):
            raise _Ambiguous  # another seed as good to rounding
        current_pot, closest_sq = pots[best], trial_sq[best]
        indices[c] = candidates[best]
    return indices


def _relocate_empty(X, weights, labels, sq_dist, counts, sums):
    """Move the sums of centres without rows to the rows farthest from theirs."""
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0 or sq_dist.max() == 0:  # no row is apart from its centre
        return
    far = np.argpartition(sq_dist, -empty.size)[: -empty.size - 1 : -1]
    for new, row in zip(empty, far):
        weight = weights[row]
        old = labels[row]
        sums[old] -= X[row] * weight
        sums[new] = X[row] * weight
        counts[new] = weight
        counts[old] -= weight


def _average(sums, counts):
    """Centres from weighted sums; a centre still without rows takes the largest's."""
    centers = np.empty_like(sums)
    largest = np.argmax(counts)
    for k in range(counts.shape[0]):
        if counts[k] > 0:
            centers[k] = sums[k] * (1.0 / counts[k])
        else:
            centers[k] = sums[largest] * (1.0 / counts[largest])
    return centers


def _kmeans(X, n_clusters, random_state, sample_weight):
    n_samples = X.shape[0]
    weights = np.ones(n_samples) if sample_weight.shape[0] == 0 else sample_weight
    variance, largest = _spread(X)
    tol = TOL * variance
    margin = TIE_MARGIN * largest
    seeds = _plusplus(X, n_clusters, random_state, sample_weight, margin)
    centers = X[seeds].astype(np.float64)
    labels = np.empty(n_samples, dtype=np.int64)
    labels_old = np.full(n_samples, -1, dtype=np.int64)
    sq_dist = np.empty(n_samples)
    strict = False
    for _ in range(MAX_ITER):
        counts, sums = _assign(
            X, sample_weight, centers, labels, sq_dist, tie_margin=margin
        )
        _relocate_empty(X, weights, labels, sq_dist, counts, sums)
        new_centers = _average(sums, counts)
        shift = np.sqrt(((new_centers - centers) ** 2).sum(axis=1))
        centers = new_centers
        if np.array_equal(labels, labels_old):
            strict = True
            break
        shift_total = (shift**2).sum()
        if abs(shift_total - tol) <= TIE_MARGIN * (largest + tol):
            raise _Ambiguous  # stopping here or not is rounding's call
        if shift_total <= tol:
            break
        labels_old[:] = labels
    if not strict:  # the labels of the final centres
        _assign(X, sample_weight, centers, labels, sums=False, tie_margin=margin)
    n_distinct = np.unique(labels).size
    if n_distinct < n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({n_distinct}) found smaller than "
            f"n_clusters ({n_clusters}). Possibly due to duplicate points in X.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return labels
