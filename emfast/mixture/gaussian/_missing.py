"""Gaussian mixtures on rows with missing values (NaN): statistics, scores, imputation.

Incomplete-data EM (Ghahramani and Jordan, 1994) needs, for each row with NaN,
the density of its observed coordinates and the expected sufficient statistics
given them. The kernels (:mod:`~emfast.kernels.mixture.gaussian_missing` for
full and tied covariances, :mod:`~emfast.kernels.mixture.gaussian_missing_tile`
for their passes over few features,
:mod:`~emfast.kernels.mixture.gaussian_missing_diag` for diagonal and spherical
ones) do that for a *listed subset* of the rows of a
block; complete rows are left to the complete-data kernels, so that data
without NaN follow the complete-data path bit for bit.

This module is the layer between those kernels and the rows of a pass:

- :func:`incomplete_rows` lists the rows of a block with a NaN (and refuses a
  row without an observed value or with an infinity);
- :func:`block_stats` gives the :class:`MissingStats` of listed rows under
  :func:`kernel_args` (small arrays, built once per pass and shipped to Dask
  workers with every block); per-chunk sums are added in chunk order;
- :func:`merge_with_complete` adds them to the complete rows'
  :class:`~emfast.mixture.gaussian._pass.GaussianStats`, which the M-step
  (:func:`~emfast.mixture.gaussian._update.estimate_gaussian_parameters`)
  takes as they are;
- :mod:`~emfast.mixture.gaussian._missing_score` scores and imputes rows with
  the same kernels.

Statistics are centred on the means rounded to the data dtype, as in
:func:`~emfast.mixture.gaussian._pass.gaussian_pass`, so both parts share
``centers``. How a pass routes the rows of each block is
:mod:`emfast.mixture.gaussian._missing_rows`'s job.
"""

from typing import NamedTuple

import numpy as np

from emfast import _chunks
from emfast.kernels.mixture import (
    gaussian_missing,
    gaussian_missing_diag,
    gaussian_missing_tile,
)
from emfast.mixture.gaussian._kernels import upper_by_columns
from emfast.mixture.gaussian._pass import (
    GaussianStats,
    as_dtype_values,
    log_weights,
)
from emfast.rows import symmetrise_upper

_NO_WEIGHTS = np.empty(0)


class MissingArgs(NamedTuple):
    """Parameters in kernel layout for one pass (float64, small).

    ``model`` is the ``Model`` of :attr:`kernels`:
    :mod:`~emfast.kernels.mixture.gaussian_missing` (full, tied) or
    :mod:`~emfast.kernels.mixture.gaussian_missing_diag` (diag, spherical); ``centers``
    are the means the statistics are centred on (rounded to the data dtype).
    ``tile`` is ``(size, params)`` for the pattern-tile kernel
    (:mod:`~emfast.kernels.mixture.gaussian_missing_tile`: full and tied
    covariances with at most its ``MAX_FEATURES`` features), else None.
    """

    covariance_type: str
    centers: np.ndarray
    model: tuple
    tile: tuple = None

    @property
    def kernels(self):
        if self.covariance_type in ("full", "tied"):
            return gaussian_missing
        return gaussian_missing_diag


class MissingStats(NamedTuple):
    """Expected sufficient statistics of the incomplete rows of a pass.

    Attributes
    ----------
    log_norm : float
        ``sum w log p(x_o)``.
    nk : ndarray (n_components,)
        ``sum r``.
    s1 : ndarray (n_components, n_features)
        ``sum r E[x - center]``.
    s2 : ndarray
        ``sum r E[(x - center)(x - center)^T]``, conditional covariance of the
        missing coordinates included: (n_components, n_features, n_features)
        for full and tied, its diagonal (n_components, n_features) otherwise.
    """

    log_norm: float
    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray


def kernel_args(params, covariance_type, dtype):
    """:class:`MissingArgs` of ``params`` (a ``GaussianParams``) for ``dtype`` data."""
    means = np.asarray(params.means, dtype=np.float64)
    n_components = means.shape[0]
    centers = as_dtype_values(means, dtype)
    means_t = np.ascontiguousarray(centers.T)
    log_w = log_weights(params.weights)
    chol = np.asarray(params.precisions_cholesky, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        factors = chol if covariance_type == "full" else chol[None]
        precision = factors @ factors.transpose(0, 2, 1)
        log_det_chol = np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
        prec_t = factors.transpose(1, 2, 0)
        if covariance_type == "tied":
            prec_t = np.repeat(prec_t, n_components, axis=2)
        model = gaussian_missing.Model(
            log_w,
            means_t,
            np.ascontiguousarray(prec_t),
            np.ascontiguousarray(precision.transpose(1, 2, 0)),
            log_det_chol,
        )
        n_features = means.shape[1]
        if n_features <= gaussian_missing_tile.MAX_FEATURES:
            factors = np.broadcast_to(chol, (n_components, n_features, n_features))
            params = np.concatenate([centers, upper_by_columns(factors)], axis=1)
            tile = ((0,) * n_features, np.ascontiguousarray(params))
            return MissingArgs(covariance_type, centers, model, tile)
    else:
        if covariance_type == "spherical":
            chol = np.broadcast_to(chol[:, None], means.shape)
        prec_t = np.ascontiguousarray((chol**2).T)
        half_log_prec_t = np.ascontiguousarray(np.log(chol).T)
        model = gaussian_missing_diag.Model(log_w, means_t, prec_t, half_log_prec_t)
    return MissingArgs(covariance_type, centers, model)


def missing_counts(X, first_row=0):
    """Number of NaN per row of ``X``; raises if a row cannot be used.

    Parameters
    ----------
    X : ndarray of float32 or float64
    first_row : int or None
        Index of ``X[0]`` among the user's rows (for messages; None if unknown).

    Raises
    ------
    ValueError
        For a row with an infinity, or with no observed value.
    """
    counts = np.empty(X.shape[0], dtype=np.int64)
    gaussian_missing.count_missing(X, _chunks.CHUNK_ROWS, counts)
    bad = np.flatnonzero((counts < 0) | (counts == X.shape[1]))
    if bad.size:
        i = bad[0]
        row = "a row" if first_row is None else f"row {first_row + i}"
        if counts[i] < 0:
            raise ValueError(
                f"Input X contains infinity ({row}); only NaN marks a missing value."
            )
        raise ValueError(
            f"Input X has no observed value in {row} (every entry is NaN): the "
            "row says nothing about the mixture; drop it."
        )
    return counts


def check_observed(X, first_row=0):
    """Raise a ``ValueError`` naming the first row without an observed value.

    The value check of a family that marginalises missing values (rows of
    ``X`` may hold NaN, and at least one number each).
    """
    missing_counts(X, first_row)


def incomplete_rows(X, first_row=0):
    """Sorted indices of the rows of ``X`` with at least one NaN (validated)."""
    return np.flatnonzero(missing_counts(X, first_row)).astype(np.int64)


# The row kernels group a chunk's rows by pattern and factorise once per
# pattern and component: in chunks of 8 x CHUNK_ROWS rows a pattern serves more
# rows. At N = 1e6, D = 8, K = 16, 20 % missing, 2 threads on an Intel Xeon with
# AVX-512, a pass took 0.50 s with chunks of 1 x CHUNK_ROWS, 0.40 s with 4,
# 0.37 s with 8, 0.38 s with 16 and 0.64 s with 32. The pattern-tile kernel
# sorts whole blocks (PATTERN_CHUNKS = CHUNKS_PER_BLOCK) and splits the sorted
# rows into segments of SEGMENT_CHUNKS x CHUNK_ROWS for the threads. Chunks stay
# inside the blocks of CHUNKS_PER_BLOCK chunks, and all bounds depend on the
# row index and the data alone, so the sums do not depend on the thread count.
PATTERN_CHUNKS = 8
SEGMENT_CHUNKS = 2


def pattern_chunk_rows(tile=False):
    """Rows per chunk of the missing-value kernels (a multiple of CHUNK_ROWS)."""
    per_block = _chunks.CHUNKS_PER_BLOCK
    return _chunks.CHUNK_ROWS * (per_block if tile else min(PATTERN_CHUNKS, per_block))


def n_pattern_chunks(n_rows, tile=False):
    """Number of missing-value chunks that cover ``n_rows`` rows."""
    return -(-n_rows // pattern_chunk_rows(tile))


def chunk_bounds(rows, n_rows, tile=False):
    """``bounds[c]:bounds[c + 1]``: the positions in ``rows`` of chunk ``c``."""
    edges = np.arange(n_pattern_chunks(n_rows, tile) + 1) * pattern_chunk_rows(tile)
    return np.searchsorted(rows, edges).astype(np.int64)


def segment_bounds(bounds):
    """Segments of at most SEGMENT_CHUNKS x CHUNK_ROWS positions inside each chunk."""
    size = SEGMENT_CHUNKS * _chunks.CHUNK_ROWS
    starts = [np.arange(lo, hi, size) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return np.append(np.concatenate(starts), bounds[-1]).astype(np.int64)


def block_stats(X_block, w_block, args, rows):
    """:class:`MissingStats` of the listed rows of one block.

    Parameters
    ----------
    X_block : ndarray (n_rows, n_features), C-contiguous float32 or float64
    w_block : ndarray (n_rows,) of float64, or empty for unit weights
    args : MissingArgs
    rows : ndarray of int64
        Sorted row indices within the block (rows with NaN; complete rows are
        accepted too and give their complete-data statistics).

    Returns
    -------
    MissingStats
        Per-chunk sums added in chunk order (independent of the thread count).
    """
    n_rows, n_features = X_block.shape
    n_components = args.centers.shape[0]
    D, K = n_features, n_components
    tile = args.tile is not None
    bounds = chunk_bounds(rows, n_rows, tile)
    if tile:
        segments = segment_bounds(bounds)
        n_chunks = len(segments) - 1
    else:
        n_chunks = len(bounds) - 1
    s2_shape = (D, D, K) if args.covariance_type in ("full", "tied") else (D, K)
    ll = np.empty(n_chunks)
    nk = np.empty((n_chunks, K))
    s1 = np.empty((n_chunks, D, K))
    s2 = np.empty((n_chunks, *s2_shape))
    w_block = _NO_WEIGHTS if w_block is None else w_block
    if tile:
        size, params = args.tile
        gaussian_missing_tile.stats(
            X_block,
            rows,
            bounds,
            segments,
            w_block,
            size,
            params,
            args.model,
            ll,
            nk,
            s1,
            s2,
        )
    else:
        args.kernels.stats(X_block, rows, bounds, w_block, args.model, ll, nk, s1, s2)
    s2 = s2.sum(axis=0)
    if len(s2_shape) == 3:
        s2 = symmetrise_upper(s2.transpose(2, 0, 1))
    else:
        s2 = s2.T.copy()
    return MissingStats(float(ll.sum()), nk.sum(axis=0), s1.sum(axis=0).T.copy(), s2)


def missing_pass(X_block, w_block, params, covariance_type, rows=None):
    """:class:`MissingStats` of the rows of ``X_block`` with NaN under ``params``.

    ``rows`` lists the rows to use (sorted block indices); default: every row
    with a NaN. Use :func:`block_stats` with prepared :func:`kernel_args` when
    the same parameters serve many blocks.
    """
    X_block = np.ascontiguousarray(X_block)
    if rows is None:
        rows = incomplete_rows(X_block)
    args = kernel_args(params, covariance_type, X_block.dtype)
    return block_stats(X_block, w_block, args, np.asarray(rows, dtype=np.int64))


def tied_scatter(missing, centers, shift):
    """``sum_k sum r E[(x - shift)(x - shift)^T]`` of incomplete rows (D x D).

    The tied M-step of an EM pass takes the total scatter of the rows about
    ``shift`` and removes the between-component part itself; this is the
    incomplete rows' share of it, from their per-component moments about
    ``centers``: ``s2_k + s1_k a_k^T + a_k s1_k^T + R_k a_k a_k^T`` with
    ``a_k = center_k - shift``.
    """
    offsets = centers - shift
    cross = missing.s1.T @ offsets
    return missing.s2.sum(axis=0) + cross + cross.T + (offsets.T * missing.nk) @ offsets


def merge_with_complete(complete, missing, covariance_type, complete_scatter=None):
    """Statistics of all rows: the complete rows' pass plus the incomplete ones.

    Parameters
    ----------
    complete : GaussianStats
        From :func:`~emfast.mixture.gaussian._pass.gaussian_pass` over the
        complete rows with the same means (tied: run with an explicit
        ``shift``, so without a scatter); its ``weight_sum`` is kept.
    missing : MissingStats
    covariance_type : str
    complete_scatter : ndarray (n_features, n_features), default=None
        Tied only: the complete rows' ``sum w (x - shift)(x - shift)^T`` about
        ``complete.shift``.

    Returns
    -------
    GaussianStats
    """
    merged = GaussianStats(
        centers=complete.centers,
        log_norm=complete.log_norm + missing.log_norm,
        weight_sum=complete.weight_sum,
        nk=complete.nk + missing.nk,
        s1=complete.s1 + missing.s1,
    )
    if covariance_type == "tied":
        merged.shift = complete.shift
        merged.scatter = complete_scatter + tied_scatter(
            missing, complete.centers, complete.shift
        )
    else:
        merged.s2 = complete.s2 + missing.s2
    return merged
