"""BernoulliMixture on the engine: scikit-learn's checks, chunked, memory-mapped
and Dask input, ``partial_fit`` and model files.

BernoulliMixture refuses data outside [0, 1]. Its tags say it refuses negative
values (``positive_only``), and scikit-learn's checks then shift their data to
be non-negative, but scikit-learn has no tag for an upper bound: the checks
that feed values above 1 are expected to fail for that reason only, and
:func:`test_range_failures_pass_on_data_in_the_unit_interval` runs each of
them again on its own data scaled into [0, 1] (two checks with fixed data are
made by hand on binary data).
"""

import json
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import (
    estimator_checks_generator,
    parametrize_with_checks,
)

import emfast
from emfast import BernoulliMixture, _chunks
from tests.reference_bernoulli import simulate

DTYPES = [np.float64, np.float32]


def _seed(rng):
    return int(rng.integers(2**31))


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args, **kwargs)


# ------------------------------------------------------- scikit-learn's checks
ABOVE_ONE = (
    "BernoulliMixture refuses values above 1 (it models data in [0, 1]) and "
    "scikit-learn has no input tag for an upper bound; this check's data, "
    "shifted to be non-negative (positive_only), exceed 1"
)
# two checks fit fixed data (values 1 to 4) that no tag adjustment reaches:
# test_sample_weight_checks_on_binary_data makes them on binary data
FIXED_DATA_FAILURES = {
    "check_sample_weights_shape",
    "check_sample_weights_not_overwritten",
}
# the others pass on their data scaled into [0, 1]
RANGE_FAILURES = FIXED_DATA_FAILURES | {
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_estimators_dtypes",
    "check_sample_weights_pandas_series",
    "check_sample_weights_not_an_array",
    "check_pipeline_consistency",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
}


def _check_name(check):
    while hasattr(check, "func"):  # functools.partial
        check = check.func
    return check.__name__


@parametrize_with_checks(
    [BernoulliMixture()],
    expected_failed_checks=lambda estimator: dict.fromkeys(RANGE_FAILURES, ABOVE_ONE),
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _into_unit_interval(enforce):
    """scikit-learn's tag-based data adjustment, then values scaled into [0, 1]."""

    def adjusted(estimator, X, X_test=None, **kwargs):
        out = enforce(estimator, X, X_test=X_test, **kwargs)
        if X_test is None:
            return _scaled(out)
        return _scaled(out[0]), _scaled(out[1])

    return adjusted


def _scaled(X):
    X = np.asarray(X)
    assert X.min() >= 0  # positive_only shifted them
    if np.issubdtype(X.dtype, np.integer):
        return np.minimum(X, 1)
    return (X / max(X.max(), 1)).astype(X.dtype, copy=False)


def _range_checks():
    return [
        pytest.param(estimator, check, id=_check_name(check))
        for estimator, check in estimator_checks_generator(BernoulliMixture())
        if _check_name(check) in RANGE_FAILURES - FIXED_DATA_FAILURES
    ]


@pytest.mark.parametrize("estimator, check", _range_checks())
def test_range_failures_pass_on_data_in_the_unit_interval(
    monkeypatch, estimator, check
):
    """The expected failures above fail only by their data."""
    monkeypatch.setattr(
        estimator_checks,
        "_enforce_estimator_tags_X",
        _into_unit_interval(estimator_checks._enforce_estimator_tags_X),
    )
    check(estimator)


def test_every_range_failure_is_a_check():
    names = {_check_name(param.values[1]) for param in _range_checks()}
    assert names == RANGE_FAILURES - FIXED_DATA_FAILURES


def test_sample_weight_checks_on_binary_data(rng):
    """check_sample_weights_shape and check_sample_weights_not_overwritten."""
    X, _, _ = simulate(rng, n_samples=16, n_features=2)
    weights = rng.uniform(0.5, 2.0, size=16)
    given = weights.copy()
    BernoulliMixture(2, random_state=0).fit(X, sample_weight=weights)
    assert_array_equal(weights, given)
    for wrong in (np.ones(32), np.ones((16, 2))):
        with pytest.raises(ValueError):
            BernoulliMixture(2, random_state=0).fit(X, sample_weight=wrong)


# -------------------------------------------------------------- input forms
def _irregular_chunks(X, rng, weights=None):
    edges = np.sort(rng.choice(np.arange(1, X.shape[0]), size=9, replace=False))
    edges = [0, *edges, X.shape[0]]
    if weights is None:
        return [X[a:b] for a, b in zip(edges[:-1], edges[1:])]
    return [(X[a:b], weights[a:b]) for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_chunked_and_memmap_fits_equal_the_in_memory_fit_bitwise(
    rng, monkeypatch, tmp_path, init_params, dtype
):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 32)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)
    X = simulate(rng, n_samples=600, fractional=True)[0].astype(dtype)
    weights = rng.uniform(0, 3, size=X.shape[0])
    kwargs = dict(n_components=3, init_params=init_params, random_state=_seed(rng))
    kwargs.update(max_iter=10)
    in_memory = _quiet(BernoulliMixture(**kwargs).fit, X, sample_weight=weights)
    chunks = _irregular_chunks(X, rng, weights)
    chunked = _quiet(BernoulliMixture(**kwargs).fit, lambda: iter(chunks))
    np.save(tmp_path / "X.npy", X)
    mapped = _quiet(
        BernoulliMixture(**kwargs).fit,
        np.load(tmp_path / "X.npy", mmap_mode="r"),
        sample_weight=weights,
    )
    for fitted in (chunked, mapped):
        assert fitted.probabilities_.dtype == dtype
        assert_array_equal(fitted.weights_, in_memory.weights_)
        assert_array_equal(fitted.probabilities_, in_memory.probabilities_)
        assert fitted.lower_bounds_ == in_memory.lower_bounds_
    assert_array_equal(
        _quiet(BernoulliMixture(**kwargs).fit_predict, chunks),
        _quiet(BernoulliMixture(**kwargs).fit_predict, X, sample_weight=weights),
    )


def test_chunks_are_checked_on_every_read(rng):
    X = simulate(rng, n_samples=200)[0]
    bad = X.copy()
    bad[130, 2] = 1.5
    with pytest.raises(ValueError, match=r"outside it, e.g. X\[130, 2\] = 1.5"):
        BernoulliMixture(2, init_params="random").fit([bad[:100], bad[100:]])
    reads = []

    def changing():  # binary on the first read, a negative value later
        reads.append(1)
        second = X[100:].copy()
        if len(reads) > 1:
            second[5, 0] = -1.0
        return iter([X[:100], second])

    bm = BernoulliMixture(2, random_state=0).fit(X)
    probabilities = bm.probabilities_.copy()
    with pytest.raises(ValueError, match=r"Negative values.*X\[105, 0\] = -1.0"):
        bm.set_params(init_params="random").fit(changing)
    assert_array_equal(bm.probabilities_, probabilities)


# -------------------------------------------------------------- partial_fit
def _separated(rng, n_samples):
    """Three components, each with its own block of four likely features: EM
    from any start finds the same optimum (random mixtures have several)."""
    probabilities = np.full((3, 12), 0.15)
    for k in range(3):
        probabilities[k, 4 * k : 4 * k + 4] = 0.8
    labels = rng.choice(3, size=n_samples, p=[0.2, 0.3, 0.5])
    return (rng.uniform(size=(n_samples, 12)) < probabilities[labels]) * 1.0


def test_partial_fit_reaches_the_full_batch_likelihood(rng):
    X = _separated(rng, 20_000)
    full = BernoulliMixture(3, n_init=3, random_state=0).fit(X)
    order = rng.permutation(X.shape[0])
    fits = []
    for seed in range(3):  # three starts, as the batch fit's n_init: one
        online = BernoulliMixture(3, random_state=seed)  # may merge two classes
        for start in range(0, X.shape[0], 500):
            online.partial_fit(X[order[start : start + 500]])
        fits.append(online)
    online = max(fits, key=lambda fit: fit.score(X))
    gap = (full.score(X) - online.score(X)) / abs(full.score(X))
    assert gap < 0.01, gap
    assert online.n_iter_ == 40 and len(online.lower_bounds_) == 40
    batch = X[order[-500:]]
    assert_allclose(
        online.lower_bound_, np.mean(online.score_samples(batch)), rtol=0.05
    )


def test_partial_fit_continues_a_fit_and_weights_repeat_rows(rng, tmp_path):
    X = _separated(rng, 600)  # EM converges fast: a stable fixed point
    bm = BernoulliMixture(3, tol=1e-12, max_iter=1000, random_state=0).fit(X)
    assert bm.converged_
    probabilities, n_iter = bm.probabilities_.copy(), bm.n_iter_
    emfast.save_model(bm, tmp_path / "bm.json")
    loaded = emfast.load_model(tmp_path / "bm.json")
    for model in (bm, loaded):
        model.partial_fit(X)  # all the training rows: a converged fit stays
        assert_allclose(model.probabilities_, probabilities, rtol=1e-6, atol=1e-9)
        assert model.n_iter_ == n_iter + 1
    counts = rng.integers(0, 4, size=X.shape[0])
    start = BernoulliMixture(3, random_state=1)
    start.partial_fit(X[:300], sample_weight=counts[:300])
    emfast.save_model(start, tmp_path / "w.json")
    weighted = emfast.load_model(tmp_path / "w.json")
    repeated = emfast.load_model(tmp_path / "w.json")
    weighted.partial_fit(X[300:], sample_weight=counts[300:], decay=0.7)
    repeated.partial_fit(np.repeat(X[300:], counts[300:], axis=0), decay=0.7)
    assert_allclose(weighted.probabilities_, repeated.probabilities_, rtol=1e-10)
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-10)


# --------------------------------------------------------------- model files
@pytest.mark.parametrize("dtype", DTYPES)
def test_model_files_round_trip(rng, tmp_path, dtype):
    X, _, _ = simulate(rng, n_samples=300)
    X[:, 0] = 1.0  # a probability at its upper clip (1.0 in float32)
    bm = BernoulliMixture(3, random_state=_seed(rng)).fit(X.astype(dtype))
    emfast.save_model(bm, tmp_path / "bm.json")
    loaded = emfast.load_model(tmp_path / "bm.json")
    assert type(loaded) is BernoulliMixture
    assert loaded.get_params() == bm.get_params()
    for name in ("weights_", "probabilities_"):
        assert getattr(loaded, name).dtype == dtype
        assert_array_equal(getattr(loaded, name), getattr(bm, name))
    assert_array_equal(loaded.predict_proba(X), bm.predict_proba(X))
    assert_array_equal(loaded.score_samples(X), bm.score_samples(X))


def _tampered(path, name, change):
    document = json.loads(path.read_text())
    array = np.array(document["fitted"][name]["data"], dtype=float)
    change(array)
    document["fitted"][name]["data"] = array.tolist()
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("probabilities_", -0.1, "outside"),
        ("probabilities_", 0.0, "outside"),
        ("probabilities_", 1.0, "outside"),
        ("probabilities_", 1.5, "outside"),
        ("weights_", -0.5, "negative"),
        ("weights_", 2.0, "sum to"),
    ],
)
def test_impossible_values_in_model_files_are_refused(
    rng, tmp_path, name, value, message
):
    bm = BernoulliMixture(3, random_state=0).fit(simulate(rng)[0])
    emfast.save_model(bm, tmp_path / "bm.json")

    def change(array):
        array.reshape(-1)[0] = value

    path = _tampered(tmp_path / "bm.json", name, change)
    with pytest.raises(ValueError, match=message):
        emfast.load_model(path)


# --------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def test_dask_fit_and_inference_equal_in_memory(client, rng):
    da = pytest.importorskip("dask.array")
    X = simulate(rng, n_samples=3000, n_features=8, fractional=True)[0]
    weights = rng.uniform(0, 2, size=X.shape[0])
    kwargs = dict(n_components=3, init_params="random_from_data", random_state=4)
    kwargs.update(tol=1e-8)
    local = _quiet(BernoulliMixture(**kwargs).fit, X, sample_weight=weights)
    remote = _quiet(
        BernoulliMixture(**kwargs).fit,
        da.from_array(X, chunks=700),
        sample_weight=da.from_array(weights, chunks=500),
    )
    assert remote.n_iter_ == local.n_iter_
    assert_allclose(remote.lower_bounds_, local.lower_bounds_, rtol=1e-10)
    assert_allclose(remote.weights_, local.weights_, rtol=1e-10)
    assert_allclose(remote.probabilities_, local.probabilities_, rtol=1e-10)
    lazy = remote.predict_proba(da.from_array(X, chunks=1000))
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), remote.predict_proba(X), rtol=1e-12, atol=1e-300)
    bad = X.copy()
    bad[2345, 1] = 3.0
    with pytest.raises(ValueError, match=r"outside it, e.g. X\[2345, 1\] = 3.0"):
        BernoulliMixture(2, init_params="random_from_data").fit(
            da.from_array(bad, chunks=1000)
        )
    with pytest.raises(ValueError, match="outside it"):
        remote.predict(da.from_array(bad, chunks=1000)).compute()
