"""Side-by-side: emfast vs scikit-learn BayesianGaussianMixture, same data and start.

Both libraries fit the same rows in one process from the same initial
parameters: ``init_params='random_from_data'`` with the same ``random_state``
draws the same rows in both (and costs no k-means). The time per variational
iteration is ``(T(1 + n) - T(1)) / n``, which removes validation, the priors and
the initialisation (emfast runs 5 n iterations: its n would last under a second
and drown in timer noise). The libraries alternate run by run, so both see the
same load on a shared machine; the table gives the median of ``--repeats`` runs
and, as a check on load noise, the ratio of the fastest runs. Prints a markdown
table with the ratio, the thread count and the CPU.

    python benchmarks/compare_bayesian.py              # N=1e6, D=8, K=16, full
    python benchmarks/compare_bayesian.py --quick      # small sizes, a smoke test
    python benchmarks/compare_bayesian.py --case 1e6,8,16,diag,float32
"""

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

STANDARD_CASES = [
    # (n_samples, n_features, n_components, covariance_type, dtype)
    (1_000_000, 8, 16, "full", "float64"),
]
QUICK_CASES = [
    (20_000, 8, 16, "full", "float64"),
    (20_000, 8, 16, "tied", "float32"),
]


def make_data(n_samples, n_features, n_components, dtype, seed=0):
    """Gaussian blobs (the recipe of benchmarks/compare.py)."""
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=3.0, size=(n_components, n_features))
    X = centers[rng.randint(n_components, size=n_samples)]
    X += rng.normal(size=X.shape)
    return X.astype(dtype)


def estimator(library):
    if library == "emfast":
        from emfast.mixture.bayesian import BayesianGaussianMixture
    else:
        from sklearn.mixture import BayesianGaussianMixture
    return BayesianGaussianMixture


def _fit_seconds(cls, X, settings, max_iter):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        begin = time.perf_counter()
        model = cls(max_iter=max_iter, **settings).fit(X)
        return time.perf_counter() - begin, model


def iteration_seconds(library, X, settings, n_iter):
    """Seconds per iteration of one run, and the model after ``1 + n_iter``."""
    cls = estimator(library)
    one, _ = _fit_seconds(cls, X, settings, 1)
    many, model = _fit_seconds(cls, X, settings, 1 + n_iter)
    return max(many - one, 0.0) / n_iter, model


def compare(X, settings, n_iter, repeats):
    """Per-iteration seconds of both libraries, alternating run by run."""
    for library in ("scikit-learn", "emfast"):
        _fit_seconds(estimator(library), X[:2000], settings, 1)  # compile / warm
    samples = {"scikit-learn": [], "emfast": []}
    models = {}
    for _ in range(repeats):
        for library, n in (("scikit-learn", n_iter), ("emfast", 5 * n_iter)):
            seconds, models[library] = iteration_seconds(library, X, settings, n)
            samples[library].append(seconds)
    return samples, models


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(cases, n_iter, repeats):
    import numba
    import sklearn

    import emfast

    threads = numba.get_num_threads()
    print(
        f"emfast {emfast.__version__}, scikit-learn {sklearn.__version__}, "
        f"numba {numba.__version__}, numpy {np.__version__}; {threads} threads "
        f"(numba) on {os.cpu_count()} CPUs: {cpu_name()}"
    )
    print(
        f"median of {repeats} alternating runs; BayesianGaussianMixture time per "
        f"iteration over {n_iter} (scikit-learn) and {5 * n_iter} (emfast) "
        "iterations from identical initial parameters\n"
    )
    print(
        "| case | N | D | K | covariance | dtype | threads | scikit-learn (s) "
        "| emfast (s) | ratio | ratio of fastest runs | max rel. diff of means "
        "| rel. diff of bound |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n_samples, n_features, n_components, covariance_type, dtype in cases:
        X = make_data(n_samples, n_features, n_components, dtype)
        settings = dict(
            n_components=n_components,
            covariance_type=covariance_type,
            init_params="random_from_data",
            random_state=0,
            tol=0.0,
        )
        samples, models = compare(X, settings, n_iter, repeats)
        theirs = statistics.median(samples["scikit-learn"])
        ours = statistics.median(samples["emfast"])
        # the same start: emfast after as many iterations as scikit-learn
        model = _fit_seconds(estimator("emfast"), X, settings, 1 + n_iter)[1]
        reference = models["scikit-learn"]
        diff = np.max(np.abs(model.means_ - reference.means_)) / np.max(
            np.abs(reference.means_)
        )
        bound = float(np.ravel(reference.lower_bound_)[0])
        bound_diff = abs(model.lower_bound_ - bound) / abs(bound)
        ratio = theirs / ours if ours > 0 else float("nan")  # noise at tiny sizes
        fastest = min(samples["emfast"])
        best_ratio = min(samples["scikit-learn"]) / fastest if fastest > 0 else ratio
        rows.append(
            dict(
                n_samples=n_samples,
                n_features=n_features,
                n_components=n_components,
                covariance_type=covariance_type,
                dtype=dtype,
                threads=threads,
                sklearn=theirs,
                emfast=ours,
                ratio=ratio,
                best_ratio=best_ratio,
            )
        )
        print(
            f"| variational iteration | {n_samples:.0e} | {n_features} | "
            f"{n_components} | {covariance_type} | {dtype} | {threads} | "
            f"{theirs:.4f} | {ours:.4f} | **{ratio:.1f}x** | {best_ratio:.1f}x | "
            f"{diff:.1e} | {bound_diff:.1e} |",
            flush=True,
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--case", action="append", default=[], help="N,D,K,covariance,dtype"
    )
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.case:
        cases = []
        for text in args.case:
            n, d, k, covariance_type, dtype = text.split(",")
            cases.append((int(float(n)), int(d), int(k), covariance_type, dtype))
    elif args.quick:
        cases = QUICK_CASES
    else:
        cases = STANDARD_CASES
    run(cases, args.iterations, args.repeats)


if __name__ == "__main__":
    main()
