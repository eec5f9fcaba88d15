"""Draws from a BayesianGaussianMixture's variational posterior, and the
membership intervals they give (emfast.mixture._posterior_draws).

Moments of the draws are compared with those of the posterior factors
(Dirichlet, Beta sticks, Wishart, Gamma, Normal) to a Monte-Carlo tolerance of
``Z`` standard errors estimated from the draws themselves; the intervals with a
plain numpy computation on the same draws.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import digamma
from sklearn.exceptions import NotFittedError
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

from emfast.datasets import load_wine_tutorial
from emfast.mixture.bayesian import BayesianGaussianMixture, _posterior_draws
from emfast.mixture.bayesian._posterior_draws import (
    predict_proba_interval,
    sample_posterior,
)
from tests.reference import e_step

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
N_DRAWS = 20_000  # Monte-Carlo draws of the moment tests
Z = 5.0  # standard errors allowed (about 6e-7 two-sided per comparison)
NEW_BOTTLES = np.array([[1.6, 2.9], [4.2, 1.5], [2.5, 2.2]])  # the demo's bottles
ON_THE_FENCE, CERTAIN = 2, 1


def _seed(rng):
    return int(rng.integers(2**31))


def _blobs(rng, n_samples=150, n_features=3, n_components=3):
    centers = 8.0 * np.eye(n_components, n_features) + rng.normal(size=n_features)
    labels = np.arange(n_samples) % n_components
    scales = rng.uniform(0.5, 1.5, size=(n_components, n_features))
    return centers[labels] + rng.normal(size=(n_samples, n_features)) * scales[labels]


def _fit(rng, covariance_type, prior_type, n_components=3, n_blobs=None, **kwargs):
    X = _blobs(rng, n_components=n_components if n_blobs is None else n_blobs)
    return BayesianGaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=_seed(rng),
        **kwargs,
    ).fit(X)


def assert_mean(samples, expected, abs_tol=1e-12):
    """The mean of ``samples`` (draws on axis 0) is ``expected`` to Z s.e."""
    samples = np.asarray(samples, dtype=np.float64)
    error = np.abs(samples.mean(axis=0) - expected)
    standard_error = samples.std(axis=0) / np.sqrt(samples.shape[0])
    assert np.all(error <= Z * standard_error + abs_tol), (error, standard_error)


def _precision_matrices(draws, covariance_type, n_features):
    """(S, K or 1, D, D) precisions of the draws, whatever the layout."""
    chol = draws.precisions_cholesky
    if covariance_type in ("full", "tied"):
        chol = chol if covariance_type == "full" else chol[:, None]
        return chol @ np.swapaxes(chol, -1, -2)
    if covariance_type == "diag":
        return chol[..., None] ** 2 * np.eye(n_features)
    return chol[..., None, None] ** 2 * np.eye(n_features)


# ----------------------------------------------------------------- the draws
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_draws_have_the_layout_of_the_fitted_arrays(rng, covariance_type, prior_type):
    model = _fit(rng, covariance_type, prior_type)
    draws = sample_posterior(model, 7, random_state=_seed(rng))
    assert draws.weights.shape == draws.log_weights.shape == (7, 3)
    assert draws.means.shape == (7, 3, 3)
    assert draws.precisions_cholesky.shape == (7, *model.precisions_cholesky_.shape)
    assert_allclose(draws.weights.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(np.exp(draws.log_weights), draws.weights, rtol=1e-12)
    if covariance_type in ("full", "tied"):  # upper triangular, positive diagonal
        chol = draws.precisions_cholesky
        assert_array_equal(np.tril(chol, k=-1), 0.0)
        assert np.all(np.diagonal(chol, axis1=-2, axis2=-1) > 0)
    else:
        assert np.all(draws.precisions_cholesky > 0)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_weight_draws_match_the_posterior(rng, prior_type):
    model = _fit(rng, "full", prior_type)
    draws = sample_posterior(model, N_DRAWS, random_state=_seed(rng))
    concentration = model.weight_concentration_
    if prior_type == "dirichlet_distribution":
        alpha = np.asarray(concentration, dtype=np.float64)
        total = alpha.sum()
        expected_log = digamma(alpha) - digamma(total)
        assert_mean(draws.weights, alpha / total)
        variance = alpha * (total - alpha) / (total**2 * (total + 1))
        assert_mean((draws.weights - alpha / total) ** 2, variance)
    else:  # sticks v_k ~ Beta(a_k, b_k), pi_k ~ v_k prod_{j<k} (1 - v_j)
        a, b = (np.asarray(c, dtype=np.float64) for c in concentration)
        log_stick = digamma(a) - digamma(a + b)
        log_rest = digamma(b) - digamma(a + b)
        expected_log = log_stick + np.concatenate(([0.0], np.cumsum(log_rest)[:-1]))
        # pi_{k+1} / pi_k = v_{k+1} (1 - v_k) / v_k, free of the normalisation
        ratio = draws.weights[:, 1:] / draws.weights[:, :-1]
        assert_mean(ratio, a[1:] / (a[1:] + b[1:]) * b[:-1] / (a[:-1] - 1.0))
    # E[log pi_k] up to the common normalisation: what the E-step adds
    assert_mean(
        draws.log_weights - draws.log_weights[:, :1],
        expected_log - expected_log[0],
    )


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_tiny_weight_concentrations_give_finite_log_weights(rng, prior_type):
    # five components for three blobs and a tiny prior: some components are
    # empty, their Gamma shapes near 1e-4 (a plain Gamma draw underflows to 0)
    model = _fit(
        rng,
        "diag",
        prior_type,
        n_components=5,
        n_blobs=3,
        weight_concentration_prior=1e-4,
    )
    draws = sample_posterior(model, N_DRAWS, random_state=_seed(rng))
    assert np.all(np.isfinite(draws.log_weights))
    assert_allclose(draws.weights.sum(axis=1), 1.0, rtol=1e-12)
    if prior_type == "dirichlet_distribution":
        alpha = np.asarray(model.weight_concentration_, dtype=np.float64)
        assert alpha.min() < 1e-3
        expected_log = digamma(alpha) - digamma(alpha.sum())
        assert_mean(
            draws.log_weights - draws.log_weights[:, :1],
            expected_log - expected_log[0],
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precision_draws_match_the_posterior(rng, covariance_type):
    model = _fit(rng, covariance_type, "dirichlet_process")
    n_features = model.means_.shape[1]
    draws = sample_posterior(model, N_DRAWS, random_state=_seed(rng))
    precisions = _precision_matrices(draws, covariance_type, n_features)
    expected = np.asarray(model.precisions_, dtype=np.float64)  # E[Lambda] = nu W
    nu = np.asarray(model.degrees_of_freedom_, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        expected = expected if covariance_type == "full" else expected[None]
        nu = np.atleast_1d(nu)
        scale = expected / nu[:, None, None]  # W
        assert_mean(precisions, expected)
        # Wishart: Var(Lambda_ij) = nu (W_ij^2 + W_ii W_jj)
        diagonal = np.diagonal(scale, axis1=1, axis2=2)
        variance = nu[:, None, None] * (
            scale**2 + diagonal[:, :, None] * diagonal[:, None, :]
        )
        assert_mean((precisions - expected) ** 2, variance)
        # E[log det Lambda], as the E-step takes it
        log_det = np.linalg.slogdet(precisions)[1]
        expected_log_det = (
            digamma(0.5 * (nu[:, None] - np.arange(n_features))).sum(axis=1)
            + n_features * np.log(2.0)
            + np.linalg.slogdet(scale)[1]
        )
        assert_mean(log_det, expected_log_det)
    else:  # Gamma(nu / 2, rate nu / (2 E[lambda])): Var = 2 E[lambda]^2 / nu
        values = draws.precisions_cholesky**2
        nu = nu if covariance_type == "spherical" else nu[:, None]
        assert_mean(values, expected)
        assert_mean((values - expected) ** 2, 2.0 * expected**2 / nu)
        assert_mean(np.log(values), digamma(0.5 * nu) - np.log(0.5 * nu / expected))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mean_draws_match_the_posterior(rng, covariance_type):
    model = _fit(rng, covariance_type, "dirichlet_distribution")
    n_features = model.means_.shape[1]
    draws = sample_posterior(model, N_DRAWS, random_state=_seed(rng))
    means = np.asarray(model.means_, dtype=np.float64)
    beta = np.asarray(model.mean_precision_, dtype=np.float64)
    offsets = draws.means - means
    assert_mean(draws.means, means)
    # given its precision draw, sqrt(beta_k) (mu_k - m_k) whitened is N(0, I)
    precisions = _precision_matrices(draws, covariance_type, n_features)
    factors = np.linalg.cholesky(precisions)  # Lambda = L L^T
    white = np.sqrt(beta)[:, None] * np.einsum("skd,skde->ske", offsets, factors)
    assert_mean(white, 0.0)
    assert_mean(white[..., :, None] * white[..., None, :], np.eye(n_features))
    # marginally (a Student t): Cov(mu_k) = E[Lambda^-1] / beta_k
    nu = np.asarray(model.degrees_of_freedom_, dtype=np.float64)
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        # E[Lambda^-1] = W^-1 / (nu - D - 1), with W^-1 = nu C
        nu = nu if covariance_type == "tied" else nu[:, None, None]
        inverse_mean = nu * covariances / (nu - n_features - 1)
        expected = inverse_mean / beta[:, None, None]
        assert_mean(offsets[..., :, None] * offsets[..., None, :], expected)
    else:  # E[1 / lambda] = nu C / (nu - 2)
        expected = nu * covariances / (nu - 2.0)
        expected = expected[:, None] if covariance_type == "spherical" else expected
        assert_mean(offsets**2, np.broadcast_to(expected / beta[:, None], means.shape))


def test_draws_are_reproducible(rng):
    model = _fit(rng, "full", "dirichlet_process")
    seed = _seed(rng)
    first = sample_posterior(model, 300, random_state=seed)
    again = sample_posterior(model, 300, random_state=np.random.RandomState(seed))
    other = sample_posterior(model, 300, random_state=seed + 1)
    for a, b, c in zip(first, again, other):
        assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    X = model.means_ + 1.0
    assert_array_equal(
        np.stack(predict_proba_interval(model, X, n_draws=300, random_state=seed)),
        np.stack(predict_proba_interval(model, X, n_draws=300, random_state=seed)),
    )


# -------------------------------------------------------------- the intervals
def _reference_interval(model, X, level, n_draws, seed):
    """Mean and equal-tailed interval of the draws' memberships, plain numpy."""
    draws = sample_posterior(model, n_draws, random_state=seed)
    proba = np.stack(
        [
            e_step(X, w, m, chol, model.covariance_type)[1]
            for w, m, chol in zip(draws.weights, draws.means, draws.precisions_cholesky)
        ]
    )
    tail = 0.5 * (1.0 - level)
    lower, upper = np.quantile(proba, [tail, 1.0 - tail], axis=0)
    return proba.mean(axis=0), lower, upper


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [2, 7])  # 7: the GEMM scoring kernel
def test_interval_matches_a_numpy_computation(rng, covariance_type, n_features):
    X = _blobs(rng, n_samples=120, n_features=n_features)
    model = BayesianGaussianMixture(
        n_components=3, covariance_type=covariance_type, random_state=_seed(rng)
    ).fit(X)
    rows = np.vstack([X[:20], rng.normal(scale=6.0, size=(20, n_features))])
    seed = _seed(rng)
    ours = predict_proba_interval(
        model, rows, level=0.8, n_draws=300, random_state=seed
    )
    reference = _reference_interval(model, rows, 0.8, 300, seed)
    for got, expected in zip(ours, reference):
        assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_interval_is_the_same_in_small_chunks(rng, monkeypatch):
    """Rows in many chunks, and the draws made again batch by batch for each
    chunk (three batches here), change nothing."""
    model = _fit(rng, "full", "dirichlet_process")
    rows = rng.normal(scale=6.0, size=(50, 3))
    seed = _seed(rng)
    whole = predict_proba_interval(model, rows, n_draws=700, random_state=seed)
    monkeypatch.setattr(_posterior_draws, "BUFFER_BYTES", 8 * 700 * 3 * 7)
    chunked = predict_proba_interval(model, rows, n_draws=700, random_state=seed)
    for got, expected in zip(chunked, whole):
        assert_array_equal(got, expected)


def test_far_rows_are_scored_draw_by_draw(rng, monkeypatch):
    """Where the draws disagree by hundreds of nats, the stacked scoring would
    underflow; those rows are scored again one draw at a time."""
    model = _fit(rng, "diag", "dirichlet_distribution")
    rows = model.means_[0] + np.outer([3.0, 30.0, 300.0, 3e4], rng.normal(size=3))
    calls = []
    score = _posterior_draws.gaussian_score

    def counting_score(X, params, *args, **kwargs):
        calls.append(params[1].shape[0])
        return score(X, params, *args, **kwargs)

    monkeypatch.setattr(_posterior_draws, "gaussian_score", counting_score)
    seed = _seed(rng)
    ours = predict_proba_interval(model, rows, n_draws=200, random_state=seed)
    assert 3 in calls  # some draws were scored on their own
    reference = _reference_interval(model, rows, 0.9, 200, seed)
    for got, expected in zip(ours, reference):
        assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_intervals_nest_and_hold_probabilities(rng, covariance_type):
    model = _fit(rng, covariance_type, "dirichlet_process")
    rows = rng.normal(loc=model.means_.mean(axis=0), scale=5.0, size=(60, 3))
    seed = _seed(rng)
    intervals = {
        level: predict_proba_interval(model, rows, level, 400, random_state=seed)
        for level in (0.5, 0.9, 0.99, 1.0)
    }
    mean = intervals[0.5][0]
    assert_allclose(mean.sum(axis=1), 1.0, rtol=1e-12)
    for level, (same_mean, lower, upper) in intervals.items():
        assert_array_equal(same_mean, mean)
        assert np.all((lower >= 0) & (upper <= 1) & (lower <= upper)), level
    for narrow, wide in ((0.5, 0.9), (0.9, 0.99), (0.99, 1.0)):
        assert np.all(intervals[wide][1] <= intervals[narrow][1])
        assert np.all(intervals[narrow][2] <= intervals[wide][2])
    # the mean always lies within the range of the draws (level 1) ...
    assert np.all((intervals[1.0][1] <= mean) & (mean <= intervals[1.0][2]))


def test_mean_can_lie_outside_an_equal_tailed_interval(rng):
    # ... but not always inside an equal-tailed interval: a membership near 0
    # has a right-skewed distribution over the draws, whose mean exceeds the
    # median and, for the most skewed rows, the upper quartile
    X, _, _ = load_wine_tutorial()
    model = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    mean, lower, upper = predict_proba_interval(
        model, X, level=0.5, random_state=_seed(rng)
    )
    outside = (mean < lower) | (mean > upper)
    assert outside.any()
    # only rows whose membership is all but certain
    assert np.all(np.minimum(mean, 1.0 - mean)[outside] < 0.01)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"level": 0.0}, ValueError, "level must be in"),
        ({"level": 1.5}, ValueError, "level must be in"),
        ({"level": "0.9"}, TypeError, "level must be a float"),
        ({"n_draws": 0}, ValueError, "n_draws must be an integer"),
        ({"n_draws": 10.0}, TypeError, "n_draws must be an integer"),
    ],
)
def test_bad_arguments_are_refused(rng, kwargs, error, message):
    model = _fit(rng, "spherical", "dirichlet_process")
    with pytest.raises(error, match=message):
        predict_proba_interval(model, model.means_, **kwargs)


def test_bad_rows_and_unfitted_models_are_refused(rng):
    with pytest.raises(NotFittedError):
        sample_posterior(BayesianGaussianMixture(), 10)
    model = _fit(rng, "tied", "dirichlet_process")
    with pytest.raises(ValueError, match="expecting 3 features"):
        predict_proba_interval(model, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        predict_proba_interval(model, np.full((2, 3), np.nan))


def test_a_scikit_learn_model_gives_the_same_intervals(rng):
    X = _blobs(rng, n_features=2)
    seed = _seed(rng)
    ours = BayesianGaussianMixture(n_components=3, random_state=seed).fit(X)
    theirs = SkBayesianGaussianMixture(n_components=3, random_state=seed).fit(X)
    rows = rng.normal(loc=X.mean(axis=0), scale=4.0, size=(30, 2))
    draws = _seed(rng)
    for a, b in zip(
        predict_proba_interval(ours, rows, n_draws=200, random_state=draws),
        predict_proba_interval(theirs, rows, n_draws=200, random_state=draws),
    ):
        assert_allclose(a, b, atol=1e-6)


# --------------------------------------------------- the tutorial's question
def test_wine_bottles_intervals_nest_contain_the_mean_and_narrow(rng):
    """The issue's check on the wine data (malic acid, total phenols, K = 2)."""
    X, _, _ = load_wine_tutorial()
    model = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    seed = _seed(rng)
    mean, lower_50, upper_50 = predict_proba_interval(
        model, NEW_BOTTLES, 0.5, random_state=seed
    )
    _, lower_90, upper_90 = predict_proba_interval(
        model, NEW_BOTTLES, 0.9, random_state=seed
    )
    assert np.all((lower_90 <= lower_50) & (upper_50 <= upper_90))
    # the mean lies inside both intervals for the two uncertain bottles ...
    for bottle in (0, ON_THE_FENCE):
        for lower, upper in ((lower_50, upper_50), (lower_90, upper_90)):
            assert np.all(
                (lower[bottle] <= mean[bottle]) & (mean[bottle] <= upper[bottle])
            )
    # ... not for the certain one (membership about 1e-10 in the first
    # component, spread over orders of magnitude): its mean lies above the 50 %
    # interval, and within 1e-8 of the 90 % one
    certain = model.predict(NEW_BOTTLES[[CERTAIN]])[0]
    other = 1 - certain
    assert upper_50[CERTAIN, other] < mean[CERTAIN, other] < 1e-8
    assert upper_90[CERTAIN, other] < 1e-8
    width = upper_90 - lower_90
    assert width[ON_THE_FENCE, 0] > 0.1
    assert width[ON_THE_FENCE, 0] > 5 * width[[0, CERTAIN], 0].max()
    # twenty times the data: the on-the-fence bottle's interval narrows
    bigger = BayesianGaussianMixture(n_components=2, random_state=0).fit(
        np.tile(X, (20, 1))
    )
    _, lower_big, upper_big = predict_proba_interval(
        bigger, NEW_BOTTLES, 0.9, random_state=seed
    )
    ratio = (upper_big - lower_big)[ON_THE_FENCE, 0] / width[ON_THE_FENCE, 0]
    assert ratio < 0.6


def test_methods_are_the_module_functions(rng):
    X = rng.normal(size=(120, 2)) + np.repeat([[0.0, 0.0], [4.0, 4.0]], 60, axis=0)
    bgm = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    by_method = bgm.predict_proba_interval(X[:5], level=0.8, n_draws=50, random_state=3)
    by_function = predict_proba_interval(
        bgm, X[:5], level=0.8, n_draws=50, random_state=3
    )
    for ours, theirs in zip(by_method, by_function):
        np.testing.assert_array_equal(ours, theirs)
    draws = bgm.sample_posterior(7, random_state=1)
    again = sample_posterior(bgm, 7, random_state=1)
    for ours, theirs in zip(draws, again):
        np.testing.assert_array_equal(ours, theirs)
