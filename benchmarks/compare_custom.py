"""Side-by-side: a user-defined family on CustomMixture vs a vectorised numpy EM.

The family is the README's mixture of von Mises distributions on angles
(``log p = kappa cos(x - mu) + log C(kappa)``, written in ``T(x) = (cos x,
sin x)``), two numba functions and a NumPy M-step. The baseline is the
vectorised numpy EM of the same family written the same way: ``T(x)`` once per
fit, the (N, K) log-densities as one product ``T(x) @ natural parameters``,
log-sum-exp over them, the responsibilities, ``resp.T @ T(x)`` for the
statistics and the same M-step. Both run in this process
from identical initial parameters (emfast through a warm start), with the
threads they would normally use: numba's for emfast, numpy's (one thread for
its element-wise work, BLAS's for the product). The time per EM iteration is
``(T(1 + n) - T(1)) / n``; the two are timed in turn, ``--repeats`` times, and
the medians are compared. Prints one markdown row with the ratio, threads and
CPU. The first call compiles emfast's pass for the family (about 5 s, once per
process), outside the timing.

    python benchmarks/compare_custom.py                 # N=1e6, K=8
    python benchmarks/compare_custom.py --quick         # N=2e4, a smoke test
    python benchmarks/compare_custom.py --case 1e6,8,float32
"""

import argparse
import math
import os
import platform
import statistics
import time
import warnings

import numba
import numpy as np
from scipy.special import i0e, i1e

from emfast import ComponentFamily, CustomMixture

NK_OFFSET = 10 * np.finfo(np.float64).eps  # as emfast's engine (unit weights)


# ------------------------------------------------- the family, as the README writes it
# theta = [mu, kappa, kappa cos mu, kappa sin mu, log C(kappa)]:
# kappa cos(x - mu) = kappa cos mu cos x + kappa sin mu sin x, linear in T(x)
@numba.njit(cache=True)
def sufficient_statistics(x, t):  # T(x) = (cos x, sin x)
    t[0] = math.cos(x[0])
    t[1] = math.sin(x[0])


@numba.njit(cache=True)
def log_density(x, t, theta):
    return theta[2] * t[0] + theta[3] * t[1] + theta[4]


def m_step(nk, sums):
    mu = np.arctan2(sums[:, 1], sums[:, 0])
    rbar = np.clip(np.hypot(sums[:, 0], sums[:, 1]) / nk, 1e-12, 1 - 1e-12)
    kappa = rbar * (2 - rbar**2) / (1 - rbar**2)  # Banerjee et al. (2005)
    for _ in range(3):  # Newton steps on I1(kappa) / I0(kappa) = rbar
        a = i1e(kappa) / i0e(kappa)
        kappa = kappa - (a - rbar) / (1 - a**2 - a / kappa)
    log_c = -np.log(2 * np.pi * i0e(kappa)) - kappa
    return np.column_stack([mu, kappa, kappa * np.cos(mu), kappa * np.sin(mu), log_c])


VON_MISES = ComponentFamily(
    log_density, sufficient_statistics, m_step, n_statistics=2, n_parameters=2
)


def make_problem(n_samples, n_components, dtype="float64", seed=0):
    """Angles from a random von Mises mixture; a start of K rows, kappa = 1."""
    rng = np.random.RandomState(seed)
    means = np.linspace(-np.pi, np.pi, n_components, endpoint=False)
    kappas = rng.uniform(2.0, 20.0, size=n_components)
    labels = rng.randint(n_components, size=n_samples)
    X = rng.vonmises(means[labels], kappas[labels])[:, np.newaxis].astype(dtype)
    mu = X[rng.choice(n_samples, n_components, replace=False), 0].astype(np.float64)
    kappa, log_c = np.ones(n_components), -np.log(2 * np.pi * i0e(1.0)) - 1.0
    params = np.column_stack(
        [mu, kappa, np.cos(mu), np.sin(mu), np.full(n_components, log_c)]
    )
    return X, np.full(n_components, 1.0 / n_components), params


def numpy_fit(X, weights, params, n_iter):
    """``n_iter`` vectorised numpy EM iterations: ``(weights, params, bounds)``."""
    x = X[:, 0].astype(np.float64)
    T = np.column_stack([np.cos(x), np.sin(x)])
    bounds = []
    for _ in range(n_iter):
        resp = T @ params[:, 2:4].T  # (N, K) log-densities ...
        resp += params[:, 4] + np.log(weights)
        top = resp.max(axis=1, keepdims=True)
        resp -= top
        np.exp(resp, out=resp)
        total = resp.sum(axis=1, keepdims=True)
        resp /= total  # ... now responsibilities, in place
        bounds.append((top.sum() + np.log(total).sum()) / x.shape[0])
        nk = resp.sum(axis=0) + NK_OFFSET
        params = m_step(nk, resp.T @ T)
        weights = nk / nk.sum()
    return weights, params, bounds


def emfast_fit(X, weights, params, n_iter):
    """``n_iter`` EM iterations of CustomMixture from the given parameters."""
    model = CustomMixture(
        VON_MISES, len(weights), max_iter=n_iter, tol=0.0, warm_start=True
    )
    model.weights_, model.params_ = weights.copy(), params.copy()
    model.lower_bound_, model.converged_ = -np.inf, False
    model.n_features_in_ = X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        model.fit(X)
    return model.weights_, model.params_, model.lower_bounds_


def iteration_seconds(fits, X, weights, params, n_iter, repeats):
    """Per fit: median over ``repeats`` of ``(T(1 + n_iter) - T(1)) / n_iter``,
    the fits timed in turn; and each fit's result."""
    for fit in fits:
        fit(X[:2000], weights, params, 1)  # compile / warm caches
    samples = [[] for _ in fits]
    results = [None for _ in fits]
    for _ in range(repeats):
        for j, fit in enumerate(fits):
            begin = time.perf_counter()
            fit(X, weights, params, 1)
            one = time.perf_counter() - begin
            begin = time.perf_counter()
            results[j] = fit(X, weights, params, 1 + n_iter)
            many = time.perf_counter() - begin
            samples[j].append(max(many - one, 0.0) / n_iter)
    return [statistics.median(s) for s in samples], results


def cpu_name():
    """The CPU's model name and its widest vector extension."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "")
    return f"{name} ({vector}, {os.cpu_count()} CPUs)" if vector else name


def blas_threads():
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts, default=1)


def run(cases, n_iter, repeats):
    import emfast

    print(
        f"emfast {emfast.__version__}, numba {numba.__version__}, numpy "
        f"{np.__version__}; median of {repeats} runs, timed in turn, time per EM "
        f"iteration over {n_iter} iterations from identical initial parameters; "
        f"load average {os.getloadavg()[0]:.1f} at the start\n"
    )
    print(
        "| model | N | K | dtype | numpy (s) | emfast (s) | ratio | threads "
        "(numba / BLAS) | max rel. diff of params | CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n_samples, n_components, dtype in cases:
        X, weights, params = make_problem(n_samples, n_components, dtype)
        (theirs, ours), (reference, result) = iteration_seconds(
            [numpy_fit, emfast_fit], X, weights, params, n_iter, repeats
        )
        diff = np.max(np.abs(result[1] - reference[1]) / np.abs(reference[1]))
        ratio = theirs / ours if ours > 0 else float("nan")
        print(
            f"| von Mises EM (user family) | {n_samples:.0e} | {n_components} | "
            f"{dtype} | {theirs:.4f} | {ours:.4f} | **{ratio:.1f}x** | "
            f"{numba.get_num_threads()} / {blas_threads()} | {diff:.1e} | "
            f"{cpu_name()} |",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--case", action="append", default=[], help="N,K[,dtype]")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.case:
        cases = []
        for text in args.case:
            parts = text.split(",")
            dtype = parts[2] if len(parts) > 2 else "float64"
            cases.append((int(float(parts[0])), int(parts[1]), dtype))
    elif args.quick:
        cases = [(20_000, 8, "float64")]
    else:
        cases = [(1_000_000, 8, "float64")]
    run(cases, args.iterations, args.repeats)


if __name__ == "__main__":
    main()
