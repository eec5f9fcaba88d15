"""BayesianGaussianMixture: scikit-learn's variational estimator on emfast's passes."""

from __future__ import annotations

from typing import Literal

import numpy as np

from emfast import _sklearn
from emfast._typing import ArrayLike, CovarianceType, InitParams, RandomStateLike
from emfast.mixture._engine.estimator import MixtureEstimator
from emfast.mixture._engine.init import DenseResp, initial_resp
from emfast.mixture._engine.weights import nk_offset
from emfast.mixture.bayesian import _posterior_draws
from emfast.mixture.bayesian._family import VariationalContext, VariationalFamily
from emfast.mixture.bayesian._posterior_draws import PosteriorDraws
from emfast.mixture.bayesian._priors import Priors
from emfast.rows import ArrayRows, Rows


class BayesianGaussianMixture(MixtureEstimator):
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
    Additions: ``bic``/``aic`` (with a Gaussian mixture's parameter count),
    model files (:func:`emfast.save_model`) and ``partial_fit``: stochastic
    variational inference, the running statistics per unit weight blended with
    step ``(t + 2) ** -decay`` as in :meth:`emfast.GaussianMixture.partial_fit`
    and scaled to the data size, which is the total sample weight seen so far
    (for a fitted or loaded model, the weight its posterior stands for,
    ``sum(mean_precision_ - mean_precision_prior_)``, plus the batches). Each
    update is then the posterior of that much data with the running average
    statistics: one pass of shuffled batches over a data set ends near the
    full-batch posterior. A new stream takes its default priors (mean and
    covariance of the data) from its first batch.

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
        n_components: int = 1,
        covariance_type: CovarianceType = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: InitParams = "kmeans",
        weight_concentration_prior_type: Literal[
            "dirichlet_process", "dirichlet_distribution"
        ] = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: ArrayLike | None = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: float | ArrayLike | None = None,
        random_state: RandomStateLike = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
    ) -> None:
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

    def _family(self):
        return VariationalFamily(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            init_params=self.init_params,
            weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration_prior=self.weight_concentration_prior,
            mean_precision_prior=self.mean_precision_prior,
            mean_prior=self.mean_prior,
            degrees_of_freedom_prior=self.degrees_of_freedom_prior,
            covariance_prior=self.covariance_prior,
        )

    # ------------------------------------------- uncertainty of the fit
    def sample_posterior(
        self, n_draws: int, random_state: RandomStateLike = None
    ) -> PosteriorDraws:
        """Draw mixture parameters from the fitted variational posterior.

        Weights from the Dirichlet (or the stick-breaking Betas of the
        Dirichlet process), precisions from the Wishart of each component
        (tied: one shared Wishart; diag and spherical: Gammas per feature or
        per component), means from the Normal given each precision draw.

        Parameters
        ----------
        n_draws : int
            Number of draws (>= 1).
        random_state : int, RandomState instance or None, default=None
            Seeds the draws.

        Returns
        -------
        draws : PosteriorDraws
            ``weights`` (n_draws, n_components), ``log_weights`` (the same in
            logs: tiny weights underflow), ``means`` (n_draws, n_components,
            n_features) and ``precisions_cholesky`` (``precisions_cholesky_``'s
            layout with a leading n_draws axis), float64.
        """
        return _posterior_draws.sample_posterior(self, n_draws, random_state)

    def predict_proba_interval(
        self,
        X: ArrayLike,
        level: float = 0.9,
        n_draws: int = 1000,
        random_state: RandomStateLike = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Membership probabilities with an equal-tailed posterior interval.

        The posterior membership probabilities of each row are computed under
        ``n_draws`` parameter draws of :meth:`sample_posterior` with the
        chunked Gaussian kernels; their mean and their ``(1 - level) / 2`` and
        ``(1 + level) / 2`` quantiles are returned. With the same integer
        ``random_state``, intervals of higher levels contain those of lower
        levels, and they narrow as the training data grow. The mean lies
        within the range of the draws but, for a probability near 0 or 1 whose
        draws are skewed, not always inside an equal-tailed interval. Memory
        is bounded (rows are processed in chunks, see
        :func:`emfast.mixture.bayesian._posterior_draws.predict_proba_interval`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.
        level : float, default=0.9
            Probability mass of the interval, in (0, 1].
        n_draws : int, default=1000
            Number of parameter draws.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws.

        Returns
        -------
        mean, lower, upper : ndarray of shape (n_samples, n_components)
            The mean membership probabilities (they sum to one over the
            components) and the interval bounds, float64.

        Examples
        --------
        >>> import numpy as np
        >>> from emfast import BayesianGaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(4, 1, (100, 2))])
        >>> bgm = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
        >>> mean, lower, upper = bgm.predict_proba_interval([[2.0, 2.0]],
        ...                                                 random_state=0)
        >>> bool(np.all((lower <= upper) & (lower >= 0) & (upper <= 1)))
        True
        """
        return _posterior_draws.predict_proba_interval(
            self, X, level=level, n_draws=n_draws, random_state=random_state
        )

    # scikit-learn's private hooks, for code (and tests) that call them
    def _check_parameters(self, X, xp=None):
        """Resolve the priors on ``X``."""
        self._family().resolve_priors(_rows(X), self)

    def _initialize_parameters(self, X, random_state, xp=None):
        """Draw an init on ``X`` (after :meth:`_check_parameters`) and set it."""
        data = _rows(X)
        resp = initial_resp(data, self.n_components, self.init_params, random_state)
        self._initialize(data, resp)

    def _initialize(self, X, resp):
        """Set the parameters from responsibilities (dense, or a source of blocks)."""
        data = X if isinstance(X, Rows) else _rows(X)
        if isinstance(resp, np.ndarray):
            resp = DenseResp(resp)
        family = self._family()
        context = VariationalContext(
            data.dtype, nk_offset(data), Priors.from_attributes(self)
        )
        params = family.m_step(family.resp_statistics(data, resp, context), context)
        family.set_fitted(self, params, data.dtype)


def _rows(X):
    """A float array given to a private hook as :class:`~emfast.rows.ArrayRows`."""
    X = np.asarray(X)
    return ArrayRows(np.ascontiguousarray(X, dtype=np.result_type(X, np.float32)))
