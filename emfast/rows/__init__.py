"""Training and inference rows: the one execution seam between data and kernels.

The engine never sees the user's input. :func:`training_rows` turns it into a
:class:`Rows` whose one verb, :meth:`Rows.reduce`, runs a per-block function
over fixed blocks of rows and adds the results in block order:

- :class:`ArrayRows`: an array in memory or a memory map (``numpy.memmap``);
- :class:`ChunkedRows`: a source of row chunks read once per pass;
- ``DaskRows``: a Dask array, each block reduced on a worker.

:func:`inference_rows` does the same for rows scored by a fitted model:
results per row, computed now for an array and lazily for a Dask array. These
two factories are the only code outside :mod:`emfast.rows._dask` that knows
Dask exists, and they import that module only when given a Dask array.

Every form of input gets the same checks with the same messages (scikit-learn's
where it has one): the shape and dtype first, then the values of every block
each time it is read, including the family's own value checks.
"""

import mmap

import numpy as np

from emfast._validation import check_sample_weight, scoring_dtype, validate_rows
from emfast.rows._base import (
    LargestKeys,
    Pieces,
    RowAligned,
    RowArray,
    RowOffset,
    Rows,
    chunk_sums,
    symmetrise_upper,
)
from emfast.rows._local import ArrayInput, ArrayRows, ChunkedRows

__all__ = [
    "ArrayInput",
    "ArrayRows",
    "ChunkedRows",
    "LargestKeys",
    "Pieces",
    "RowAligned",
    "RowArray",
    "RowOffset",
    "Rows",
    "chunk_sums",
    "inference_rows",
    "is_chunk_source",
    "is_dask_array",
    "maps_a_file",
    "symmetrise_upper",
    "training_rows",
]


def training_rows(
    X,
    sample_weight,
    estimator,
    *,
    reset,
    ensure_min_samples=2,
    min_dtype=None,
    check_values=None,
    allow_nan=False,
):
    """Validated training rows as a :class:`Rows`.

    Arrays, lists and memory maps are checked whole; chunk sources and Dask
    arrays by their shape and dtype first, then every block each time it is
    read, with the same messages.

    Parameters
    ----------
    X : array-like, chunk source or Dask array
    sample_weight : array-like, Dask array or None
        Chunk sources carry their weights in ``(rows, sample_weight)`` chunks.
    estimator : estimator
        Gets scikit-learn's ``validate_data`` checks (``n_features_in_`` is set
        when ``reset``).
    reset : bool
        True for a new model, False to check the rows against a fitted one.
    ensure_min_samples : int, default=2
    min_dtype : numpy dtype or None
        Rows are read in at least this precision (a fitted model keeps its own).
    check_values : callable or None
        ``check_values(X_block, first_row)`` raises a ``ValueError`` for values
        the model cannot take; ``first_row`` is the index of the block's first
        row (None when unknown).
    allow_nan : bool, default=False
        Let NaN (missing values) through the checks of every form; infinities
        are refused either way.

    Returns
    -------
    Rows
    """
    options = dict(
        ensure_min_samples=ensure_min_samples,
        min_dtype=min_dtype,
        check_values=check_values,
        allow_nan=allow_nan,
    )
    if is_dask_array(X):
        from emfast.rows._dask import DaskRows

        return DaskRows(X, sample_weight, estimator, reset, **options)
    if is_chunk_source(X):
        if sample_weight is not None:
            raise ValueError(
                "With chunked input, give the sample weights inside the chunks as "
                "(rows, sample_weight) pairs."
            )
        return ChunkedRows(X, estimator, reset, **options)
    X = validate_rows(
        estimator,
        X,
        reset=reset,
        ensure_min_samples=ensure_min_samples,
        allow_nan=allow_nan,
    )
    if min_dtype is not None:
        X = np.ascontiguousarray(X, dtype=np.result_type(X, min_dtype))
    sample_weight = check_sample_weight(sample_weight, X.shape[0])
    if check_values is not None:
        check_values(X, 0)
    return ArrayRows(X, sample_weight)


def inference_rows(X, estimator, model_dtype, check_values=None, *, allow_nan=False):
    """Rows to score with a fitted model.

    Parameters
    ----------
    X : array-like or Dask array
    estimator : estimator
        The fitted model: the number of features is checked against it.
    model_dtype : numpy dtype
        The precision of its fitted arrays: rows are scored in it, or in
        theirs if it is higher (:func:`~emfast._validation.scoring_dtype`).
    check_values : callable or None
        As for :func:`training_rows`.
    allow_nan : bool, default=False
        As for :func:`training_rows`.

    Returns
    -------
    ArrayInput or DaskInput
        Both have ``dtype`` and ``map_rows(block_fn, *args, n_columns=None,
        out_dtype=None)``: results per row, an array or a lazy Dask array.
    """
    if is_dask_array(X):
        from emfast.rows._dask import DaskInput

        return DaskInput(X, estimator, model_dtype, check_values, allow_nan)
    X = validate_rows(estimator, X, reset=False, allow_nan=allow_nan)
    if check_values is not None:
        check_values(X, 0)
    return ArrayInput(X, scoring_dtype(X.dtype, model_dtype))


def maps_a_file(X):
    """Whether ``X`` is, or views, a memory-mapped file.

    Validation hands the rows on as a plain ``ndarray`` view of an
    ``np.memmap`` (``np.asarray`` drops the subclass), so the chain of bases
    is followed.
    """
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False


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
