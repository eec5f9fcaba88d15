"""One pass over the rows: the Gaussian E-step fused with the M-step statistics.

:func:`gaussian_pass` runs the kernel of the covariance type over every block of
rows and sums the per-chunk statistics in chunk order; :func:`gaussian_score`
gives per-row log-likelihoods, labels and (on request) posteriors;
:func:`resp_pass` gives the statistics of responsibilities handed over by the
initialisation. The M-step (:mod:`emfast.mixture._gaussian_update`) only ever
sees the small summed :class:`GaussianStats`.
"""

import math
from dataclasses import dataclass

import numpy as np

from emfast import _chunks
from emfast.kernels import moments
from emfast.mixture._data import symmetrise_upper
from emfast.mixture._gaussian_kernels import plan


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


def gaussian_pass(data, params, covariance_type, *, with_entropy=False, shift=None):
    """E-step + statistics over ``data`` under ``params``.

    Parameters
    ----------
    data : RowData
    params : tuple
        ``(log_weights, means, precisions_chol)``; ``log_weights`` is the
        per-component additive log term (see
        :func:`emfast.mixture._gaussian_kernels.plan`).
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
    if getattr(data, "distributed", False):
        return data.gaussian_pass(params, covariance_type, with_entropy=with_entropy)
    log_w, means, precisions_chol = params
    scatter = None
    if shift is None and covariance_type == "tied":
        shift, scatter = data.centred_scatter()
    elif shift is None:
        shift = data.mean()
    kernels = plan(log_w, means, precisions_chol, covariance_type, data.dtype, shift)

    def run(X_block, w_block, *out):
        kernels.stats(
            X_block,
            w_block,
            *kernels.stats_args,
            _chunks.CHUNK_ROWS,
            with_entropy,
            *out,
        )

    log_norm, resp_log_resp, *sums = data.sum_chunks(run, kernels.shapes)
    nk, s1, s2 = kernels.unpack(*sums)
    stats = GaussianStats(
        centers=np.asarray(means, dtype=np.float64),
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
    shift = np.asarray(means, dtype=np.float64).mean(axis=0)
    kernels = plan(log_w, means, precisions_chol, covariance_type, X.dtype, shift)
    tiled = kernels.kind.endswith("_tile")
    with_log_norm = want_log_norm or not tiled  # other kernels always fill it
    log_norm = np.empty(n_samples if with_log_norm else 0, dtype=X.dtype)
    labels = np.empty(n_samples, dtype=np.intp)
    resp = np.empty((n_samples if want_resp else 0, n_components), dtype=X.dtype)
    kernels.score(X, *kernels.score_args, _chunks.CHUNK_ROWS, log_norm, labels, resp)
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
    if covariance_type == "full":
        y = np.einsum("rkl,klj->rkj", diff, chol)
    elif covariance_type == "tied":
        y = diff @ chol
    elif covariance_type == "diag":
        y = diff * chol
    else:
        y = diff * chol[:, None]
    distances = (y**2).sum(axis=2)
    nearest = distances == distances.min(axis=1, keepdims=True)
    return nearest / nearest.sum(axis=1, keepdims=True)


def resp_pass(data, resp, centers, covariance_type):
    """Statistics of given responsibilities, centred on ``centers`` (K, D).

    ``resp`` is a responsibility source of :mod:`emfast.mixture._init` (whose
    ``blocks()`` yield one ``(rows, n_components)`` array per block of
    ``data.blocks()``) or such an iterable of blocks itself. Full and tied get
    per-component full scatter (tied also the deficit of rows whose
    responsibilities do not sum to their weight, which scikit-learn's initial
    tied covariance counts); diag and spherical get the diagonal.
    """
    n_components = centers.shape[0]
    D, K = data.n_features, n_components
    mode = {
        "full": moments.FULL,
        "tied": moments.FULL_AND_DEFICIT,
        "diag": moments.DIAG,
        "spherical": moments.DIAG,
    }[covariance_type]
    shapes = [
        (K,),
        (D, K),
        (D, K) if mode == moments.DIAG else (0, 0),
        (D, D, K) if mode >= moments.FULL else (0, 0, 0),
        (D, D) if mode == moments.FULL_AND_DEFICIT else (0, 0),
    ]
    if getattr(data, "distributed", False):
        return data.resp_pass(resp, centers, covariance_type)
    centers_t = np.ascontiguousarray(np.asarray(centers, dtype=np.float64).T)
    resp_iter = iter(resp.blocks() if hasattr(resp, "blocks") else resp)

    def run(X_block, w_block, *out):
        resp = next(resp_iter)
        moments.resp_stats(
            X_block, resp, w_block, centers_t, mode, _chunks.CHUNK_ROWS, *out
        )

    nk, s1, s2_diag, s2_full, deficit = data.sum_chunks(run, shapes)
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


def sum_stats(parts):
    """Sum statistics of disjoint row sets taken under the same parameters.

    Tied scatter is left out (each part's is about its own point); the caller
    attaches the total scatter.
    """
    first = parts[0]
    total = GaussianStats(
        centers=first.centers,
        log_norm=sum(p.log_norm for p in parts),
        weight_sum=sum(p.weight_sum for p in parts),
        nk=sum(p.nk for p in parts),
        s1=sum(p.s1 for p in parts),
        resp_log_resp=sum(p.resp_log_resp for p in parts),
    )
    for name in ("s2", "deficit"):
        if getattr(first, name) is not None:
            setattr(total, name, sum(getattr(p, name) for p in parts))
    return total
