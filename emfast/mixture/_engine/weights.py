"""Sample weights of any scale: the unit of the weights never changes a fit.

``sample_weight=c * w`` must give the model of ``w`` for every ``c > 0`` (the
variational mixture, whose weights count rows, changes only as its posterior
should). Two things would depend on the unit:

- kernels and k-means hold weight times responsibility in the data dtype, and
  float32 has no weights below about 1e-38 or above about 3e38;
- scikit-learn adds ``10 eps`` to each component's responsibility sum so that an
  empty component divides by something. Next to weights of 1e-17 that term is
  not small: it would pull the means of data near 10 to about 4.

So kernels and k-means see the weights divided by :func:`weight_scale`, the
power of two nearest the mean weight, and the pass multiplies its statistics
back. Both are exact, so whenever the unscaled weights neither overflow nor
underflow the results are bit for bit those of the unscaled weights. And the
``10 eps`` is taken in the same unit (:func:`nk_offset`): exactly scikit-learn's
``10 eps`` without weights or with weights whose mean is within a factor
sqrt(2) of one (unit weights among them).

Statistics stay in the unit of the weights (a variational mixture needs them
there, and Dask blocks are summed as they come), so float64 must hold sums of
them: :func:`check_weight_range` refuses weights whose total overflows or whose
mean is so small that the sums would be subnormal (below 2**-1000, about
1e-301; weights of 1e-300 still fit).
"""

import math

import numpy as np

# scikit-learn's sliver of responsibility per component (for unit weights)
NK_OFFSET = 10 * np.finfo(np.float64).eps
# the range of weight totals and mean weights whose statistics float64 holds
MAX_WEIGHT_SUM = 2.0**1000
MIN_MEAN_WEIGHT = 2.0**-1000


def check_weight_range(data, unit_free=True):
    """Raise a ``ValueError`` if float64 sums cannot hold the weights' statistics.

    Parameters
    ----------
    data : Rows
    unit_free : bool
        Whether the model does not depend on the unit of the weights (then
        the message says to rescale them).
    """
    if not data.weighted:
        return
    total = data.weight_sum
    hint = " (the fit does not depend on their unit)" if unit_free else ""
    if not total <= MAX_WEIGHT_SUM:
        found = "beyond float64's range" if math.isinf(total) else f"to {total:g}"
        raise ValueError(
            f"The sample weights sum {found}, more than 2**1000: sums of "
            f"statistics weighted by them overflow float64. Divide them by a "
            f"common factor{hint}."
        )
    mean = total / data.n_samples
    if mean < MIN_MEAN_WEIGHT:
        raise ValueError(
            f"The sample weights average {mean:g}, less than 2**-1000: sums of "
            "statistics weighted by them lose their digits in float64. Multiply "
            f"them by a common factor{hint}."
        )


def weight_scale(data):
    """The power of two nearest the mean weight of ``data`` (1.0 if unweighted).

    Parameters
    ----------
    data : Rows

    Returns
    -------
    float
    """
    if not data.weighted:
        return 1.0
    mean = data.weight_sum / data.n_samples
    if not (mean > 0.0 and math.isfinite(mean)):
        return 1.0
    return math.ldexp(1.0, round(math.log2(mean)))


def nk_offset(data):
    """``10 eps`` in the unit of the weights of ``data``."""
    return NK_OFFSET * weight_scale(data)


def kernel_weights(weights, scale):
    """A block of weights divided by ``scale`` (a power of two: exact)."""
    if scale == 1.0 or not weights.shape[0]:
        return weights
    return weights / scale
