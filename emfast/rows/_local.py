"""Rows read in this process: one array (:class:`ArrayRows`) or a chunk source.

- :class:`ArrayRows`: one C-contiguous array in memory or memory-mapped
  (``numpy.memmap``), viewed block by block;
- :class:`ChunkedRows`: a callable returning an iterator of row chunks, or a
  re-iterable of chunks (a list of arrays, an object whose ``__iter__`` starts
  over), read once per pass. Chunks of any size are re-cut into the same fixed
  blocks an in-memory fit uses, so a chunked fit equals the in-memory one bit
  for bit. Memory: one block plus the statistics.

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
from emfast.rows._base import NO_WEIGHTS, Rows


class ArrayRows(Rows):
    """Rows of one C-contiguous float array (in memory or memory-mapped).

    Parameters
    ----------
    X : ndarray of float32 or float64, C-contiguous
    sample_weight : ndarray of float64 of shape (n_samples,) or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = NO_WEIGHTS if sample_weight is None else sample_weight
        self.weighted = self.sample_weight.shape[0] > 0
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype

    def _blocks(self):
        bounds = list(_chunks.iter_blocks(self.n_samples)) or [(0, 0)]
        for start, stop in bounds:
            weights = self.sample_weight[start:stop] if self.weighted else NO_WEIGHTS
            yield start, stop, self.X[start:stop], weights

    def in_memory(self):
        return self.X, (self.sample_weight if self.weighted else None)


class ChunkedRows(Rows):
    """Rows read chunk by chunk from a callable or a re-iterable, once per pass.

    Every read (the first, which counts the rows, and each pass after it)
    checks every chunk in the same way and with the same messages: numeric,
    finite, 2-D, as many features as the first chunk, a dtype the first read
    gave, sample weights in every chunk or in none, non-negative finite weights
    of the chunk's length, the family's value checks (``check_values``); and
    each read must give as many rows as the first. Everything computed from the
    rows, the weight total included, comes from checked reads.

    Parameters
    ----------
    source : callable or iterable
        ``source()`` returns an iterable of chunks, or ``iter(source)`` does
        (and starts over on every call).
    estimator : estimator
        Gets the training-rows checks of ``validate_data`` (too few rows, the
        number of features; ``n_features_in_`` is set when ``reset``).
    reset : bool, default=True
        False to check the number of features against a fitted model.
    ensure_min_samples : int, default=2
    min_dtype : numpy dtype or None
        Rows are read in at least this precision (a fitted model's).
    check_values : callable or None
        ``check_values(X_chunk, first_row)`` raises a ``ValueError`` for values
        the model cannot take (``first_row``: the chunk's first row index).
    allow_nan : bool, default=False
        Let NaN (missing values) through the checks.
    """

    def __init__(
        self,
        source,
        estimator,
        reset=True,
        *,
        ensure_min_samples=2,
        min_dtype=None,
        check_values=None,
        allow_nan=False,
    ):
        if not callable(source) and iter(source) is source:
            raise ValueError(_ONE_SHOT)
        self.source = source
        self.name = type(estimator).__name__
        self.check_values = check_values
        self.allow_nan = allow_nan
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
        dtype = check_rows_layout(
            estimator,
            (rows, self.n_features or 0),
            np.float32 if all_float32 else np.float64,
            reset=reset,
            ensure_min_samples=ensure_min_samples,
        )
        self.dtype = dtype if min_dtype is None else np.result_type(dtype, min_dtype)
        self.weighted = bool(self._weights_given)
        if self.weighted:
            check_weight_total(weight_sum)

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
            X_chunk = check_rows_block(
                X_chunk, self.n_features, self.name, allow_nan=self.allow_nan
            )
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
            if self.check_values is not None:
                self.check_values(X_chunk, rows)
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

    def _blocks(self):
        """Re-cut the checked chunks into the fixed blocks of an in-memory fit."""
        block_rows = _chunks.CHUNK_ROWS * _chunks.CHUNKS_PER_BLOCK
        X_block = np.empty((block_rows, self.n_features), dtype=self.dtype)
        w_block = np.empty(block_rows) if self.weighted else NO_WEIGHTS
        filled = start_row = 0
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
                    yield start_row, start_row + filled, X_block, w_block
                    start_row += filled
                    filled = 0
        if filled or not start_row:
            weights = w_block[:filled] if self.weighted else w_block
            yield start_row, start_row + filled, X_block[:filled], weights


_ONE_SHOT = (
    "The chunks come from an iterator, which can be read only once, but EM reads "
    "the data once per iteration: pass a callable that returns a new iterator "
    "(e.g. lambda: read_chunks(path)) or a re-iterable such as a list of arrays."
)


class ArrayInput:
    """Validated rows of a fitted model, in memory or memory-mapped.

    Parameters
    ----------
    X : ndarray of float32 or float64
    dtype : numpy dtype
        The precision the rows are scored in (the model's, or the rows' if
        higher: :func:`~emfast._validation.scoring_dtype`).
    """

    def __init__(self, X, dtype):
        self.X = X
        self.dtype = np.dtype(dtype)

    def map_rows(self, block_fn, *args, n_columns=None, out_dtype=None):
        """``block_fn(rows, *args)``: one result (row or value) per row.

        Rows of a lower precision than :attr:`dtype` are converted one block
        at a time, so that a float32 memory map scored by a float64 model is
        never copied whole. (``n_columns`` and ``out_dtype`` describe the
        result for lazy inputs; an array's result is computed here.)
        """
        X = self.X
        if X.dtype == self.dtype:
            return block_fn(X, *args)
        out = None
        for start, stop in _chunks.iter_blocks(X.shape[0]):
            part = block_fn(X[start:stop].astype(self.dtype), *args)
            if out is None:
                out = np.empty((X.shape[0], *part.shape[1:]), part.dtype)
            out[start:stop] = part
        return out
