"""PoissonMixture: kernels and EM against a numpy/scipy reference, recovery, bad input.

The ``test_kernel_*`` tests are small on purpose: they also run without JIT
(``NUMBA_DISABLE_JIT=1 pytest tests/test_poisson.py -k kernel``) so that coverage
sees the kernel bodies. Data are drawn fresh for every test.
"""

import copy
import io
import os
import pickle
import tracemalloc
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import gammaln, logsumexp
from scipy.stats import poisson
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import emfast
from emfast import PoissonMixture, _chunks
from emfast.mixture._engine.init import DenseResp
from emfast.mixture.poisson._pass import (
    MIN_RATE,
    NK_OFFSET,
    PoissonParams,
    count_summary,
    em_step,
    initial_params,
    poisson_pass,
    poisson_score,
    update,
)
from emfast.rows import ArrayRows

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-10, np.float32: 2e-4}
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]


# ---------------------------------------------------------------- references
def reference_weighted_log_prob(X, weights, rates):
    """``log w_k + sum_l log Poisson(x_l | rate_kl)``, shape (n_samples, K)."""
    log_pmf = poisson.logpmf(np.asarray(X, float)[:, None, :], rates[None])
    return np.log(weights) + log_pmf.sum(axis=2)


def reference_params(X, resp, sample_weight=None):
    """The M-step on dense responsibilities (weights, rates)."""
    if sample_weight is not None:
        resp = resp * sample_weight[:, None]
    nk = resp.sum(axis=0) + NK_OFFSET
    rates = np.maximum(resp.T @ np.asarray(X, float) / nk[:, None], MIN_RATE)
    return nk / nk.sum(), rates


def reference_em_step(X, weights, rates, sample_weight=None):
    """One EM iteration: ``((weights, rates), mean log-likelihood)``."""
    wlp = reference_weighted_log_prob(X, weights, rates)
    log_norm = logsumexp(wlp, axis=1)
    resp = np.exp(wlp - log_norm[:, None])
    return reference_params(X, resp, sample_weight), np.average(
        log_norm, weights=sample_weight
    )


def reference_initial_resp(X, n_components, init_params, seed):
    """Dense initial responsibilities drawn the way scikit-learn draws them."""
    random_state = np.random.RandomState(seed)
    n_samples = X.shape[0]
    resp = np.zeros((n_samples, n_components))
    if init_params == "kmeans":
        labels = KMeans(n_components, n_init=1, random_state=random_state).fit(X)
        resp[np.arange(n_samples), labels.labels_] = 1
    elif init_params == "random":
        resp = random_state.uniform(size=(n_samples, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
    else:
        if init_params == "random_from_data":
            rows = random_state.choice(n_samples, size=n_components, replace=False)
        else:
            rows = kmeans_plusplus(X, n_components, random_state=random_state)[1]
        resp[rows, np.arange(n_components)] = 1
    return resp


def counts(rng, n_samples=181, n_features=3, n_components=3):
    """Counts from a random Poisson mixture, and that mixture's parameters."""
    rates = rng.gamma(2.0, 3.0, size=(n_components, n_features))
    weights = rng.dirichlet(np.full(n_components, 2.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    return rng.poisson(rates[labels]).astype(np.float64), weights, rates


def other_params(rng, n_components, n_features):
    """Parameters unrelated to the data: responsibilities are far from one-hot."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    return weights, rng.gamma(2.0, 3.0, size=(n_components, n_features))


def _seed(rng):
    return int(rng.integers(2**31))


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 16)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


# ------------------------------------------------------------------- kernels
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_pass_and_update_match_reference_em_step(
    rng, small_chunks, dtype, weighted
):
    X, _, _ = counts(rng)
    weights, rates = other_params(rng, 3, X.shape[1])
    sample_weight = rng.uniform(0, 2, size=X.shape[0]) if weighted else None
    data = ArrayRows(X.astype(dtype), sample_weight)
    log_factorial = count_summary(data).log_factorial
    (new_weights, new_rates), bound = em_step(
        data, PoissonParams(weights, rates), log_factorial
    )
    (ref_weights, ref_rates), ref_bound = reference_em_step(
        X, weights, rates, sample_weight
    )
    rtol = RTOL[dtype]
    assert_allclose(bound, ref_bound, rtol=rtol)
    assert_allclose(new_weights, ref_weights, rtol=rtol)
    assert_allclose(new_rates, ref_rates, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_score_matches_scipy(rng, small_chunks, dtype):
    X, _, _ = counts(rng)
    X[:5] = 0
    X[5, 0] = 1500  # beyond the log-factorial table
    weights, rates = other_params(rng, 3, X.shape[1])
    log_norm, labels, resp = poisson_score(
        X.astype(dtype), PoissonParams(weights, rates), want_resp=True
    )
    assert log_norm.dtype == dtype and resp.dtype == dtype
    wlp = reference_weighted_log_prob(X, weights, rates)
    ref_log_norm = logsumexp(wlp, axis=1)
    rtol = RTOL[dtype]
    assert_allclose(log_norm, ref_log_norm, rtol=rtol)
    assert_allclose(resp, np.exp(wlp - ref_log_norm[:, None]), atol=10 * rtol)
    top_two = np.sort(wlp, axis=1)[:, -2:]
    confident = top_two[:, 1] - top_two[:, 0] > 1e-3
    assert_array_equal(labels[confident], wlp.argmax(axis=1)[confident])
    _, labels_only, no_resp = poisson_score(X.astype(dtype), (weights, rates))
    assert no_resp is None
    assert_array_equal(labels_only, labels)


def test_kernel_initial_statistics_match_numpy(rng, small_chunks):
    X, _, _ = counts(rng, n_samples=97)
    resp = rng.uniform(size=(X.shape[0], 3))
    resp /= resp.sum(axis=1, keepdims=True)
    sample_weight = rng.integers(0, 3, size=X.shape[0]).astype(float)
    weights, rates = initial_params(ArrayRows(X, sample_weight), DenseResp(resp))
    ref_weights, ref_rates = reference_params(X, resp, sample_weight)
    assert_allclose(weights, ref_weights, rtol=1e-12)
    assert_allclose(rates, ref_rates, rtol=1e-12)


def test_kernel_count_summary(rng, small_chunks):
    X, _, _ = counts(rng, n_samples=70)
    X[3, 1] = 1023  # the last table entry
    X[4, 2] = 1024  # the first computed by lgamma
    X[9, 0] = 1e6
    sample_weight = rng.uniform(0, 2, size=X.shape[0])
    summary = count_summary(ArrayRows(X, sample_weight))
    assert summary.n_negative == summary.n_too_large == summary.n_fractional == 0
    ref = sample_weight @ gammaln(X + 1).sum(axis=1)
    assert_allclose(summary.log_factorial, ref, rtol=1e-12)

    X[[2, 40, 41], [0, 1, 2]] = [-1.0, -0.5, -3.0]
    X[[50, 60], [1, 1]] = [0.5, 2.25]
    X[[61, 62, 63, 64], [0, 0, 0, 2]] = [2.0**53, 1e19, 2.0**64, 3e38]
    X[65, 1] = 2.0**53 - 1  # the largest count
    for dtype in DTYPES:  # float32: 2**53 - 1 rounds up to 2**53
        summary = count_summary(ArrayRows(X.astype(dtype)))
        too_large = 4 + (dtype == np.float32)
        assert (summary.n_negative, summary.n_too_large, summary.n_fractional) == (
            3,
            too_large,
            2,
        )


def test_kernel_weights_equal_repeated_rows_and_zero_drops(rng, small_chunks):
    X, _, _ = counts(rng, n_samples=60)
    params = PoissonParams(*other_params(rng, 3, X.shape[1]))
    repeats = rng.integers(0, 4, size=X.shape[0])
    weighted = poisson_pass(ArrayRows(X, repeats.astype(float)), params)
    repeated = poisson_pass(ArrayRows(np.repeat(X, repeats, axis=0)), params)
    dropped = poisson_pass(
        ArrayRows(X[repeats > 0], repeats[repeats > 0] * 1.0), params
    )
    for other in (repeated, dropped):
        assert weighted.weight_sum == other.weight_sum
        assert_allclose(weighted.log_norm, other.log_norm, rtol=1e-12)
        assert_allclose(weighted.nk, other.nk, rtol=1e-12)
        assert_allclose(weighted.s1, other.s1, rtol=1e-12)


def test_kernel_zero_rates_give_no_nan(small_chunks):
    """0 log 0 = 0: a zero rate with a zero count is probability 1, never NaN."""
    X = np.array([[0.0, 3.0], [2.0, 0.0], [0.0, 0.0]] * 7)
    params = PoissonParams(np.array([0.5, 0.5]), np.array([[0.0, 2.0], [1.0, 0.0]]))
    log_norm, labels, resp = poisson_score(X, params, want_resp=True)
    assert not np.isnan(log_norm).any() and not np.isnan(resp).any()
    assert_array_equal(labels[:3], [0, 1, 1])
    assert_allclose(resp[:2], [[1, 0], [0, 1]])
    expected = [poisson.logpmf(3, 2), poisson.logpmf(2, 1), np.logaddexp(-2, -1)]
    assert_allclose(log_norm[:3], np.log(0.5) + np.array(expected), rtol=1e-12)

    stats = poisson_pass(ArrayRows(X), params)
    assert np.isfinite(stats.log_norm) and np.isfinite(stats.s1).all()
    rates = update(stats).rates
    assert rates.min() == MIN_RATE and np.isfinite(np.log(rates)).all()


# ---------------------------------------------------------------- estimator
@parametrize_with_checks(
    [PoissonMixture()],
    expected_failed_checks=lambda estimator: {
        "check_sample_weight_equivalence_on_dense_data": (
            "feeds non-integer floats (rng.rand); tested on counts in test_poisson.py"
        )
    },
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_em_path_matches_reference(rng, init_params):
    X, _, _ = counts(rng, n_samples=300)
    seed = _seed(rng)
    start = PoissonMixture(3, init_params=init_params, random_state=seed, max_iter=0)
    start.fit(X.astype(np.int64))  # integer input is converted to float64
    resp = reference_initial_resp(X, 3, init_params, seed)
    weights, rates = reference_params(X, resp)
    assert_allclose(start.weights_, weights, rtol=1e-12)
    assert_allclose(start.rates_, rates, rtol=1e-12)

    with pytest.warns(ConvergenceWarning):
        pm = PoissonMixture(
            3, init_params=init_params, random_state=seed, max_iter=8, tol=0
        ).fit(X)
    bounds = []
    for _ in range(8):
        (weights, rates), bound = reference_em_step(X, weights, rates)
        bounds.append(bound)
    assert pm.n_iter_ == 8 and not pm.converged_
    assert_allclose(pm.lower_bounds_, bounds, rtol=1e-10)
    assert pm.lower_bound_ == pm.lower_bounds_[-1]
    assert_allclose(pm.weights_, weights, rtol=1e-9)
    assert_allclose(pm.rates_, rates, rtol=1e-9)


@pytest.mark.parametrize("n_features", [1, 3])
def test_recovers_simulated_parameters(rng, n_features):
    n_samples = 10_000
    labels = (rng.uniform(size=n_samples) < 0.7).astype(int)  # 30 % / 70 %
    X = rng.poisson(np.array([2.0, 10.0])[labels][:, None], (n_samples, n_features))
    pm = PoissonMixture(2, random_state=_seed(rng), tol=1e-6).fit(X)
    order = np.argsort(pm.rates_[:, 0])
    assert pm.converged_
    # measured spread over seeds: weights 0.005, rates 1.9 % (2) and 0.4 % (10)
    assert_allclose(pm.weights_[order], [0.3, 0.7], atol=0.03)
    relative_error = pm.rates_[order] / np.array([[2.0], [10.0]]) - 1
    assert np.all(np.abs(relative_error) < [[0.10], [0.025]]), pm.rates_
    accuracy = np.mean(np.argsort(order)[pm.predict(X)] == labels)
    # the Bayes classifier's accuracy is 0.964 (1 feature) and 0.9989 (3)
    assert accuracy > (0.95 if n_features == 1 else 0.995)


def test_sample_weights_equal_repeated_and_dropped_rows(rng):
    X, _, _ = counts(rng, n_samples=120)
    repeats = rng.integers(0, 4, size=X.shape[0])
    warm = PoissonMixture(3, init_params="random", random_state=_seed(rng))
    warm.set_params(warm_start=True, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X)  # the common starting point
        weighted, repeated, dropped = (copy.deepcopy(warm) for _ in range(3))
        weighted.fit(X, sample_weight=repeats)
        repeated.fit(np.repeat(X, repeats, axis=0))
        dropped.fit(X[repeats > 0], sample_weight=repeats[repeats > 0])
    for other in (repeated, dropped):
        assert_allclose(weighted.lower_bounds_, other.lower_bounds_, rtol=1e-12)
        assert_allclose(weighted.weights_, other.weights_, rtol=1e-12)
        assert_allclose(weighted.rates_, other.rates_, rtol=1e-12)
    assert_allclose(
        weighted.score(X, sample_weight=repeats),
        weighted.score(np.repeat(X, repeats, axis=0)),
        rtol=1e-12,
    )
    labels = PoissonMixture(3, random_state=0).fit_predict(X, sample_weight=repeats)
    assert labels.shape == (X.shape[0],)


NEGATIVE = np.array([[1, 2], [3, -1], [0, 4]] * 3, dtype=float)
FRACTIONAL = np.array([[1, 2], [3, 0.5], [0, 4]] * 3)
BAD_COUNTS = {
    "negative": (NEGATIVE, r"Negative values in data passed to PoissonMixture.*"
                 r"3 negative value\(s\), e.g. X\[1, 1\] = -1.0"),
    "non-integer": (FRACTIONAL, r"expects counts \(non-negative integers\).*"
                    r"3 non-integer value\(s\), e.g. X\[1, 1\] = 0.5"),
    "nan": (np.where(NEGATIVE < 0, np.nan, NEGATIVE), "Input X contains NaN"),
    "inf": (np.where(NEGATIVE < 0, np.inf, NEGATIVE), "Input X contains infinity"),
    "1-d": (np.arange(6.0), "Expected 2D array, got 1D array"),
    "3-d": (np.ones((4, 2, 2)), "Found array with dim 3"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_COUNTS)
def test_bad_counts_raise_and_keep_the_model(case):
    X, message = BAD_COUNTS[case]
    pm = PoissonMixture(2, random_state=0).fit(np.abs(NEGATIVE))
    rates = pm.rates_.copy()
    with pytest.raises(ValueError, match=message):
        pm.fit(X)
    assert_array_equal(pm.rates_, rates)
    if X.ndim == 2:
        for method in ("predict", "predict_proba", "score_samples", "score"):
            with pytest.raises(ValueError, match=message):
                getattr(pm, method)(X)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(X=np.ones((3, 2)), n_components=4), "Expected n_samples >= n_comp"),
        (
            dict(sample_weight=-np.ones(9)),
            "Negative values in data passed to `sample_weight`",
        ),
        (dict(sample_weight=np.zeros(9)), "Sample weights must contain at least"),
        (dict(sample_weight=np.ones(5)), r"sample_weight.shape == \(5,\)"),
        (dict(n_components=0), "The 'n_components' parameter"),
        (dict(init_params="kmeans++"), "The 'init_params' parameter"),
    ],
)
def test_bad_arguments(kwargs, message):
    X = kwargs.pop("X", np.abs(NEGATIVE))
    sample_weight = kwargs.pop("sample_weight", None)
    with pytest.raises(ValueError, match=message):
        PoissonMixture(**kwargs).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize(
    "method",
    ["predict", "predict_proba", "score_samples", "score", "sample", "bic", "aic"],
)
def test_not_fitted_and_wrong_feature_count(method):
    argument = 1 if method == "sample" else np.ones((5, 2))
    with pytest.raises(NotFittedError, match="This PoissonMixture instance is not"):
        getattr(PoissonMixture(2), method)(argument)
    if method != "sample":
        pm = PoissonMixture(2, random_state=0).fit(np.abs(NEGATIVE))
        with pytest.raises(ValueError, match="X has 3 features, but PoissonMixture"):
            getattr(pm, method)(np.ones((5, 3)))


def test_collapsed_rates_are_floored_without_nan(rng):
    """A component with only zero counts in a feature gets rate MIN_RATE."""
    X = np.vstack([
        np.column_stack([np.zeros(50), rng.poisson(5.0, 50)]),
        rng.poisson(30.0, size=(50, 2)),
    ])  # fmt: skip
    pm = PoissonMixture(2, random_state=_seed(rng)).fit(X)
    assert pm.rates_.min() == MIN_RATE
    new = np.array([[0, 4], [3, 4], [9, 9]])
    for values in (pm.score_samples(new), pm.predict_proba(new), pm.lower_bound_):
        assert np.isfinite(values).all()
    zeros = PoissonMixture(2, init_params="random", random_state=0)
    zeros.fit(np.zeros((20, 3)))
    assert_array_equal(zeros.rates_, MIN_RATE)
    assert np.isfinite(zeros.lower_bound_) and zeros.lower_bound_ > -1e-8
    assert_allclose(zeros.predict_proba(np.zeros((2, 3))).sum(axis=1), 1.0)


def test_bit_identical_with_one_and_two_threads(rng, monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 64)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 4)
    X, _, _ = counts(rng, n_samples=3000, n_features=4, n_components=4)
    seed = _seed(rng)
    fits = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            pm = PoissonMixture(4, init_params="random", random_state=seed, tol=0)
            pm.set_params(max_iter=5)
            with pytest.warns(ConvergenceWarning):
                pm.fit(X)
            fits.append((pm, pm.score_samples(X), pm.predict_proba(X)))
    (one, scores_one, proba_one), (two, scores_two, proba_two) = fits
    assert_array_equal(one.rates_, two.rates_)
    assert_array_equal(one.weights_, two.weights_)
    assert one.lower_bounds_ == two.lower_bounds_
    assert_array_equal(scores_one, scores_two)
    assert_array_equal(proba_one, proba_two)


def test_float32_stays_float32_and_matches_float64(rng):
    X, _, _ = counts(rng, n_samples=1000)
    pm = PoissonMixture(3, init_params="random_from_data", random_state=_seed(rng))
    pm.set_params(max_iter=10, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit64 = copy.deepcopy(pm).fit(X)
        fit32 = pm.fit(X.astype(np.float32))
    assert fit32.rates_.dtype == fit32.weights_.dtype == np.float32
    assert fit32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert fit32.score_samples(X.astype(np.float32)).dtype == np.float32
    assert_allclose(fit32.lower_bounds_, fit64.lower_bounds_, rtol=1e-5)
    assert_allclose(fit32.rates_, fit64.rates_, rtol=1e-4)


def test_sample_is_reproducible_counts(rng):
    X, _, _ = counts(rng, n_samples=400)
    pm = PoissonMixture(3, random_state=_seed(rng)).fit(X)
    drawn, labels = pm.sample(30_000)
    again, labels_again = pm.sample(30_000)
    assert_array_equal(drawn, again)
    assert_array_equal(labels, labels_again)
    assert drawn.dtype == labels.dtype == np.int64 and drawn.shape == (30_000, 3)
    assert np.all(np.diff(labels) >= 0)
    assert_allclose(np.bincount(labels, minlength=3) / 30_000, pm.weights_, atol=0.02)
    for k in range(3):
        rates = pm.rates_[k]
        standard_error = np.sqrt(rates / max(np.sum(labels == k), 1))
        assert np.all(np.abs(drawn[labels == k].mean(axis=0) - rates) < 5 * (
            standard_error + 1e-3))  # fmt: skip
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        pm.sample(0)


def test_information_criteria(rng):
    X, _, _ = counts(rng, n_samples=200)
    pm = PoissonMixture(3, random_state=_seed(rng)).fit(X)
    log_likelihood = pm.score_samples(X).sum()
    n_parameters = 3 * 3 + 2
    assert_allclose(pm.score(X), log_likelihood / 200, rtol=1e-12)
    assert_allclose(pm.aic(X), -2 * log_likelihood + 2 * n_parameters, rtol=1e-12)
    assert_allclose(
        pm.bic(X), -2 * log_likelihood + n_parameters * np.log(200), rtol=1e-12
    )


def test_warm_start_continues_the_same_path(rng):
    X, _, _ = counts(rng, n_samples=300)
    kwargs = dict(n_components=3, random_state=_seed(rng), tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold = PoissonMixture(max_iter=6, **kwargs).fit(X)
        warm = PoissonMixture(max_iter=3, warm_start=True, **kwargs).fit(X).fit(X)
    assert_allclose(warm.lower_bounds_, cold.lower_bounds_[3:], rtol=1e-12)
    assert_allclose(warm.rates_, cold.rates_, rtol=1e-12)
    with pytest.raises(ValueError, match="features"):
        warm.fit(X[:, :2])
    assert_allclose(warm.rates_, cold.rates_, rtol=1e-12)


def test_verbose_fit_predict_and_pickle(rng):
    X, _, _ = counts(rng, n_samples=200)
    seed = _seed(rng)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        pm = PoissonMixture(3, random_state=seed, n_init=2, verbose=2)
        labels = pm.set_params(verbose_interval=1).fit_predict(X)
    assert "Initialization 1" in buffer.getvalue()
    assert "Iteration 2\t time lapse" in buffer.getvalue()
    assert_array_equal(labels, PoissonMixture(3, random_state=seed, n_init=2)
                       .fit(X).predict(X))  # fmt: skip
    clone = pickle.loads(pickle.dumps(pm))
    assert_array_equal(clone.rates_, pm.rates_)
    assert_array_equal(clone.predict_proba(X), pm.predict_proba(X))


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="too slow as plain Python"
)
def test_fit_memory_does_not_grow_with_samples_times_components(rng):
    n_samples, n_components = 100_000, 32
    X = rng.poisson(rng.uniform(0, 20, size=(2 * n_samples, 2))).astype(np.float64)
    pm = PoissonMixture(n_components, init_params="random_from_data", random_state=0)
    pm.set_params(max_iter=3, tol=0)
    peaks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pm.fit(X[:1000])  # compile outside the measurement
        for rows in (n_samples, 2 * n_samples):
            X_rows = np.ascontiguousarray(X[:rows])
            tracemalloc.start()
            try:
                pm.fit(X_rows)
                peaks.append(tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
    n_by_k = n_samples * n_components * 8  # one (n, K) float64 array
    assert peaks[1] - peaks[0] < n_by_k / 20, (peaks, n_by_k)
