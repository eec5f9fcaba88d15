"""sample_weight, memory-mapped and chunked input, and partial_fit (stepwise EM)."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from emfast import BayesianGaussianMixture, GaussianMixture, _chunks
from emfast.rows import maps_a_file

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_"]


def _blobs(rng, n_samples=600, n_features=3, n_components=3):
    centers = 8.0 * np.eye(n_components, n_features) + rng.normal(
        size=(n_components, n_features)
    )
    labels = rng.integers(n_components, size=n_samples)
    return centers[labels] + rng.normal(size=(n_samples, n_features))


def _start(X, n_components, covariance_type, rng):
    """Explicit initial parameters, so two fits share their start exactly."""
    n_features = X.shape[1]
    precisions = {
        "full": np.repeat(np.eye(n_features)[None], n_components, axis=0),
        "tied": np.eye(n_features),
        "diag": np.ones((n_components, n_features)),
        "spherical": np.ones(n_components),
    }[covariance_type]
    return dict(
        n_components=n_components,
        covariance_type=covariance_type,
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=X[rng.choice(X.shape[0], n_components, replace=False)],
        precisions_init=precisions,
        tol=1e-10,
        max_iter=25,
    )


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 32)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


# ---------------------------------------------------------------- sample_weight
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(rng, covariance_type):
    X = _blobs(rng)
    counts = rng.integers(0, 4, size=X.shape[0])
    start = _start(X, 3, covariance_type, rng)
    weighted = _quiet_fit(GaussianMixture(**start), X, sample_weight=counts)
    repeated = _quiet_fit(GaussianMixture(**start), np.repeat(X, counts, axis=0))
    assert weighted.n_iter_ == repeated.n_iter_
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)
    for name in FITTED:
        assert_allclose(
            getattr(weighted, name),
            getattr(repeated, name),
            rtol=1e-9,
            atol=1e-12,
            err_msg=name,
        )
    assert_allclose(
        weighted.score(X, sample_weight=counts),
        repeated.score(np.repeat(X, counts, axis=0)),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data"]
)
def test_zero_weight_never_influences_the_fit(rng, init_params):
    X = _blobs(rng)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    weights[::3] = 0.0
    far = X.copy()
    far[::3] += 1e3  # rows with zero weight are moved far away: no effect allowed
    kwargs = dict(n_components=3, init_params=init_params, random_state=0)
    fit_a = _quiet_fit(GaussianMixture(**kwargs), X, sample_weight=weights)
    fit_b = _quiet_fit(GaussianMixture(**kwargs), far, sample_weight=weights)
    if init_params in ("random", "random_from_data"):  # draws ignore the values
        for name in FITTED:
            assert_allclose(
                getattr(fit_a, name),
                getattr(fit_b, name),
                rtol=1e-9,
                atol=1e-12,
                err_msg=name,
            )
    assert np.all(np.abs(fit_b.means_) < 50)  # no component went to the far rows


def test_zero_weight_equals_dropping_rows_with_given_start(rng):
    X = _blobs(rng)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    weights[::4] = 0.0
    start = _start(X, 3, "full", rng)
    kept = _quiet_fit(
        GaussianMixture(**start), X[weights > 0], sample_weight=weights[weights > 0]
    )
    zeroed = _quiet_fit(GaussianMixture(**start), X, sample_weight=weights)
    for name in FITTED:
        assert_allclose(
            getattr(kept, name), getattr(zeroed, name), rtol=1e-10, err_msg=name
        )


@pytest.mark.parametrize(
    "weights, message",
    [
        ([1.0, -1.0] * 10, "Negative values"),
        ([1.0, np.nan] * 10, "NaN"),
        ([1.0] * 7, "sample_weight.shape"),
        ([0.0] * 20, "non-zero"),
    ],
)
def test_bad_sample_weight(weights, message):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2).fit(X, sample_weight=np.asarray(weights))


# ---------------------------------------------------- memory-mapped and chunked
def test_memmap_fit_equals_in_memory_fit(rng, tmp_path):
    X = _blobs(rng, n_samples=3000)
    mapped = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape
    )
    mapped[:] = X
    mapped.flush()
    readonly = np.load(tmp_path / "X.npy", mmap_mode="r")
    kwargs = dict(n_components=3, init_params="random_from_data", random_state=0)
    a = GaussianMixture(**kwargs).fit(X)
    b = GaussianMixture(**kwargs).fit(readonly)
    for name in FITTED:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert_array_equal(a.predict_proba(X), b.predict_proba(readonly))
    # validation passes the map on as a plain ndarray view: still a map
    assert maps_a_file(np.asarray(readonly)) and not maps_a_file(X)
    # k-means on a memory map is the scalable k-means of chunked input
    # (scikit-learn's KMeans would copy the map whole): the same fit as the
    # rows given in chunks
    chunks = [X[i : i + 700] for i in range(0, X.shape[0], 700)]
    c = GaussianMixture(3, random_state=0).fit(readonly)
    d = GaussianMixture(3, random_state=0).fit(chunks)
    for name in FITTED:
        assert_array_equal(getattr(c, name), getattr(d, name), err_msg=name)


def _irregular_chunks(X, rng, weights=None):
    edges = np.sort(rng.choice(np.arange(1, X.shape[0]), size=17, replace=False))
    edges = [0, *edges, X.shape[0]]
    if weights is None:
        return [X[a:b] for a, b in zip(edges[:-1], edges[1:])]
    return [(X[a:b], weights[a:b]) for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_chunked_fit_equals_in_memory_fit_bitwise(
    rng, small_chunks, covariance_type, init_params
):
    X = _blobs(rng, n_samples=700)
    chunks = _irregular_chunks(X, rng)
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=3,
        max_iter=10,
    )
    in_memory = _quiet_fit(GaussianMixture(**kwargs), X)
    from_list = _quiet_fit(GaussianMixture(**kwargs), chunks)
    from_callable = _quiet_fit(GaussianMixture(**kwargs), lambda: iter(chunks))
    for fitted in (from_list, from_callable):
        for name in FITTED:
            assert_array_equal(
                getattr(fitted, name), getattr(in_memory, name), err_msg=name
            )
        assert fitted.lower_bounds_ == in_memory.lower_bounds_
        assert fitted.n_features_in_ == X.shape[1]
    labels = GaussianMixture(**kwargs).fit_predict(lambda: iter(chunks))
    assert_array_equal(labels, GaussianMixture(**kwargs).fit_predict(X))


def test_weighted_chunks_equal_weighted_fit(rng, small_chunks):
    X = _blobs(rng, n_samples=500)
    weights = rng.uniform(0, 3, size=X.shape[0])
    kwargs = dict(
        n_components=3, init_params="random_from_data", random_state=1, max_iter=10
    )
    in_memory = _quiet_fit(GaussianMixture(**kwargs), X, sample_weight=weights)
    chunked = _quiet_fit(GaussianMixture(**kwargs), _irregular_chunks(X, rng, weights))
    for name in FITTED:
        assert_array_equal(getattr(chunked, name), getattr(in_memory, name))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_chunked_fit_equals_in_memory_fit_bitwise(
    rng, small_chunks, covariance_type
):
    X = _blobs(rng, n_samples=500)
    weights = rng.uniform(0, 2, size=X.shape[0])
    kwargs = dict(
        n_components=4,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=int(rng.integers(1000)),
        max_iter=8,
    )
    in_memory = _quiet_fit(BayesianGaussianMixture(**kwargs), X, sample_weight=weights)
    chunks = _irregular_chunks(X, rng, weights)
    chunked = _quiet_fit(BayesianGaussianMixture(**kwargs), lambda: iter(chunks))
    for name in [
        *FITTED,
        "weight_concentration_",
        "mean_precision_",
        "degrees_of_freedom_",
        "mean_prior_",
        "covariance_prior_",
    ]:
        assert_array_equal(getattr(chunked, name), getattr(in_memory, name), name)
    assert chunked.lower_bounds_ == in_memory.lower_bounds_
    assert_array_equal(
        BayesianGaussianMixture(**kwargs).fit_predict(chunks),
        BayesianGaussianMixture(**kwargs).fit_predict(X, sample_weight=weights),
    )


def test_chunked_float32_stays_float32(rng):
    X = _blobs(rng).astype(np.float32)
    gm = GaussianMixture(3, init_params="random", random_state=0)
    gm.fit(lambda: (X[i : i + 100] for i in range(0, X.shape[0], 100)))
    assert gm.means_.dtype == np.float32


def test_chunked_memory_does_not_grow_with_rows(rng):
    """Rows made on the fly: peak memory is one block, whatever the total."""

    def source(n_blocks):
        def chunks():
            generator = np.random.default_rng(0)
            for _ in range(n_blocks):
                yield generator.normal(size=(10_000, 4))

        return chunks

    peaks = []
    gm = GaussianMixture(8, init_params="random", random_state=0, max_iter=2)
    _quiet_fit(gm, source(2))  # compile outside the measurement
    for n_blocks in (10, 40):
        tracemalloc.start()
        try:
            _quiet_fit(gm, source(n_blocks))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    four_times_the_rows = 30 * 10_000 * 4 * 8
    assert peaks[1] - peaks[0] < four_times_the_rows / 20, peaks


@pytest.mark.parametrize(
    "source, message",
    [
        (lambda X: iter([X[:10], X[10:]]), "can be read only once"),
        (lambda X: [X[:10], np.hstack([X[10:], X[10:, :1]])], "features"),
        (lambda X: [X[:10], np.where(X[10:] > 1, np.nan, X[10:])], "NaN"),
        (
            lambda X: [(X[:10], np.ones(10)), (X[10:], -np.ones(len(X) - 10))],
            "Negative",
        ),
        (lambda X: [X[:10], (X[10:], np.ones(len(X) - 10))], "every chunk"),
    ],
)
def test_bad_chunks(rng, source, message):
    X = _blobs(rng, n_samples=40)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, init_params="random").fit(source(X))


def test_chunk_source_must_give_the_same_rows_every_pass(rng):
    X = _blobs(rng, n_samples=200)
    calls = []

    def shrinking():
        calls.append(1)
        return iter([X[: 200 - 10 * len(calls)]])

    with pytest.raises(ValueError, match="same rows on every pass"):
        GaussianMixture(2, init_params="random").fit(shrinking)


def test_kmeans_init_runs_on_chunks(rng):
    X = _blobs(rng, n_samples=50)
    chunked = GaussianMixture(2, random_state=0).fit([X[:25], X[25:]])
    again = GaussianMixture(2, random_state=0).fit([X[:10], X[10:]])
    assert_array_equal(chunked.means_, again.means_)


def test_failed_chunked_fit_keeps_the_model(rng):
    X = _blobs(rng, n_samples=100)
    gm = GaussianMixture(2, random_state=0).fit(X)
    means = gm.means_.copy()
    with pytest.raises(ValueError):
        gm.fit([X[:50], X[50:, :2]])
    assert_array_equal(gm.means_, means)


# ----------------------------------------------------------------- partial_fit
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_stream_reaches_full_batch_likelihood(rng, covariance_type):
    X = _blobs(rng, n_samples=30_000, n_features=3, n_components=4)
    # one start mean in each blob for both: the comparison is of the optimum
    # each reaches, not of which local optimum a random start falls into
    near = [np.argmin(((X - c) ** 2).sum(axis=1)) for c in 8.0 * np.eye(4, 3)]
    start = dict(covariance_type=covariance_type, means_init=X[near], random_state=0)
    full = GaussianMixture(4, **start).fit(X)
    online = GaussianMixture(4, **start)
    order = rng.permutation(X.shape[0])
    for start in range(0, X.shape[0], 500):
        online.partial_fit(X[order[start : start + 500]])
    gap = (full.score(X) - online.score(X)) / abs(full.score(X))
    assert gap < 0.01, gap
    assert online.n_iter_ == 60 and len(online.lower_bounds_) == 60


def test_partial_fit_on_the_same_batch_converges_to_em(rng):
    X = _blobs(rng, n_samples=2000)
    start = _start(X, 3, "full", rng)
    start.pop("tol"), start.pop("max_iter")
    # one start mean in each blob, so that EM ends at the optimum, not near a
    # saddle point that stepwise EM leaves another way
    near = [np.argmin(((X - 8.0 * e) ** 2).sum(axis=1)) for e in np.eye(3)]
    start["means_init"] = X[near]
    em = GaussianMixture(**start, tol=1e-12, max_iter=1000).fit(X)
    online = GaussianMixture(**start)
    # the same batch again and again: stepwise EM's fixed point is EM's. A decay
    # near 1/2 forgets the start fastest (sum of steps ~ 2 sqrt(t)).
    for _ in range(400):
        online.partial_fit(X, decay=0.51)
    assert_allclose(online.means_, em.means_, rtol=1e-6, atol=1e-6)
    assert_allclose(online.score(X), em.score(X), rtol=1e-10)


def test_partial_fit_errors_keep_state_and_pickle_round_trips(rng):
    X = _blobs(rng, n_samples=300)
    gm = GaussianMixture(3, random_state=0)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        gm.partial_fit(X[:2])
    assert not hasattr(gm, "means_")
    gm.partial_fit(X[:150])
    means = gm.means_.copy()
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(X[150:, :2])
    with pytest.raises(ValueError, match="decay"):
        gm.partial_fit(X[150:], decay=0.3)
    assert_array_equal(gm.means_, means)
    clone = pickle.loads(pickle.dumps(gm))
    clone.partial_fit(X[150:])
    gm.partial_fit(X[150:])
    assert_array_equal(clone.means_, gm.means_)
    gm.fit(X)  # a full fit ends the stream
    assert not hasattr(gm, "_stream_stats")
