"""GaussianMixture.partial_fit: where a stream starts, decay, sample weights.

Issue 11: ``partial_fit`` after ``fit()`` (or on a model loaded from a file)
re-initialised from the batch and threw the fitted model away; ``decay=5`` was
accepted on the first call and rejected on the second; ``partial_fit`` with
``sample_weight`` had no test.
"""

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from emfast import GaussianMixture, load_model, save_model

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_"]


def _blobs(rng, n_samples=900, n_features=3, n_components=3):
    """Separated clusters: EM converges in a few iterations, to one optimum."""
    centers = 8.0 * np.eye(n_components, n_features) + rng.normal(
        size=(n_components, n_features)
    )
    labels = rng.integers(n_components, size=n_samples)
    return centers[labels] + rng.normal(size=(n_samples, n_features))


def _converged_fit(X, covariance_type, sample_weight=None, tol=1e-12, **kwargs):
    gm = GaussianMixture(
        3, covariance_type=covariance_type, tol=tol, max_iter=1000, **kwargs
    )
    gm.fit(X, sample_weight=sample_weight)
    assert gm.converged_
    return gm


def _snapshot(model):
    return {name: getattr(model, name).copy() for name in FITTED}


def _assert_model(model, expected, rtol, atol=0.0):
    for name, value in expected.items():
        assert_allclose(getattr(model, name), value, rtol=rtol, atol=atol, err_msg=name)


# ------------------------------------------------------- continuing a fitted model
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_after_fit_continues_from_the_fit(rng, covariance_type):
    X = _blobs(rng)
    gm = _converged_fit(X, covariance_type, random_state=int(rng.integers(2**31)))
    fitted, n_iter, bounds = _snapshot(gm), gm.n_iter_, list(gm.lower_bounds_)
    # all the training rows: the batch's statistics are the fit's, the model stays
    gm.partial_fit(X)
    _assert_model(gm, fitted, rtol=1e-7, atol=1e-9)
    assert gm.n_iter_ == n_iter + 1
    assert gm.lower_bounds_[:-1] == bounds
    assert_allclose(gm.lower_bound_, bounds[-1], rtol=1e-9)
    # shuffled batches of the same rows: the model moves by their noise only
    # (a batch's component mean is off by about 1 / sqrt(50), its covariance
    # by a fifth, times the step), with components in the fit's order
    for batch in np.array_split(rng.permutation(X.shape[0]), 6):
        gm.partial_fit(X[batch])
    _assert_model(gm, {"means_": fitted["means_"]}, rtol=0, atol=0.2)
    _assert_model(gm, {"weights_": fitted["weights_"]}, rtol=0, atol=0.05)
    covariances = {"covariances_": fitted["covariances_"]}
    _assert_model(gm, covariances, rtol=0.2, atol=0.1)
    assert gm.n_iter_ == n_iter + 7


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_first_step_after_fit_is_the_documented_blend(rng, covariance_type):
    """From a fitted model, one batch moves the running statistics by
    ``rho = (n_iter_ + 2) ** -decay`` towards the batch's own: the means become
    ``(1 - rho) * fitted + rho * batch`` in weight-averaged form."""
    X = _blobs(rng)
    gm = _converged_fit(X, covariance_type, random_state=0)
    fitted_weights, fitted_means = gm.weights_.copy(), gm.means_.copy()
    batch = X[rng.choice(X.shape[0], 150, replace=False)]
    resp = gm.predict_proba(batch)
    rho = (gm.n_iter_ + 2) ** -0.8
    gm.partial_fit(batch, decay=0.8)
    batch_nk = resp.mean(axis=0)
    batch_sums = resp.T @ batch / batch.shape[0]
    nk = (1 - rho) * fitted_weights + rho * batch_nk
    means = ((1 - rho) * fitted_weights[:, None] * fitted_means + rho * batch_sums) / (
        nk[:, None]
    )
    assert_allclose(gm.weights_, nk / nk.sum(), rtol=1e-10)
    assert_allclose(gm.means_, means, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_continues_a_model_loaded_from_a_file(
    rng, tmp_path, covariance_type
):
    """A loaded model has fitted parameters but no stream state."""
    X = _blobs(rng)
    gm = _converged_fit(X, covariance_type, random_state=0)
    fitted, n_iter = _snapshot(gm), gm.n_iter_
    save_model(gm, tmp_path / "model.json")
    loaded = load_model(tmp_path / "model.json")
    assert not hasattr(loaded, "_stream_stats")
    loaded.partial_fit(X)  # all the training rows: the model stays
    _assert_model(loaded, fitted, rtol=1e-7, atol=1e-9)
    assert loaded.n_iter_ == n_iter + 1
    batch = X[rng.choice(X.shape[0], 200, replace=False)]
    gm.partial_fit(X)
    for model in (gm, loaded):
        model.partial_fit(batch)
    for name in FITTED:
        assert_array_equal(getattr(loaded, name), getattr(gm, name), err_msg=name)
    assert loaded.n_iter_ == gm.n_iter_ == n_iter + 2


def test_partial_fit_keeps_the_fitted_dtype(rng):
    X = _blobs(rng)
    gm = _converged_fit(X, "full", random_state=0)
    gm.partial_fit(X.astype(np.float32))
    assert gm.means_.dtype == gm.covariances_.dtype == np.float64
    gm32 = _converged_fit(X.astype(np.float32), "full", tol=1e-4, random_state=0)
    gm32.partial_fit(X)
    assert gm32.means_.dtype == gm32.covariances_.dtype == np.float32


def test_partial_fit_after_fit_checks_the_number_of_features(rng):
    X = _blobs(rng)
    gm = _converged_fit(X, "full", random_state=0)
    means = gm.means_.copy()
    with pytest.raises(ValueError, match="expecting 3 features"):
        gm.partial_fit(X[:, :2])
    assert_array_equal(gm.means_, means)
    assert not hasattr(gm, "_stream_stats")


# ------------------------------------------------------------------ decay
BAD_DECAYS = [
    (5, ValueError, r"decay must be in \(0.5, 1\], got 5"),
    (0.5, ValueError, "decay must be in"),
    (0.0, ValueError, "decay must be in"),
    (-1.0, ValueError, "decay must be in"),
    (math.nan, ValueError, "decay must be in"),
    ("0.6", TypeError, "decay must be a float"),
    (None, TypeError, "decay must be a float"),
    (True, TypeError, "decay must be a float"),
]


@pytest.mark.parametrize("decay, error, message", BAD_DECAYS)
def test_decay_is_checked_on_every_call(rng, decay, error, message):
    X = _blobs(rng, n_samples=300)
    gm = GaussianMixture(3, random_state=0)
    with pytest.raises(error, match=message):  # the first call: nothing is fitted
        gm.partial_fit(X, decay=decay)
    assert not hasattr(gm, "means_") and not hasattr(gm, "n_features_in_")
    gm.partial_fit(X[:150])
    state = _snapshot(gm)
    with pytest.raises(error, match=message):  # a later call: nothing changes
        gm.partial_fit(X[150:], decay=decay)
    _assert_model(gm, state, rtol=0)
    assert gm.n_iter_ == 1
    fitted = _converged_fit(X, "full", random_state=0)
    with pytest.raises(error, match=message):  # after fit: the fit stays
        fitted.partial_fit(X, decay=decay)
    assert not hasattr(fitted, "_stream_stats")
    gm.partial_fit(X[150:], decay=1.0)  # the upper end is allowed


# ----------------------------------------------------------- sample_weight
def _given_start(X, covariance_type, rng):
    """Initial parameters given in full: both fits start alike, nothing drawn."""
    n_features = X.shape[1]
    precisions = {
        "full": np.repeat(np.eye(n_features)[None], 3, axis=0),
        "tied": np.eye(n_features),
        "diag": np.ones((3, n_features)),
        "spherical": np.ones(3),
    }[covariance_type]
    return dict(
        n_components=3,
        covariance_type=covariance_type,
        weights_init=np.full(3, 1.0 / 3),
        means_init=X[rng.choice(X.shape[0], 3, replace=False)],
        precisions_init=precisions,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_weights_equal_repeated_rows(rng, covariance_type):
    X = _blobs(rng, n_samples=400)
    start = _given_start(X, covariance_type, rng)
    weighted, repeated = GaussianMixture(**start), GaussianMixture(**start)
    for batch in np.array_split(np.arange(X.shape[0]), 3):
        counts = rng.integers(0, 4, size=batch.shape[0])  # 0 drops a row
        weighted.partial_fit(X[batch], sample_weight=counts, decay=0.7)
        repeated.partial_fit(np.repeat(X[batch], counts, axis=0), decay=0.7)
        for name in FITTED:
            assert_allclose(
                getattr(weighted, name), getattr(repeated, name), rtol=1e-10
            )
        assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_partial_fit_keeps_the_weighted_fixed_point(rng, covariance_type):
    """A weighted EM fit is a fixed point of weighted stepwise EM on its rows."""
    X = _blobs(rng, n_samples=600)
    weights = rng.uniform(0.0, 3.0, size=X.shape[0])
    gm = _converged_fit(X, covariance_type, sample_weight=weights, random_state=0)
    fitted = _snapshot(gm)
    for _ in range(3):
        gm.partial_fit(X, sample_weight=weights)
    _assert_model(gm, fitted, rtol=1e-7, atol=1e-9)


def test_weighted_stream_converges_to_the_weighted_em_fit(rng):
    """Stepwise EM on one weighted batch, again and again, reaches the
    weighted EM fit's fixed point from another start."""
    X = _blobs(rng, n_samples=600)
    weights = rng.uniform(0.0, 3.0, size=X.shape[0])
    start = _given_start(X, "full", rng)
    # one start mean in each blob, so that both reach the same optimum
    start["means_init"] = [
        X[np.argmin(((X - 8.0 * e) ** 2).sum(axis=1))] for e in np.eye(3)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        em = GaussianMixture(**start, tol=1e-12, max_iter=1000)
        em.fit(X, sample_weight=weights)
    online = GaussianMixture(**start)
    for _ in range(300):
        online.partial_fit(X, sample_weight=weights, decay=0.51)
    assert_allclose(online.means_, em.means_, rtol=1e-6, atol=1e-6)
    assert_allclose(online.covariances_, em.covariances_, rtol=1e-5, atol=1e-6)
    assert_allclose(
        online.score(X, sample_weight=weights),
        em.score(X, sample_weight=weights),
        rtol=1e-9,
    )
