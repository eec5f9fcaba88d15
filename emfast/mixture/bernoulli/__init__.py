"""BernoulliMixture: a mixture of independent Bernoullis for binary data, by EM."""

from __future__ import annotations

from emfast._typing import InitParams, RandomStateLike
from emfast.mixture._engine.estimator import (
    ENGINE_CONSTRAINTS,
    INIT_OPTIONS,
    MixtureEstimator,
)
from emfast.mixture.bernoulli._family import BernoulliFamily


class BernoulliMixture(MixtureEstimator):
    """Mixture of products of independent Bernoullis, for binary data, fitted by EM.

    Each component k has a weight ``weights_[k]`` and one probability of a one
    per feature ``probabilities_[k]``; a row ``x`` of zeros and ones has
    probability ``sum_k weights_[k] prod_l p_kl^x_l (1 - p_kl)^(1 - x_l)``
    with ``p_kl = probabilities_[k, l]`` (latent class analysis of binary
    items, or a mixture model of binarised images). The API follows
    scikit-learn's :class:`~sklearn.mixture.GaussianMixture` (same parameters
    where they apply, same EM driver: ``n_init`` selection, convergence rule,
    warm start, verbose messages, ``ConvergenceWarning``). Each EM iteration is
    one parallel numba pass over fixed-size row chunks that fuses the E-step
    with the M-step's statistics and skips the zeros of each row; no
    (n_samples, n_components) array is created while fitting, and results do
    not depend on the number of threads. As the other mixtures, it takes
    memory-mapped arrays, sources of row chunks and Dask arrays (every block is
    checked each time it is read), sample weights (only their ratios matter),
    ``partial_fit`` (stepwise EM, as :meth:`emfast.GaussianMixture.partial_fit`)
    and model files.

    ``X`` must lie in [0, 1]: zeros and ones (integer, boolean or float
    arrays), or fractions, read as soft binary data. A fraction ``x`` enters
    the log-density as ``x log p + (1 - x) log(1 - p)``, the expected
    log-probability of a bit that is one with probability ``x`` (the
    cross-entropy a Bernoulli decoder is trained on); the M-step averages the
    fractions. For 0/1 data this is the exact log-likelihood; for fractions it
    is not a normalised density of the fractions themselves. Any value below 0
    or above 1 raises a ``ValueError`` naming the first one; NaN and infinity
    raise scikit-learn's errors. float32 input stays float32 in memory and
    gives float32 fitted arrays, but log-densities and statistics are summed in
    float64; any other input is converted to float64.

    Probabilities are kept within ``1e-10`` of 0 and 1: a component whose rows
    all have a 0 (or all a 1) in a feature would otherwise get probability
    exactly 0 (1) there and ``log 0`` for any row that differs. Clipped, such a
    row costs about 23 nats. Clipping is the exact M-step of the likelihood on
    that interval, so EM keeps increasing the log-likelihood. (In float32,
    ``1 - 1e-10`` rounds to 1.0; such a model still scores with ``1 - 1e-10``.)

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
    probabilities_ : ndarray of shape (n_components, n_features)
        The probability of a one in each feature and component, in
        ``[1e-10, 1 - 1e-10]``.
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
    emfast.PoissonMixture : the mixture of Poissons for counts, on the same engine.
    emfast.VAE : a continuous latent space with a learned decoder, for the same
        kind of data.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import BernoulliMixture
    >>> X = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0],
    ...               [0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 1, 1]])
    >>> bm = BernoulliMixture(n_components=2, random_state=0).fit(X)
    >>> bm.probabilities_.round(2)
    array([[0.  , 0.33, 1.  , 1.  ],
           [1.  , 0.67, 0.  , 0.  ]])
    >>> bm.predict([[1, 0, 0, 0], [0, 0, 1, 0]])
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
        # data in [0, 1]: scikit-learn has a tag for the lower bound only
        tags.input_tags.positive_only = True
        return tags

    def _family(self):
        return BernoulliFamily(
            n_components=self.n_components,
            init_params=self.init_params,
            estimator_name=type(self).__name__,
        )
