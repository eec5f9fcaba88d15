"""Which Gaussian kernel runs, and its parameters in kernel layout.

The covariance type and the shape decide the kernel:

- ``full`` with few features: the tile kernel
  (:mod:`emfast.kernels.mixture.gaussian_full_tile`), vectorised across rows;
- ``full`` with many features: the GEMM kernel
  (:mod:`emfast.kernels.mixture.gaussian_full_gemm`), bound by BLAS;
- ``tied``: one triangular product per row, then D multiply-adds per row and
  component (:mod:`emfast.kernels.mixture.gaussian_tied_tile`);
- ``diag`` and ``spherical``: :mod:`emfast.kernels.mixture.gaussian_diag_tile`.

Tile kernels are compiled for each number of features up to
:data:`TILE_MAX_FEATURES`; beyond it diagonal and tied covariances use the
one-row-at-a-time loop kernels (:mod:`emfast.kernels.mixture.gaussian_diag`,
:mod:`emfast.kernels.mixture.gaussian_tied`). All parameters are converted to the data
dtype.
"""

import functools
import math
from typing import NamedTuple

import numpy as np

from emfast.kernels.mixture import (
    gaussian_diag,
    gaussian_diag_tile,
    gaussian_full_gemm,
    gaussian_full_tile,
    gaussian_tied,
    gaussian_tied_tile,
)

# Tile or GEMM, measured (benchmarks/switch_point.py) on an Intel Xeon (Sapphire
# Rapids class, AVX-512, numba target rocketlake), one thread, N = 2e5, float64,
# best of 7 passes while the machine was shared; ns per row and component, tile vs
# GEMM, K = 16: D=2 1.95 vs 14.6, D=8 7.4 vs 25.6, D=16 15.8 vs 39.5, D=24 36.8
# vs 66.3, D=32 62.8 vs 87.6, D=40 112.8 vs 124.2, D=48 156.5 vs 167.7 (K = 4 and
# 64 alike). The tile kernel leads up to 48 features, but the compile time of its
# statistics kernel grows as D^2 (per dtype: 13 s at D=24, 24 s at 32, 46 s at
# 40), so tiles stop at 40 features, beyond which GEMM is within 10 %.
TILE_MAX_FEATURES = 40
GEMM_MIN_FEATURES = 41


class KernelPlan(NamedTuple):
    """A kernel pair with its arguments and the per-chunk shapes of its sums.

    The sums are ``ll``, ``ent`` and the kernel's statistics, which
    ``unpack(*statistics)`` turns into ``(nk, s1, s2)``: ``s1`` of shape
    (n_components, n_features), ``s2`` per-component full matrices (full), their
    diagonals (diag) or None (tied).
    """

    kind: str
    stats: object
    score: object
    stats_args: tuple
    score_args: tuple
    shapes: list
    unpack: object


def kernel_kind(covariance_type, n_features, n_components):
    """Name of the kernel that runs ``covariance_type`` at this shape."""
    tiled = n_features <= TILE_MAX_FEATURES
    if covariance_type == "full":
        if n_features >= GEMM_MIN_FEATURES or not tiled:
            return "full_gemm"
        return "full_tile"
    if covariance_type == "tied":
        return "tied_tile" if tiled else "tied"
    return "diag_tile" if tiled else "diag"


@functools.cache
def _upper_triangle(n_features, by_columns):
    """Row and column indices of the upper triangle, row by row or by columns.

    Cached: small fits call :func:`plan` and the unpacking every iteration.
    """
    rows, cols = np.triu_indices(n_features)
    if by_columns:
        order = np.lexsort((rows, cols))  # column by column, rows within
        rows, cols = rows[order], cols[order]
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def upper_by_columns(matrices):
    """``U[0, j], ..., U[j, j]`` for j = 0, 1, ... of each (D, D) matrix."""
    rows, cols = _upper_triangle(matrices.shape[-1], True)
    return matrices[..., rows, cols]


def _unpack_full_tile(sums):
    n_features = int(round((math.sqrt(8 * sums.shape[1] + 1) - 3) / 2))
    rows, cols = _upper_triangle(n_features, False)
    second = np.empty((sums.shape[0], n_features, n_features))
    second[:, rows, cols] = second[:, cols, rows] = sums[:, 1 + n_features :]
    return sums[:, 0].copy(), sums[:, 1 : 1 + n_features].copy(), second


def _unpack_diag_tile(sums):
    n_features = (sums.shape[1] - 1) // 2
    return (
        sums[:, 0].copy(),
        sums[:, 1 : 1 + n_features].copy(),
        sums[:, 1 + n_features :].copy(),
    )


def _unpack_tied_tile(sums):
    return sums[:, 0].copy(), sums[:, 1:].copy(), None


def _unpack_gemm(nk, s1, s2):
    return nk, s1.T.copy(), 0.5 * (s2 + s2.transpose(0, 2, 1))


def _unpack_loop(nk, s1, s2=None):
    return nk, s1.T.copy(), None if s2 is None else s2.T.copy()


def log_det_cholesky(precisions_chol, covariance_type, n_features):
    """log det of the precision Cholesky factors (= -1/2 log det covariance)."""
    if covariance_type == "full":
        return np.log(np.diagonal(precisions_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diagonal(precisions_chol)).sum()
    if covariance_type == "diag":
        return np.log(precisions_chol).sum(axis=1)
    return n_features * np.log(precisions_chol)


def plan(log_weights, means, precisions_chol, covariance_type, dtype, shift):
    """The kernels for these parameters, with arguments in ``dtype``.

    ``log_weights`` is the per-component additive term of the log-density (log
    mixing weights for EM; variational models add their expectations to it).
    ``shift`` is the point rows are centred on before products (the data mean in
    a fit): it keeps GEMM and tied products free of a large common offset.
    """
    n_components, n_features = means.shape
    K, D = n_components, n_features
    kind = kernel_kind(covariance_type, D, K)
    means = np.asarray(means, dtype=np.float64)
    chol = np.asarray(precisions_chol, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    const = (
        np.asarray(log_weights, dtype=np.float64)
        + log_det_cholesky(chol, covariance_type, D)
        - 0.5 * D * math.log(2 * math.pi)
    )

    def cast(a):
        return np.ascontiguousarray(a, dtype=dtype)

    size = (0,) * D  # its length selects the tile kernels' compiled code
    if kind == "full_tile":
        params = np.concatenate([means, upper_by_columns(chol)], axis=1)
        args = (size, cast(const), cast(params))
        return KernelPlan(
            kind,
            gaussian_full_tile.stats,
            gaussian_full_tile.score,
            args,
            args,
            [(), (), (K, 1 + D * (D + 3) // 2)],
            _unpack_full_tile,
        )
    if kind == "full_gemm":
        centred = means - shift
        factors = chol.transpose(1, 2, 0)  # [l, j, k] = U_k[l, j]
        n_lo = D // 2  # columns j < n_lo meet rows l < n_lo only
        prec_lo = cast(factors[:n_lo, :n_lo].reshape(n_lo, n_lo * K))
        prec_hi = cast(factors[:, n_lo:].reshape(D, (D - n_lo) * K))
        offsets_t = cast(np.einsum("kl,klj->jk", centred, chol))
        score_args = (cast(shift), cast(const), prec_lo, prec_hi, offsets_t)
        stats_args = (*score_args, cast(centred.T))
        return KernelPlan(
            kind,
            gaussian_full_gemm.stats,
            gaussian_full_gemm.score,
            stats_args,
            score_args,
            [(), (), (K,), (D, K), (K, D, D)],
            _unpack_gemm,
        )
    if kind in ("tied_tile", "tied"):
        offsets = (means - shift) @ chol
        if kind == "tied_tile":
            score_args = (
                size,
                cast(shift),
                cast(upper_by_columns(chol)),
                cast(const),
                cast(offsets),
            )
            return KernelPlan(
                kind,
                gaussian_tied_tile.stats,
                gaussian_tied_tile.score,
                (*score_args, cast(means)),
                score_args,
                [(), (), (K, 1 + D)],
                _unpack_tied_tile,
            )
        score_args = (cast(shift), cast(const), cast(chol), cast(offsets.T))
        stats_args = (
            cast(shift),
            cast(const),
            cast(means.T),
            cast(chol),
            cast(offsets.T),
        )
        return KernelPlan(
            kind,
            gaussian_tied.stats,
            gaussian_tied.score,
            stats_args,
            score_args,
            [(), (), (K,), (D, K)],
            _unpack_loop,
        )
    precisions = chol**2
    if covariance_type == "spherical":
        precisions = np.broadcast_to(precisions[:, None], (K, D))
    if kind == "diag_tile":
        args = (size, cast(const), cast(np.concatenate([means, precisions], axis=1)))
        return KernelPlan(
            kind,
            gaussian_diag_tile.stats,
            gaussian_diag_tile.score,
            args,
            args,
            [(), (), (K, 1 + 2 * D)],
            _unpack_diag_tile,
        )
    args = (cast(const), cast(means.T), cast(precisions.T))
    return KernelPlan(
        kind,
        gaussian_diag.stats,
        gaussian_diag.score,
        args,
        args,
        [(), (), (K,), (D, K), (D, K)],
        _unpack_loop,
    )
