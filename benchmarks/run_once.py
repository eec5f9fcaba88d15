"""Run every asv benchmark body once, as asv would, and fail if any raises.

``asv check`` only imports the suite; this runs it: for each class of the
``bench_*`` modules and each combination of its parameters, ``setup_cache``
(once per class; its result, unless None, is the first argument of the rest),
``setup``, every ``time_``/``peakmem_``/``mem_``/``track_``
method and ``teardown``; ``timeraw_`` benchmarks run their code in a fresh
Python process. Nothing is timed. Exits with status 1 and lists the failures
if any body raised.

    python benchmarks/run_once.py                    # the whole suite
    python benchmarks/run_once.py --first-params     # one combination per class
    python benchmarks/run_once.py -k EMIteration
"""

import argparse
import importlib
import inspect
import itertools
import os
import pkgutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

BODY_PREFIXES = ("time_", "peakmem_", "mem_", "track_")


def benchmark_classes():
    """``(name, class)`` of every benchmark class of the ``bench_*`` modules."""
    for module_info in sorted(pkgutil.iter_modules([HERE]), key=lambda m: m.name):
        if not module_info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"benchmarks.{module_info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            if any(attr.startswith((*BODY_PREFIXES, "timeraw_")) for attr in dir(cls)):
                yield f"{module_info.name}.{name}", cls


def parameter_sets(cls, first_only):
    params = getattr(cls, "params", None)
    if params is None:
        return [()]
    if not isinstance(params, tuple):  # asv: one list of values for one parameter
        params = (params,)
    if first_only:
        return [tuple(values[0] for values in params)]
    return list(itertools.product(*params))


def run_timeraw(code):
    if isinstance(code, tuple):
        code, setup_code = code
        code = setup_code + "\n" + code
    subprocess.run([sys.executable, "-c", code], check=True)


def run_class(name, cls, first_only):
    """Run every body of ``cls``; return a list of ``(label, traceback)``."""
    failures = []
    methods = sorted(
        attr for attr in dir(cls) if attr.startswith((*BODY_PREFIXES, "timeraw_"))
    )
    instance = cls()
    cache = ()
    if hasattr(instance, "setup_cache"):
        try:
            value = instance.setup_cache()
        except Exception:
            return [(f"{name}.setup_cache", traceback.format_exc())]
        cache = () if value is None else (value,)  # asv: None means no argument
    for args in parameter_sets(cls, first_only):
        label = f"{name}{list(args) if args else ''}"
        instance = cls()
        try:
            if hasattr(instance, "setup"):
                instance.setup(*cache, *args)
        except NotImplementedError:  # asv's way of skipping a combination
            continue
        except Exception:
            failures.append((f"{label}.setup", traceback.format_exc()))
            continue
        for method in methods:
            begin = time.perf_counter()
            try:
                result = getattr(instance, method)(*cache, *args)
                if method.startswith("timeraw_"):
                    run_timeraw(result)
                status = "ok"
            except Exception:
                failures.append((f"{label}.{method}", traceback.format_exc()))
                status = "FAILED"
            print(f"{status:6s} {label}.{method} ({time.perf_counter() - begin:.1f} s)",
                  flush=True)  # fmt: skip
        if hasattr(instance, "teardown"):
            instance.teardown(*cache, *args)
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-params", action="store_true")
    parser.add_argument("-k", default="", help="only classes whose name contains this")
    args = parser.parse_args(argv)
    failures = []
    for name, cls in benchmark_classes():
        if args.k in name:
            failures += run_class(name, cls, args.first_params)
    for label, trace in failures:
        print(f"\n{label} raised:\n{trace}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} benchmark bodies raised", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
