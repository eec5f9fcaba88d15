"""PoissonMixture: a mixture of independent Poissons for count data, fitted by EM."""

from __future__ import annotations

from emfast._typing import InitParams, RandomStateLike
from emfast.mixture._engine.estimator import (
    ENGINE_CONSTRAINTS,
    INIT_OPTIONS,
    MixtureEstimator,
)
from emfast.mixture.poisson._family import PoissonFamily


class PoissonMixture(MixtureEstimator):
    """Mixture of products of independent Poissons, for count data, fitted by EM.

    Each component k has a weight ``weights_[k]`` and one rate per feature
    ``rates_[k]``; a row of counts ``x`` has density
    ``sum_k weights_[k] prod_l Poisson(x_l | rates_[k, l])``. The API follows
    scikit-learn's :class:`~sklearn.mixture.GaussianMixture` (same parameters
    where they apply, same EM driver: ``n_init`` selection, convergence rule,
    warm start, verbose messages, ``ConvergenceWarning``). Each EM iteration is one
    parallel numba pass over fixed-size row chunks that fuses the E-step with the
    M-step's statistics; no (n_samples, n_components) array is created while
    fitting, and results do not depend on the number of threads. As the Gaussian
    mixtures, it takes memory-mapped arrays, sources of row chunks and Dask
    arrays (every block is checked for counts each time it is read), sample
    weights (only their ratios matter), ``partial_fit`` (stepwise EM, as
    :meth:`emfast.GaussianMixture.partial_fit`) and model files.

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
        **ENGINE_CONSTRAINTS,
        "init_params": [INIT_OPTIONS],
    }

    def __init__(
        self,
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

    def _family(self):
        return PoissonFamily(
            n_components=self.n_components,
            init_params=self.init_params,
            estimator_name=type(self).__name__,
        )
