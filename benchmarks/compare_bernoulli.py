"""Side-by-side: emfast.BernoulliMixture vs a vectorised numpy EM, same data and start.

scikit-learn has no Bernoulli mixture, so the baseline is the textbook numpy EM
written as fast as numpy allows: the log-densities as one GEMM with the logits
(``X @ logit.T + const``), log-sum-exp over the (N, K) array in place, one GEMM
for the statistics, and the same updates as emfast (probabilities clipped to
[1e-10, 1 - 1e-10], ``nk`` offset). Both run in this process from identical
initial weights and probabilities (emfast through a warm start), with the
threads they would normally use: numba's for emfast, BLAS's for numpy. The time
per EM iteration is ``(T(1 + n) - T(1)) / n`` (which removes validation), the
median of ``--repeats`` runs; numpy and emfast alternate within each repeat.
Prints one markdown row per case with the ratio, threads and CPU.

Two kinds of data: ``dense`` rows from a mixture with probabilities drawn from
Beta(0.5, 0.5) (about half the entries are ones) and ``sparse`` rows shaped
like binarised MNIST (probabilities from Beta(0.2, 0.85), about 19 % ones).

    python benchmarks/compare_bernoulli.py          # N=1e6 D=64 dense; D=784 sparse
    python benchmarks/compare_bernoulli.py --quick  # N=2e4, a smoke test
    python benchmarks/compare_bernoulli.py --case 1e6,64,16,float32,dense
"""

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

MIN_PROBABILITY = 1e-10  # as emfast.mixture.bernoulli._pass
NK_OFFSET = 10 * np.finfo(np.float64).eps
BETA = {"dense": (0.5, 0.5), "sparse": (0.2, 0.85)}


def make_problem(n_samples, n_features, n_components, dtype, kind, seed=0):
    """Rows from a random Bernoulli mixture; a start of equal weights and K rows
    shrunk towards 1/2."""
    rng = np.random.RandomState(seed)
    probabilities = rng.beta(*BETA[kind], size=(n_components, n_features))
    X = np.empty((n_samples, n_features), dtype=dtype)
    for start in range(0, n_samples, 100_000):  # bounded temporaries
        stop = min(start + 100_000, n_samples)
        labels = rng.randint(n_components, size=stop - start)
        draws = rng.uniform(size=(stop - start, n_features))
        X[start:stop] = draws < probabilities[labels]
    rows = X[rng.choice(n_samples, n_components, replace=False)].astype(np.float64)
    start_probabilities = 0.25 + 0.5 * rows
    start_weights = np.full(n_components, 1.0 / n_components)
    return X, start_weights, start_probabilities


def numpy_fit(X, weights, probabilities, n_iter):
    """``n_iter`` vectorised numpy EM iterations: ``(weights, probs, bounds)``."""
    n_samples = X.shape[0]
    bounds = []
    for _ in range(n_iter):
        log_q = np.log1p(-probabilities)
        logits = np.log(probabilities) - log_q
        resp = X @ logits.T.astype(X.dtype)  # (N, K) log-densities ...
        resp += (np.log(weights) + log_q.sum(axis=1)).astype(X.dtype)
        top = resp.max(axis=1, keepdims=True)
        resp -= top
        np.exp(resp, out=resp)
        total = resp.sum(axis=1, keepdims=True)
        resp /= total  # ... now responsibilities, in place
        log_norm = top.sum(dtype=np.float64) + np.log(total).sum(dtype=np.float64)
        bounds.append(log_norm / n_samples)
        nk = resp.sum(axis=0, dtype=np.float64) + NK_OFFSET
        s1 = (resp.T @ X).astype(np.float64)
        probabilities = np.clip(
            s1 / nk[:, np.newaxis], MIN_PROBABILITY, 1 - MIN_PROBABILITY
        )
        weights = nk / nk.sum()
    return weights, probabilities, bounds


def emfast_fit(X, weights, probabilities, n_iter):
    """``n_iter`` EM iterations of emfast from the given parameters (warm start)."""
    from emfast.mixture.bernoulli import BernoulliMixture

    model = BernoulliMixture(len(weights), max_iter=n_iter, tol=0.0, warm_start=True)
    model.weights_, model.probabilities_ = weights.copy(), probabilities.copy()
    model.lower_bound_, model.converged_ = -np.inf, False
    model.n_features_in_ = X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        model.fit(X)
    return model.weights_, model.probabilities_, model.lower_bounds_


def one_sample(fit, X, weights, probabilities, n_iter):
    """``(T(1 + n_iter) - T(1)) / n_iter`` and the longer run's result."""
    begin = time.perf_counter()
    fit(X, weights, probabilities, 1)
    one = time.perf_counter() - begin
    begin = time.perf_counter()
    result = fit(X, weights, probabilities, 1 + n_iter)
    many = time.perf_counter() - begin
    return max(many - one, 0.0) / n_iter, result


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
        "| model | data | N | D | K | dtype | numpy (s) | emfast (s) | ratio | "
        "threads (numba / BLAS) | max abs. diff of probabilities | CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n_samples, n_features, n_components, dtype, kind in cases:
        X, weights, probabilities = make_problem(
            n_samples, n_features, n_components, dtype, kind
        )
        for fit in (numpy_fit, emfast_fit):  # compile / warm caches
            fit(X[:2000], weights, probabilities, 1)
        theirs, ours = [], []
        for _ in range(repeats):  # alternate: both see the same machine load
            seconds, (_, ref_probabilities, _) = one_sample(
                numpy_fit, X, weights, probabilities, n_iter
            )
            theirs.append(seconds)
            seconds, (_, our_probabilities, _) = one_sample(
                emfast_fit, X, weights, probabilities, n_iter
            )
            ours.append(seconds)
        theirs, ours = statistics.median(theirs), statistics.median(ours)
        diff = np.max(np.abs(our_probabilities - ref_probabilities))
        ratio = theirs / ours if ours > 0 else float("nan")
        print(
            f"| Bernoulli EM | {kind} ({X.mean():.0%} ones) | {n_samples:.0e} | "
            f"{n_features} | {n_components} | {dtype} | {theirs:.4f} | "
            f"{ours:.4f} | **{ratio:.1f}x** | {numba.get_num_threads()} / "
            f"{blas_threads()} on {os.cpu_count()} CPUs | {diff:.1e} | "
            f"{cpu_name()} |",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--case", action="append", default=[], help="N,D,K[,dtype[,dense|sparse]]"
    )
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.case:
        cases = []
        for text in args.case:
            parts = text.split(",")
            dtype = parts[3] if len(parts) > 3 else "float64"
            kind = parts[4] if len(parts) > 4 else "dense"
            cases.append(
                (int(float(parts[0])), int(parts[1]), int(parts[2]), dtype, kind)
            )
    elif args.quick:
        cases = [(20_000, 64, 16, "float64", "dense")]
    else:
        cases = [
            (1_000_000, 64, 16, "float64", "dense"),
            (1_000_000, 64, 16, "float32", "dense"),
            (100_000, 784, 16, "float32", "sparse"),
        ]
    run(cases, args.iterations, args.repeats)


if __name__ == "__main__":
    main()
