"""The Poisson pass on tiles of rows against a float64 numpy reference."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp

from emfast.kernels.mixture import poisson_tile


def _reference(X, weights, const, log_rates_t):
    log_prob = const + X.astype(np.float64) @ log_rates_t
    log_norm = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - log_norm[:, None]) * weights[:, None]
    ll = weights @ log_norm
    return ll, resp.sum(axis=0), X.T.astype(np.float64) @ resp


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1000, 3, 4), (2600, 8, 16), (300, 1, 1)])
def test_tile_pass_matches_numpy(rng, dtype, shape):
    n_samples, n_features, n_components = shape
    X = rng.poisson(rng.uniform(0.5, 8.0), size=(n_samples, n_features)).astype(dtype)
    X[5] = 0  # an all-zero row
    weights = rng.uniform(0.0, 2.0, size=n_samples)
    weights[::7] = 0.0
    const = rng.normal(size=n_components)
    log_rates_t = np.log(rng.uniform(0.5, 6.0, size=(n_features, n_components)))
    chunk_rows = 300  # a chunk of more than one tile, and a partial tile
    n_chunks = -(-n_samples // chunk_rows)
    ll = np.empty(n_chunks)
    nk = np.empty((n_chunks, n_components))
    s1 = np.empty((n_chunks, n_features, n_components))
    poisson_tile.stats(
        X, weights, const, np.ascontiguousarray(log_rates_t.T), chunk_rows, ll, nk, s1
    )
    ref_ll, ref_nk, ref_s1 = _reference(X, weights, const, log_rates_t)
    assert_allclose(ll.sum(), ref_ll, rtol=1e-12)
    assert_allclose(nk.sum(axis=0), ref_nk, rtol=1e-12)
    assert_allclose(s1.sum(axis=0), ref_s1, rtol=1e-12, atol=1e-12 * ref_s1.max())

    unit = np.empty(0)
    poisson_tile.stats(
        X, unit, const, np.ascontiguousarray(log_rates_t.T), chunk_rows, ll, nk, s1
    )
    ref_ll, ref_nk, _ = _reference(X, np.ones(n_samples), const, log_rates_t)
    assert_allclose(ll.sum(), ref_ll, rtol=1e-12)
    assert_allclose(nk.sum(axis=0), ref_nk, rtol=1e-12)
