"""Integer codes: what a categorical mixture takes, and the levels it learns.

A column's codes are the whole numbers ``0, 1, ..., n_levels - 1`` (in an
integer or a float array). :func:`summarise_codes` checks every entry with one
parallel kernel over fixed chunks (bounded memory, also on a memory map) and
returns each column's largest code; a bad entry raises a ``ValueError`` that
names the first one, found block by block.

The table of probabilities has ``n_components * sum(n_levels)`` entries and
each chunk of the pass keeps a table of statistics of that size, so the table
is limited to ``MAX_TABLE`` entries (codes below ``MAX_TABLE`` for that
matter): 2**18 entries give at most 64 MB of per-chunk statistics per block.
"""

import numpy as np

from emfast import _chunks
from emfast.kernels.mixture import categorical as kernels
from emfast.rows import ArrayRows, RowOffset

MAX_TABLE = 2**18


class CodeSummary:
    """What :func:`summarise_codes` finds: each column's largest code (-1 if
    the column has no rows). ``+`` keeps the larger of each column's."""

    def __init__(self, column_max):
        self.column_max = column_max

    def __add__(self, other):
        return CodeSummary(np.maximum(self.column_max, other.column_max))

    def n_levels(self):
        """Levels learned from the rows: the largest code + 1 (at least 1)."""
        return np.maximum(self.column_max + 1, 1).astype(np.int64)


class Limits:
    """Per-column bounds on the codes and the words that explain them.

    Parameters
    ----------
    n_levels : sequence of int or None
        The number of levels of each column, or None for the general bound
        ``MAX_TABLE`` (any number of columns).
    source : str
        Where the levels come from, for the message (``"n_levels"``: given;
        ``"n_levels_"``: a fitted model's).
    """

    def __init__(self, n_levels=None, source="n_levels"):
        self.n_levels = None if n_levels is None else tuple(int(n) for n in n_levels)
        self.source = source

    def array(self, n_features):
        """The bounds of ``n_features`` columns (float64)."""
        if self.n_levels is None:
            return np.full(n_features, float(MAX_TABLE))
        return np.asarray(self.n_levels, dtype=np.float64)

    def beyond(self, name, count, example):
        """The message for ``count`` codes at or above their column's bound."""
        if self.n_levels is None:
            return (
                f"{name} takes codes below 2**18 = {MAX_TABLE} (the largest "
                f"table of probabilities it fits), but X has {count} larger "
                f"value(s){example}."
            )
        fitted = self.source == "n_levels_"
        whose = "the fitted model's n_levels_" if fitted else "n_levels"
        hint = (
            "; give n_levels to fit levels that the training rows do not show"
            if fitted
            else ""
        )
        return (
            f"{name} expects the codes of column j below {whose}[j] = "
            f"{list(self.n_levels)}, but X has {count} code(s) beyond"
            f"{example}{hint}."
        )


def summarise_codes(rows, limits, estimator_name, first_row=0):
    """Check the codes of ``rows`` (a :class:`~emfast.rows.Rows`) against ``limits``.

    ``first_row`` is the index of the rows' first row (None: unknown, the rows
    are a block of a Dask array), for the message.

    Returns
    -------
    CodeSummary

    Raises
    ------
    ValueError
        Naming the first entry that is negative, not whole, or at or above its
        column's limit (in that order of checks).
    """
    if limits.n_levels is not None and len(limits.n_levels) != rows.n_features:
        raise ValueError(
            f"{limits.source} has {len(limits.n_levels)} entries but X has "
            f"{rows.n_features} columns: give one number of levels per column "
            "(or one int for every column)."
        )
    (summary,) = rows.reduce(
        _summary_block,
        RowOffset(0 if first_row is None else first_row),
        limits,
        estimator_name,
        first_row is None,
    )
    return summary


def check_codes(X, limits, estimator_name, first_row=0):
    """:func:`summarise_codes` of one array (a block, or all rows in memory)."""
    summarise_codes(ArrayRows(X), limits, estimator_name, first_row)


def _summary_block(X_block, w_block, first_row, limits, estimator_name, unknown):
    n_features = X_block.shape[1]
    bounds = limits.array(n_features)
    shapes = [(), (), (), (n_features,)]
    buffers = [np.empty((_chunks.n_chunks(X_block.shape[0]), *s)) for s in shapes]
    kernels.code_summary(X_block, bounds, _chunks.CHUNK_ROWS, *buffers)
    negative, fractional, too_large = (int(b.sum()) for b in buffers[:3])
    where = None if unknown else first_row
    if negative:
        raise ValueError(
            f"Negative values in data passed to {estimator_name}: it expects "
            f"integer codes 0, 1, 2, ..., but X has {negative} negative "
            f"value(s){_example(X_block, lambda x: x < 0, where)}."
        )
    if fractional:
        raise ValueError(
            f"{estimator_name} expects integer codes (non-negative whole "
            f"numbers), but X has {fractional} non-integer value(s)"
            f"{_example(X_block, lambda x: (x >= 0) & (x != np.floor(x)), where)}."
        )
    if too_large:
        example = _example(X_block, lambda x: (x == np.floor(x)) & (x >= bounds), where)
        raise ValueError(limits.beyond(estimator_name, too_large, example))
    column_max = (
        buffers[3].max(axis=0) if buffers[3].shape[0] else np.full(n_features, -1.0)
    )
    return (CodeSummary(column_max),)


def _example(X, is_bad, first_row):
    """``, e.g. X[i, j] = value`` for the first bad entry, searched block by
    block (memory of one block's mask)."""
    for start, stop in _chunks.iter_blocks(X.shape[0]):
        found = np.argwhere(is_bad(X[start:stop]))
        if found.shape[0]:
            row, col = found[0]
            value = X[start + row, col]
            if first_row is None:
                return f", e.g. {value} in row {start + row} of a block, column {col}"
            return f", e.g. X[{first_row + start + row}, {col}] = {value}"
    return ""
