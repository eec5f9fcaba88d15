"""asv benchmarks of emfast.GaussianMixture (speed, peak memory, import, compile).

Data come from a fixed seed in ``setup``; a warm-up call compiles the kernels
before anything is timed (compile time has its own benchmark). Sizes are kept so
that a full run stays within minutes on 2 cores; the side-by-side ratios against
scikit-learn at N = 1e6 live in benchmarks/compare.py.
"""

import warnings

from emfast import GaussianMixture

from .compare import make_problem

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _fit(X, n_components, start, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(n_components, max_iter=max_iter, **start).fit(X)


class EMIteration:
    """Time of one EM iteration (a fused pass + M-step), full covariance."""

    params = ([100_000], [2, 8, 32], [4, 16, 64], ["float64", "float32"])
    param_names = ["n_samples", "n_features", "n_components", "dtype"]
    timeout = 300

    def setup(self, n_samples, n_features, n_components, dtype):
        self.X, self.start = make_problem(n_samples, n_features, n_components, "full",
                                      dtype)
        _fit(self.X[:1000], n_components, self.start, 1)  # compile
        self.model = _fit(self.X, n_components, self.start, 1)
        self.model.set_params(warm_start=True, max_iter=1)

    def time_em_iteration(self, n_samples, n_features, n_components, dtype):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(self.X)


class CovarianceTypes:
    """One EM iteration per covariance type (N = 1e5, D = 8, K = 16)."""

    params = (COVARIANCE_TYPES, ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]

    def setup(self, covariance_type, dtype):
        self.X, self.start = make_problem(100_000, 8, 16, covariance_type, dtype)
        _fit(self.X[:1000], 16, self.start, 1)
        self.model = _fit(self.X, 16, self.start, 1)
        self.model.set_params(warm_start=True, max_iter=1)

    def time_em_iteration(self, covariance_type, dtype):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(self.X)

    def time_predict_proba(self, covariance_type, dtype):
        self.model.predict_proba(self.X)

    def time_score_samples(self, covariance_type, dtype):
        self.model.score_samples(self.X)


class FitMemory:
    """Peak memory of a 2-iteration fit: must not grow as N x K."""

    params = ([100_000, 400_000], [16, 64])
    param_names = ["n_samples", "n_components"]

    def setup(self, n_samples, n_components):
        self.X, self.start = make_problem(n_samples, 8, n_components, "full", "float64")
        _fit(self.X[:1000], n_components, self.start, 1)

    def peakmem_fit(self, n_samples, n_components):
        _fit(self.X, n_components, self.start, 2)


class Import:
    """Cost of ``import emfast`` and of loading the estimator, in a new process."""

    def timeraw_import_emfast(self):
        return "import emfast"

    def timeraw_import_estimator(self):
        return "from emfast import GaussianMixture", "import numba, sklearn.base"


class FirstFit:
    """First fit in a new process: warm on-disk cache (loads) and cold (compiles)."""

    timeout = 600

    def setup_cache(self):
        import emfast

        emfast.warmup()  # fills numba's cache

    def timeraw_first_fit_warm_cache(self):
        return """
import numpy as np
from emfast import GaussianMixture
X = np.random.RandomState(0).normal(size=(1000, 4))
GaussianMixture(3, init_params="random", random_state=0).fit(X).predict(X)
"""

    def timeraw_first_fit_cold_cache(self):
        # a fresh, empty numba cache directory: every kernel this fit uses compiles
        return """
import os, tempfile
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp()
import numpy as np
from emfast import GaussianMixture
X = np.random.RandomState(0).normal(size=(1000, 4))
GaussianMixture(3, init_params="random", random_state=0).fit(X).predict(X)
"""
