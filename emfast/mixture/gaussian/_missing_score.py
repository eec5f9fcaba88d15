"""Scores and imputation of rows with missing values (NaN) under a fitted mixture.

Complete rows go through the complete-data scoring
(:func:`~emfast.mixture.gaussian._pass.gaussian_score`), so data without NaN
give its results exactly; rows with NaN through the missing-value kernels
listed by :func:`~emfast.mixture.gaussian._missing.kernel_args`. Rows whose
densities all underflow get their limit from :func:`far_row_terms`.
"""

import numpy as np

from emfast._numba import serial_blas
from emfast.mixture.gaussian._missing import chunk_bounds, incomplete_rows, kernel_args
from emfast.mixture.gaussian._pass import gaussian_score, log_weights


def missing_score(X, params, covariance_type, want_resp=False):
    """Per-row ``log p(x_o)``, most probable component and optional posteriors.

    Complete rows go through
    :func:`~emfast.mixture.gaussian._pass.gaussian_score` (so data without NaN
    give its results exactly), rows with NaN through the missing-value kernels.

    Returns
    -------
    log_norm : ndarray (n_samples,) of X.dtype
    labels : ndarray (n_samples,) of intp
    resp : ndarray (n_samples, n_components) of X.dtype, or None
    """
    X = np.ascontiguousarray(X)
    rows = incomplete_rows(X)
    score_params = (
        log_weights(params.weights),
        params.means,
        params.precisions_cholesky,
    )
    if rows.size == 0:
        return gaussian_score(X, score_params, covariance_type, want_resp)
    n_samples = X.shape[0]
    n_components = len(params.weights)
    log_norm = np.empty(n_samples, dtype=X.dtype)
    labels = np.empty(n_samples, dtype=np.intp)
    resp = np.empty((n_samples, n_components), dtype=X.dtype) if want_resp else None
    complete = np.ones(n_samples, dtype=bool)
    complete[rows] = False
    if complete.any():
        part = gaussian_score(X[complete], score_params, covariance_type, want_resp)
        log_norm[complete], labels[complete] = part[0], part[1]
        if want_resp:
            resp[complete] = part[2]

    args = kernel_args(params, covariance_type, X.dtype)
    part_log_norm = np.empty(rows.size, dtype=X.dtype)
    part_labels = np.empty(rows.size, dtype=np.intp)
    part_resp = np.empty((rows.size if want_resp else 0, n_components), dtype=X.dtype)
    args.kernels.score(
        X,
        rows,
        chunk_bounds(rows, n_samples),
        args.model,
        part_log_norm,
        part_labels,
        part_resp,
    )
    far = np.flatnonzero(part_log_norm == -np.inf)
    if far.size:
        far_resp, _ = far_row_terms(X[rows[far]], params, covariance_type)
        part_labels[far] = far_resp.argmax(axis=1)
        if want_resp:
            part_resp[far] = far_resp
    log_norm[rows], labels[rows] = part_log_norm, part_labels
    if want_resp:
        resp[rows] = part_resp
    return log_norm, labels, resp


def score_rows(X, params, covariance_type, want_resp=False, want_log_norm=True):
    """:func:`missing_score` as a family's ``score_block`` (BLAS on one thread).

    ``params`` is a ``GaussianParams`` in the model's dtype (the covariances
    serve rows whose densities all underflow). The log-densities are always
    computed (``want_log_norm`` is accepted for the engine's signature).
    """
    with serial_blas():
        return missing_score(X, params, covariance_type, want_resp)


def impute(X, params, covariance_type):
    """``X`` with each NaN replaced by its conditional expectation under the mixture.

    The value is ``sum_k p(k | x_o) E[x_m | x_o, k]``. Returns a new array of
    ``X``'s dtype; complete rows are copied unchanged.
    """
    X = np.ascontiguousarray(X)
    rows = incomplete_rows(X)
    out = X.copy()
    if rows.size == 0:
        return out
    args = kernel_args(params, covariance_type, X.dtype)
    log_norm = np.empty(rows.size)
    args.kernels.impute(
        X, rows, chunk_bounds(rows, X.shape[0]), args.model, out, log_norm
    )
    far = np.flatnonzero(log_norm == -np.inf)
    if far.size:
        far_rows = X[rows[far]]
        far_resp, cond_means = far_row_terms(far_rows, params, covariance_type)
        values = np.einsum("rk,rkd->rd", far_resp, cond_means)
        missing = np.isnan(far_rows)
        out[rows[far]] = np.where(missing, values, far_rows)
    return out


def far_row_terms(X_far, params, covariance_type):
    """Posteriors and conditional means of rows whose densities all underflow.

    Their posterior has a limit: all mass on the components with the smallest
    Mahalanobis distance of the observed coordinates (weights and determinants
    are finite next to it). Distances are compared after dividing the offsets by
    their largest entry, so they do not overflow. Plain numpy, row by row: such
    rows are rare.

    Returns
    -------
    resp : ndarray (n_rows, n_components)
    cond_means : ndarray (n_rows, n_components, n_features)
        ``E[x | x_o, k]`` (observed coordinates as given).
    """
    means = np.asarray(params.means, dtype=np.float64)
    n_components, n_features = means.shape
    covs = np.asarray(params.covariances, dtype=np.float64)
    if covariance_type == "tied":
        covs = np.broadcast_to(covs, (n_components, n_features, n_features))
    elif covariance_type == "diag":
        covs = np.array([np.diag(c) for c in covs])
    elif covariance_type == "spherical":
        covs = covs[:, None, None] * np.eye(n_features)
    X_far = np.asarray(X_far, dtype=np.float64)
    resp = np.zeros((len(X_far), n_components))
    cond_means = np.empty((len(X_far), n_components, n_features))
    for r, x in enumerate(X_far):
        o = ~np.isnan(x)
        diff = x[o] - means[:, o]  # (n_components, n_observed)
        scaled = diff / np.abs(diff).max()
        distances = np.empty(n_components)
        for k in range(n_components):
            cov_oo = covs[k][np.ix_(o, o)]
            distances[k] = scaled[k] @ np.linalg.solve(cov_oo, scaled[k])
            cond_means[r, k] = x
            cond_means[r, k, ~o] = means[k, ~o] + covs[k][np.ix_(~o, o)] @ (
                np.linalg.solve(cov_oo, diff[k])
            )
        nearest = distances == distances.min()
        resp[r] = nearest / nearest.sum()
    return resp, cond_means
