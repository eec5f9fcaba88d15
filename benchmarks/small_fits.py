"""Whole small fits, emfast against scikit-learn: where per-fit overhead decides.

A default fit (k-means initialisation, EM to convergence) at N = 1e4, D = 8,
K = 8 by default, one fit per seed, median over the seeds. Each library runs its
fits as one block after a pause of ``--pause`` seconds, and the blocks alternate
``--rounds`` times. The pause matters on a small machine: after a parallel call,
OpenBLAS worker threads spin for a while before they sleep (and OpenMP threads
too), and a fit that starts during the spin shares its cores with them. Fits
interleaved one by one measured emfast at 15-16 ms instead of 7 ms right after
scikit-learn's (Intel Xeon, 2 cores), and scikit-learn up to 2x slower right
after emfast's.

Every pair of fits must take the same number of iterations (same start, same EM
path), or the script stops.

    python benchmarks/small_fits.py
    python benchmarks/small_fits.py --shape 2000,4,4 --seeds 30
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _machine  # noqa: E402

_machine.exec_native_if_needed()


def _fit(cls, X, n_components, seed):
    begin = time.perf_counter()
    model = cls(n_components, random_state=seed).fit(X)
    return time.perf_counter() - begin, model.n_iter_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="10000,8,8", help="N,D,K")
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pause", type=float, default=1.0)
    args = parser.parse_args(argv)

    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from benchmarks.compare import make_problem
    from emfast import GaussianMixture

    n_samples, n_features, n_components = map(int, map(float, args.shape.split(",")))
    X, _ = make_problem(n_samples, n_features, n_components, "full", "float64")
    libraries = {"emfast": GaussianMixture, "scikit-learn": SkGaussianMixture}
    seeds = range(args.seeds)
    iterations = {}
    for name, cls in libraries.items():  # compile, load caches, fill iterations
        iterations[name] = [_fit(cls, X, n_components, seed)[1] for seed in seeds]
    if iterations["emfast"] != iterations["scikit-learn"]:
        raise SystemExit(f"different EM paths: {iterations}")
    print(_machine.describe_line(_machine.describe()))
    print(
        f"N = {n_samples}, D = {n_features}, K = {n_components}, full, float64; "
        f"{args.seeds} seeds, median per block"
    )
    ratios = []
    for round_ in range(args.rounds):
        medians = {}
        for name, cls in libraries.items():
            time.sleep(args.pause)
            times = [_fit(cls, X, n_components, seed)[0] for seed in seeds]
            medians[name] = statistics.median(times)
        ratio = medians["scikit-learn"] / medians["emfast"]
        ratios.append(ratio)
        print(
            f"round {round_ + 1}: emfast {medians['emfast'] * 1e3:.2f} ms, "
            f"scikit-learn {medians['scikit-learn'] * 1e3:.2f} ms, ratio {ratio:.2f}"
        )
    print(f"median ratio {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
