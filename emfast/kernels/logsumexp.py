"""Row-wise log-sum-exp and responsibilities (serial helpers, inlined by LLVM).

Responsibilities are computed as ``exp(a_k - max) / sum_j exp(a_j - max)``
rather than ``exp(a_k - logsumexp(a))``: when ``|max|`` is huge (a row far from
every component) ``max + log(sum)`` rounds back to ``max`` and the latter form
would give posteriors that do not sum to one.
"""

import math

import numpy as np

from emfast._numba import jit


@jit
def max_and_sum_exp(log_prob):
    """``(top, total)`` with ``top = max(a)`` and ``total = sum exp(a - top)``.

    ``logsumexp(a) = top + log(total)``. When every entry is ``-inf``, returns
    ``(-inf, 0.0)``.
    """
    n = log_prob.shape[0]
    top = log_prob[0]
    for k in range(1, n):
        if log_prob[k] > top:
            top = log_prob[k]
    if top == -np.inf:
        return top, 0.0
    total = 0.0
    for k in range(n):
        total += math.exp(log_prob[k] - top)
    return top, total


@jit
def logsumexp(log_prob):
    """``log(sum(exp(log_prob)))`` of a 1-D array (``-inf`` if all are ``-inf``)."""
    top, total = max_and_sum_exp(log_prob)
    if total == 0.0:
        return -np.inf
    return top + math.log(total)


@jit
def argmax(values):
    """Index of the first maximum of a 1-D array (as ``numpy.argmax``)."""
    best = 0
    for k in range(1, values.shape[0]):
        if values[k] > values[best]:
            best = k
    return best


@jit
def responsibilities(log_prob, top, scale, resp):
    """``resp[k] = scale * exp(log_prob[k] - top)``; ``scale = weight / total``."""
    for k in range(log_prob.shape[0]):
        resp[k] = scale * math.exp(log_prob[k] - top)
