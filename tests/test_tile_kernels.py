"""Tile kernels: generated bodies, edge cases of a pass, thread independence.

Passes are checked against plain numpy sums of ``tests/reference.py``'s
responsibilities. This module also runs with ``NUMBA_DISABLE_JIT=1`` (see
test_nojit.py), where the tile kernels run their Python reference bodies.
"""

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import emfast
from emfast import _chunks
from emfast.kernels.mixture import unrolled
from emfast.kernels.mixture.row_tiles import TILE_ROWS
from emfast.mixture.gaussian import _kernels as _gaussian_kernels
from emfast.mixture.gaussian._pass import gaussian_pass, gaussian_score
from emfast.rows import ArrayRows

from . import reference

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
RTOL = {np.float64: 1e-10, np.float32: 2e-4}


@pytest.fixture(autouse=True)
def tile_kernels(monkeypatch):
    """The tile kernels for every test (never GEMM), chunks of 300 rows."""
    monkeypatch.setattr(_gaussian_kernels, "GEMM_MIN_FEATURES", 10**6)
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 300)  # a tile and a partial tile
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 2)


# --- the generated straight-line bodies against their Python reference ----------


@numba.njit
def _log_prob_jit(function_id, size, x_tile, params, const, lanes, out):
    if function_id == 0:
        unrolled.full_log_prob(size, x_tile, params, const, lanes, out)
    elif function_id == 1:
        unrolled.diag_log_prob(size, x_tile, params, const, lanes, out)
    else:
        unrolled.tied_log_prob(size, x_tile, params, const, lanes, out)


@numba.njit
def _sums_jit(function_id, size, x_tile, means, resp, lanes, sums):
    if function_id == 0:
        unrolled.full_scatter(size, x_tile, means, resp, lanes, sums)
    elif function_id == 1:
        unrolled.diag_scatter(size, x_tile, means, resp, lanes, sums)
    else:
        unrolled.first_moments(size, x_tile, means, resp, lanes, sums)


@numba.njit
def _project_jit(size, x_tile, shift, prec_chol, lanes, out):
    unrolled.tied_project(size, x_tile, shift, prec_chol, lanes, out)


@pytest.mark.parametrize("n_features", [1, 2, 5, 9, 16])
def test_generated_bodies_match_python_reference(rng, n_features):
    size = (0,) * n_features
    n_params = n_features + n_features * (n_features + 1) // 2
    lanes = 37  # not a multiple of any vector width
    x_tile = rng.normal(size=(n_features, 48))
    params = rng.normal(size=n_params)
    resp = rng.uniform(size=48)
    log_prob_functions = [
        unrolled.full_log_prob,
        unrolled.diag_log_prob,
        unrolled.tied_log_prob,
    ]
    for function_id, function in enumerate(log_prob_functions):
        compiled = np.full(48, np.nan)
        expected = np.full(48, np.nan)
        _log_prob_jit(function_id, size, x_tile, params, -1.5, lanes, compiled)
        function(size, x_tile, params, -1.5, lanes, expected)
        _assert_close_up_to_cancellation(compiled, expected)
    sums_functions = [
        unrolled.full_scatter,
        unrolled.diag_scatter,
        unrolled.first_moments,
    ]
    for function_id, function in enumerate(sums_functions):
        compiled = np.ones(n_params + 1)
        expected = np.ones(n_params + 1)
        _sums_jit(function_id, size, x_tile, params, resp, lanes, compiled)
        function(size, x_tile, params, resp, lanes, expected)
        _assert_close_up_to_cancellation(compiled, expected)
    compiled = np.full_like(x_tile, np.nan)
    expected = np.full_like(x_tile, np.nan)
    _project_jit(size, x_tile, params, params[n_features:], lanes, compiled)
    unrolled.tied_project(size, x_tile, params, params[n_features:], lanes, expected)
    _assert_close_up_to_cancellation(compiled, expected)


def _assert_close_up_to_cancellation(compiled, expected):
    """Equal up to rounding (fused multiply-adds round differently): errors are
    relative to the largest value, as sums of mixed signs may cancel."""
    scale = np.nanmax(np.abs(expected))
    assert_allclose(compiled, expected, rtol=1e-13, atol=1e-13 * scale, equal_nan=True)


def test_full_scatter_sums_are_the_centred_moments(rng):
    n_features = 3
    x_tile = rng.normal(size=(n_features, 20))
    means = rng.normal(size=n_features)
    resp = rng.uniform(size=20)
    sums = np.zeros(1 + n_features * (n_features + 3) // 2)
    unrolled.full_scatter((0,) * n_features, x_tile, means, resp, 20, sums)
    centred = x_tile.T - means
    rows, cols = np.triu_indices(n_features)
    second = (resp * centred.T) @ centred
    assert_allclose(sums[0], resp.sum())
    assert_allclose(sums[1 : 1 + n_features], resp @ centred)
    assert_allclose(sums[1 + n_features :], second[rows, cols])


# --- passes against numpy sums of the reference responsibilities -----------------


def _reference_stats(X, weights, params, covariance_type, sample_weight=None):
    """``(sum w log p(x), nk, s1, s2)`` by numpy, centred on the pass's means."""
    X64 = X.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # rows whose densities underflow
        log_norm, resp = reference.e_step(X64, *params, covariance_type)
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    resp = np.where(w[:, None] > 0, resp * w[:, None], 0.0)
    means = params[1]
    s1 = np.array([resp[:, k] @ (X64 - means[k]) for k in range(len(means))])
    s2 = np.array(
        [
            (resp[:, k] * (X64 - means[k]).T) @ (X64 - means[k])
            for k in range(len(means))
        ]
    )
    return (w[w > 0] * log_norm[w > 0]).sum(), resp.sum(axis=0), s1, s2


def _check_pass(X, params, covariance_type, sample_weight=None, rtol=1e-10):
    weights, means, chol = params
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    stats = gaussian_pass(
        ArrayRows(X, sample_weight), (log_weights, means, chol), covariance_type
    )
    ll, nk, s1, s2 = _reference_stats(
        X, weights, params, covariance_type, sample_weight
    )
    atol = rtol * max(1.0, np.abs(s2).max())
    assert_allclose(stats.log_norm, ll, rtol=rtol)
    assert_allclose(stats.nk, nk, rtol=rtol, atol=atol)
    assert_allclose(stats.s1, s1, rtol=rtol, atol=atol)
    if covariance_type == "full":
        assert_allclose(stats.s2, s2, rtol=rtol, atol=atol)
    elif covariance_type in ("diag", "spherical"):
        diagonal = np.diagonal(s2, axis1=1, axis2=2)
        assert_allclose(stats.s2, diagonal, rtol=rtol, atol=atol)
    return stats


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(
    "n_samples, n_features, n_components",
    [(1, 1, 1), (17, 1, 3), (301, 2, 1), (TILE_ROWS + 5, 3, 4), (700, 16, 2)],
)
def test_pass_matches_reference_sums(
    rng, covariance_type, dtype, n_samples, n_features, n_components
):
    params = reference.random_params(rng, n_components, n_features, covariance_type)
    X = reference.sample_mixture(rng, n_samples, *params, covariance_type).astype(dtype)
    _check_pass(X, params, covariance_type, rtol=RTOL[dtype])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_and_far_rows(rng, covariance_type):
    """Zero-weight rows count for nothing, even where every density underflows."""
    params = reference.random_params(rng, 3, 2, covariance_type)
    X = reference.sample_mixture(rng, 400, *params, covariance_type)
    sample_weight = rng.uniform(0.5, 2.0, size=400)
    sample_weight[::7] = 0.0
    X[::14] = 1e200  # every density underflows, weight 0
    _check_pass(X, params, covariance_type, sample_weight=sample_weight)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_far_rows_give_minus_inf_and_no_statistics(rng, covariance_type):
    params = reference.random_params(rng, 3, 2, covariance_type)
    X = reference.sample_mixture(rng, 300, *params, covariance_type)
    far = X.copy()
    far[[3, 150, 299]] = [1e200, -1e200]
    weights, means, chol = params
    log_params = (np.log(weights), means, chol)
    shift = means.mean(axis=0)  # the far rows would swamp the data mean
    stats = gaussian_pass(ArrayRows(far), log_params, covariance_type, shift=shift)
    near = np.delete(X, [3, 150, 299], axis=0)
    expected = gaussian_pass(ArrayRows(near), log_params, covariance_type, shift=shift)
    assert stats.log_norm == -np.inf
    assert_allclose(stats.nk, expected.nk, rtol=1e-12)
    assert_allclose(stats.s1, expected.s1, rtol=1e-12, atol=1e-12)
    log_norm, labels, resp = gaussian_score(
        far, log_params, covariance_type, want_resp=True
    )
    assert np.all(log_norm[[3, 150, 299]] == -np.inf)
    assert np.all(np.isfinite(np.delete(log_norm, [3, 150, 299])))
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_mixing_weight_gives_empty_component(rng, covariance_type):
    """A component of weight 0 (log weight -inf) gets no responsibility."""
    params = reference.random_params(rng, 3, 4, covariance_type)
    X = reference.sample_mixture(rng, 500, *params, covariance_type)
    weights = params[0].copy()
    weights[1] = 0.0
    weights /= weights.sum()
    with np.errstate(divide="ignore"):
        stats = _check_pass(X, (weights, *params[1:]), covariance_type)
        log_weights = np.log(weights)
        wlp = reference.weighted_log_prob(X, weights, *params[1:], covariance_type)
    assert stats.nk[1] == 0.0 and np.all(stats.s1[1] == 0.0)
    log_norm, labels, resp = gaussian_score(
        X, (log_weights, *params[1:]), covariance_type, want_resp=True
    )
    assert np.all(resp[:, 1] == 0.0) and not np.any(labels == 1)
    assert_allclose(log_norm, np.logaddexp.reduce(wlp, axis=1), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pass_bit_identical_with_one_and_two_threads(rng, covariance_type):
    params = reference.random_params(rng, 5, 3, covariance_type)
    X = reference.sample_mixture(rng, 2000, *params, covariance_type)
    log_params = (np.log(params[0]), *params[1:])
    results = []
    for n_threads in (1, 2):
        with emfast.num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS)):
            stats = gaussian_pass(ArrayRows(X), log_params, covariance_type)
            scores = gaussian_score(X, log_params, covariance_type, want_resp=True)
        results.append((stats, scores))
    (first, first_scores), (second, second_scores) = results
    assert first.log_norm == second.log_norm
    for name in ("nk", "s1", "s2"):
        if getattr(first, name) is not None:
            assert_array_equal(getattr(first, name), getattr(second, name))
    for a, b in zip(first_scores, second_scores):
        assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_negligible_posteriors_change_no_statistic(rng, dtype):
    """Posteriors cut to 0 below exp(-44) / exp(-665) (they would be subnormal
    after a product or two) leave the statistics equal to the reference's."""
    weights = np.full(4, 0.25)
    # components 10, 30 and 60 standard deviations from the data: log-density
    # gaps of about -50, -450 and -1800 from the nearest one
    means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 30.0], [60.0, 60.0]])
    chol = np.repeat(np.eye(2)[None], 4, axis=0)
    X = rng.normal(size=(500, 2)).astype(dtype)
    _check_pass(X, (weights, means, chol), "full", rtol=RTOL[dtype])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_labels_alone_equal_labels_with_log_norm(rng, covariance_type):
    """``predict``'s path (no exponentials) labels rows as the full scoring does,
    far rows included."""
    params = reference.random_params(rng, 4, 3, covariance_type)
    X = reference.sample_mixture(rng, 600, *params, covariance_type)
    X[[5, 400]] = [1e200, -1e200, 0.0]
    log_params = (np.log(params[0]), *params[1:])
    log_norm, labels, _ = gaussian_score(X, log_params, covariance_type)
    no_log_norm, labels_alone, _ = gaussian_score(
        X, log_params, covariance_type, want_log_norm=False
    )
    assert no_log_norm is None
    assert_array_equal(labels_alone, labels)
    assert np.all(labels >= 0) and np.all(log_norm[[5, 400]] == -np.inf)
    wlp = reference.weighted_log_prob(
        np.delete(X, [5, 400], axis=0), *params, covariance_type
    )
    ordered = np.sort(wlp, axis=1)
    confident = ordered[:, -1] - ordered[:, -2] > 1e-6
    near_labels = np.delete(labels, [5, 400])
    assert_array_equal(near_labels[confident], wlp.argmax(axis=1)[confident])
