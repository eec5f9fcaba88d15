"""CustomMixture: a mixture of a user-defined component family, fitted by EM."""

from __future__ import annotations

from emfast._typing import InitParams, RandomStateLike
from emfast.mixture._engine.estimator import (
    ENGINE_CONSTRAINTS,
    INIT_OPTIONS,
    MixtureEstimator,
)
from emfast.mixture.custom._component import ComponentFamily
from emfast.mixture.custom._family import CustomFamily

__all__ = ["ComponentFamily", "CustomMixture"]


class CustomMixture(MixtureEstimator):
    """Mixture of a user-defined component family, fitted by EM.

    The family (a :class:`~emfast.ComponentFamily`) gives the per-row
    log-density and sufficient statistics as numba functions and the M-step as
    a NumPy function; this estimator gives it everything emfast's built-in
    mixtures have. Each EM iteration is one parallel numba pass over fixed-size
    row chunks that calls the family's functions for every row and component,
    fuses the E-step with the statistics (summed in float64) and never builds
    an (n_samples, n_components) array; results do not depend on the number of
    threads. It takes memory-mapped arrays, sources of row chunks and Dask
    arrays, sample weights (only their ratios matter), ``n_init``, warm starts
    and ``partial_fit`` (stepwise EM), and works with
    :func:`~emfast.select_n_components` (``estimator=``). The API follows
    scikit-learn's :class:`~sklearn.mixture.GaussianMixture` (same parameters
    where they apply, same EM driver: ``n_init`` selection, convergence rule,
    warm start, verbose messages, ``ConvergenceWarning``).

    Each component k has a weight ``weights_[k]`` and parameters
    ``params_[k]``; a row ``x`` has density
    ``sum_k weights_[k] exp(log_density(x, T(x), params_[k]))``. float32 rows stay
    float32 in memory and give float32 fitted arrays; the family's functions
    see float32 rows and float64 parameters, and the sums are float64.

    Models of a user family cannot be written with :func:`~emfast.save_model`
    (a model file holds data, never code, and the family is code): pickle them
    instead (``pickle`` or ``joblib``), which stores the family's functions by
    reference to their module.

    Parameters
    ----------
    family : ComponentFamily
        The kind of component: its functions and sizes.
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
        ``GaussianMixture`` draws them from the same ``random_state``); the
        family's ``m_step`` turns their statistics into the first parameters.
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
    params_ : ndarray of shape (n_components, n_params)
        The parameters of each component, as the family's ``m_step`` returns
        them.
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
    emfast.ComponentFamily : how to write a family (with an example).
    emfast.PoissonMixture : a built-in family on the same EM machinery.

    Examples
    --------
    A mixture of exponentials, with rate ``theta[0]``:

    >>> import math
    >>> import numba
    >>> import numpy as np
    >>> from emfast import ComponentFamily, CustomMixture
    >>> @numba.njit
    ... def log_density(x, t, theta):
    ...     return math.log(theta[0]) - theta[0] * x[0]
    >>> @numba.njit
    ... def statistics(x, t):
    ...     t[0] = x[0]
    >>> def m_step(nk, sums):
    ...     return nk[:, np.newaxis] / sums
    >>> exponential = ComponentFamily(
    ...     log_density, statistics, m_step, n_statistics=1, n_parameters=1)
    >>> X = np.array([[0.1], [0.2], [0.15], [9.0], [11.0], [10.0]])
    >>> model = CustomMixture(exponential, 2, random_state=0).fit(X)
    >>> model.params_.round(3)
    array([[0.104],
           [6.688]])
    >>> model.predict([[0.12], [12.0]])
    array([1, 0])
    """

    _parameter_constraints: dict = {
        **ENGINE_CONSTRAINTS,
        "family": [ComponentFamily],
        "init_params": [INIT_OPTIONS],
    }

    def __init__(
        self,
        family: ComponentFamily,
        n_components: int = 1,
        *,
        tol: float = 1e-3,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: InitParams = "kmeans",
        random_state: RandomStateLike = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
    ) -> None:
        self.family = family
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _family(self):
        return CustomFamily(
            self.family,
            n_components=self.n_components,
            init_params=self.init_params,
            estimator_name=type(self).__name__,
        )
