"""Which Gaussian kernel runs, and its parameters in kernel layout.

The covariance type and the shape decide the kernel:

- ``full`` with few features: the component-innermost loop kernel
  (:mod:`emfast.kernels.gaussian_full`), bound by ``exp`` and by
  D(D+1)/2 x K multiply-adds per row for the Mahalanobis terms and as many for
  the scatter;
- ``full`` with many features (or very few components): the GEMM kernel
  (:mod:`emfast.kernels.gaussian_full_gemm`), bound by BLAS;
- ``tied``: one triangular product per row (:mod:`emfast.kernels.gaussian_tied`);
- ``diag`` and ``spherical``: :mod:`emfast.kernels.gaussian_diag`.

All parameters are converted to the data dtype with the component axis last.
"""

import math
from typing import NamedTuple

import numpy as np

from emfast.kernels.mixture import (
    gaussian_diag,
    gaussian_full,
    gaussian_full_gemm,
    gaussian_tied,
)

# GEMM pays off from this many features. One pass, N = 1e6, 2 threads, float64,
# loop vs GEMM kernel (s): D=2 K=16 0.060 vs 0.084, D=4 K=16 0.098 vs 0.102,
# D=8 K=16 0.227 vs 0.159, D=8 K=64 0.637 vs 0.517, D=32 K=16 2.41 vs 1.08
GEMM_MIN_FEATURES = 6


class KernelPlan(NamedTuple):
    """A kernel pair with its arguments and the per-chunk shapes of its sums.

    The sums are ``ll``, ``ent``, ``nk``, ``s1`` and (full, diag) ``s2``.
    """

    kind: str
    stats: object
    score: object
    stats_args: tuple
    score_args: tuple
    shapes: list


def kernel_kind(covariance_type, n_features, n_components):
    if covariance_type == "full":
        if n_features >= GEMM_MIN_FEATURES:
            return "full_gemm"
        return "full"
    if covariance_type == "tied":
        return "tied"
    return "diag"


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

    means_t = cast(means.T)
    if kind == "full":
        args = (cast(const), means_t, cast(chol.transpose(1, 2, 0)))
        return KernelPlan(
            kind,
            gaussian_full.stats,
            gaussian_full.score,
            args,
            args,
            [(), (), (K,), (D, K), (D, D, K)],
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
        )
    if kind == "tied":
        means_prec_t = ((means - shift) @ chol).T
        score_args = (cast(shift), cast(const), cast(chol), cast(means_prec_t))
        stats_args = (cast(shift), cast(const), means_t, cast(chol), cast(means_prec_t))
        return KernelPlan(
            kind,
            gaussian_tied.stats,
            gaussian_tied.score,
            stats_args,
            score_args,
            [(), (), (K,), (D, K)],
        )
    precisions = chol**2
    if covariance_type == "spherical":
        precisions = np.broadcast_to(precisions[:, None], (K, D))
    args = (cast(const), means_t, cast(precisions.T))
    return KernelPlan(
        kind,
        gaussian_diag.stats,
        gaussian_diag.score,
        args,
        args,
        [(), (), (K,), (D, K), (D, K)],
    )
