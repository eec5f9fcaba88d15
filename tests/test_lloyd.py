"""k-means on arrays in memory against scikit-learn's ``KMeans`` and seeding.

:mod:`emfast.mixture._engine.lloyd` must give the labels and seeds that
scikit-learn gives from the same ``random_state`` (the mixtures' initial
parameters depend on them), and leave the generator in the same state.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.cluster._k_means_common import _relocate_empty_clusters_dense
from sklearn.exceptions import ConvergenceWarning

from emfast import _chunks
from emfast.mixture._engine import lloyd


@pytest.fixture
def fallbacks(monkeypatch):
    """Count the runs handed to scikit-learn's ``KMeans``."""
    calls = []
    reference = lloyd._sklearn_kmeans

    def counted(*args):
        calls.append(args[1])
        return reference(*args)

    monkeypatch.setattr(lloyd, "_sklearn_kmeans", counted)
    return calls


def _problem(rng):
    n_samples = int(rng.integers(20, 2500))
    n_features = int(rng.integers(1, 9))
    n_clusters = int(rng.integers(1, 12))
    centers = rng.normal(scale=3.0, size=(n_clusters, n_features))
    X = centers[rng.integers(n_clusters, size=n_samples)]
    X = X + rng.normal(size=X.shape) * rng.uniform(0.1, 5.0) + rng.normal(scale=50)
    return X, n_clusters


def _weights(rng, n_samples, weighted):
    if not weighted:
        return None
    weights = rng.uniform(0.2, 3.0, size=n_samples)
    weights[rng.random(n_samples) < 0.05] = 0.0
    return weights


def _arg(weights):
    return np.empty(0) if weights is None else weights


@pytest.mark.parametrize("weighted", [False, True])
def test_labels_and_seeds_are_scikit_learns(rng, fallbacks, weighted):
    for _ in range(8):
        X, n_clusters = _problem(rng)
        weights = _weights(rng, len(X), weighted)
        seed = int(rng.integers(2**31))
        ours_state = np.random.RandomState(seed)
        theirs_state = np.random.RandomState(seed)
        labels = lloyd.kmeans_labels(X, n_clusters, ours_state, _arg(weights))
        expected = KMeans(n_clusters, n_init=1, random_state=theirs_state)
        assert_array_equal(labels, expected.fit(X, sample_weight=weights).labels_)
        assert ours_state.randint(2**31) == theirs_state.randint(2**31)

        seeds = lloyd.plusplus(
            X, n_clusters, np.random.RandomState(seed), _arg(weights)
        )
        _, expected_seeds = kmeans_plusplus(
            X,
            n_clusters,
            random_state=np.random.RandomState(seed),
            sample_weight=weights,
        )
        assert_array_equal(seeds, expected_seeds)
    assert len(fallbacks) <= 2  # continuous data rarely meet a tie


def test_many_chunks_and_one_thread_give_the_same_labels(rng, monkeypatch):
    X, n_clusters = _problem(rng)
    labels = lloyd.kmeans_labels(X, n_clusters, np.random.RandomState(3), np.empty(0))
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 7)
    chunked = lloyd.kmeans_labels(X, n_clusters, np.random.RandomState(3), np.empty(0))
    assert_array_equal(chunked, labels)


@pytest.mark.parametrize("kind", ["binary", "integer", "float32"])
def test_ties_and_float32_run_scikit_learns_kmeans(rng, fallbacks, kind):
    """Binary and small-integer rows tie exactly; float32 rounding is
    scikit-learn's: those fits are scikit-learn's own."""
    n_samples = 300
    if kind == "binary":
        X = (rng.random((n_samples, 6)) < 0.3).astype(np.float64)
    elif kind == "integer":
        X = rng.integers(0, 3, size=(n_samples, 2)).astype(np.float64)
    else:
        X = rng.normal(size=(n_samples, 3)).astype(np.float32)
    seed = int(rng.integers(2**31))
    labels = lloyd.kmeans_labels(X, 4, np.random.RandomState(seed), np.empty(0))
    expected = KMeans(4, n_init=1, random_state=np.random.RandomState(seed)).fit(X)
    assert_array_equal(labels, expected.labels_)
    assert fallbacks == [4]


def test_duplicate_points_warn_as_kmeans_does():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 10, axis=0)
    with pytest.warns(ConvergenceWarning, match=r"distinct clusters \(2\).*\(3\)"):
        labels = lloyd.kmeans_labels(X, 3, np.random.RandomState(0), np.empty(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = KMeans(3, n_init=1, random_state=0).fit(X).labels_
    assert_array_equal(labels, expected)


def test_empty_centres_move_as_scikit_learn_moves_them(rng):
    X = rng.normal(size=(40, 3))
    weights = rng.uniform(0.5, 2.0, size=40)
    centers_old = rng.normal(size=(5, 3))
    labels = rng.integers(0, 3, size=40).astype(np.int32)  # centres 3, 4 empty
    sq_dist = ((X - centers_old[labels]) ** 2).sum(axis=1)
    sums = np.zeros((5, 3))
    counts = np.zeros(5)
    for k in range(3):
        sums[k] = weights[labels == k] @ X[labels == k]
        counts[k] = weights[labels == k].sum()
    expected_sums, expected_counts = sums.copy(), counts.copy()
    _relocate_empty_clusters_dense(
        X, weights, centers_old, expected_sums, expected_counts, labels
    )
    lloyd._relocate_empty(X, weights, labels, sq_dist, counts, sums)
    assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(sums, expected_sums, rtol=1e-14, atol=1e-14)
    assert (counts[3:] > 0).all()
