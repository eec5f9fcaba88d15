"""Training rows as the EM driver sees them: fixed blocks of rows with weights.

Kernels never see the user's input directly: they run block by block through
:meth:`Rows.sum_chunks`. Two sources exist:

- :class:`RowData`: one array in memory or memory-mapped (``numpy.memmap``);
- :class:`ChunkedRows`: a callable returning an iterator of row chunks, or a
  re-iterable of chunks (a list of arrays, an object whose ``__iter__`` starts
  over), read once per EM iteration. Chunks of any size are re-cut into the
  same fixed blocks an in-memory fit uses, so a chunked fit equals the
  in-memory one bit for bit. Memory: one block plus the statistics.

A chunk is a 2-D array of rows or a ``(rows, sample_weight)`` pair.
"""

import numpy as np

from emfast import _chunks
from emfast._validation import (
    check_rows_block,
    check_rows_layout,
    check_sample_weight,
    check_weight_total,
)
from emfast.kernels.mixture import moments

_NO_WEIGHTS = np.empty(0)


class Rows:
    """What every row source provides; subclasses implement :meth:`blocks`.

    Attributes
    ----------
    n_samples, n_features : int
    dtype : numpy dtype (float32 or float64)
    weighted : bool
    weight_sum : float
        ``sum w`` (``n_samples`` without weights), see :attr:`weight_sum`.
    X : ndarray or None
        All rows, when they are one array (k-means initialisations need it).
    """

    X = None
    sample_weight = _NO_WEIGHTS
    _weight_sum = None

    @property
    def weight_sum(self):
        """``sum w`` over the fixed blocks in order (one read of chunked input).

        Summing block by block, not chunk by chunk as a source gives them, makes
        the total, and everything divided by it, the same for every way of
        cutting the same rows into chunks.
        """
        if self._weight_sum is None:
            if self.weighted:
                total = 0.0
                for w_block in self.weight_blocks():
                    total += float(w_block.sum())
                self._weight_sum = total
            else:
                self._weight_sum = float(self.n_samples)
        return self._weight_sum

    def blocks(self):
        """Yield ``(X_block, weight_block)`` of ``BLOCK_ROWS`` rows (the last is
        shorter); ``weight_block`` is empty when unweighted."""
        raise NotImplementedError

    def weight_blocks(self):
        """Yield the sample weights block by block (empty arrays if unweighted)."""
        for _, w_block in self.blocks():
            yield w_block

    def sum_chunks(self, run_kernel, shapes):
        """Run ``run_kernel(X_block, w_block, *buffers)`` on every block; sum buffers.

        ``shapes`` are the per-chunk shapes of the kernel's float64 outputs. Chunk
        results are added in chunk order, so the sums do not depend on the
        number of threads.
        """
        totals = [np.zeros(shape) for shape in shapes]
        buffers = None
        for X_block, w_block in self.blocks():
            count = _chunks.n_chunks(X_block.shape[0])
            if buffers is None:  # the first block is the largest
                buffers = [np.empty((count, *shape)) for shape in shapes]
            views = [buffer[:count] for buffer in buffers]
            run_kernel(X_block, w_block, *views)
            for total, view in zip(totals, views):
                total += view.sum(axis=0)
        return totals

    def mean(self):
        """Weighted mean of the rows (float64), computed once."""
        if getattr(self, "_mean", None) is None:
            total = np.zeros(self.n_features)
            weight_sum = 0.0  # as in weight_sum: one read of chunked input, not two
            for X_block, w_block in self.blocks():
                if w_block.shape[0]:
                    total += w_block @ X_block.astype(np.float64, copy=False)
                    weight_sum += float(w_block.sum())
                else:
                    total += X_block.sum(axis=0, dtype=np.float64)
            if self._weight_sum is None and self.weighted:
                self._weight_sum = weight_sum
            self._mean = total / self.weight_sum
        return self._mean

    def centred_scatter(self):
        """``(mean, scatter)`` with ``scatter = sum w (x - mean)(x - mean)^T``.

        Computed once and kept: tied covariances need it every iteration.
        """
        if getattr(self, "_scatter", None) is None:
            mean = self.mean()
            n_features = self.n_features

            def run(X_block, w_block, weight_sums, out):
                moments.scatter(
                    X_block, w_block, mean, _chunks.CHUNK_ROWS, weight_sums, out
                )

            _, scatter = self.sum_chunks(run, [(), (n_features, n_features)])
            self._scatter = symmetrise_upper(scatter)
        return self.mean(), self._scatter

    def centred_squares(self):
        """``(mean, squares)`` with ``squares = sum w (x - mean)**2`` per feature."""
        mean = self.mean()

        def run(X_block, w_block, weight_sums, out):
            chunk_rows = _chunks.CHUNK_ROWS
            moments.squares(X_block, w_block, mean, chunk_rows, weight_sums, out)

        _, squares = self.sum_chunks(run, [(), (self.n_features,)])
        return mean, squares

    @property
    def weighted(self):
        return self.sample_weight.shape[0] > 0


class RowData(Rows):
    """Rows of one C-contiguous float array (in memory or memory-mapped).

    Parameters
    ----------
    X : ndarray of float32 or float64, C-contiguous
    sample_weight : ndarray of float64 of shape (n_samples,) or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = _NO_WEIGHTS if sample_weight is None else sample_weight
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype

    def blocks(self):
        for start, stop in _chunks.iter_blocks(self.n_samples):
            weights = self.sample_weight[start:stop] if self.weighted else _NO_WEIGHTS
            yield self.X[start:stop], weights


class ChunkedRows(Rows):
    """Rows read chunk by chunk from a callable or a re-iterable, once per pass.

    Every read (the first, which counts the rows, and each pass after it)
    checks every chunk in the same way and with the same messages: numeric,
    finite, 2-D, as many features as the first chunk, a dtype the first read
    gave, sample weights in every chunk or in none, non-negative finite weights
    of the chunk's length; and each read must give as many rows as the first.
    Everything computed from the rows, the weight total included, comes from
    checked reads.

    Parameters
    ----------
    source : callable or iterable
        ``source()`` returns an iterable of chunks, or ``iter(source)`` does
        (and starts over on every call).
    estimator : estimator
        Gets the training-rows checks of ``validate_data`` (too few rows, the
        number of features; ``n_features_in_`` is set when ``reset``).
    reset : bool, default=True
        False to check the number of features against a fitted model
        (``warm_start``).
    """

    def __init__(self, source, estimator, reset=True):
        if not callable(source) and iter(source) is source:
            raise ValueError(_ONE_SHOT)
        self.source = source
        self.name = type(estimator).__name__
        self.n_features = None  # set by the first chunk
        self._weights_given = None  # set by the first chunk
        self._first_read_dtypes = None  # set at the end of the first read
        dtypes, rows, weight_sum = set(), 0, 0.0
        for X_chunk, w_chunk in self._checked_chunks():
            dtypes.add(X_chunk.dtype)
            rows += X_chunk.shape[0]
            if w_chunk is not None:
                weight_sum += float(w_chunk.sum())
        self._first_read_dtypes = dtypes
        self.n_samples = rows
        all_float32 = dtypes == {np.dtype(np.float32)}
        self.dtype = check_rows_layout(
            estimator,
            (rows, self.n_features or 0),
            np.float32 if all_float32 else np.float64,
            reset=reset,
            ensure_min_samples=2,
        )
        if self.weighted:
            check_weight_total(weight_sum)

    @property
    def weighted(self):
        return bool(self._weights_given)

    def _raw_chunks(self):
        chunks = self.source() if callable(self.source) else self.source
        for chunk in chunks:
            if isinstance(chunk, tuple):
                if len(chunk) != 2:
                    raise ValueError(
                        "A chunk must be an array of rows or a (rows, sample_weight) "
                        f"pair, got a tuple of {len(chunk)}."
                    )
                yield chunk
            else:
                yield chunk, None

    def _checked_chunks(self):
        """Yield the source's chunks as ``(X_chunk, w_chunk or None)``, checked.

        The same checks on the first read and on every later one: a source
        that changes between passes gets the error its first read would have.
        """
        first_read = self._first_read_dtypes is None
        rows = 0
        for X_chunk, w_chunk in self._raw_chunks():
            X_chunk = check_rows_block(X_chunk, self.n_features, self.name)
            if self.n_features is None:
                self.n_features = X_chunk.shape[1]
            if self._weights_given is None:
                self._weights_given = w_chunk is not None
            elif self._weights_given != (w_chunk is not None):
                raise ValueError("Either every chunk carries sample weights or none.")
            if w_chunk is not None:
                w_chunk = check_sample_weight(
                    w_chunk, X_chunk.shape[0], allow_all_zero=True
                )
            rows += X_chunk.shape[0]
            if not first_read:
                self._check_same_as_first_read(X_chunk.dtype, rows)
            yield X_chunk, w_chunk
        if not first_read and rows != self.n_samples:
            raise ValueError(self._changed_rows(rows))

    def _check_same_as_first_read(self, dtype, rows_so_far):
        if dtype not in self._first_read_dtypes:
            first = sorted(str(d) for d in self._first_read_dtypes)
            raise ValueError(
                f"A chunk has dtype {dtype} but the first pass gave only "
                f"{', '.join(first)}: the chunk source must give the same rows "
                "on every pass."
            )
        if rows_so_far > self.n_samples:
            raise ValueError(self._changed_rows(f"more than {self.n_samples}"))

    def _changed_rows(self, rows):
        return (
            f"The chunk source gave {rows} rows in this pass but "
            f"{self.n_samples} in the first: it must give the same rows on "
            "every pass."
        )

    def blocks(self):
        """Re-cut the checked chunks into the fixed blocks of an in-memory fit."""
        block_rows = _chunks.CHUNK_ROWS * _chunks.CHUNKS_PER_BLOCK
        X_block = np.empty((block_rows, self.n_features), dtype=self.dtype)
        w_block = np.empty(block_rows) if self.weighted else _NO_WEIGHTS
        filled = 0
        for X_chunk, w_chunk in self._checked_chunks():
            start = 0
            while start < X_chunk.shape[0]:
                take = min(block_rows - filled, X_chunk.shape[0] - start)
                X_block[filled : filled + take] = X_chunk[start : start + take]
                if self.weighted:
                    w_block[filled : filled + take] = w_chunk[start : start + take]
                filled += take
                start += take
                if filled == block_rows:
                    yield X_block, w_block
                    filled = 0
        if filled:
            yield X_block[:filled], (w_block[:filled] if self.weighted else w_block)


_ONE_SHOT = (
    "The chunks come from an iterator, which can be read only once, but EM reads "
    "the data once per iteration: pass a callable that returns a new iterator "
    "(e.g. lambda: read_chunks(path)) or a re-iterable such as a list of arrays."
)


def is_dask_array(X):
    """Whether ``X`` is a Dask array (checked without importing Dask)."""
    return type(X).__module__.startswith("dask.array") and hasattr(X, "to_delayed")


def is_chunk_source(X):
    """Whether ``X`` is a chunk source (callable, iterator, list of 2-D arrays)."""
    if callable(X) and not hasattr(X, "__array__"):
        return True
    if (
        isinstance(X, (list, tuple))
        and X
        and (isinstance(X[0], tuple) or getattr(X[0], "ndim", 0) == 2)
    ):
        return True
    return hasattr(X, "__next__") and hasattr(X, "__iter__")


def symmetrise_upper(matrices):
    """Copy the upper triangle of the last two axes onto the lower one."""
    return np.triu(matrices) + np.swapaxes(np.triu(matrices, 1), -1, -2)
