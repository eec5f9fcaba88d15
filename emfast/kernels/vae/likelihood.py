"""Per-row log-likelihoods of the VAE decoder and their gradients.

Bernoulli, from logits ``l`` (numerically stable for any ``l``)::

    -log p(x | l) = softplus(l) - x l = max(l, 0) - x l + log1p(exp(-|l|))
    d/dl          = sigmoid(l) - x

Gaussian with per-feature variance ``var_j = exp(s_j) + var_floor`` and mean
``mu = sigmoid(a)`` (data in [0, 1]) or ``mu = a``::

    -log p(x | a) = 0.5 (log(2 pi) + log var_j + (x - mu)**2 / var_j)

Each element needs one ``exp`` and one ``log1p``; both come from polynomials
that LLVM vectorises (libm calls would keep the 784-wide loops scalar). The
per-element terms go to a work row and are summed in float64 by a separate
reduction, because a float64 accumulator inside the element loop would stop it
from vectorising.
"""

import math

from emfast._numba import jit
from emfast.kernels.fastexp import exp_nonpositive
from emfast.kernels.vae.nn import sum_float64

LOG_2PI = math.log(2.0 * math.pi)


@jit
def log1p_unit(t, dtype):
    """``log(1 + t)`` for ``0 <= t <= 1``, in ``dtype``, as a vectorisable polynomial.

    ``log(1 + t) = 2 atanh(s)`` with ``s = t / (2 + t)`` in [0, 1/3] and the odd
    series ``2 s (1 + s^2/3 + s^4/5 + ...)``: cut after ``s^14/15`` (relative
    error < 2e-8) in float32, after ``s^30/31`` (< 2e-16) in float64. Every
    constant is built as ``dtype``: an int or float64 literal would promote
    float32 arithmetic to float64.
    """
    s = t / (t + dtype(2))
    s2 = s * s
    p = dtype(0)
    # 1 + 1e-10 rounds to 1 in float32 only; LLVM folds the test at compile time
    if dtype(1) + dtype(1e-10) != dtype(1):
        p = dtype(1 / 31)
        p = p * s2 + dtype(1 / 29)
        p = p * s2 + dtype(1 / 27)
        p = p * s2 + dtype(1 / 25)
        p = p * s2 + dtype(1 / 23)
        p = p * s2 + dtype(1 / 21)
        p = p * s2 + dtype(1 / 19)
        p = p * s2 + dtype(1 / 17)
    p = p * s2 + dtype(1 / 15)
    p = p * s2 + dtype(1 / 13)
    p = p * s2 + dtype(1 / 11)
    p = p * s2 + dtype(1 / 9)
    p = p * s2 + dtype(1 / 7)
    p = p * s2 + dtype(1 / 5)
    p = p * s2 + dtype(1 / 3)
    p = p * s2 + dtype(1)
    return (s + s) * p


@jit
def sigmoid_from_exp(value, e, one):
    """``sigmoid(value)`` given ``e = exp(-|value|)`` (no overflow for any sign).

    ``one`` is 1 in the dtype of ``value`` (keeps float32 in float32).
    """
    inv = one / (one + e)
    return inv if value >= 0 else e * inv


@jit
def bernoulli_row(logits, x, grad, grad_scale, work, with_grad):
    """``-log p(x | logits)`` of one row (float64); optionally its gradient.

    If ``with_grad``, ``grad = (sigmoid(logits) - x) * grad_scale``.
    """
    dtype = logits.dtype.type
    zero = dtype(0)
    one = dtype(1)
    scale = dtype(grad_scale)
    n = logits.shape[0]
    if with_grad:
        for j in range(n):
            value = logits[j]
            e = exp_nonpositive(-abs(value))
            work[j] = max(value, zero) - x[j] * value + log1p_unit(e, dtype)
            grad[j] = (sigmoid_from_exp(value, e, one) - x[j]) * scale
    else:
        for j in range(n):
            value = logits[j]
            e = exp_nonpositive(-abs(value))
            work[j] = max(value, zero) - x[j] * value + log1p_unit(e, dtype)
    return sum_float64(work[:n])


@jit
def gaussian_row(
    pre_mean,
    x,
    variance,
    log_variance,
    sigmoid_mean,
    grad,
    grad_log_var_raw,
    raw_exp,
    grad_scale,
    work,
    with_grad,
):
    """``-log N(x | mu, variance)`` of one row (float64); optionally gradients.

    ``mu = sigmoid(pre_mean)`` if ``sigmoid_mean`` else ``pre_mean``. With
    ``with_grad``: ``grad`` (w.r.t. ``pre_mean``) is written and the gradient
    w.r.t. the raw variance parameters ``s`` (``variance = exp(s) + floor``,
    ``raw_exp = exp(s)``) is *added* to ``grad_log_var_raw``.
    """
    dtype = pre_mean.dtype.type
    half = dtype(0.5)
    one = dtype(1)
    log_2pi = dtype(LOG_2PI)
    scale = dtype(grad_scale)
    n = pre_mean.shape[0]
    for j in range(n):
        a = pre_mean[j]
        if sigmoid_mean:
            mean = sigmoid_from_exp(a, exp_nonpositive(-abs(a)), one)
        else:
            mean = a
        residual = x[j] - mean
        ratio = residual * residual / variance[j]
        work[j] = half * (log_2pi + log_variance[j] + ratio)
        if with_grad:
            slope = mean * (one - mean) if sigmoid_mean else one
            grad[j] = -residual / variance[j] * slope * scale
            grad_log_var_raw[j] += (
                half * (one - ratio) * raw_exp[j] / variance[j] * scale
            )
    return sum_float64(work[:n])
