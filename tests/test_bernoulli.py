"""BernoulliMixture: kernels and EM against a numpy reference, recovery, bad input.

The reference is :mod:`tests.reference_bernoulli`. The ``test_kernel_*`` tests
are small on purpose: they also run without JIT
(``NUMBA_DISABLE_JIT=1 pytest tests/test_bernoulli.py -k kernel``). Data are
drawn fresh for every test. scikit-learn's checks, input forms,
``partial_fit``, model files and Dask: ``tests/test_bernoulli_engine.py``.
"""

import copy
import doctest
import io
import os
import pickle
import tracemalloc
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import emfast
from emfast import BernoulliMixture, _chunks
from emfast.mixture._engine.init import DenseResp
from emfast.mixture.bernoulli._pass import (
    MIN_PROBABILITY,
    BernoulliParams,
    bernoulli_pass,
    bernoulli_score,
    range_summary,
    resp_pass,
    update,
)
from emfast.rows import ArrayRows
from tests import reference_bernoulli as reference
from tests.reference_bernoulli import other_params, simulate

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-10, np.float32: 2e-5}
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]


def _seed(rng):
    return int(rng.integers(2**31))


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call(*args, **kwargs)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 16 rows, blocks of 3 chunks: 181 rows end in partial ones."""
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 16)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


# ------------------------------------------------------------------- kernels
SHAPES = {"K=3, D=6": (3, 6), "K=1": (1, 6), "D=1": (3, 1), "K=1, D=1": (1, 1)}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fractional", [False, True], ids=["binary", "fractional"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_pass_and_update_match_reference_em_step(
    rng, small_chunks, dtype, weighted, fractional, shape
):
    n_components, n_features = SHAPES[shape]
    X, _, _ = simulate(rng, n_features=n_features, fractional=fractional)
    weights, probabilities = other_params(rng, n_components, n_features)
    sample_weight = rng.uniform(0, 2, size=X.shape[0]) if weighted else None
    X = X.astype(dtype)
    stats = bernoulli_pass(
        ArrayRows(X, sample_weight), BernoulliParams(weights, probabilities)
    )
    new_weights, new_probabilities = update(stats)
    (ref_weights, ref_probabilities), ref_bound = reference.em_step(
        X, weights, probabilities, sample_weight
    )
    rtol = RTOL[dtype]
    assert_allclose(stats.log_norm / stats.weight_sum, ref_bound, rtol=rtol)
    assert_allclose(new_weights, ref_weights, rtol=rtol)
    assert_allclose(new_probabilities, ref_probabilities, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_score_matches_reference(rng, small_chunks, dtype):
    X, _, _ = simulate(rng, fractional=True)
    X[:3] = 0  # rows without an active entry
    X[3] = 1
    weights, probabilities = other_params(rng, 3, X.shape[1])
    X = X.astype(dtype)
    log_norm, labels, resp = bernoulli_score(
        X, BernoulliParams(weights, probabilities), want_resp=True
    )
    assert log_norm.dtype == dtype and resp.dtype == dtype
    ref_log_norm, ref_resp = reference.log_likelihood(X, weights, probabilities)
    assert_allclose(log_norm, ref_log_norm, rtol=RTOL[dtype])
    assert_allclose(resp, ref_resp, atol=10 * RTOL[dtype])
    wlp = reference.weighted_log_prob(X, weights, probabilities)
    top_two = np.sort(wlp, axis=1)[:, -2:]
    confident = top_two[:, 1] - top_two[:, 0] > 1e-6
    assert_array_equal(labels[confident], wlp.argmax(axis=1)[confident])
    _, labels_only, no_resp = bernoulli_score(X, (weights, probabilities))
    assert no_resp is None
    assert_array_equal(labels_only, labels)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_initial_statistics_match_numpy(rng, small_chunks, dtype):
    X, _, _ = simulate(rng, n_samples=97, fractional=True)
    resp = rng.uniform(size=(X.shape[0], 3))
    resp /= resp.sum(axis=1, keepdims=True)
    resp[rng.uniform(size=resp.shape) < 0.2] = 0.0  # skipped by the kernel
    sample_weight = rng.integers(0, 3, size=X.shape[0]).astype(float)
    X = X.astype(dtype)
    stats = resp_pass(ArrayRows(X, sample_weight), DenseResp(resp), 3)
    weights, probabilities = update(stats)
    # the kernel reads resp in the rows' dtype
    ref_weights, ref_probabilities = reference.m_step(
        X, resp.astype(dtype), sample_weight
    )
    assert_allclose(weights, ref_weights, rtol=1e-12)
    assert_allclose(probabilities, ref_probabilities, rtol=1e-12)


def test_kernel_weights_equal_repeated_rows_and_zero_drops(rng, small_chunks):
    X, _, _ = simulate(rng, n_samples=60)
    params = BernoulliParams(*other_params(rng, 3, X.shape[1]))
    repeats = rng.integers(0, 4, size=X.shape[0])
    weighted = bernoulli_pass(ArrayRows(X, repeats.astype(float)), params)
    repeated = bernoulli_pass(ArrayRows(np.repeat(X, repeats, axis=0)), params)
    dropped = bernoulli_pass(
        ArrayRows(X[repeats > 0], repeats[repeats > 0] * 1.0), params
    )
    for other in (repeated, dropped):
        assert weighted.weight_sum == other.weight_sum
        assert_allclose(weighted.log_norm, other.log_norm, rtol=1e-12)
        assert_allclose(weighted.nk, other.nk, rtol=1e-12)
        assert_allclose(weighted.s1, other.s1, rtol=1e-12)


def test_kernel_extreme_probabilities_give_no_nan(small_chunks):
    """Probabilities of exactly 0 and 1 (set by hand) score as clipped ones."""
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 7)
    probabilities = np.array([[0.0, 1.0], [1.0, 0.0]])
    log_norm, labels, resp = bernoulli_score(
        X, BernoulliParams(np.array([0.5, 0.5]), probabilities), want_resp=True
    )
    assert np.isfinite(log_norm).all() and np.isfinite(resp).all()
    assert_array_equal(labels[:2], [0, 1])
    clipped = np.clip(probabilities, MIN_PROBABILITY, 1 - MIN_PROBABILITY)
    ref_log_norm, _ = reference.log_likelihood(X[:3], [0.5, 0.5], clipped)
    assert_allclose(log_norm[:3], ref_log_norm, rtol=1e-12)
    assert_allclose(log_norm[2], np.log(MIN_PROBABILITY), rtol=1e-3)  # ~ -23
    stats = bernoulli_pass(ArrayRows(X), BernoulliParams([0.5, 0.5], probabilities))
    assert np.isfinite(stats.log_norm) and np.isfinite(stats.s1).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_range_summary(rng, small_chunks, dtype):
    X = rng.uniform(size=(70, 4))
    X[[0, 1], [0, 3]] = [0.0, 1.0]  # the ends of the interval are inside
    assert range_summary(X.astype(dtype)) == (0, 0)
    X[[5, 40, 41], [1, 2, 0]] = [-1e-30, -2.0, -np.inf]
    X[[50, 60, 69], [3, 3, 1]] = [1.0 + 1e-6, np.inf, np.nan]
    assert range_summary(X.astype(dtype)) == (3, 6)


# ---------------------------------------------------------------- estimator
def test_docstring_example():
    import emfast.mixture.bernoulli as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_em_path_matches_reference(rng, init_params):
    X, _, _ = simulate(rng, n_samples=300)
    seed = _seed(rng)
    start = BernoulliMixture(3, init_params=init_params, random_state=seed)
    start.set_params(max_iter=0).fit(X.astype(np.int64))  # ints become float64
    resp = reference.initial_resp(X, 3, init_params, seed)
    weights, probabilities = reference.m_step(X, resp)
    assert_allclose(start.weights_, weights, rtol=1e-12)
    assert_allclose(start.probabilities_, probabilities, rtol=1e-12)

    with pytest.warns(ConvergenceWarning):
        bm = BernoulliMixture(
            3, init_params=init_params, random_state=seed, max_iter=8, tol=0
        ).fit(X)
    weights, probabilities, bounds = reference.fit(X, weights, probabilities, 8)
    assert bm.n_iter_ == 8 and not bm.converged_
    assert_allclose(bm.lower_bounds_, bounds, rtol=1e-10)
    assert bm.lower_bound_ == bm.lower_bounds_[-1]
    assert np.all(np.diff(bm.lower_bounds_) >= -1e-12)  # EM never goes down
    assert_allclose(bm.weights_, weights, rtol=1e-9)
    assert_allclose(bm.probabilities_, probabilities, rtol=1e-9, atol=1e-12)


def test_fractional_data_with_one_component_fit_the_mean(rng):
    """Soft data: the M-step averages the fractions, and the score is the
    cross-entropy ``x log p + (1 - x) log(1 - p)`` summed over features."""
    X, _, _ = simulate(rng, n_samples=400, fractional=True)
    sample_weight = rng.uniform(0, 2, size=X.shape[0])
    bm = BernoulliMixture(1).fit(X, sample_weight=sample_weight)
    mean = np.average(X, axis=0, weights=sample_weight)
    assert_allclose(bm.probabilities_[0], mean, rtol=1e-12)
    expected = reference.weighted_log_prob(X, [1.0], [mean])[:, 0]
    assert_allclose(bm.score_samples(X), expected, rtol=1e-12)


@pytest.mark.parametrize("n_features", [1, 20])
def test_recovers_simulated_parameters(rng, n_features):
    n_samples = 20_000
    labels = (rng.uniform(size=n_samples) < 0.7).astype(int)  # 30 % / 70 %
    probabilities = np.array([0.15, 0.75])[:, None] + np.zeros(n_features)
    probabilities[1, ::2] = 0.35  # the second component is not flat
    X = rng.uniform(size=(n_samples, n_features)) < probabilities[labels]
    # one feature: a mixture of two Bernoullis is one Bernoulli (not
    # identifiable); only the marginal probability is determined
    bm = BernoulliMixture(2, random_state=_seed(rng), tol=1e-8, max_iter=500)
    bm.fit(X)
    if n_features == 1:
        marginal = bm.weights_ @ bm.probabilities_[:, 0]
        assert_allclose(marginal, 0.3 * 0.15 + 0.7 * 0.35, atol=0.015)
        return
    assert bm.converged_
    order = np.argsort(bm.weights_)
    # standard errors: weights 0.003, probabilities 0.005 (0.15) and 0.004
    assert_allclose(bm.weights_[order], [0.3, 0.7], atol=0.015)
    assert_allclose(bm.probabilities_[order], probabilities, atol=0.025)
    accuracy = np.mean(np.argsort(order)[bm.predict(X)] == labels)
    assert accuracy > 0.96  # the Bayes classifier's is about 0.98


def test_sample_weights_equal_repeated_and_dropped_rows(rng):
    X, _, _ = simulate(rng, n_samples=120)
    repeats = rng.integers(0, 4, size=X.shape[0])
    warm = BernoulliMixture(3, init_params="random", random_state=_seed(rng))
    warm.set_params(warm_start=True, max_iter=3, tol=0)
    _quiet(warm.fit, X)  # the common starting point
    weighted, repeated, dropped = (copy.deepcopy(warm) for _ in range(3))
    _quiet(weighted.fit, X, sample_weight=repeats)
    _quiet(repeated.fit, np.repeat(X, repeats, axis=0))
    _quiet(dropped.fit, X[repeats > 0], sample_weight=repeats[repeats > 0])
    for other in (repeated, dropped):
        assert_allclose(weighted.lower_bounds_, other.lower_bounds_, rtol=1e-12)
        assert_allclose(weighted.weights_, other.weights_, rtol=1e-12)
        assert_allclose(weighted.probabilities_, other.probabilities_, rtol=1e-12)
    assert_allclose(
        weighted.score(X, sample_weight=repeats),
        weighted.score(np.repeat(X, repeats, axis=0)),
        rtol=1e-12,
    )


def test_boolean_and_integer_rows_equal_float_rows(rng):
    X, _, _ = simulate(rng, n_samples=200)
    fits = [
        BernoulliMixture(3, random_state=0).fit(X.astype(dtype))
        for dtype in (bool, np.int8, np.float64)
    ]
    for fit in fits[:2]:
        assert fit.probabilities_.dtype == np.float64
        assert_array_equal(fit.probabilities_, fits[2].probabilities_)
    assert_array_equal(fits[0].predict(X > 0), fits[2].predict(X))


BASE = np.array([[1, 0], [1, 1], [0, 1]] * 3, dtype=float)
BAD_ROWS = {
    "negative": (np.where(BASE == 0, -0.5, BASE), r"^Negative values in data "
                 r"passed to BernoulliMixture.*6 negative value\(s\), e\.g\. "
                 r"X\[0, 1\] = -0.5\.$"),
    "above one": (BASE * 2, r"^BernoulliMixture expects binary data in \[0, 1\], "
                  r"but X has 12 value\(s\) outside it, e\.g\. X\[0, 0\] = 2.0\.$"),
    "nan": (np.where(BASE == 0, np.nan, BASE), "Input X contains NaN"),
    "inf": (np.where(BASE == 0, np.inf, BASE), "Input X contains infinity"),
    "1-d": (np.ones(6), "Expected 2D array, got 1D array"),
    "3-d": (np.ones((4, 2, 2)), "Found array with dim 3"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_rows_raise_and_keep_the_model(case):
    X, message = BAD_ROWS[case]
    bm = BernoulliMixture(2, random_state=0).fit(BASE)
    probabilities = bm.probabilities_.copy()
    with pytest.raises(ValueError, match=message):
        bm.fit(X)
    with pytest.raises(ValueError, match=message):
        bm.partial_fit(X)
    assert_array_equal(bm.probabilities_, probabilities)
    if X.ndim == 2:
        for method in ("predict", "predict_proba", "score_samples", "score"):
            with pytest.raises(ValueError, match=message):
                getattr(bm, method)(X)


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
        (dict(tol=-1.0), "The 'tol' parameter"),
    ],
)
def test_bad_arguments(kwargs, message):
    X = kwargs.pop("X", BASE)
    sample_weight = kwargs.pop("sample_weight", None)
    with pytest.raises(ValueError, match=message):
        BernoulliMixture(**kwargs).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize(
    "method",
    ["predict", "predict_proba", "score_samples", "score", "sample", "bic", "aic"],
)
def test_not_fitted_and_wrong_feature_count(method):
    argument = 1 if method == "sample" else np.ones((5, 2))
    with pytest.raises(NotFittedError, match="This BernoulliMixture instance is not"):
        getattr(BernoulliMixture(2), method)(argument)
    if method != "sample":
        bm = BernoulliMixture(2, random_state=0).fit(BASE)
        with pytest.raises(ValueError, match="X has 3 features, but BernoulliMixture"):
            getattr(bm, method)(np.ones((5, 3)))


def test_constant_features_are_clipped_without_nan(rng):
    """A feature that is always 0 (or 1) in a component's rows gets probability
    MIN_PROBABILITY (1 - MIN_PROBABILITY) there; other rows stay finite."""
    X = np.vstack([
        np.column_stack([np.zeros(50), np.ones(50), rng.uniform(size=50) < 0.5]),
        np.column_stack([np.ones(50), np.zeros(50), rng.uniform(size=50) < 0.5]),
    ])  # fmt: skip
    # n_init: one start may split the rows on the random third column instead
    bm = BernoulliMixture(2, n_init=5, random_state=_seed(rng)).fit(X)
    assert bm.probabilities_.min() == MIN_PROBABILITY
    assert bm.probabilities_.max() == 1 - MIN_PROBABILITY
    new = np.array([[0, 0, 1], [1, 1, 0], [1, 0, 1]])
    for values in (bm.score_samples(new), bm.predict_proba(new), bm.lower_bound_):
        assert np.isfinite(values).all()
    # a row that neither component can produce costs about 23 nats per feature
    assert_allclose(bm.score_samples(new[:1]), np.log(MIN_PROBABILITY) + np.log(
        0.5), rtol=0.05)  # fmt: skip
    ones = BernoulliMixture(2, init_params="random", random_state=0)
    ones.fit(np.ones((20, 3)))
    assert_array_equal(ones.probabilities_, 1 - MIN_PROBABILITY)
    assert np.isfinite(ones.lower_bound_) and ones.lower_bound_ > -1e-8


def test_bit_identical_with_one_and_two_threads(rng, monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 64)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 4)
    X, _, _ = simulate(rng, n_samples=3000, n_features=8, n_components=4)
    X = np.vstack([X, simulate(rng, n_samples=100, n_features=8, fractional=True)[0]])
    seed = _seed(rng)
    fits = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            bm = BernoulliMixture(4, init_params="random", random_state=seed, tol=0)
            with pytest.warns(ConvergenceWarning):
                bm.set_params(max_iter=5).fit(X)
            fits.append((bm, bm.score_samples(X), bm.predict_proba(X)))
    (one, scores_one, proba_one), (two, scores_two, proba_two) = fits
    assert_array_equal(one.probabilities_, two.probabilities_)
    assert_array_equal(one.weights_, two.weights_)
    assert one.lower_bounds_ == two.lower_bounds_
    assert_array_equal(scores_one, scores_two)
    assert_array_equal(proba_one, proba_two)


def test_float32_stays_float32_and_matches_float64(rng):
    X, _, _ = simulate(rng, n_samples=1000, n_features=30, fractional=True)
    bm = BernoulliMixture(3, init_params="random_from_data", random_state=_seed(rng))
    bm.set_params(max_iter=10, tol=0)
    fit64 = _quiet(copy.deepcopy(bm).fit, X)
    fit32 = _quiet(bm.fit, X.astype(np.float32))
    assert fit32.probabilities_.dtype == fit32.weights_.dtype == np.float32
    assert fit32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert fit32.score_samples(X.astype(np.float32)).dtype == np.float32
    # float32 rows hold the fractions to 6e-8: the fits agree to about that
    assert_allclose(fit32.lower_bounds_, fit64.lower_bounds_, rtol=1e-6)
    assert_allclose(fit32.probabilities_, fit64.probabilities_, rtol=1e-5)


def test_sample_is_reproducible_zeros_and_ones(rng):
    X, _, _ = simulate(rng, n_samples=400)
    bm = BernoulliMixture(3, random_state=_seed(rng)).fit(X)
    drawn, labels = bm.sample(30_000)
    again, labels_again = bm.sample(30_000)
    assert_array_equal(drawn, again)
    assert_array_equal(labels, labels_again)
    assert drawn.dtype == labels.dtype == np.int64 and drawn.shape == (30_000, 6)
    assert set(np.unique(drawn)) <= {0, 1}
    assert np.all(np.diff(labels) >= 0)
    assert_allclose(np.bincount(labels, minlength=3) / 30_000, bm.weights_, atol=0.02)
    for k in range(3):
        p = bm.probabilities_[k]
        n_k = max(np.sum(labels == k), 1)
        standard_error = np.sqrt(p * (1 - p) / n_k)
        assert np.all(np.abs(drawn[labels == k].mean(axis=0) - p) < 5 * (
            standard_error + 1e-3))  # fmt: skip
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        bm.sample(0)


def test_information_criteria(rng):
    X, _, _ = simulate(rng, n_samples=200)
    bm = BernoulliMixture(3, random_state=_seed(rng)).fit(X)
    log_likelihood = reference.log_likelihood(X, bm.weights_, bm.probabilities_)[0]
    n_parameters = 3 * 6 + 2
    assert_allclose(bm.score(X), log_likelihood.mean(), rtol=1e-12)
    assert_allclose(bm.aic(X), -2 * log_likelihood.sum() + 2 * n_parameters)
    assert_allclose(
        bm.bic(X), -2 * log_likelihood.sum() + n_parameters * np.log(200), rtol=1e-12
    )


def test_n_init_warm_start_verbose_and_pickle(rng):
    X, _, _ = simulate(rng, n_samples=300)
    seed = _seed(rng)
    buffer = io.StringIO()
    model = BernoulliMixture(3, random_state=seed, n_init=3, verbose=2)
    with redirect_stdout(buffer):
        labels = _quiet(model.set_params(verbose_interval=1).fit_predict, X)
    assert buffer.getvalue().count("Initialization") >= 6  # begin and end of 3
    assert "Iteration 2\t time lapse" in buffer.getvalue()
    assert_array_equal(labels, model.predict(X))
    single = BernoulliMixture(3, random_state=seed).fit(X)
    assert model.lower_bound_ >= single.lower_bound_  # the first of 3 starts
    kwargs = dict(n_components=3, random_state=seed, tol=0)
    cold = _quiet(BernoulliMixture(max_iter=6, **kwargs).fit, X)
    warm = BernoulliMixture(max_iter=3, warm_start=True, **kwargs)
    _quiet(_quiet(warm.fit, X).fit, X)
    assert_allclose(warm.lower_bounds_, cold.lower_bounds_[3:], rtol=1e-12)
    assert_allclose(warm.probabilities_, cold.probabilities_, rtol=1e-12)
    with pytest.raises(ValueError, match="features"):
        warm.fit(X[:, :2])
    assert_allclose(warm.probabilities_, cold.probabilities_, rtol=1e-12)
    clone = pickle.loads(pickle.dumps(model))
    assert_array_equal(clone.probabilities_, model.probabilities_)
    assert_array_equal(clone.predict_proba(X), model.predict_proba(X))


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="too slow as plain Python"
)
def test_fit_memory_does_not_grow_with_samples_times_components(rng):
    n_samples, n_components = 100_000, 32
    X = rng.uniform(size=(2 * n_samples, 4)) < 0.3
    bm = BernoulliMixture(n_components, init_params="random_from_data", random_state=0)
    bm.set_params(max_iter=3, tol=0)
    peaks = []
    _quiet(bm.fit, X[:1000])  # compile outside the measurement
    for rows in (n_samples, 2 * n_samples):
        X_rows = np.ascontiguousarray(X[:rows], dtype=np.float64)
        tracemalloc.start()
        try:
            _quiet(bm.fit, X_rows)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    n_by_k = n_samples * n_components * 8  # one (n, K) float64 array
    assert peaks[1] - peaks[0] < n_by_k / 20, (peaks, n_by_k)
