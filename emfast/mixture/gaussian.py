"""GaussianMixture: scikit-learn's estimator on emfast's fused numba passes."""

import math
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from emfast import _sklearn
from emfast._numba import serial_blas
from emfast._sklearn import Interval, StrOptions, _fit_context
from emfast._validation import (
    check_gaussian_init,
    check_n_samples,
    restore_on_error,
    validate_rows,
)
from emfast.mixture._data import RowData
from emfast.mixture._em import run_em
from emfast.mixture._gaussian_pass import (
    gaussian_pass,
    gaussian_score,
    log_weights,
    resp_pass,
)
from emfast.mixture._gaussian_update import (
    covariances_from_precisions,
    estimate_gaussian_parameters,
    precisions_cholesky,
    precisions_from_cholesky,
)
from emfast.mixture._init import DenseResp, initial_resp


class GaussianParams(NamedTuple):
    """Parameters of a Gaussian mixture, in scikit-learn's ``_get_parameters`` order."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM: a drop-in for scikit-learn's ``GaussianMixture``.

    Same parameters, attributes, methods, warnings and errors as
    :class:`sklearn.mixture.GaussianMixture` (scikit-learn 1.9), and the same
    results to rounding: the initialisation draws from ``random_state`` exactly as
    scikit-learn does, so the same seed gives the same EM path. Each EM iteration
    is one parallel numba pass over fixed-size row chunks that fuses the E-step
    with the M-step's sufficient statistics; no (n_samples, n_components) array is
    created while fitting.

    Differences from scikit-learn: float32 data are processed in float32 with
    float64 statistics (scikit-learn's float32 statistics can turn negative, see
    scikit-learn#30382), ``lower_bound_`` is always a float64, and a fit that fails
    leaves the estimator exactly as it was before the call.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own general covariance matrix; 'tied': all
        components share one; 'diag': each has its own diagonal covariance;
        'spherical': each has its own single variance.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the gain in the mean log-likelihood
        (the lower bound) is below ``tol``.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of the covariances.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initialisations to perform; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are drawn: k-means labels, k-means++
        seeds, uniform random numbers, or randomly chosen rows.
    weights_init : array-like of shape (n_components,), default=None
        User-provided initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        User-provided initial means.
    precisions_init : array-like, default=None
        User-provided initial precisions (inverse covariances), of shape
        (n_components,) 'spherical', (n_features, n_features) 'tied',
        (n_components, n_features) 'diag', (n_components, n_features, n_features)
        'full'.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        If True, each ``fit`` continues from the previous solution (``n_init`` is
        then ignored after the first fit).
    verbose : int, default=0
        1 prints each initialisation and iteration, 2 also timings and changes.
    verbose_interval : int, default=10
        Number of iterations between messages.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The mean of each component.
    covariances_ : ndarray
        The covariance of each component (shape as ``precisions_init``).
    precisions_ : ndarray
        The precision matrices (inverse covariances) of each component.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions (upper triangular for full and tied).
    converged_ : bool
        True when the best initialisation reached convergence.
    n_iter_ : int
        Number of EM iterations of the best initialisation.
    lower_bound_ : float
        Mean log-likelihood of the training data at the best initialisation's
        last iteration (under the parameters before its last M-step).
    lower_bounds_ : list of float
        ``lower_bound_`` at each iteration of the best initialisation.
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :term:`fit` (only when they are strings).

    See Also
    --------
    sklearn.mixture.GaussianMixture : the reference implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> gm.predict([[0, 0], [12, 3]])
    array([1, 0])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [
            StrOptions({"kmeans", "random", "random_from_data", "k-means++"})
        ],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the parameters with the EM algorithm.

        Fits ``n_init`` times (once when warm-starting) and keeps the parameters
        with the largest lower bound; each run iterates until the gain is below
        ``tol`` or ``max_iter`` is reached (then a ``ConvergenceWarning``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one row per sample.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : GaussianMixture
            The fitted mixture.
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None):
        """Fit as :meth:`fit` does, then return the most probable component of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one row per sample.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels (the same as ``fit(X).predict(X)``).
        """
        X = self._fit(X)
        return self._score(X)[1]

    def _fit(self, X):
        """Fit on ``X``; return the validated array. Restores state on failure."""
        with restore_on_error(self), serial_blas():
            warm = self.warm_start and hasattr(self, "converged_")
            X = validate_rows(self, X, reset=not warm, ensure_min_samples=2)
            check_n_samples(X.shape[0], self.n_components)
            init = check_gaussian_init(self, X.shape[1])
            data = RowData(X)
            result = run_em(
                lambda random_state: self._initial_params(data, random_state, init),
                lambda params: self._em_step(data, params),
                n_init=self.n_init,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=check_random_state(self.random_state),
                warm_state=self._get_parameters() if warm else None,
                warm_lower_bound=self.lower_bound_ if warm else -np.inf,
                verbose=self.verbose,
                verbose_interval=self.verbose_interval,
            )
            self._set_parameters(result.state, dtype=X.dtype)
            self.converged_ = result.converged
            self.n_iter_ = result.n_iter
            self.lower_bound_ = result.lower_bound
            self.lower_bounds_ = result.lower_bounds
        return X

    def _em_step(self, data, params):
        """One fused pass (E-step + statistics) and the M-step."""
        stats = gaussian_pass(
            data,
            (log_weights(params.weights), params.means, params.precisions_cholesky),
            self.covariance_type,
        )
        nk, means, covariances = estimate_gaussian_parameters(
            stats, self.reg_covar, self.covariance_type
        )
        params = GaussianParams(
            nk / nk.sum(),
            means,
            covariances,
            precisions_cholesky(covariances, self.covariance_type, data.dtype),
        )
        return params, stats.log_norm / stats.weight_sum

    def _initial_params(self, data, random_state, init):
        """Starting parameters of one init, drawn as scikit-learn draws them."""
        weights_init, means_init, precisions_init = init
        if weights_init is None or means_init is None or precisions_init is None:
            resp = initial_resp(
                data.X, self.n_components, self.init_params, random_state
            )
            return self._params_from_resp(data, resp, init)
        return self._params_from_resp(data, None, init)

    def _params_from_resp(self, data, resp, init):
        """scikit-learn's ``_initialize``: statistics of ``resp``, then user values."""
        weights_init, means_init, precisions_init = init
        cov_type = self.covariance_type
        weights = means = covariances = None
        if resp is not None:
            centers = np.broadcast_to(data.mean(), (resp.n_components, data.n_features))
            if resp.replayable:  # first pass: the means, to centre the second on
                first = resp_pass(data, resp.blocks(), centers, "diag")
                centers = estimate_gaussian_parameters(first, 0.0, "diag")[1]
            stats = resp_pass(data, resp.blocks(), centers, cov_type)
            nk, means, covariances = estimate_gaussian_parameters(
                stats, self.reg_covar, cov_type
            )
            weights = nk / data.weight_sum
        if weights_init is not None:
            weights = np.asarray(weights_init, dtype=np.float64)
        if means_init is not None:
            means = np.asarray(means_init, dtype=np.float64)
        if precisions_init is None:
            precisions_chol = precisions_cholesky(covariances, cov_type, data.dtype)
        else:
            precisions_chol = _sklearn._compute_precision_cholesky_from_precisions(
                np.asarray(precisions_init, dtype=np.float64), cov_type, xp=np
            )
            covariances = covariances_from_precisions(precisions_init, cov_type)
        return GaussianParams(weights, means, covariances, precisions_chol)

    # ------------------------------------------------------ scikit-learn hooks
    def _get_parameters(self):
        return GaussianParams(
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_
        )

    def _set_parameters(self, params, dtype=None):
        """Set the fitted arrays (in ``dtype``, default: as given) and precisions_."""
        weights, means, covariances, precisions_chol = params
        if dtype is None:
            dtype = np.result_type(means, np.float32)
        self.weights_ = np.asarray(weights, dtype=dtype)
        self.means_ = np.asarray(means, dtype=dtype)
        self.covariances_ = np.asarray(covariances, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(precisions_chol, dtype=dtype)
        self.precisions_ = np.asarray(
            precisions_from_cholesky(
                np.asarray(precisions_chol, dtype=np.float64), self.covariance_type
            ),
            dtype=dtype,
        )

    def _initialize(self, X, resp):
        """scikit-learn's ``_initialize``: parameters from given responsibilities.

        ``resp`` is a dense (n_samples, n_components) array; kept for code that
        calls scikit-learn's private API.
        """
        X = np.ascontiguousarray(X)
        init = (self.weights_init, self.means_init, self.precisions_init)
        params = self._params_from_resp(RowData(X), DenseResp(resp), init)
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = (
            np.asarray(p, dtype=X.dtype) for p in params
        )

    def _n_parameters(self):
        """Number of free parameters of the model."""
        n_features = self.means_.shape[1]
        k = self.n_components
        cov_params = {
            "full": k * n_features * (n_features + 1) / 2.0,
            "diag": k * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + n_features * k + k - 1)

    # -------------------------------------------------------------- inference
    def _score(self, X, want_resp=False):
        """``(log p(x), labels, resp or None)`` of validated rows X."""
        with serial_blas():
            return gaussian_score(
                X,
                (log_weights(self.weights_), self.means_, self.precisions_cholesky_),
                self.covariance_type,
                want_resp=want_resp,
            )

    def _validated(self, X):
        check_is_fitted(self)
        return validate_rows(self, X, reset=False)

    def score_samples(self, X):
        """Log-likelihood of each sample under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._score(self._validated(X))[0]

    def score(self, X, y=None):
        """Mean log-likelihood of the samples in X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._score(self._validated(X))[1]

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._score(self._validated(X), want_resp=True)[2]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (as scikit-learn draws them).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % n_samples
            )
        n_features = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        weights = np.asarray(self.weights_, dtype=np.float64)
        if self.weights_.dtype != np.float64:
            weights = weights / weights.sum()
        counts = rng.multinomial(n_samples, weights)
        means = np.asarray(self.means_, dtype=np.float64)
        covariances = np.asarray(self.covariances_, dtype=np.float64)
        if self.covariance_type == "full":
            parts = [
                rng.multivariate_normal(m, c, int(n))
                for m, c, n in zip(means, covariances, counts)
            ]
        elif self.covariance_type == "tied":
            parts = [
                rng.multivariate_normal(m, covariances, int(n))
                for m, n in zip(means, counts)
            ]
        else:
            parts = [
                m + rng.standard_normal(size=(n, n_features)) * np.sqrt(c)
                for m, c, n in zip(means, covariances, counts)
            ]
        labels = np.concatenate(
            [np.full(int(n), k, dtype=np.int64) for k, n in enumerate(counts)]
        )
        return np.vstack(parts), labels

    def bic(self, X):
        """Bayesian information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n_samples = _num_samples(X)
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(
            n_samples
        )

    def aic(self, X):
        """Akaike information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * _num_samples(X) + 2 * self._n_parameters()
