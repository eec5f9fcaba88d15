"""Fused, in-place optimiser steps (Adam, Adagrad) over one flat parameter vector.

One pass reads parameter, gradient and state once and writes them once (PyTorch's
single-tensor Adam makes five passes): ~0.4 ms for the 650k parameters of the
784-400-20 VAE on one core of a 2-core x86-64 machine, bound by memory traffic.
``*_step`` split the vector into chunks that run in parallel, ``*_serial`` run
on the calling thread (what the training loop uses, see :func:`adam_serial`).
Each element depends only on its own entries, so results do not depend on the
thread count.

Denormals: a pixel that is almost never on gives its first-layer weights a zero
gradient on most steps, so their first moment decays by ``beta1`` per step and
reaches the float32 denormal range (< 1.2e-38) after a few hundred steps, where
every arithmetic operation on it is ~100x slower. State entries below
``STATE_FLOOR`` are therefore set to zero, and gradients below ``GRAD_FLOOR``
(whose squares would be denormal) count as zero. Both floors are far below
anything that can move a parameter: an update is ``lr m / (sqrt(v) + eps)`` with
``eps = 1e-8``, so a flushed moment of 1e-30 would have moved it by 1e-25.
"""

import math

import numpy as np

from emfast._numba import jit, prange

NO_UPDATE = -1
ADAM = 0
ADAGRAD = 1
OPTIMIZERS = {"adam": ADAM, "adagrad": ADAGRAD}

STATE_FLOOR = 1e-30
GRAD_FLOOR = 1e-18
# parameters per parallel task: large enough to amortise scheduling, small
# enough that two threads share ~650k parameters evenly
CHUNK = 1 << 15


@jit
def adam_serial(
    params, grads, first_moment, second_moment, step, learning_rate, beta1, beta2, eps
):
    """:func:`adam_step` on the calling thread (no parallel region).

    The training loop uses this: on a 2-core x86-64 machine, a parallel
    optimiser pass (0.4 ms of a ~3 ms step) makes steps 2-3x *slower* with
    serial BLAS and ~10x slower with two BLAS threads, because the idle
    OpenMP worker spins after the region on the core the next BLAS calls
    need.
    """
    dtype = params.dtype.type
    _adam_chunk(
        params,
        grads,
        first_moment,
        second_moment,
        0,
        params.shape[0],
        dtype(learning_rate / (1.0 - beta1**step)),
        dtype(1.0 / math.sqrt(1.0 - beta2**step)),
        dtype(beta1),
        dtype(beta2),
        dtype(1.0 - beta1),
        dtype(1.0 - beta2),
        dtype(eps),
    )


@jit
def adagrad_serial(params, grads, sum_squares, learning_rate, eps):
    """:func:`adagrad_step` on the calling thread (see :func:`adam_serial`)."""
    dtype = params.dtype.type
    _adagrad_chunk(
        params,
        grads,
        sum_squares,
        0,
        params.shape[0],
        dtype(learning_rate),
        dtype(eps),
    )


@jit
def update_range(optimizer, hyper, step, params, grads, state1, state2, start, stop):
    """Serial optimiser step on ``params[start:stop]`` (nothing for NO_UPDATE).

    ``hyper`` is ``[lr, beta1, beta2, eps, ...]`` (float64); Adagrad keeps its
    sums of squares in ``state1``. The training loop updates each layer right
    after its gradient is computed, while weights and gradient are still in
    cache (no layer's gradient depends on another layer's new weights).
    """
    if optimizer == ADAM:
        adam_serial(
            params[start:stop],
            grads[start:stop],
            state1[start:stop],
            state2[start:stop],
            step,
            hyper[0],
            hyper[1],
            hyper[2],
            hyper[3],
        )
    elif optimizer == ADAGRAD:
        adagrad_serial(
            params[start:stop],
            grads[start:stop],
            state1[start:stop],
            hyper[0],
            hyper[3],
        )


@jit
def _adam_chunk(
    params,
    grads,
    first_moment,
    second_moment,
    start,
    stop,
    step_size,
    inv_sqrt_bc2,
    beta1,
    beta2,
    one_minus_beta1,
    one_minus_beta2,
    eps,
):
    """Adam on ``[start, stop)``; every scalar arrives in the arrays' dtype.

    The loop runs over slices from 0: with ``range(start, stop)`` numba must
    allow negative indices (wraparound), and that kept LLVM from vectorising
    the loop (4-5x slower).
    """
    zero = params.dtype.type(0)
    state_floor = params.dtype.type(STATE_FLOOR)
    grad_floor = params.dtype.type(GRAD_FLOOR)
    params = params[start:stop]
    grads = grads[start:stop]
    first_moment = first_moment[start:stop]
    second_moment = second_moment[start:stop]
    for i in range(params.shape[0]):
        g = grads[i]
        g = g if abs(g) >= grad_floor else zero
        m = beta1 * first_moment[i] + one_minus_beta1 * g
        v = beta2 * second_moment[i] + one_minus_beta2 * (g * g)
        m = m if abs(m) >= state_floor else zero
        v = v if v >= state_floor else zero
        first_moment[i] = m
        second_moment[i] = v
        params[i] -= step_size * m / (np.sqrt(v) * inv_sqrt_bc2 + eps)


@jit(parallel=True)
def adam_step(
    params, grads, first_moment, second_moment, step, learning_rate, beta1, beta2, eps
):
    """One Adam step (PyTorch's formula, no weight decay, no amsgrad), in place.

    ``m = beta1 m + (1 - beta1) g``, ``v = beta2 v + (1 - beta2) g**2``,
    ``params -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.

    Parameters
    ----------
    params, grads, first_moment, second_moment : 1-D arrays of one float dtype
    step : int
        The step number ``t`` of this update, starting at 1.
    learning_rate, beta1, beta2, eps : float
    """
    dtype = params.dtype.type
    step_size = dtype(learning_rate / (1.0 - beta1**step))
    inv_sqrt_bc2 = dtype(1.0 / math.sqrt(1.0 - beta2**step))
    n = params.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        _adam_chunk(
            params,
            grads,
            first_moment,
            second_moment,
            c * CHUNK,
            min(n, (c + 1) * CHUNK),
            step_size,
            inv_sqrt_bc2,
            dtype(beta1),
            dtype(beta2),
            dtype(1.0 - beta1),
            dtype(1.0 - beta2),
            dtype(eps),
        )


@jit
def _adagrad_chunk(params, grads, sum_squares, start, stop, learning_rate, eps):
    zero = params.dtype.type(0)
    grad_floor = params.dtype.type(GRAD_FLOOR)
    params = params[start:stop]
    grads = grads[start:stop]
    sum_squares = sum_squares[start:stop]
    for i in range(params.shape[0]):
        g = grads[i]
        g = g if abs(g) >= grad_floor else zero
        s = sum_squares[i] + g * g
        sum_squares[i] = s
        params[i] -= learning_rate * g / (np.sqrt(s) + eps)


@jit(parallel=True)
def adagrad_step(params, grads, sum_squares, learning_rate, eps):
    """One Adagrad step (PyTorch's formula, no decay), in place.

    ``s += g**2``, ``params -= lr g / (sqrt(s) + eps)``.
    """
    dtype = params.dtype.type
    n = params.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        _adagrad_chunk(
            params,
            grads,
            sum_squares,
            c * CHUNK,
            min(n, (c + 1) * CHUNK),
            dtype(learning_rate),
            dtype(eps),
        )
