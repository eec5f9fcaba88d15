"""The VAE kernels against finite differences (float64) and numpy references.

Sizes are tiny and every kernel is called directly, so this module also runs
as plain Python under ``NUMBA_DISABLE_JIT=1``.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from emfast.kernels.vae.adam import STATE_FLOOR, adagrad_step, adam_step
from emfast.kernels.vae.latent import (
    fill_normal,
    keyed_noise,
    latent_backward,
    latent_forward,
    row_key,
)
from emfast.kernels.vae.likelihood import bernoulli_row, gaussian_row
from emfast.kernels.vae.nn import (
    IDENTITY,
    RELU,
    TANH,
    activation_backward,
    dense_backward,
    dense_forward,
    tanh_fast,
)
from emfast.kernels.vae.sparse import (
    sparse_forward,
    sparse_structure,
    sparse_weight_grad,
)

ACTIVATIONS = {"relu": RELU, "tanh": TANH, "identity": IDENTITY}


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar ``f()`` w.r.t. every entry of ``x``."""
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + h
        up = f()
        flat[k] = saved - h
        down = f()
        flat[k] = saved
        out[k] = (up - down) / (2 * h)
    return grad


def apply_activation(pre, name):
    return {"relu": np.maximum(pre, 0), "tanh": np.tanh(pre), "identity": pre}[name]


@pytest.mark.parametrize("name", ["relu", "tanh", "identity"])
def test_dense_layer_gradients(rng, name):
    n_rows, n_in, n_out = 5, 4, 3
    inputs = rng.normal(size=(n_rows, n_in))
    weights = rng.normal(size=(n_in, n_out))
    bias = rng.normal(size=n_out)
    upstream = rng.normal(size=(n_rows, n_out))
    out = np.empty((n_rows, n_out))

    def loss():
        dense_forward(inputs, weights, bias, out, ACTIVATIONS[name])
        return float(np.sum(out * upstream))

    loss()
    assert_allclose(
        out, apply_activation(inputs @ weights + bias, name), rtol=1e-12, atol=1e-14
    )
    grad_pre = upstream.copy()
    activation_backward(grad_pre, out, ACTIVATIONS[name])
    grad_w, grad_b = np.empty_like(weights), np.empty_like(bias)
    grad_in = np.empty_like(inputs)
    dense_backward(inputs, weights, grad_pre, grad_w, grad_b, grad_in, True)
    for analytic, variable in [(grad_w, weights), (grad_b, bias), (grad_in, inputs)]:
        assert_allclose(analytic, numeric_grad(loss, variable), rtol=1e-6, atol=1e-8)


def test_tanh_fast_matches_numpy(rng):
    x = np.concatenate([rng.normal(scale=3, size=200), [0.0, -0.0, 1e-9, -40, 40]])
    assert_allclose([tanh_fast(v, 1.0) for v in x], np.tanh(x), rtol=1e-14, atol=1e-16)
    x32 = x.astype(np.float32)
    assert_allclose(
        [tanh_fast(v, np.float32(1)) for v in x32], np.tanh(x), rtol=0, atol=3e-7
    )


def bernoulli_reference(logits, x):
    return float(np.sum(np.logaddexp(0, logits) - x * logits))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bernoulli_row(rng, dtype):
    n = 40
    # logits from tiny to far beyond float32 exp range, grey-level targets
    logits = (rng.normal(size=n) * np.exp(rng.uniform(-8, 5, size=n))).astype(dtype)
    x = rng.random(n).astype(dtype)
    grad = np.empty(n, dtype=dtype)
    work = np.empty(n, dtype=dtype)
    value = bernoulli_row(logits, x, grad, 0.5, work, True)
    expected = bernoulli_reference(logits.astype(float), x.astype(float))
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    assert_allclose(value, expected, rtol=rtol)
    probs = 1 / (1 + np.exp(-logits.astype(float)))
    assert_allclose(grad, 0.5 * (probs - x), rtol=rtol, atol=1e-7)
    assert bernoulli_row(logits, x, grad, 0.5, work, False) == value
    if dtype == np.float64:
        logits_fd = logits[:8].copy()

        def loss():
            return bernoulli_row(logits_fd, x[:8], np.empty(8), 1.0, np.empty(8), False)

        bernoulli_row(logits_fd, x[:8], grad, 1.0, work, True)
        assert_allclose(grad[:8], numeric_grad(loss, logits_fd), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("sigmoid_mean", [True, False])
def test_gaussian_row_gradients(rng, sigmoid_mean):
    n, floor = 6, 1e-3
    pre_mean = rng.normal(size=n)
    x = rng.random(n)
    raw = rng.normal(scale=0.5, size=n)
    work = np.empty(n)

    def value_and_grads():
        raw_exp = np.exp(raw)
        variance = raw_exp + floor
        grad, grad_raw = np.empty(n), np.zeros(n)
        value = gaussian_row(
            pre_mean,
            x,
            variance,
            np.log(variance),
            sigmoid_mean,
            grad,
            grad_raw,
            raw_exp,
            1.0,
            work,
            True,
        )
        return value, grad, grad_raw

    value, grad, grad_raw = value_and_grads()
    mean = 1 / (1 + np.exp(-pre_mean)) if sigmoid_mean else pre_mean
    expected = -np.sum(stats.norm.logpdf(x, mean, np.sqrt(np.exp(raw) + floor)))
    assert_allclose(value, expected, rtol=1e-13)
    assert_allclose(
        grad, numeric_grad(lambda: value_and_grads()[0], pre_mean), rtol=1e-6, atol=1e-9
    )
    assert_allclose(
        grad_raw, numeric_grad(lambda: value_and_grads()[0], raw), rtol=1e-6, atol=1e-9
    )


def test_latent_gradients(rng):
    n_rows, n_latent, kl_scale = 3, 4, 0.7
    encoded = rng.normal(size=(n_rows, 2 * n_latent))
    noise = rng.normal(size=(n_rows, n_latent))
    upstream = rng.normal(size=(n_rows, n_latent))
    z = np.empty((n_rows, n_latent))
    kl = np.empty(n_rows)

    def loss():
        latent_forward(encoded, noise, z, kl)
        return float(np.sum(z * upstream) + kl_scale * kl.sum())

    loss()
    mu, log_var = encoded[:, :n_latent], encoded[:, n_latent:]
    assert_allclose(z, mu + np.exp(log_var / 2) * noise, rtol=1e-14)
    expected_kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - log_var - 1, axis=1)
    assert_allclose(kl, expected_kl, rtol=1e-13)
    grad = np.empty_like(encoded)
    latent_backward(encoded, noise, upstream, grad, kl_scale)
    assert_allclose(grad, numeric_grad(loss, encoded), rtol=1e-6, atol=1e-9)


def test_fill_normal_is_standard_normal_and_indexed(rng):
    key = int(rng.integers(2**31))
    values = np.empty(4000)
    fill_normal(values, key, 0)
    assert stats.kstest(values, "norm").pvalue > 1e-4
    # pairs (cos, sin) are uncorrelated
    assert abs(np.corrcoef(values[0::2], values[1::2])[0, 1]) < 5 / math.sqrt(2000)
    # a value depends on (key, index) only
    part = np.empty(10)
    fill_normal(part, key, 1000)
    assert_array_equal(part, values[1000:1010])
    fill_normal(part, key + 1, 1000)
    assert not np.any(part == values[1000:1010])
    # indices past 2**32 still give fresh values
    fill_normal(part, key, 2**32)
    assert not np.any(part == values[:10])


def murmur_fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def row_key_reference(row, key):
    """FNV-1a over the row's 32-bit words, started from the mixed key, then
    murmur3's finaliser (plain Python integers)."""
    h = murmur_fmix32(key & 0xFFFFFFFF) ^ 0x811C9DC5
    for word in np.ascontiguousarray(row).view(np.uint32).tolist():
        h = ((h ^ word) * 0x01000193) & 0xFFFFFFFF
    return murmur_fmix32(h)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_key_matches_a_reference_and_tells_rows_apart(rng, dtype):
    key = int(rng.integers(2**31))
    rows = rng.normal(size=(50, 7)).astype(dtype)
    keys = [row_key(row, key) for row in rows]
    assert keys == [row_key_reference(row, key) for row in rows]
    assert all(0 <= k < 2**32 for k in keys)
    assert len(set(keys)) == len(keys)
    # one value changed by one ulp, or the same row under another key: new key
    for i, row in enumerate(rows):
        nudged = row.copy()
        j = i % row.size
        nudged[j] = np.nextafter(row[j], dtype(np.inf))
        assert row_key(nudged, key) != keys[i]
        assert row_key(row, key + 1) != keys[i]
    # a pure function of the row's values: copies and views agree
    assert row_key(rows[3].copy(), key) == row_key(rows[3:4][0], key) == keys[3]


def test_keyed_noise_is_each_rows_own_stream(rng):
    key = int(rng.integers(2**31))
    rows = rng.random((6, 4))
    noise = np.empty(6 * 3 + 1)
    block = keyed_noise(noise, rows, 3, key)
    for i, row in enumerate(rows):
        expected = np.empty(3)
        fill_normal(expected, row_key(row, key), 0)
        assert_array_equal(block[i], expected)
    # reordered rows carry their noise with them
    again = keyed_noise(np.empty(6 * 3 + 1), rows[::-1].copy(), 3, key)
    assert_array_equal(again, block[::-1])


def adam_reference(params, grads, m, v, step, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads**2
    denom = np.sqrt(v) / np.sqrt(1 - beta2**step) + eps
    return params - lr / (1 - beta1**step) * m / denom, m, v


def test_adam_matches_reference(rng):
    n = 70_000  # several parallel chunks
    params, m, v = rng.normal(size=n), np.zeros(n), np.zeros(n)
    ref = params.copy(), m.copy(), v.copy()
    for step in range(1, 4):
        grads = rng.normal(size=n)
        adam_step(params, grads, m, v, step, 1e-2, 0.9, 0.999, 1e-8)
        ref = adam_reference(*ref[:1], grads, *ref[1:], step, 1e-2, 0.9, 0.999, 1e-8)
    # moments can cancel to near zero: compare those on an absolute scale
    assert_allclose(params, ref[0], rtol=1e-12, atol=1e-14)
    assert_allclose(m, ref[1], rtol=1e-12, atol=1e-14)
    assert_allclose(v, ref[2], rtol=1e-12, atol=1e-14)


def test_adam_flushes_tiny_state_to_zero():
    params = np.ones(4, dtype=np.float32)
    # moments decaying towards the denormal range, and a denormal-squared gradient
    m = np.array([1e-29, -1.05e-30, 0.5, 1e-31], dtype=np.float32)
    v = np.array([1e-29, 1e-30, 0.5, 1e-20], dtype=np.float32)
    grads = np.array([0, 0, 0, 1e-19], dtype=np.float32)
    adam_step(params, grads, m, v, 10, 1e-3, 0.9, 0.999, 1e-8)
    assert_array_equal(m == 0, [False, True, False, True])
    assert_array_equal(v == 0, [False, True, False, False])
    assert np.all((m == 0) | (np.abs(m) >= STATE_FLOOR))
    assert np.all(np.isfinite(params))


def test_adagrad_matches_reference(rng):
    n = 1000
    params, sums = rng.normal(size=n), np.zeros(n)
    expected, expected_sums = params.copy(), sums.copy()
    for _ in range(3):
        grads = rng.normal(size=n)
        adagrad_step(params, grads, sums, 0.1, 1e-10)
        expected_sums += grads**2
        expected -= 0.1 * grads / (np.sqrt(expected_sums) + 1e-10)
    assert_allclose(params, expected, rtol=1e-12)
    assert_allclose(sums, expected_sums, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_first_layer_matches_dense(rng, dtype):
    n_rows, n_in, n_out = 9, 23, 7
    x = rng.random((n_rows, n_in)) * (rng.random((n_rows, n_in)) < 0.3)
    x[2] = 0  # a row without nonzeros
    x[:, 5] = 0  # a column without nonzeros
    x[4, :] = rng.random(n_in)  # a row with many (not a multiple of four)
    x = x.astype(dtype)
    row_ptr, col_ptr = np.empty(n_rows + 1, np.int64), np.empty(n_in + 1, np.int64)
    row_index = np.empty(x.size, np.int64)
    col_index = np.empty(x.size, np.int64)
    nnz = sparse_structure(x, row_ptr, row_index, col_ptr, col_index)
    assert nnz == np.count_nonzero(x)
    rows, cols = np.nonzero(x)
    assert_array_equal(row_index[:nnz], cols)
    assert_array_equal(np.diff(row_ptr), np.count_nonzero(x, axis=1))
    assert_array_equal(np.diff(col_ptr), np.count_nonzero(x, axis=0))
    assert_array_equal(col_index[:nnz], np.nonzero(x.T)[1])

    weights = rng.normal(size=(n_in, n_out)).astype(dtype)
    bias = rng.normal(size=n_out).astype(dtype)
    out = np.full((n_rows, n_out), np.nan, dtype=dtype)
    sparse_forward(x, row_ptr, row_index, weights, bias, out, RELU)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(out, np.maximum(x @ weights + bias, 0), rtol=rtol, atol=rtol)
    grad_pre = rng.normal(size=(n_rows, n_out)).astype(dtype)
    grad_weights = np.full_like(weights, np.nan)
    sparse_weight_grad(x, col_ptr, col_index, grad_pre, grad_weights)
    assert_allclose(grad_weights, x.T @ grad_pre, rtol=rtol, atol=rtol)
