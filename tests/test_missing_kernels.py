"""The missing-value kernels and their driver against exact incomplete-data EM.

The kernels and :mod:`emfast.mixture.gaussian._missing` are checked against the
plain numpy reference of :mod:`tests.reference_missing` (covariance-based
formulas, where the kernels work from precisions), statistic by statistic, on
rows that exercise every path: a single observed value, complete rows, rows so
far away that every density underflows, equal pattern keys, one component or
one feature. The estimator built on them is tested in ``test_missing.py``.
"""

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import emfast
from emfast import _chunks
from emfast.kernels.mixture import gaussian_missing_tile
from emfast.mixture.gaussian import _missing, _missing_score
from emfast.mixture.gaussian._pass import gaussian_score, log_weights

from . import reference_missing
from .missing_problems import problem, random_params, sample, sample_weights

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


def _ref(params):
    return params.weights, params.means, params.covariances


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


@pytest.fixture(params=["pattern tiles", "rows"])
def pattern_kernel(request, monkeypatch):
    """Full and tied passes through the pattern-tile kernel or the row kernel."""
    if request.param == "rows":
        monkeypatch.setattr(gaussian_missing_tile, "MAX_FEATURES", 0)
    return request.param


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pass_matches_reference(rng, covariance_type, dtype, weighted, pattern_kernel):
    if pattern_kernel == "rows" and covariance_type in ("diag", "spherical"):
        pytest.skip("diagonal covariances have one kernel")
    X, params = problem(rng, covariance_type, dtype)
    weights = sample_weights(rng, len(X), weighted)
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
    log_norm, labels, resp = _missing_score.missing_score(
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
    _, labels_only, no_resp = _missing_score.missing_score(X, params, covariance_type)
    assert no_resp is None
    assert_array_equal(labels_only, labels)

    imputed = _missing_score.impute(X, params, covariance_type)
    assert imputed.dtype == dtype and not np.isnan(imputed).any()
    observed = ~np.isnan(X)
    assert_array_equal(imputed[observed], X[observed])
    expected = reference_missing.impute(X, *_ref(params), covariance_type)
    assert_allclose(imputed, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


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
        _missing_score.impute(X, params, covariance_type),
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


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_long_patterns_span_tiles_and_segments(rng, monkeypatch, covariance_type):
    """A pattern of more rows than a tile, split between segments, and one
    pattern per block: the pattern-tile kernel against the reference and
    against the row kernel."""
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 256)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 4)
    D = 5
    params = random_params(rng, 4, D, covariance_type, np.float64)
    X = sample(rng, params, 1500, covariance_type)
    X[:900, 2] = np.nan  # 900 rows of one pattern: several tiles and segments
    X[900:1200:2, 0] = np.nan
    X[901:1200:2, [1, 4]] = np.nan
    X[1300:, 3] = np.nan  # a second block
    weights = sample_weights(rng, len(X))
    tiled = _missing.kernel_args(params, covariance_type, X.dtype)
    assert tiled.tile is not None
    rows = _missing.incomplete_rows(X)
    stats = _missing.block_stats(X, weights, tiled, rows)
    expected = reference_missing.centred_statistics(
        X[rows], *_ref(params), covariance_type, params.means, weights[rows]
    )
    assert_stats_equal(stats, expected, covariance_type, 1e-9)
    by_row = _missing.block_stats(X, weights, tiled._replace(tile=None), rows)
    for tile_value, row_value in zip(stats, by_row):
        assert_allclose(tile_value, row_value, rtol=1e-12, atol=1e-12)


def test_pattern_tiles_cover_few_features_only():
    params = random_params(
        np.random.default_rng(0),
        2,
        gaussian_missing_tile.MAX_FEATURES + 1,
        "full",
        np.float64,
    )
    assert _missing.kernel_args(params, "full", np.float64).tile is None
    assert _missing.kernel_args(params, "diag", np.float64).tile is None


def test_patterns_with_equal_keys_stay_apart(rng):
    """62 features: the masks 'first feature missing' and 'last feature missing'
    get the same sort key (2**61 = 1 modulo the key's prime); rows stay exact."""
    D = 62
    params = random_params(rng, 2, D, "full", np.float64)
    X = sample(rng, params, 24, "full")
    X[0::3, 0] = np.nan
    X[1::3, D - 1] = np.nan
    X[2::6, 5] = np.nan
    stats = _missing.missing_pass(X, None, params, "full", rows=np.arange(len(X)))
    expected = reference_missing.centred_statistics(
        X, *_ref(params), "full", params.means
    )
    assert_stats_equal(stats, expected, "full", 1e-9)
    assert_allclose(
        _missing_score.impute(X, params, "full"),
        reference_missing.impute(X, *_ref(params), "full"),
        rtol=1e-10,
    )


def test_unusable_rows_raise(rng):
    X, params = problem(rng, "full", np.float64)
    X[7] = np.nan
    message = "no observed value in row 7"
    with pytest.raises(ValueError, match=message):
        _missing.missing_pass(X, None, params, "full")
    with pytest.raises(ValueError, match=message):
        _missing_score.missing_score(X, params, "full")
    with pytest.raises(ValueError, match=message):
        _missing_score.impute(X, params, "full")
    with pytest.raises(ValueError, match="no observed value in row 107"):
        _missing.missing_counts(X[:20], first_row=100)
    with pytest.raises(ValueError, match="no observed value in a row"):
        _missing.check_observed(X[:20], None)
    X[7] = 1.0
    X[9, 2] = -np.inf
    with pytest.raises(ValueError, match=r"infinity \(row 9\)"):
        _missing_score.impute(X, params, "full")


# tied components are equally far in the limit (as in the complete-data kernels)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_rows_whose_densities_underflow(rng, covariance_type):
    """log p(x_o) is -inf; posteriors and imputation take their limits."""
    X, params = problem(rng, covariance_type, np.float64, n_samples=40)
    X[5] = [1e200, np.nan, -2e200, 1e200]
    X[6] = [np.nan, 3e200, np.nan, np.nan]
    log_norm, labels, resp = _missing_score.missing_score(
        X, params, covariance_type, True
    )
    assert np.all(log_norm[5:7] == -np.inf) and np.isfinite(log_norm[7:]).all()
    covs = reference_missing.full_covariances(params.covariances, covariance_type, 3, 4)
    imputed = _missing_score.impute(X, params, covariance_type)
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
        _missing_score.missing_score(X, params, covariance_type, want_resp=True),
        gaussian_score(X, score_params, covariance_type, want_resp=True),
    ):
        assert_array_equal(got, expected)
    assert_array_equal(_missing_score.impute(X, params, covariance_type), X)
    # the missing-value kernels agree on complete rows to rounding
    every_row = _missing.missing_pass(
        X, None, params, covariance_type, rows=np.arange(len(X))
    )
    expected = reference_missing.centred_statistics(
        X, *_ref(params), covariance_type, params.means
    )
    assert_stats_equal(every_row, expected, covariance_type, 1e-9)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_results_do_not_depend_on_the_thread_count(
    rng, covariance_type, pattern_kernel
):
    if pattern_kernel == "rows" and covariance_type in ("diag", "spherical"):
        pytest.skip("diagonal covariances have one kernel")
    X, params = problem(rng, covariance_type, np.float32, n_samples=300)
    weights = sample_weights(rng, len(X))
    results = []
    for n_threads in (1, 2):
        with emfast.num_threads(n_threads):
            results.append(
                (
                    *_missing.missing_pass(X, weights, params, covariance_type),
                    *_missing_score.missing_score(X, params, covariance_type, True),
                    _missing_score.impute(X, params, covariance_type),
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
            str(HERE / "test_missing_kernels.py"),
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
