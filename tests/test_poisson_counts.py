"""PoissonMixture on large counts: the count limit, float32 precision.

Issue 11: float32 counts of 1e19 raised an IndexError (the kernel's whole-number
test converted to int64, which overflows from 2**63; numpy's did not). Counts
must now be below 2**53 (the whole numbers float64 holds exactly), with one test
in the kernel and in numpy, on every path that checks counts.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from emfast import PoissonMixture

from .test_poisson import NEGATIVE, _seed, reference_weighted_log_prob


def test_float32_large_counts_keep_their_log_likelihood(rng):
    """Log-densities of float32 rows are summed in float64.

    Terms ``x log(rate)`` of counts near 1e7 are about 1.6e8 and nearly cancel
    ``rate + log(x!)``: summed in float32 the log-likelihood was off by about
    10 nats per row.
    """
    rates = 1e7 * rng.uniform(0.5, 2.0, size=(3, 4))
    X32 = rng.poisson(rates[rng.integers(3, size=600)]).astype(np.float32)
    X = X32.astype(np.float64)  # above 2**24 float32 rounds counts to even
    seed = _seed(rng)
    fit32 = PoissonMixture(3, random_state=seed).fit(X32)
    fit64 = PoissonMixture(3, random_state=seed).fit(X)
    assert fit32.n_iter_ == fit64.n_iter_
    assert_allclose(fit32.lower_bounds_, fit64.lower_bounds_, rtol=1e-6)
    weights = fit32.weights_.astype(np.float64)
    ref = logsumexp(
        reference_weighted_log_prob(X, weights, fit32.rates_.astype(np.float64)),
        axis=1,
    )
    assert_allclose(fit32.score_samples(X32), ref, rtol=1e-6)


HUGE_COUNTS = {
    "float32 1e19": (np.float32, 1e19),
    "float32 3e38": (np.float32, 3e38),
    "float64 2**53": (np.float64, 2.0**53),
    "float64 2**63": (np.float64, 2.0**63),
    "int64 2**53 + 1": (np.int64, 2**53 + 1),  # becomes 2**53 as a float
    "int64 max": (np.int64, np.iinfo(np.int64).max),
    "uint64 max": (np.uint64, np.iinfo(np.uint64).max),
}


@pytest.mark.parametrize("case", HUGE_COUNTS)
def test_counts_from_2_to_the_53_raise_and_keep_the_model(case):
    """Issue 11: float32 1e19 counts gave an IndexError (the kernel's whole-number
    test converted to int64 and overflowed; numpy's did not)."""
    dtype, value = HUGE_COUNTS[case]
    X = np.array([[0, 1], [2, 3], [value, 4]], dtype=dtype)
    pm = PoissonMixture(2, random_state=0).fit(np.abs(NEGATIVE))
    rates = pm.rates_.copy()
    message = r"expects counts below 2\*\*53 .* 1 larger value\(s\), e.g. X\[2, 0\]"
    with pytest.raises(ValueError, match=message):
        pm.fit(X)
    assert_array_equal(pm.rates_, rates)
    with pytest.raises(ValueError, match=message):
        pm.fit(X)
    pm.fit(np.array([[0, 1], [2, 3], [5, 4]], dtype=dtype))  # other rows fit
    with pytest.raises(ValueError, match=message):
        pm.score_samples(X)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint64])
def test_largest_count_fits(dtype):
    X = np.array([[0, 1], [2, 3], [2**53 - 1, 4]], dtype=dtype)
    pm = PoissonMixture(2, random_state=0).fit(X)
    big = np.argmax(pm.rates_[:, 0])
    assert_allclose(pm.rates_[big], [2.0**53 - 1, 4], rtol=1e-14)
    assert_allclose(pm.weights_[big], 1 / 3, rtol=1e-14)
