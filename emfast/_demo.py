"""``python -m emfast demo``: the wine example of the EM tutorial, with timings."""

import statistics
import time
import warnings

import numpy as np

from emfast._warmup import warmup
from emfast.datasets import WINE_COLUMNS, load_wine_tutorial

NEW_BOTTLES = np.array([[1.6, 2.9], [4.2, 1.5], [2.5, 2.2]])


def _median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fit_all(cls, X, ks):
    return [cls(k, random_state=0, n_init=3).fit(X) for k in ks]


def run_demo(speed=True):
    """Print the K=1..4 fits of the wine data and how long they took."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from emfast import GaussianMixture

    X, cultivar, names = load_wine_tutorial()
    print(f"Wine data: {X.shape[0]} wines, columns {names[0]} and {names[1]}")
    compile_seconds = warmup()
    print(f"(numba kernels compiled or loaded from cache in {compile_seconds:.1f} s)\n")

    ks = range(1, 5)
    models = _fit_all(GaussianMixture, X, ks)
    print(" K   mean log-lik        AIC        BIC   iterations")
    for k, model in zip(ks, models):
        print(
            f"{k:2d}   {model.score(X):12.4f} {model.aic(X):10.2f} "
            f"{model.bic(X):10.2f}   {model.n_iter_:5d}"
        )
    best = min(models, key=lambda m: m.bic(X))
    print(f"\nChosen by BIC: K = {best.n_components}")

    two = models[1]
    print("\nK = 2 components:")
    for k in range(2):
        mean = ", ".join(f"{n} {v:.3f}" for n, v in zip(WINE_COLUMNS, two.means_[k]))
        print(f"  component {k}: weight {two.weights_[k]:.3f}, mean ({mean})")

    print("\nPosterior class probabilities of three new bottles (K = 2):")
    for bottle, proba in zip(NEW_BOTTLES, two.predict_proba(NEW_BOTTLES)):
        print(
            f"  malic acid {bottle[0]:.1f}, total phenols {bottle[1]:.1f}: "
            f"P(component 0) = {proba[0]:.3f}, P(component 1) = {proba[1]:.3f}"
        )

    reference = _fit_all(SkGaussianMixture, X, ks)
    gap = max(abs(a.lower_bound_ - b.lower_bound_) for a, b in zip(models, reference))
    ours = _median_seconds(lambda: _fit_all(GaussianMixture, X, ks), 5)
    theirs = _median_seconds(lambda: _fit_all(SkGaussianMixture, X, ks), 5)
    print(
        f"\nFitting K = 1..4 (n_init=3), median of 5: emfast {ours * 1e3:.1f} ms, "
        f"scikit-learn {theirs * 1e3:.1f} ms; largest difference in the lower "
        f"bound: {gap:.1e}"
    )
    if speed:
        _speed_comparison()


def _speed_comparison(n_samples=200_000, n_features=8, n_components=16, n_iter=5):
    """One larger fit from identical starting parameters, as a ratio."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from emfast import GaussianMixture

    rng = np.random.RandomState(0)
    centers = rng.normal(scale=4.0, size=(n_components, n_features))
    X = centers[rng.randint(n_components, size=n_samples)]
    X += rng.normal(size=X.shape)
    start = dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=X[rng.choice(n_samples, n_components, replace=False)],
        precisions_init=np.repeat(np.eye(n_features)[None], n_components, axis=0),
    )
    timings = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, cls in (
            ("emfast", GaussianMixture),
            ("scikit-learn", SkGaussianMixture),
        ):
            model = cls(n_components, max_iter=n_iter, tol=0, **start)
            timings[name] = _median_seconds(lambda m=model: m.fit(X), 3)
    ours, theirs = timings["emfast"], timings["scikit-learn"]
    print(
        f"\nSynthetic data, {n_samples} rows x {n_features} features, "
        f"K = {n_components}, full covariance, {n_iter} EM iterations from the "
        f"same start: emfast {ours:.2f} s, scikit-learn {theirs:.2f} s "
        f"({theirs / ours:.1f}x)"
    )
