"""One whole VAE training step against a numpy reference, and the network's
gradient against finite differences (float64, tiny networks)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from emfast.kernels.vae.adam import ADAGRAD, ADAM, NO_UPDATE
from emfast.kernels.vae.network import (
    network_backward,
    network_loss,
    noise_rows,
    sparse_lists,
)
from emfast.kernels.vae.sparse import sparse_structure
from emfast.kernels.vae.train import train_steps
from emfast.vae._layout import NetworkLayout, workspace

from .test_nn_kernels import numeric_grad

VAR_FLOOR = 1e-3


def _activation(name, pre):
    return np.maximum(pre, 0) if name == "relu" else np.tanh(pre)


def _activation_grad(name, out):
    return (out > 0).astype(out.dtype) if name == "relu" else 1 - out**2


def reference_loss_and_grad(layout, theta, x, eps, sigmoid_mean):
    """Mean -ELBO of the rows ``x`` with noise ``eps`` and its gradient (numpy)."""
    params = layout.split(theta)
    grads = layout.split(np.zeros_like(theta))
    n_enc, n_latent, n_rows = layout.n_encoder_layers, layout.n_latent, x.shape[0]
    inputs, outputs = [], []
    h = x
    for layer, (weights, bias) in enumerate(params):
        if layer == n_enc:
            mu, log_var = h[:, :n_latent], h[:, n_latent:]
            h = mu + np.exp(log_var / 2) * eps
        inputs.append(h)
        pre = h @ weights + bias
        last = layer in (n_enc - 1, len(params) - 1)
        h = pre if last else _activation(layout.activation, pre)
        outputs.append(h)
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - log_var - 1, axis=1)
    grad_raw = None
    if layout.likelihood == "bernoulli":
        nll = np.sum(np.logaddexp(0, h) - x * h, axis=1)
        grad_out = (1 / (1 + np.exp(-h)) - x) / n_rows
    else:
        raw = theta[layout.var_offset :]
        variance = np.exp(raw) + VAR_FLOOR
        mean = 1 / (1 + np.exp(-h)) if sigmoid_mean else h
        ratio = (x - mean) ** 2 / variance
        nll = 0.5 * np.sum(np.log(2 * np.pi) + np.log(variance) + ratio, axis=1)
        slope = mean * (1 - mean) if sigmoid_mean else 1.0
        grad_out = (mean - x) / variance * slope / n_rows
        grad_raw = np.sum(0.5 * (1 - ratio) * np.exp(raw) / variance, axis=0) / n_rows
    grad_pre = grad_out
    for layer in range(len(params) - 1, -1, -1):
        grads[layer][0][:] = inputs[layer].T @ grad_pre
        grads[layer][1][:] = grad_pre.sum(axis=0)
        grad_in = grad_pre @ params[layer][0].T
        if layer == n_enc:
            std = np.exp(log_var / 2)
            grad_pre = np.hstack(
                [
                    grad_in + mu / n_rows,
                    grad_in * eps * std / 2 + (std**2 - 1) / 2 / n_rows,
                ]
            )
        elif layer > 0:
            grad_pre = grad_in * _activation_grad(layout.activation, outputs[layer - 1])
    grad = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in grads])
    if grad_raw is not None:
        grad = np.concatenate([grad, grad_raw])
    return float(np.mean(nll + kl)), grad


def _model(rng, likelihood, activation, n_features=6):
    layout = NetworkLayout(n_features, 2, (5,), (4, 3), activation, likelihood)
    theta = layout.init_params(np.random.RandomState(rng.integers(2**31)), np.float64)
    if likelihood == "gaussian":
        theta[layout.var_offset :] = rng.normal(scale=0.3, size=n_features)
    return layout, theta


def _kernel_loss(
    layout, theta, grad, x, buffers, sigmoid_mean, with_grad, use_sparse, key=7
):
    n_rows = x.shape[0]
    config = layout.config(n_rows, sigmoid_mean)
    layers = layout.layers()
    x_slot = buffers["acts"][: x.size].reshape(x.shape)
    x_slot[:] = x
    if use_sparse:
        row_ptr, col_ptr, row_index, col_index = sparse_lists(
            buffers["sparse"], n_rows, x.shape[1]
        )
        sparse_structure(x_slot, row_ptr, row_index, col_ptr, col_index)
    eps = network_loss(
        theta,
        grad,
        layers,
        config,
        VAR_FLOOR,
        x_slot,
        buffers["acts"],
        buffers["grads_act"],
        buffers["noise"],
        buffers["work"],
        buffers["rows64"],
        n_rows,
        key,
        0,
        1.0 / n_rows,
        with_grad,
        buffers["sparse"],
        use_sparse,
    )
    loss = float(np.sum(buffers["rows64"][: 2 * n_rows])) / n_rows
    if with_grad:
        network_backward(
            theta,
            grad,
            layers,
            config,
            buffers["acts"],
            buffers["grads_act"],
            eps,
            n_rows,
            1.0 / n_rows,
            buffers["sparse"],
            use_sparse,
            NO_UPDATE,  # gradients only
            np.zeros(4),
            0,
            theta,
            theta,
        )
    return loss, eps.copy()


CASES = [
    ("bernoulli", "relu", False, False),
    ("bernoulli", "tanh", False, True),
    ("bernoulli", "relu", False, True),
    ("gaussian", "tanh", True, False),
    ("gaussian", "relu", False, True),
]


@pytest.mark.parametrize("likelihood, activation, sigmoid_mean, sparse", CASES)
def test_network_gradient_matches_finite_differences(
    rng, likelihood, activation, sigmoid_mean, sparse
):
    layout, theta = _model(rng, likelihood, activation)
    x = rng.random((4, layout.n_features))
    if likelihood == "gaussian" and not sigmoid_mean:
        x = rng.normal(size=x.shape)
    if sparse:  # the first layer through the nonzero lists
        x[rng.random(x.shape) < 0.6] = 0
    buffers = workspace(layout, x.shape[0], np.float64)
    grad = np.zeros_like(theta)
    loss, eps = _kernel_loss(
        layout, theta, grad, x, buffers, sigmoid_mean, True, sparse
    )

    expected_loss, expected_grad = reference_loss_and_grad(
        layout, theta, x, eps, sigmoid_mean
    )
    assert_allclose(loss, expected_loss, rtol=1e-12)
    assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-13)

    def f():
        return _kernel_loss(
            layout, theta, np.zeros_like(theta), x, buffers, sigmoid_mean, False, sparse
        )[0]

    assert_allclose(grad, numeric_grad(f, theta), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("density", [0.15, 0.6], ids=["sparse", "dense"])
@pytest.mark.parametrize("optimizer", [ADAM, ADAGRAD])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_training_steps_match_numpy(rng, optimizer, likelihood, density):
    """Two minibatches (the second one short) of train_steps vs numpy.

    At 15 % nonzeros the first layer runs on the nonzero lists, at 60 % on BLAS.
    """
    layout, theta = _model(rng, likelihood, "relu")
    X = (rng.random((13, layout.n_features)) < density).astype(np.float64)
    order = rng.permutation(13).astype(np.int64)
    batch_size, key, lr = 8, int(rng.integers(2**31)), 0.01
    hyper = np.array([lr, 0.9, 0.999, 1e-8, VAR_FLOOR])
    buffers = workspace(layout, batch_size, np.float64)
    state1, state2 = np.zeros_like(theta), np.zeros_like(theta)
    expected = theta.copy()
    losses = np.zeros(2)
    n_done = train_steps(
        X,
        order,
        0,
        2,
        batch_size,
        theta,
        np.zeros_like(theta),
        state1,
        state2,
        optimizer,
        hyper,
        0,
        layout.layers(),
        layout.config(batch_size, True),
        buffers["acts"],
        buffers["grads_act"],
        buffers["noise"],
        buffers["work"],
        buffers["rows64"],
        buffers["sparse"],
        key,
        0,
        losses,
    )
    assert n_done == 2

    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for step, rows in enumerate([order[:8], order[8:]], start=1):
        x = X[rows]
        eps = noise_rows(
            np.empty(len(rows) * 2), len(rows), 2, key, (step - 1) * 8 * 2
        ).copy()
        loss, grad = reference_loss_and_grad(layout, expected, x, eps, True)
        assert_allclose(losses[step - 1], loss * len(rows), rtol=1e-12)
        if optimizer == ADAM:
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad**2
            expected -= (
                lr
                / (1 - 0.9**step)
                * m
                / (np.sqrt(v) / np.sqrt(1 - 0.999**step) + 1e-8)
            )
        else:
            m += grad**2
            expected -= lr * grad / (np.sqrt(m) + 1e-8)
    assert_allclose(theta, expected, rtol=1e-10, atol=1e-13)
