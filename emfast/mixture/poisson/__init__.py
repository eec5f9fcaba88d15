"""PoissonMixture: a mixture of independent Poissons for count data, fitted by EM."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from emfast._numba import serial_blas
from emfast._sklearn import Interval, StrOptions, _fit_context
from emfast._validation import (
    check_n_samples,
    check_sample_weight,
    restore_on_error,
    validate_rows,
)
from emfast.mixture._engine.em import run_em
from emfast.mixture._engine.inference import MixtureInference
from emfast.mixture._engine.init import initial_resp
from emfast.mixture._engine.weights import check_weight_range
from emfast.mixture.poisson._pass import (
    PoissonParams,
    check_counts,
    count_summary,
    em_step,
    initial_params,
    poisson_score,
)
from emfast.rows import ArrayRows


class PoissonMixture(MixtureInference, DensityMixin, BaseEstimator):
    """Mixture of products of independent Poissons, for count data, fitted by EM.

    Each component k has a weight ``weights_[k]`` and one rate per feature
    ``rates_[k]``; a row of counts ``x`` has density
    ``sum_k weights_[k] prod_l Poisson(x_l | rates_[k, l])``. The API follows
    scikit-learn's :class:`~sklearn.mixture.GaussianMixture` (same parameters
    where they apply, same EM driver: ``n_init`` selection, convergence rule,
    warm start, verbose messages, ``ConvergenceWarning``). Each EM iteration is one
    parallel numba pass over fixed-size row chunks that fuses the E-step with the
    M-step's statistics; no (n_samples, n_components) array is created while
    fitting, and results do not depend on the number of threads.

    ``X`` must hold counts: non-negative whole numbers below 2**53 (integer or
    float arrays; from 2**53 on, floats hold only whole numbers and int64 counts
    change when made floats). float32 input stays float32 in memory and gives
    float32 fitted arrays, but log-densities and statistics are summed in
    float64; any other input is converted to float64. Log-likelihoods of counts
    above about 1e12 lose digits to float64 rounding (the terms ``x log(rate)``
    and ``log(x!)`` nearly cancel), as ``scipy.stats.poisson.logpmf``'s do.

    A rate whose maximum-likelihood estimate is 0 (a component whose rows all
    have a zero count in a feature) is floored at ``1e-10``: the log-densities
    stay finite, and a non-zero count in that feature costs about 23 nats.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    tol : float, default=1e-3
        Convergence threshold: EM stops when the gain in the mean log-likelihood
        (the lower bound) is below ``tol``.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initialisations to perform; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are drawn (as scikit-learn's
        ``GaussianMixture`` draws them from the same ``random_state``): k-means
        labels, k-means++ seeds, uniform random numbers, or randomly chosen rows.
        With ``sample_weight``, k-means and k-means++ weigh the rows and
        'random_from_data' draws rows with probability proportional to weight.
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
    rates_ : ndarray of shape (n_components, n_features)
        The Poisson rate (mean count) of each feature in each component.
    converged_ : bool
        True when the best initialisation reached convergence.
    n_iter_ : int
        Number of EM iterations of the best initialisation.
    lower_bound_ : float
        Mean (weighted) log-likelihood of the training data at the best
        initialisation's last iteration (under the parameters before its last
        M-step).
    lower_bounds_ : list of float
        ``lower_bound_`` at each iteration of the best initialisation.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only when they are strings).

    See Also
    --------
    emfast.GaussianMixture : the Gaussian mixture on the same EM machinery.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import PoissonMixture
    >>> X = np.array([[0, 1], [1, 0], [2, 1], [9, 11], [10, 9], [12, 10]])
    >>> pm = PoissonMixture(n_components=2, random_state=0).fit(X)
    >>> pm.rates_.round(2)
    array([[10.33, 10.  ],
           [ 1.  ,  0.67]])
    >>> pm.predict([[0, 0], [11, 10]])
    array([1, 0])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [
            StrOptions({"kmeans", "random", "random_from_data", "k-means++"})
        ],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        # counts, not categories: but the tag's one effect in scikit-learn is that
        # its estimator checks feed whole non-negative numbers, which counts are
        tags.input_tags.categorical = True
        return tags

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the weights and rates with the EM algorithm.

        Fits ``n_init`` times (once when warm-starting) and keeps the parameters
        with the largest lower bound; each run iterates until the gain is below
        ``tol`` or ``max_iter`` is reached (then a ``ConvergenceWarning``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Counts (non-negative whole numbers), one row per sample.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row: an integer weight counts as that
            many copies of the row, a zero weight as leaving the row out. Only
            their ratios matter (see :meth:`emfast.GaussianMixture.fit`).

        Returns
        -------
        self : PoissonMixture
            The fitted mixture.
        """
        self._fit(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit as :meth:`fit` does, then return the most probable component of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Counts, one row per sample.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels (the same as ``fit(X).predict(X)``).
        """
        X = self._fit(X, sample_weight)
        return self._score(X)[1]

    def _fit(self, X, sample_weight):
        """Fit on ``X``; return the validated array. Restores state on failure."""
        with restore_on_error(self), serial_blas():
            warm = self.warm_start and hasattr(self, "converged_")
            X = validate_rows(self, X, reset=not warm, ensure_min_samples=2)
            data = ArrayRows(X, check_sample_weight(sample_weight, X.shape[0]))
            check_weight_range(data)
            summary = count_summary(data)
            check_counts(X, summary, type(self).__name__)
            check_n_samples(X.shape[0], self.n_components)
            result = run_em(
                lambda random_state: initial_params(
                    data,
                    initial_resp(
                        data, self.n_components, self.init_params, random_state
                    ),
                ),
                lambda params: em_step(data, params, summary.log_factorial),
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

    def _get_parameters(self):
        return PoissonParams(self.weights_, self.rates_)

    def _set_parameters(self, params, dtype=np.float64):
        self.weights_ = np.asarray(params.weights, dtype=dtype)
        self.rates_ = np.asarray(params.rates, dtype=dtype)

    def _n_parameters(self):
        """Number of free parameters: the rates and all weights but one."""
        n_components, n_features = self.rates_.shape
        return n_components * n_features + n_components - 1

    # -------------------------------------------------------------- inference
    def _validated(self, X):
        """Counts X checked against the fitted model."""
        check_is_fitted(self)
        X = validate_rows(self, X, reset=False)
        check_counts(X, count_summary(ArrayRows(X)), type(self).__name__)
        return X

    def _fitted_dtype(self):
        return self.rates_.dtype

    def _score(self, X, want_resp=False):
        """``(log p(x), labels, resp or None)`` of validated rows X."""
        return poisson_score(X, self._get_parameters(), want_resp=want_resp)

    def sample(self, n_samples=1):
        """Draw counts from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features) of int64
            The counts, grouped by component.
        y : ndarray of shape (n_samples,) of int64
            The component each row was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % n_samples
            )
        rng = check_random_state(self.random_state)
        weights = np.asarray(self.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        rates = np.asarray(self.rates_, dtype=np.float64)
        n_features = rates.shape[1]
        X = np.vstack(
            [rng.poisson(rate, size=(n, n_features)) for rate, n in zip(rates, counts)]
        ).astype(np.int64, copy=False)
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return X, labels

    def _total_log_likelihood(self, X):
        """``(sum log p(x), n_samples)`` of X."""
        log_prob = self._infer(X, "score")
        return float(np.sum(log_prob, dtype=np.float64)), log_prob.shape[0]

    def bic(self, X):
        """Bayesian information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Counts, one row per sample.

        Returns
        -------
        bic : float
        """
        log_likelihood, n_samples = self._total_log_likelihood(X)
        return -2 * log_likelihood + self._n_parameters() * math.log(n_samples)

    def aic(self, X):
        """Akaike information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Counts, one row per sample.

        Returns
        -------
        aic : float
        """
        log_likelihood, _ = self._total_log_likelihood(X)
        return -2 * log_likelihood + 2 * self._n_parameters()
