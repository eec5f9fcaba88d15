"""CategoricalMixture: latent class analysis of integer-coded categorical columns."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Literal

from emfast._sklearn import Interval, StrOptions
from emfast._typing import ArrayLike, RandomStateLike
from emfast.mixture._engine.estimator import ENGINE_CONSTRAINTS, MixtureEstimator
from emfast.mixture.categorical._family import CategoricalFamily


class CategoricalMixture(MixtureEstimator):
    """Mixture of products of independent categoricals (latent class analysis), by EM.

    Each row holds one integer code per column, ``x_j`` in ``0, 1, ...,
    n_levels_[j] - 1``; columns may have different numbers of levels. Component
    k has a weight ``weights_[k]`` and, for each column j, a probability per
    level ``probabilities_[j][k]``; a row has probability
    ``sum_k weights_[k] prod_j probabilities_[j][k, x_j]``: within a latent
    class the columns are independent. The API follows scikit-learn's
    :class:`~sklearn.mixture.GaussianMixture` where it applies (same EM driver:
    ``n_init`` selection, convergence rule, warm start, verbose messages,
    ``ConvergenceWarning``). Each EM iteration is one parallel numba pass over
    fixed-size row chunks that fuses the E-step with the M-step's statistics;
    results do not depend on the number of threads. As the other mixtures, it
    takes memory-mapped arrays, sources of row chunks and Dask arrays (every
    block is checked each time it is read), sample weights (only their ratios
    matter), ``partial_fit`` (stepwise EM) and model files.

    ``X`` must hold codes: non-negative whole numbers, in an integer or a float
    array (float32 rows stay float32 and give float32 fitted arrays; the
    log-densities are summed in float64). Anything else raises a
    ``ValueError`` naming the first bad entry. Codes must be below 2**18, and
    the table of probabilities (``n_components * sum(n_levels_)`` entries) at
    most 2**18 entries: each chunk of the pass keeps a table of statistics
    that size.

    **Levels.** With ``n_levels=None`` a fit learns each column's number of
    levels as its largest code + 1; otherwise ``n_levels`` gives them (one int
    for every column, or one per column) and codes at or above them raise a
    ``ValueError``. A fitted model knows ``n_levels_`` levels per column:
    scoring a code beyond them raises a ``ValueError`` (the model has no
    probability for it), and so does ``partial_fit`` or a warm-started fit,
    which keep the model's levels. Give ``n_levels`` when later rows may hold
    levels that the training rows do not show (for ``partial_fit`` in
    particular, whose first batch would otherwise fix the levels); a level that
    no training row shows gets the smallest probability (see ``smoothing``).

    **Smoothing.** The M-step mixes each column's maximum-likelihood
    probabilities ``m`` with the uniform distribution:
    ``p = (m + smoothing) / (1 + smoothing * n_levels_[j])``. No probability is
    0, so no log-density is ``-inf``: a code a component never produced costs
    about ``-log(smoothing)`` nats (23 by default) instead of ruling the
    component out, and an emptied component gets uniform probabilities. The
    default changes the fit negligibly; larger values (e.g. 0.01 to 1) shrink
    sparse classes towards uniform. Like the rest of the M-step, the rule uses
    the statistics as ratios, so the unit of the sample weights does not
    matter.

    **Initialisation.** ``init_params`` draws initial responsibilities as
    scikit-learn does for its other mixtures: 'random_from_data' draws
    ``n_components`` rows (without replacement) as the classes' first members
    (with a small ``smoothing``, the first E-step gives each row to the class
    whose first member it matches in the most columns), 'random' draws uniform
    random responsibilities, and 'random_probabilities' draws each class's
    probabilities of each column from a flat Dirichlet, without reading the
    rows. k-means is not
    offered: on codes it would treat levels as ordered numbers, and on one-hot
    rows it would need an array of ``n_samples * sum(n_levels_)`` entries.
    Latent class models have local optima: use ``n_init`` > 1.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components (latent classes).
    n_levels : int, array-like of int or None, default=None
        The number of levels of every column (an int) or of each column (one
        per column); None learns them in ``fit`` (largest code + 1).
    smoothing : float > 0, default=1e-10
        Weight of the uniform distribution mixed into every column's
        probabilities at each M-step (see above).
    tol : float, default=1e-3
        Convergence threshold: EM stops when the gain in the mean log-likelihood
        (the lower bound) is below ``tol``.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initialisations to perform; the best result is kept.
    init_params : {'random_from_data', 'random', 'random_probabilities'}, \
default='random_from_data'
        How the initial responsibilities are drawn (see above). With
        ``sample_weight``, 'random_from_data' draws rows with probability
        proportional to weight.
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
    probabilities_ : list of ndarray
        One array of shape (n_components, n_levels_[j]) per column j: the
        probability of each level in each component (each row sums to 1).
    n_levels_ : ndarray of int64 of shape (n_features,)
        The number of levels of each column (given or learned).
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
        Number of features (columns) seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only when they are strings).

    See Also
    --------
    emfast.PoissonMixture : the mixture for counts on the same EM machinery.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import CategoricalMixture
    >>> X = np.array([[0, 0, 1], [0, 0, 1], [0, 1, 1], [2, 1, 0], [2, 1, 0],
    ...               [2, 1, 0]])
    >>> cm = CategoricalMixture(n_components=2, random_state=0).fit(X)
    >>> cm.n_levels_
    array([3, 2, 2])
    >>> cm.weights_.round(2)
    array([0.5, 0.5])
    >>> [p.round(2) for p in cm.probabilities_][1]
    array([[0.  , 1.  ],
           [0.67, 0.33]])
    >>> cm.predict([[0, 0, 1], [2, 1, 0]])
    array([1, 0])
    """

    _parameter_constraints: dict = {
        **ENGINE_CONSTRAINTS,
        "n_levels": [None, Interval(Integral, 1, None, closed="left"), "array-like"],
        "smoothing": [Interval(Real, 0.0, None, closed="neither")],
        "init_params": [
            StrOptions({"random", "random_from_data", "random_probabilities"})
        ],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        n_levels: int | ArrayLike | None = None,
        smoothing: float = 1e-10,
        tol: float = 1e-3,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: Literal[
            "random_from_data", "random", "random_probabilities"
        ] = "random_from_data",
        random_state: RandomStateLike = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
    ) -> None:
        self.n_components = n_components
        self.n_levels = n_levels
        self.smoothing = smoothing
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
        # integer codes: scikit-learn's estimator checks then feed whole
        # non-negative numbers
        tags.input_tags.categorical = True
        return tags

    def _family(self):
        return CategoricalFamily(
            n_components=self.n_components,
            init_params=self.init_params,
            n_levels=self.n_levels,
            smoothing=self.smoothing,
            estimator_name=type(self).__name__,
        )
