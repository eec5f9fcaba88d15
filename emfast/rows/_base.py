"""The Rows interface: one verb, :meth:`Rows.reduce`, over fixed blocks of rows.

Kernels never see the user's input. The engine hands :meth:`Rows.reduce` a
module-level *block function* ``block_fn(X_block, w_block, *args)`` that
returns a tuple (float64 arrays and floats, as a rule); ``reduce`` runs it on
every block of rows and adds the tuples element by element, in block order.
Block boundaries are fixed by :mod:`emfast._chunks` (never by the thread count
or by how a source cuts its rows), so an in-memory fit, a chunked fit and 1 or
2 threads give bit-identical sums. Dask arrays run the same block function on
the workers (see :mod:`emfast.rows._dask`).

Two kinds of arguments go beyond constants:

- a :class:`RowAligned` argument holds one entry per row (initial
  responsibilities, random draws, the row index, or values computed from the
  block's rows, such as the nearest of given centres); each block gets its own;
- a block function may return objects whose ``+`` is not a sum: :class:`Pieces`
  keeps per-row results in order, :class:`LargestKeys` the rows with the
  largest keys. ``reduce`` only ever combines results with ``+``.

Everything the engine needs from the data itself (the weight total, the
weighted mean, the centred scatter) is built on ``reduce`` here.
"""

import numpy as np

from emfast import _chunks
from emfast._numba import for_rows
from emfast.kernels.mixture import moments

NO_WEIGHTS = np.empty(0)


class RowAligned:
    """An argument of :meth:`Rows.reduce` with one entry per row.

    ``reduce`` replaces it by :meth:`block` of each block's rows, asked in
    block order (so a source that draws random numbers draws them in row
    order). Dask rows first cut it into one piece per Dask block with
    :meth:`restrict`, on the client, and each task cuts its piece again.
    """

    def block(self, start, stop):
        """The value the block function gets for rows ``start:stop``."""
        raise NotImplementedError

    def of_rows(self, X_block, start, stop):
        """The value for rows ``start:stop``, whose values are ``X_block``.

        What ``reduce`` asks; the default is :meth:`block`. An argument
        computed from the rows themselves overrides it.
        """
        return self.block(start, stop)

    def restrict(self, start, stop):
        """The same argument for rows ``start:stop`` only, counted from 0."""
        raise NotImplementedError


class RowOffset(RowAligned):
    """The index of a block's first row (the block function gets an int)."""

    def __init__(self, offset=0):
        self.offset = offset

    def block(self, start, stop):
        return self.offset + start

    def restrict(self, start, stop):
        return RowOffset(self.offset + start)


class RowArray(RowAligned):
    """An array with one entry (or row) per row; each block gets its slice."""

    def __init__(self, values):
        self.values = values

    def block(self, start, stop):
        return self.values[start:stop]

    def restrict(self, start, stop):
        return RowArray(self.values[start:stop])


class Pieces:
    """Per-row results kept in block order: ``+`` puts them one after the other."""

    def __init__(self, *pieces):
        self.pieces = list(pieces)

    def __add__(self, other):
        return Pieces(*self.pieces, *other.pieces)

    def concatenate(self):
        return np.concatenate(self.pieces)


class LargestKeys:
    """The ``size`` rows with the largest keys among those seen (ties: first row).

    ``+`` merges two selections, the left one's rows first, so that reducing
    over blocks in order gives the selection of one stable sort of all keys.
    """

    def __init__(self, keys, rows, size):
        keep = np.argsort(-keys, kind="stable")[:size]
        self.keys, self.rows, self.size = keys[keep], rows[keep], size

    def __add__(self, other):
        return LargestKeys(
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.rows, other.rows]),
            self.size,
        )


def fold(parts):
    """Add tuples element by element, in order (the first is kept as it is)."""
    total = None
    for part in parts:
        total = part if total is None else tuple(a + b for a, b in zip(total, part))
    return total


def block_arguments(args, start, stop, X_block):
    """``args`` with every :class:`RowAligned` replaced by its block's value."""
    return [
        arg.of_rows(X_block, start, stop) if isinstance(arg, RowAligned) else arg
        for arg in args
    ]


def chunk_sums(fill, n_rows, shapes):
    """Per-chunk float64 sums of a kernel, added in chunk order.

    ``fill(*buffers)`` runs a kernel that writes one row of each buffer (shape
    ``(n_chunks, *shape)``) per chunk of ``CHUNK_ROWS`` rows.
    """
    buffers = [np.empty((_chunks.n_chunks(n_rows), *shape)) for shape in shapes]
    fill(*buffers)
    return tuple(buffer.sum(axis=0) for buffer in buffers)


def symmetrise_upper(matrices):
    """Copy the upper triangle of the last two axes onto the lower one."""
    return np.triu(matrices) + np.swapaxes(np.triu(matrices, 1), -1, -2)


class Rows:
    """Rows of one training set, read block by block; the one execution seam.

    Attributes
    ----------
    n_samples, n_features : int
    dtype : numpy dtype
        float32 or float64: the precision the kernels run in.
    weighted : bool
        Whether the rows carry sample weights (``w_block`` is empty if not).
    """

    n_samples: int
    n_features: int
    dtype: np.dtype
    weighted: bool = False
    _weight_sum = None
    _mean = None
    _scatter = None

    # ------------------------------------------------------------- the verb
    def reduce(self, block_fn, *args):
        """``block_fn(X_block, w_block, *args)`` over every block, added in order.

        Parameters
        ----------
        block_fn : callable
            A module-level function (Dask ships it by name) returning a tuple.
            ``w_block`` is an empty array when the rows are unweighted.
        *args
            Constants (small: Dask sends them to each worker once per call) and
            :class:`RowAligned` arguments.

        Returns
        -------
        tuple
            The element-wise ``+`` of the blocks' tuples, in block order.
        """
        parts = (
            block_fn(X_block, w_block, *block_arguments(args, start, stop, X_block))
            for start, stop, X_block, w_block in self._blocks()
        )
        return fold(parts)

    def _blocks(self):
        """Yield ``(start, stop, X_block, w_block)`` of the fixed blocks, at
        least one (empty rows give one empty block)."""
        raise NotImplementedError

    def in_memory(self):
        """``(X, sample_weight or None)`` if the rows are one array, else None."""
        return None

    # -------------------------------------------- moments, built on reduce
    @property
    def weight_sum(self):
        """``sum w`` over the blocks in order (``n_samples`` without weights).

        Summing block by block, not chunk by chunk as a source gives them, makes
        the total, and everything divided by it, the same for every way of
        cutting the same rows into chunks.
        """
        if self._weight_sum is None:
            if self.weighted:
                (self._weight_sum,) = self.reduce(_weight_total)
            else:
                self._weight_sum = float(self.n_samples)
        return self._weight_sum

    def mean(self):
        """Weighted mean of the rows (float64), computed once."""
        if self._mean is None:
            total, weight_sum = self.reduce(_weighted_row_sum)
            if self._weight_sum is None and self.weighted:
                self._weight_sum = weight_sum  # one read of chunked input, not two
            self._mean = total / self.weight_sum
        return self._mean

    def centred_scatter(self):
        """``(mean, scatter)`` with ``scatter = sum w (x - mean)(x - mean)^T``.

        Computed once and kept: tied covariances need it every iteration.
        """
        if self._scatter is None:
            _, scatter = self.reduce(_scatter_block, self.mean())
            self._scatter = symmetrise_upper(scatter)
        return self.mean(), self._scatter

    def centred_squares(self):
        """``(mean, squares)`` with ``squares = sum w (x - mean)**2`` per feature."""
        mean = self.mean()
        _, squares = self.reduce(_squares_block, mean)
        return mean, squares


# ------------------------------------------------------- block functions
def _weight_total(X_block, w_block):
    return (float(w_block.sum()),)


def _weighted_row_sum(X_block, w_block):
    if w_block.shape[0]:
        return w_block @ X_block.astype(np.float64, copy=False), float(w_block.sum())
    return X_block.sum(axis=0, dtype=np.float64), 0.0


def _scatter_block(X_block, w_block, mean):
    n_features = X_block.shape[1]
    return chunk_sums(
        lambda weight_sums, out: for_rows(moments.scatter, X_block.shape[0])(
            X_block, w_block, mean, _chunks.CHUNK_ROWS, weight_sums, out
        ),
        X_block.shape[0],
        [(), (n_features, n_features)],
    )


def _squares_block(X_block, w_block, mean):
    return chunk_sums(
        lambda weight_sums, out: for_rows(moments.squares, X_block.shape[0])(
            X_block, w_block, mean, _chunks.CHUNK_ROWS, weight_sums, out
        ),
        X_block.shape[0],
        [(), (X_block.shape[1],)],
    )
