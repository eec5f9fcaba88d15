"""The command line: ``emfast {demo,fit,predict}`` (or ``python -m emfast ...``).

``fit`` reads a CSV or ``.npy`` file, fits one Gaussian mixture per number of
components, prints the AIC/BIC table and writes the best model as JSON;
``predict`` reads such a model and writes labels or probabilities as CSV.
Expected failures (missing file, bad data, a malformed model file, a fit that
fails) print one line ``emfast: error: ...`` on stderr and exit with status 1
(2 for a bad command line), never a traceback, and write no file.

Output files never depend on standard output: ``fit`` writes its model before
it prints anything, and a closed pipe on standard output (``... | head -1``)
ends the command quietly with status 1, as Python's documentation recommends
for SIGPIPE.

Usage lines and messages name the command as it was started: ``emfast`` for
the console script, ``python -m emfast`` for the module.

Heavy modules (numba, scikit-learn) are imported only once a command needs them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Sequence

from emfast import __version__
from emfast._errors import CliError
from emfast._stdout import StdoutError, out
from emfast._stdout import err as print_error
from emfast._stdout import flush as flush_stdout
from emfast._stdout import silence as silence_stdout
from emfast._tabular_io import format_csv, read_data, sniff

PROG = "emfast"
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class _UsageError(Exception):
    """A bad command line (argparse's errors, raised instead of exiting)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).
    prog : str, optional
        The command's name in usage lines and messages. By default the name
        the process was started by (``sys.argv[0]``, e.g. ``emfast`` for the
        console script) when ``argv`` is None, else ``emfast``.

    Returns
    -------
    status : int
        0 on success, 1 when a command fails, 2 for a bad command line.

    Examples
    --------
    >>> from emfast._cli import main
    >>> main(["fit", "wine.csv", "--n-components", "1:4", "-o", "model.json"])
    ... # doctest: +SKIP
    """
    if prog is None:
        prog = _invoked_name() if argv is None else PROG
    parser = _build_parser(prog)
    try:
        try:
            args = parser.parse_args(argv)
        except _UsageError as err:
            return _fail(err, status=2)
        except SystemExit as exit_:  # --help
            flush_stdout()
            return exit_.code if isinstance(exit_.code, int) else 0
        args.run(args)
        flush_stdout()
    except KeyboardInterrupt:
        print_error("emfast: interrupted")
        return 130
    except BrokenPipeError:  # e.g. `... | head`: stop quietly
        silence_stdout()
        return 1
    except StdoutError as err:
        silence_stdout()  # the interpreter's final flush would fail again
        return _fail(err)
    except (CliError, OSError, ValueError, TypeError) as err:
        return _fail(err)
    except Exception as err:  # the CLI never shows a traceback
        return _fail(f"unexpected {type(err).__name__}: {err}")
    return 0


def _fail(message, status=1):
    text = " ".join(str(message).split()) or "failed"
    print_error(f"emfast: error: {text}")
    return status


def _invoked_name():
    """The command's name from ``sys.argv[0]``: ``emfast`` for the console script.

    ``python -m emfast`` passes its own name (see :mod:`emfast.__main__`); an
    empty or ``-c`` first argument (an embedding program) gives ``emfast``.
    """
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    return PROG if name in ("", "-c") else name


# ---------------------------------------------------------------- the parser
def _build_parser(prog=PROG):
    parser = _Parser(prog=prog, description="Fast EM for latent-variable models.")
    parser.add_argument("--version", action="version", version=f"emfast {__version__}")
    parser.set_defaults(prog=prog)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{demo,fit,predict}"
    )
    demo = commands.add_parser(
        "demo", help="fit the wine data of the EM tutorial for K=1..4 and compare"
    )
    demo.add_argument(
        "--no-speed",
        action="store_true",
        help="skip the timing comparison on a larger synthetic data set",
    )
    demo.set_defaults(run=run_demo)

    fit = commands.add_parser(
        "fit",
        help="fit Gaussian mixtures for several K, print AIC/BIC, save the best",
        description=(
            "Fit one Gaussian mixture per number of components K (and covariance "
            "type), print the mean log-likelihood, AIC and BIC of each, and write "
            "the model with the lowest criterion as JSON."
        ),
    )
    fit.add_argument("data", metavar="DATA", help=_DATA_HELP)
    fit.add_argument(
        "-k",
        "--n-components",
        type=parse_n_components,
        default=list(range(1, 7)),
        metavar="SPEC",
        help="numbers of components: 3, 1,2,4, or FIRST:LAST[:STEP] with LAST "
        "included (default: 1:6)",
    )
    fit.add_argument(
        "--criterion",
        choices=("bic", "aic"),
        default="bic",
        help="criterion to minimise (default: bic)",
    )
    fit.add_argument(
        "--covariance-type",
        type=parse_covariance_types,
        default=["full"],
        metavar="TYPE[,TYPE...]",
        help="full, tied, diag, spherical, a comma-separated list, or all "
        "(default: full)",
    )
    fit.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the initialisations (default: 0, reproducible)",
    )
    fit.add_argument(
        "--n-init",
        type=int,
        default=1,
        metavar="N",
        help="initialisations per fit, the best is kept (default: 1)",
    )
    fit.add_argument(
        "--max-iter",
        type=int,
        default=100,
        metavar="N",
        help="maximum EM iterations per fit (default: 100)",
    )
    fit.add_argument(
        "--tol",
        type=float,
        default=1e-3,
        help="convergence threshold on the mean log-likelihood (default: 1e-3)",
    )
    fit.add_argument(
        "--reg-covar",
        type=float,
        default=1e-6,
        metavar="X",
        help="added to the diagonal of the covariances (default: 1e-6)",
    )
    fit.add_argument(
        "--init-params",
        choices=("kmeans", "k-means++", "random", "random_from_data"),
        default="kmeans",
        help="initialisation method (default: kmeans)",
    )
    fit.add_argument(
        "-o", "--output", metavar="MODEL", help="write the best model to this file"
    )
    fit.set_defaults(run=run_fit)

    predict = commands.add_parser(
        "predict",
        help="label data (or give probabilities) with a saved model",
        description="Write the most probable component of each row (or, with "
        "--proba, the probability of each component) as CSV.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model file from 'fit -o'")
    predict.add_argument("data", metavar="DATA", help=_DATA_HELP)
    predict.add_argument(
        "--proba",
        action="store_true",
        help="write the probability of every component instead of the label",
    )
    predict.add_argument(
        "-o", "--output", metavar="OUT", help="write to this file (default: stdout)"
    )
    predict.set_defaults(run=run_predict)
    return parser


_DATA_HELP = (
    "a CSV file (comma-separated numbers, optional header row) or a .npy array "
    "of shape (n_samples, n_features); - reads CSV from stdin"
)


def parse_n_components(text):
    """``"3"``, ``"1,2,4"`` or ``"1:6"`` (LAST included, optional ``:STEP``).

    A ``FIRST:LAST`` span is returned as a ``range``, never expanded: how many
    components the data allow is checked later, against the number of rows,
    without building the list (so ``1:1000000000`` fails at once).

    Parameters
    ----------
    text : str

    Returns
    -------
    ks : list of int or range

    Examples
    --------
    >>> parse_n_components("1:6")
    range(1, 7)
    >>> list(parse_n_components("2:10:4")), parse_n_components("1,2,4")
    ([2, 6, 10], [1, 2, 4])
    """
    usage = f"invalid value {text!r}: expected K, K1,K2,... or FIRST:LAST[:STEP]"
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            first, last, step = (parts + [1])[:3]
            if step < 1 or last < first:
                raise argparse.ArgumentTypeError(
                    f"{usage} (need FIRST <= LAST and STEP >= 1)"
                )
            ks = range(first, last + 1, step)
            low = first
        else:
            ks = [int(p) for p in text.split(",")]
            low = min(ks)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{usage}, e.g. 3, 1,2,4 or 1:6") from None
    if low < 1:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: numbers of components must be >= 1"
        )
    return ks


def parse_covariance_types(text):
    """``"full"``, ``"full,diag"`` or ``"all"`` as a list of covariance types.

    Examples
    --------
    >>> parse_covariance_types("full,diag")
    ['full', 'diag']
    """
    if text.strip() == "all":
        return list(COVARIANCE_TYPES)
    types = [t.strip() for t in text.split(",")]
    for cov_type in types:
        if cov_type not in COVARIANCE_TYPES:
            raise argparse.ArgumentTypeError(
                f"invalid covariance type {cov_type!r} (choose from "
                f"{', '.join(COVARIANCE_TYPES)}, or all)"
            )
    return types


# --------------------------------------------------------------- the commands
def run_demo(args):
    """``demo``: the wine example of the EM tutorial (see :mod:`emfast._demo`)."""
    from emfast._demo import run_demo as demo

    demo(speed=not args.no_speed)


def run_fit(args):
    """``fit``: select K, save the best model, then print the table.

    The model is written before anything is printed, so that it does not
    depend on standard output staying open.
    """
    if args.output is not None:
        _check_output(args.output, inputs={"DATA": args.data})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, columns = read_data(args.data)

        from emfast.mixture.selection import select_n_components

        result = select_n_components(
            X,
            args.n_components,
            criterion=args.criterion,
            covariance_type=args.covariance_type,
            random_state=args.random_state,
            n_init=args.n_init,
            max_iter=args.max_iter,
            tol=args.tol,
            reg_covar=args.reg_covar,
            init_params=args.init_params,
        )
    if args.output is not None:
        from emfast._model_io import save_model

        with _reporting_os_errors("write", args.output):
            save_model(result.best_estimator_, args.output)
    names = f" ({', '.join(columns)})" if columns else ""
    out(f"{args.data}: {X.shape[0]} rows x {X.shape[1]} columns{names}\n")
    out(f"{result}\n")
    _print_warnings(caught)
    if args.output is not None:
        out(f"Saved the best model to {args.output}\n")


def run_predict(args):
    """``predict``: labels or probabilities of DATA under a saved model."""
    from emfast._model_io import load_model

    _check_predict_arguments(args.model, args.data, args.prog)
    if args.output is not None:
        _check_output(args.output, inputs={"MODEL": args.model, "DATA": args.data})
    with _reporting_os_errors("read", args.model):
        model = load_model(args.model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, _ = read_data(args.data)
        if X.shape[1] != model.n_features_in_:
            raise CliError(
                f"{args.data} has {X.shape[1]} columns but the model in "
                f"{args.model} was fitted on {model.n_features_in_}"
            )
        if args.proba:
            values = model.predict_proba(X)
            header = [f"proba_{k}" for k in range(values.shape[1])]
        else:
            values = model.predict(X)[:, None]
            header = ["label"]
    text = format_csv(header, values)
    if args.output is None:
        out(text, required=True)
    else:
        from emfast._model_io import write_atomic

        with _reporting_os_errors("write", args.output):
            write_atomic(args.output, text)
    _print_warnings(caught)


def _check_predict_arguments(model_path, data_path, prog=PROG):
    """Name the argument that is wrong when MODEL and DATA are mixed up."""
    if model_path == "-":
        raise CliError("MODEL must be a model file; only DATA can be - (stdin)")
    model_kind = sniff(model_path)
    data_kind = None if data_path == "-" else sniff(data_path)
    if data_kind == "json":
        swapped = model_kind in ("text", "npy")
        raise CliError(
            f"{data_path} (DATA) is a JSON file, not data"
            + (f", and {model_path} (MODEL) is not a model file" if swapped else "")
            + f": the model comes first ({prog} predict MODEL DATA)"
        )
    if model_kind == "npy":
        raise CliError(
            f"{model_path} (MODEL) is a .npy array, not a model file: the model "
            f"comes first ({prog} predict MODEL DATA)"
        )


@contextlib.contextmanager
def _reporting_os_errors(verb, path):
    """Turn an OSError into ``cannot <verb> <path>: <reason>``."""
    try:
        yield
    except OSError as err:
        raise CliError(f"cannot {verb} {path}: {err.strerror or err}") from None


def _print_warnings(caught):
    for message in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
        print_error(f"emfast: warning: {message}")


def _check_output(path, inputs):
    """Fail before any work if ``path`` cannot be written or is an input file."""
    if not path:
        raise CliError("the output file name is empty")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(directory):
        raise CliError(f"cannot write {path}: directory {directory} does not exist")
    if not os.path.isdir(directory):
        raise CliError(f"cannot write {path}: {directory} is not a directory")
    if os.path.isdir(path):
        raise CliError(f"cannot write {path}: it is a directory")
    for role, source in inputs.items():
        if source != "-" and _same_file(path, source):
            raise CliError(
                f"cannot write {path}: it is the {role} file {source}, which the "
                "output would replace"
            )


def _same_file(path, other):
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist (yet)
        return False
