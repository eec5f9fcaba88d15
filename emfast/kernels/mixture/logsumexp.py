"""Row-wise log-sum-exp and responsibilities (serial helpers, inlined by LLVM).

:func:`posterior_row` computes ``exp(a_k - max)`` once per component with the
vectorisable :func:`~emfast.kernels.fastexp.exp_nonpositive`, sums them and
scales: ``resp_k = w exp(a_k - max) / sum_j exp(a_j - max)``. Scaling (rather
than ``exp(a_k - logsumexp(a))``) keeps posteriors summing to one when ``|max|``
is so large that ``max + log(sum)`` rounds back to ``max``.
"""

import math

import numpy as np

from emfast._numba import jit
from emfast.kernels.fastexp import exp_nonpositive
from emfast.kernels.mixture.accumulate import cast_like

# the sum of the exponentials may be reassociated (vectorised); the order is
# fixed at compile time, so results do not depend on the thread count
_REDUCTION = {"reassoc", "nsz", "contract"}


@jit(fastmath=_REDUCTION)
def posterior_row(log_prob, weight, resp):
    """Fill ``resp`` with ``weight * softmax(log_prob)``; return the log-sum-exp.

    When every entry is ``-inf`` (the row underflows for every component),
    ``resp`` is all zeros and ``-inf`` is returned.
    """
    n = log_prob.shape[0]
    top = log_prob[0]
    for k in range(1, n):
        top = max(top, log_prob[k])
    if top == -np.inf:
        for k in range(n):
            resp[k] = 0.0
        return -np.inf
    for k in range(n):
        resp[k] = exp_nonpositive(log_prob[k] - top)
    total = resp[0]  # in the dtype of resp: no float64 promotion in the loops
    for k in range(1, n):
        total += resp[k]
    scale = cast_like(weight / total, resp)
    for k in range(n):
        resp[k] *= scale
    return top + math.log(total)


@jit
def resp_log_resp(resp, log_prob, log_norm):
    """``sum_k resp_k (log_prob_k - log_norm)``: the row's ``w sum p log p``.

    Zero responsibilities contribute nothing (``0 log 0 = 0``).
    """
    total = 0.0
    for k in range(resp.shape[0]):
        if resp[k] > 0.0:
            total += resp[k] * (log_prob[k] - log_norm)
    return total


@jit
def logsumexp(log_prob):
    """``log(sum(exp(log_prob)))`` of a 1-D array (``-inf`` if all are ``-inf``)."""
    top = log_prob[0]
    for k in range(1, log_prob.shape[0]):
        top = max(top, log_prob[k])
    if top == -np.inf:
        return -np.inf
    total = 0.0
    for k in range(log_prob.shape[0]):
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
