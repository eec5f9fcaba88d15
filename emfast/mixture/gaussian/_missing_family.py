"""The Gaussian family with missing values marginalised out (``missing="marginalize"``).

:class:`MarginalizingFamily` is :class:`~emfast.mixture.gaussian._family.GaussianFamily`
with three changes, each only where the rows hold NaN:

- validation lets NaN through (infinities and rows without an observed value
  are still refused, with the row named);
- the pass routes the rows of each block
  (:func:`~emfast.mixture.gaussian._missing_rows.marginal_statistics`):
  complete rows through the complete-data pass, rows with NaN through the
  missing-value kernels (exact incomplete-data EM);
- the initialisation runs scikit-learn's (same ``init_params``, same calls on
  ``random_state``) on the rows with each missing entry replaced by the
  observed mean of its column (weighted by ``sample_weight``). Starting
  covariances are then too small in the filled directions; the first EM steps
  correct them.

Rows without NaN (a whole fit, or a ``partial_fit`` batch) take the
complete-data path itself, so the results are bit for bit those of
``missing="error"``. Scoring routes each row the same way.
"""

import dataclasses

import numpy as np

from emfast.mixture.gaussian._family import (
    FITTED,
    GaussianContext,
    GaussianFamily,
    GaussianParams,
)
from emfast.mixture.gaussian._missing import check_observed
from emfast.mixture.gaussian._missing_rows import (
    CompleteRows,
    FilledRows,
    marginal_statistics,
    observed_summary,
)
from emfast.mixture.gaussian._missing_score import score_rows


@dataclasses.dataclass(frozen=True)
class MissingContext(GaussianContext):
    """:class:`GaussianContext` with what the rows' holes need.

    Attributes
    ----------
    n_incomplete : int
        Rows with NaN (0: the complete-data path throughout).
    column_means : ndarray (n_features,) or None
        Observed mean of each column: the initialisation's fill value and the
        point the pass centres rows on.
    complete_scatter : ndarray (n_features, n_features) or None
        Tied: the complete rows' scatter about ``column_means``.
    """

    n_incomplete: int = 0
    column_means: np.ndarray | None = None
    complete_scatter: np.ndarray | None = None


class MarginalizingFamily(GaussianFamily):
    """Gaussian components fitted to rows with missing values (see the module)."""

    allow_nan = True
    check_values = staticmethod(check_observed)
    score_block = staticmethod(score_rows)

    def prepare(self, rows, estimator, *, continuing=False):
        base = super().prepare(rows, estimator, continuing=continuing)
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        summary = observed_summary(rows)
        if not summary.n_incomplete:
            return MissingContext(**fields)
        complete_scatter = None
        if self.covariance_type == "tied":
            _, complete_scatter = CompleteRows(
                rows, summary.column_means
            ).centred_scatter()
        return MissingContext(
            **fields,
            n_incomplete=summary.n_incomplete,
            column_means=summary.column_means,
            complete_scatter=complete_scatter,
        )

    def initial_params(self, rows, context, random_state):
        if context.n_incomplete:
            rows = FilledRows(rows, context.column_means)
        return super().initial_params(rows, context, random_state)

    def statistics(self, rows, params, context):
        if not context.n_incomplete:
            return super().statistics(rows, params, context)
        return marginal_statistics(
            rows,
            params,
            self.covariance_type,
            context.column_means,
            context.complete_scatter,
        )

    def scoring_args(self, estimator):
        params = GaussianParams(*(getattr(estimator, name) for name in FITTED[:4]))
        return params, self.covariance_type
