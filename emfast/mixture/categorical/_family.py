"""The categorical family: products of independent categoricals, for codes.

The pass, the M-step and the scoring are in
:mod:`emfast.mixture.categorical._pass`, the checks of the codes and the levels
learned from them in :mod:`emfast.mixture.categorical._codes`; this is what the
engine asks of them (see :class:`~emfast.mixture._engine.family.Family`).

How a model knows its levels (``n_levels_``): the number of levels of each
column is given (``n_levels``: an int for every column, or one per column) or
learned when a fit begins as the column's largest code + 1. A fit that
continues a model (``partial_fit`` on a fitted model, ``warm_start``) keeps its
levels, and rows with a code beyond them raise a ``ValueError``, as they do in
scoring: the model has no probability for a level it does not know.
"""

import dataclasses
import math
from numbers import Integral

import numpy as np

from emfast.mixture._engine.checks import check_mixture_weights
from emfast.mixture._engine.family import Context, Family
from emfast.mixture._engine.weights import NK_OFFSET, nk_offset
from emfast.mixture.categorical._codes import (
    MAX_TABLE,
    Limits,
    check_codes,
    summarise_codes,
)
from emfast.mixture.categorical._pass import (
    CategoricalParams,
    CategoricalStats,
    categorical_pass,
    categorical_score,
    resp_pass,
    split_table,
    unsmoothed_ratios,
    update,
)

# scikit-learn's tolerance on a sum of probabilities (as for the weights)
_SUM_ATOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-8}


@dataclasses.dataclass(frozen=True)
class CategoricalContext(Context):
    """:class:`~emfast.mixture._engine.family.Context` with the number of
    levels of each column (the table's layout)."""

    n_levels: tuple = ()


def given_levels(n_levels):
    """The ``n_levels`` parameter as None, an int or a tuple of ints (>= 1).

    Whole numbers given as floats are accepted (a model file stores arrays as
    floats).
    """
    if n_levels is None or isinstance(n_levels, Integral):
        return None if n_levels is None else int(n_levels)
    values = np.asarray(n_levels)
    if (
        values.ndim != 1
        or not values.size
        or values.dtype.kind not in "iuf"
        or not np.all(np.isfinite(values))
        or np.any(values != np.floor(values))
        or np.any(values < 1)
    ):
        raise ValueError(
            "n_levels must be None, an int >= 1 or a 1-D list of ints >= 1 (one "
            f"per column), got {n_levels!r}"
        )
    return tuple(int(n) for n in values)


class CategoricalFamily(Family):
    """Components with one categorical distribution per column (see ``Family``)."""

    score_block = staticmethod(categorical_score)

    def __init__(
        self,
        *,
        n_components,
        init_params,
        n_levels=None,
        smoothing=1e-10,
        estimator_name="CategoricalMixture",
    ):
        self.n_components = n_components
        self.init_params = init_params
        self.n_levels = given_levels(n_levels)
        self.smoothing = float(smoothing)
        self.estimator_name = estimator_name

    def _given(self, n_features):
        """The given levels of ``n_features`` columns as :class:`Limits`."""
        if isinstance(self.n_levels, int):
            return Limits([self.n_levels] * n_features)
        return Limits(self.n_levels)

    def check_values(self, X_block, first_row):
        """Raise a ``ValueError`` naming the first entry that is not a code
        (below ``n_levels`` when given)."""
        check_codes(
            X_block, self._given(X_block.shape[1]), self.estimator_name, first_row
        )

    # ------------------------------------------------------------ fitting
    def prepare(self, rows, estimator, *, continuing=False):
        """Set ``n_levels_`` (given, learned or kept) and check the rows against it."""
        warm = estimator.warm_start and hasattr(estimator, "converged_")
        if continuing or warm:  # the model's table keeps its layout
            levels = np.asarray(estimator.n_levels_, dtype=np.int64)
            summarise_codes(rows, Limits(levels, "n_levels_"), self.estimator_name)
        else:
            given = self._given(rows.n_features)
            if given.n_levels is None:
                summary = summarise_codes(rows, given, self.estimator_name)
                levels = summary.n_levels()
            else:  # the rows were checked against them as they were read
                levels = np.asarray(given.n_levels, dtype=np.int64)
            self._check_table_size(levels)
            estimator.n_levels_ = levels
        return CategoricalContext(rows.dtype, nk_offset(rows), tuple(levels.tolist()))

    def _check_table_size(self, levels):
        size = self.n_components * int(levels.sum())
        if size > MAX_TABLE:
            raise ValueError(
                f"{self.estimator_name} with n_components={self.n_components} and "
                f"{int(levels.sum())} levels in all (n_levels_ = "
                f"{levels.tolist()}) needs a table of {size} probabilities, more "
                f"than 2**18 = {MAX_TABLE}: use fewer components or recode the "
                "columns with many levels."
            )

    def initial_params(self, rows, context, random_state):
        """Random probabilities (the default), or the engine's initial
        responsibilities ('random_from_data', 'random') and their M-step.

        'random_probabilities' draws each component's probabilities of each
        column uniformly from the simplex (a flat Dirichlet) with equal
        weights: classes that differ from the start, without reading the rows.
        """
        if self.init_params != "random_probabilities":
            return super().initial_params(rows, context, random_state)
        tables = [
            random_state.dirichlet(np.ones(levels), size=self.n_components)
            for levels in context.n_levels
        ]
        weights = np.full(self.n_components, 1.0 / self.n_components)
        return CategoricalParams(weights, np.concatenate(tables, axis=1))

    def resp_statistics(self, rows, resp, context):
        return resp_pass(rows, resp, context.n_levels)

    def statistics(self, rows, params, context):
        return categorical_pass(rows, params, context.n_levels)

    def m_step(self, stats, context):
        return update(stats, context.n_levels, self.smoothing, context.nk_offset)

    def lower_bound(self, stats, params, context):
        """The mean log-likelihood under the parameters of the pass."""
        return stats.log_norm / stats.weight_sum

    # ------------------------------------------------- fitted attributes
    def params_from(self, estimator):
        return CategoricalParams(
            estimator.weights_, np.concatenate(estimator.probabilities_, axis=1)
        )

    def set_fitted(self, estimator, params, dtype=None):
        if dtype is None:
            dtype = np.result_type(params.table, np.float32)
        estimator.weights_ = np.asarray(params.weights, dtype=dtype)
        table = np.asarray(params.table, dtype=dtype)
        estimator.probabilities_ = split_table(table, estimator.n_levels_)

    def scoring_args(self, estimator):
        return (self.params_from(estimator), np.asarray(estimator.n_levels_))

    def n_parameters(self, estimator):
        """All weights but one, and all probabilities but one per column and
        component."""
        n_levels = np.asarray(estimator.n_levels_)
        return self.n_components - 1 + self.n_components * int(np.sum(n_levels - 1))

    def sample(self, estimator, n_samples, rng):
        """Codes (int64) drawn from the fitted mixture, grouped by component."""
        weights = np.asarray(estimator.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        X = np.empty((n_samples, len(estimator.probabilities_)), dtype=np.int64)
        start = 0
        for k, n in enumerate(counts):
            for j, probabilities in enumerate(estimator.probabilities_):
                p = np.asarray(probabilities[k], dtype=np.float64)
                X[start : start + n, j] = rng.choice(p.shape[0], size=n, p=p / p.sum())
            start += n
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return X, labels

    # ---------------------------------------------- partial_fit: stepwise EM
    def fitted_statistics(self, params, context):
        """``nk = weights`` and counts whose smoothed M-step gives back the
        probabilities (to rounding: ``nk`` carries scikit-learn's ``10 eps``)."""
        weights, table = params
        nk = weights / weights.sum()
        ratios = unsmoothed_ratios(table, context.n_levels, self.smoothing)
        counts = (nk + NK_OFFSET)[:, np.newaxis] * ratios
        return CategoricalStats(math.nan, 1.0, nk, counts)

    # ------------------------------------------------------- model files
    def file_arrays(self, estimator, n_features):
        """``weights_`` and the list ``probabilities_`` (each (K, n_levels[j]);
        ``None``: any width, when the levels were learned)."""
        given = self._given(n_features).n_levels
        widths = given if given is not None else [None] * n_features
        return {
            "weights_": (self.n_components,),
            "probabilities_": [(self.n_components, width) for width in widths],
        }

    def check_file_params(self, estimator, n_features):
        given = self._given(n_features).n_levels
        if given is not None and len(given) != n_features:
            raise ValueError(
                f"n_levels has {len(given)} entries but the model has "
                f"{n_features} columns"
            )

    def check_file_values(self, fitted, estimator):
        check_mixture_weights(fitted["weights_"])
        tables = fitted["probabilities_"]
        for j, table in enumerate(tables):
            where = f"fitted.probabilities_[{j}]"
            if table.shape[1] < 1:
                raise ValueError(f"{where} has no levels")
            if (table < 0).any():
                raise ValueError(
                    f"{where} holds negative values (min {table.min()!r}); "
                    "probabilities are >= 0 and each row sums to 1"
                )
            sums = table.sum(axis=1, dtype=np.float64)
            worst = int(np.argmax(np.abs(sums - 1.0)))
            if abs(sums[worst] - 1.0) > _SUM_ATOL[table.dtype]:
                raise ValueError(
                    f"{where} row {worst} sums to {float(sums[worst])!r}, not 1"
                )
        self._check_table_size(np.array([t.shape[1] for t in tables]))

    def from_file(self, fitted):
        widths = [table.shape[1] for table in fitted["probabilities_"]]
        return {**fitted, "n_levels_": np.asarray(widths, dtype=np.int64)}
