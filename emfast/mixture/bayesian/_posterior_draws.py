"""Draws from the variational posterior of a BayesianGaussianMixture, and the
uncertainty of memberships they imply.

:func:`sample_posterior` draws mixture parameters from the factorised
posterior ``q(pi) prod_k q(mu_k, Lambda_k)`` a fitted
:class:`~emfast.mixture.bayesian.BayesianGaussianMixture` holds (scikit-learn's
parametrisation). :func:`predict_proba_interval` scores rows under every draw
with the Gaussian kernels and reduces the membership probabilities to their
mean and an equal-tailed interval.

The posterior factors, per covariance type (``nu_k`` = ``degrees_of_freedom_``,
``beta_k`` = ``mean_precision_``, ``m_k`` = ``means_``, ``C`` = ``covariances_``;
``C`` is the Wishart scale inverse divided by ``nu``, so ``E[Lambda] =
precisions_``):

- weights: ``Dirichlet(weight_concentration_)``, or for the Dirichlet process
  sticks ``v_k ~ Beta(a_k, b_k)`` (the pair ``weight_concentration_``) and
  ``pi_k`` proportional to ``v_k prod_{j<k} (1 - v_j)``. Every stick is drawn,
  the last one too, and the weights are normalised, as ``weights_`` is: this
  is the family scikit-learn's E-step takes ``E[log pi_k]`` under.
- 'full': ``Lambda_k ~ Wishart(nu_k, W_k)``, ``W_k = precisions_[k] / nu_k``;
  ``mu_k ~ Normal(m_k, (beta_k Lambda_k)^-1)`` (Bishop 2006, 10.59), exactly
  the family of scikit-learn's E-step and bound.
- 'tied': one ``Lambda ~ Wishart(nu, W)``, ``W = precisions_ / nu``, shared by
  every component in a draw (the model has one precision matrix); ``mu_k ~
  Normal(m_k, (beta_k Lambda)^-1)``. scikit-learn's tied update weighs the
  pooled data by ``1 / K`` (``nu = nu_0 + N / K``, the pooled scatter divided
  by K), so this posterior is wider than a pooled conjugate update would
  give; it is the fitted one.
- 'diag': independent ``lambda_kd ~ Gamma(nu_k / 2, rate nu_k C_kd / 2)`` and
  ``mu_kd ~ Normal(m_kd, 1 / (beta_k lambda_kd))``. scikit-learn's update of
  ``(nu_k, C_kd)`` is exactly the conjugate Normal-Gamma update of each
  feature with a ``Gamma(nu_0 / 2, rate C_0d / 2)`` prior (``reg_covar``
  aside), hence this family;
  its E-step takes ``E[log lambda_kd]`` with the Wishart's digamma of
  ``(nu_k - d) / 2`` instead of ``nu_k / 2`` (a difference of about
  ``d / nu_k``), the means of the precisions agree exactly.
- 'spherical': ``lambda_k ~ Gamma(nu_k / 2, rate nu_k C_k / 2)``, ``mu_k ~
  Normal(m_k, I / (beta_k lambda_k))``: the family whose ``E[lambda_k]`` and
  (to the same digamma difference) ``E[log lambda_k]`` scikit-learn's E-step
  uses. Its update adds one degree of freedom per row, not one per feature
  (``nu_k = nu_0 + N_k``, the scatter averaged over features), so it counts
  each row's D squared residuals as one: wider than a conjugate update.

Precision draws are returned as scikit-learn's ``precisions_cholesky_``:
upper-triangular ``U`` with ``Lambda = U U^T`` (full, tied), the square roots
of the precisions (diag, spherical). A Wishart draw is built from the
Bartlett decomposition in reversed order, ``U = U_W B`` with ``U_W`` the
factor of ``W`` and ``B`` upper triangular (``B_ii^2 ~ chi2(nu - D + 1 + i)``,
standard normals above the diagonal), so no factorisation is needed.

Draws are made in batches of at most :data:`DRAW_BATCH` draws, each from its
own generator spawned from ``random_state``: a batch can be drawn again when
the draws do not fit in memory, and the same ``random_state`` gives the same
draws whatever the rows.
"""

import math
import numbers
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from emfast._numba import serial_blas
from emfast._validation import validate_rows
from emfast.mixture.gaussian._pass import gaussian_score

DRAW_BATCH = 256  # draws per generator (fewer when one draw is large)
DRAW_BATCH_BYTES = 32 * 2**20  # bound on the arrays of one batch of draws
BUFFER_BYTES = 64 * 2**20  # bound on the membership probabilities held at once
# A draw's posteriors keep full precision while its share of a stacked density
# (and so its largest component's) is a normal float64, above 2.2e-308
SMALLEST_SHARE = 1e-290


class PosteriorDraws(NamedTuple):
    """Mixture parameters drawn from the variational posterior.

    Attributes
    ----------
    weights : ndarray of shape (n_draws, n_components)
        Mixing weights (each row sums to one).
    log_weights : ndarray of shape (n_draws, n_components)
        Their logarithms, computed without underflow (a weight below the
        smallest float64 is 0 in ``weights`` but finite here).
    means : ndarray of shape (n_draws, n_components, n_features)
    precisions_cholesky : ndarray
        In the layout of ``precisions_cholesky_`` with a leading draw axis:
        (n_draws, n_components, n_features, n_features) 'full',
        (n_draws, n_features, n_features) 'tied', (n_draws, n_components,
        n_features) 'diag', (n_draws, n_components) 'spherical'.
    """

    weights: np.ndarray
    log_weights: np.ndarray
    means: np.ndarray
    precisions_cholesky: np.ndarray


class _Posterior(NamedTuple):
    """The fitted posterior factors of a model, in float64."""

    covariance_type: str
    concentration: object  # (K,) array, or the (a, b) pair of the sticks
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    precisions_cholesky: np.ndarray

    @classmethod
    def of(cls, model):
        check_is_fitted(model)
        concentration = model.weight_concentration_
        if model.weight_concentration_prior_type == "dirichlet_process":
            concentration = tuple(
                np.asarray(a, dtype=np.float64) for a in concentration
            )
        else:
            concentration = np.asarray(concentration, dtype=np.float64)
        return cls(
            model.covariance_type,
            concentration,
            np.asarray(model.mean_precision_, dtype=np.float64),
            np.asarray(model.means_, dtype=np.float64),
            np.asarray(model.degrees_of_freedom_, dtype=np.float64),
            np.asarray(model.precisions_cholesky_, dtype=np.float64),
        )

    def bytes_per_draw(self):
        """float64 bytes of one draw's arrays, temporaries of the draw included
        (a Bartlett factor and a product per precision matrix, a normal
        vector, a solution and a mean per component)."""
        n_components, n_features = self.means.shape
        squares = {"full": n_components, "tied": 1}.get(self.covariance_type, 0)
        return 8 * (2 * squares * n_features**2 + n_components * (2 + 4 * n_features))


def sample_posterior(model, n_draws, random_state=None):
    """Draw mixture parameters from a fitted BayesianGaussianMixture's posterior.

    Parameters
    ----------
    model : BayesianGaussianMixture
        A fitted model (emfast's or scikit-learn's: only its fitted attributes
        are read).
    n_draws : int
        Number of draws (>= 1).
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (as :func:`sklearn.utils.check_random_state` reads it).

    Returns
    -------
    PosteriorDraws
        Weights, log-weights, means and precision factors, float64, each with
        a leading ``n_draws`` axis (see the module docstring for the
        distributions).
    """
    _check_n_draws(n_draws)
    posterior = _Posterior.of(model)
    parts = [
        _draw(posterior, size, seed)
        for size, seed in _batches(posterior, n_draws, random_state)
    ]
    return PosteriorDraws(*(np.concatenate(arrays) for arrays in zip(*parts)))


def predict_proba_interval(model, X, level=0.9, n_draws=1000, random_state=None):
    """Posterior membership probabilities with an equal-tailed interval.

    For each of ``n_draws`` parameter draws (:func:`sample_posterior`), the
    membership probabilities ``p(k | x, theta)`` of every row are computed with
    the Gaussian scoring kernel. Their mean over the draws is the posterior
    predictive membership probability (close to, but not the same as,
    ``predict_proba``, which gives the variational responsibilities); the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles over the draws
    (linear interpolation, as :func:`numpy.quantile`) bound the interval.

    With the same draws (the same integer ``random_state``), intervals of
    higher levels contain those of lower levels. The mean always lies between
    the smallest and largest draw (the interval at ``level=1``) but not
    necessarily inside an equal-tailed interval: for a row whose probability is
    near 0 in most draws and near 1 in a few, the mean exceeds the upper
    quantile.

    Memory: rows are processed in chunks whose probabilities under all draws,
    ``rows x n_components x n_draws`` float64, take at most
    :data:`BUFFER_BYTES` (or one row's ``8 n_draws n_components`` bytes when
    that is larger), and are sorted in place for the quantiles; scoring one
    batch of draws takes at most as much again. The draws are kept if they
    take at most :data:`BUFFER_BYTES`, else drawn again batch by batch for each
    chunk (the same draws: each batch has its own generator).

    Parameters
    ----------
    model : BayesianGaussianMixture
        A fitted model.
    X : array-like of shape (n_samples, n_features)
        Rows to score (checked as ``predict_proba`` checks them).
    level : float, default=0.9
        Probability mass of the interval, in (0, 1]; 1 gives the range of the
        draws.
    n_draws : int, default=1000
        Number of parameter draws.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws.

    Returns
    -------
    mean, lower, upper : ndarray of shape (n_samples, n_components)
        float64 membership probabilities: the mean over the draws and the
        interval bounds. ``mean`` sums to one over the components.
    """
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"level must be a float in (0, 1], got {level!r}.")
    if not 0.0 < level <= 1.0:
        raise ValueError(f"level must be in (0, 1], got {level!r}.")
    _check_n_draws(n_draws)
    posterior = _Posterior.of(model)
    X = validate_rows(model, X, reset=False)
    n_samples = X.shape[0]
    n_components = posterior.means.shape[0]
    batches = list(_batches(posterior, n_draws, random_state))
    keep_draws = n_draws * posterior.bytes_per_draw() <= BUFFER_BYTES
    kept = [_draw(posterior, *batch) for batch in batches] if keep_draws else None
    chunk_rows = max(1, min(n_samples, BUFFER_BYTES // (8 * n_draws * n_components)))
    mean = np.empty((n_samples, n_components))
    lower, upper = np.empty_like(mean), np.empty_like(mean)
    tail = 0.5 * (1.0 - level)
    with serial_blas():
        for start in range(0, n_samples, chunk_rows):
            rows = slice(start, min(start + chunk_rows, n_samples))
            # draws on the last axis: contiguous for the mean and the sort
            proba = np.empty((rows.stop - rows.start, n_components, n_draws))
            first = 0
            for index, (size, seed) in enumerate(batches):
                draws = kept[index] if keep_draws else _draw(posterior, size, seed)
                _membership(
                    X[rows],
                    draws,
                    posterior.covariance_type,
                    proba[:, :, first : first + size],
                )
                first += size
            mean[rows] = proba.mean(axis=2)
            proba.sort(axis=2)
            lower[rows] = _sorted_quantile(proba, tail)
            upper[rows] = _sorted_quantile(proba, 1.0 - tail)
            # the mean lies within the range of the draws; rounding of the sum
            # may put it one unit in the last place outside
            np.clip(mean[rows], proba[..., 0], proba[..., -1], out=mean[rows])
    return mean, lower, upper


def _check_n_draws(n_draws):
    if isinstance(n_draws, bool) or not isinstance(n_draws, numbers.Integral):
        raise TypeError(f"n_draws must be an integer >= 1, got {n_draws!r}.")
    if n_draws < 1:
        raise ValueError(f"n_draws must be an integer >= 1, got {n_draws!r}.")


def _batches(posterior, n_draws, random_state):
    """``(size, seed)`` of each batch of draws: seed sequences spawned from
    entropy drawn from ``random_state``."""
    batch = int(np.clip(DRAW_BATCH_BYTES // posterior.bytes_per_draw(), 1, DRAW_BATCH))
    sizes = [min(batch, n_draws - start) for start in range(0, n_draws, batch)]
    entropy = check_random_state(random_state).randint(
        0, 2**32, size=4, dtype=np.uint64
    )
    children = np.random.SeedSequence([int(e) for e in entropy]).spawn(len(sizes))
    return list(zip(sizes, children))


def _membership(X, draws, covariance_type, out):
    """``out[:, k, s] = p(k | X, draw s)`` for each draw of a batch (float64).

    One kernel call scores the batch: its draws' components side by side, as
    one mixture of ``n_draws x n_components`` components, whose posteriors are
    then normalised within each draw (the ratio of two components of a draw
    does not depend on the other draws). A row for which some draw's share of
    the stacked density underflows (far from every component, where the draws
    disagree by hundreds of nats) is scored again draw by draw.
    """
    X = np.asarray(X, dtype=np.float64)
    n_draws, n_components = draws.log_weights.shape
    n_features = draws.means.shape[2]
    chol = draws.precisions_cholesky
    if covariance_type == "tied":  # each draw's shared factor, for each component
        chol = np.broadcast_to(chol[:, None], (n_draws, n_components, *chol.shape[1:]))
    stacked = (
        draws.log_weights.reshape(-1),
        draws.means.reshape(-1, n_features),
        chol.reshape(n_draws * n_components, *chol.shape[2:]),
    )
    stacked_type = "full" if covariance_type == "tied" else covariance_type
    resp = gaussian_score(X, stacked, stacked_type, want_resp=True)[2]
    resp = resp.reshape(X.shape[0], n_draws, n_components)
    shares = resp @ np.ones(n_components)  # a product: fast over a short axis
    with np.errstate(invalid="ignore", divide="ignore"):
        resp /= shares[..., None]
    out[...] = resp.transpose(0, 2, 1)
    redo = np.flatnonzero((shares < SMALLEST_SHARE).any(axis=1))
    if redo.size:
        for s in range(n_draws):
            params = (
                draws.log_weights[s],
                draws.means[s],
                draws.precisions_cholesky[s],
            )
            out[redo, :, s] = gaussian_score(X[redo], params, covariance_type, True)[2]


def _sorted_quantile(sorted_values, q):
    """``numpy.quantile(values, q, axis=-1)`` ('linear') of values sorted on
    their last axis."""
    last = sorted_values.shape[-1] - 1
    position = last * q
    below = min(int(math.floor(position)), last)
    above = min(below + 1, last)
    low, high = sorted_values[..., below], sorted_values[..., above]
    return low + (position - below) * (high - low)


# ------------------------------------------------------------------ the draws
def _draw(posterior, size, seed):
    """One batch of ``size`` draws from ``posterior``, seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    log_weights = _draw_log_weights(posterior.concentration, size, rng)
    weights = np.exp(log_weights)
    draw_factors = {
        "full": _draw_full,
        "tied": _draw_tied,
        "diag": _draw_diag,
        "spherical": _draw_spherical,
    }[posterior.covariance_type]
    precisions_chol, means = draw_factors(posterior, size, rng)
    return PosteriorDraws(weights, log_weights, means, precisions_chol)


def _log_gamma(shape, size, rng):
    """``log`` of Gamma(shape, 1) draws, finite even for tiny shapes.

    For ``shape < 1``, ``G(shape) = G(shape + 1) U^(1 / shape)`` (Marsaglia and
    Tsang), taken in logs: a Gamma(0.01) draw underflows to 0 about once in
    eight, its logarithm never does.
    """
    boost = shape < 1.0
    log_gamma = np.log(rng.standard_gamma(shape + boost, size=size))
    uniform = 1.0 - rng.random(size=size)  # in (0, 1]
    return log_gamma + np.where(boost, np.log(uniform) / shape, 0.0)


def _draw_log_weights(concentration, size, rng):
    """Log mixing weights: normalised Dirichlet, or stick-breaking, draws."""
    if isinstance(concentration, tuple):  # sticks v_k ~ Beta(a_k, b_k)
        alpha, beta = concentration
        log_a = _log_gamma(alpha, (size, alpha.shape[0]), rng)
        log_b = _log_gamma(beta, (size, beta.shape[0]), rng)
        log_total = np.logaddexp(log_a, log_b)
        log_stick, log_rest = log_a - log_total, log_b - log_total
        remaining = np.cumsum(log_rest, axis=1) - log_rest  # sum_{j<k} log(1 - v_j)
        log_unnormalised = log_stick + remaining
    else:
        log_unnormalised = _log_gamma(
            concentration, (size, concentration.shape[0]), rng
        )
    return log_unnormalised - logsumexp(log_unnormalised, axis=1, keepdims=True)


def _bartlett_upper(degrees_of_freedom, size, n_features, rng):
    """Upper-triangular ``B`` with ``B B^T ~ Wishart(nu, I)``, shape size + (D, D).

    ``degrees_of_freedom`` broadcasts against ``size``; ``B_ii^2 ~
    chi2(nu - D + 1 + i)``, standard normals above the diagonal.
    """
    nu = np.asarray(degrees_of_freedom)[..., None]
    shapes = 0.5 * (nu - n_features + 1 + np.arange(n_features))
    diagonal = np.sqrt(
        2.0 * rng.standard_gamma(np.broadcast_to(shapes, (*size, n_features)))
    )
    factor = np.triu(rng.standard_normal((*size, n_features, n_features)), k=1)
    index = np.arange(n_features)
    factor[..., index, index] = diagonal
    return factor


def _normal_means(posterior, precisions_chol, size, rng):
    """``m_k + U^-T z / sqrt(beta_k)``: covariance ``(beta_k U U^T)^-1``.

    ``precisions_chol`` is (size, K, D, D), or (size, 1, D, D) shared.
    """
    n_components, n_features = posterior.means.shape
    z = rng.standard_normal((size, n_components, n_features, 1))
    lower = np.swapaxes(precisions_chol, -1, -2)
    offsets = np.linalg.solve(lower, z)[..., 0]
    return posterior.means + offsets / np.sqrt(posterior.mean_precision)[:, None]


def _draw_full(posterior, size, rng):
    n_components, n_features = posterior.means.shape
    nu = posterior.degrees_of_freedom
    scale_chol = posterior.precisions_cholesky / np.sqrt(nu)[:, None, None]
    bartlett = _bartlett_upper(nu, (size, n_components), n_features, rng)
    precisions_chol = scale_chol @ bartlett
    return precisions_chol, _normal_means(posterior, precisions_chol, size, rng)


def _draw_tied(posterior, size, rng):
    n_features = posterior.means.shape[1]
    nu = float(posterior.degrees_of_freedom)
    scale_chol = posterior.precisions_cholesky / math.sqrt(nu)
    precisions_chol = scale_chol @ _bartlett_upper(nu, (size,), n_features, rng)
    means = _normal_means(posterior, precisions_chol[:, None], size, rng)
    return precisions_chol, means


def _gamma_precisions(posterior, size, rng):
    """``lambda ~ Gamma(nu / 2, rate nu / (2 E[lambda]))``, per the layout of
    ``precisions_cholesky_`` (diag: (size, K, D), spherical: (size, K))."""
    nu = posterior.degrees_of_freedom
    expected = posterior.precisions_cholesky**2  # E[lambda] = 1 / C
    if expected.ndim == 2:
        nu = nu[:, None]
    shape = np.broadcast_to(0.5 * nu, expected.shape)
    return rng.standard_gamma(shape, size=(size, *expected.shape)) * (
        expected / (0.5 * nu)
    )


def _draw_diag(posterior, size, rng):
    precisions = _gamma_precisions(posterior, size, rng)
    z = rng.standard_normal(precisions.shape)
    scale = np.sqrt(posterior.mean_precision[:, None] * precisions)
    return np.sqrt(precisions), posterior.means + z / scale


def _draw_spherical(posterior, size, rng):
    precisions = _gamma_precisions(posterior, size, rng)
    z = rng.standard_normal((size, *posterior.means.shape))
    scale = np.sqrt(posterior.mean_precision * precisions)[..., None]
    return np.sqrt(precisions), posterior.means + z / scale
