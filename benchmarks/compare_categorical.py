"""Side-by-side: CategoricalMixture vs a vectorised numpy EM, same data and start.

scikit-learn has no mixture of categoricals, so the baseline is a numpy EM of
the same model written as fast as numpy and scipy allow, in float64 as emfast
computes (it reads float32 codes but sums in float64). The codes are one-hot
encoded once, before any timing (as a user would encode them once for several
fits), as a sparse (N, sum(n_levels)) matrix with one entry per row and column;
each iteration then takes

- the log-densities as one sparse product with the log-probabilities
  (``one_hot @ log(table).T + log(weights)``), with the log-sum-exp over the
  (N, K) array in place;
- the statistics as one sparse product, ``counts = one_hot.T @ resp``;
- the same M-step as emfast: ``m = counts / (nk + 10 eps)``, mixed with the
  uniform distribution, ``p = (m + smoothing) / (sum m + smoothing n_levels)``
  per column.

``--baseline indexing`` uses pure numpy instead (one gather of the (N, K)
log-probabilities per column, one ``bincount`` per column for the statistics),
slower at every size measured; so is a dense one-hot matrix with BLAS products
(which also needs ``N * sum(n_levels)`` floats).

Both run in this process from identical initial weights and probabilities
(emfast through a warm start), with the threads they normally use: numba's for
emfast; numpy and scipy.sparse run single-threaded here. The time per EM
iteration is ``(T(1 + n) - T(1)) / n`` (which removes emfast's checks of the
codes), the median of ``--repeats`` runs (``--best``: from the
fastest runs); numpy and emfast alternate within each repeat. Each row of
the table is checked: the lower bound of every iteration (mean log-likelihood,
float64 in both) must agree to 1e-8 relative, and so must the weights and
probabilities after the last iteration (to float32 rounding for float32 codes,
whose fitted arrays emfast returns in float32); otherwise the script raises
``AssertionError``.

Columns have 2 to 10 levels (drawn once from a fixed seed). ``OPENBLAS_CORETYPE``
and ``OPENBLAS_L2_SIZE`` are removed from the environment (the script re-runs
itself without them); see benchmarks/_machine.py.

    python benchmarks/compare_categorical.py           # N=1e6, D=10/40, K=4/16
    python benchmarks/compare_categorical.py --quick   # N=2e4, a smoke test
    python benchmarks/compare_categorical.py --case 1e6,40,16,float32
    python benchmarks/compare_categorical.py --json results.json
"""

import argparse
import functools
import json
import os
import statistics
import sys
import time
import warnings

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import _machine

    _machine.exec_native_if_needed()  # before numpy loads OpenBLAS

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402

SMOOTHING = 1e-10  # emfast's default, given to both
NK_OFFSET = 10 * np.finfo(np.float64).eps  # as emfast.mixture._engine.weights
MIN_LEVELS, MAX_LEVELS = 2, 10
BOUND_RTOL = 1e-8
STANDARD_CASES = [  # (n_samples, n_features, n_components, dtype)
    (1_000_000, 10, 4, "float64"),
    (1_000_000, 10, 16, "float64"),
    (1_000_000, 40, 4, "float64"),
    (1_000_000, 40, 16, "float64"),
    (1_000_000, 40, 16, "float32"),
]
QUICK_CASES = [(20_000, 10, 4, "float64"), (20_000, 40, 16, "float32")]


def make_problem(n_samples, n_features, n_components, dtype, seed=0):
    """Codes from a random latent class model, and a start for both.

    Returns ``(X, n_levels, weights, probabilities)``: the start has equal
    weights and, for component k, probabilities halfway between the one-hot
    codes of a random row and the uniform distribution.
    """
    rng = np.random.RandomState(seed)
    n_levels = rng.randint(MIN_LEVELS, MAX_LEVELS + 1, size=n_features)
    true_weights = rng.dirichlet(np.full(n_components, 5.0))
    cumulative = [  # per column, (K, n_levels[j]) cumulative probabilities
        np.cumsum(rng.dirichlet(np.full(levels, 0.5), size=n_components), axis=1)
        for levels in n_levels
    ]
    X = np.empty((n_samples, n_features), dtype=dtype)
    for start in range(0, n_samples, 100_000):  # bounded temporaries
        stop = min(start + 100_000, n_samples)
        labels = rng.choice(n_components, size=stop - start, p=true_weights)
        for j, levels in enumerate(n_levels):
            draws = rng.uniform(size=(stop - start, 1))
            codes = (draws > cumulative[j][labels]).sum(axis=1)
            X[start:stop, j] = np.minimum(codes, levels - 1)
    rows = X[rng.choice(n_samples, n_components, replace=False)].astype(np.intp)
    probabilities = [
        0.5 * (rows[:, j, np.newaxis] == np.arange(levels)) + 0.5 / levels
        for j, levels in enumerate(n_levels)
    ]
    weights = np.full(n_components, 1.0 / n_components)
    return X, n_levels, weights, probabilities


# ------------------------------------------------------------ numpy baseline
class SparseOneHot:
    """The codes as a sparse (N, sum(n_levels)) one-hot matrix (CSR)."""

    def __init__(self, X, offsets):
        n_samples, n_features = X.shape
        self.n_samples = n_samples
        columns = (X.astype(np.intp) + offsets[:-1]).ravel()
        row_starts = np.arange(0, n_samples * n_features + 1, n_features)
        self.matrix = scipy.sparse.csr_matrix(
            (np.ones(columns.shape[0]), columns, row_starts),
            shape=(n_samples, offsets[-1]),
        )

    def log_densities(self, log_table):
        """``sum_j log_table[:, offsets[j] + x_j]`` per row: (N, K)."""
        return self.matrix @ log_table.T

    def counts(self, resp):
        """``sum_i resp[i] [x_ij = l]`` in the table's layout: (K, sum(n_levels))."""
        return (self.matrix.T @ resp).T


class IndexedCodes:
    """The codes as table columns, one contiguous array per column (pure numpy)."""

    def __init__(self, X, offsets):
        self.n_samples = X.shape[0]
        self.columns = np.ascontiguousarray((X.astype(np.intp) + offsets[:-1]).T)
        self.width = int(offsets[-1])

    def log_densities(self, log_table):
        log_table_t = np.ascontiguousarray(log_table.T)  # gather whole K-rows
        total = log_table_t[self.columns[0]]
        for column in self.columns[1:]:  # one (N, K) gather per column
            total += log_table_t[column]
        return total

    def counts(self, resp):
        n_components = resp.shape[1]
        flat_resp = resp.ravel()
        counts = np.zeros(self.width * n_components)
        for column in self.columns:  # bins (level, k): one bincount per column
            bins = column[:, np.newaxis] * n_components + np.arange(n_components)
            counts += np.bincount(bins.ravel(), flat_resp, self.width * n_components)
        return counts.reshape(self.width, n_components).T


ENCODINGS = {"sparse": SparseOneHot, "indexing": IndexedCodes}


def encode(X, n_levels, baseline="sparse"):
    """The codes of ``X`` as the numpy EM reads them (``--baseline``)."""
    return ENCODINGS[baseline](X, np.concatenate([[0], np.cumsum(n_levels)]))


def numpy_fit(codes, n_levels, weights, probabilities, n_iter):
    """``n_iter`` vectorised numpy EM iterations on encoded rows (see
    :func:`encode`): ``(weights, probabilities, bounds)``."""
    n_samples = codes.n_samples
    offsets = np.concatenate([[0], np.cumsum(n_levels)])
    table = np.concatenate(probabilities, axis=1)  # (K, sum(n_levels))
    bounds = []
    for _ in range(n_iter):
        resp = codes.log_densities(np.log(table))  # (N, K) log-densities ...
        resp += np.log(weights)
        top = resp.max(axis=1, keepdims=True)
        resp -= top
        np.exp(resp, out=resp)
        total = resp.sum(axis=1, keepdims=True)
        resp /= total  # ... now responsibilities, in place
        log_norm = top.sum() + np.log(total).sum()
        bounds.append(log_norm / n_samples)
        nk = resp.sum(axis=0) + NK_OFFSET
        ratios = codes.counts(resp) / nk[:, np.newaxis]
        column_sums = np.add.reduceat(ratios, offsets[:-1], axis=1)
        denominators = np.repeat(column_sums + SMOOTHING * n_levels, n_levels, axis=1)
        table = (ratios + SMOOTHING) / denominators
        weights = nk / nk.sum()
    return weights, np.split(table, offsets[1:-1], axis=1), bounds


def emfast_fit(X, n_levels, weights, probabilities, n_iter):
    """``n_iter`` EM iterations of emfast from the given parameters (warm start)."""
    from emfast import CategoricalMixture

    model = CategoricalMixture(
        len(weights), smoothing=SMOOTHING, max_iter=n_iter, tol=0.0, warm_start=True
    )
    model.weights_ = weights.copy()
    model.probabilities_ = [table.copy() for table in probabilities]
    model.n_levels_ = np.asarray(n_levels, dtype=np.int64)
    model.lower_bound_, model.converged_ = -np.inf, False
    model.n_features_in_ = X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 on purpose
        model.fit(X)
    return model.weights_, model.probabilities_, model.lower_bounds_


# ------------------------------------------------------------------- check
def max_relative_diff(ours, reference):
    """The largest ``|ours - reference| / |reference|`` over all entries."""
    ours = np.concatenate([np.ravel(a) for a in ours]).astype(np.float64)
    reference = np.concatenate([np.ravel(a) for a in reference])
    return float(np.max(np.abs(ours - reference) / np.abs(reference)))


def check_same(ours, reference, dtype):
    """Raise ``AssertionError`` unless emfast's run reproduces the numpy EM.

    Returns ``(bound_diff, parameter_diff)``, the largest relative differences.
    """
    our_weights, our_probabilities, our_bounds = ours
    ref_weights, ref_probabilities, ref_bounds = reference
    if len(our_bounds) != len(ref_bounds):
        raise AssertionError(
            f"emfast ran {len(our_bounds)} iterations, numpy {len(ref_bounds)}"
        )
    bound_diff = max_relative_diff([our_bounds], [ref_bounds])
    parameter_diff = max_relative_diff(
        [our_weights, *our_probabilities], [ref_weights, *ref_probabilities]
    )
    # float32 codes give float32 fitted arrays: the last M-step rounded once
    parameter_rtol = max(BOUND_RTOL, float(np.finfo(dtype).eps))
    if not (bound_diff <= BOUND_RTOL and parameter_diff <= parameter_rtol):
        raise AssertionError(
            f"emfast differs from the numpy EM from the same start: lower bounds "
            f"by {bound_diff:.1e} relative (allowed {BOUND_RTOL:.0e}), weights "
            f"and probabilities by {parameter_diff:.1e} (allowed "
            f"{parameter_rtol:.1e})"
        )
    return bound_diff, parameter_diff


# ------------------------------------------------------------------- timing
def one_sample(fit, n_iter):
    """``(T(1), T(1 + n_iter))`` of ``fit(n)`` and the longer run's result."""
    begin = time.perf_counter()
    fit(1)
    one = time.perf_counter() - begin
    begin = time.perf_counter()
    result = fit(1 + n_iter)
    many = time.perf_counter() - begin
    return (one, many), result


def per_iteration(samples, n_iter, best):
    """Seconds per iteration from ``(T(1), T(1 + n_iter))`` pairs: the median of
    ``(T(1 + n) - T(1)) / n``, or with ``best`` the difference of the fastest of
    each (the figure least disturbed by other processes on a shared machine)."""
    ones, manys = zip(*samples)
    if best:
        return max(min(manys) - min(ones), 0.0) / n_iter
    return statistics.median(max(m - o, 0.0) / n_iter for o, m in samples)


def blas_threads():
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(counts, default=1)


def run(cases, n_iter, repeats, baseline, best=False):
    import numba

    import emfast
    from benchmarks import _machine

    machine = _machine.describe()
    load_before = os.getloadavg()
    print(
        f"emfast {emfast.__version__}, numba {numba.__version__}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}; baseline: numpy EM with "
        f"{'a sparse one-hot matrix' if baseline == 'sparse' else 'numpy indexing'}"
    )
    print(_machine.describe_line(machine))
    print(
        f"load average {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}; {'best' if best else 'median'} of {repeats} runs, "
        "time per EM iteration "
        f"over {n_iter} iterations from identical initial parameters; columns of "
        f"{MIN_LEVELS} to {MAX_LEVELS} levels\n"
    )
    print(
        "| model | N | D | levels | K | dtype | numpy (s) | emfast (s) | ratio | "
        "threads (numba / BLAS) | max rel. diff (bounds / parameters) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n_samples, n_features, n_components, dtype in cases:
        X, n_levels, weights, probabilities = make_problem(
            n_samples, n_features, n_components, dtype
        )
        start = (n_levels, weights, probabilities)
        numpy_fit(encode(X[:2000], n_levels, baseline), *start, 1)  # warm caches
        emfast_fit(X[:2000], *start, 1)
        codes = encode(X, n_levels, baseline)  # once: a user encodes once
        theirs_fit = functools.partial(numpy_fit, codes, *start)
        ours_fit = functools.partial(emfast_fit, X, *start)
        theirs, ours = [], []
        for _ in range(repeats):  # alternate: both see the same machine load
            times, reference = one_sample(theirs_fit, n_iter)
            theirs.append(times)
            times, result = one_sample(ours_fit, n_iter)
            ours.append(times)
            bound_diff, parameter_diff = check_same(result, reference, dtype)
        samples = dict(numpy_samples=theirs, emfast_samples=ours)
        theirs = per_iteration(theirs, n_iter, best)
        ours = per_iteration(ours, n_iter, best)
        ratio = theirs / ours if ours > 0 else float("nan")  # noise at tiny sizes
        levels = int(np.sum(n_levels))
        rows.append(
            dict(
                n_samples=n_samples,
                n_features=n_features,
                n_levels_total=levels,
                n_components=n_components,
                dtype=dtype,
                numpy=theirs,
                emfast=ours,
                ratio=ratio,
                bound_rel_diff=bound_diff,
                parameter_rel_diff=parameter_diff,
                **samples,
            )
        )
        print(
            f"| categorical EM | {n_samples:.0e} | {n_features} | {levels} | "
            f"{n_components} | {dtype} | {theirs:.4f} | {ours:.4f} | "
            f"**{ratio:.1f}x** | {numba.get_num_threads()} / {blas_threads()} on "
            f"{os.cpu_count()} CPUs | {bound_diff:.1e} / {parameter_diff:.1e} |",
            flush=True,
        )
    load_after = os.getloadavg()
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in load_after)}")
    return {
        "machine": machine,
        "machine_line": _machine.describe_line(machine),
        "baseline": baseline,
        "load_average_before": list(load_before),
        "load_average_after": list(load_after),
        "repeats": repeats,
        "iterations": n_iter,
        "statistic": "best" if best else "median",
        "rows": rows,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--case", action="append", default=[], help="N,D,K[,dtype]")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--baseline",
        choices=sorted(ENCODINGS),
        default="sparse",
        help="numpy EM on a sparse one-hot matrix (default) or on numpy indexing",
    )
    parser.add_argument(
        "--best",
        action="store_true",
        help="fastest runs instead of the median (for a shared machine)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.case:
        cases = []
        for text in args.case:
            parts = text.split(",")
            dtype = parts[3] if len(parts) > 3 else "float64"
            cases.append((int(float(parts[0])), int(parts[1]), int(parts[2]), dtype))
    elif args.quick:
        cases = QUICK_CASES
    else:
        cases = STANDARD_CASES
    results = run(cases, args.iterations, args.repeats, args.baseline, args.best)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
