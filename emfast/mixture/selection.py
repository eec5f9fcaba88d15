"""Choosing the number of components (and the covariance type) by AIC or BIC.

:func:`select_n_components` fits one mixture per number of components K (and
per covariance type), scores each fit once, and returns a
:class:`SelectionResult`: the best model, a :class:`SelectionTable` of every fit
and a plot of AIC and BIC against K. The mixture is a
:class:`~emfast.GaussianMixture` unless an estimator is given: any of emfast's
mixtures (a :class:`~emfast.CustomMixture` of the user's family among them) is
cloned for each K. The two result classes live in
:mod:`emfast.mixture._selection_results`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from numbers import Integral
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from emfast.mixture._selection_results import SelectionResult, SelectionTable

__all__ = ["SelectionResult", "SelectionTable", "select_n_components"]

CRITERIA = ("bic", "aic")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_OPTIONS = ", ".join(repr(t) for t in COVARIANCE_TYPES)

# parameters whose shape depends on K: fits with different K cannot share them
_PER_K_PARAMS = ("weights_init", "means_init", "precisions_init")


def select_n_components(
    X: ArrayLike,
    n_components: int | Iterable[int] = range(1, 7),
    *,
    criterion: Literal["bic", "aic"] = "bic",
    covariance_type: str | Iterable[str] | None = None,
    estimator: Any = None,
    **params: Any,
) -> SelectionResult:
    """Fit a mixture for each number of components; keep the best.

    One mixture is fitted per number of components K (and per covariance type
    when several are given): a :class:`~emfast.GaussianMixture`, or a clone of
    ``estimator`` with ``n_components=K``. Each fit is scored once on ``X``:
    its mean log-likelihood, AIC and BIC (the same values as the model's
    ``score``, ``aic`` and ``bic``). The model with the lowest ``criterion`` is
    kept; ties go to the first in table order (covariance types as given, K
    ascending).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data. float32 data stay float32, as in ``GaussianMixture``.
    n_components : int or iterable of int, default=range(1, 7)
        The numbers of components to try, each between 1 and n_samples. They
        are checked as they are read, before any list is built (a ``range`` by
        its ends), so ``range(1, 10**9)`` or an endless generator fails at once.
    criterion : {'bic', 'aic'}, default='bic'
        The information criterion to minimise.
    covariance_type : str or list of str, optional
        One of 'full', 'tied', 'diag', 'spherical', or a list of them to
        compare covariance types as well. By default 'full' for the Gaussian
        mixture and the estimator's own setting for a given estimator; an
        estimator without a ``covariance_type`` parameter takes none.
    estimator : estimator, optional
        The mixture to clone for each K, such as
        ``CustomMixture(family, random_state=0)`` or
        ``PoissonMixture(n_init=3)``: any estimator with an ``n_components``
        parameter, ``fit``, ``score``, ``aic`` and ``bic`` (all of emfast's
        mixtures). Its own ``n_components`` is replaced. Default: a
        :class:`~emfast.GaussianMixture` with default parameters.
    **params
        Other parameters of the mixture, set on every fit (``random_state``,
        ``n_init``, ``max_iter``, ``tol``, ``reg_covar``, ``init_params``, ...).
        ``weights_init``, ``means_init`` and ``precisions_init`` depend on K
        and are refused (here or set on ``estimator``). Pass an int
        ``random_state`` for reproducible results.

    Returns
    -------
    result : SelectionResult
        ``best_estimator_``, ``n_components_``, ``covariance_type_`` (None for
        an estimator without one), the ``table_`` of all fits, ``estimators_``
        and ``plot()``.

    Raises
    ------
    ValueError
        For an empty ``n_components``, a K below 1 or above n_samples, repeated
        values, an unknown ``criterion`` or ``covariance_type``, invalid data
        (NaN, inf, fewer than 2 samples), or when a fit fails.
    TypeError
        For a non-integer K, a keyword that is not a parameter of the mixture,
        a ``covariance_type`` for an estimator without one, or an
        ``estimator`` that is not a mixture.

    See Also
    --------
    emfast.GaussianMixture.bic, emfast.GaussianMixture.aic

    Examples
    --------
    >>> import numpy as np
    >>> from emfast.mixture.selection import select_n_components
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))])
    >>> result = select_n_components(X, range(1, 5), random_state=0)
    >>> result.n_components_, result.covariance_type_
    (2, 'full')
    >>> result.table_["bic"].shape
    (4,)

    Any of emfast's mixtures, here counts from two Poisson populations:

    >>> from emfast import PoissonMixture
    >>> counts = np.vstack([rng.poisson(2, (200, 3)), rng.poisson(9, (200, 3))])
    >>> result = select_n_components(
    ...     counts, range(1, 4), estimator=PoissonMixture(random_state=0))
    >>> result.n_components_, result.covariance_type_
    (2, None)
    """
    from sklearn.base import clone
    from sklearn.utils import check_array

    criterion = _check_criterion(criterion)
    if estimator is None:
        from emfast.mixture.gaussian import GaussianMixture

        estimator = GaussianMixture()
        covariance_type = "full" if covariance_type is None else covariance_type
    own_params = _check_estimator(estimator)
    if covariance_type is None:
        covariance_types = [None]  # the estimator's own, if it has one
    elif "covariance_type" not in own_params:
        raise TypeError(
            f"covariance_type is not a parameter of {type(estimator).__name__}; "
            "leave it out"
        )
    else:
        covariance_types = _check_covariance_types(covariance_type)
    params = _check_params(estimator, params)
    X_checked = check_array(
        X, dtype=[np.float64, np.float32], ensure_min_samples=2, input_name="X"
    )
    n_samples = X_checked.shape[0]
    ks = _check_n_components(n_components, n_samples)
    # A DataFrame is passed on as given, so that the fits record feature names.
    X_fit = X if hasattr(X, "columns") else X_checked

    rows, estimators = [], []
    for cov_type in covariance_types:
        for k in ks:
            model = clone(estimator).set_params(n_components=k, **params)
            if cov_type is not None:
                model.set_params(covariance_type=cov_type)
            start = time.perf_counter()
            try:
                model.fit(X_fit)
            except ValueError as err:
                raise ValueError(f"fitting {_describe(model)} failed: {err}") from err
            seconds = time.perf_counter() - start
            rows.append(_score_row(model, X_fit, n_samples, seconds))
            estimators.append(model)

    best = min(range(len(rows)), key=lambda i: (rows[i][criterion], i))
    return SelectionResult(estimators, SelectionTable(rows, best=best), criterion)


def _describe(model):
    """``n_components=3, covariance_type='full'`` (the latter where it applies)."""
    text = f"n_components={model.n_components}"
    cov_type = model.get_params().get("covariance_type")
    return text if cov_type is None else f"{text}, covariance_type={cov_type!r}"


def _score_row(model, X, n_samples, seconds):
    """One table row; AIC and BIC exactly as ``model.aic(X)``/``model.bic(X)``."""
    mean_log_likelihood = model.score(X)
    row = {"n_components": int(model.n_components)}
    cov_type = model.get_params().get("covariance_type")
    if cov_type is not None:
        row["covariance_type"] = cov_type
    if hasattr(model, "_n_parameters"):  # one score, the criteria from it
        n_parameters = model._n_parameters()
        aic = -2 * mean_log_likelihood * n_samples + 2 * n_parameters
        bic = -2 * mean_log_likelihood * n_samples + n_parameters * math.log(n_samples)
    else:
        aic, bic = model.aic(X), model.bic(X)
    row.update(
        mean_log_likelihood=mean_log_likelihood,
        aic=aic,
        bic=bic,
        converged=bool(model.converged_),
        n_iter=int(model.n_iter_),
        seconds=seconds,
    )
    return row


# ------------------------------------------------------------------ validation
def _check_criterion(criterion):
    if not isinstance(criterion, str) or criterion not in CRITERIA:
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}")
    return criterion


def _check_covariance_types(covariance_type):
    """The covariance types, checked one by one as they are read (see below)."""
    if isinstance(covariance_type, str):
        covariance_type = [covariance_type]
    try:
        values = iter(covariance_type)
    except TypeError:
        raise TypeError(
            "covariance_type must be a string or a list of strings, got "
            f"{covariance_type!r}"
        ) from None
    types = []
    for cov_type in values:  # at most 4 distinct valid values: never endless
        if not isinstance(cov_type, str) or cov_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {_OPTIONS}, got {cov_type!r}"
            )
        if cov_type in types:
            raise ValueError(f"covariance_type has a repeated value: {cov_type!r}")
        types.append(cov_type)
    if not types:
        raise ValueError("covariance_type is empty; give at least one of " + _OPTIONS)
    return types


def _check_n_components(n_components, n_samples):
    """The numbers of components, each checked as it is read.

    Nothing is materialised before it is checked: a ``range`` is checked by its
    bounds, any other iterable value by value, stopping at the first bad one, so
    ``range(1, 10**9)`` or an endless generator fails at once instead of
    filling memory. The returned list holds distinct values in [1, n_samples],
    hence at most n_samples of them.
    """
    if isinstance(n_components, Integral) and not isinstance(n_components, bool):
        values = (n_components,)
    elif isinstance(n_components, str | bytes):
        raise TypeError(
            f"n_components must be an int or integers, got {n_components!r}"
        )
    elif isinstance(n_components, range):
        _check_range_bounds(n_components, n_samples)
        values = n_components
    else:
        try:
            values = iter(n_components)
        except TypeError:
            raise TypeError(
                "n_components must be an int or an iterable of ints such as "
                f"range(1, 7), got {n_components!r}"
            ) from None
    ks, seen = [], set()
    for k in values:
        if isinstance(k, bool | np.bool_) or not isinstance(k, Integral):
            raise TypeError(f"n_components must hold integers, got {k!r}")
        k = int(k)
        _check_k_bounds(k, n_samples)
        if k in seen:
            raise ValueError(f"n_components has a repeated value: {k}")
        seen.add(k)
        ks.append(k)
    if not ks:
        raise ValueError(
            "n_components is empty: give at least one number of components, "
            "e.g. range(1, 7)"
        )
    return sorted(ks)


def _check_range_bounds(ks, n_samples):
    """Bounds of a ``range`` from its ends, without iterating over it."""
    if not ks:  # not len(): it overflows beyond sys.maxsize values
        return  # reported as empty by the caller
    low, high = (ks[0], ks[-1]) if ks.step > 0 else (ks[-1], ks[0])
    _check_k_bounds(low, n_samples)
    _check_k_bounds(high, n_samples)


def _check_k_bounds(k, n_samples):
    if k < 1:
        raise ValueError(f"n_components must be >= 1, got {k}")
    if k > n_samples:
        raise ValueError(f"n_components must be <= n_samples = {n_samples}, got {k}")


def _check_estimator(estimator):
    """The parameters of ``estimator``; a ``TypeError`` if it is not a mixture."""
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    needed = ("fit", "score", "aic", "bic")
    if "n_components" not in params or not all(hasattr(estimator, m) for m in needed):
        raise TypeError(
            "estimator must be a mixture with an n_components parameter, fit, "
            f"score, aic and bic (such as emfast.CustomMixture), got {estimator!r}"
        )
    return params


def _check_params(estimator, params):
    """The remaining parameters of the mixture, checked by scikit-learn's rules."""
    from sklearn.base import clone

    name = type(estimator).__name__
    known = estimator.get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(
            f"select_n_components() got unknown {name} parameter(s) "
            f"{', '.join(unknown)}; valid ones are {', '.join(sorted(known))}"
        )
    merged = {**known, **params}
    per_k = [key for key in _PER_K_PARAMS if merged.get(key) is not None]
    if per_k:
        raise ValueError(
            f"{', '.join(per_k)} depend(s) on n_components and cannot be shared "
            f"by fits with different K; fit {name} directly instead"
        )
    model = clone(estimator).set_params(**params)
    if hasattr(model, "_validate_params"):
        model._validate_params()
    return params
