"""GaussianMixture(missing="marginalize") on every input path, with weights, streams
and threads.

Chunk sources and memory maps are cut into the same fixed blocks as an array,
so their fits equal the in-memory fit bit for bit; Dask arrays add their
blocks' sums in another order (equal to rounding). Integer weights count as
repeated rows; ``partial_fit`` takes batches with NaN; 1 and 2 threads give
the same bits.
"""

import warnings

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import emfast
from emfast import GaussianMixture, _chunks, load_model, save_model

from .missing_problems import hide, precisions, random_params, sample, sample_weights

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_"]


@pytest.fixture
def small_chunks(monkeypatch):
    """Many blocks and chunks on small data (in this process only)."""
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 16)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


def data(rng, covariance_type, n_samples=400, fraction=0.3, dtype=np.float64):
    params = random_params(rng, 3, 4, covariance_type, np.float64)
    X = hide(rng, sample(rng, params, n_samples, covariance_type), fraction)
    return X.astype(dtype)


def model(covariance_type, **kwargs):
    kwargs = {"random_state": 0, "max_iter": 20, "tol": 1e-8, **kwargs}
    return GaussianMixture(
        3, covariance_type=covariance_type, missing="marginalize", **kwargs
    )


def fit_quietly(estimator, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, **kwargs)


def assert_same_fit(got, expected, exact=True):
    for name in [*FITTED, "lower_bounds_"]:
        if exact:
            assert_array_equal(getattr(got, name), getattr(expected, name), name)
        else:
            assert_allclose(
                getattr(got, name),
                getattr(expected, name),
                # other block sums round differently; 20 EM iterations
                # amplify that to about 1e-9 (measured) on some draws
                rtol=1e-7,
                atol=1e-10,
                err_msg=name,
            )


# ---------------------------------------------------- chunks and memmaps
@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunk_sources_and_memmaps_equal_the_array(rng, covariance_type, tmp_path):
    X = data(rng, covariance_type)
    weights = sample_weights(rng, len(X))
    kwargs = {"init_params": "random_from_data"}  # k-means needs all rows
    in_memory = fit_quietly(model(covariance_type, **kwargs), X, sample_weight=weights)

    cuts = [0, 37, 38, 150, 301, len(X)]
    pieces = [
        (X[a:b], weights[a:b]) for a, b in zip(cuts[:-1], cuts[1:])
    ]  # uneven chunks, weights inside
    chunked = fit_quietly(model(covariance_type, **kwargs), lambda: iter(pieces))
    assert_same_fit(chunked, in_memory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model(covariance_type, **kwargs).fit_predict(lambda: iter(pieces))
    assert_array_equal(labels, in_memory.predict(X))

    path = tmp_path / "rows.dat"
    mapped = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    mapped[:] = X
    mapped.flush()
    mapped = np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    for init in ("kmeans", "random_from_data"):
        expected = fit_quietly(
            model(covariance_type, init_params=init), X, sample_weight=weights
        )
        got = fit_quietly(
            model(covariance_type, init_params=init), mapped, sample_weight=weights
        )
        assert_same_fit(got, expected)
    assert_array_equal(in_memory.impute(mapped), in_memory.impute(X))


@pytest.mark.usefixtures("small_chunks")
def test_chunk_errors_name_the_row(rng):
    X = data(rng, "full")
    X_bad = X.copy()
    X_bad[123] = np.nan
    pieces = [X_bad[:100], X_bad[100:]]
    with pytest.raises(ValueError, match="no observed value in row 123"):
        model("full", init_params="random").fit(pieces)
    X_bad[123] = 1.0
    X_bad[130, 1] = -np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        model("full", init_params="random").fit([X_bad[:100], X_bad[100:]])


# ------------------------------------------------------------------- Dask
@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_equals_in_memory(rng, covariance_type):
    da = pytest.importorskip("dask.array")
    X = data(rng, covariance_type)
    weights = sample_weights(rng, len(X))
    kwargs = {"init_params": "random_from_data"}
    local = fit_quietly(model(covariance_type, **kwargs), X, sample_weight=weights)
    X_dask = da.from_array(X, chunks=96)
    distributed = fit_quietly(
        model(covariance_type, **kwargs),
        X_dask,
        sample_weight=da.from_array(weights, chunks=96),
    )
    assert distributed.n_iter_ == local.n_iter_
    assert_same_fit(distributed, local, exact=False)

    imputed = local.impute(X_dask)  # lazy
    assert isinstance(imputed, da.Array)
    assert_allclose(imputed.compute(), local.impute(X), rtol=1e-12)
    for method in ("score_samples", "predict_proba", "predict"):
        lazy = getattr(local, method)(X_dask)
        assert isinstance(lazy, da.Array)
        assert_allclose(lazy.compute(), getattr(local, method)(X), rtol=1e-12)


def test_dask_block_errors(rng):
    da = pytest.importorskip("dask.array")
    X = data(rng, "full")
    X[250] = np.nan
    with pytest.raises(ValueError, match="no observed value in row 250"):
        model("full", init_params="random_from_data").fit(da.from_array(X, chunks=100))
    fitted = fit_quietly(model("full"), np.where(np.isnan(X), 0.0, X))
    with pytest.raises(ValueError, match="no observed value in a row"):
        fitted.impute(da.from_array(X, chunks=100)).compute()
    X[250] = 1.0
    X[10, 0] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        fitted.predict(da.from_array(X, chunks=100)).compute()


def test_dask_on_a_cluster_equals_in_memory(rng):
    """Block functions, side functions and kernel arguments travel to worker
    processes (which keep the default chunk sizes)."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    X = data(rng, "full", n_samples=3000)
    local = fit_quietly(model("full", init_params="random_from_data"), X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
    with cluster, distributed.Client(cluster):
        X_dask = da.from_array(X, chunks=1000)
        remote = fit_quietly(model("full", init_params="random_from_data"), X_dask)
        imputed = local.impute(X_dask).compute()
    assert_same_fit(remote, local, exact=False)
    assert_allclose(imputed, local.impute(X), rtol=1e-12)


# ---------------------------------------------------- weights and streams
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_count_as_repeated_rows(rng, covariance_type):
    params = random_params(rng, 3, 4, covariance_type, np.float64)
    X = hide(rng, sample(rng, params, 200, covariance_type), 0.3)
    counts = rng.integers(0, 4, size=len(X))
    start = dict(
        weights_init=params.weights,
        means_init=params.means,
        precisions_init=precisions(params.covariances, covariance_type),
        max_iter=5,
    )
    weighted = fit_quietly(model(covariance_type, **start), X, sample_weight=counts)
    repeated = fit_quietly(model(covariance_type, **start), np.repeat(X, counts, 0))
    assert_same_fit(weighted, repeated, exact=False)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_takes_batches_with_nan(rng, covariance_type):
    X = data(rng, covariance_type)
    kwargs = {"init_params": "random_from_data", "max_iter": 1}
    one_step = fit_quietly(model(covariance_type, **kwargs), X)
    stream = model(covariance_type, **kwargs).partial_fit(X)
    # the first step on one batch is one EM step (10 eps per unit weight aside)
    for name in FITTED:
        assert_allclose(
            getattr(stream, name), getattr(one_step, name), rtol=1e-9, err_msg=name
        )
    assert_allclose(stream.lower_bound_, one_step.lower_bound_, rtol=1e-12)
    for batch in np.array_split(X, 4):
        stream.partial_fit(batch)
    assert stream.n_iter_ == 5 and np.isfinite(stream.lower_bounds_).all()
    assert stream.score(X) > one_step.score(X) - 0.05


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_results_do_not_depend_on_the_thread_count(rng, covariance_type):
    X = data(rng, covariance_type, dtype=np.float32)
    weights = sample_weights(rng, len(X))
    fits = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            fitted = fit_quietly(model(covariance_type), X, sample_weight=weights)
            fits.append((fitted, fitted.predict_proba(X), fitted.impute(X)))
    assert_same_fit(fits[1][0], fits[0][0])
    assert_array_equal(fits[1][1], fits[0][1])
    assert_array_equal(fits[1][2], fits[0][2])


def test_model_files_keep_the_setting(rng, tmp_path):
    X = data(rng, "diag")
    fitted = fit_quietly(model("diag"), X)
    save_model(fitted, tmp_path / "model.json")
    loaded = load_model(tmp_path / "model.json")
    assert loaded.missing == "marginalize"
    assert_array_equal(loaded.score_samples(X), fitted.score_samples(X))
    assert_array_equal(loaded.impute(X), fitted.impute(X))


@parametrize_with_checks([GaussianMixture(missing="marginalize")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
