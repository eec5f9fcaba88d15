"""The mixtures on Dask arrays, on a real 2-process local cluster."""

import os
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from emfast import (  # noqa: E402
    BayesianGaussianMixture,
    GaussianMixture,
    PoissonMixture,
)
from emfast.mixture._engine import em  # noqa: E402

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_"]


@pytest.fixture(scope="module")
def client():
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


def _blobs(rng, n_samples=4000, n_features=3, n_components=3):
    centers = 7.0 * np.eye(n_components, n_features)
    labels = rng.integers(n_components, size=n_samples)
    return centers[labels] + rng.normal(size=(n_samples, n_features))


def _fit(model, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kwargs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_fit_equals_in_memory_fit(client, rng, covariance_type):
    X = _blobs(rng)
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=0,
        tol=1e-8,
    )
    local = _fit(GaussianMixture(**kwargs), X)
    distributed_fit = _fit(GaussianMixture(**kwargs), da.from_array(X, chunks=900))
    assert distributed_fit.n_iter_ == local.n_iter_
    assert_allclose(distributed_fit.lower_bounds_, local.lower_bounds_, rtol=1e-10)
    for name in FITTED:
        assert_allclose(
            getattr(distributed_fit, name),
            getattr(local, name),
            rtol=1e-10,
            atol=1e-12,
            err_msg=name,
        )


def test_weighted_float32_dask_fit(client, rng):
    X = _blobs(rng).astype(np.float32)
    weights = rng.uniform(0, 2, size=X.shape[0])
    kwargs = dict(n_components=3, init_params="random_from_data", random_state=1)
    local = _fit(GaussianMixture(**kwargs), X, sample_weight=weights)
    remote = _fit(
        GaussianMixture(**kwargs),
        da.from_array(X, chunks=1000),
        sample_weight=da.from_array(weights, chunks=700),
    )
    assert remote.means_.dtype == np.float32
    for name in FITTED:
        assert_allclose(
            getattr(remote, name),
            getattr(local, name),
            rtol=1e-5,
            atol=1e-6,
            err_msg=name,
        )


def test_inference_on_dask_arrays_is_lazy_and_equal(client, rng):
    X = _blobs(rng)
    gm = GaussianMixture(3, random_state=0).fit(X)
    dX = da.from_array(X, chunks=1000)
    for method in ("predict", "predict_proba", "score_samples"):
        lazy = getattr(gm, method)(dX)
        assert isinstance(lazy, da.Array), method
        assert_allclose(lazy.compute(), getattr(gm, method)(X), rtol=1e-12)
    assert_allclose(gm.score(dX), gm.score(X), rtol=1e-12)
    labels = GaussianMixture(
        3, init_params="random_from_data", random_state=0
    ).fit_predict(dX)
    assert isinstance(labels, da.Array)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_bayesian_dask_fit_and_inference_equal_in_memory(client, rng, covariance_type):
    X = _blobs(rng)
    kwargs = dict(
        n_components=4,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=int(rng.integers(1000)),
        max_iter=20,
    )
    local = _fit(BayesianGaussianMixture(**kwargs), X)
    remote = _fit(BayesianGaussianMixture(**kwargs), da.from_array(X, chunks=900))
    assert remote.n_iter_ == local.n_iter_
    assert_allclose(remote.lower_bounds_, local.lower_bounds_, rtol=1e-10)
    for name in [*FITTED, "weight_concentration_", "degrees_of_freedom_"]:
        assert_allclose(
            _flat(getattr(remote, name)),
            _flat(getattr(local, name)),
            rtol=1e-10,
            atol=1e-12,
            err_msg=name,
        )
    dX = da.from_array(X, chunks=1000)
    lazy = remote.predict_proba(dX)
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), remote.predict_proba(X), rtol=1e-12, atol=1e-300)


def _flat(value):
    """``weight_concentration_`` is a pair of arrays for a Dirichlet process."""
    if isinstance(value, tuple):
        return np.concatenate(value)
    return value


def test_fit_survives_a_worker_dying(client, rng, monkeypatch):
    X = _blobs(rng, n_samples=6000)
    kwargs = dict(
        n_components=3,
        init_params="random_from_data",
        random_state=2,
        tol=0,
        max_iter=6,
    )
    reference = _fit(GaussianMixture(**kwargs), da.from_array(X, chunks=1000))

    step = em.em_step
    calls = []

    def step_then_kill(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # in the middle of the fit
            victim = sorted(client.scheduler_info()["workers"])[0]
            try:
                client.run(os._exit, 1, workers=[victim])
            except Exception:  # noqa: BLE001 - the worker dies while answering
                pass
        return step(*args, **kwargs)

    monkeypatch.setattr(em, "em_step", step_then_kill)
    survivor = _fit(GaussianMixture(**kwargs), da.from_array(X, chunks=1000))
    assert len(calls) == 6
    for name in FITTED:
        assert_array_equal(getattr(survivor, name), getattr(reference, name))


def test_random_init_raises(client, rng):
    dX = da.from_array(_blobs(rng, n_samples=200), chunks=100)
    with pytest.raises(ValueError, match="init_params"):
        GaussianMixture(2, init_params="random").fit(dX)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_kmeans_inits_on_the_cluster_equal_chunked(client, rng, init_params):
    X = _blobs(rng, n_samples=3000)
    kwargs = dict(n_components=3, init_params=init_params, random_state=2)
    chunked = _fit(GaussianMixture(**kwargs), [X[:1000], X[1000:]])
    remote = _fit(GaussianMixture(**kwargs), da.from_array(X, chunks=1000))
    for name in FITTED:
        assert_allclose(getattr(remote, name), getattr(chunked, name), rtol=1e-10)


def test_bad_blocks_raise_value_errors(client, rng):
    X = _blobs(rng, n_samples=300)
    X[250, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2, init_params="random_from_data").fit(
            da.from_array(X, chunks=100)
        )
    gm = GaussianMixture(2, random_state=0).fit(_blobs(rng, n_samples=300))
    with pytest.raises(ValueError, match="features"):
        gm.predict(da.ones((10, 5), chunks=5))


def _counts(rng, n_samples=3000):
    rates = np.array([[2.0, 9.0, 1.0], [12.0, 3.0, 6.0], [5.0, 5.0, 15.0]])
    return rng.poisson(rates[rng.integers(3, size=n_samples)]).astype(float)


def test_poisson_dask_fit_and_inference_equal_in_memory(client, rng):
    X = _counts(rng)
    weights = rng.uniform(0, 2, size=X.shape[0])
    kwargs = dict(n_components=3, init_params="random_from_data", random_state=4)
    kwargs.update(tol=1e-8)
    local = _fit(PoissonMixture(**kwargs), X, sample_weight=weights)
    remote = _fit(
        PoissonMixture(**kwargs),
        da.from_array(X, chunks=700),
        sample_weight=da.from_array(weights, chunks=500),
    )
    assert remote.n_iter_ == local.n_iter_
    assert_allclose(remote.lower_bounds_, local.lower_bounds_, rtol=1e-10)
    assert_allclose(remote.weights_, local.weights_, rtol=1e-10)
    assert_allclose(remote.rates_, local.rates_, rtol=1e-10)
    lazy = remote.predict_proba(da.from_array(X, chunks=1000))
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), remote.predict_proba(X), rtol=1e-12, atol=1e-300)
    bad = X.copy()
    bad[2345, 1] = -3.0
    with pytest.raises(ValueError, match=r"Negative values.*X\[2345, 1\] = -3.0"):
        PoissonMixture(2, init_params="random_from_data").fit(
            da.from_array(bad, chunks=1000)
        )
    with pytest.raises(ValueError, match="Negative values"):
        remote.predict(da.from_array(bad, chunks=1000)).compute()


def test_partial_fit_on_dask_batches_equals_numpy_batches(client, rng):
    X = _blobs(rng, n_samples=3000)
    for model in (GaussianMixture(3), BayesianGaussianMixture(n_components=3)):
        model.set_params(init_params="random_from_data", random_state=5)
        reference = clone(model)
        for batch in np.array_split(X, 3):
            reference.partial_fit(batch)
            model.partial_fit(da.from_array(batch, chunks=400))
        for name in FITTED:
            assert_allclose(
                getattr(model, name), getattr(reference, name), rtol=1e-10, atol=1e-12
            )
        assert_allclose(model.lower_bounds_, reference.lower_bounds_, rtol=1e-10)
