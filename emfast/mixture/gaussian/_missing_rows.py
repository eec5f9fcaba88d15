"""Rows with missing values, as the Gaussian pass and the initialisation see them.

Two views of training rows that are :class:`~emfast.rows.Rows` themselves, so
that :func:`~emfast.mixture.gaussian._pass.gaussian_pass` and the
initialisation run on them unchanged, whatever form the rows take (array,
memory map, chunk source, Dask array):

- :class:`CompleteRows`: a block function sees the rows of each block that
  have no NaN (a compacted copy when the block has any: the GEMM kernel
  multiplies even zero responsibilities by the row, so a NaN row would poison
  its sums). In the same read of the block, a side function gets the block's
  incomplete rows; its sums are collected separately (:meth:`~CompleteRows.side_sums`).
- :class:`FilledRows`: every NaN replaced by one value per column (the
  initialisation's view: scikit-learn's initial responsibilities need rows
  without holes).

:func:`observed_summary` reads the rows once per fit for the number of
incomplete rows and the observed mean of each column; :func:`marginal_statistics`
is one EM pass: complete rows through the complete-data pass, incomplete rows
through :func:`~emfast.mixture.gaussian._missing.block_stats`, merged into one
:class:`~emfast.mixture.gaussian._pass.GaussianStats` for the M-step.
"""

from typing import NamedTuple

import numpy as np

from emfast.mixture._engine.weights import kernel_weights, weight_scale
from emfast.mixture.gaussian._missing import (
    MissingStats,
    block_stats,
    incomplete_rows,
    kernel_args,
    merge_with_complete,
)
from emfast.mixture.gaussian._pass import gaussian_pass, log_weights
from emfast.rows import RowAligned, Rows


class Side(NamedTuple):
    """A side function ``fn(X_block, w_block, incomplete, *args)`` returning
    ``n_outputs`` values; ``incomplete`` lists the block's rows with NaN."""

    fn: object
    args: tuple
    n_outputs: int


class ObservedSummary(NamedTuple):
    """What a fit needs to know about the holes in its rows.

    Attributes
    ----------
    n_incomplete : int
        Rows with at least one NaN.
    column_means : ndarray (n_features,) of float64
        Weighted mean of the observed values of each column.
    """

    n_incomplete: int
    column_means: np.ndarray


class _View(Rows):
    """Rows read through ``rows`` (same size, weights, dtype and weight total)."""

    def __init__(self, rows):
        self.rows = rows
        self.n_samples, self.n_features = rows.n_samples, rows.n_features
        self.dtype, self.weighted = rows.dtype, rows.weighted
        self._weight_sum = rows.weight_sum


class CompleteRows(_View):
    """The complete rows of each block of ``rows`` (see the module).

    Its size, weights and weight total are those of all the rows (so that a
    pass scales the weights as it does without NaN and reports the weight of
    every row); its :meth:`mean` is ``shift``, the point statistics are
    centred on.

    Parameters
    ----------
    rows : Rows
    shift : ndarray (n_features,)
    side : Side or None
        Run on each block's incomplete rows in the same read.
    """

    def __init__(self, rows, shift, side=None):
        super().__init__(rows)
        self._mean = np.asarray(shift, dtype=np.float64)
        self.side = side
        self._side_sums = None
        self._side_reads = 0

    def reduce(self, block_fn, *args):
        if any(isinstance(arg, RowAligned) for arg in args):
            raise TypeError("CompleteRows takes no row-aligned arguments.")
        sums = self.rows.reduce(_split_block, block_fn, self.side, *args)
        if self.side is None:
            return sums
        self._side_reads += 1
        self._side_sums = sums[-self.side.n_outputs :]
        return sums[: -self.side.n_outputs]

    def side_sums(self):
        """The side function's sums over every block, of the one read made.

        Raises ``RuntimeError`` unless exactly one :meth:`reduce` ran: a pass
        that read the rows twice would leave the sums of one read only.
        """
        if self._side_reads != 1:
            raise RuntimeError(f"expected one read of the rows, got {self._side_reads}")
        return self._side_sums


def _split_block(X_block, w_block, block_fn, side, *args):
    """``block_fn`` of the block's complete rows, then ``side`` of the others."""
    incomplete = incomplete_rows(X_block)
    X_complete, w_complete = X_block, w_block
    if incomplete.size:
        complete = np.ones(X_block.shape[0], dtype=bool)
        complete[incomplete] = False
        X_complete = X_block[complete]
        if w_block.shape[0]:
            w_complete = w_block[complete]
    part = block_fn(X_complete, w_complete, *args)
    if side is None:
        return part
    return (*part, *side.fn(X_block, w_block, incomplete, *side.args))


class FilledRows(_View):
    """``rows`` with each NaN of column ``j`` replaced by ``values[j]``.

    Row-aligned arguments keep their rows (nothing is dropped); an array in
    memory is filled in a copy when asked for whole (:meth:`in_memory`, for
    k-means).
    """

    def __init__(self, rows, values):
        super().__init__(rows)
        self.values = np.asarray(values, dtype=np.float64)
        self._filled = None

    def reduce(self, block_fn, *args):
        return self.rows.reduce(_filled_block, block_fn, self.values, *args)

    def in_memory(self):
        array = self.rows.in_memory()
        if array is None:
            return None
        if self._filled is None:  # one copy, however often it is asked for
            self._filled = fill_missing(array[0], self.values)
        return self._filled, array[1]


def fill_missing(X, values):
    """A copy of ``X`` (same dtype), each NaN of column ``j`` set to ``values[j]``."""
    return np.where(np.isnan(X), np.asarray(values, dtype=X.dtype), X)


def _filled_block(X_block, w_block, block_fn, values, *args):
    if np.isnan(X_block).any():
        X_block = fill_missing(X_block, values)
    return block_fn(X_block, w_block, *args)


def observed_summary(rows):
    """:class:`ObservedSummary` of ``rows`` (one read).

    Raises
    ------
    ValueError
        If a column has no observed value (with a positive weight): the
        mixture cannot say anything about that feature.
    """
    n_incomplete, sums, weights = rows.reduce(_observed_block)
    empty = np.flatnonzero(~(weights > 0))
    if empty.size:
        raise ValueError(
            f"Input X has no observed value in column {empty[0]} (every entry is "
            "NaN, or its rows have zero weight): the mixture cannot model that "
            "feature; drop it."
        )
    return ObservedSummary(int(n_incomplete), sums / weights)


def _observed_block(X_block, w_block):
    """Rows with NaN, and per column the weighted sum and weight of observed values."""
    observed = ~np.isnan(X_block)
    n_incomplete = int(X_block.shape[0] - observed.all(axis=1).sum())
    weights = w_block if w_block.shape[0] else np.ones(X_block.shape[0])
    values = np.where(observed, X_block, 0).astype(np.float64, copy=False)
    return n_incomplete, weights @ values, weights @ observed


def marginal_statistics(rows, params, covariance_type, shift, complete_scatter):
    """One EM pass over rows with NaN: the merged ``GaussianStats``.

    Complete rows go through the complete-data pass, rows with NaN through the
    missing-value kernels, in one read of each block.

    Parameters
    ----------
    rows : Rows
        The training rows (with NaN).
    params : GaussianParams
    covariance_type : str
    shift : ndarray (n_features,)
        The point the complete-data kernels centre rows on (and, tied, the
        point of the scatter).
    complete_scatter : ndarray (n_features, n_features) or None
        Tied: the complete rows' scatter about ``shift``.

    Returns
    -------
    GaussianStats
    """
    args = kernel_args(params, covariance_type, rows.dtype)
    scale = weight_scale(rows)  # the complete-data pass scales by the same
    view = CompleteRows(rows, shift, Side(_missing_side, (args, scale), 4))
    kernel_params = (
        log_weights(params.weights),
        params.means,
        params.precisions_cholesky,
    )
    complete = gaussian_pass(view, kernel_params, covariance_type, shift=shift)
    missing = MissingStats(*(total * scale for total in view.side_sums()))
    return merge_with_complete(complete, missing, covariance_type, complete_scatter)


def _missing_side(X_block, w_block, incomplete, args, scale):
    """The block's incomplete rows' :class:`MissingStats` (in weights / scale)."""
    return tuple(block_stats(X_block, kernel_weights(w_block, scale), args, incomplete))
