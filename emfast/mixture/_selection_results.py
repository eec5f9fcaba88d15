"""The results of :func:`~emfast.mixture.selection.select_n_components`.

:class:`SelectionTable` holds one row per fit (K, covariance type where the
estimator has one, mean log-likelihood, AIC, BIC, convergence, iterations, fit
time) and prints as an aligned text table; :class:`SelectionResult` holds the
fitted models, the table and the choice, and plots AIC and BIC against K.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, cast, overload

import numpy as np

# (key, header, format) of the table's columns, in order.
COLUMNS = (
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


class SelectionTable:
    """The fits of :func:`~emfast.select_n_components`, one row (a dict) per fit.

    Rows hold ``n_components``, ``covariance_type`` (for estimators that have
    one), ``mean_log_likelihood``, ``aic``, ``bic``, ``converged``, ``n_iter``
    and ``seconds`` (fit time). ``str(table)`` is an aligned text table with
    the chosen row marked ``*``.

    Parameters
    ----------
    rows : list of dict
        One dict per fit, all with the same keys: those of :attr:`columns`
        (``covariance_type`` may be left out of every row).
    best : int, optional
        Index of the chosen row.

    Attributes
    ----------
    columns : tuple of str
        The keys of the rows, in table order.

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

    def __init__(self, rows: Iterable[dict[str, Any]], best: int | None = None) -> None:
        self._rows = [dict(row) for row in rows]
        self.best = best
        keys = set(self._rows[0]) if self._rows else {key for key, _, _ in COLUMNS}
        self._layout = tuple(column for column in COLUMNS if column[0] in keys)
        self.columns = tuple(key for key, _, _ in self._layout)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as a list of dicts (a copy)."""
        return [dict(row) for row in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    @overload
    def __getitem__(self, key: str) -> np.ndarray: ...
    @overload
    def __getitem__(self, key: int) -> dict[str, Any]: ...
    def __getitem__(self, key: int | str) -> dict[str, Any] | np.ndarray:
        """Row ``key`` (int) as a dict, or column ``key`` (str) as an array."""
        if isinstance(key, str):
            if key not in self.columns:
                raise KeyError(f"no column {key!r}; columns are {self.columns}")
            return np.array([row[key] for row in self._rows])
        return dict(self._rows[key])

    def to_frame(self) -> Any:  # a pandas.DataFrame (pandas is optional)
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

    def __str__(self) -> str:
        layout = self._layout
        cells = [[header for _, header, _ in layout]]
        for row in self._rows:
            cells.append([_format_cell(row[key], fmt) for key, _, fmt in layout])
        widths = [max(len(line[j]) for line in cells) for j in range(len(layout))]
        lines = []
        for i, line in enumerate(cells):
            marker = "*" if self.best is not None and i - 1 == self.best else " "
            fields = [
                text.ljust(width) if key in _TEXT_COLUMNS else text.rjust(width)
                for text, width, (key, _, _) in zip(line, widths, layout)
            ]
            lines.append((marker + " " + "  ".join(fields)).rstrip())
        return "\n".join(lines)

    __repr__ = __str__


def _format_cell(value, fmt):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return fmt.format(value)


class SelectionResult:
    """The outcome of :func:`~emfast.select_n_components`.

    Attributes
    ----------
    best_estimator_ : estimator
        The fitted model with the lowest criterion (a
        :class:`~emfast.GaussianMixture` unless another estimator was given).
    n_components_ : int
        Its number of components.
    covariance_type_ : str or None
        Its covariance type (None for an estimator without one).
    criterion : {'bic', 'aic'}
        The criterion that chose it.
    table_ : SelectionTable
        One row per fit; ``print(result.table_)`` shows an aligned table.
    estimators_ : list of estimators
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

    def __init__(
        self,
        estimators: Iterable[Any],
        table: SelectionTable,
        criterion: Literal["bic", "aic"],
    ) -> None:
        self.estimators_ = list(estimators)
        self.table_ = table
        self.criterion = criterion
        # select_n_components always marks the chosen row
        self.best_index_ = cast(int, table.best)
        self.best_estimator_ = self.estimators_[self.best_index_]
        self.n_components_ = int(self.best_estimator_.n_components)
        self.covariance_type_ = table[self.best_index_].get("covariance_type")

    def __repr__(self) -> str:
        covariance = ""
        if self.covariance_type_ is not None:
            covariance = f", covariance_type_={self.covariance_type_!r}"
        return (
            f"SelectionResult(criterion={self.criterion!r}, "
            f"n_components_={self.n_components_}{covariance})"
        )

    def __str__(self) -> str:
        best = f"K = {self.n_components_}"
        if self.covariance_type_ is not None:
            best += f", covariance_type = {self.covariance_type_}"
        return f"{self.table_}\n\nBest by {self.criterion.upper()}: {best}"

    # matplotlib is optional: its Axes type is not importable here
    def plot(self, ax: Any = None) -> Any:
        """Draw AIC and BIC against K, one pair of lines per covariance type
        (one pair for an estimator without covariance types).

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
        ks, aic, bic = table["n_components"], table["aic"], table["bic"]
        types = np.full(len(table), None, dtype=object)
        if "covariance_type" in table.columns:
            types = table["covariance_type"]
        for cov_type in dict.fromkeys(types):
            mine = types == cov_type
            tag = "" if cov_type is None else f" ({cov_type})"
            (line,) = ax.plot(ks[mine], bic[mine], "o-", label=f"BIC{tag}")
            ax.plot(
                ks[mine], aic[mine], "s--", color=line.get_color(), label=f"AIC{tag}"
            )
        best = table[self.best_index_]
        chosen = f"K = {self.n_components_}"
        if self.covariance_type_ is not None:
            chosen += f", {self.covariance_type_}"
        ax.plot(
            best["n_components"],
            best[self.criterion],
            "*",
            color="black",
            markersize=14,
            zorder=3,
            label=f"chosen: {chosen} ({self.criterion.upper()})",
        )
        ax.set_xticks(sorted(set(ks.tolist())))
        ax.set_xlabel("number of components K")
        ax.set_ylabel("information criterion (lower is better)")
        ax.set_title("AIC and BIC against the number of components")
        ax.legend()
        return ax
