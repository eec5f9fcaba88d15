"""Tile kernel or GEMM kernel: which is faster per number of features (full covariance).

For each D and K both kernels run one pass over the same rows, interleaved in one
process, and the best of ``--repeats`` times is kept (the minimum is the figure
least disturbed by other processes on a shared machine). Prints one row per
(D, K) with both times in ns per row and component and their ratio; the first D
from which GEMM wins at every K is the value for
``emfast.mixture.gaussian._kernels.GEMM_MIN_FEATURES``.

    python benchmarks/switch_point.py                      # D = 2..16, K = 4, 16, 64
    python benchmarks/switch_point.py --features 8,12,16 --threads 1
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _machine  # noqa: E402

_machine.exec_native_if_needed()

import numpy as np  # noqa: E402


def pass_seconds(kind, X, params, repeats):
    """Best time of ``repeats`` passes of kernel ``kind`` over ``X``."""
    from emfast.mixture.gaussian import _kernels as _gaussian_kernels
    from emfast.mixture.gaussian._pass import gaussian_pass
    from emfast.rows import ArrayRows

    original = _gaussian_kernels.kernel_kind
    _gaussian_kernels.kernel_kind = lambda *args: kind
    try:
        data = ArrayRows(X)
        gaussian_pass(data, params, "full")  # compile, and the data mean
        best = float("inf")
        for _ in range(repeats):
            begin = time.perf_counter()
            gaussian_pass(data, params, "full")
            best = min(best, time.perf_counter() - begin)
        return best
    finally:
        _gaussian_kernels.kernel_kind = original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default=",".join(map(str, range(2, 17))))
    parser.add_argument("--components", default="4,16,64")
    parser.add_argument("--samples", type=float, default=2e5)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)

    import emfast
    from benchmarks.compare import make_problem

    with emfast.num_threads(args.threads):
        print(_machine.describe_line(_machine.describe()))
        print(f"N = {args.samples:.0e}, {args.dtype}, best of {args.repeats} passes\n")
        print("| D | K | tile ns/row·comp | GEMM ns/row·comp | GEMM / tile |")
        print("|---|---|---|---|---|")
        for n_features in map(int, args.features.split(",")):
            for n_components in map(int, args.components.split(",")):
                X, start = make_problem(
                    int(args.samples), n_features, n_components, "full", args.dtype
                )
                params = (
                    np.log(start["weights_init"]),
                    start["means_init"],
                    start["precisions_init"],
                )
                scale = 1e9 / (X.shape[0] * n_components)
                # interleave the two kernels so that both see the same load
                tile, gemm = float("inf"), float("inf")
                for _ in range(3):
                    tile = min(tile, pass_seconds("full_tile", X, params, args.repeats))
                    gemm = min(gemm, pass_seconds("full_gemm", X, params, args.repeats))
                print(
                    f"| {n_features} | {n_components} | {tile * scale:.2f} | "
                    f"{gemm * scale:.2f} | {gemm / tile:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
