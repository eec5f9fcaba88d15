"""emfast against scikit-learn, timed side by side with pytest-benchmark.

    python -m pytest benchmarks/test_side_by_side.py       # timings, grouped by case
    python -m pytest benchmarks/test_side_by_side.py --benchmark-disable  # check only

For each case both libraries fit the same rows, in the same process, from the
same starting parameters for a fixed number of EM iterations (``tol=0``), so
each timing is the cost of that many iterations; the emfast fit must also end
where scikit-learn's does. The default test run (``testpaths = ["tests"]``)
does not collect this file. It imports no pytest: asv imports every module of
``benchmarks/`` while looking for benchmarks, where pytest may be missing.
"""

import warnings

import numpy as np

N_ITER = 10
ROUNDS = 3

# (covariance type, dtype, n_samples, n_features, n_components)
CASES = {
    "full-float64": ("full", np.float64, 20_000, 8, 8),
    "diag-float32": ("diag", np.float32, 20_000, 16, 16),
    "tied-float64": ("tied", np.float64, 20_000, 8, 8),
}
# relative agreement of the final lower bounds, per dtype
RTOL = {np.float64: 1e-12, np.float32: 1e-6}
# unit precisions as the starting point, in each covariance type's shape
IDENTITY = {
    "full": lambda k, d: np.repeat(np.eye(d)[None], k, axis=0),
    "tied": lambda k, d: np.eye(d),
    "diag": lambda k, d: np.ones((k, d)),
    "spherical": lambda k, d: np.ones(k),
}


def pytest_generate_tests(metafunc):
    """Parametrize by case and library (a pytest hook, so no pytest import)."""
    metafunc.parametrize("case", list(CASES))
    metafunc.parametrize("library", ["emfast", "scikit-learn"])


def _problem(case):
    covariance_type, dtype, n_samples, n_features, n_components = CASES[case]
    rng = np.random.RandomState(0)
    centers = rng.normal(scale=3.0, size=(n_components, n_features))
    X = centers[rng.randint(n_components, size=n_samples)]
    X = (X + rng.normal(size=X.shape)).astype(dtype)
    start = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=X[rng.choice(n_samples, n_components, replace=False)],
        precisions_init=IDENTITY[covariance_type](n_components, n_features),
        random_state=0,
        max_iter=N_ITER,
        tol=0.0,
    )
    return X, start


def _fit(cls, X, start):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**start).fit(X)


def test_fit(benchmark, case, library):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from emfast import GaussianMixture

    cls = GaussianMixture if library == "emfast" else SkGaussianMixture
    X, start = _problem(case)
    benchmark.group = case
    benchmark.extra_info.update(n_iter=N_ITER, shape=list(X.shape))
    # the warm-up round compiles emfast's kernels (or loads them from cache)
    model = benchmark.pedantic(
        _fit, args=(cls, X, start), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    assert model.n_iter_ == N_ITER
    if library == "emfast":
        reference = _fit(SkGaussianMixture, X, start)
        np.testing.assert_allclose(
            model.lower_bound_, reference.lower_bound_, rtol=RTOL[X.dtype.type]
        )
