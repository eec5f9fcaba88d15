"""Choosing the number of components (and the covariance type) by AIC or BIC.

:func:`select_n_components` fits one :class:`~emfast.GaussianMixture` per number
of components K (and per covariance type), scores each fit once, and returns a
:class:`SelectionResult`: the best model, a :class:`SelectionTable` of every fit
and a plot of AIC and BIC against K.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from numbers import Integral
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

CRITERIA = ("bic", "aic")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_OPTIONS = ", ".join(repr(t) for t in COVARIANCE_TYPES)

# GaussianMixture parameters whose shape depends on K: they cannot be shared.
_PER_K_PARAMS = ("weights_init", "means_init", "precisions_init")

# (key, header, format) of the table's columns, in order.
_COLUMNS = (
    ("n_components", "K", "{:d}"),
    ("covariance_type", "covariance", "{}"),
    ("mean_log_likelihood", "mean log-lik", "{:.4f}"),
    ("aic", "AIC", "{:.2f}"),
    ("bic", "BIC", "{:.2f}"),
    ("converged", "converged", "{}"),
    ("n_iter", "n_iter", "{:d}"),
    ("seconds", "seconds", "{:.3f}"),
)
_TEXT_COLUMNS = {"covariance_type", "converged"}


def select_n_components(
    X: ArrayLike,
    n_components: int | Iterable[int] = range(1, 7),
    *,
    criterion: Literal["bic", "aic"] = "bic",
    covariance_type: str | Iterable[str] = "full",
    **params: Any,
) -> SelectionResult:
    """Fit a Gaussian mixture for each number of components; keep the best.

    One :class:`~emfast.GaussianMixture` is fitted per number of components K
    (and per covariance type when several are given). Each fit is scored once on
    ``X``: its mean log-likelihood, AIC and BIC (the same values as the model's
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
    covariance_type : str or list of str, default='full'
        One of 'full', 'tied', 'diag', 'spherical', or a list of them to
        compare covariance types as well.
    **params
        Other :class:`~emfast.GaussianMixture` parameters, used for every fit
        (``random_state``, ``n_init``, ``max_iter``, ``tol``, ``reg_covar``,
        ``init_params``, ...). ``weights_init``, ``means_init`` and
        ``precisions_init`` depend on K and are refused. Pass an int
        ``random_state`` for reproducible results.

    Returns
    -------
    result : SelectionResult
        ``best_estimator_``, ``n_components_``, ``covariance_type_``, the
        ``table_`` of all fits, ``estimators_`` and ``plot()``.

    Raises
    ------
    ValueError
        For an empty ``n_components``, a K below 1 or above n_samples, repeated
        values, an unknown ``criterion`` or ``covariance_type``, invalid data
        (NaN, inf, fewer than 2 samples), or when a fit fails.
    TypeError
        For a non-integer K or a keyword that is not a ``GaussianMixture``
        parameter.

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
    """
    from sklearn.utils import check_array

    from emfast.mixture.gaussian import GaussianMixture

    criterion = _check_criterion(criterion)
    covariance_types = _check_covariance_types(covariance_type)
    params = _check_params(GaussianMixture, params)
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
            model = GaussianMixture(k, covariance_type=cov_type, **params)
            start = time.perf_counter()
            try:
                model.fit(X_fit)
            except ValueError as err:
                raise ValueError(
                    f"fitting n_components={k}, covariance_type={cov_type!r} "
                    f"failed: {err}"
                ) from err
            seconds = time.perf_counter() - start
            rows.append(_score_row(model, X_fit, n_samples, seconds))
            estimators.append(model)

    best = min(range(len(rows)), key=lambda i: (rows[i][criterion], i))
    return SelectionResult(estimators, SelectionTable(rows, best=best), criterion)


def _score_row(model, X, n_samples, seconds):
    """One table row; AIC and BIC exactly as ``model.aic(X)``/``model.bic(X)``."""
    mean_log_likelihood = model.score(X)
    n_parameters = model._n_parameters()
    return {
        "n_components": int(model.n_components),
        "covariance_type": model.covariance_type,
        "mean_log_likelihood": mean_log_likelihood,
        "aic": -2 * mean_log_likelihood * n_samples + 2 * n_parameters,
        "bic": -2 * mean_log_likelihood * n_samples
        + n_parameters * math.log(n_samples),
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "seconds": seconds,
    }


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


def _check_params(estimator_class, params):
    """The remaining GaussianMixture parameters, checked by scikit-learn's rules."""
    known = estimator_class().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(
            f"select_n_components() got unknown GaussianMixture parameter(s) "
            f"{', '.join(unknown)}; valid ones are {', '.join(sorted(known))}"
        )
    per_k = [name for name in _PER_K_PARAMS if params.get(name) is not None]
    if per_k:
        raise ValueError(
            f"{', '.join(per_k)} depend(s) on n_components and cannot be shared "
            "by fits with different K; fit GaussianMixture directly instead"
        )
    estimator_class(**params)._validate_params()
    return params


# --------------------------------------------------------------------- results
class SelectionTable:
    """The fits of :func:`select_n_components`, one row (a dict) per fit.

    Rows hold ``n_components``, ``covariance_type``, ``mean_log_likelihood``,
    ``aic``, ``bic``, ``converged``, ``n_iter`` and ``seconds`` (fit time).
    ``str(table)`` is an aligned text table with the chosen row marked ``*``.

    Parameters
    ----------
    rows : list of dict
        One dict per fit, with the keys of :attr:`columns`.
    best : int, optional
        Index of the chosen row.

    Examples
    --------
    >>> table = SelectionTable([
    ...     {"n_components": 1, "covariance_type": "full",
    ...      "mean_log_likelihood": -2.5, "aic": 10.0, "bic": 12.0,
    ...      "converged": True, "n_iter": 2, "seconds": 0.01}], best=0)
    >>> print(table)
      K  covariance  mean log-lik    AIC    BIC  converged  n_iter  seconds
    * 1  full             -2.5000  10.00  12.00  yes             2    0.010
    >>> table["aic"]
    array([10.])
    >>> table[0]["n_iter"]
    2
    """

    columns = tuple(key for key, _, _ in _COLUMNS)

    def __init__(self, rows, best=None):
        self._rows = [dict(row) for row in rows]
        self.best = best

    @property
    def rows(self):
        """The rows as a list of dicts (a copy)."""
        return [dict(row) for row in self._rows]

    def __len__(self):
        return len(self._rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, key):
        """Row ``key`` (int) as a dict, or column ``key`` (str) as an array."""
        if isinstance(key, str):
            if key not in self.columns:
                raise KeyError(f"no column {key!r}; columns are {self.columns}")
            return np.array([row[key] for row in self._rows])
        return dict(self._rows[key])

    def to_frame(self):
        """The table as a :class:`pandas.DataFrame` (needs pandas).

        Returns
        -------
        frame : pandas.DataFrame
            One row per fit, the columns of :attr:`columns`.
        """
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                "SelectionTable.to_frame() needs pandas: pip install pandas"
            ) from err
        return pd.DataFrame.from_records(self.rows, columns=list(self.columns))

    def __str__(self):
        cells = [[header for _, header, _ in _COLUMNS]]
        for row in self._rows:
            cells.append([_format_cell(row[key], fmt) for key, _, fmt in _COLUMNS])
        widths = [max(len(line[j]) for line in cells) for j in range(len(_COLUMNS))]
        lines = []
        for i, line in enumerate(cells):
            marker = "*" if self.best is not None and i - 1 == self.best else " "
            fields = [
                text.ljust(width) if key in _TEXT_COLUMNS else text.rjust(width)
                for text, width, (key, _, _) in zip(line, widths, _COLUMNS)
            ]
            lines.append((marker + " " + "  ".join(fields)).rstrip())
        return "\n".join(lines)

    __repr__ = __str__


def _format_cell(value, fmt):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return fmt.format(value)


class SelectionResult:
    """The outcome of :func:`select_n_components`.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The fitted model with the lowest criterion.
    n_components_ : int
        Its number of components.
    covariance_type_ : str
        Its covariance type.
    criterion : {'bic', 'aic'}
        The criterion that chose it.
    table_ : SelectionTable
        One row per fit; ``print(result.table_)`` shows an aligned table.
    estimators_ : list of GaussianMixture
        Every fitted model, in the order of ``table_``.
    best_index_ : int
        Row of the best model in ``table_`` and ``estimators_``.

    Examples
    --------
    >>> import numpy as np
    >>> from emfast.mixture.selection import select_n_components
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> result = select_n_components(X, [1, 2], random_state=0)
    >>> result.n_components_
    1
    """

    def __init__(self, estimators, table, criterion):
        self.estimators_ = list(estimators)
        self.table_ = table
        self.criterion = criterion
        self.best_index_ = table.best
        self.best_estimator_ = self.estimators_[self.best_index_]
        self.n_components_ = int(self.best_estimator_.n_components)
        self.covariance_type_ = self.best_estimator_.covariance_type

    def __repr__(self):
        return (
            f"SelectionResult(criterion={self.criterion!r}, "
            f"n_components_={self.n_components_}, "
            f"covariance_type_={self.covariance_type_!r})"
        )

    def __str__(self):
        return (
            f"{self.table_}\n\nBest by {self.criterion.upper()}: "
            f"K = {self.n_components_}, covariance_type = {self.covariance_type_}"
        )

    def plot(self, ax=None):
        """Draw AIC and BIC against K, one pair of lines per covariance type.

        BIC is drawn solid, AIC dashed, in one colour per covariance type; a star
        marks the chosen model. Needs matplotlib (``pip install 'emfast[plot]'``).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; by default a new figure is created.

        Returns
        -------
        ax : matplotlib.axes.Axes

        Examples
        --------
        >>> ax = result.plot()  # doctest: +SKIP
        >>> ax.figure.savefig("criteria.png")  # doctest: +SKIP
        """
        if ax is None:
            try:
                import matplotlib.pyplot as plt
            except ImportError as err:
                raise ImportError(
                    "SelectionResult.plot() needs matplotlib: "
                    "pip install 'emfast[plot]'"
                ) from err
            _, ax = plt.subplots()
        table = self.table_
        ks, types = table["n_components"], table["covariance_type"]
        aic, bic = table["aic"], table["bic"]
        for cov_type in dict.fromkeys(types):
            mine = types == cov_type
            (line,) = ax.plot(ks[mine], bic[mine], "o-", label=f"BIC ({cov_type})")
            ax.plot(
                ks[mine],
                aic[mine],
                "s--",
                color=line.get_color(),
                label=f"AIC ({cov_type})",
            )
        best = table[self.best_index_]
        ax.plot(
            best["n_components"],
            best[self.criterion],
            "*",
            color="black",
            markersize=14,
            zorder=3,
            label=(
                f"chosen: K = {self.n_components_}, {self.covariance_type_} "
                f"({self.criterion.upper()})"
            ),
        )
        ax.set_xticks(sorted(set(ks.tolist())))
        ax.set_xlabel("number of components K")
        ax.set_ylabel("information criterion (lower is better)")
        ax.set_title("AIC and BIC against the number of components")
        ax.legend()
        return ax
