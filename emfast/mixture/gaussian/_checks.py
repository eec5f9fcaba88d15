"""Checks of Gaussian parameters given by users or read from model files.

:func:`check_gaussian_init` validates ``weights_init``, ``means_init`` and
``precisions_init`` with scikit-learn's messages; :func:`check_gaussian_values`
checks the values of a loaded model as strictly as a fit makes them.

A model file could hold arrays of the right shape and dtype whose values no fit
produces: negative weights, a lower-triangular or singular precision factor,
covariances that disagree with the precisions. Scoring with such a model gives
wrong labels or NaN without an error, so :func:`check_gaussian_values` refuses
them. ``precisions_cholesky_`` is the parameter that scoring uses; the other
arrays must agree with it.

Tolerances come from how a fit computes the arrays: in float64, then rounded
to the model's dtype. Each check bounds the difference by a small multiple of
that dtype's machine epsilon times the size of the terms that produced it, so
a rounding error passes at any conditioning and a real disagreement does not.
"""

import numpy as np

from emfast import _sklearn
from emfast.mixture._engine.checks import check_mixture_weights
from emfast.mixture.gaussian._covariance import covariance


def check_gaussian_values(fitted, covariance_type, n_iter):
    """Raise ValueError naming the field if ``fitted`` holds impossible values.

    Parameters
    ----------
    fitted : dict
        ``weights_``, ``means_``, ``covariances_``, ``precisions_cholesky_``
        and ``precisions_``, already checked for shape, dtype and finiteness.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_iter : int
        ``n_iter_``; 0 means the arrays are the initial parameters, whose
        covariances a fit computes by inverting ``precisions_init`` (accurate
        to the conditioning of that matrix, not to rounding).
    """
    check_mixture_weights(fitted["weights_"])
    chol = fitted["precisions_cholesky_"]
    if covariance(covariance_type).matrix:
        chol3 = chol.reshape((-1, *chol.shape[-2:]))
        _check_triangular_factor(chol3)
        _check_matrix_precisions(fitted["precisions_"], chol3)
        _check_matrix_covariances(fitted["covariances_"], chol3, n_iter)
    else:
        _check_vector_factor(chol)
        _check_vector_precisions(fitted["precisions_"], chol)
        _check_vector_covariances(fitted["covariances_"], chol)


def _eps(array):
    return float(np.finfo(array.dtype).eps)


def _check_triangular_factor(chol):
    """Upper triangular (exact zeros below the diagonal), positive diagonal."""
    below = np.tril(np.ones(chol.shape[-2:], dtype=bool), k=-1)
    bad = np.argwhere((chol != 0) & below)
    if bad.size:
        k, i, j = bad[0]
        raise ValueError(
            "fitted.precisions_cholesky_ must be upper triangular, but "
            f"{_entry(chol, k, i, j)} is not 0"
        )
    diagonal = np.diagonal(chol, axis1=1, axis2=2)
    bad = np.argwhere(diagonal <= 0)
    if bad.size:
        k, i = bad[0]
        raise ValueError(
            "fitted.precisions_cholesky_ must have a positive diagonal, but "
            f"{_entry(chol, k, i, i)} is not"
        )


def _entry(array, k, i, j):
    where = f"[{k}, {i}, {j}]" if len(array) > 1 else f"[{i}, {j}]"
    return f"entry {where} = {array[k, i, j]!r}"


def _check_vector_factor(chol):
    if (chol <= 0).any():
        raise ValueError(
            f"fitted.precisions_cholesky_ must be positive, but holds {chol.min()!r}"
        )


def _check_matrix_precisions(precisions, chol3):
    """``precisions_ == P @ P.T`` to rounding, entry by entry."""
    P = chol3.astype(np.float64)
    expected = P @ P.transpose(0, 2, 1)
    scale = np.abs(P) @ np.abs(P).transpose(0, 2, 1)
    tol = 4 * (P.shape[-1] + 1) * _eps(chol3)
    stored = precisions.reshape(P.shape).astype(np.float64)
    _check_close(stored - expected, tol * scale, "fitted.precisions_", "P @ P.T")


def _check_matrix_covariances(covariances, chol3, n_iter):
    """``P.T @ covariances_ @ P == I`` to rounding, and ``covariances_`` symmetric.

    The factor comes from the lower triangle of the covariances (a Cholesky
    decomposition reads only that half). With ``P = inv(L).T`` for that matrix
    ``L @ L.T``, the residual of each entry is bounded by the same entry of
    ``|P.T| @ |C| @ |P|`` times a rounding error, at any conditioning. For the
    initial parameters (``n_iter_ == 0``) the covariances are the inverse of
    ``precisions_init``, whose error grows with the condition number, so the
    bound grows with it. The upper half must mirror the lower one to
    ``sqrt(eps)`` of ``sqrt(C[i, i] * C[j, j])`` (the two halves of a fitted
    covariance are summed in different orders; numpy's sampler wants symmetry),
    or to the grown bound for the initial parameters.
    """
    P = chol3.astype(np.float64)
    C = covariances.reshape(P.shape).astype(np.float64)
    lower = np.tril(C) + np.tril(C, k=-1).transpose(0, 2, 1)
    n_features = P.shape[-1]
    residual = P.transpose(0, 2, 1) @ lower @ P - np.eye(n_features)
    scale = np.abs(P).transpose(0, 2, 1) @ np.abs(lower) @ np.abs(P)
    tol = 4 * (n_features + 1) * _eps(chol3)
    symmetry_tol = np.sqrt(_eps(chol3))
    if n_iter == 0:
        tol *= 1 + scale.max(axis=(1, 2), keepdims=True)
        symmetry_tol = np.maximum(symmetry_tol, tol)
    relation = "the inverse of P @ P.T"
    _check_close(residual, tol * scale, "fitted.covariances_", relation)
    variances = np.diagonal(lower, axis1=1, axis2=2)
    spread = np.sqrt(variances[:, :, None] * variances[:, None, :])
    bad = np.argwhere(np.abs(C - lower) > symmetry_tol * spread)
    if bad.size:
        k, i, j = bad[0]
        raise ValueError(
            f"fitted.covariances_ must be symmetric, but {_entry(C, k, i, j)} "
            f"and {_entry(C, k, j, i)}"
        )


def _check_vector_precisions(precisions, chol):
    P = chol.astype(np.float64)
    tol = 8 * _eps(chol)
    _check_close(precisions - P**2, tol * P**2, "fitted.precisions_", "P ** 2")


def _check_vector_covariances(covariances, chol):
    product = covariances.astype(np.float64) * chol.astype(np.float64) ** 2
    tol = 8 * _eps(chol)
    _check_close(product - 1, tol * product, "fitted.covariances_", "1 / P ** 2")


def _check_close(difference, bound, field, relation):
    bad = np.argwhere(np.abs(difference) > bound)
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"{field} disagrees with fitted.precisions_cholesky_ (P): it must "
            f"equal {relation}, but differs at index {list(where)} by "
            f"{float(abs(difference[where])):.3g}"
        )


def check_gaussian_init(estimator, n_features):
    """Validated ``(weights_init, means_init, precisions_init)`` (None if unset).

    scikit-learn's checks and messages, as a fit and a model file need them;
    the estimator's (or family's) attributes are left as the user set them.
    """
    n_components = estimator.n_components
    weights, means, precisions = (
        estimator.weights_init,
        estimator.means_init,
        estimator.precisions_init,
    )
    if weights is not None:
        weights = _sklearn._check_weights(weights, n_components, xp=np)
    if means is not None:
        means = _sklearn._check_means(means, n_components, n_features, xp=np)
    if precisions is not None:
        precisions = _sklearn._check_precisions(
            precisions, estimator.covariance_type, n_components, n_features, xp=np
        )
    return weights, means, precisions
