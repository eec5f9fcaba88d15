"""Side-by-side: emfast.PoissonMixture vs a vectorised numpy EM, same data and start.

scikit-learn has no Poisson mixture, so the baseline is the textbook numpy EM
(one GEMM for the log-densities, log-sum-exp over an (N, K) array, one GEMM for
the statistics) with the same updates as emfast (rate floor, ``nk`` offset). Both
run in this process from identical initial weights and rates (emfast through a
warm start), with the threads they would normally use: numba's for emfast,
BLAS's for numpy. The time per EM iteration is ``(T(1 + n) - T(1)) / n`` (which
removes validation and the once-per-fit ``log(x!)`` sum), median of
``--repeats`` runs. Prints one markdown row with the ratio, threads and CPU.

    python benchmarks/compare_poisson.py                    # N=1e6, D=8, K=16
    python benchmarks/compare_poisson.py --quick            # N=2e4, a smoke test
    python benchmarks/compare_poisson.py --case 1e6,8,16,float32
"""

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np
from scipy.special import gammaln

MIN_RATE = 1e-10  # as emfast.mixture.poisson._pass
NK_OFFSET = 10 * np.finfo(np.float64).eps


def make_problem(n_samples, n_features, n_components, dtype="float64", seed=0):
    """Counts from a random Poisson mixture; a start of K rows and equal weights."""
    rng = np.random.RandomState(seed)
    rates = rng.gamma(2.0, 5.0, size=(n_components, n_features))
    labels = rng.randint(n_components, size=n_samples)
    X = rng.poisson(rates[labels]).astype(dtype)
    start_rates = X[rng.choice(n_samples, n_components, replace=False)] + 0.5
    start_weights = np.full(n_components, 1.0 / n_components)
    return X, start_weights, start_rates.astype(np.float64)


def numpy_fit(X, weights, rates, n_iter):
    """``n_iter`` vectorised numpy EM iterations: ``(weights, rates, bounds)``."""
    n_samples = X.shape[0]
    log_factorial = gammaln(X + 1.0).sum(dtype=np.float64)
    bounds = []
    for _ in range(n_iter):
        resp = X @ np.log(rates).T.astype(X.dtype)  # (N, K) log-densities ...
        resp += (np.log(weights) - rates.sum(axis=1)).astype(X.dtype)
        top = resp.max(axis=1, keepdims=True)
        resp -= top
        np.exp(resp, out=resp)
        total = resp.sum(axis=1, keepdims=True)
        resp /= total  # ... now responsibilities, in place
        log_norm = top.sum(dtype=np.float64) + np.log(total).sum(dtype=np.float64)
        bounds.append((log_norm - log_factorial) / n_samples)
        nk = resp.sum(axis=0, dtype=np.float64) + NK_OFFSET
        s1 = (resp.T @ X).astype(np.float64)
        rates = np.maximum(s1 / nk[:, np.newaxis], MIN_RATE)
        weights = nk / nk.sum()
    return weights, rates, bounds


def emfast_fit(X, weights, rates, n_iter):
    """``n_iter`` EM iterations of emfast from the given parameters (warm start)."""
    from emfast.mixture.poisson import PoissonMixture

    model = PoissonMixture(len(weights), max_iter=n_iter, tol=0.0, warm_start=True)
    model.weights_, model.rates_ = weights.copy(), rates.copy()
    model.lower_bound_, model.converged_ = -np.inf, False
    model.n_features_in_ = X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        model.fit(X)
    return model.weights_, model.rates_, model.lower_bounds_


def iteration_seconds(fit, X, weights, rates, n_iter, repeats):
    """Median over ``repeats`` of ``(T(1 + n_iter) - T(1)) / n_iter``, and a result."""
    fit(X[:2000], weights, rates, 1)  # compile / warm caches
    samples = []
    for _ in range(repeats):
        begin = time.perf_counter()
        fit(X, weights, rates, 1)
        one = time.perf_counter() - begin
        begin = time.perf_counter()
        result = fit(X, weights, rates, 1 + n_iter)
        many = time.perf_counter() - begin
        samples.append(max(many - one, 0.0) / n_iter)
    return statistics.median(samples), result


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas_threads():
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts, default=1)


def run(cases, n_iter, repeats):
    import numba

    import emfast

    print(
        f"emfast {emfast.__version__}, numba {numba.__version__}, numpy "
        f"{np.__version__}; median of {repeats} runs, time per EM iteration over "
        f"{n_iter} iterations from identical initial parameters\n"
    )
    print(
        "| model | N | D | K | dtype | numpy (s) | emfast (s) | ratio | threads "
        "(numba / BLAS) | max rel. diff of rates | CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n_samples, n_features, n_components, dtype in cases:
        X, weights, rates = make_problem(n_samples, n_features, n_components, dtype)
        theirs, (_, ref_rates, ref_bounds) = iteration_seconds(
            numpy_fit, X, weights, rates, n_iter, repeats
        )
        ours, (_, our_rates, our_bounds) = iteration_seconds(
            emfast_fit, X, weights, rates, n_iter, repeats
        )
        diff = np.max(np.abs(our_rates - ref_rates) / ref_rates)
        ratio = theirs / ours if ours > 0 else float("nan")
        print(
            f"| Poisson EM | {n_samples:.0e} | {n_features} | {n_components} | "
            f"{dtype} | {theirs:.4f} | {ours:.4f} | **{ratio:.1f}x** | "
            f"{numba.get_num_threads()} / {blas_threads()} on {os.cpu_count()} CPUs "
            f"| {diff:.1e} | {cpu_name()} |",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--case", action="append", default=[], help="N,D,K[,dtype]")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.case:
        cases = []
        for text in args.case:
            parts = text.split(",")
            dtype = parts[3] if len(parts) > 3 else "float64"
            cases.append((int(float(parts[0])), int(parts[1]), int(parts[2]), dtype))
    elif args.quick:
        cases = [(20_000, 8, 16, "float64")]
    else:
        cases = [(1_000_000, 8, 16, "float64")]
    run(cases, args.iterations, args.repeats)


if __name__ == "__main__":
    main()
