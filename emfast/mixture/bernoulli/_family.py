"""The Bernoulli family: products of independent Bernoullis, for binary data.

The pass, the M-step, the range checks and the scoring are in
:mod:`emfast.mixture.bernoulli._pass`; this is what the engine asks of them
(see :class:`~emfast.mixture._engine.family.Family`). Rows must lie in [0, 1]:
every block is checked each time it is read, as are rows given for scoring.
"""

import math

import numpy as np

from emfast.mixture._engine.checks import check_mixture_weights
from emfast.mixture._engine.family import Family
from emfast.mixture.bernoulli._pass import (
    MIN_PROBABILITY,
    BernoulliParams,
    BernoulliStats,
    bernoulli_pass,
    bernoulli_score,
    check_unit_interval,
    resp_pass,
    update,
)


class BernoulliFamily(Family):
    """Components with one Bernoulli probability per feature (see ``Family``)."""

    fitted_attribute = "probabilities_"
    score_block = staticmethod(bernoulli_score)

    def __init__(self, *, n_components, init_params, estimator_name="BernoulliMixture"):
        self.n_components = n_components
        self.init_params = init_params
        self.estimator_name = estimator_name

    def check_values(self, X_block, first_row):
        """Raise a ``ValueError`` naming the first entry outside [0, 1]."""
        check_unit_interval(X_block, self.estimator_name, first_row)

    # ------------------------------------------------------------ fitting
    def resp_statistics(self, rows, resp, context):
        return resp_pass(rows, resp, resp.n_components)

    def statistics(self, rows, params, context):
        return bernoulli_pass(rows, params)

    def m_step(self, stats, context):
        return update(stats, context.nk_offset)

    def lower_bound(self, stats, params, context):
        """The mean log-likelihood under the parameters of the pass."""
        return stats.log_norm / stats.weight_sum

    # ------------------------------------------------- fitted attributes
    def params_from(self, estimator):
        return BernoulliParams(estimator.weights_, estimator.probabilities_)

    def set_fitted(self, estimator, params, dtype=None):
        if dtype is None:
            dtype = np.result_type(params.probabilities, np.float32)
        estimator.weights_ = np.asarray(params.weights, dtype=dtype)
        estimator.probabilities_ = np.asarray(params.probabilities, dtype=dtype)

    def scoring_args(self, estimator):
        return (self.params_from(estimator),)

    def n_parameters(self, estimator):
        """The probabilities and all weights but one."""
        n_components, n_features = estimator.probabilities_.shape
        return n_components * n_features + n_components - 1

    def sample(self, estimator, n_samples, rng):
        """Rows of zeros and ones (int64) drawn from the fitted mixture, grouped
        by component."""
        weights = np.asarray(estimator.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        probabilities = np.asarray(estimator.probabilities_, dtype=np.float64)
        n_features = probabilities.shape[1]
        X = np.vstack(
            [
                rng.uniform(size=(n, n_features)) < p
                for p, n in zip(probabilities, counts)
            ]
        ).astype(np.int64)
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return X, labels

    # ---------------------------------------------- partial_fit: stepwise EM
    def fitted_statistics(self, params, context):
        """``nk = weights`` and ``s1 = weights * probabilities``: the M-step
        gives back the probabilities (to rounding: ``nk`` carries
        scikit-learn's ``10 eps``)."""
        weights, probabilities = params
        nk = weights / weights.sum()
        return BernoulliStats(math.nan, 1.0, nk, nk[:, None] * probabilities)

    # ------------------------------------------------------- model files
    def file_arrays(self, estimator, n_features):
        return {
            "weights_": (self.n_components,),
            "probabilities_": (self.n_components, n_features),
        }

    def check_file_values(self, fitted, estimator):
        check_mixture_weights(fitted["weights_"])
        probabilities = fitted["probabilities_"]
        low = np.asarray(MIN_PROBABILITY, dtype=probabilities.dtype)
        high = np.asarray(1.0 - MIN_PROBABILITY, dtype=probabilities.dtype)
        if (probabilities < low).any() or (probabilities > high).any():
            raise ValueError(
                f"fitted.probabilities_ holds values outside [{float(low)!r}, "
                f"{float(high)!r}] (min {probabilities.min()!r}, max "
                f"{probabilities.max()!r}); a fit keeps its probabilities within "
                f"{MIN_PROBABILITY} of 0 and 1"
            )
