"""Gaussian mixtures on rows with missing values against exact incomplete-data EM.

The kernels and the driver of :mod:`emfast.mixture._missing` are checked against
the plain numpy reference of :mod:`tests.reference_missing` (covariance-based
formulas, where the kernels work from precisions), then end to end: monotone
EM, recovery of well-separated blobs, imputation, thread determinism.
"""

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from emfast.mixture._data import RowData
from emfast.mixture._gaussian_model import GaussianParams, m_step
from emfast.mixture._gaussian_pass import gaussian_pass, gaussian_score, log_weights
from emfast.mixture._weights import nk_offset
from numpy.testing import assert_allclose, assert_array_equal

import emfast
from emfast import _chunks
from emfast.mixture import _missing
from emfast.mixture._missing_em import IncompleteRows, fit_missing

from . import reference, reference_missing

HERE = Path(__file__).parent
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = [np.float64, np.float32]
# the kernels compute in float64 whatever the data dtype: the statistics agree
# with the float64 reference to rounding; float32 outputs to float32 rounding
RTOL = {np.float64: 1e-9, np.float32: 1e-9}
OUT_RTOL = {np.float64: 1e-10, np.float32: 2e-6}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 16)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


def random_params(rng, n_components, n_features, covariance_type, dtype):
    """Well-conditioned parameters; means exact in ``dtype`` (as a pass rounds them)."""
    K, D = n_components, n_features

    def spd():
        a = rng.normal(size=(D, D))
        return a @ a.T / D + 0.5 * np.eye(D)

    covariances = {
        "full": lambda: np.array([spd() for _ in range(K)]),
        "tied": spd,
        "diag": lambda: rng.uniform(0.3, 2.0, size=(K, D)),
        "spherical": lambda: rng.uniform(0.3, 2.0, size=K),
    }[covariance_type]()
    means = rng.normal(scale=3.0, size=(K, D)).astype(dtype).astype(np.float64)
    return GaussianParams(
        rng.dirichlet(np.full(K, 2.0)),
        means,
        covariances,
        reference.precisions_cholesky(covariances, covariance_type),
    )


def hide(rng, X, fraction):
    """A copy of ``X`` with entries set to NaN at random, one value kept per row."""
    X = X.copy()
    mask = rng.random(X.shape) < fraction
    keep = rng.integers(X.shape[1], size=X.shape[0])
    mask[np.arange(X.shape[0]), keep] &= ~mask.all(axis=1)
    X[mask] = np.nan
    return X


def problem(rng, covariance_type, dtype, n_samples=150, n_components=3, n_features=4):
    """Rows with NaN, a single observed value, no NaN and far from every mean."""
    params = random_params(rng, n_components, n_features, covariance_type, dtype)
    X = reference.sample_mixture(
        rng, n_samples, *_reference_chol(params), covariance_type
    )
    X = hide(rng, X, 0.3)
    X[0] = np.nan
    X[0, n_features - 1] = 1.5  # one observed coordinate
    X[1] = params.means[0] + 0.5  # complete
    X[2, :] = params.means[-1] + 40.0  # far: posteriors 0/1, log p ~ -1e3
    X[2, 0] = np.nan
    return X.astype(dtype), params


def _reference_chol(params):
    return params.weights, params.means, params.precisions_cholesky


def _ref(params):
    return params.weights, params.means, params.covariances


def _weights(rng, n_samples, weighted):
    if not weighted:
        return None
    weights = rng.uniform(0.2, 3.0, size=n_samples)
    weights[rng.random(n_samples) < 0.1] = 0.0
    return weights


def _diag(s2, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return np.diagonal(s2, axis1=1, axis2=2)
    return s2


def assert_stats_equal(stats, ref_stats, covariance_type, rtol):
    ll, nk, s1, s2 = ref_stats
    assert_allclose(stats.log_norm, ll, rtol=rtol)
    assert_allclose(stats.nk, nk, rtol=rtol, atol=rtol * nk.max())
    assert_allclose(stats.s1, s1, rtol=rtol, atol=rtol * np.abs(s1).max())
    s2 = _diag(s2, covariance_type)
    assert_allclose(stats.s2, s2, rtol=rtol, atol=rtol * np.abs(s2).max())


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pass_matches_reference(rng, covariance_type, dtype, weighted):
    X, params = problem(rng, covariance_type, dtype)
    weights = _weights(rng, len(X), weighted)
    rows = _missing.incomplete_rows(X)
    assert 1 not in rows and {0, 2} <= set(rows)

    stats = _missing.missing_pass(X, weights, params, covariance_type)
    w_rows = None if weights is None else weights[rows]
    expected = reference_missing.centred_statistics(
        X[rows], *_ref(params), covariance_type, params.means, w_rows
    )
    assert_stats_equal(stats, expected, covariance_type, RTOL[dtype])

    every_row = _missing.missing_pass(
        X, weights, params, covariance_type, rows=np.arange(len(X))
    )
    expected = reference_missing.centred_statistics(
        X, *_ref(params), covariance_type, params.means, weights
    )
    assert_stats_equal(every_row, expected, covariance_type, RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_and_impute_match_reference(rng, covariance_type, dtype):
    X, params = problem(rng, covariance_type, dtype)
    log_norm, labels, resp = _missing.missing_score(
        X, params, covariance_type, want_resp=True
    )
    assert log_norm.dtype == dtype and resp.dtype == dtype
    ref_log_norm, ref_resp, _, _ = reference_missing.e_step(
        X, *_ref(params), covariance_type
    )
    rtol = OUT_RTOL[dtype]
    assert_allclose(log_norm, ref_log_norm, rtol=rtol)
    assert_allclose(resp, ref_resp, atol=rtol)
    top = np.sort(ref_resp, axis=1)
    confident = top[:, -1] - top[:, -2] > 1e-3
    assert_array_equal(labels[confident], ref_resp.argmax(axis=1)[confident])
    _, labels_only, no_resp = _missing.missing_score(X, params, covariance_type)
    assert no_resp is None
    assert_array_equal(labels_only, labels)

    imputed = _missing.impute(X, params, covariance_type)
    assert imputed.dtype == dtype and not np.isnan(imputed).any()
    observed = ~np.isnan(X)
    assert_array_equal(imputed[observed], X[observed])
    expected = reference_missing.impute(X, *_ref(params), covariance_type)
    assert_allclose(imputed, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("all_incomplete", [False, True])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_matches_reference(rng, covariance_type, all_incomplete):
    """Complete rows through the complete-data pass, merged, then the M-step."""
    X, params = problem(rng, covariance_type, np.float64)
    if all_incomplete:
        X = X[np.isnan(X).any(axis=1)]
    weights = _weights(rng, len(X), True)
    reg_covar = 1e-3
    data = IncompleteRows(X, weights)
    assert (data.complete is None) == all_incomplete
    stats = data.e_step(params, covariance_type)
    new = m_step(stats, covariance_type, reg_covar, X.dtype, nk_offset(data.all_rows))

    ref_params, ref_ll = reference_missing.em_step(
        X, _ref(params), reg_covar, covariance_type, weights
    )
    assert_allclose(stats.log_norm / stats.weight_sum, ref_ll, rtol=1e-10)
    for value, ref_value in zip(new[:3], ref_params):
        assert_allclose(value, ref_value, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_component_one_observed_value_and_one_feature(rng, covariance_type):
    X, params = problem(rng, covariance_type, np.float64, n_components=1)
    X[3:20] = np.nan
    X[3:20, 1] = rng.normal(size=17)
    stats = _missing.missing_pass(X, None, params, covariance_type)
    rows = _missing.incomplete_rows(X)
    expected = reference_missing.centred_statistics(
        X[rows], *_ref(params), covariance_type, params.means
    )
    assert_stats_equal(stats, expected, covariance_type, 1e-9)
    assert_allclose(
        _missing.impute(X, params, covariance_type),
        reference_missing.impute(X, *_ref(params), covariance_type),
        rtol=1e-10,
    )
    # one feature: a row is complete or has nothing observed
    X1, params1 = problem(rng, covariance_type, np.float64, n_features=1)
    X1 = X1[~np.isnan(X1).any(axis=1)]
    stats = _missing.missing_pass(
        X1, None, params1, covariance_type, rows=np.arange(len(X1))
    )
    expected = reference_missing.centred_statistics(
        X1, *_ref(params1), covariance_type, params1.means
    )
    assert_stats_equal(stats, expected, covariance_type, 1e-9)


def test_patterns_with_equal_keys_stay_apart(rng):
    """62 features: the masks 'first feature missing' and 'last feature missing'
    get the same sort key (2**61 = 1 modulo the key's prime); rows stay exact."""
    D = 62
    params = random_params(rng, 2, D, "full", np.float64)
    X = reference.sample_mixture(rng, 24, *_reference_chol(params), "full")
    X[0::3, 0] = np.nan
    X[1::3, D - 1] = np.nan
    X[2::6, 5] = np.nan
    stats = _missing.missing_pass(X, None, params, "full", rows=np.arange(len(X)))
    expected = reference_missing.centred_statistics(
        X, *_ref(params), "full", params.means
    )
    assert_stats_equal(stats, expected, "full", 1e-9)
    assert_allclose(
        _missing.impute(X, params, "full"),
        reference_missing.impute(X, *_ref(params), "full"),
        rtol=1e-10,
    )


def test_unusable_rows_raise(rng):
    X, params = problem(rng, "full", np.float64)
    X[7] = np.nan
    message = "row 7 has no observed value"
    with pytest.raises(ValueError, match=message):
        _missing.missing_pass(X, None, params, "full")
    with pytest.raises(ValueError, match=message):
        _missing.missing_score(X, params, "full")
    with pytest.raises(ValueError, match=message):
        _missing.impute(X, params, "full")
    with pytest.raises(ValueError, match=message):
        fit_missing(X, 2)
    with pytest.raises(ValueError, match="row 107 has no observed value"):
        _missing.missing_counts(X[:20], first_row=100)
    X[7] = 1.0
    X[9, 2] = -np.inf
    with pytest.raises(ValueError, match=r"infinity \(row 9\)"):
        _missing.impute(X, params, "full")
    with pytest.raises(ValueError, match="contains NaN"):
        emfast.GaussianMixture(2).fit(hide(rng, np.ones((20, 3)), 0.3))


# tied components are equally far in the limit (as in the complete-data kernels)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_rows_whose_densities_underflow(rng, covariance_type):
    """log p(x_o) is -inf; posteriors and imputation take their limits."""
    X, params = problem(rng, covariance_type, np.float64, n_samples=40)
    X[5] = [1e200, np.nan, -2e200, 1e200]
    X[6] = [np.nan, 3e200, np.nan, np.nan]
    log_norm, labels, resp = _missing.missing_score(X, params, covariance_type, True)
    assert np.all(log_norm[5:7] == -np.inf) and np.isfinite(log_norm[7:]).all()
    covs = reference_missing.full_covariances(params.covariances, covariance_type, 3, 4)
    imputed = _missing.impute(X, params, covariance_type)
    for i in (5, 6):
        o = ~np.isnan(X[i])
        scaled = X[i, o] / 1e200
        distances = [scaled @ np.linalg.solve(c[np.ix_(o, o)], scaled) for c in covs]
        nearest = int(np.argmin(distances))
        assert labels[i] == nearest and resp[i, nearest] == 1.0
        with np.errstate(over="ignore"):  # its log-density overflows
            _, expected, _ = reference_missing.conditional(
                X[i], params.means[nearest], covs[nearest]
            )
        assert_allclose(imputed[i], expected, rtol=1e-10)

    stats = _missing.missing_pass(X, None, params, covariance_type)
    assert stats.log_norm == -np.inf
    X_near = np.delete(X, [5, 6], axis=0)
    near = _missing.missing_pass(X_near, None, params, covariance_type)
    assert_allclose(stats.nk, near.nk, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_no_nan_gives_the_complete_data_results(rng, covariance_type):
    X, params = problem(rng, covariance_type, np.float64)
    X = X[~np.isnan(X).any(axis=1)]
    score_params = (
        log_weights(params.weights),
        params.means,
        params.precisions_cholesky,
    )
    for got, expected in zip(
        _missing.missing_score(X, params, covariance_type, want_resp=True),
        gaussian_score(X, score_params, covariance_type, want_resp=True),
    ):
        assert_array_equal(got, expected)
    assert_array_equal(_missing.impute(X, params, covariance_type), X)
    stats = IncompleteRows(X).e_step(params, covariance_type)
    expected = gaussian_pass(RowData(X), score_params, covariance_type)
    for name in ("log_norm", "nk", "s1", "s2", "scatter"):
        assert_array_equal(getattr(stats, name), getattr(expected, name))
    # and the missing-value kernel itself agrees on complete rows to rounding
    every_row = _missing.missing_pass(
        X, None, params, covariance_type, rows=np.arange(len(X))
    )
    if covariance_type != "tied":
        assert_stats_equal(
            every_row,
            (expected.log_norm, expected.nk, expected.s1, expected.s2),
            "full",
            1e-9,
        )


@pytest.mark.parametrize("fraction", [0.1, 0.4])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_log_likelihood_is_monotone(rng, covariance_type, fraction):
    params = random_params(rng, 3, 3, covariance_type, np.float64)
    X = reference.sample_mixture(rng, 400, *_reference_chol(params), covariance_type)
    X = hide(rng, X, fraction)
    fit = fit_missing(
        X,
        3,
        covariance_type,
        max_iter=40,
        tol=0.0,
        random_state=int(rng.integers(1000)),
    )
    gains = np.diff(fit.log_likelihoods)
    assert len(gains) == 39
    assert gains.min() >= -1e-12 * abs(fit.log_likelihoods[-1]), gains.min()


def _blobs(rng, n_per_blob=3000, n_features=4):
    means = np.array([[0.0, 0, 0, 0], [8, 0, 8, 0], [0, 8, 0, -8]])[:, :n_features]
    covariances = []
    for _ in means:
        a = rng.normal(scale=0.5, size=(n_features, n_features))
        covariances.append(a @ a.T + 0.5 * np.eye(n_features))
    X = np.vstack(
        [rng.multivariate_normal(m, c, n_per_blob) for m, c in zip(means, covariances)]
    )
    return X, means, np.array(covariances)


def _matched(fitted, truth):
    """Fitted rows reordered to the nearest true mean."""
    order = [np.argmin(((fitted - m) ** 2).sum(axis=1)) for m in truth]
    assert len(set(order)) == len(truth)
    return np.asarray(order)


def test_recovers_blobs_better_than_mean_imputation(rng):
    from sklearn.mixture import GaussianMixture

    X, means, covariances = _blobs(rng)
    X_nan = hide(rng, X, 0.3)
    fit = fit_missing(X_nan, 3, "full", random_state=int(rng.integers(1000)))
    order = _matched(fit.params.means, means)
    error = np.abs(fit.params.means[order] - means).max()
    assert error < 0.1
    assert np.abs(fit.params.covariances[order] - covariances).max() < 0.25

    column_means = np.nanmean(X_nan, axis=0)
    X_filled = np.where(np.isnan(X_nan), column_means, X_nan)
    sk = GaussianMixture(3, random_state=0).fit(X_filled)
    sk_order = _matched(sk.means_, means)
    assert error < np.abs(sk.means_[sk_order] - means).max()

    missing = np.isnan(X_nan)
    imputed = _missing.impute(X_nan, fit.params, "full")
    rmse = np.sqrt(np.mean((imputed[missing] - X[missing]) ** 2))
    rmse_columns = np.sqrt(np.mean((X_filled[missing] - X[missing]) ** 2))
    assert rmse <= 0.8 * rmse_columns


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_results_do_not_depend_on_the_thread_count(rng, covariance_type):
    X, params = problem(rng, covariance_type, np.float32, n_samples=300)
    weights = _weights(rng, len(X), True)
    results = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            results.append(
                (
                    *_missing.missing_pass(X, weights, params, covariance_type),
                    *_missing.missing_score(X, params, covariance_type, True),
                    _missing.impute(X, params, covariance_type),
                )
            )
    for one, two in zip(*results):
        assert_array_equal(one, two)


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already running without JIT"
)
def test_kernels_run_without_jit():
    """The kernels stay plain Python (``NUMBA_DISABLE_JIT=1``)."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    selected = "matches_reference or equal_keys or unusable or one_component"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(HERE / "test_missing.py"),
            "-k",
            selected,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE.parent,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
