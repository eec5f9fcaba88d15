"""The variational Gaussian family: scikit-learn's ``BayesianGaussianMixture``.

Its pass is the Gaussian one (with the ``sum r log r`` the bound needs) run
with the expected log terms of the posterior in place of log weights; its
M-step is the variational update (:mod:`emfast.mixture.bayesian._update`).

``partial_fit`` is stochastic variational inference: the update is linear in
the expected sufficient statistics, so the running statistics per unit weight,
blended with the engine's step size and scaled to the data size, give SVI's
natural-gradient step (Hoffman et al. 2013). The data size is the total
sample weight the stream has seen: the batches so far, plus, for a model
fitted by ``fit`` (or loaded), the weight its posterior stands for (its
``mean_precision_`` minus the prior's, summed over components). One pass of
shuffled batches over a data set therefore ends with the data set's size.
"""

import dataclasses

import numpy as np

from emfast.mixture._engine.family import Context, Family
from emfast.mixture._engine.weights import nk_offset
from emfast.mixture.bayesian._priors import Priors, resolve_priors
from emfast.mixture.bayesian._stream import fitted_statistics
from emfast.mixture.bayesian._update import (
    VariationalParams,
    fitted_arrays,
    log_density_offsets,
    lower_bound,
    variational_update,
)
from emfast.mixture.gaussian import _stream as gaussian_stream
from emfast.mixture.gaussian._covariance import covariance
from emfast.mixture.gaussian._family import (
    GaussianParams,
    initial_statistics,
    sample,
    score_rows,
)
from emfast.mixture.gaussian._pass import gaussian_pass

# fitted arrays besides the Gaussian ones, and the priors
_VARIATIONAL = ("weight_concentration_", "mean_precision_", "degrees_of_freedom_")
_PRIORS = (
    "weight_concentration_prior_",
    "mean_precision_prior_",
    "mean_prior_",
    "degrees_of_freedom_prior_",
    "covariance_prior_",
)


@dataclasses.dataclass(frozen=True)
class VariationalContext(Context):
    """:class:`~emfast.mixture._engine.family.Context` with the priors (float64)."""

    priors: Priors = None


class VariationalFamily(Family):
    """Gaussian components under a variational posterior (see ``Family``)."""

    fitted_attribute = "precisions_cholesky_"
    weights_are_ratios = False  # the weights count rows against the priors
    score_block = staticmethod(score_rows)

    def __init__(
        self,
        *,
        n_components,
        covariance_type,
        reg_covar,
        init_params,
        weight_concentration_prior_type,
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior

    # ------------------------------------------------------------ fitting
    def prepare(self, rows, estimator, *, continuing=False):
        """Set the ``*_prior_`` attributes (defaults from the rows); a model
        continued by ``partial_fit`` keeps its own."""
        if continuing:
            priors = Priors.from_attributes(estimator)
        else:
            priors = self.resolve_priors(rows, estimator)
        return VariationalContext(rows.dtype, nk_offset(rows), priors)

    def resolve_priors(self, rows, estimator):
        """scikit-learn's ``_check_parameters``: set the ``*_prior_`` attributes
        of ``estimator``; return the :class:`Priors`."""
        attributes, priors = resolve_priors(self, rows)
        for name, value in attributes.items():
            setattr(estimator, name, value)
        return priors

    def resp_statistics(self, rows, resp, context):
        return initial_statistics(rows, resp, self.covariance_type)

    def statistics(self, rows, params, context):
        """One fused pass (E-step, statistics and ``sum r log r``)."""
        return gaussian_pass(
            rows, self.kernel_params(params), self.covariance_type, with_entropy=True
        )

    def kernel_params(self, params):
        """``(additive log term, means, precision factors)`` for the kernels."""
        prior_type = self.weight_concentration_prior_type
        offsets = log_density_offsets(params, prior_type)
        return offsets, params.means, params.precisions_cholesky

    def m_step(self, stats, context):
        return variational_update(
            stats,
            self.reg_covar,
            context.priors,
            self.covariance_type,
            self.weight_concentration_prior_type,
            context.dtype,
            context.nk_offset,
        )

    def lower_bound(self, stats, params, context):
        """scikit-learn's bound, from the new parameters and the pass's entropy."""
        return lower_bound(
            params,
            stats.resp_log_resp,
            self.covariance_type,
            self.weight_concentration_prior_type,
        )

    # ------------------------------------------------- fitted attributes
    def params_from(self, estimator):
        return VariationalParams(
            estimator.weight_concentration_,
            estimator.mean_precision_,
            estimator.means_,
            estimator.degrees_of_freedom_,
            estimator.covariances_,
            estimator.precisions_cholesky_,
        )

    def set_fitted(self, estimator, params, dtype=None):
        """Set the fitted arrays (in ``dtype``, default: as given), ``weights_``
        and ``precisions_``."""
        params = VariationalParams(*params)
        if dtype is None:
            dtype = np.result_type(params.means, np.float32)
        fitted = fitted_arrays(
            params, self.covariance_type, self.weight_concentration_prior_type, dtype
        )
        for name, value in fitted.items():
            setattr(estimator, name, value)

    def scoring_args(self, estimator):
        return self.kernel_params(self.params_from(estimator)), self.covariance_type

    def n_parameters(self, estimator):
        """As for a Gaussian mixture of the same shape (for ``bic``/``aic``)."""
        n_features = estimator.means_.shape[1]
        cov_params = covariance(self.covariance_type).n_parameters(
            self.n_components, n_features
        )
        return int(cov_params + n_features * self.n_components + self.n_components - 1)

    def sample(self, estimator, n_samples, rng):
        """From ``weights_``, ``means_`` and ``covariances_``, as scikit-learn."""
        params = GaussianParams(
            estimator.weights_,
            estimator.means_,
            estimator.covariances_,
            estimator.precisions_cholesky_,
        )
        return sample(params, self.covariance_type, n_samples, rng)

    # ------------------------------------ partial_fit: stochastic variational
    def blend(self, running, batch, rho):
        blended = gaussian_stream.blend(running, batch, rho)
        entropy = (1 - rho) * running.resp_log_resp + rho * batch.resp_log_resp
        return dataclasses.replace(blended, resp_log_resp=entropy)

    def fitted_statistics(self, params, context):
        return fitted_statistics(
            params, context.priors, self.covariance_type, self.reg_covar
        )

    def fitted_weight(self, estimator):
        """The weight the posterior stands for: ``sum_k (beta_k - beta_0)``."""
        beta = np.asarray(estimator.mean_precision_, dtype=np.float64)
        return float(np.sum(beta - float(estimator.mean_precision_prior_)))

    def stream_m_step(self, running, context, weight_seen):
        """The variational update on the running statistics scaled to the
        weight seen (SVI's natural-gradient step)."""
        return self.m_step(_scaled(running, weight_seen), context)

    def stream_bound(self, batch, running, params, context, weight_seen):
        return self.lower_bound(_scaled(running, weight_seen), params, context)

    # ------------------------------------------------------- model files
    def file_arrays(self, estimator, n_features):
        k, d = self.n_components, n_features
        shape = covariance(self.covariance_type).shape(k, d)
        dirichlet_process = self.weight_concentration_prior_type == "dirichlet_process"
        arrays = {
            "weights_": (k,),
            "means_": (k, d),
            "covariances_": shape,
            "precisions_cholesky_": shape,
            "precisions_": shape,
            "weight_concentration_": (2, k) if dirichlet_process else (k,),
            "mean_precision_": (k,),
            # one Wishart for all components when they share the covariance
            "degrees_of_freedom_": () if self.covariance_type == "tied" else (k,),
            "weight_concentration_prior_": (),
            "mean_precision_prior_": (),
            "mean_prior_": (d,),
            "degrees_of_freedom_prior_": (),
            "covariance_prior_": covariance(self.covariance_type).prior_shape(d),
        }
        return arrays

    def check_file_values(self, fitted, estimator):
        from emfast.mixture.bayesian._checks import check_variational_values

        check_variational_values(fitted, self, fitted["n_iter_"])

    def from_file(self, fitted):
        """A Dirichlet process's concentrations are a pair, as scikit-learn's."""
        concentration = fitted["weight_concentration_"]
        if concentration.ndim == 2:
            fitted = {**fitted, "weight_concentration_": tuple(concentration)}
        return fitted

    def check_file_params(self, estimator, n_features):
        from emfast.mixture.bayesian._checks import check_prior_params

        check_prior_params(self, n_features)


def _scaled(stats, factor):
    """Statistics per unit weight scaled to ``factor`` total weight."""
    changes = {
        name: getattr(stats, name) * factor
        for name in ("log_norm", "nk", "s1", "s2", "scatter", "deficit")
        if getattr(stats, name) is not None
    }
    return dataclasses.replace(
        stats,
        weight_sum=factor,
        resp_log_resp=stats.resp_log_resp * factor,
        **changes,
    )
