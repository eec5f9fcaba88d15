"""GaussianMixture: scikit-learn's estimator on emfast's fused numba passes."""

from __future__ import annotations

from numbers import Real
from typing import Literal

import numpy as np
from sklearn.utils.validation import check_is_fitted

from emfast._sklearn import Interval, StrOptions
from emfast._typing import ArrayLike, CovarianceType, InitParams, RandomStateLike
from emfast.mixture._engine.estimator import (
    ENGINE_CONSTRAINTS,
    INIT_OPTIONS,
    MixtureEstimator,
)
from emfast.mixture._engine.init import DenseResp
from emfast.mixture.gaussian import _missing, _missing_score
from emfast.mixture.gaussian._family import (
    FITTED,
    GaussianFamily,
    GaussianParams,
    params_from_resp,
)
from emfast.mixture.gaussian._missing_family import MarginalizingFamily
from emfast.rows import ArrayRows, inference_rows


class GaussianMixture(MixtureEstimator):
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
    scikit-learn#30382), ``lower_bound_`` is always a float64, a fit that fails
    leaves the estimator exactly as it was before the call, and
    ``missing="marginalize"`` fits rows with missing values (NaN) by exact
    incomplete-data EM; :meth:`impute` fills them in.

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
    missing : {'error', 'marginalize'}, default='error'
        What NaN in the rows mean. 'error': scikit-learn's behaviour, NaN are
        refused with its error. 'marginalize': a NaN is a missing value. Every
        method (``fit``, ``fit_predict``, ``partial_fit``, ``predict``,
        ``predict_proba``, ``score_samples``, ``score``, ``bic``, ``aic``)
        then uses the observed coordinates of each row: its density is the
        marginal density of those (the marginal of a Gaussian is Gaussian),
        and the M-step takes the expected statistics given them (the
        conditional mean and covariance of the missing coordinates: exact EM
        for incomplete data, Ghahramani and Jordan 1994). Missing values are
        taken to be missing at random. A row needs one observed value and a
        column one observed value (with positive weight); infinities are
        still refused. The initialisation runs ``init_params`` on the rows
        with each missing entry replaced by the observed mean of its column.
        Rows without NaN give results bit for bit equal to 'error'.

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
        **ENGINE_CONSTRAINTS,
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "init_params": [INIT_OPTIONS],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "missing": [StrOptions({"error", "marginalize"})],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: CovarianceType = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: InitParams = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: RandomStateLike = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        missing: Literal["error", "marginalize"] = "error",
    ) -> None:
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
        self.missing = missing

    def _family(self):
        marginalize = self.missing == "marginalize"
        family = MarginalizingFamily if marginalize else GaussianFamily
        return family(
            n_components=self.n_components,
            covariance_type=self.covariance_type,
            reg_covar=self.reg_covar,
            init_params=self.init_params,
            weights_init=self.weights_init,
            means_init=self.means_init,
            precisions_init=self.precisions_init,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.missing == "marginalize"
        return tags

    def impute(self, X: ArrayLike) -> np.ndarray:
        """X with each missing entry (NaN) replaced by its conditional expectation.

        The value of a missing coordinate ``x_m`` of a row with observed
        coordinates ``x_o`` is ``E[x_m | x_o] = sum_k p(k | x_o) E[x_m | x_o, k]``
        under the fitted mixture: the posterior-weighted conditional means of
        the components. Observed values are kept. Works whatever ``missing``
        is (a model fitted on complete rows imputes too).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or Dask array
            Rows with NaN marking missing values; each row needs one observed
            value. A Dask array gives a lazy Dask array.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            A new array, in the precision the rows are scored in (the model's,
            or the rows' if higher).
        """
        check_is_fitted(self)
        rows = inference_rows(
            X,
            self,
            self._fitted_dtype(),
            _missing.check_observed,
            allow_nan=True,
        )
        params = GaussianParams(*(getattr(self, name) for name in FITTED[:4]))
        return rows.map_rows(
            _missing_score.impute,
            params,
            self.covariance_type,
            n_columns=self.n_features_in_,
        )

    def _initialize(self, X, resp):
        """scikit-learn's ``_initialize``: parameters from given responsibilities.

        ``resp`` is a dense (n_samples, n_components) array; kept for code that
        calls scikit-learn's private API.
        """
        X = np.ascontiguousarray(X)
        init = (self.weights_init, self.means_init, self.precisions_init)
        params = params_from_resp(
            ArrayRows(X), DenseResp(resp), init, self.covariance_type, self.reg_covar
        )
        self.weights_, self.means_, self.covariances_, self.precisions_cholesky_ = (
            np.asarray(p, dtype=X.dtype) for p in params
        )
