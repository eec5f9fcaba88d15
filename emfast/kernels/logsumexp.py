"""Row-wise log-sum-exp and responsibilities (serial helpers, inlined by LLVM)."""

import math

import numpy as np

from emfast._numba import jit


@jit
def logsumexp(log_prob):
    """``log(sum(exp(log_prob)))`` of a 1-D array, shifted by its maximum.

    Returns ``-inf`` when every entry is ``-inf`` (instead of NaN).
    """
    n = log_prob.shape[0]
    top = log_prob[0]
    for k in range(1, n):
        if log_prob[k] > top:
            top = log_prob[k]
    if top == -np.inf:
        return -np.inf
    total = 0.0
    for k in range(n):
        total += math.exp(log_prob[k] - top)
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
def responsibilities(log_prob, log_norm, weight, resp):
    """``resp[k] = weight * exp(log_prob[k] - log_norm)`` in float64."""
    for k in range(log_prob.shape[0]):
        resp[k] = weight * math.exp(log_prob[k] - log_norm)
