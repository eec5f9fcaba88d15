"""Dense layers for the VAE: matrix products, fused bias + activation, gradients.

A layer computes ``out = act(A_in @ W + b)`` with ``W`` of shape
``(n_in, n_out)`` (C order) so that the forward product and both backward
products are single BLAS calls on contiguous arrays or their transposes:
``A_in @ W`` (forward), ``A_in.T @ dPre`` (weight gradient) and
``dPre @ W.T`` (input gradient). numba's ``np.dot(a, b, out)`` calls the sgemm /
dgemm that scipy ships, into a preallocated ``out``: no allocation per step.

Activation derivatives are taken from the activation *outputs* (ReLU: ``out >
0``; tanh: ``1 - out**2``), so pre-activations are never stored.

Every constant is built in the array's dtype (``dtype.type(...)``) because a
Python float would promote float32 loops to float64 and halve their vector
width.
"""

import numpy as np

from emfast._numba import jit
from emfast.kernels.fastexp import exp_nonpositive

RELU = 0
TANH = 1
IDENTITY = 2
ACTIVATIONS = {"relu": RELU, "tanh": TANH, "identity": IDENTITY}

# reductions may be reassociated (vectorised); the order is fixed at compile time
_REDUCTION = {"reassoc", "nsz", "contract"}


@jit
def tanh_fast(x, one):
    """``tanh(x)`` as ``sign(x) (1 - e) / (1 + e)``, ``e = exp(-2|x|)``.

    Built on the vectorisable :func:`exp_nonpositive`, so a loop of it vectorises
    (``math.tanh`` is a scalar libm call). Absolute error about one rounding.
    ``one`` is 1 in the dtype of ``x`` (a literal would promote float32).
    """
    e = exp_nonpositive(-(x + x) if x >= 0 else x + x)
    t = (one - e) / (one + e)
    return t if x >= 0 else -t


@jit(fastmath=_REDUCTION)
def sum_float64(values):
    """Sum of a 1-D array, accumulated in float64."""
    total = 0.0
    for j in range(values.shape[0]):
        total += np.float64(values[j])
    return total


@jit
def bias_activation(out, bias, activation):
    """``out = act(out + bias)`` in place (``bias`` broadcast over rows)."""
    zero = out.dtype.type(0)
    one = out.dtype.type(1)
    n_rows, n_cols = out.shape
    for i in range(n_rows):
        row = out[i]
        if activation == RELU:
            for j in range(n_cols):
                value = row[j] + bias[j]
                row[j] = value if value > zero else zero
        elif activation == TANH:
            for j in range(n_cols):
                row[j] = tanh_fast(row[j] + bias[j], one)
        else:
            for j in range(n_cols):
                row[j] += bias[j]


@jit
def activation_backward(grad, out, activation):
    """``grad *= act'(pre)`` in place, with the derivative read from ``out``."""
    zero = out.dtype.type(0)
    one = out.dtype.type(1)
    n_rows, n_cols = out.shape
    if activation == RELU:
        for i in range(n_rows):
            for j in range(n_cols):
                grad[i, j] = grad[i, j] if out[i, j] > zero else zero
    elif activation == TANH:
        for i in range(n_rows):
            for j in range(n_cols):
                grad[i, j] *= one - out[i, j] * out[i, j]


@jit
def column_sums(values, sums):
    """``sums[j] = sum_i values[i, j]`` (rows added in order, vectorised over j)."""
    n_rows, n_cols = values.shape
    for j in range(n_cols):
        sums[j] = values[0, j]
    for i in range(1, n_rows):
        for j in range(n_cols):
            sums[j] += values[i, j]


@jit
def dense_forward(inputs, weights, bias, out, activation):
    """``out = act(inputs @ weights + bias)``."""
    np.dot(inputs, weights, out)
    bias_activation(out, bias, activation)


@jit
def dense_backward(
    inputs, weights, grad_pre, grad_weights, grad_bias, grad_inputs, with_grad_inputs
):
    """Gradients of a dense layer from the gradient of its pre-activation.

    Writes ``grad_weights = inputs.T @ grad_pre``, ``grad_bias = sum_rows
    grad_pre`` and, if ``with_grad_inputs``, ``grad_inputs = grad_pre @
    weights.T`` (the first layer skips it: nothing needs the data gradient).
    """
    np.dot(inputs.T, grad_pre, grad_weights)
    column_sums(grad_pre, grad_bias)
    if with_grad_inputs:
        np.dot(grad_pre, weights.T, grad_inputs)
