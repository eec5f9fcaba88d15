"""GaussianMixture(missing="marginalize") against exact incomplete-data EM.

Through the estimator only: one EM step and the scores and imputations of given
parameters against the numpy reference of :mod:`tests.reference_missing`;
monotone EM; recovery of well-separated blobs better than mean imputation;
bit-identical results without NaN; errors. Other input paths, weights,
streaming and threads are in ``test_missing_inputs.py``; the kernels and
their driver in ``test_missing_kernels.py``.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from emfast import GaussianMixture, _chunks

from . import reference_missing
from .missing_problems import (
    blobs,
    hide,
    matched,
    precisions,
    problem,
    random_params,
    sample,
    sample_weights,
)

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"]


@pytest.fixture
def small_chunks(monkeypatch):
    """Many blocks and chunks on small data."""
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 16)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


def fit_quietly(model, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kwargs)


def model_at(params, covariance_type, **kwargs):
    """A marginalising model that starts from ``params`` (unfitted)."""
    return GaussianMixture(
        len(params.weights),
        covariance_type=covariance_type,
        weights_init=params.weights,
        means_init=params.means,
        precisions_init=precisions(params.covariances, covariance_type),
        missing="marginalize",
        **kwargs,
    )


def reference_params(model):
    return (
        model.weights_.astype(np.float64),
        model.means_.astype(np.float64),
        model.covariances_.astype(np.float64),
    )


# --------------------------------------------------- against the reference
@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("all_incomplete", [False, True])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_matches_reference(rng, covariance_type, all_incomplete):
    """One fit iteration from given parameters is one exact incomplete-data
    EM step (complete rows through the complete-data pass, merged)."""
    X, params = problem(rng, covariance_type, np.float64)
    if all_incomplete:
        X = X[np.isnan(X).any(axis=1)]
    weights = sample_weights(rng, len(X))
    reg_covar = 1e-3
    model = model_at(params, covariance_type, max_iter=1, reg_covar=reg_covar)
    fit_quietly(model, X, sample_weight=weights)

    start = (params.weights, params.means, params.covariances)
    (ref_weights, ref_means, ref_covs), ref_ll = reference_missing.em_step(
        X, start, reg_covar, covariance_type, weights
    )
    assert_allclose(model.lower_bounds_[0], ref_ll, rtol=1e-10)
    assert_allclose(model.weights_, ref_weights, rtol=1e-9)
    assert_allclose(model.means_, ref_means, rtol=1e-9, atol=1e-12)
    assert_allclose(model.covariances_, ref_covs, rtol=1e-9, atol=1e-12)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scores_and_imputation_match_reference(rng, covariance_type, dtype):
    X, params = problem(rng, covariance_type, dtype)
    model = model_at(params, covariance_type, max_iter=0).fit(X)  # keeps params
    ref = reference_params(model)
    ref_log_norm, ref_resp, _, _ = reference_missing.e_step(X, *ref, covariance_type)
    # complete float32 rows are scored in float32 (as without NaN)
    rtol, atol = (1e-10, 0.0) if dtype == np.float64 else (2e-5, 1e-4)
    log_norm = model.score_samples(X)
    resp = model.predict_proba(X)
    assert log_norm.dtype == dtype and resp.dtype == dtype
    assert_allclose(log_norm, ref_log_norm, rtol=rtol, atol=atol)
    assert_allclose(resp, ref_resp, atol=10 * rtol)
    top = np.sort(ref_resp, axis=1)
    confident = top[:, -1] - top[:, -2] > 1e-3
    labels = model.predict(X)
    assert_array_equal(labels[confident], ref_resp.argmax(axis=1)[confident])
    assert_allclose(model.score(X), ref_log_norm.mean(), rtol=rtol)
    n_params = model._n_parameters()
    assert_allclose(
        model.bic(X),
        -2 * ref_log_norm.sum() + n_params * np.log(len(X)),
        rtol=rtol,
    )

    imputed = model.impute(X)
    assert imputed.dtype == dtype and not np.isnan(imputed).any()
    observed = ~np.isnan(X)
    assert_array_equal(imputed[observed], X[observed])
    expected = reference_missing.impute(X, *ref, covariance_type)
    assert_allclose(imputed, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("fraction", [0.1, 0.4])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_likelihood_is_monotone(rng, covariance_type, fraction):
    params = random_params(rng, 3, 3, covariance_type, np.float64)
    X = hide(rng, sample(rng, params, 400, covariance_type), fraction)
    seed = int(rng.integers(1000))
    model = GaussianMixture(
        3,
        covariance_type=covariance_type,
        max_iter=40,
        tol=0.0,
        missing="marginalize",
        random_state=seed,
    )
    fit_quietly(model, X)
    bounds = np.asarray(model.lower_bounds_)
    assert len(bounds) == 40
    gains = np.diff(bounds)
    assert gains.min() >= -1e-12 * abs(bounds[-1]), (seed, gains.min())


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.4])
def test_recovers_blobs_better_than_mean_imputation(rng, fraction):
    """Three blobs in 4-D with entries missing completely at random (10000
    rows each: the standard error of a fitted mean is then about 0.02)."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    X, means, covariances = blobs(rng, n_per_blob=10000)
    X_nan = hide(rng, X, fraction)
    seed = int(rng.integers(1000))
    model = GaussianMixture(3, random_state=seed, missing="marginalize").fit(X_nan)
    order = matched(model.means_, means)
    error = np.abs(model.means_[order] - means).max()
    assert error < 0.1, seed
    assert np.abs(model.covariances_[order] - covariances).max() < 0.25, seed

    column_means = np.nanmean(X_nan, axis=0)
    X_filled = np.where(np.isnan(X_nan), column_means, X_nan)
    imputed_fit = SkGaussianMixture(3, random_state=seed).fit(X_filled)
    sk_order = matched(imputed_fit.means_, means)
    assert error < np.abs(imputed_fit.means_[sk_order] - means).max()

    missing = np.isnan(X_nan)
    rmse = np.sqrt(np.mean((model.impute(X_nan)[missing] - X[missing]) ** 2))
    rmse_columns = np.sqrt(np.mean((X_filled[missing] - X[missing]) ** 2))
    assert rmse <= 0.8 * rmse_columns

    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(3).fit(X_nan)  # scikit-learn's error, by default


def test_initialisation_fills_column_means(rng):
    """init_params runs on the rows with NaN replaced by observed column means,
    exactly as scikit-learn's initialisation of those rows."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    X, _, _ = blobs(rng, n_per_blob=200)
    X_nan = hide(rng, X, 0.3)
    X_filled = np.where(np.isnan(X_nan), np.nanmean(X_nan, axis=0), X_nan)
    for init_params in ("kmeans", "random_from_data", "random"):
        kwargs = dict(max_iter=0, init_params=init_params, random_state=3)
        ours = GaussianMixture(3, missing="marginalize", **kwargs).fit(X_nan)
        theirs = SkGaussianMixture(3, **kwargs).fit(X_filled)
        for name in ("weights_", "means_", "covariances_"):
            assert_allclose(
                getattr(ours, name), getattr(theirs, name), rtol=1e-9, err_msg=name
            )


# ------------------------------------------------------ without any NaN
@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_no_nan_is_bit_identical_to_missing_error(
    rng, covariance_type, dtype, weighted
):
    params = random_params(rng, 3, 4, covariance_type, np.float64)
    X = sample(rng, params, 300, covariance_type).astype(dtype)
    weights = sample_weights(rng, len(X), weighted)
    seed = int(rng.integers(1000))
    models = []
    for missing in ("error", "marginalize"):
        model = GaussianMixture(
            3, covariance_type=covariance_type, random_state=seed, missing=missing
        )
        labels = model.fit_predict(X, sample_weight=weights)
        model.partial_fit(X[:100])
        models.append((model, labels))
    (error, error_labels), (marginal, marginal_labels) = models
    assert_array_equal(marginal_labels, error_labels)
    for name in [*FITTED, "lower_bounds_", "n_iter_"]:
        assert_array_equal(getattr(marginal, name), getattr(error, name), name)
    for method in ("score_samples", "predict_proba", "predict"):
        assert_array_equal(getattr(marginal, method)(X), getattr(error, method)(X))
    assert_array_equal(marginal.impute(X), X)


# ----------------------------------------------------------------- errors
def test_unusable_rows_and_columns_raise(rng):
    X, params = problem(rng, "full", np.float64)
    model = GaussianMixture(2, missing="marginalize", random_state=0)
    X_bad = X.copy()
    X_bad[7] = np.nan
    message = "no observed value in row 7"
    with pytest.raises(ValueError, match=message):
        model.fit(X_bad)
    assert not hasattr(model, "means_")
    model.fit(X)
    means = model.means_.copy()
    with pytest.raises(ValueError, match=message):
        model.fit(X_bad)
    assert_array_equal(model.means_, means)  # a failed fit keeps the model
    for method in ("predict", "predict_proba", "score_samples", "score", "impute"):
        with pytest.raises(ValueError, match=message):
            getattr(model, method)(X_bad)
    with pytest.raises(ValueError, match=message):
        model.partial_fit(X_bad)

    X_inf = X.copy()
    X_inf[9, 2] = np.inf
    for call in (model.fit, model.predict, model.impute):
        with pytest.raises(ValueError, match="Input X contains infinity"):
            call(X_inf)

    X_column = np.where(np.isnan(X), 0.0, X)
    X_column[:, 2] = np.nan
    with pytest.raises(ValueError, match="no observed value in column 2"):
        GaussianMixture(2, missing="marginalize").fit(X_column)
    weights = np.ones(len(X))
    weights[~np.isnan(X[:, 1])] = 0.0
    with pytest.raises(ValueError, match="no observed value in column 1"):
        GaussianMixture(2, missing="marginalize").fit(X, sample_weight=weights)

    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixture(2).fit(X)
    fitted = GaussianMixture(2, random_state=0).fit(X[~np.isnan(X).any(axis=1)])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fitted.predict(X)
    with pytest.raises(InvalidParameterError, match="missing"):
        GaussianMixture(2, missing="drop").fit(X)


def test_a_model_fitted_on_complete_rows_imputes(rng):
    X, params = problem(rng, "full", np.float64)
    complete = X[~np.isnan(X).any(axis=1)]
    model = GaussianMixture(3, random_state=0).fit(complete)
    expected = reference_missing.impute(X, *reference_params(model), "full")
    # an imputed value is a sum of terms of the data's size: near zero it keeps
    # their absolute rounding, not a relative one
    atol = 1e-10 * np.abs(expected).max()
    assert_allclose(model.impute(X), expected, rtol=1e-10, atol=atol)


def test_sklearn_tags_allow_nan_when_marginalising():
    for missing, allow_nan in [("marginalize", True), ("error", False)]:
        tags = GaussianMixture(missing=missing).__sklearn_tags__()
        assert tags.input_tags.allow_nan is allow_nan
