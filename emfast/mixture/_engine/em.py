"""The EM driver shared by emfast's mixtures: inits, iterations, convergence.

A model plugs in two functions and the driver does the rest exactly as
scikit-learn's ``BaseMixture.fit_predict`` does (same ``n_init`` selection, same
convergence rule ``|change| < tol``, same warm-start semantics, verbose messages
and ``ConvergenceWarning``):

- ``initial_state(random_state) -> state``: starting parameters of one init;
- ``step(state) -> (new_state, lower_bound)``: one pass over the data (E-step
  fused with the statistics) followed by the M-step. ``lower_bound`` is the
  quantity scikit-learn monitors (for EM: mean log-likelihood under ``state``).

States are opaque to the driver; nothing here touches the data.
"""

import warnings
from dataclasses import dataclass, field
from time import time

import numpy as np
from sklearn.exceptions import ConvergenceWarning

CONVERGENCE_MESSAGE = (
    "Best performing initialization did not converge. "
    "Try different init parameters, or increase max_iter, "
    "tol, or check for degenerate data."
)


@dataclass
class EMResult:
    """What a fit leaves behind: the best state and how it was reached."""

    state: object
    n_iter: int
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    converged: bool = False


class _Reporter:
    """scikit-learn's verbose messages (``verbose`` 1: iterations, 2: timings)."""

    def __init__(self, verbose, verbose_interval):
        self.verbose = verbose
        self.interval = verbose_interval

    def init_begin(self, n_init):
        if self.verbose >= 1:
            print("Initialization %d" % n_init)
        self._init_time = self._iter_time = time()

    def iter_end(self, n_iter, change):
        if n_iter % self.interval != 0:
            return
        if self.verbose == 1:
            print("  Iteration %d" % n_iter)
        elif self.verbose >= 2:
            now = time()
            print(
                "  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                % (n_iter, now - self._iter_time, change)
            )
            self._iter_time = now

    def init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            lapse = time() - self._init_time
            print(
                f"Initialization {message}. time lapse {lapse:.5f}s\t lower bound"
                f" {lower_bound:.5f}."
            )


def run_em(
    initial_state,
    step,
    *,
    n_init,
    max_iter,
    tol,
    random_state,
    warm_state=None,
    warm_lower_bound=-np.inf,
    verbose=0,
    verbose_interval=10,
):
    """Fit by EM from ``n_init`` starts (or from ``warm_state``); keep the best.

    Parameters
    ----------
    initial_state : callable(random_state) -> state
    step : callable(state) -> (state, lower_bound)
    n_init, max_iter, tol : as in scikit-learn
    random_state : numpy.random.RandomState
        Consumed by ``initial_state`` in init order.
    warm_state : state or None
        Start of a warm-started fit (``n_init`` is then 1 and no init is drawn).
    warm_lower_bound : float
        The previous fit's lower bound, the reference of the first change.

    Returns
    -------
    EMResult
    """
    reporter = _Reporter(verbose, verbose_interval)
    do_init = warm_state is None
    best = None
    for init in range(n_init if do_init else 1):
        reporter.init_begin(init)
        state = initial_state(random_state) if do_init else warm_state
        lower_bound = -np.inf if do_init else warm_lower_bound
        lower_bounds = []
        if max_iter == 0:
            # scikit-learn keeps the last init's parameters when it does not iterate
            best = EMResult(state, 0, -np.inf)
            continue
        converged = False
        for n_iter in range(1, max_iter + 1):
            previous = lower_bound
            state, lower_bound = step(state)
            lower_bounds.append(lower_bound)
            change = lower_bound - previous
            reporter.iter_end(n_iter, change)
            if abs(change) < tol:
                converged = True
                break
        reporter.init_end(lower_bound, converged)
        if (
            best is None
            or lower_bound > best.lower_bound
            or best.lower_bound == -np.inf
        ):
            best = EMResult(state, n_iter, lower_bound, lower_bounds, converged)

    if not best.converged and max_iter > 0:
        warnings.warn(CONVERGENCE_MESSAGE, ConvergenceWarning)
    return best


def em_step(family, rows, context, params):
    """One iteration: a pass under ``params``, the M-step, the lower bound.

    Returns
    -------
    (new_params, lower_bound)
        ``lower_bound`` as :meth:`Family.lower_bound` defines it.
    """
    stats = family.statistics(rows, params, context)
    new = family.m_step(stats, context)
    return new, family.lower_bound(stats, new, context)
