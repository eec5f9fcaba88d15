"""asv benchmarks of emfast's BayesianGaussianMixture (one iteration, memory).

Data come from a fixed seed in ``setup``, where a warm-up fit also compiles the
kernels; each timed ``fit`` warm-starts a copy of the model ``setup`` left, so
that every call is exactly one variational iteration (a fused pass with the
entropy term, the update and the bound) from the same state. The side-by-side
ratio against scikit-learn at N = 1e6 is benchmarks/compare_bayesian.py.
"""

import copy
import warnings

import numpy as np

from emfast.mixture.bayesian import BayesianGaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]


def _blobs(n_samples, n_features, n_components, dtype):
    rng = np.random.RandomState(0)
    centers = rng.normal(scale=3.0, size=(n_components, n_features))
    X = centers[rng.randint(n_components, size=n_samples)]
    return (X + rng.normal(size=X.shape)).astype(dtype)


def _fit(X, max_iter, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BayesianGaussianMixture(
            init_params="random_from_data",
            random_state=0,
            max_iter=max_iter,
            tol=0.0,
            **settings,
        ).fit(X)


class VariationalIteration:
    """Time of one iteration, N = 1e5, D = 8, K = 16."""

    params = (COVARIANCE_TYPES, PRIOR_TYPES, ["float64", "float32"])
    param_names = ["covariance_type", "prior_type", "dtype"]
    timeout = 300

    def setup(self, covariance_type, prior_type, dtype):
        settings = dict(
            n_components=16,
            covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type,
        )
        self.X = _blobs(100_000, 8, 16, dtype)
        _fit(self.X[:1000], 1, **settings)  # compile
        self.model = _fit(self.X, 1, **settings)
        self.model.set_params(warm_start=True, max_iter=1)

    def time_iteration(self, covariance_type, prior_type, dtype):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            copy.deepcopy(self.model).fit(self.X)

    def time_predict_proba(self, covariance_type, prior_type, dtype):
        self.model.predict_proba(self.X)


class FitMemory:
    """Peak memory of a 2-iteration fit: must not grow as N x K."""

    params = ([100_000, 400_000], [16, 64])
    param_names = ["n_samples", "n_components"]

    def setup(self, n_samples, n_components):
        self.X = _blobs(n_samples, 8, n_components, "float64")
        _fit(self.X[:1000], 1, n_components=n_components)

    def peakmem_fit(self, n_samples, n_components):
        _fit(self.X, 2, n_components=n_components)
