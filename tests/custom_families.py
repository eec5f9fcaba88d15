"""User-defined component families for the CustomMixture tests, and numpy
references of their EM.

- ``VON_MISES``: angles in radians (one column), the README's family;
- ``EXPONENTIAL``: positive numbers (one column), with every optional function
  (``sample``, ``expected_statistics``, ``support``);
- ``SPHERICAL``: Gaussians with one variance per component, in any number of
  features (the sizes are functions of it), the same model as
  ``GaussianMixture(covariance_type="spherical")``.

They live in a module of their own, as users' families would: Dask workers and
pickle find the functions by reference to it.
"""

import math

import numba
import numpy as np
from scipy.special import i0e, i1e, logsumexp

from emfast import ComponentFamily

NK_OFFSET = 10 * np.finfo(np.float64).eps
REG_COVAR = 1e-6


# ------------------------------------------------------------- von Mises
# theta = [mu, kappa, kappa cos mu, kappa sin mu, log C(kappa)]:
# kappa cos(x - mu) = kappa cos mu cos x + kappa sin mu sin x, linear in T(x)
@numba.njit(cache=True)
def von_mises_statistics(x, t):  # T(x) = (cos x, sin x)
    t[0] = math.cos(x[0])
    t[1] = math.sin(x[0])


@numba.njit(cache=True)
def von_mises_log_density(x, t, theta):
    return theta[2] * t[0] + theta[3] * t[1] + theta[4]


def von_mises_m_step(nk, sums):
    mu = np.arctan2(sums[:, 1], sums[:, 0])
    rbar = np.clip(np.hypot(sums[:, 0], sums[:, 1]) / nk, 1e-12, 1 - 1e-12)
    kappa = rbar * (2 - rbar**2) / (1 - rbar**2)  # Banerjee et al. (2005)
    for _ in range(3):  # Newton steps on I1(kappa) / I0(kappa) = rbar
        a = i1e(kappa) / i0e(kappa)
        kappa = kappa - (a - rbar) / (1 - a**2 - a / kappa)
    log_c = -np.log(2 * np.pi * i0e(kappa)) - kappa
    return np.column_stack([mu, kappa, kappa * np.cos(mu), kappa * np.sin(mu), log_c])


def von_mises_sample(theta, n_samples, rng):
    return rng.vonmises(theta[0], theta[1], size=(n_samples, 1))


def von_mises_expected(params):
    mu, kappa = params[:, 0], params[:, 1]
    a = i1e(kappa) / i0e(kappa)
    return np.column_stack([a * np.cos(mu), a * np.sin(mu)])


VON_MISES = ComponentFamily(
    von_mises_log_density,
    von_mises_statistics,
    von_mises_m_step,
    n_statistics=2,
    n_parameters=2,
    sample=von_mises_sample,
    expected_statistics=von_mises_expected,
    name="von Mises",
)


# ------------------------------------------------------------ exponential
@numba.njit(cache=True)
def exponential_log_density(x, t, theta):  # theta = [rate]
    return math.log(theta[0]) - theta[0] * x[0]


@numba.njit(cache=True)
def exponential_statistics(x, t):  # T(x) = x
    t[0] = x[0]


def exponential_m_step(nk, sums):
    return nk[:, np.newaxis] / sums


def exponential_sample(theta, n_samples, rng):
    return rng.exponential(1.0 / theta[0], size=(n_samples, 1))


def exponential_expected(params):
    return 1.0 / params


def non_negative(X):
    return (X >= 0).all(axis=1)


EXPONENTIAL = ComponentFamily(
    exponential_log_density,
    exponential_statistics,
    exponential_m_step,
    n_statistics=1,
    n_parameters=1,
    sample=exponential_sample,
    expected_statistics=exponential_expected,
    support=non_negative,
    name="exponential",
)


# ------------------------------------------------------ spherical Gaussian
@numba.njit(cache=True)
def spherical_log_density(x, t, theta):  # theta = [mean_1, ..., mean_D, variance]
    n_features = x.shape[0]
    variance = theta[n_features]
    squares = 0.0
    for j in range(n_features):
        squares += (x[j] - theta[j]) ** 2
    return -0.5 * (n_features * math.log(2 * math.pi * variance) + squares / variance)


@numba.njit(cache=True)
def spherical_statistics(x, t):  # T(x) = (x_1, ..., x_D, |x|^2), t zeroed
    n_features = x.shape[0]
    for j in range(n_features):
        t[j] = x[j]
        t[n_features] += x[j] * x[j]


def spherical_m_step(nk, sums):
    n_features = sums.shape[1] - 1
    means = sums[:, :n_features] / nk[:, np.newaxis]
    mean_squares = sums[:, n_features] / nk
    variance = (mean_squares - (means**2).sum(axis=1)) / n_features + REG_COVAR
    return np.column_stack([means, variance])


def spherical_expected(params):
    """``E[x]`` and ``E|x|^2``, with the variance the M-step's before REG_COVAR."""
    n_features = params.shape[1] - 1
    means = params[:, :n_features]
    variance = params[:, n_features] - REG_COVAR
    return np.column_stack([means, (means**2).sum(axis=1) + n_features * variance])


def one_more_than(n_features):
    return n_features + 1


SPHERICAL = ComponentFamily(
    spherical_log_density,
    spherical_statistics,
    spherical_m_step,
    n_statistics=one_more_than,
    n_parameters=one_more_than,
    expected_statistics=spherical_expected,
    name="spherical Gaussian",
)


# -------------------------------------------------------- numpy references
def von_mises_log_densities(X, params):
    """(n_samples, n_components) ``log p(x | theta_k)``."""
    return params[:, 1] * np.cos(X - params[:, 0]) + params[:, 4]


def von_mises_statistics_of(X):
    return np.column_stack([np.cos(X[:, 0]), np.sin(X[:, 0])])


def exponential_log_densities(X, params):
    return np.log(params[:, 0]) - params[:, 0] * X


def exponential_statistics_of(X):
    return X.astype(np.float64)


def reference_em(
    X, weights, params, n_iter, log_densities, statistics_of, m_step, w=None
):
    """``n_iter`` vectorised EM iterations in float64 from the given start.

    Returns ``(weights, params, lower_bounds)``; the bound of an iteration is
    the weighted mean log-likelihood under its starting parameters.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    T = statistics_of(X)
    bounds = []
    for _ in range(n_iter):
        with np.errstate(divide="ignore"):
            log_prob = np.log(weights) + log_densities(X, params)
        log_norm = logsumexp(log_prob, axis=1)
        resp = w[:, np.newaxis] * np.exp(log_prob - log_norm[:, np.newaxis])
        bounds.append(float(w @ log_norm / w.sum()))
        nk = resp.sum(axis=0) + NK_OFFSET
        params = m_step(nk, resp.T @ T)
        weights = nk / nk.sum()
    return weights, params, bounds
