"""BayesianGaussianMixture: scikit-learn's variational estimator on emfast's passes."""

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from emfast import _sklearn
from emfast._numba import serial_blas
from emfast._sklearn import _fit_context
from emfast._validation import (
    check_n_samples,
    restore_on_error,
)
from emfast.mixture._engine.em import run_em
from emfast.mixture._engine.inference import GaussianMixtureBase
from emfast.mixture._engine.init import DenseResp, initial_resp
from emfast.mixture._engine.weights import check_weight_range, nk_offset
from emfast.mixture.bayesian._update import (
    Priors,
    VariationalParams,
    fitted_arrays,
    log_density_offsets,
    lower_bound,
    resolve_priors,
    variational_update,
)
from emfast.mixture.gaussian._model import GaussianParams, initial_statistics
from emfast.mixture.gaussian._model import sample as sample_mixture
from emfast.mixture.gaussian._pass import gaussian_pass
from emfast.rows import ArrayRows


class BayesianGaussianMixture(GaussianMixtureBase, DensityMixin, BaseEstimator):
    """Variational Bayesian Gaussian mixture: a drop-in for scikit-learn's.

    Same parameters, attributes, methods, warnings and errors as
    :class:`sklearn.mixture.BayesianGaussianMixture` (scikit-learn 1.9), and the
    same results to rounding: the initialisation draws from ``random_state``
    exactly as scikit-learn does, so the same seed gives the same variational
    path. Each iteration is one parallel numba pass over fixed-size row chunks
    that fuses the E-step (with the ``sum r log r`` of the bound) with the
    M-step statistics; no (n_samples, n_components) array is created while
    fitting. The variational update and the bound work on K x D x D statistics.

    Differences from scikit-learn: ``fit``, ``fit_predict`` and ``score`` take
    ``sample_weight`` (integer weights act as repeated rows); float32 data stay
    float32 (kernels and fitted arrays; statistics are float64);
    ``lower_bound_`` is always a float; a failed fit leaves the estimator as it
    was. Like :class:`~emfast.GaussianMixture`, ``fit`` also takes a memory-mapped
    array, a source of row chunks or a Dask array, and ``predict``,
    ``predict_proba`` and ``score_samples`` of a Dask array are lazy.

    Parameters
    ----------
    n_components : int, default=1
        The maximum number of components (some may end with weights near zero).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        One general covariance per component ('full'), one shared by all
        ('tied'), one diagonal per component ('diag'), one variance ('spherical').
    tol : float, default=1e-3
        Iterations stop when the gain of the lower bound is below ``tol``.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of the covariances.
    max_iter : int, default=100
        The number of iterations to perform.
    n_init : int, default=1
        The number of initialisations to perform; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are drawn.
    weight_concentration_prior_type : {'dirichlet_process', \
            'dirichlet_distribution'}, default='dirichlet_process'
        A (truncated, stick-breaking) Dirichlet process or a Dirichlet
        distribution as the prior of the weights.
    weight_concentration_prior : float or None, default=None
        Concentration (gamma, > 0) of the weight prior: higher values make more
        components active. None means ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        Precision (beta_0, > 0) of the prior of the means. None means 1.
    mean_prior : array-like of shape (n_features,), default=None
        Prior mean of the means. None means the mean of X.
    degrees_of_freedom_prior : float or None, default=None
        Degrees of freedom (nu_0 > n_features - 1) of the Wishart priors. None
        means ``n_features``.
    covariance_prior : float or array-like, default=None
        Covariance of the Wishart priors: (n_features, n_features) for 'full'
        and 'tied', (n_features,) 'diag', a float 'spherical'. None means the
        covariance of X.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        If True, each ``fit`` continues from the previous solution.
    verbose : int, default=0
        1 prints each initialisation and iteration, 2 also timings and changes.
    verbose_interval : int, default=10
        Number of iterations between messages.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The mean of each component's mean distribution.
    covariances_ : ndarray
        Wishart scale inverses divided by the degrees of freedom, shaped
        (n_components, n_features, n_features) 'full', (n_features, n_features)
        'tied', (n_components, n_features) 'diag', (n_components,) 'spherical'.
    precisions_ : ndarray
        The inverses of ``covariances_``.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions (upper triangular for full and tied).
    converged_ : bool
        True when the best initialisation reached convergence.
    n_iter_ : int
        Number of iterations of the best initialisation.
    lower_bound_ : float
        Lower bound on the model evidence at the best initialisation's end.
    lower_bounds_ : list of float
        ``lower_bound_`` at each iteration of the best initialisation.
    weight_concentration_ : ndarray of shape (n_components,) or tuple
        Posterior concentrations of the weights: the pair of Beta parameters of
        the sticks ('dirichlet_process') or the Dirichlet parameters.
    mean_precision_ : ndarray of shape (n_components,)
        The precision of each component's mean distribution.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        Degrees of freedom of each Wishart distribution (one float for 'tied').
    weight_concentration_prior_, mean_precision_prior_ : float
        The priors used.
    mean_prior_ : ndarray of shape (n_features,)
        The prior mean used.
    degrees_of_freedom_prior_ : float
        The prior degrees of freedom used.
    covariance_prior_ : float or ndarray
        The prior covariance used.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only when they are strings).

    See Also
    --------
    sklearn.mixture.BayesianGaussianMixture : the reference implementation.
    emfast.GaussianMixture : finite Gaussian mixture fitted by EM.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> bgm.means_.round(3)
    array([[2.498, 2.292],
           [8.455, 4.523]])
    >>> bgm.predict([[0, 0], [9, 3]])
    array([0, 1])
    """

    # scikit-learn's own constraints: the same checks and the same messages
    _parameter_constraints: dict = dict(_sklearn.bayesian_parameter_constraints())

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
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
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the variational posterior from ``n_init`` starts; keep the best.

        Each run iterates until the gain of the lower bound is below ``tol`` or
        ``max_iter`` is reached (then a ``ConvergenceWarning``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a chunk source
            Training data, one row per sample: an array (``numpy.memmap``
            works without loading it), a Dask array, or a callable returning an
            iterable of chunks (arrays of rows or ``(rows, sample_weight)``
            pairs), read once per iteration, as in
            :meth:`emfast.GaussianMixture.fit`.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (an integer weight acts as that many
            copies of the row), so their scale matters: it is the amount of
            data the priors are weighed against. None gives every row weight 1.

        Returns
        -------
        self : BayesianGaussianMixture
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
            Training data, one row per sample.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels (the same as ``fit(X).predict(X)``).
        """
        return self._training_labels(X, self._fit(X, sample_weight))

    def _fit(self, X, sample_weight):
        """Fit on ``X``; return the training rows. Restores state on failure."""
        with restore_on_error(self), serial_blas():
            warm = self.warm_start and hasattr(self, "converged_")
            data = self._training_rows(X, sample_weight, reset=not warm)
            check_weight_range(data, unit_free=False)
            check_n_samples(data.n_samples, self.n_components)
            priors = self._resolve_priors(data)
            result = run_em(
                lambda random_state: self._initial_params(data, priors, random_state),
                lambda params: self._variational_step(data, priors, params),
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
            self.converged_ = result.converged
            self.n_iter_ = result.n_iter
            self.lower_bound_ = result.lower_bound
            self.lower_bounds_ = result.lower_bounds
        return data

    def _variational_step(self, data, priors, params):
        """One fused pass (E-step + statistics + entropy), the update, the bound."""
        stats = gaussian_pass(
            data, self._kernel_params(params), self.covariance_type, with_entropy=True
        )
        params = self._update(data, priors, stats)
        cov_type, prior_type = (
            self.covariance_type,
            self.weight_concentration_prior_type,
        )
        return params, lower_bound(params, stats.resp_log_resp, cov_type, prior_type)

    def _update(self, data, priors, stats):
        cov_type, prior_type = (
            self.covariance_type,
            self.weight_concentration_prior_type,
        )
        return variational_update(
            stats,
            self.reg_covar,
            priors,
            cov_type,
            prior_type,
            data.dtype,
            nk_offset(data),
        )

    def _initial_params(self, data, priors, random_state):
        """Starting parameters of one init, drawn as scikit-learn draws them."""
        resp = initial_resp(data, self.n_components, self.init_params, random_state)
        return self._params_from_resp(data, priors, resp)

    def _params_from_resp(self, data, priors, resp):
        """scikit-learn's ``_initialize``: the update on the statistics of ``resp``."""
        stats = initial_statistics(data, resp, self.covariance_type)
        return self._update(data, priors, stats)

    def _resolve_priors(self, data):
        """scikit-learn's ``_check_parameters``: set the ``*_prior_`` attributes
        (defaults from the weighted moments of ``data``); return :class:`Priors`."""
        attributes, priors = resolve_priors(self, data)
        for name, value in attributes.items():
            setattr(self, name, value)
        return priors

    def _kernel_params(self, params):
        """``(additive log term, means, precision factors)`` for the kernels."""
        offsets = log_density_offsets(params, self.weight_concentration_prior_type)
        return offsets, params.means, params.precisions_cholesky

    # ------------------------------------------------------ scikit-learn hooks
    def _get_parameters(self):
        return VariationalParams(
            self.weight_concentration_,
            self.mean_precision_,
            self.means_,
            self.degrees_of_freedom_,
            self.covariances_,
            self.precisions_cholesky_,
        )

    def _set_parameters(self, params, dtype=None):
        """Set the fitted arrays (in ``dtype``, default: as given), ``weights_``
        and ``precisions_``."""
        params = VariationalParams(*params)
        if dtype is None:
            dtype = np.result_type(params.means, np.float32)
        fitted = fitted_arrays(
            params, self.covariance_type, self.weight_concentration_prior_type, dtype
        )
        for name, value in fitted.items():
            setattr(self, name, value)

    # scikit-learn's private hooks, for code (and tests) that call them
    def _check_parameters(self, X, xp=None):
        """Resolve the priors on ``X``."""
        self._resolve_priors(_rows(X))

    def _initialize_parameters(self, X, random_state, xp=None):
        """Draw an init on ``X`` (after :meth:`_check_parameters`) and set it."""
        data = _rows(X)
        resp = initial_resp(data, self.n_components, self.init_params, random_state)
        self._initialize(data, resp)

    def _initialize(self, X, resp):
        """Set the parameters from responsibilities (dense, or a source of blocks)."""
        data = X if isinstance(X, ArrayRows) else _rows(X)
        if isinstance(resp, np.ndarray):
            resp = DenseResp(resp)
        params = self._params_from_resp(data, Priors.from_attributes(self), resp)
        self._set_parameters(params, dtype=data.dtype)

    # -------------------------------------------------------------- inference
    def _scoring_params(self):
        return self._kernel_params(self._get_parameters())

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (as scikit-learn draws them).

        Uses ``weights_``, ``means_`` and ``covariances_``, like scikit-learn.

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
        params = GaussianParams(
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_
        )
        rng = check_random_state(self.random_state)
        return sample_mixture(params, self.covariance_type, n_samples, rng)


def _rows(X):
    """A float array given to a private hook as :class:`ArrayRows`."""
    X = np.asarray(X)
    return ArrayRows(np.ascontiguousarray(X, dtype=np.result_type(X, np.float32)))
