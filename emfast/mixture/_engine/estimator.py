"""One base estimator for every mixture family: fitting and streaming.

:class:`MixtureEstimator` owns ``fit``, ``fit_predict`` and ``partial_fit``
(the EM loop, ``n_init``, warm starts, restore on error, the training rows in
every form) and, through :class:`~emfast.mixture._engine.inference.MixtureInference`,
scoring, ``sample`` and ``bic``/``aic``. A subclass declares its parameters,
its docstring and its :class:`~emfast.mixture._engine.family.Family`.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Self

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state

from emfast._numba import serial_blas
from emfast._sklearn import Interval, StrOptions, _fit_context
from emfast._typing import ArrayLike, TrainingData
from emfast._validation import check_n_samples, restore_on_error
from emfast.mixture._engine import em
from emfast.mixture._engine.inference import MixtureInference, training_labels
from emfast.mixture._engine.stream import DEFAULT_DECAY, check_decay, step_size
from emfast.mixture._engine.weights import check_weight_range
from emfast.rows import training_rows

# The constructor parameters the engine reads, as scikit-learn validates them;
# each estimator's _parameter_constraints is these plus its own.
ENGINE_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0.0, None, closed="left")],
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
    "verbose_interval": [Interval(Integral, 1, None, closed="left")],
}
INIT_OPTIONS = StrOptions({"kmeans", "random", "random_from_data", "k-means++"})

# what partial_fit keeps between calls; a full fit ends the stream
_STREAM_STATE = ("_stream_stats", "_stream_steps", "_stream_weight")


class MixtureEstimator(MixtureInference, DensityMixin, BaseEstimator):
    """Base class of emfast's mixtures (see :mod:`emfast.mixture._engine.family`).

    A subclass defines ``_family()``, which returns its
    :class:`~emfast.mixture._engine.family.Family` built from the estimator's
    parameters.
    """

    def _family(self):
        raise NotImplementedError

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: TrainingData,
        y: object = None,
        sample_weight: ArrayLike | None = None,
    ) -> Self:
        """Fit ``n_init`` times (once when warm-starting); keep the best fit.

        Each run iterates until the gain of the lower bound is below ``tol``
        or ``max_iter`` is reached (then a ``ConvergenceWarning``). A fit that
        fails leaves the estimator as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), chunk source or Dask array
            Training data, one row per sample: an array (``numpy.memmap`` works
            without loading it), a Dask array (one task per block, see the
            README), or, for data read piece by piece, a callable returning an
            iterable of chunks (or a re-iterable such as a list of arrays). A
            chunk is a 2-D array of rows or a ``(rows, sample_weight)`` pair.
            The chunks are read once per iteration; the result equals the fit
            on the concatenated rows.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: a row of weight 2 counts as two copies of it,
            weight 0 drops it. Their total must lie within 2**1000 and their
            mean above 2**-1000 (float64 sums). Whether only their ratios
            matter depends on the model (see its description).

        Returns
        -------
        self : object
            The fitted mixture.
        """
        self._fit(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(
        self,
        X: TrainingData,
        y: object = None,
        sample_weight: ArrayLike | None = None,
    ) -> np.ndarray:
        """Fit as :meth:`fit` does, then return the most probable component of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), chunk source or Dask array
            Training data (see :meth:`fit`).
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels (the same as ``fit(X).predict(X)``; a lazy Dask
            array for a Dask array).
        """
        rows = self._fit(X, sample_weight)
        return training_labels(self, X, rows)

    def _fit(self, X, sample_weight):
        """Fit; return the training rows. Restores the state on failure."""
        with restore_on_error(self), serial_blas():
            family = self._family()
            warm = self.warm_start and hasattr(self, "converged_")
            rows = training_rows(
                X,
                sample_weight,
                self,
                reset=not warm,
                check_values=family.check_values,
                allow_nan=family.allow_nan,
            )
            check_weight_range(rows, family.weights_are_ratios)
            check_n_samples(rows.n_samples, self.n_components)
            context = family.prepare(rows, self)
            result = em.run_em(
                lambda random_state: family.initial_params(rows, context, random_state),
                lambda params: em.em_step(family, rows, context, params),
                n_init=self.n_init,
                max_iter=self.max_iter,
                tol=self.tol,
                random_state=check_random_state(self.random_state),
                warm_state=family.params_from(self) if warm else None,
                warm_lower_bound=self.lower_bound_ if warm else -np.inf,
                verbose=self.verbose,
                verbose_interval=self.verbose_interval,
            )
            family.set_fitted(self, result.state, rows.dtype)
            for name in _STREAM_STATE:
                self.__dict__.pop(name, None)
            self.converged_ = result.converged
            self.n_iter_ = result.n_iter
            self.lower_bound_ = result.lower_bound
            self.lower_bounds_ = result.lower_bounds
        return rows

    # ----------------------------------------------------------- partial_fit
    def partial_fit(
        self,
        X: TrainingData,
        y: object = None,
        sample_weight: ArrayLike | None = None,
        *,
        decay: float = DEFAULT_DECAY,
    ) -> Self:
        """Update the model with one batch of rows (stepwise EM).

        Each call computes the batch's statistics per unit weight under the
        current parameters, moves the running statistics towards them with
        step ``(t + 2) ** -decay`` (t = number of earlier steps) and updates
        the parameters from the result (the M-step; for a variational model
        the update of its posterior, see its description). Feed shuffled
        batches; after about as many rows as a few full-batch iterations see,
        the fit is close to the full-batch one.

        Where the stream starts:

        - An unfitted model initialises its parameters from the first batch
          (with ``init_params``, or the initial values it is given) and takes
          one step on it (t = 0).
        - A fitted model without running statistics (fitted by :meth:`fit`,
          which ends any stream, or loaded from a file) continues from its
          parameters: the running statistics start as the statistics per unit
          weight that give them back, at ``t = n_iter_`` (its iterations count
          as steps taken, and ``n_iter_`` goes on counting). A batch of all
          the training rows leaves a converged mixture fitted by EM where it
          is. The model keeps its features and dtype (float32 rows are read in
          float64 for a float64 model).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), chunk source or Dask array
            One batch of rows (the first must have at least ``n_components``),
            in any form :meth:`fit` takes.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's rows (an integer weight counts
            as that many copies of the row).
        decay : float in (0.5, 1], default=0.6
            Forgetting exponent of the step size, checked on every call.

        Returns
        -------
        self : object
        """
        with restore_on_error(self), serial_blas():
            check_decay(decay)
            self._validate_params()
            family = self._family()
            fitted = hasattr(self, family.fitted_attribute)
            dtype = self._fitted_dtype() if fitted else None
            rows = training_rows(
                X,
                sample_weight,
                self,
                reset=not fitted,
                ensure_min_samples=1,
                min_dtype=dtype,
                check_values=family.check_values,
                allow_nan=family.allow_nan,
            )
            check_weight_range(rows, family.weights_are_ratios)
            if not fitted:
                check_n_samples(rows.n_samples, self.n_components)
            context = family.prepare(rows, self, continuing=fitted)
            params, running = self._stream_start(family, rows, context, fitted)
            batch = family.per_unit_weight(family.statistics(rows, params, context))
            if running is None:  # a new stream: one step on the batch
                running = batch
            else:
                rho = step_size(self._stream_steps, decay)
                running = family.blend(running, batch, rho)
            self._stream_weight += rows.weight_sum
            new = family.stream_m_step(running, context, self._stream_weight)
            bound = family.stream_bound(
                batch, running, new, context, self._stream_weight
            )
            family.set_fitted(self, new, dtype or rows.dtype)
            self._stream_stats = running
            self._stream_steps += 1
            self.n_iter_ = self._stream_steps
            self.lower_bound_ = bound
            self.lower_bounds_ = [*getattr(self, "lower_bounds_", []), bound]
            self.converged_ = False
        return self

    def _stream_start(self, family, rows, context, fitted):
        """``(parameters, running statistics or None)`` a partial_fit starts from.

        Sets the stream's step count and weight when a stream begins (see
        :meth:`partial_fit`).
        """
        if not fitted:
            self._stream_steps, self._stream_weight = 0, 0.0
            random_state = check_random_state(self.random_state)
            return family.initial_params(rows, context, random_state), None
        params = family.params_from(self)
        params = type(params)(*(_as_float64(p) for p in params))
        if not hasattr(self, "_stream_stats"):  # fitted or loaded: seed a stream
            self._stream_steps = int(getattr(self, "n_iter_", 0))
            self._stream_weight = family.fitted_weight(self)
            self._stream_stats = family.fitted_statistics(params, context)
        return params, self._stream_stats

    # ------------------------------------------------ scikit-learn's hooks
    def _get_parameters(self):
        return self._family().params_from(self)

    def _set_parameters(self, params, dtype=None):
        self._family().set_fitted(self, params, dtype)

    def _n_parameters(self):
        """Number of free parameters of the model."""
        return self._family().n_parameters(self)


def _as_float64(value):
    """A parameter (an array, a scalar or a pair of arrays) in float64."""
    if isinstance(value, tuple):
        return tuple(np.asarray(v, dtype=np.float64) for v in value)
    return np.asarray(value, dtype=np.float64)
