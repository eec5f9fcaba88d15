"""One pass over the rows: the Gaussian E-step fused with the M-step statistics.

:func:`gaussian_pass` runs the kernel of the covariance type over every block of
rows and sums the per-chunk statistics in chunk order; :func:`gaussian_score`
gives per-row log-likelihoods, labels and (on request) posteriors;
:func:`resp_pass` gives the statistics of responsibilities handed over by the
initialisation. The M-step (:mod:`emfast.mixture.gaussian._update`) only ever
sees the small summed :class:`GaussianStats`.
"""

import math
from dataclasses import dataclass

import numpy as np

from emfast import _chunks
from emfast._numba import by_name, for_rows
from emfast.kernels.mixture import moments
from emfast.mixture._engine.weights import kernel_weights, weight_scale
from emfast.mixture.gaussian._covariance import covariance
from emfast.mixture.gaussian._kernels import plan
from emfast.rows import chunk_sums, symmetrise_upper


@dataclass
class GaussianStats:
    """Sufficient statistics of one pass, centred on ``centers``.

    Attributes
    ----------
    centers : ndarray (n_components, n_features)
        The means the moments are taken about (the means before the M-step).
    log_norm : float
        ``sum w log p(x)`` under the parameters of the pass (nan if not computed).
    weight_sum : float
        ``sum w`` (the number of rows without sample weights).
    nk : ndarray (n_components,)
        ``sum r``.
    s1 : ndarray (n_components, n_features)
        ``sum r (x - center)``.
    s2 : ndarray or None
        ``sum r (x - center)(x - center)^T`` per component (full, and tied during
        initialisation), its diagonal (diag, spherical), or None (tied passes).
    scatter, shift : ndarray or None
        Tied passes: ``sum w (x - shift)(x - shift)^T`` and ``shift``.
    deficit : ndarray or None
        Tied initialisation: ``sum (w - sum_k r) x x^T``.
    resp_log_resp : float
        ``sum r log p(k | x)`` (nan unless asked for).
    """

    centers: np.ndarray
    log_norm: float
    weight_sum: float
    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray | None = None
    scatter: np.ndarray | None = None
    shift: np.ndarray | None = None
    deficit: np.ndarray | None = None
    resp_log_resp: float = math.nan


def log_weights(weights):
    """``log(weights)`` in float64; a zero weight gives -inf silently."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(weights, dtype=np.float64))


def as_dtype_values(values, dtype):
    """``values`` rounded to ``dtype`` and held in float64 (exact in both)."""
    return np.asarray(values, dtype=dtype).astype(np.float64)


def gaussian_pass(data, params, covariance_type, *, with_entropy=False, shift=None):
    """E-step + statistics over ``data`` under ``params``.

    Parameters
    ----------
    data : Rows
    params : tuple
        ``(log_weights, means, precisions_chol)``; ``log_weights`` is the
        per-component additive log term (see
        :func:`emfast.mixture.gaussian._kernels.plan`).
    covariance_type : str
    with_entropy : bool
        Also sum ``r log p(k | x)`` (needed by variational lower bounds).
    shift : ndarray of shape (n_features,), default=None
        The point rows are centred on inside the kernels; default the data mean.
        Tied statistics carry the data's total scatter about it only when
        ``shift`` is None (a block of a larger data set passes the global mean).

    Returns
    -------
    GaussianStats
    """
    log_w, means, precisions_chol = params
    scatter = None
    if shift is None and covariance_type == "tied":
        shift, scatter = data.centred_scatter()
    elif shift is None:
        shift = data.mean()
    # The kernels subtract means and shift in the data dtype. Rounded here, the
    # statistics are centred exactly on ``stats.centers``; rounded in the kernel,
    # float32 rows far from the origin would leave a centring error of up to half
    # a float32 spacing that changes every iteration (the bound never settles).
    centers = as_dtype_values(means, data.dtype)
    kernels = plan(
        log_w,
        centers,
        precisions_chol,
        covariance_type,
        data.dtype,
        as_dtype_values(shift, data.dtype),
    )

    scale = weight_scale(data)  # kernels see weights near one (exact, see there)
    sums = data.reduce(
        _stats_block,
        by_name(kernels.stats),
        kernels.stats_args,
        kernels.shapes,
        with_entropy,
        scale,
    )
    log_norm, resp_log_resp, *moments = [total * scale for total in sums]
    nk, s1, s2 = kernels.unpack(*moments)
    stats = GaussianStats(
        centers=centers,
        log_norm=float(log_norm),
        weight_sum=data.weight_sum,
        nk=nk,
        s1=s1,
        s2=s2,
        resp_log_resp=float(resp_log_resp) if with_entropy else math.nan,
    )
    if covariance_type == "tied":
        stats.shift, stats.scatter = np.asarray(shift, dtype=np.float64), scatter
    return stats


def _stats_block(X_block, w_block, stats, stats_args, shapes, with_entropy, scale):
    """One block's sums of the statistics kernel ``stats`` (see gaussian_pass)."""

    def fill(*out):
        for_rows(stats, X_block.shape[0])(
            X_block,
            kernel_weights(w_block, scale),
            *stats_args,
            _chunks.CHUNK_ROWS,
            with_entropy,
            *out,
        )

    return chunk_sums(fill, X_block.shape[0], shapes)


def gaussian_score(X, params, covariance_type, want_resp=False, want_log_norm=True):
    """Per-row ``log p(x)``, the most probable component and optional posteriors.

    ``params`` is ``(log_weights, means, precisions_chol)`` as for
    :func:`gaussian_pass`. Without ``want_log_norm`` or ``want_resp`` (labels
    alone, for ``predict``) the tile kernels compute no exponentials.

    Returns
    -------
    log_norm : ndarray (n_samples,) of X.dtype, or None
    labels : ndarray (n_samples,) of intp
    resp : ndarray (n_samples, n_components) of X.dtype, or None
    """
    log_w, means, precisions_chol = params
    n_samples = X.shape[0]
    n_components = means.shape[0]
    shift = as_dtype_values(np.asarray(means, dtype=np.float64).mean(axis=0), X.dtype)
    kernels = plan(log_w, means, precisions_chol, covariance_type, X.dtype, shift)
    tiled = kernels.kind.endswith("_tile")
    with_log_norm = want_log_norm or not tiled  # other kernels always fill it
    log_norm = np.empty(n_samples if with_log_norm else 0, dtype=X.dtype)
    labels = np.empty(n_samples, dtype=np.intp)
    resp = np.empty((n_samples if want_resp else 0, n_components), dtype=X.dtype)
    score = for_rows(kernels.score, n_samples)
    score(X, *kernels.score_args, _chunks.CHUNK_ROWS, log_norm, labels, resp)
    # rows whose densities all underflowed: labelled -1 by tile kernels
    overflow = np.flatnonzero(labels < 0 if tiled else log_norm == -np.inf)
    if overflow.size:
        limit = _far_row_posteriors(
            X[overflow], means, precisions_chol, covariance_type
        )
        labels[overflow] = limit.argmax(axis=1)
        if want_resp:
            resp[overflow] = limit
    return (
        log_norm if want_log_norm else None,
        labels,
        resp if want_resp else None,
    )


def _far_row_posteriors(X_far, means, precisions_chol, covariance_type):
    """Posteriors of rows so far away that every log-density underflows to -inf.

    Their log-likelihood is rightly -inf, but the posterior still has a limit:
    all mass on the component with the smallest Mahalanobis distance (weights
    and determinants are finite next to it). Distances are compared after
    dividing the offsets by their largest entry, so they do not overflow.
    """
    diff = np.asarray(X_far, dtype=np.float64)[:, None, :] - np.asarray(
        means, dtype=np.float64
    )
    diff /= np.abs(diff).max(axis=(1, 2), keepdims=True)
    chol = np.asarray(precisions_chol, dtype=np.float64)
    y = covariance(covariance_type).whiten(diff, chol)
    distances = (y**2).sum(axis=2)
    nearest = distances == distances.min(axis=1, keepdims=True)
    return nearest / nearest.sum(axis=1, keepdims=True)


def resp_pass(data, resp, centers, covariance_type):
    """Statistics of given responsibilities, centred on ``centers`` (K, D).

    ``resp`` is a responsibility source of :mod:`emfast.mixture._engine.init`: a
    :class:`~emfast.rows.RowAligned` argument whose blocks are
    ``(rows, n_components)`` arrays. Full and tied get
    per-component full scatter (tied also the deficit of rows whose
    responsibilities do not sum to their weight, which scikit-learn's initial
    tied covariance counts); diag and spherical get the diagonal.
    """
    n_components = centers.shape[0]
    D, K = data.n_features, n_components
    mode = covariance(covariance_type).resp_mode
    shapes = [
        (K,),
        (D, K),
        (D, K) if mode == moments.DIAG else (0, 0),
        (D, D, K) if mode >= moments.FULL else (0, 0, 0),
        (D, D) if mode == moments.FULL_AND_DEFICIT else (0, 0),
    ]
    centers_t = np.ascontiguousarray(np.asarray(centers, dtype=np.float64).T)
    nk, s1, s2_diag, s2_full, deficit = data.reduce(
        _resp_block, resp, centers_t, mode, shapes
    )
    stats = GaussianStats(
        centers=np.asarray(centers, dtype=np.float64),
        log_norm=math.nan,
        weight_sum=data.weight_sum,
        nk=nk,
        s1=s1.T.copy(),
    )
    if mode == moments.DIAG:
        stats.s2 = s2_diag.T.copy()
    else:
        stats.s2 = symmetrise_upper(s2_full.transpose(2, 0, 1))
    if mode == moments.FULL_AND_DEFICIT:
        stats.deficit = symmetrise_upper(deficit)
    return stats


def _resp_block(X_block, w_block, resp, centers_t, mode, shapes):
    """One block's sums of the responsibility-statistics kernel (see resp_pass)."""

    def fill(*out):
        for_rows(moments.resp_stats, X_block.shape[0])(
            X_block, resp, w_block, centers_t, mode, _chunks.CHUNK_ROWS, *out
        )

    return chunk_sums(fill, X_block.shape[0], shapes)
