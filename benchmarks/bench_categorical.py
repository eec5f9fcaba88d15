"""asv benchmarks of emfast.CategoricalMixture (one EM iteration, inference, memory).

Codes come from a fixed seed in ``setup`` (columns of 2 to 10 levels); a
warm-up fit compiles the kernels before anything is timed. Every timed fit
starts from the same parameters (a warm start with ``max_iter=1``), so
``time_em_iteration`` is one fused pass plus the M-step and the per-fit check
of the codes. The side-by-side ratio against a numpy EM at N = 1e6 lives in
benchmarks/compare_categorical.py.
"""

import warnings

import numpy as np

from emfast import CategoricalMixture


def _problem(n_samples, n_features, n_components, dtype):
    """Codes of a random latent class model; a start of equal weights and
    probabilities halfway between K rows' codes and uniform."""
    rng = np.random.RandomState(0)
    n_levels = rng.randint(2, 11, size=n_features)
    labels = rng.randint(n_components, size=n_samples)
    X = np.empty((n_samples, n_features), dtype=dtype)
    for j, levels in enumerate(n_levels):
        class_tables = rng.dirichlet(np.full(levels, 0.5), size=n_components)
        cumulative = np.cumsum(class_tables, axis=1)[labels]
        codes = (rng.uniform(size=(n_samples, 1)) > cumulative).sum(axis=1)
        X[:, j] = np.minimum(codes, levels - 1)
    rows = X[rng.choice(n_samples, n_components, replace=False)].astype(np.intp)
    probabilities = [
        0.5 * (rows[:, j, np.newaxis] == np.arange(levels)) + 0.5 / levels
        for j, levels in enumerate(n_levels)
    ]
    return X, n_levels, np.full(n_components, 1.0 / n_components), probabilities


def _started(X, n_levels, weights, probabilities, max_iter):
    """A model that continues from ``(weights, probabilities)`` on its next ``fit``."""
    model = CategoricalMixture(
        len(weights), max_iter=max_iter, tol=0.0, warm_start=True
    )
    model.weights_ = weights.astype(X.dtype)
    model.probabilities_ = [table.astype(X.dtype) for table in probabilities]
    model.n_levels_ = np.asarray(n_levels, dtype=np.int64)
    model.lower_bound_, model.converged_ = -np.inf, False
    model.n_features_in_ = X.shape[1]
    return model


def _fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        return model.fit(X)


class CategoricalEMIteration:
    """Time of one EM iteration at N = 1e5 (and inference on the same rows)."""

    params = ([100_000], [10, 40], [4, 16], ["float64", "float32"])
    param_names = ["n_samples", "n_features", "n_components", "dtype"]
    timeout = 300

    def setup(self, n_samples, n_features, n_components, dtype):
        self.X, *self.start = _problem(n_samples, n_features, n_components, dtype)
        _fit(_started(self.X[:1000], *self.start, 1), self.X[:1000])
        self.model = _fit(_started(self.X, *self.start, 1), self.X)

    def time_em_iteration(self, n_samples, n_features, n_components, dtype):
        # each call starts again from the same parameters
        _fit(_started(self.X, *self.start, 1), self.X)

    def time_predict_proba(self, n_samples, n_features, n_components, dtype):
        self.model.predict_proba(self.X)

    def time_score_samples(self, n_samples, n_features, n_components, dtype):
        self.model.score_samples(self.X)


class CategoricalFitMemory:
    """Peak memory of a 2-iteration fit: must not grow as N x K."""

    params = ([100_000, 400_000], [16, 64])
    param_names = ["n_samples", "n_components"]

    def setup(self, n_samples, n_components):
        self.X, *self.start = _problem(n_samples, 10, n_components, "float64")
        _fit(_started(self.X[:1000], *self.start, 1), self.X[:1000])

    def peakmem_fit(self, n_samples, n_components):
        _fit(_started(self.X, *self.start, 2), self.X)


class CategoricalFirstFit:
    """A whole default fit (random_from_data init, EM to convergence) on 1e4 rows."""

    timeout = 300

    def setup(self):
        self.X, *_ = _problem(10_000, 10, 8, "float64")
        _fit(CategoricalMixture(8, random_state=0, max_iter=2), self.X[:500])

    def time_fit_default(self):
        _fit(CategoricalMixture(8, random_state=0), self.X)
