"""asv benchmarks of emfast.GaussianMixture (speed, peak memory, import, compile).

Data come from a fixed seed in ``setup``; a warm-up call compiles the kernels
before anything is timed (compile time has its own benchmark). Every timed EM
iteration starts from the same state: ``setup`` keeps a model one iteration in,
and each call refits a copy of it warm-started for one more iteration (so a
model is never walked further from call to call, which let a component collapse
in a long run). Sizes are kept so that a full run stays within minutes on 2
cores; the side-by-side ratios against scikit-learn at N = 1e6 live in
benchmarks/compare.py and benchmarks/roofline.py.
"""

import copy
import warnings

import numpy as np

from emfast import GaussianMixture
from emfast.mixture.gaussian._pass import gaussian_pass
from emfast.rows import ArrayRows

from .compare import make_problem

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _fit(X, n_components, start, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(n_components, max_iter=max_iter, **start).fit(X)


def _one_iteration_model(X, n_components, start):
    """A model one iteration in, set to run exactly one more on its next fit.

    Its fit compiles the kernels, on all of ``X``: a slice of a few rows per
    component can leave a component too few rows for a covariance (D = 32,
    K = 64 with 1000 rows did).
    """
    model = _fit(X, n_components, start, 1)
    return model.set_params(warm_start=True, max_iter=1)


def _one_more_iteration(model, X):
    """Fit a copy of ``model``: the same starting state on every call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return copy.deepcopy(model).fit(X)


class EMIteration:
    """Time of one EM iteration (a fused pass + M-step), full covariance."""

    params = ([100_000], [2, 8, 32], [4, 16, 64], ["float64", "float32"])
    param_names = ["n_samples", "n_features", "n_components", "dtype"]
    timeout = 300

    def setup(self, n_samples, n_features, n_components, dtype):
        self.X, start = make_problem(n_samples, n_features, n_components, "full", dtype)
        self.model = _one_iteration_model(self.X, n_components, start)

    def time_em_iteration(self, n_samples, n_features, n_components, dtype):
        _one_more_iteration(self.model, self.X)


class CovarianceTypes:
    """One EM iteration per covariance type (N = 1e5, D = 8, K = 16)."""

    params = (COVARIANCE_TYPES, ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]

    def setup(self, covariance_type, dtype):
        self.X, start = make_problem(100_000, 8, 16, covariance_type, dtype)
        self.model = _one_iteration_model(self.X, 16, start)

    def time_em_iteration(self, covariance_type, dtype):
        _one_more_iteration(self.model, self.X)

    def time_predict_proba(self, covariance_type, dtype):
        self.model.predict_proba(self.X)

    def time_score_samples(self, covariance_type, dtype):
        self.model.score_samples(self.X)


class KernelPass:
    """One fused pass alone (E-step and statistics), N = 1e5.

    Full covariance up to 16 features runs the tile kernel, 32 features the
    GEMM kernel; diag, spherical and tied run their tile kernels at D = 8.
    """

    params = (
        ["full-2", "full-8", "full-16", "full-32", "diag-8", "spherical-8", "tied-8"],
        [16, 64],
        ["float64", "float32"],
    )
    param_names = ["kernel", "n_components", "dtype"]
    timeout = 300

    def setup(self, kernel, n_components, dtype):
        covariance_type, n_features = kernel.split("-")
        X, start = make_problem(
            100_000, int(n_features), n_components, covariance_type, dtype
        )
        precisions = start["precisions_init"]
        if covariance_type in ("diag", "spherical"):
            precisions = np.sqrt(precisions)  # their Cholesky factors
        self.args = (
            ArrayRows(X),
            (np.log(start["weights_init"]), start["means_init"], precisions),
            covariance_type,
        )
        gaussian_pass(*self.args)  # compile, and the data mean

    def time_pass(self, kernel, n_components, dtype):
        gaussian_pass(*self.args)


class SmallData:
    """Whole fits where per-iteration overhead matters more than the pass."""

    timeout = 300

    def setup(self):
        from sklearn.datasets import load_wine

        self.X, _ = make_problem(10_000, 8, 8, "full", "float64")
        self.wine = load_wine().data
        self.time_fit_n1e4_d8_k8()  # compile
        self.time_wine_k1_to_4_n_init_3()

    def time_fit_n1e4_d8_k8(self):
        GaussianMixture(8, random_state=0).fit(self.X)

    def time_wine_k1_to_4_n_init_3(self):
        for n_components in range(1, 5):
            GaussianMixture(n_components, n_init=3, random_state=0).fit(self.wine)


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


class MissingPass:
    """One pass over rows with 20 % of the entries missing, against the same
    rows complete (N = 1e5, D = 8, K = 16, full); see benchmarks/missing_pass.py."""

    params = (["complete", "missing"],)
    param_names = ["rows"]
    timeout = 300

    def setup(self, rows):
        from .missing_pass import make_problem as make_missing_problem

        X, X_nan, params = make_missing_problem(100_000, 8, 16, 0.2, np.float64)
        missing = rows == "missing"
        estimator = GaussianMixture(16, missing="marginalize" if missing else "error")
        self.family = estimator._family()
        self.rows = ArrayRows(X_nan if missing else X)
        self.params = params
        self.context = self.family.prepare(self.rows, estimator)
        self.time_pass(rows)  # compile

    def time_pass(self, rows):
        self.family.statistics(self.rows, self.params, self.context)
