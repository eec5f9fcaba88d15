"""The one place that decides how emfast's kernels are compiled and threaded.

Every kernel is compiled lazily (on its first call, never at import), cached on
disk (``cache=True``) and releases the GIL (``nogil=True``) so that Dask worker
threads can run kernels side by side. ``error_model="numpy"`` lets a division by
zero give inf/nan instead of raising, as in numpy, which also keeps the loops
free of Python-exception checks.

We do not use ``fastmath``: EM paths must follow scikit-learn's to rounding and
``-inf`` log-probabilities (zero weights) are meaningful values.
"""

import functools
import importlib
import types
from collections.abc import Iterator
from contextlib import contextmanager

import numba
from numba import prange  # noqa: F401  (re-exported for the kernels)

from emfast import _chunks

__all__ = [
    "jit",
    "prange",
    "for_rows",
    "num_threads",
    "get_num_threads",
    "serial_blas",
    "by_name",
]

_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}


def jit(function=None, *, parallel=False, fastmath=False, cache=True):
    """Compile ``function`` with emfast's numba options.

    Use as ``@jit`` for serial helpers (inlined into their callers by LLVM) and
    ``@jit(parallel=True)`` for kernels with a ``prange`` over row chunks.
    ``fastmath`` (a set of LLVM flags) is for small helpers whose reductions may
    be reordered (the order is still fixed at compile time, so results stay
    independent of the thread count); never ``nnan``/``ninf``. ``cache=False``
    is for kernels that take numba functions as arguments, which the disk cache
    cannot find again in a new process (see :mod:`emfast.kernels.mixture.generic`).
    """

    def decorate(f):
        options = {**_OPTIONS, "cache": cache}
        return numba.njit(parallel=parallel, fastmath=fastmath, **options)(f)

    return decorate if function is None else decorate(function)


def for_rows(kernel, n_rows):
    """``kernel``, or its serial twin when ``n_rows`` rows fit in one chunk.

    A parallel kernel over one chunk has one task, yet it still hands that task
    to the threading layer's pool. Right after other thread pools ran (OpenMP
    in scikit-learn's k-means, BLAS), that hand-over waited for cores: a pass
    over 178 rows took 1.6 ms instead of 15 us on an Intel Xeon with 2 cores.
    The twin is the same function compiled without ``parallel`` (``prange`` is
    then ``range``), compiled on its first use and cached on disk under its own
    name. The sums are the same: one chunk is one task either way.

    ``kernel`` is a ``@jit(parallel=True)`` function, or one wrapped by
    :func:`by_name`.
    """
    if isinstance(kernel, _ByName):
        kernel = kernel.kernel
    if n_rows > _chunks.CHUNK_ROWS or not hasattr(kernel, "py_func"):
        return kernel  # many chunks, or compilation disabled
    return _serial_twin(kernel)


@functools.cache
def _serial_twin(kernel):
    function = kernel.py_func
    twin = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    twin.__qualname__ = f"{function.__qualname__}_serial"  # its own cache entry
    twin.__module__ = function.__module__
    twin.__doc__ = function.__doc__
    options = {**kernel.targetoptions, "parallel": False}
    options.pop("nopython", None)  # implied by njit
    return numba.njit(cache=True, **options)(twin)


def get_num_threads():
    """Number of threads numba's parallel kernels use right now."""
    return numba.get_num_threads()


@contextmanager
def num_threads(n_threads: int | None) -> Iterator[int]:
    """Run emfast's parallel kernels on ``n_threads`` threads inside a ``with``.

    Parameters
    ----------
    n_threads : int or None
        Number of threads, at most ``numba.config.NUMBA_NUM_THREADS``. ``None``
        leaves the current setting alone. Negative values count back from the
        maximum as in joblib: ``-1`` means all threads.

    Examples
    --------
    >>> import emfast
    >>> with emfast.num_threads(1):
    ...     pass  # every fit in here runs its kernels on one thread

    Results do not depend on the thread count: rows are split into chunks of a
    fixed size and per-chunk statistics are summed in chunk order.
    """
    if n_threads is None:
        yield numba.get_num_threads()
        return
    n_max = numba.config.NUMBA_NUM_THREADS
    if n_threads < 0:
        n_threads = max(1, n_max + 1 + n_threads)
    if not 1 <= n_threads <= n_max:
        raise ValueError(
            f"n_threads must be in [1, {n_max}] (or negative), got {n_threads}"
        )
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield n_threads
    finally:
        numba.set_num_threads(previous)


def serial_blas():
    """Context manager: BLAS/LAPACK on one thread (for the small M-step algebra).

    The M-step works on K x D x D arrays, far too small for threaded BLAS, and
    OpenBLAS's idle threads keep spinning after each call: on a 2-core machine
    they took the cores from the next numba pass (measured: an 18 us pass took
    4-7 ms right after a 3 x 3 ``solve_triangular``).

    The BLAS libraries are looked up once, on the first call (numpy's and
    scipy's are loaded by then): ``threadpoolctl.threadpool_limits`` scans every
    loaded library on each call, about 1 ms, as long as a whole small fit.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _ByName:
    """A module-level kernel that pickles as its import path (see :func:`by_name`)."""

    __slots__ = ("kernel",)

    def __init__(self, kernel):
        self.kernel = kernel

    def __call__(self, *args):
        return self.kernel(*args)

    def __reduce__(self):
        function = getattr(self.kernel, "py_func", self.kernel)
        return _import_kernel, (function.__module__, function.__qualname__)


def _import_kernel(module, qualname):
    kernel = importlib.import_module(module)
    for name in qualname.split("."):
        kernel = getattr(kernel, name)
    return _ByName(kernel)


def by_name(kernel):
    """``kernel`` (a module-level numba function) wrapped to pickle by name.

    A numba dispatcher pickles its Python function and compiles it again where
    it is unpickled; wrapped, a Dask worker imports the kernel's module instead
    and calls its own copy, compiled once (or loaded from the disk cache).
    """
    return _ByName(kernel)
