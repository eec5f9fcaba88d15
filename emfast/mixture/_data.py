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
from emfast._validation import validate_chunk
from emfast.kernels import moments

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

    The first read validates every chunk (numeric, finite, 2-D, the same number
    of features, non-negative finite weights) and counts the rows; later reads
    check that the source gives the same rows again.

    Parameters
    ----------
    source : callable or iterable
        ``source()`` returns an iterable of chunks, or ``iter(source)`` does
        (and starts over on every call).
    estimator_name : str
        For error messages.
    """

    def __init__(self, source, estimator_name="estimator"):
        if not callable(source) and iter(source) is source:
            raise ValueError(_ONE_SHOT)
        self.source = source
        self.name = estimator_name
        dtypes, rows, n_features, weights = set(), 0, None, None
        weight_sum = 0.0
        for X_chunk, w_chunk in self._raw_chunks():
            X_chunk = validate_chunk(X_chunk, n_features, self.name)
            n_features = X_chunk.shape[1]
            dtypes.add(X_chunk.dtype)
            if weights is None:
                weights = w_chunk is not None
            elif weights != (w_chunk is not None):
                raise ValueError("Either every chunk carries sample weights or none.")
            if w_chunk is not None:
                w_chunk = _check_chunk_weights(w_chunk, X_chunk.shape[0])
                weight_sum += float(w_chunk.sum())
            rows += X_chunk.shape[0]
        if rows == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape=(0, {n_features or 0})) while "
                f"a minimum of 1 is required by {self.name}."
            )
        self.n_samples, self.n_features = rows, n_features
        self.dtype = (
            np.dtype(np.float32)
            if dtypes == {np.dtype(np.float32)}
            else (np.dtype(np.float64))
        )
        self._weights_given = bool(weights)
        if weights and not weight_sum > 0:
            raise ValueError("The sample weights of the chunks sum to zero.")

    @property
    def weighted(self):
        return self._weights_given

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

    def blocks(self):
        """Re-cut the chunks into the fixed blocks of an in-memory fit."""
        block_rows = _chunks.CHUNK_ROWS * _chunks.CHUNKS_PER_BLOCK
        X_block = np.empty((block_rows, self.n_features), dtype=self.dtype)
        w_block = np.empty(block_rows) if self.weighted else _NO_WEIGHTS
        filled = total = 0
        for X_chunk, w_chunk in self._raw_chunks():
            X_chunk = np.asarray(X_chunk)
            if X_chunk.ndim != 2 or X_chunk.shape[1] != self.n_features:
                raise ValueError(
                    f"A chunk has shape {X_chunk.shape}; the first pass saw "
                    f"{self.n_features} features."
                )
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
            total += X_chunk.shape[0]
        if filled:
            yield X_block[:filled], (w_block[:filled] if self.weighted else w_block)
        if total != self.n_samples:
            raise ValueError(
                f"The chunk source gave {total} rows in this pass but "
                f"{self.n_samples} in the first: it must give the same rows on "
                "every pass."
            )


_ONE_SHOT = (
    "The chunks come from an iterator, which can be read only once, but EM reads "
    "the data once per iteration: pass a callable that returns a new iterator "
    "(e.g. lambda: read_chunks(path)) or a re-iterable such as a list of arrays."
)


def _check_chunk_weights(weights, n_rows):
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n_rows,):
        raise ValueError(
            f"sample_weight.shape == {weights.shape}, expected ({n_rows},)!"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("Negative values in data passed to `sample_weight`")
    return weights


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
