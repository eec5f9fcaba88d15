"""CategoricalMixture: kernels and EM against a numpy reference, recovery, levels,
bad input. Input forms, streams and model files: tests/test_categorical_inputs.py.

The ``test_kernel_*`` tests are small on purpose: they also run without JIT
(``test_kernel_tests_pass_without_jit``) so that coverage sees the kernel
bodies. Data are drawn fresh for every test.
"""

import copy
import doctest
import itertools
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

import emfast
import emfast.mixture.categorical
from emfast import CategoricalMixture, _chunks
from emfast.mixture._engine.init import DenseResp
from emfast.mixture.categorical._codes import MAX_TABLE, Limits, summarise_codes
from emfast.mixture.categorical._pass import (
    CategoricalParams,
    categorical_pass,
    categorical_score,
    resp_pass,
    update,
)
from emfast.rows import ArrayRows
from tests import reference_categorical as ref

DTYPES = [np.float64, np.float32]
RTOL = {np.float64: 1e-10, np.float32: 2e-5}
SMOOTHING = 1e-3  # large enough that the smoothing is seen in the comparisons
# (n_levels of each column, n_components)
SHAPES = {
    "general": ([3, 1, 7, 2], 3),
    "one column": ([5], 2),
    "one component": ([3, 4], 1),
    "many levels": ([60, 2, 1], 4),
}


def _seed(rng):
    return int(rng.integers(2**31))


def _data(rng, n_levels, n_components, n_samples=181):
    weights, probabilities = ref.random_params(rng, n_components, n_levels)
    X, labels = ref.simulate(rng, n_samples, weights, probabilities)
    return X.astype(np.float64), labels


def _params(rng, n_levels, n_components):
    """Parameters unrelated to the data: responsibilities far from one-hot."""
    weights, probabilities = ref.random_params(rng, n_components, n_levels, 2.0)
    return (
        weights,
        probabilities,
        CategoricalParams(weights, np.concatenate(probabilities, axis=1)),
    )


def _split(table, n_levels):
    return np.split(table, np.cumsum(n_levels)[:-1], axis=1)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 16)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


# ------------------------------------------------------------------- kernels
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_pass_and_update_match_reference_em_step(
    rng, small_chunks, shape, dtype, weighted
):
    n_levels, n_components = SHAPES[shape]
    X, _ = _data(rng, n_levels, n_components)  # 181 rows: a partial last chunk
    weights, probabilities, params = _params(rng, n_levels, n_components)
    sample_weight = rng.uniform(0, 2, size=X.shape[0]) if weighted else None
    stats = categorical_pass(
        ArrayRows(X.astype(dtype), sample_weight), params, n_levels
    )
    new = update(stats, n_levels, SMOOTHING)
    (ref_weights, ref_probabilities), ref_bound = ref.em_step(
        X, weights, probabilities, SMOOTHING, sample_weight
    )
    rtol = RTOL[dtype]
    assert_allclose(stats.log_norm / stats.weight_sum, ref_bound, rtol=rtol)
    assert_allclose(new.weights, ref_weights, rtol=rtol)
    for ours, theirs in zip(_split(new.table, n_levels), ref_probabilities):
        assert_allclose(ours, theirs, rtol=rtol)
        assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_score_matches_reference(rng, small_chunks, shape, dtype):
    n_levels, n_components = SHAPES[shape]
    X, _ = _data(rng, n_levels, n_components)
    weights, probabilities, params = _params(rng, n_levels, n_components)
    log_norm, labels, resp = categorical_score(
        X.astype(dtype), params, np.array(n_levels), want_resp=True
    )
    assert log_norm.dtype == dtype and resp.dtype == dtype
    log_prob = ref.weighted_log_prob(X, weights, probabilities)
    ref_log_norm = logsumexp(log_prob, axis=1)
    assert_allclose(log_norm, ref_log_norm, rtol=RTOL[dtype])
    assert_allclose(resp, np.exp(log_prob - ref_log_norm[:, None]), atol=1e-5)
    if n_components == 1:
        assert_array_equal(labels, 0)
    else:
        top_two = np.sort(log_prob, axis=1)[:, -2:]
        confident = top_two[:, 1] - top_two[:, 0] > 1e-3
        assert_array_equal(labels[confident], log_prob.argmax(axis=1)[confident])
    _, labels_only, no_resp = categorical_score(
        X.astype(dtype), params, np.array(n_levels)
    )
    assert no_resp is None
    assert_array_equal(labels_only, labels)


def test_kernel_initial_statistics_match_numpy(rng, small_chunks):
    n_levels = [4, 1, 9]
    X, _ = _data(rng, n_levels, 3, n_samples=97)
    resp = rng.uniform(size=(X.shape[0], 3))
    resp /= resp.sum(axis=1, keepdims=True)
    sample_weight = rng.integers(0, 3, size=X.shape[0]).astype(float)
    stats = resp_pass(ArrayRows(X, sample_weight), DenseResp(resp), n_levels)
    weights, table = update(stats, n_levels, SMOOTHING)
    ref_weights, ref_probabilities = ref.m_step(
        X, resp, n_levels, SMOOTHING, sample_weight
    )
    assert_allclose(weights, ref_weights, rtol=1e-12)
    for ours, theirs in zip(_split(table, n_levels), ref_probabilities):
        assert_allclose(ours, theirs, rtol=1e-12)


def test_kernel_weights_equal_repeated_rows_and_zero_drops(rng, small_chunks):
    n_levels = [3, 5]
    X, _ = _data(rng, n_levels, 3, n_samples=60)
    params = _params(rng, n_levels, 3)[2]
    repeats = rng.integers(0, 4, size=X.shape[0])
    weighted = categorical_pass(ArrayRows(X, repeats.astype(float)), params, n_levels)
    repeated = categorical_pass(
        ArrayRows(np.repeat(X, repeats, axis=0)), params, n_levels
    )
    dropped = categorical_pass(
        ArrayRows(X[repeats > 0], repeats[repeats > 0] * 1.0), params, n_levels
    )
    for other in (repeated, dropped):
        assert weighted.weight_sum == other.weight_sum
        assert_allclose(weighted.log_norm, other.log_norm, rtol=1e-12)
        assert_allclose(weighted.nk, other.nk, rtol=1e-12)
        assert_allclose(weighted.counts, other.counts, rtol=1e-12, atol=1e-12)


def test_kernel_code_summary_and_first_bad_entry(rng, small_chunks):
    X, _ = _data(rng, [4, 2, 6], 2, n_samples=70)
    X[:, 1] = 0  # a column with one level
    X[65, 2] = 11  # the largest code, in the last (partial) chunk
    summary = summarise_codes(ArrayRows(X), Limits(), "M")
    assert_array_equal(summary.n_levels(), X.max(axis=0) + 1)
    assert_array_equal(summary.n_levels()[1], 1)
    for dtype in DTYPES:
        for value, message in [
            (-1.0, r"Negative values in data passed to M.*1 negative.*X\[50, 1\] = -1"),
            (2.5, r"M expects integer codes.*1 non-integer.*X\[50, 1\] = 2.5"),
            (2.0**18, r"M takes codes below 2\*\*18.*X\[50, 1\] = 262144"),
        ]:
            bad = X.astype(dtype)
            bad[50, 1] = value
            with pytest.raises(ValueError, match=message):
                summarise_codes(ArrayRows(bad), Limits(), "M")
    limits = Limits([4, 2, 11])
    with pytest.raises(
        ValueError, match=r"n_levels\[j\] = \[4, 2, 11\].*X\[65, 2\] = 11"
    ):
        summarise_codes(ArrayRows(X), limits, "M")
    with pytest.raises(ValueError, match=r"in row 15 of a block, column 2"):
        summarise_codes(ArrayRows(X[50:]), limits, "M", first_row=None)
    with pytest.raises(ValueError, match="n_levels has 2 entries but X has 3"):
        summarise_codes(ArrayRows(X), Limits([4, 2]), "M")
    empty = summarise_codes(ArrayRows(np.empty((0, 3))), Limits(), "M")
    assert_array_equal(empty.n_levels(), [1, 1, 1])


def test_kernel_codes_beyond_the_table_are_never_read(rng, small_chunks):
    """A code the levels do not cover (a source that changed) is counted, not
    looked up: the pass raises, scoring names the column."""
    n_levels = [3, 2]
    X, _ = _data(rng, n_levels, 2, n_samples=40)
    params = _params(rng, n_levels, 2)[2]
    X[33, 1] = 2
    with pytest.raises(ValueError, match="1 row.*beyond the levels.*same rows"):
        categorical_pass(ArrayRows(X), params, n_levels)
    with pytest.raises(ValueError, match="1 row.*beyond the levels"):
        resp_pass(ArrayRows(X), DenseResp(np.full((40, 2), 0.5)), n_levels)
    with pytest.raises(ValueError, match=r"code 2 in column 1.*n_levels_\[1\] = 2"):
        categorical_score(X, params, np.array(n_levels))


def test_kernel_zero_probabilities_give_no_nan(small_chunks):
    """A probability of exactly 0 (a model file may hold one) rules the
    component out for that code; a row no component can produce gets -inf."""
    params = CategoricalParams(
        np.array([0.5, 0.5]), np.array([[1.0, 0.0, 0.5, 0.5], [0.5, 0.5, 0.0, 1.0]])
    )
    X = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]] * 5)
    log_norm, labels, resp = categorical_score(X, params, np.array([2, 2]), True)
    assert not np.isnan(log_norm).any() and not np.isnan(resp).any()
    assert_allclose(log_norm[:4], [np.log(0.25), np.log(0.25), -np.inf, np.log(0.5)])
    assert_array_equal(labels[[0, 1, 3]], [0, 1, 0])
    assert_array_equal(resp[:4], [[1, 0], [0, 1], [0, 0], [0.5, 0.5]])
    stats = categorical_pass(ArrayRows(X), params, [2, 2])
    assert stats.log_norm == -np.inf and np.isfinite(stats.counts).all()
    table = update(stats, [2, 2], 1e-10).table
    assert np.isfinite(np.log(table)).all()


# ---------------------------------------------------------------- estimator
@parametrize_with_checks(
    [CategoricalMixture()],
    expected_failed_checks=lambda estimator: {
        "check_sample_weight_equivalence_on_dense_data": (
            "feeds non-integer floats (rng.rand), which are not codes; weights "
            "equal repeated rows in test_sample_weights_equal_repeated_and_dropped_rows"
        )
    },
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_em_path_matches_reference(rng, init_params):
    n_levels = [3, 1, 5, 2]
    X, _ = _data(rng, n_levels, 3, n_samples=300)
    X[0, 2] = 6  # a level above every code but one: learned levels [3, 1, 7, 2]
    n_levels[2] = 7
    seed = _seed(rng)
    kwargs = dict(init_params=init_params, random_state=seed, smoothing=SMOOTHING)
    start = CategoricalMixture(3, max_iter=0, **kwargs).fit(X.astype(np.int64))
    assert_array_equal(start.n_levels_, n_levels)
    assert start.n_levels_.dtype == np.int64
    resp = ref.initial_resp(X.shape[0], 3, init_params, seed)
    weights, probabilities = ref.m_step(X, resp, n_levels, SMOOTHING)
    assert_allclose(start.weights_, weights, rtol=1e-12)
    for ours, theirs in zip(start.probabilities_, probabilities):
        assert_allclose(ours, theirs, rtol=1e-12)

    with pytest.warns(ConvergenceWarning):
        cm = CategoricalMixture(3, max_iter=8, tol=0, **kwargs).fit(X)
    bounds = []
    for _ in range(8):
        (weights, probabilities), bound = ref.em_step(
            X, weights, probabilities, SMOOTHING
        )
        bounds.append(bound)
    assert cm.n_iter_ == 8 and not cm.converged_
    assert_allclose(cm.lower_bounds_, bounds, rtol=1e-10)
    assert_allclose(cm.weights_, weights, rtol=1e-9)
    for ours, theirs in zip(cm.probabilities_, probabilities):
        assert ours.shape == theirs.shape and ours.flags.c_contiguous
        assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)


def test_random_probabilities_start_draws_flat_dirichlet_tables(rng):
    n_levels = [3, 1, 5]
    X, _ = _data(rng, n_levels, 2, n_samples=200)
    X[0] = np.asarray(n_levels) - 1
    seed = _seed(rng)
    cm = CategoricalMixture(
        4, init_params="random_probabilities", max_iter=0, random_state=seed
    ).fit(X)
    draws = np.random.RandomState(seed)
    tables = [draws.dirichlet(np.ones(levels), size=4) for levels in n_levels]
    assert_allclose(cm.weights_, np.full(4, 0.25))
    for ours, theirs in zip(cm.probabilities_, tables):
        assert_allclose(ours, theirs, rtol=1e-12)


def test_recovers_simulated_latent_classes(rng):
    """Three classes over six columns of 2 to 5 levels, each class preferring
    its own levels; 20 000 rows."""
    n_levels, n_components = [2, 3, 4, 5, 2, 3], 3
    weights = np.array([0.2, 0.3, 0.5])
    probabilities = []
    for j, levels in enumerate(n_levels):
        table = 0.4 * rng.dirichlet(np.ones(levels), size=n_components)
        table[np.arange(n_components), (np.arange(n_components) + j) % levels] += 0.6
        probabilities.append(table)
    X, labels = ref.simulate(rng, 20_000, weights, probabilities)
    cm = CategoricalMixture(n_components, n_init=3, tol=1e-6, random_state=_seed(rng))
    cm.fit(X)
    assert cm.converged_
    # match the fitted classes to the true ones by their probabilities
    order = min(
        itertools.permutations(range(n_components)),
        key=lambda p: sum(
            np.abs(fitted[list(p)] - true).sum()
            for fitted, true in zip(cm.probabilities_, probabilities)
        ),
    )
    order = list(order)
    # largest errors measured over 40 seeds: weights 0.010, probabilities 0.024
    assert_allclose(cm.weights_[order], weights, atol=0.025)
    for fitted, true in zip(cm.probabilities_, probabilities):
        assert_allclose(fitted[order], true, atol=0.045)
    true_ll = logsumexp(ref.weighted_log_prob(X, weights, probabilities), axis=1)
    assert cm.score(X) > true_ll.mean() - 1e-3  # EM's optimum is at least as likely
    accuracy = np.mean(np.argsort(order)[cm.predict(X)] == labels)
    bayes = np.mean(
        ref.weighted_log_prob(X, weights, probabilities).argmax(axis=1) == labels
    )
    assert accuracy > bayes - 0.01, (accuracy, bayes)


# ------------------------------------------------------------------- levels
def test_given_levels_and_learned_levels(rng):
    X = rng.integers(0, [2, 4, 3], size=(200, 3))
    X[0] = [1, 3, 2]
    learned = CategoricalMixture(2, random_state=0).fit(X)
    assert_array_equal(learned.n_levels_, [2, 4, 3])
    assert [p.shape for p in learned.probabilities_] == [(2, 2), (2, 4), (2, 3)]
    with pytest.raises(ValueError, match=r"code 4 in column 1.*n_levels_\[1\] = 4"):
        learned.predict([[0, 4, 0]])
    for method in ("predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match="give n_levels"):
            getattr(learned, method)([[0, 0, 0], [1, 3, 3]])
    given = CategoricalMixture(2, n_levels=[3, 6, 3], random_state=0).fit(X)
    assert_array_equal(given.n_levels_, [3, 6, 3])
    # a level no training row shows has the smallest probability
    unseen = given.probabilities_[1][:, 4:]
    assert_allclose(unseen, 1e-10 / (1 + 6e-10), rtol=1e-6)
    assert np.isfinite(given.score_samples([[2, 5, 0]])).all()
    with pytest.raises(ValueError, match=r"n_levels\[j\] = \[3, 6, 3\].*X\[1, 2\] = 3"):
        given.predict([[0, 0, 0], [0, 0, 3]])
    with pytest.raises(ValueError, match=r"n_levels\[j\].*X\[7, 0\] = 5"):
        X_bad = X.copy()
        X_bad[7, 0] = 5
        CategoricalMixture(2, n_levels=[3, 6, 3]).fit(X_bad)
    every = CategoricalMixture(2, n_levels=7, random_state=0).fit(X)
    assert_array_equal(every.n_levels_, [7, 7, 7])
    # given levels equal to the learned ones give the same fit
    same = CategoricalMixture(2, n_levels=(2, 4, 3), random_state=0).fit(X)
    for ours, theirs in zip(same.probabilities_, learned.probabilities_):
        assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "n_levels, message",
    [
        ([3, 0, 2], "n_levels must be None, an int >= 1 or a 1-D list"),
        ([3, 2.5, 2], "n_levels must be None"),
        ([[3, 2]], "n_levels must be None"),
        (["a", "b", "c"], "n_levels must be None"),
        (0, "The 'n_levels' parameter"),
        ([3, 4], "n_levels has 2 entries but X has 3 columns"),
    ],
)
def test_bad_levels_are_refused(rng, n_levels, message):
    X = rng.integers(0, 2, size=(20, 3))
    with pytest.raises(ValueError, match=message):
        CategoricalMixture(2, n_levels=n_levels).fit(X)


def test_table_size_is_limited(rng):
    X = rng.integers(0, 3, size=(30, 2))
    X[0, 0] = 2**17
    with pytest.raises(
        ValueError, match=r"table of \d+ probabilities, more than 2\*\*18"
    ):
        CategoricalMixture(2).fit(X)
    with pytest.raises(ValueError, match="more than 2"):
        CategoricalMixture(3, n_levels=[MAX_TABLE // 3, 3]).fit(X[1:])
    assert CategoricalMixture(1, init_params="random").fit(X).n_levels_[0] == 2**17 + 1


# ---------------------------------------------------------------- bad input
BAD_CODES = {
    "negative": ([[1, 2], [3, -1], [0, 4]] * 3, r"Negative values in data passed to "
                 r"CategoricalMixture.*3 negative value\(s\), e.g. X\[1, 1\] = -1"),
    "non-integer": ([[1, 2], [3, 0.5], [0, 4]] * 3, r"expects integer codes \(non-"
                    r"negative whole numbers\).*3 non-integer.*X\[1, 1\] = 0.5"),
    "too large": ([[1, 2], [3, 1e6], [0, 4]] * 3,
                  r"below 2\*\*18.*X\[1, 1\] = 1000000"),
    "nan": ([[1, 2], [3, np.nan], [0, 4]] * 3, "Input X contains NaN"),
    "inf": ([[1, 2], [3, np.inf], [0, 4]] * 3, "Input X contains infinity"),
    "1-d": ([1.0, 2.0, 3.0], "Expected 2D array, got 1D array"),
    "strings": ([["a", "b"]] * 3, "could not convert|dtype"),
}  # fmt: skip
GOOD = np.array([[1, 2], [3, 1], [0, 4]] * 3)


@pytest.mark.parametrize("case", BAD_CODES)
def test_bad_codes_raise_and_keep_the_model(case):
    X, message = BAD_CODES[case]
    X = np.array(X, dtype=object if case == "strings" else float)
    cm = CategoricalMixture(2, random_state=0).fit(GOOD)
    probabilities = copy.deepcopy(cm.probabilities_)
    with pytest.raises(ValueError, match=message):
        cm.fit(X)
    for ours, theirs in zip(cm.probabilities_, probabilities):
        assert_array_equal(ours, theirs)
    if X.ndim == 2 and case != "strings":
        for method in ("predict", "predict_proba", "score_samples", "score"):
            with pytest.raises(ValueError, match=message):
                getattr(cm, method)(X)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(X=np.ones((3, 2)), n_components=4), "Expected n_samples >= n_comp"),
        (dict(sample_weight=-np.ones(9)), "Negative values in data passed to `sample"),
        (dict(sample_weight=np.zeros(9)), "Sample weights must contain at least"),
        (dict(n_components=0), "The 'n_components' parameter"),
        (dict(init_params="kmeans"), "The 'init_params' parameter"),
        (dict(smoothing=0.0), "The 'smoothing' parameter"),
        (dict(sample_weight=np.ones(5)), r"sample_weight.shape == \(5,\)"),
    ],
)
def test_bad_arguments(kwargs, message):
    X = kwargs.pop("X", GOOD)
    sample_weight = kwargs.pop("sample_weight", None)
    with pytest.raises(ValueError, match=message):
        CategoricalMixture(**kwargs).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize(
    "method",
    ["predict", "predict_proba", "score_samples", "score", "sample", "bic", "aic"],
)
def test_not_fitted_and_wrong_feature_count(method):
    argument = 1 if method == "sample" else np.ones((5, 2))
    with pytest.raises(NotFittedError, match="This CategoricalMixture instance"):
        getattr(CategoricalMixture(2), method)(argument)
    if method != "sample":
        cm = CategoricalMixture(2, random_state=0).fit(GOOD)
        with pytest.raises(ValueError, match="X has 3 features, but Categorical"):
            getattr(cm, method)(np.ones((5, 3)))


# ------------------------------------------------ threads, dtypes, sampling
def test_bit_identical_with_one_and_two_threads(rng, monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 64)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 4)
    X, _ = _data(rng, [3, 6, 2, 4], 4, n_samples=3000)
    seed = _seed(rng)
    fits = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            cm = CategoricalMixture(4, init_params="random", random_state=seed, tol=0)
            with pytest.warns(ConvergenceWarning):
                cm.set_params(max_iter=5).fit(X)
            fits.append((cm, cm.score_samples(X), cm.predict_proba(X)))
    (one, scores_one, proba_one), (two, scores_two, proba_two) = fits
    assert_array_equal(one.weights_, two.weights_)
    for ours, theirs in zip(one.probabilities_, two.probabilities_):
        assert_array_equal(ours, theirs)
    assert one.lower_bounds_ == two.lower_bounds_
    assert_array_equal(scores_one, scores_two)
    assert_array_equal(proba_one, proba_two)


def test_float32_stays_float32_and_matches_float64(rng):
    X, _ = _data(rng, [3, 5, 2], 3, n_samples=1000)
    cm = CategoricalMixture(3, random_state=_seed(rng), max_iter=10, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit64 = copy.deepcopy(cm).fit(X)
        fit32 = cm.fit(X.astype(np.float32))
    assert fit32.weights_.dtype == np.float32
    assert all(p.dtype == np.float32 for p in fit32.probabilities_)
    assert fit32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert fit32.score_samples(X.astype(np.float32)).dtype == np.float32
    assert_allclose(fit32.lower_bounds_, fit64.lower_bounds_, rtol=1e-6)
    for ours, theirs in zip(fit32.probabilities_, fit64.probabilities_):
        assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)


def test_sample_draws_codes_of_the_fitted_model(rng):
    X, _ = _data(rng, [3, 1, 4], 2, n_samples=400)
    cm = CategoricalMixture(2, random_state=_seed(rng)).fit(X)
    drawn, labels = cm.sample(40_000)
    again, labels_again = cm.sample(40_000)
    assert_array_equal(drawn, again)
    assert_array_equal(labels, labels_again)
    assert drawn.dtype == labels.dtype == np.int64 and drawn.shape == (40_000, 3)
    assert np.all(np.diff(labels) >= 0)
    assert_allclose(np.bincount(labels, minlength=2) / 40_000, cm.weights_, atol=0.015)
    for k in range(2):
        rows = drawn[labels == k]
        for j, table in enumerate(cm.probabilities_):
            frequencies = np.bincount(rows[:, j], minlength=table.shape[1])
            assert frequencies.shape[0] == table.shape[1]  # no code beyond the levels
            error = np.sqrt(table[k] * (1 - table[k]) / max(rows.shape[0], 1))
            assert np.all(
                np.abs(frequencies / rows.shape[0] - table[k]) < 5 * error + 1e-3
            )
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        cm.sample(0)


def test_information_criteria(rng):
    X, _ = _data(rng, [3, 1, 4], 3, n_samples=200)
    cm = CategoricalMixture(3, random_state=_seed(rng)).fit(X)
    log_likelihood = cm.score_samples(X).sum()
    n_parameters = 2 + 3 * (2 + 0 + 3)
    assert_allclose(cm.score(X), log_likelihood / 200, rtol=1e-12)
    assert_allclose(cm.aic(X), -2 * log_likelihood + 2 * n_parameters, rtol=1e-12)
    assert_allclose(cm.bic(X), -2 * log_likelihood + n_parameters * np.log(200))


def test_sample_weights_equal_repeated_and_dropped_rows(rng):
    X, _ = _data(rng, [3, 4], 3, n_samples=120)
    repeats = rng.integers(0, 4, size=X.shape[0])
    X[repeats == 0] = 0  # the levels must not depend on the dropped rows
    warm = CategoricalMixture(3, init_params="random", random_state=_seed(rng))
    warm.set_params(warm_start=True, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X)  # the common starting point
        weighted, repeated, dropped, scaled = (copy.deepcopy(warm) for _ in range(4))
        weighted.fit(X, sample_weight=repeats)
        repeated.fit(np.repeat(X, repeats, axis=0))
        dropped.fit(X[repeats > 0], sample_weight=repeats[repeats > 0])
        scaled.fit(X, sample_weight=repeats * 1e-30)  # only the ratios matter
    for other in (repeated, dropped, scaled):
        assert_allclose(weighted.weights_, other.weights_, rtol=1e-12)
        for ours, theirs in zip(weighted.probabilities_, other.probabilities_):
            assert_allclose(ours, theirs, rtol=1e-11)
    for other in (repeated, dropped):
        assert_allclose(weighted.lower_bounds_, other.lower_bounds_, rtol=1e-12)


# ------------------------------------------------------------ docs, no JIT
def test_docstring_example():
    result = doctest.testmod(
        emfast.mixture.categorical, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already running without JIT"
)
def test_kernel_tests_pass_without_jit():
    here = Path(__file__).parent
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k",
         "kernel", str(here / "test_categorical.py")],
        env=dict(os.environ, NUMBA_DISABLE_JIT="1"),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=here.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
