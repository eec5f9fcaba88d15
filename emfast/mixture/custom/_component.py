"""ComponentFamily: a kind of mixture component defined by the user's functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from numbers import Integral
from typing import Any

import numba
import numpy as np

from emfast._typing import ArrayLike

# the numba functions are dispatchers: callables of any arguments
NumbaFunction = Callable[..., Any]
# ``n_statistics`` / ``n_parameters``: a count, or a count per number of features
Count = int | Callable[[int], int]
# the NumPy functions, as the class docstring describes them
MStep = Callable[[np.ndarray, np.ndarray], ArrayLike]
Sampler = Callable[[np.ndarray, int, np.random.RandomState], ArrayLike]
ExpectedStatistics = Callable[[np.ndarray], ArrayLike]
Support = Callable[[np.ndarray], ArrayLike]


class ComponentFamily:
    """A component family written by the user: two numba functions and an M-step.

    Pass it to :class:`~emfast.CustomMixture`, which fits mixtures of it with
    emfast's EM engine: the chunked parallel pass, memory-mapped, chunked and
    Dask input, sample weights, ``n_init``, warm starts, ``partial_fit``,
    scoring and information criteria.

    Each EM iteration runs one parallel pass over the rows. For each row ``x``
    the pass calls ``statistics(x, t)`` once, then ``log_density(x, t,
    params[k])`` for every component ``k``, forms the responsibilities ``r_k``
    and adds ``r_k`` to ``nk[k]`` and ``r_k * t`` to ``sums[k]`` (float64 sums;
    a row's weight multiplies its ``r_k``). The M-step then turns ``nk`` and
    ``sums`` into new parameters; the mixture weights are handled by the
    engine.

    Parameters
    ----------
    log_density : numba function ``(x, t, theta) -> float``
        ``log p(x | theta)`` of one row ``x`` (1-D array in the dtype of the
        data: float32 or float64) under one component's parameters ``theta``
        (1-D float64 array, one row of the parameter array). ``t`` holds the
        row's statistics ``T(x)`` (1-D float64), for densities that are cheaper
        from them: an exponential family written with its natural parameters
        costs a dot product per component. It must be a complete log-density:
        scores, AIC and BIC use it as it is.
    statistics : numba function ``(x, t) -> None``
        Write the sufficient statistics ``T(x)`` of one row into ``t`` (1-D
        float64 array of ``n_statistics`` values, zeroed before each call).
        ``T`` does not depend on the parameters (the initialisation calls it
        before there are any), as in EM for exponential families, where the
        M-step depends on the data through ``sum r T(x)`` only.
    m_step : callable ``(nk, sums) -> params``
        A NumPy function: from ``nk`` (``sum r`` per component, shape
        (n_components,), never zero) and ``sums`` (``sum r T(x)``, shape
        (n_components, n_statistics)), both float64, return the parameters,
        a 2-D array of shape (n_components, n_params) whose values are finite.
        It may store constants the log-density needs (a normalising constant)
        beside the free parameters.
    n_statistics : int or callable
        Length of ``T(x)``, or a function of the number of features returning
        it.
    n_parameters : int or callable
        Number of free parameters of one component (for ``bic`` and ``aic``;
        the mixture adds ``n_components - 1`` weights), or a function of the
        number of features returning it.
    sample : callable ``(theta, n_samples, rng) -> X``, optional
        Draw ``n_samples`` rows (shape (n_samples, n_features)) from one
        component with ``rng`` (a ``numpy.random.RandomState``); needed by
        :meth:`CustomMixture.sample`.
    expected_statistics : callable ``(params) -> means``, optional
        ``E[T(x)]`` under each component, shape (n_components, n_statistics):
        the M-step's inverse, with which ``partial_fit`` continues a model
        fitted by ``fit`` (or unpickled) exactly where it is. Without it, such
        a stream starts from the statistics of its first batch under the
        fitted parameters (one full EM step on that batch).
    support : callable ``(X) -> mask``, optional
        A NumPy function of a 2-D block of rows returning a boolean array with
        one entry per row, True for the rows the family can model; rows
        outside it raise a ``ValueError`` in ``fit``, ``partial_fit`` and
        scoring.
    name : str, optional
        A name for messages and ``repr`` (default: the name of
        ``log_density``).

    Notes
    -----
    Write ``log_density`` and ``statistics`` as module-level functions with
    ``@numba.njit``. emfast compiles its pass for each pair of functions once
    per process and dtype of the rows (the user's code is inlined into the
    loop; numba's disk cache cannot keep such kernels): about 3 s before the
    first fit and 2 s before the first scoring on a shared 2-core Intel Xeon,
    then every later fit, clone and number of components reuses them. A family object
    is immutable and copies as itself, so ``sklearn.base.clone`` of the
    estimator keeps the compiled kernels. It pickles with its functions (numba
    functions by reference to their module, or by value when defined in
    ``__main__``), so models pickle and Dask workers receive it.

    Examples
    --------
    A mixture of exponentials on positive numbers, with rate ``theta[0]``:

    >>> import math
    >>> import numba
    >>> import numpy as np
    >>> from emfast import ComponentFamily, CustomMixture
    >>> @numba.njit
    ... def log_density(x, t, theta):
    ...     return math.log(theta[0]) - theta[0] * x[0]
    >>> @numba.njit
    ... def statistics(x, t):
    ...     t[0] = x[0]
    >>> def m_step(nk, sums):
    ...     return nk[:, np.newaxis] / sums
    >>> exponential = ComponentFamily(
    ...     log_density, statistics, m_step, n_statistics=1, n_parameters=1,
    ...     name="exponential")
    >>> X = np.r_[np.full(50, 0.1), np.full(50, 10.0)][:, np.newaxis]
    >>> model = CustomMixture(exponential, n_components=2, random_state=0).fit(X)
    >>> np.sort(model.params_[:, 0]).round(2)
    array([ 0.1, 10. ])
    """

    __slots__ = (
        "log_density",
        "statistics",
        "m_step",
        "n_statistics",
        "n_parameters",
        "sample",
        "expected_statistics",
        "support",
        "name",
    )
    # the types of the slots, set once by __init__
    log_density: NumbaFunction
    statistics: NumbaFunction
    m_step: MStep
    n_statistics: Count
    n_parameters: Count
    sample: Sampler | None
    expected_statistics: ExpectedStatistics | None
    support: Support | None
    name: str

    def __init__(
        self,
        log_density: NumbaFunction,
        statistics: NumbaFunction,
        m_step: MStep,
        *,
        n_statistics: Count,
        n_parameters: Count,
        sample: Sampler | None = None,
        expected_statistics: ExpectedStatistics | None = None,
        support: Support | None = None,
        name: str | None = None,
    ) -> None:
        _check_numba_function("log_density", log_density, ("x", "t", "theta"))
        _check_numba_function("statistics", statistics, ("x", "t"))
        _check_callable("m_step", m_step)
        _check_count("n_statistics", n_statistics, minimum=1)
        _check_count("n_parameters", n_parameters, minimum=0)
        for label, value in [
            ("sample", sample),
            ("expected_statistics", expected_statistics),
            ("support", support),
        ]:
            if value is not None:
                _check_callable(label, value)
        if name is None:
            name = getattr(log_density, "__name__", "custom")
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        values: dict[str, Any] = dict(
            log_density=log_density,
            statistics=statistics,
            m_step=m_step,
            n_statistics=n_statistics,
            n_parameters=n_parameters,
            sample=sample,
            expected_statistics=expected_statistics,
            support=support,
            name=name,
        )
        for attribute, value in values.items():
            object.__setattr__(self, attribute, value)

    # immutable: scikit-learn's clone deep-copies parameters, and a copy of the
    # numba functions would be compiled again
    def __setattr__(self, name, value):
        raise AttributeError(f"ComponentFamily is immutable; cannot set {name!r}")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        keywords = {name: getattr(self, name) for name in self.__slots__[3:]}
        return _rebuild, (self.log_density, self.statistics, self.m_step, keywords)

    def __repr__(self):
        return f"ComponentFamily(name={self.name!r})"

    def statistics_size(self, n_features: int) -> int:
        """``n_statistics`` for rows of ``n_features`` features."""
        return _resolve("n_statistics", self.n_statistics, n_features, minimum=1)

    def free_parameters(self, n_features: int) -> int:
        """``n_parameters`` (of one component) for ``n_features`` features."""
        return _resolve("n_parameters", self.n_parameters, n_features, minimum=0)


def _rebuild(log_density, statistics, m_step, keywords):
    return ComponentFamily(log_density, statistics, m_step, **keywords)


def _check_numba_function(label, function, arguments):
    """Raise a ``TypeError`` unless ``function`` is a numba function of
    ``len(arguments)`` positional arguments (a plain function when numba's
    compiler is disabled, ``NUMBA_DISABLE_JIT=1``)."""
    if numba.config.DISABLE_JIT:
        python_function = function
        _check_callable(label, function)
    elif isinstance(function, numba.core.dispatcher.Dispatcher):
        python_function = function.py_func
    else:
        raise TypeError(
            f"{label} must be a numba function (decorate it with @numba.njit), "
            f"got {function!r}"
        )
    try:
        inspect.signature(python_function).bind(*arguments)
    except TypeError:
        raise TypeError(
            f"{label} must take {len(arguments)} arguments "
            f"({', '.join(arguments)}), got {label}"
            f"{inspect.signature(python_function)}"
        ) from None


def _check_callable(label, function):
    if not callable(function):
        raise TypeError(f"{label} must be callable, got {function!r}")


def _check_count(label, value, minimum):
    if callable(value):
        return
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"{label} must be an int or a function of the number of features, "
            f"got {value!r}"
        )
    if value < minimum:
        raise ValueError(f"{label} must be >= {minimum}, got {value}")


def _resolve(label, value, n_features, minimum):
    if callable(value):
        result = value(n_features)
        if isinstance(result, bool) or not isinstance(result, Integral):
            raise TypeError(f"{label}({n_features}) must return an int, got {result!r}")
        if result < minimum:
            raise ValueError(
                f"{label}({n_features}) must be >= {minimum}, got {result}"
            )
        return int(result)
    return int(value)
