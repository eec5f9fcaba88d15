"""One EM pass over rows with missing values against the complete-data pass.

The same rows twice: once complete, once with a fraction of the entries set to
NaN completely at random. Both passes compute every statistic the M-step needs
under the same parameters, in one process, on the same thread count,
interleaved, median of ``--repeats`` runs after a warm-up (compilation is not
timed). Both run as ``GaussianMixture`` runs them: the complete rows through
the family of ``missing="error"``, the rows with NaN through the family of
``missing="marginalize"``, whose pass splits every block into its complete
rows (a compacted copy, through the complete-data kernels) and its rows with
NaN (the missing-value kernels). The once-per-fit preparation (counting the
incomplete rows, the observed column means) is timed separately. Prints the
ratio with the CPU and the load.

    python benchmarks/missing_pass.py                    # N = 1e6, D = 8, K = 16
    python benchmarks/missing_pass.py --n-samples 100000 --repeats 3
"""

import argparse
import os
import platform
import statistics
import time

import numpy as np


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_problem(n_samples, n_features, n_components, fraction, dtype, seed=0):
    """Blobs, the same rows with NaN, and parameters near the blobs (full)."""
    from emfast.mixture.gaussian._family import GaussianParams

    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_components, n_features))
    X = centers[rng.integers(n_components, size=n_samples)]
    X += rng.normal(size=X.shape)
    X = X.astype(dtype)
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < fraction] = np.nan
    empty = np.isnan(X_nan).all(axis=1)
    X_nan[empty, 0] = X[empty, 0]  # every row keeps an observed value
    covariances = []
    for _ in range(n_components):
        a = rng.normal(scale=0.3, size=(n_features, n_features))
        covariances.append(a @ a.T + np.eye(n_features))
    covariances = np.array(covariances)
    chol = np.array([np.linalg.inv(np.linalg.cholesky(c)).T for c in covariances])
    weights = np.full(n_components, 1.0 / n_components)
    params = GaussianParams(weights, centers, covariances, chol)
    return X, X_nan, params


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=float, default=1e6)
    parser.add_argument("--n-features", type=int, default=8)
    parser.add_argument("--n-components", type=int, default=16)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()

    import numba

    import emfast
    from emfast._numba import serial_blas
    from emfast.mixture.gaussian import GaussianMixture
    from emfast.rows import ArrayRows

    n_samples = int(options.n_samples)
    D, K = options.n_features, options.n_components
    X, X_nan, params = make_problem(n_samples, D, K, options.fraction, options.dtype)
    estimator = GaussianMixture(K, covariance_type="full", missing="marginalize")
    family = estimator._family()  # the marginalising family
    complete_family = GaussianMixture(K, covariance_type="full")._family()
    complete_rows, incomplete_rows = ArrayRows(X), ArrayRows(X_nan)

    def prepare():
        return family.prepare(incomplete_rows, estimator)

    def complete_pass():
        complete_family.statistics(complete_rows, params, complete_context)

    def missing_pass():
        family.statistics(incomplete_rows, params, context)

    times = {"complete": [], "missing": [], "prepare": []}
    with emfast.num_threads(options.threads), serial_blas():
        complete_context = complete_family.prepare(complete_rows, estimator)
        context = prepare()
        missing_pass()  # warm-up: compiles every kernel
        complete_pass()
        for _ in range(options.repeats):
            times["complete"].append(timed(complete_pass))
            times["missing"].append(timed(missing_pass))
            times["prepare"].append(timed(prepare))

    median = {name: statistics.median(values) for name, values in times.items()}
    n_incomplete = context.n_incomplete
    print(
        f"{cpu_name()}, {os.cpu_count()} CPUs; numba {numba.__version__}, "
        f"{options.threads} threads; load average "
        + " ".join(f"{v:.1f}" for v in os.getloadavg())
    )
    print(
        f"N={n_samples} D={D} K={K} full {options.dtype}; "
        f"{options.fraction:.0%} of entries missing: "
        f"{n_incomplete / n_samples:.1%} of rows incomplete"
    )
    print(f"median of {options.repeats} interleaved runs (s):")
    for name, label in [
        ("complete", "complete-data pass"),
        ("missing", "missing-value pass"),
        ("prepare", "prepare (once per fit)"),
    ]:
        spread = f"[{min(times[name]):.3f}, {max(times[name]):.3f}]"
        print(f"  {label:28s} {median[name]:.3f}  {spread}")
    print(f"ratio missing / complete: {median['missing'] / median['complete']:.2f}")


if __name__ == "__main__":
    main()
