"""Side-by-side: emfast vs scikit-learn on the same data, start and threads.

For each case both libraries fit the same rows from the same initial parameters
(``weights_init``, ``means_init``, ``precisions_init``: no k-means, so only EM is
timed) in one process. When ``daal4py`` is installed (it comes with
``scikit-learn-intelex``), Intel oneDAL's ``em_gmm`` runs too, from the same
weights, means and covariances, for full and diagonal covariances (it has no
tied or spherical storage). The time per EM iteration is ``(T(1 + n) - T(1)) / n``
(which removes validation and set-up), median of ``--repeats`` runs. The extra
peak memory of a fit is measured in a fresh child process per library and case
(peak RSS during the fit minus RSS before it). Prints a markdown table of
ratios with the dtype, thread count and CPU.

    python benchmarks/compare.py                 # the standard table
    python benchmarks/compare.py --quick         # small sizes, a smoke test
    python benchmarks/compare.py --case 1e6,8,16,full,float64
    python benchmarks/compare.py --isa avx2      # AVX2 code for every library
    python benchmarks/compare.py --isa wide      # 512-bit vectors in numba's code too

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the environment
(the script re-runs itself without them) so that numpy and scikit-learn run
the CPU's own BLAS kernels; see benchmarks/_machine.py.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import _machine

    _machine.exec_native_if_needed()  # before numpy loads OpenBLAS

import numpy as np  # noqa: E402

STANDARD_CASES = [
    # (n_samples, n_features, n_components, covariance_type, dtype, what)
    (1_000_000, 2, 16, "full", "float64", "em"),
    (1_000_000, 2, 64, "full", "float64", "em"),
    (1_000_000, 8, 16, "full", "float64", "em"),
    (1_000_000, 8, 64, "full", "float64", "em"),
    (1_000_000, 32, 4, "full", "float64", "em"),
    (1_000_000, 32, 16, "full", "float64", "em"),
    (1_000_000, 32, 64, "full", "float64", "em"),
    (1_000_000, 8, 16, "diag", "float64", "em"),
    (1_000_000, 8, 16, "spherical", "float64", "em"),
    (1_000_000, 8, 16, "tied", "float64", "em"),
    (1_000_000, 8, 16, "full", "float32", "em"),
    (1_000_000, 32, 16, "full", "float32", "em"),
    (1_000_000, 8, 16, "full", "float64", "predict_proba"),
]
MEMORY_CASES = [(1_000_000, 8, 64, "full", "float64")]


def make_problem(n_samples, n_features, n_components, covariance_type, dtype, seed=0):
    """Blobs and a fixed, reasonable starting point for both libraries."""
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=3.0, size=(n_components, n_features))
    X = centers[rng.randint(n_components, size=n_samples)]
    X += rng.normal(size=X.shape)
    X = X.astype(dtype)
    means = X[rng.choice(n_samples, n_components, replace=False)].astype(np.float64)
    precisions = {
        "full": np.repeat(np.eye(n_features)[None], n_components, axis=0),
        "tied": np.eye(n_features),
        "diag": np.ones((n_components, n_features)),
        "spherical": np.ones(n_components),
    }[covariance_type]
    start = dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=means,
        precisions_init=precisions,
        covariance_type=covariance_type,
        tol=0.0,
    )
    return X, start


def estimator(library):
    if library == "emfast":
        from emfast import GaussianMixture
    else:
        from sklearn.mixture import GaussianMixture
    return GaussianMixture


def _fit_seconds(cls, X, n_components, start, max_iter):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        begin = time.perf_counter()
        model = cls(n_components, max_iter=max_iter, **start).fit(X)
        return time.perf_counter() - begin, model


def iteration_seconds(library, X, n_components, start, n_iter, repeats, best=False):
    """Seconds per EM iteration: the median over ``repeats`` of the difference
    of fits with ``1 + n_iter`` and 1 iterations; with ``best``, the difference
    of the fastest of each (the figure least disturbed by other processes on a
    shared machine)."""
    cls = estimator(library)
    _fit_seconds(cls, X[:2000], n_components, start, 1)  # compile / warm caches
    ones, manys = [], []
    for _ in range(repeats):
        ones.append(_fit_seconds(cls, X, n_components, start, 1)[0])
        many, model = _fit_seconds(cls, X, n_components, start, 1 + n_iter)
        manys.append(many)
    if best:
        return max(min(manys) - min(ones), 0.0) / n_iter, model
    samples = [max(m - o, 0.0) / n_iter for m, o in zip(manys, ones)]
    return statistics.median(samples), model


def daal_available():
    try:
        import daal4py  # noqa: F401
    except ImportError:
        return False
    return True


_DAAL_STORAGE = {"full": "full", "diag": "diagonal"}


def daal_iteration_seconds(X, n_components, start, n_iter, repeats):
    """oneDAL's EM per iteration from ``start``; ``(nan, None)`` where unsupported.

    oneDAL takes covariances (not precisions); its ``regularizationFactor`` is
    set to scikit-learn's default ``reg_covar``.
    """
    import daal4py

    storage = _DAAL_STORAGE.get(start["covariance_type"])
    if storage is None:
        return float("nan"), None
    precisions = start["precisions_init"]
    if storage == "full":
        covariances = [np.linalg.inv(p).astype(X.dtype) for p in precisions]
    else:
        covariances = [(1.0 / p)[None, :].astype(X.dtype) for p in precisions]
    weights = start["weights_init"][None, :].astype(X.dtype)
    means = start["means_init"].astype(X.dtype)

    def fit_seconds(max_iter):
        algorithm = daal4py.em_gmm(
            nComponents=n_components,
            fptype="float" if X.dtype == np.float32 else "double",
            maxIterations=max_iter,
            accuracyThreshold=0.0,
            regularizationFactor=1e-6,
            covarianceStorage=storage,
        )
        begin = time.perf_counter()
        result = algorithm.compute(X, weights, means, covariances)
        return time.perf_counter() - begin, result

    fit_seconds(1)  # warm caches
    samples = []
    for _ in range(repeats):
        one, _ = fit_seconds(1)
        many, result = fit_seconds(1 + n_iter)
        samples.append(max(many - one, 0.0) / n_iter)
    return statistics.median(samples), result


def predict_proba_seconds(library, X, n_components, start, repeats):
    cls = estimator(library)
    _, model = _fit_seconds(cls, X, n_components, start, 1)
    model.predict_proba(X[:2000])
    samples = []
    for _ in range(repeats):
        begin = time.perf_counter()
        model.predict_proba(X)
        samples.append(time.perf_counter() - begin)
    return statistics.median(samples), model


def _status_bytes(field):
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_peak_memory(library, case):
    """Run in a fresh process: extra peak RSS (bytes) of one 2-iteration fit."""
    n_samples, n_features, n_components, covariance_type, dtype = case
    X, start = make_problem(n_samples, n_features, n_components, covariance_type, dtype)
    cls = estimator(library)
    _fit_seconds(cls, X[:2000], n_components, start, 1)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    before = _status_bytes("VmRSS")
    _fit_seconds(cls, X, n_components, start, 2)
    return _status_bytes("VmHWM") - before


def peak_memory(library, case):
    result = subprocess.run(
        [sys.executable, __file__, "--child-memory", library, json.dumps(case)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip().splitlines()[-1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(cases, memory_cases, n_iter, repeats):
    import numba
    import sklearn

    import emfast
    from benchmarks import _machine

    threads = numba.get_num_threads()
    daal = daal_available()
    machine = (
        f"emfast {emfast.__version__}, scikit-learn {sklearn.__version__}, "
        f"numba {numba.__version__}, numpy {np.__version__}; {threads} "
        f"threads (numba) on {os.cpu_count()} CPUs: {cpu_name()}"
    )
    print(machine)
    print(_machine.describe_line(_machine.describe()))
    print(
        f"median of {repeats} runs; EM time per iteration over {n_iter} "
        "iterations from identical initial parameters\n"
    )
    peer = " oneDAL (s) | emfast vs oneDAL |" if daal else ""
    print(
        "| case | N | D | K | covariance | dtype | scikit-learn (s) | emfast (s) "
        f"| ratio |{peer} max rel. diff of means |"
    )
    print(
        "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if daal else "") + "---|"
    )
    rows = []
    for n_samples, n_features, n_components, covariance_type, dtype, what in cases:
        X, start = make_problem(
            n_samples, n_features, n_components, covariance_type, dtype
        )
        results = {}
        for library in ("scikit-learn", "emfast"):
            if what == "em":
                results[library] = iteration_seconds(
                    library, X, n_components, start, n_iter, repeats
                )
            else:
                results[library] = predict_proba_seconds(
                    library, X, n_components, start, repeats
                )
        theirs, reference = results["scikit-learn"]
        ours, model = results["emfast"]
        diff = np.max(np.abs(model.means_ - reference.means_)) / np.max(
            np.abs(reference.means_)
        )
        ratio = theirs / ours if ours > 0 else float("nan")  # noise at tiny sizes
        row = dict(
            case=what,
            n_samples=n_samples,
            n_features=n_features,
            n_components=n_components,
            covariance_type=covariance_type,
            dtype=dtype,
            sklearn=theirs,
            emfast=ours,
            ratio=ratio,
        )
        peer = ""
        if daal:
            onedal = float("nan")
            if what == "em":
                onedal, _ = daal_iteration_seconds(
                    X, n_components, start, n_iter, repeats
                )
            row.update(onedal=onedal, ratio_onedal=onedal / ours)
            if onedal == onedal:
                peer = f" {onedal:.4f} | {onedal / ours:.2f}x |"
            else:  # no oneDAL storage for this covariance type, or not EM
                peer = " – | – |"
        rows.append(row)
        print(
            f"| {what} | {n_samples:.0e} | {n_features} | {n_components} | "
            f"{covariance_type} | {dtype} | {theirs:.4f} | {ours:.4f} | "
            f"**{ratio:.1f}x** |{peer} {diff:.1e} |",
            flush=True,
        )
    memory = []
    if memory_cases:
        print(
            "\n| extra peak memory of fit | N | D | K | covariance | dtype "
            "| scikit-learn | emfast |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for case in memory_cases:
            theirs = peak_memory("scikit-learn", case)
            ours = peak_memory("emfast", case)
            n_samples, n_features, n_components, covariance_type, dtype = case
            memory.append(
                dict(case=list(case), sklearn_bytes=theirs, emfast_bytes=ours)
            )
            print(
                f"| fit, 2 iterations | {n_samples:.0e} | {n_features} | "
                f"{n_components} | {covariance_type} | {dtype} | "
                f"{theirs / 2**20:.0f} MB | {ours / 2**20:.1f} MB |",
                flush=True,
            )
    return {
        "machine": machine,
        "repeats": repeats,
        "iterations": n_iter,
        "rows": rows,
        "memory": memory,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        help="N,D,K,covariance,dtype[,em|predict_proba]",
    )
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--isa",
        choices=["native", "avx2", "wide"],
        default="native",
        help="avx2: AVX2 code for numba, numpy and OpenBLAS alike; wide: "
        "512-bit vectors in numba's code (see benchmarks/_machine.py)",
    )
    parser.add_argument("--child-memory", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.isa != "native":  # run again in that environment, pass the output on
        from benchmarks import _machine

        flags = (f"--isa={args.isa}", "--isa", args.isa)
        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a not in flags]
        child = [os.path.abspath(__file__), *rest]
        print(_machine.run_child(args.isa, child), end="")
        return

    if args.child_memory:
        library, case = args.child_memory
        print(child_peak_memory(library, tuple(json.loads(case))))
        return
    if args.case:
        cases = []
        for text in args.case:
            parts = text.split(",")
            what = parts[5] if len(parts) > 5 else "em"
            cases.append(
                (
                    int(float(parts[0])),
                    int(parts[1]),
                    int(parts[2]),
                    parts[3],
                    parts[4],
                    what,
                )
            )
        memory = []
    elif args.quick:
        cases = [
            (20_000, 8, 16, "full", "float64", "em"),
            (20_000, 8, 16, "diag", "float32", "em"),
            (20_000, 8, 16, "full", "float64", "predict_proba"),
        ]
        memory = [(50_000, 8, 16, "full", "float64")]
    else:
        cases, memory = STANDARD_CASES, MEMORY_CASES
    results = run(
        cases, [] if args.no_memory else memory, args.iterations, args.repeats
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
