"""The k-means initialisations on chunk sources and Dask arrays (k-means||, Lloyd)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import chisquare
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from emfast import (
    BayesianGaussianMixture,
    GaussianMixture,
    PoissonMixture,
    _chunks,
    num_threads,
)
from emfast.kernels.mixture import kmeans as kernels
from emfast.mixture._engine import kmeans
from emfast.mixture._engine.init import NearestResp
from emfast.rows import training_rows

da = pytest.importorskip("dask.array")


@pytest.fixture
def small_chunks(monkeypatch):
    """Blocks of 3 chunks of 32 rows: many chunks and blocks on small data."""
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 32)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


def _blobs(rng, n_samples=3000, n_features=3, n_components=4, spread=12.0):
    """Unit-variance blobs whose centres are at least 8 apart (separated)."""
    while True:
        centers = spread * rng.normal(size=(n_components, n_features))
        gaps = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
        if gaps[np.triu_indices(n_components, 1)].min() >= 8.0:
            break
    labels = rng.integers(n_components, size=n_samples)
    return centers[labels] + rng.normal(size=(n_samples, n_features))


def _cut(X, sizes, weights=None):
    """A list of chunks of ``X`` cut at cumulated ``sizes`` (with weights)."""
    edges = [0, *np.cumsum(sizes).tolist(), X.shape[0]]
    pieces = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    if weights is None:
        return [X[a:b] for a, b in pieces]
    return [(X[a:b], weights[a:b]) for a, b in pieces]


def _rows(source):
    return training_rows(source, None, GaussianMixture(), reset=True)


def _fit(model, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kwargs)


# ------------------------------------------------------------------- kernel
def _reference_assign(X, weights, centers, chunk_rows):
    """Labels, distances and per-chunk sums in float64 numpy.

    Distances are summed over the features in order, as the kernel sums them,
    so labels (ties included) must agree exactly.
    """
    X64 = X.astype(np.float64)
    dist = np.zeros((X.shape[0], centers.shape[0]))
    for l in range(X.shape[1]):
        dist += (X64[:, None, l] - centers[None, :, l]) ** 2
    labels = np.argmin(dist, axis=1)
    best = dist[np.arange(X.shape[0]), labels]
    w = np.ones(X.shape[0]) if weights is None else weights
    n_chunks = -(-X.shape[0] // chunk_rows)
    counts = np.zeros((n_chunks, centers.shape[0]))
    sums = np.zeros((n_chunks, centers.shape[0], X.shape[1]))
    inertia = np.zeros(n_chunks)
    for i in range(X.shape[0]):
        c = i // chunk_rows
        counts[c, labels[i]] += w[i]
        sums[c, labels[i]] += w[i] * X64[i]
        inertia[c] += w[i] * best[i]
    return labels, best, counts, sums, inertia


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("chunk_rows", [64, 600])  # within one tile; 2 tiles and a part
def test_assign_kernel_matches_numpy(rng, dtype, weighted, chunk_rows):
    X = _blobs(rng, n_samples=700, n_features=5).astype(dtype)
    centers = X[rng.choice(700, 6, replace=False)].astype(np.float64) + 0.5
    weights = rng.uniform(0, 3, size=700) if weighted else None
    weights_arg = weights if weighted else np.empty(0)
    n_chunks = -(-700 // chunk_rows)
    labels, sq_dist = np.empty(700, dtype=np.int64), np.empty(700)
    counts, sums = np.empty((n_chunks, 6)), np.empty((n_chunks, 6, 5))
    inertia = np.empty(n_chunks)
    kernels.assign(
        X,
        weights_arg,
        np.ascontiguousarray(centers.T),
        chunk_rows,
        labels,
        sq_dist,
        counts,
        sums,
        inertia,
    )
    expected = _reference_assign(X, weights, centers, chunk_rows)
    assert_array_equal(labels, expected[0])
    assert_array_equal(sq_dist, expected[1])
    for got, want in zip((counts, sums, inertia), expected[2:]):
        assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_assign_kernel_breaks_ties_as_argmin():
    # every row is exactly as far from centres 1 and 3 (and 0 and 2 are farther)
    centers = np.array([[9.0, 9.0], [1.0, 0.0], [-9.0, 9.0], [-1.0, 0.0]])
    X = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, -2.0], [0.0, 0.5]])
    labels = np.empty(4, dtype=np.int64)
    kernels.assign(
        X,
        np.empty(0),
        np.ascontiguousarray(centers.T),
        2,
        labels,
        np.empty(0),
        np.empty((2, 4)),
        np.empty((2, 0, 0)),
        np.empty(2),
    )
    expected = _reference_assign(X, None, centers, 2)[0]
    assert_array_equal(expected, [1, 1, 1, 1])
    assert_array_equal(labels, expected)


def test_row_uniforms_are_splitmix64_of_the_row_index():
    seed, first_row = 2**62 + 12345, 1000
    rows = np.arange(first_row, first_row + 5000, dtype=np.uint64)
    z = np.uint64(seed) + (rows + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    expected = ((z >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
    whole = np.empty(5000)
    kernels.row_uniforms(seed, first_row, whole)
    assert_array_equal(whole, expected)
    tail = np.empty(1000)  # a block starting further in gets the same numbers
    kernels.row_uniforms(seed, first_row + 4000, tail)
    assert_array_equal(tail, expected[4000:])
    assert 0.0 < whole.min() and whole.max() <= 1.0
    assert abs(whole.mean() - 0.5) < 0.02  # 5000 draws: sd 0.004


def test_mean_variance_from_one_pass_matches_numpy(rng):
    X = _blobs(rng, n_samples=500)
    weights = rng.uniform(0, 2, size=500)
    centers = X[:3] + 1.0
    counts, sums, inertia = kmeans._assign_block(
        X, weights, np.ascontiguousarray(centers.T), 1.0, True
    )
    mean = np.average(X, axis=0, weights=weights)
    expected = np.average((X - mean) ** 2, axis=0, weights=weights).mean()
    assert_allclose(
        kmeans.mean_variance(centers, counts, sums, inertia), expected, rtol=1e-10
    )


def test_nearest_resp_gives_one_hot_labels(rng):
    X = _blobs(rng, n_samples=300).astype(np.float32)
    centers = X[:4].astype(np.float64)
    resp = NearestResp(centers, np.float32)
    assert resp.restrict(100, 200) is resp  # nothing per row to ship
    block = resp.of_rows(X[100:200], 100, 200)
    labels = _reference_assign(X[100:200], None, centers, 32)[0]
    assert block.dtype == np.float32
    assert_array_equal(block, np.eye(4, dtype=np.float32)[labels])


# ------------------------------------------------------- the k-means itself
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_kmeans_finds_the_weighted_means_of_separated_blobs(rng, weighted):
    X = _blobs(rng, spread=20.0)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0]) if weighted else None
    data = training_rows(
        _cut(X, [700, 1500], weights), None, GaussianMixture(), reset=True
    )
    centers = kmeans.kmeans_centers(data, 4, np.random.RandomState(0))
    reference = KMeans(4, n_init=1, random_state=0).fit(X, sample_weight=weights)
    order = np.argmin(
        ((centers[:, None] - reference.cluster_centers_[None]) ** 2).sum(-1), axis=1
    )
    assert sorted(order) == [0, 1, 2, 3]
    # the same partition: the centres are its weighted means
    labels = reference.labels_
    means = [
        np.average(
            X[labels == k],
            axis=0,
            weights=None if weights is None else weights[labels == k],
        )
        for k in order
    ]
    assert_allclose(centers, means, rtol=1e-10, atol=1e-10)


def test_same_random_state_same_centres_for_any_chunking_and_threads(rng, small_chunks):
    X = _blobs(rng, n_samples=1000)
    weights = rng.uniform(0, 2, size=1000)
    results = [
        kmeans.kmeans_centers(
            _rows(_cut(X, sizes, weights)), 5, np.random.RandomState(7)
        )
        for sizes in ([1000], [1, 300, 301])
    ]
    with num_threads(1):
        results.append(
            kmeans.kmeans_centers(
                _rows(_cut(X, [96 * 4, 17], weights)), 5, np.random.RandomState(7)
            )
        )
    for other in results[1:]:
        assert_array_equal(other, results[0])
    different = kmeans.kmeans_centers(
        _rows(_cut(X, [1000], weights)), 5, np.random.RandomState(8)
    )
    assert not np.array_equal(different, results[0])


def test_weight_unit_does_not_change_the_centres(rng):
    X = _blobs(rng, n_samples=800)
    weights = rng.uniform(0, 2, size=800)
    unit = kmeans.kmeans_centers(_rows([(X, weights)]), 3, np.random.RandomState(1))
    scaled = kmeans.kmeans_centers(
        _rows([(X, weights * 2.0**-40)]), 3, np.random.RandomState(1)
    )
    assert_array_equal(scaled, unit)


def test_plusplus_seeds_are_distinct_rows_drawn_by_weight():
    # five distinct rows with weights 1:2:3:4:0, plus copies of row 3; the
    # first seed is drawn in proportion to weight, as k-means++ draws it
    X = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0], [50.0, 50.0]])
    X = np.vstack([X, X[[3, 3]]])
    weights = np.array([1.0, 2.0, 3.0, 2.0, 0.0, 1.0, 1.0])
    data = _rows([(X[:4], weights[:4]), (X[4:], weights[4:])])
    n_draws = 1000
    firsts = np.zeros(4)
    with num_threads(1):  # tiny passes: thread wake-ups would dominate
        seeds = [
            kmeans.plusplus_rows(data, 3, np.random.RandomState(seed))
            for seed in range(n_draws)
        ]
    for rows in seeds:
        assert 4 not in rows  # zero weight: never a seed
        assert len({tuple(X[row]) for row in rows}) == 3  # distinct values
        firsts[min(rows[0], 3)] += 1  # rows 5 and 6 repeat row 3
    assert chisquare(firsts, n_draws * np.array([1, 2, 3, 4]) / 10).pvalue > 1e-3


def test_zero_weight_rows_are_never_candidates(rng, small_chunks):
    X = _blobs(rng, n_samples=600)
    weights = rng.uniform(0.5, 1.5, size=600)
    far = rng.choice(600, 60, replace=False)
    X[far] += 1000.0  # far away, where k-means|| would look first
    weights[far] = 0.0
    for seed in range(3):
        candidates = kmeans.draw_candidates(
            _rows(_cut(X, [250], weights)), 4, np.random.RandomState(seed), "k"
        )
        assert not np.isin(candidates.rows, far).any()
        assert (candidates.weights > 0).all()
        rows = kmeans.plusplus_rows(
            _rows(_cut(X, [250], weights)), 4, np.random.RandomState(seed)
        )
        assert not np.isin(rows, far).any()


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_fewer_distinct_rows_than_components_raise(init_params):
    X = np.repeat([[0.0, 1.0], [2.0, 3.0]], 50, axis=0)
    with pytest.raises(
        ValueError,
        match="at least n_components=3 distinct rows, one per component; found only 2",
    ):
        GaussianMixture(3, init_params=init_params).fit([X[:60], X[60:]])
    # three distinct rows, but one of zero weight
    X3 = np.vstack([X, [[9.0, 9.0]]])
    weights = np.r_[np.ones(100), 0.0]
    with pytest.raises(ValueError, match="distinct rows with a positive sample weight"):
        GaussianMixture(3, init_params=init_params).fit(
            da.from_array(X3, chunks=40), sample_weight=weights
        )


# ------------------------------------------------------------- estimators
def _separated_counts(rng, n_samples=3000):
    rates = np.array([[2.0, 30.0, 1.0], [25.0, 3.0, 6.0], [5.0, 5.0, 40.0]])
    return rng.poisson(rates[rng.integers(3, size=n_samples)]).astype(float)


ESTIMATORS = [
    (GaussianMixture, dict(n_components=4), _blobs),
    (BayesianGaussianMixture, dict(n_components=4, max_iter=300), _blobs),
    (PoissonMixture, dict(n_components=3), _separated_counts),
]


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
@pytest.mark.parametrize("estimator, kwargs, make", ESTIMATORS)
def test_chunked_and_dask_fits_match_the_in_memory_kmeans_fit(
    rng, estimator, kwargs, make, init_params
):
    X = make(rng)
    kwargs = dict(kwargs, init_params=init_params, random_state=0)
    in_memory = _fit(estimator(**kwargs), X)
    chunked = _fit(estimator(**kwargs), _cut(X, [1000, 1700]))
    on_dask = _fit(estimator(**kwargs), da.from_array(X, chunks=700))
    reference = in_memory.score(X)
    for model in (chunked, on_dask):
        assert abs(model.score(X) - reference) <= 0.01 * abs(reference)
    assert_allclose(on_dask.score(X), chunked.score(X), rtol=1e-10)


def test_weighted_chunked_fit_matches_in_memory(rng):
    X = _blobs(rng)
    weights = rng.uniform(0, 3, size=X.shape[0])
    in_memory = _fit(GaussianMixture(4, random_state=1), X, sample_weight=weights)
    chunked = _fit(GaussianMixture(4, random_state=1), _cut(X, [900], weights))
    reference = in_memory.score(X, sample_weight=weights)
    assert abs(chunked.score(X, sample_weight=weights) - reference) <= 0.01 * abs(
        reference
    )


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_dask_equals_chunked_bitwise_on_aligned_blocks(rng, small_chunks, init_params):
    X = _blobs(rng, n_samples=1000)
    weights = rng.uniform(0, 2, size=1000)
    kwargs = dict(n_components=4, init_params=init_params, random_state=3)
    chunked = _fit(GaussianMixture(**kwargs), _cut(X, [10, 500], weights))
    aligned = _fit(
        GaussianMixture(**kwargs),
        da.from_array(X, chunks=(96, 3)),  # each Dask block one fixed block
        sample_weight=weights,
    )
    unaligned = _fit(
        GaussianMixture(**kwargs),
        da.from_array(X, chunks=(250, 3)),
        sample_weight=da.from_array(weights, chunks=300),
    )
    for name in ("weights_", "means_", "covariances_"):
        assert_array_equal(getattr(aligned, name), getattr(chunked, name))
        assert_allclose(getattr(unaligned, name), getattr(chunked, name), rtol=1e-10)
