"""The Family interface: what the engine asks of one kind of mixture component.

:class:`~emfast.mixture._engine.estimator.MixtureEstimator` owns everything a
mixture estimator does (``fit``, ``partial_fit``, ``n_init``, warm starts,
scoring, sampling, information criteria, model files) for every family; a
family supplies the mathematics, through the methods below. The estimator
builds one family object per call from its own parameters
(``estimator._family()``); the object holds those parameters only, so it is
cheap, stateless and picklable.

Three kinds of values pass between the engine and a family, all opaque to the
engine:

- ``params``: the parameters during a fit, a small tuple of float64 arrays
  (a ``NamedTuple``);
- ``stats``: the summed statistics of one pass over the rows (a dataclass
  with at least ``log_norm``, ``sum w log p(x)``, and ``weight_sum``);
- ``context``: what :meth:`Family.prepare` computes once from the training
  rows (a :class:`Context`, or a subclass with the family's data constants).
"""

import dataclasses

import numpy as np

from emfast.mixture._engine.init import initial_resp
from emfast.mixture._engine.weights import NK_OFFSET, nk_offset


@dataclasses.dataclass(frozen=True)
class Context:
    """What a fit knows about its training rows besides the rows themselves.

    Attributes
    ----------
    dtype : numpy dtype
        The rows' (and the fitted arrays') precision.
    nk_offset : float
        scikit-learn's ``10 eps`` on each component's responsibility sum, in
        the unit of the sample weights
        (:func:`~emfast.mixture._engine.weights.nk_offset`).
    """

    dtype: np.dtype
    nk_offset: float


class Family:
    """A component family: the mathematics of one kind of mixture.

    To add a family (say ``bernoulli``), write four things:

    1. its numba kernels, ``emfast/kernels/mixture/bernoulli.py``: a parallel
       pass over one block of rows (``prange`` over chunks of
       ``_chunks.CHUNK_ROWS`` rows, one row of per-chunk float64 sums each)
       that fuses the E-step with the sufficient statistics, the same
       statistics for given responsibilities (for the initialisation), and a
       scoring kernel (log-density, label and, on request, posteriors per row);
    2. a subclass of :class:`Family` in ``emfast/mixture/bernoulli/_family.py``
       that implements every method marked *required* below. Its block
       functions are module-level functions ``block_fn(X_block, w_block,
       *args)`` that run a kernel and return the chunk sums
       (:func:`~emfast.rows.chunk_sums`); :meth:`statistics` and
       :meth:`resp_statistics` hand them to :meth:`~emfast.rows.Rows.reduce`,
       which runs them on every block, here or on Dask workers, and adds the
       results in block order;
    3. the estimator in ``emfast/mixture/bernoulli/__init__.py``: a subclass of
       :class:`~emfast.mixture._engine.estimator.MixtureEstimator` with the
       docstring, ``__init__`` (scikit-learn style: store the parameters),
       ``_parameter_constraints`` and ``_family()``;
    4. its name in ``emfast/__init__.py`` and in the model-file registry
       (``emfast/_model_decode.py``).

    The estimator's parameters must include ``n_components``, ``tol``,
    ``max_iter``, ``n_init``, ``init_params``, ``random_state``,
    ``warm_start``, ``verbose`` and ``verbose_interval``, which the engine
    reads. Everything else (chunked, memory-mapped and Dask input, sample
    weights, ``n_init``, warm starts, restore on error, ``partial_fit``,
    scoring, ``sample``, ``bic``/``aic``, model files, ``check_estimator``)
    comes with the engine.

    Attributes
    ----------
    n_components : int
    init_params : str
        Set by every family's constructor (the default :meth:`initial_params`
        reads them).
    fitted_attribute : str
        A fitted attribute that every fit sets; its dtype is the model's.
    weights_are_ratios : bool
        True if only the ratios of the sample weights matter (a model whose
        weights count rows, as a variational posterior's, sets False).
    check_values : callable or None
        ``check_values(X_block, first_row)``, for families whose rows must be
        more than finite floats (counts, zeros and ones): raise a
        ``ValueError`` naming the first bad entry (``first_row`` is the index
        of the block's first row, or None if unknown). It runs on every block
        each time it is read, and on every row given for scoring.
    allow_nan : bool
        True if the family takes NaN entries (missing values) in training and
        scored rows; infinities are refused either way.
    score_block : staticmethod
        *Required.* ``score_block(X, *scoring_args, want_resp=False,
        want_log_norm=True)`` of validated rows in the model's dtype returns
        ``(log p(x), labels, resp or None)``, one entry (row) per row; a
        module-level function (Dask ships it by name). With
        ``want_log_norm=False`` (``predict``) it may skip the log-densities and
        return None for them.
    """

    fitted_attribute = "weights_"
    weights_are_ratios = True
    check_values = None
    allow_nan = False
    score_block = None

    # ------------------------------------------------------------ fitting
    def prepare(self, rows, estimator, *, continuing=False):
        """The :class:`Context` of a fit (or of a ``partial_fit`` batch).

        Runs after the rows, the weights and ``n_samples >= n_components``
        have been checked. Families with data constants (priors from the
        data, ``sum log x!``) or further parameter checks override it; it may
        set fitted attributes that describe the data (scikit-learn's
        ``*_prior_``). ``continuing`` is True for a batch that continues a
        fitted model, whose own constants are kept.
        """
        return Context(rows.dtype, nk_offset(rows))

    def initial_params(self, rows, context, random_state):
        """Starting parameters of one init, drawn from ``random_state``.

        The default draws initial responsibilities as scikit-learn does
        (:func:`~emfast.mixture._engine.init.initial_resp`) and runs the
        M-step on their statistics.
        """
        resp = initial_resp(rows, self.n_components, self.init_params, random_state)
        return self.m_step(self.resp_statistics(rows, resp, context), context)

    def resp_statistics(self, rows, resp, context):
        """*Required.* ``stats`` of given responsibilities (a
        :class:`~emfast.rows.RowAligned` source whose blocks are
        ``(rows, n_components)`` arrays)."""
        raise NotImplementedError

    def statistics(self, rows, params, context):
        """*Required.* ``stats`` of one pass under ``params`` (E-step fused with
        the statistics): one :meth:`~emfast.rows.Rows.reduce`."""
        raise NotImplementedError

    def m_step(self, stats, context):
        """*Required.* New ``params`` from summed statistics (float64)."""
        raise NotImplementedError

    def lower_bound(self, stats, params, context):
        """*Required.* The quantity EM monitors after one step.

        ``stats`` are the pass's, ``params`` the M-step's result. For EM, the
        mean log-likelihood under the parameters of the pass
        (``log_norm / weight_sum`` plus any constant the kernels leave out).
        """
        raise NotImplementedError

    # ------------------------------------------------- fitted attributes
    def params_from(self, estimator):
        """*Required.* ``params`` from the fitted attributes (in their dtype)."""
        raise NotImplementedError

    def set_fitted(self, estimator, params, dtype=None):
        """*Required.* Set the fitted attributes from ``params``, in ``dtype``
        (default: the dtype of ``params``, float32 at least)."""
        raise NotImplementedError

    def scoring_args(self, estimator):
        """*Required.* The small arrays :attr:`score_block` takes (shipped to
        Dask workers with every block)."""
        raise NotImplementedError

    def n_parameters(self, estimator):
        """*Required.* The number of free parameters (for ``bic``/``aic``)."""
        raise NotImplementedError

    def sample(self, estimator, n_samples, rng):
        """*Required.* ``(X, labels)``: ``n_samples`` rows drawn from the fitted
        model with ``rng`` (a ``RandomState``), grouped by component."""
        raise NotImplementedError

    # ---------------------------------------------- partial_fit (streaming)
    # Stepwise EM (and stochastic variational inference): each batch gives its
    # statistics per unit weight; the running statistics move towards them
    # with step rho; the M-step runs on the blend.
    def per_unit_weight(self, stats):
        """``stats`` divided by their total weight (every additive field)."""
        scale = 1.0 / stats.weight_sum
        changes = {
            field.name: getattr(stats, field.name) * scale
            for field in dataclasses.fields(stats)
            if field.name not in ("weight_sum", "centers", "shift")
            and getattr(stats, field.name) is not None
        }
        return dataclasses.replace(stats, weight_sum=1.0, **changes)

    def blend(self, running, batch, rho):
        """``(1 - rho) running + rho batch``, field by field (per unit weight)."""
        changes = {
            field.name: (1 - rho) * getattr(running, field.name)
            + rho * getattr(batch, field.name)
            for field in dataclasses.fields(batch)
            if field.name != "weight_sum" and getattr(batch, field.name) is not None
        }
        return dataclasses.replace(batch, **changes)

    def fitted_statistics(self, params, context):
        """*Required for partial_fit.* Statistics per unit weight whose
        :meth:`stream_m_step` gives back ``params`` (a fitted or loaded model
        continued by ``partial_fit`` starts from them)."""
        raise NotImplementedError

    def fitted_weight(self, estimator):
        """The total weight a fitted model stands for (0 if unknown).

        Only families whose stream update depends on the amount of data (the
        variational one) need it.
        """
        return 0.0

    def stream_m_step(self, running, context, weight_seen):
        """``params`` from running statistics per unit weight.

        ``weight_seen`` is the total weight the stream has seen. EM's M-step
        does not depend on it; scikit-learn's ``10 eps`` is taken per unit
        weight.
        """
        return self.m_step(running, dataclasses.replace(context, nk_offset=NK_OFFSET))

    def stream_bound(self, batch, running, params, context, weight_seen):
        """``lower_bound_`` after a ``partial_fit`` step.

        ``batch`` is the batch's statistics per unit weight; the default is its
        ``log_norm``, the batch's mean log-likelihood for EM families whose
        kernels leave out no constant.
        """
        return batch.log_norm

    # ------------------------------------------------------- model files
    def file_arrays(self, estimator, n_features):
        """*Required for model files.* ``{name: shape}`` of the fitted arrays a
        model file holds (shape ``()`` for a scalar)."""
        raise NotImplementedError

    def check_file_values(self, fitted, estimator):
        """Raise a ``ValueError`` naming the field if the fitted arrays of a
        model file hold values no fit produces (shapes, dtypes and finiteness
        are checked before)."""

    def from_file(self, fitted):
        """The attributes to set from the decoded arrays of a model file (the
        default: as they are)."""
        return fitted

    def check_file_params(self, estimator, n_features):
        """Raise a ``ValueError`` if array parameters (user-given initial
        values, priors) do not fit ``n_features``, as a fit would."""
