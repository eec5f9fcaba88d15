"""The Poisson family: products of independent Poissons, for counts.

The pass, the M-step, the count checks and the scoring are in
:mod:`emfast.mixture.poisson._pass`; this is what the engine asks of them (see
:class:`~emfast.mixture._engine.family.Family`). Rows must be counts: every
block is checked each time it is read, as are rows given for scoring.
"""

import dataclasses
import math

import numpy as np

from emfast.mixture._engine.checks import check_mixture_weights
from emfast.mixture._engine.family import Context, Family
from emfast.mixture._engine.weights import nk_offset
from emfast.mixture.poisson._pass import (
    MIN_RATE,
    PoissonParams,
    PoissonStats,
    check_counts,
    count_summary,
    poisson_pass,
    poisson_score,
    resp_pass,
    update,
)
from emfast.rows import ArrayRows


@dataclasses.dataclass(frozen=True)
class PoissonContext(Context):
    """:class:`~emfast.mixture._engine.family.Context` with the rows'
    ``sum w sum_l log(x_l!)`` (the kernels leave it out) and weight total."""

    log_factorial: float = 0.0
    weight_sum: float = 1.0


class PoissonFamily(Family):
    """Components with one Poisson rate per feature (see ``Family``)."""

    fitted_attribute = "rates_"
    score_block = staticmethod(poisson_score)

    def __init__(self, *, n_components, init_params, estimator_name="PoissonMixture"):
        self.n_components = n_components
        self.init_params = init_params
        self.estimator_name = estimator_name

    def check_values(self, X_block, first_row):
        """Raise a ``ValueError`` naming the first entry that is not a count."""
        summary = count_summary(ArrayRows(X_block))
        check_counts(X_block, summary, self.estimator_name, first_row)

    # ------------------------------------------------------------ fitting
    def prepare(self, rows, estimator, *, continuing=False):
        log_factorial = count_summary(rows).log_factorial
        return PoissonContext(
            rows.dtype, nk_offset(rows), log_factorial, rows.weight_sum
        )

    def resp_statistics(self, rows, resp, context):
        return resp_pass(rows, resp, resp.n_components)

    def statistics(self, rows, params, context):
        return poisson_pass(rows, params)

    def m_step(self, stats, context):
        return update(stats, context.nk_offset)

    def lower_bound(self, stats, params, context):
        """The mean log-likelihood under the parameters of the pass."""
        return (stats.log_norm - context.log_factorial) / stats.weight_sum

    # ------------------------------------------------- fitted attributes
    def params_from(self, estimator):
        return PoissonParams(estimator.weights_, estimator.rates_)

    def set_fitted(self, estimator, params, dtype=None):
        if dtype is None:
            dtype = np.result_type(params.rates, np.float32)
        estimator.weights_ = np.asarray(params.weights, dtype=dtype)
        estimator.rates_ = np.asarray(params.rates, dtype=dtype)

    def scoring_args(self, estimator):
        return (self.params_from(estimator),)

    def n_parameters(self, estimator):
        """The rates and all weights but one."""
        n_components, n_features = estimator.rates_.shape
        return n_components * n_features + n_components - 1

    def sample(self, estimator, n_samples, rng):
        """Counts (int64) drawn from the fitted mixture, grouped by component."""
        weights = np.asarray(estimator.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        rates = np.asarray(estimator.rates_, dtype=np.float64)
        n_features = rates.shape[1]
        X = np.vstack(
            [rng.poisson(rate, size=(n, n_features)) for rate, n in zip(rates, counts)]
        ).astype(np.int64, copy=False)
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return X, labels

    # ---------------------------------------------- partial_fit: stepwise EM
    def fitted_statistics(self, params, context):
        """``nk = weights`` and ``s1 = weights * rates``: the M-step gives back
        the rates (to rounding: ``nk`` carries scikit-learn's ``10 eps``)."""
        weights, rates = params
        nk = weights / weights.sum()
        return PoissonStats(math.nan, 1.0, nk, nk[:, None] * rates)

    def stream_bound(self, batch, running, params, context, weight_seen):
        """The batch's mean log-likelihood under the parameters of its pass."""
        return batch.log_norm - context.log_factorial / context.weight_sum

    # ------------------------------------------------------- model files
    def file_arrays(self, estimator, n_features):
        return {
            "weights_": (self.n_components,),
            "rates_": (self.n_components, n_features),
        }

    def check_file_values(self, fitted, estimator):
        check_mixture_weights(fitted["weights_"])
        rates = fitted["rates_"]
        floor = np.asarray(MIN_RATE, dtype=rates.dtype)
        if (rates < floor).any():
            raise ValueError(
                f"fitted.rates_ holds values below {float(floor)!r} (min "
                f"{rates.min()!r}); a fit floors its rates at {MIN_RATE}"
            )
