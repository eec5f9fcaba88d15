"""The engine's Family for a user-defined ComponentFamily.

:class:`CustomFamily` is what the engine asks of any family (see
:class:`~emfast.mixture._engine.family.Family`), answered with the user's
functions: the generic kernels for the passes and scoring, the user's
``m_step``, ``sample``, ``expected_statistics`` and ``support``.
"""

import dataclasses
import math

import numpy as np

from emfast.mixture._engine.family import Context, Family
from emfast.mixture._engine.weights import nk_offset
from emfast.mixture.custom._pass import (
    CustomParams,
    CustomStats,
    check_params,
    custom_pass,
    custom_score,
    kernel_params,
    resp_pass,
    update,
)


@dataclasses.dataclass(frozen=True)
class CustomContext(Context):
    """:class:`~emfast.mixture._engine.family.Context` with the length of the
    family's statistics for the rows' number of features."""

    n_statistics: int = 1


class CustomFamily(Family):
    """Components of a user-defined :class:`ComponentFamily` (see ``Family``)."""

    fitted_attribute = "params_"
    score_block = staticmethod(custom_score)

    def __init__(self, component, *, n_components, init_params, estimator_name):
        self.component = component
        self.n_components = n_components
        self.init_params = init_params
        self.estimator_name = estimator_name

    @property
    def check_values(self):
        """The row check of the family's ``support`` (None without one)."""
        return None if self.component.support is None else self._check_support

    def _check_support(self, X_block, first_row):
        """Raise a ``ValueError`` naming the first row outside the support."""
        inside = np.asarray(self.component.support(X_block))
        if inside.dtype != bool or inside.shape != (X_block.shape[0],):
            raise TypeError(
                f"support of the {self.component.name} family must return a "
                f"boolean array of shape ({X_block.shape[0]},) for a block of "
                f"{X_block.shape[0]} rows, got {inside.dtype} of shape "
                f"{inside.shape}"
            )
        if inside.all():
            return
        row = int(np.argmin(inside))
        if first_row is None:
            where = f"row {row} of a block"
        else:
            where = f"X[{first_row + row}]"
        raise ValueError(
            f"{where} = {X_block[row].tolist()} is outside the support of the "
            f"{self.component.name} family of {self.estimator_name} (as are "
            f"{int((~inside).sum()) - 1} more row(s) of its block)"
        )

    # ------------------------------------------------------------ fitting
    def prepare(self, rows, estimator, *, continuing=False):
        n_statistics = self.component.statistics_size(rows.n_features)
        self.component.free_parameters(rows.n_features)  # checked before fitting
        return CustomContext(rows.dtype, nk_offset(rows), n_statistics)

    def resp_statistics(self, rows, resp, context):
        return resp_pass(rows, resp, self.component, context.n_statistics)

    def statistics(self, rows, params, context):
        stats = custom_pass(rows, params, self.component, context.n_statistics)
        if math.isnan(stats.log_norm):
            raise ValueError(
                f"log_density of the {self.component.name} family gave NaN on "
                "the training rows (rows outside the family's support, or "
                "parameters it cannot take?); give ComponentFamily(support=...) "
                "to check the rows"
            )
        return stats

    def m_step(self, stats, context):
        return update(stats, context.nk_offset, self.component)

    def lower_bound(self, stats, params, context):
        """The mean log-likelihood under the parameters of the pass."""
        return stats.log_norm / stats.weight_sum

    # ------------------------------------------------- fitted attributes
    def params_from(self, estimator):
        return CustomParams(estimator.weights_, estimator.params_)

    def set_fitted(self, estimator, params, dtype=None):
        if dtype is None:
            dtype = np.result_type(params.params, np.float32)
        estimator.weights_ = np.asarray(params.weights, dtype=dtype)
        estimator.params_ = np.asarray(params.params, dtype=dtype)

    def scoring_args(self, estimator):
        component = self.component
        return (
            component,
            component.statistics_size(estimator.n_features_in_),
            *kernel_params(self.params_from(estimator)),
        )

    def n_parameters(self, estimator):
        """The family's free parameters per component, and all weights but one."""
        per_component = self.component.free_parameters(estimator.n_features_in_)
        n_components = estimator.weights_.shape[0]
        return n_components * per_component + n_components - 1

    def sample(self, estimator, n_samples, rng):
        """Rows drawn with the family's ``sample``, grouped by component."""
        draw = self.component.sample
        if draw is None:
            raise NotImplementedError(
                f"the {self.component.name} family has no sample function; give "
                "ComponentFamily(sample=...) to draw from the mixture"
            )
        weights = np.asarray(estimator.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        theta = np.asarray(estimator.params_, dtype=np.float64)
        n_features = estimator.n_features_in_
        parts = []
        for k, count in enumerate(counts):
            if not count:
                continue
            rows = np.asarray(draw(theta[k].copy(), int(count), rng))
            if rows.shape != (count, n_features):
                raise ValueError(
                    f"sample of the {self.component.name} family must return an "
                    f"array of shape (n_samples, n_features) = ({count}, "
                    f"{n_features}), got shape {rows.shape}"
                )
            parts.append(rows)
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return np.concatenate(parts), labels

    # ---------------------------------------------- partial_fit: stepwise EM
    def fitted_statistics(self, params, context):
        """``nk = weights`` and ``sums = weights * E[T(x)]``: statistics whose
        M-step gives back the parameters (for an M-step that matches moments,
        as maximum likelihood in an exponential family does).

        Without the family's ``expected_statistics``, None: the stream then
        starts its running statistics from the first batch, as a new stream
        does (one full step on that batch, from the fitted parameters).
        """
        expected = self.component.expected_statistics
        if expected is None:
            return None
        weights, theta = params
        means = np.asarray(expected(theta.copy()), dtype=np.float64)
        n_components = weights.shape[0]
        if means.shape != (n_components, context.n_statistics):
            raise ValueError(
                f"expected_statistics of the {self.component.name} family must "
                f"return an array of shape (n_components, n_statistics) = "
                f"({n_components}, {context.n_statistics}), got {means.shape}"
            )
        check_params(means, n_components, self.component, "expected_statistics")
        nk = weights / weights.sum()
        return CustomStats(math.nan, 1.0, nk, nk[:, np.newaxis] * means)
