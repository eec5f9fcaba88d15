"""Roofline: emfast's EM iterations against the machine's matrix-multiply rate.

Each case times one EM iteration of scikit-learn and of emfast from the same start
(as ``compare.py``) and relates emfast's to the arithmetic of one pass over the
data, counted per row and component (useful flops only; ``exp``, the row maxima
and the normalisation of the responsibilities are not counted):

- ``full``: ``2 D(D+1) + 3 D + 1``: the two triangular products, ``(x - mu) U`` of
  the log-density and ``sum r d d^T`` of the statistics (D(D+1)/2 multiply-adds
  each), 3 D for the differences, the squared distance and the first moments,
  1 for the responsibility sum;
- ``diag`` and ``spherical``: ``7 D + 1``, the same with each triangle cut to
  its diagonal (2 D flops each);
- ``tied``: ``D(D+1) / K + 4 D + 1``: one triangular product per row, shared by
  the K components, then 2 D for the distance in the projected space and 2 D for
  the first moments, and 1.

Per case: seconds per iteration of both libraries and their ratio, emfast's
GFLOP/s (flops of a pass / seconds per iteration), numpy's float64 or float32
matrix-multiply GFLOP/s measured just before the case in the same process, the
efficiency (their ratio), nanoseconds per row and component, and the CPU with
the code paths each library took. Both modes of :mod:`benchmarks._machine` run
by default (``native`` and ``avx2``), each in a child process; ``--mode wide``
runs the native code with 512-bit vectors in numba's loops.

    python benchmarks/roofline.py                       # both modes, standard cases
    python benchmarks/roofline.py --mode native --quick
    python benchmarks/roofline.py --case 1e6,8,16,full,float64 --json out.json
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _machine  # noqa: E402  (no numpy before the mode is set)

STANDARD_CASES = [
    (1_000_000, 2, 16, "full", "float64"),
    (1_000_000, 2, 64, "full", "float64"),
    (1_000_000, 8, 16, "full", "float64"),
    (1_000_000, 8, 64, "full", "float64"),
    (1_000_000, 32, 16, "full", "float64"),
    (1_000_000, 8, 16, "diag", "float64"),
    (1_000_000, 8, 16, "spherical", "float64"),
    (1_000_000, 8, 16, "tied", "float64"),
    (1_000_000, 8, 16, "full", "float32"),
]
QUICK_CASES = [
    (100_000, 2, 16, "full", "float64"),
    (100_000, 8, 16, "full", "float32"),
    (100_000, 8, 16, "tied", "float64"),
]


def pass_flops(n_features, n_components, covariance_type):
    """Useful flops of one pass per row and component (see the module docstring)."""
    D, K = n_features, n_components
    if covariance_type == "full":
        return 2 * D * (D + 1) + 3 * D + 1
    if covariance_type in ("diag", "spherical"):
        return 7 * D + 1
    if covariance_type == "tied":
        return D * (D + 1) / K + 4 * D + 1
    raise ValueError(covariance_type)


def matmul_gflops(dtype, size=2000, repeats=3):
    """numpy's matrix-multiply rate (best of ``repeats``), in GFLOP/s."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((size, size)).astype(dtype)
    b = rng.random((size, size)).astype(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        begin = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - begin)
    return 2 * size**3 / best / 1e9


def measure(cases, n_iter, repeats, with_sklearn, best=False):
    """Rows of the roofline table for ``cases`` (in this process's mode)."""
    from benchmarks.compare import iteration_seconds, make_problem

    rows = []
    for n_samples, n_features, n_components, covariance_type, dtype in cases:
        X, start = make_problem(
            n_samples, n_features, n_components, covariance_type, dtype
        )
        theirs = float("nan")
        if with_sklearn:
            theirs, _ = iteration_seconds(
                "scikit-learn", X, n_components, start, n_iter, repeats, best
            )
        matmul = matmul_gflops(dtype)
        ours, _ = iteration_seconds(
            "emfast", X, n_components, start, n_iter, repeats, best
        )
        if not ours > 0.0:  # below the timer's noise (small sizes): no rate
            ours = float("nan")
        flops = pass_flops(n_features, n_components, covariance_type)
        gflops = flops * n_samples * n_components / ours / 1e9
        rows.append(
            dict(
                n_samples=n_samples,
                n_features=n_features,
                n_components=n_components,
                covariance_type=covariance_type,
                dtype=dtype,
                sklearn=theirs,
                emfast=ours,
                ratio=theirs / ours,
                flops_per_row_component=flops,
                gflops=gflops,
                matmul_gflops=matmul,
                efficiency=gflops / matmul,
                ns_per_row_component=ours / (n_samples * n_components) * 1e9,
            )
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(result):
    """Markdown table of one mode's result."""
    lines = [
        f"**{result['mode']}**: {_machine.describe_line(result['machine'])}",
        "",
        "| case | scikit-learn s/it | emfast s/it | ratio | GFLOP/s | matmul GFLOP/s "
        "| efficiency | ns/row·comp |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        case = (
            f"{row['covariance_type']} N={row['n_samples']:.0e} D={row['n_features']} "
            f"K={row['n_components']} {row['dtype']}"
        )
        lines.append(
            f"| {case} | {row['sklearn']:.3f} | {row['emfast']:.4f} | "
            f"{row['ratio']:.1f}x | {row['gflops']:.1f} | {row['matmul_gflops']:.0f} | "
            f"{100 * row['efficiency']:.0f} % | {row['ns_per_row_component']:.2f} |"
        )
    return "\n".join(lines)


def _parse_case(text):
    n, d, k, covariance_type, dtype = text.split(",")
    return int(float(n)), int(d), int(k), covariance_type, dtype


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode", choices=["native", "avx2", "wide", "both"], default="both"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--case", action="append", default=[], help="N,D,K,cov,dtype")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument(
        "--best", action="store_true", help="fastest runs instead of medians"
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.case:
        cases = [_parse_case(text) for text in args.case]
    else:
        cases = QUICK_CASES if args.quick else STANDARD_CASES
    if args.child:
        rows = measure(
            cases, args.iterations, args.repeats, not args.no_sklearn, args.best
        )
        result = {"mode": args.child, "machine": _machine.describe(), "rows": rows}
        print(json.dumps(result))
        return
    modes = ["native", "avx2"] if args.mode == "both" else [args.mode]
    child_argv = [os.path.abspath(__file__)] + [
        a for a in (argv if argv is not None else sys.argv[1:])
    ]
    results = []
    for mode in modes:
        stdout = _machine.run_child(mode, [*child_argv, "--child", mode])
        results.append(json.loads(stdout.strip().splitlines()[-1]))
        print(table(results[-1]) + "\n", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
