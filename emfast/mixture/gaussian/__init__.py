"""GaussianMixture: scikit-learn's estimator on emfast's fused numba passes."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from emfast._numba import serial_blas
from emfast._sklearn import Interval, StrOptions, _fit_context
from emfast._validation import (
    check_gaussian_init,
    check_n_samples,
    check_sample_weight,
    restore_on_error,
    validate_rows,
)
from emfast.mixture._engine.em import run_em
from emfast.mixture._engine.inference import GaussianMixtureBase
from emfast.mixture._engine.init import DenseResp
from emfast.mixture._engine.weights import check_weight_range
from emfast.mixture.gaussian import _model as model
from emfast.mixture.gaussian import _stream as stream
from emfast.mixture.gaussian._model import GaussianParams
from emfast.mixture.gaussian._pass import log_weights
from emfast.mixture.gaussian._stream import DEFAULT_DECAY
from emfast.rows import ArrayRows


class GaussianMixture(GaussianMixtureBase, DensityMixin, BaseEstimator):
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
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only when they are strings).

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
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with the EM algorithm.

        Fits ``n_init`` times (once when warm-starting) and keeps the parameters
        with the largest lower bound; each run iterates until the gain is below
        ``tol`` or ``max_iter`` is reached (then a ``ConvergenceWarning``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a chunk source
            Training data, one row per sample: an array (``numpy.memmap``
            works without loading it), or, for data read piece by piece, a
            callable returning an iterable of chunks (or a re-iterable such as a
            list of arrays). A chunk is a 2-D array of rows or a
            ``(rows, sample_weight)`` pair. EM reads the chunks once per
            iteration; the result equals the fit on the concatenated rows.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: a row of weight 2 counts as two copies of it,
            weight 0 drops it. Only their ratios matter: multiplying every
            weight by one factor gives the same model. Their total must lie
            within 2**1000 and their mean above 2**-1000 (float64 sums).

        Returns
        -------
        self : GaussianMixture
            The fitted mixture.
        """
        self._fit(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit as :meth:`fit` does, then return the most probable component of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a chunk source
            Training data (see :meth:`fit`).
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels (the same as ``fit(X).predict(X)``).
        """
        return self._training_labels(X, self._fit(X, sample_weight))

    def _fit(self, X, sample_weight):
        """Fit; return the training rows. Restores the state on failure."""
        with restore_on_error(self), serial_blas():
            warm = self.warm_start and hasattr(self, "converged_")
            data = self._training_rows(X, sample_weight, reset=not warm)
            check_weight_range(data)
            check_n_samples(data.n_samples, self.n_components)
            init = check_gaussian_init(self, data.n_features)
            result = run_em(
                lambda random_state: model.initial_params(
                    data, random_state, init, self
                ),
                lambda params: model.em_step(
                    data, params, self.covariance_type, self.reg_covar
                ),
                n_init=self.n_init,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=check_random_state(self.random_state),
                warm_state=self._get_parameters() if warm else None,
                warm_lower_bound=self.lower_bound_ if warm else -np.inf,
                verbose=self.verbose,
                verbose_interval=self.verbose_interval,
            )
            self._set_parameters(result.state, dtype=data.dtype)
            self.__dict__.pop("_stream_stats", None)  # a full fit ends any stream
            self.converged_ = result.converged
            self.n_iter_ = result.n_iter
            self.lower_bound_ = result.lower_bound
            self.lower_bounds_ = result.lower_bounds
        return data

    def partial_fit(self, X, y=None, sample_weight=None, *, decay=DEFAULT_DECAY):
        """Update the model with one batch of rows (stepwise, online EM).

        Each call computes the batch's sufficient statistics (per unit weight)
        under the current parameters, moves the running statistics towards
        them with step ``(t + 2) ** -decay`` (t = number of earlier M-steps)
        and runs the M-step on the result. Feed shuffled batches; after about
        as many rows as a few full-batch iterations see, the fit is close to
        the full-batch one.

        Where the stream starts:

        - An unfitted model initialises its parameters from the first batch
          (with ``init_params``, or the ``*_init`` values) and takes one EM step
          on it (t = 0).
        - A fitted model without running statistics (fitted by :meth:`fit`,
          which ends any stream, or loaded from a file) continues from its
          parameters: the running statistics start as the statistics per unit
          weight that give them back under the M-step, at ``t = n_iter_`` (its
          EM iterations count as M-steps taken, and ``n_iter_`` goes on
          counting). A batch of all the training rows leaves a converged model
          where it is. The model keeps its features and dtype (float32 rows are
          read in float64 for a float64 model).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch of rows (the first must have at least ``n_components``).
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's rows (an integer weight counts
            as that many copies of the row).
        decay : float in (0.5, 1], default=0.6
            Forgetting exponent of the step size, checked on every call.

        Returns
        -------
        self : GaussianMixture
        """
        with restore_on_error(self), serial_blas():
            stream.check_decay(decay)
            self._validate_params()
            fitted = hasattr(self, "precisions_cholesky_")
            X = validate_rows(self, X, reset=not fitted)
            if fitted:  # the model keeps its dtype
                dtype = np.result_type(self.means_.dtype, np.float32)
                X = np.ascontiguousarray(X, dtype=np.result_type(X, dtype))
            else:
                dtype = X.dtype
            data = ArrayRows(X, check_sample_weight(sample_weight, X.shape[0]))
            check_weight_range(data)
            params, running = self._stream_start(data, fitted)
            batch = stream.per_unit_weight(
                model.e_step(data, params, self.covariance_type)
            )
            if running is not None:
                rho = stream.step_size(self._stream_steps, decay)
                running = stream.blend(running, batch, rho)
            else:  # a new stream: one EM step on the batch
                running = batch
            new = model.m_step(running, self.covariance_type, self.reg_covar, dtype)
            self._set_parameters(new, dtype=dtype)
            self._stream_stats = running
            self._stream_steps += 1
            self.n_iter_ = self._stream_steps
            self.lower_bound_ = batch.log_norm
            self.lower_bounds_ = [*getattr(self, "lower_bounds_", []), batch.log_norm]
            self.converged_ = False
        return self

    def _stream_start(self, data, fitted):
        """``(parameters, running statistics or None)`` a partial_fit starts from.

        Sets ``_stream_steps`` when a stream begins (see :meth:`partial_fit`).
        """
        if not fitted:
            check_n_samples(data.n_samples, self.n_components)
            init = check_gaussian_init(self, data.n_features)
            random_state = check_random_state(self.random_state)
            self._stream_steps = 0
            return model.initial_params(data, random_state, init, self), None
        params = GaussianParams(
            *(np.asarray(p, dtype=np.float64) for p in self._get_parameters())
        )
        if not hasattr(self, "_stream_stats"):  # fitted or loaded: seed a stream
            self._stream_steps = int(getattr(self, "n_iter_", 0))
            self._stream_stats = stream.fitted_statistics(
                params, self.covariance_type, self.reg_covar
            )
        return params, self._stream_stats

    # ------------------------------------------------------ scikit-learn hooks
    def _get_parameters(self):
        return GaussianParams(
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_
        )

    def _set_parameters(self, params, dtype=None):
        """Set the fitted arrays (in ``dtype``, default: as given) and precisions_."""
        if dtype is None:
            dtype = np.result_type(params[1], np.float32)
        for name, value in model.fitted_arrays(
            params, self.covariance_type, dtype
        ).items():
            setattr(self, name, value)

    def _initialize(self, X, resp):
        """scikit-learn's ``_initialize``: parameters from given responsibilities.

        ``resp`` is a dense (n_samples, n_components) array; kept for code that
        calls scikit-learn's private API.
        """
        X = np.ascontiguousarray(X)
        init = (self.weights_init, self.means_init, self.precisions_init)
        params = model.params_from_resp(
            ArrayRows(X), DenseResp(resp), init, self.covariance_type, self.reg_covar
        )
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = (
            np.asarray(p, dtype=X.dtype) for p in params
        )

    def _n_parameters(self):
        """Number of free parameters of the model."""
        return model.n_parameters(
            self.n_components, self.means_.shape[1], self.covariance_type
        )

    # -------------------------------------------------------------- inference
    def _scoring_params(self):
        return log_weights(self.weights_), self.means_, self.precisions_cholesky_

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
        rng = check_random_state(self.random_state)
        return model.sample(
            self._get_parameters(), self.covariance_type, n_samples, rng
        )

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
