"""Kernels (through their thin Python drivers) against tests/reference.py.

Inputs are drawn fresh for every test. Sizes are small on purpose: this module
also runs with ``NUMBA_DISABLE_JIT=1`` (see test_nojit.py) so that coverage sees
the kernel bodies. Chunks and blocks are shrunk so that every test crosses many
chunk and block boundaries.
"""

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp as scipy_logsumexp
from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters

from emfast import _chunks
from emfast.kernels.fastexp import log_nonnegative
from emfast.kernels.mixture.logsumexp import argmax, logsumexp, posterior_row
from emfast.mixture._engine.init import AssignedResp, DenseResp
from emfast.mixture.gaussian import _kernels as _gaussian_kernels
from emfast.mixture.gaussian._pass import gaussian_pass, gaussian_score, resp_pass
from emfast.mixture.gaussian._update import estimate_gaussian_parameters
from emfast.rows import ArrayRows

from . import reference

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
# "full-gemm": the BLAS kernel that large feature counts use, forced on small data;
# "*-loop": the one-row-at-a-time kernels of diag and tied beyond the tile kernels
KERNELS = ["full", "full-gemm", "tied", "diag", "spherical", "tied-loop", "diag-loop"]
DTYPES = [np.float64, np.float32]
# float64 results agree with the float64 reference to rounding; float32 kernels
# compute log-densities in float32 (statistics in float64)
RTOL = {np.float64: 1e-10, np.float32: 2e-4}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 16)
    monkeypatch.setattr(_chunks, "CHUNKS_PER_BLOCK", 3)


def _use(kernel, monkeypatch):
    """The covariance type of ``kernel``; forces the GEMM or loop kernels."""
    if kernel == "full-gemm":
        monkeypatch.setattr(_gaussian_kernels, "GEMM_MIN_FEATURES", 1)
        return "full"
    monkeypatch.setattr(_gaussian_kernels, "GEMM_MIN_FEATURES", 10**6)
    if kernel.endswith("-loop"):
        monkeypatch.setattr(_gaussian_kernels, "TILE_MAX_FEATURES", 0)
        return kernel[: -len("-loop")]
    return kernel


def _log(params):
    """(weights, means, chol) -> the (log_weights, means, chol) kernels take."""
    weights, means, chol = params
    return np.log(weights), means, chol


def _problem(rng, covariance_type, dtype, n_samples=181, n_components=3, n_features=3):
    params = reference.random_params(rng, n_components, n_features, covariance_type)
    X = reference.sample_mixture(rng, n_samples, *params, covariance_type)
    return X.astype(dtype), params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_pass_and_update_match_reference_em_step(rng, monkeypatch, kernel, dtype):
    covariance_type = _use(kernel, monkeypatch)
    X, params = _problem(rng, covariance_type, dtype)
    reg_covar = 1e-4

    stats = gaussian_pass(
        ArrayRows(X), _log(params), covariance_type, with_entropy=True
    )
    nk, means, covariances = estimate_gaussian_parameters(
        stats, reg_covar, covariance_type
    )

    X64 = X.astype(np.float64)
    log_norm, resp = reference.e_step(X64, *params, covariance_type)
    ref_nk, ref_means, ref_covariances = reference.m_step(
        X64, resp, reg_covar, covariance_type
    )
    rtol = RTOL[dtype]
    assert stats.weight_sum == X.shape[0]
    assert_allclose(stats.log_norm, log_norm.sum(), rtol=rtol)
    with np.errstate(divide="ignore", invalid="ignore"):
        resp_log_resp = np.where(resp > 0, resp * np.log(resp), 0.0).sum()
    assert_allclose(stats.resp_log_resp, resp_log_resp, rtol=10 * rtol, atol=rtol)
    assert_allclose(nk, ref_nk, rtol=rtol)
    assert_allclose(means, ref_means, rtol=rtol, atol=rtol * 10)
    assert_allclose(covariances, ref_covariances, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_score_matches_reference(rng, monkeypatch, kernel, dtype):
    covariance_type = _use(kernel, monkeypatch)
    X, params = _problem(rng, covariance_type, dtype)
    log_norm, labels, resp = gaussian_score(
        X, _log(params), covariance_type, want_resp=True
    )
    assert log_norm.dtype == dtype and resp.dtype == dtype

    wlp = reference.weighted_log_prob(X.astype(np.float64), *params, covariance_type)
    ref_log_norm = scipy_logsumexp(wlp, axis=1)
    rtol = RTOL[dtype]
    assert_allclose(log_norm, ref_log_norm, rtol=rtol, atol=rtol)
    assert_allclose(resp, np.exp(wlp - ref_log_norm[:, None]), atol=10 * rtol)
    confident = np.sort(wlp, axis=1)[:, -1] - np.sort(wlp, axis=1)[:, -2] > 1e-3
    assert_array_equal(labels[confident], wlp.argmax(axis=1)[confident])

    _, labels_only, no_resp = gaussian_score(X, _log(params), covariance_type)
    assert no_resp is None
    assert_array_equal(labels_only, labels)


@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_resp_statistics_match_sklearn_estimates(rng, covariance_type, one_hot):
    """Initial parameters from responsibilities equal scikit-learn's, quirks included.

    One-hot responsibilities on a few rows only (k-means++, random_from_data)
    exercise scikit-learn's tied formula, which counts every row in X^T X.
    """
    X, _ = _problem(rng, covariance_type, np.float64, n_samples=97)
    n_components = 3
    if one_hot:
        rows = rng.choice(X.shape[0], size=n_components, replace=False)
        source = AssignedResp(
            rows, np.arange(n_components), X.shape[0], n_components, X.dtype
        )
        resp = np.zeros((X.shape[0], n_components))
        resp[rows, np.arange(n_components)] = 1
    else:
        resp = rng.uniform(size=(X.shape[0], n_components))
        resp /= resp.sum(axis=1, keepdims=True)
        source = DenseResp(resp)
    data = ArrayRows(X)
    centers = np.broadcast_to(data.mean(), (n_components, X.shape[1]))
    stats = resp_pass(data, source, centers, covariance_type)
    nk, means, covariances = estimate_gaussian_parameters(stats, 1e-6, covariance_type)

    ref_nk, ref_means, ref_covariances = _estimate_gaussian_parameters(
        X, resp, 1e-6, covariance_type
    )
    assert_allclose(nk, ref_nk, rtol=1e-12)
    assert_allclose(means, ref_means, rtol=1e-10, atol=1e-12)
    assert_allclose(covariances, ref_covariances, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
def test_sample_weights_equal_repeated_rows(rng, monkeypatch, kernel):
    covariance_type = _use(kernel, monkeypatch)
    X, params = _problem(rng, covariance_type, np.float64, n_samples=60)
    counts = rng.integers(0, 4, size=X.shape[0]).astype(np.float64)

    weighted = gaussian_pass(ArrayRows(X, counts), _log(params), covariance_type)
    repeated = gaussian_pass(
        ArrayRows(np.repeat(X, counts.astype(int), axis=0)),
        _log(params),
        covariance_type,
    )
    assert weighted.weight_sum == repeated.weight_sum
    assert_allclose(weighted.log_norm, repeated.log_norm, rtol=1e-10)
    for a, b in [(weighted.nk, repeated.nk), (weighted.s1, repeated.s1)]:
        assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    if weighted.s2 is not None:
        assert_allclose(weighted.s2, repeated.s2, rtol=1e-10, atol=1e-10)
    else:
        assert_allclose(weighted.scatter, repeated.scatter, rtol=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_centred_scatter_matches_numpy(rng, dtype):
    X = (rng.normal(size=(77, 4)) * [1, 10, 0.1, 3] + 1e3).astype(dtype)
    weights = rng.uniform(0, 2, size=X.shape[0])
    mean, scatter = ArrayRows(X, weights).centred_scatter()
    X64 = X.astype(np.float64)
    ref_mean = np.average(X64, axis=0, weights=weights)
    centred = X64 - ref_mean
    assert_allclose(mean, ref_mean, rtol=1e-12)
    assert_allclose(scatter, (weights * centred.T) @ centred, rtol=1e-10)
    squares_mean, squares = ArrayRows(X, weights).centred_squares()
    assert_array_equal(squares_mean, mean)
    assert_allclose(squares, weights @ centred**2, rtol=1e-10)
    _, unweighted = ArrayRows(X).centred_squares()
    assert_allclose(unweighted, ((X64 - X64.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-10)


@pytest.mark.parametrize(
    "dtype, lowest, rtol", [(np.float64, -708.0, 5e-14), (np.float32, -87.0, 4e-7)]
)
def test_posterior_row_exp_matches_numpy(rng, dtype, lowest, rtol):
    """``posterior_row``'s vectorised exp: weights ``exp(a_k - max)`` / sum.

    ``posterior_row`` may reassociate (to vectorise its sum), which also merges
    the two-part ``n ln 2`` of the exp's range reduction: the relative error of
    a weight grows to about ``|a_k - max| * 3e-17`` (2e-14 at -700, where the
    weight is below 1e-300 of the largest), 5e-16 near the maximum.
    """
    values = np.concatenate(
        [[0.0, -1e-300, -0.5, lowest + 3.0], rng.uniform(lowest, 0.0, size=61)]
    ).astype(dtype)
    values[-5:] = [lowest - 1.0, lowest - 50.0, -1e4, -np.inf, -np.inf]
    resp = np.empty_like(values)
    log_norm = posterior_row(values, 1.0, resp)
    exact = np.exp(values.astype(np.float64))
    total = exact.sum()
    expected = np.where(values.astype(np.float64) < lowest, 0.0, exact / total)
    # below the smallest normal number the scaled weights lose relative precision
    assert_allclose(resp, expected, rtol=rtol, atol=4 * np.finfo(dtype).tiny)
    assert_allclose(log_norm, np.log(total), rtol=rtol)


def test_log_nonnegative_matches_numpy(rng):
    """The vectorisable log of the row log-sum-exp, within 2 ulp of numpy's."""
    values = np.concatenate(
        [
            [1.0, 2.0, np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 2.0), 0.5, 1e-300],
            [np.finfo(np.float64).tiny, np.finfo(np.float64).max],
            rng.uniform(1.0, 64.0, size=200),
            np.exp(rng.uniform(-700.0, 700.0, size=200)),
        ]
    )
    out = np.empty_like(values)
    _log_each(values, out)
    expected = np.log(values)
    ulps = np.abs(out - expected) / np.spacing(np.abs(expected))
    assert ulps.max() <= 2.0, values[ulps.argmax()]
    zero = np.zeros(1)
    _log_each(zero, zero)
    assert zero[0] == -np.inf


@numba.njit
def _log_each(values, out):
    for i in range(values.shape[0]):
        out[i] = log_nonnegative(values[i])


def test_logsumexp_and_argmax_match_numpy(rng):
    values = rng.normal(scale=300, size=9)
    values[[1, 4]] = -np.inf
    assert_allclose(logsumexp(values), scipy_logsumexp(values), rtol=1e-14)
    assert argmax(values) == np.argmax(values)
    assert logsumexp(np.full(4, -np.inf)) == -np.inf
    ties = np.array([1.0, 3.0, 3.0])
    assert argmax(ties) == 1
