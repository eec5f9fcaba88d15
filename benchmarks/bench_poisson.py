"""asv benchmarks of emfast.PoissonMixture (one EM iteration, inference, memory).

Counts come from a fixed seed in ``setup``; a warm-up fit compiles the kernels
before anything is timed. Every timed fit starts from the same parameters (a
warm start with ``max_iter=1``), so ``time_em_iteration`` is one fused pass plus
the M-step and the per-fit validation. The side-by-side ratio against a numpy EM
at N = 1e6 lives in benchmarks/compare_poisson.py.
"""

import warnings

import numpy as np

from emfast.mixture.poisson import PoissonMixture


def _problem(n_samples, n_features, n_components, dtype):
    rng = np.random.RandomState(0)
    rates = rng.gamma(2.0, 5.0, size=(n_components, n_features))
    X = rng.poisson(rates[rng.randint(n_components, size=n_samples)]).astype(dtype)
    start_rates = X[rng.choice(n_samples, n_components, replace=False)] + 0.5
    return X, np.full(n_components, 1.0 / n_components), start_rates


def _started(X, weights, rates, max_iter):
    """A model that continues from ``(weights, rates)`` on its next ``fit``."""
    model = PoissonMixture(len(weights), max_iter=max_iter, tol=0.0, warm_start=True)
    model.weights_ = weights.astype(X.dtype)
    model.rates_ = rates.astype(X.dtype)
    model.lower_bound_, model.converged_ = -np.inf, False
    model.n_features_in_ = X.shape[1]
    return model


def _fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        return model.fit(X)


class PoissonEMIteration:
    """Time of one EM iteration at N = 1e5 (and inference on the same rows)."""

    params = ([100_000], [8, 32], [4, 16, 64], ["float64", "float32"])
    param_names = ["n_samples", "n_features", "n_components", "dtype"]
    timeout = 300

    def setup(self, n_samples, n_features, n_components, dtype):
        self.X, self.weights, self.rates = _problem(
            n_samples, n_features, n_components, dtype
        )
        _fit(_started(self.X[:1000], self.weights, self.rates, 1), self.X[:1000])
        self.model = _fit(_started(self.X, self.weights, self.rates, 1), self.X)

    def time_em_iteration(self, n_samples, n_features, n_components, dtype):
        # each call starts again from the same parameters
        _fit(_started(self.X, self.weights, self.rates, 1), self.X)

    def time_predict_proba(self, n_samples, n_features, n_components, dtype):
        self.model.predict_proba(self.X)

    def time_score_samples(self, n_samples, n_features, n_components, dtype):
        self.model.score_samples(self.X)


class PoissonFitMemory:
    """Peak memory of a 2-iteration fit: must not grow as N x K."""

    params = ([100_000, 400_000], [16, 64])
    param_names = ["n_samples", "n_components"]

    def setup(self, n_samples, n_components):
        self.X, self.weights, self.rates = _problem(
            n_samples, 8, n_components, "float64"
        )
        _fit(_started(self.X[:1000], self.weights, self.rates, 1), self.X[:1000])

    def peakmem_fit(self, n_samples, n_components):
        _fit(_started(self.X, self.weights, self.rates, 2), self.X)


class PoissonFirstFit:
    """A whole default fit (k-means init, EM to convergence) on 1e4 rows."""

    timeout = 300

    def setup(self):
        self.X, _, _ = _problem(10_000, 8, 8, "float64")
        PoissonMixture(8, random_state=0, max_iter=2).fit(self.X[:500])

    def time_fit_default(self):
        _fit(PoissonMixture(8, random_state=0), self.X)
