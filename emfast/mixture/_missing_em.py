"""A plain EM loop for Gaussian mixtures on rows with missing values.

:class:`IncompleteRows` shows the routing an estimator needs: complete rows
through the complete-data pass (a compacted copy, prepared once), rows with
NaN through :func:`emfast.mixture._missing.block_stats`, block by block in
fixed blocks, then one :class:`~emfast.mixture._gaussian_pass.GaussianStats`
for the existing M-step. :func:`fit_missing` runs EM on it from a k-means
start on column-mean-imputed rows; it exists to test the incomplete-data path
end to end (an estimator brings its own initialisation, ``n_init`` and
convergence handling).
"""

from typing import NamedTuple

import numpy as np

from emfast import _chunks
from emfast._numba import serial_blas
from emfast.mixture._data import RowData
from emfast.mixture._gaussian_model import GaussianParams, m_step
from emfast.mixture._gaussian_pass import GaussianStats, gaussian_pass, log_weights
from emfast.mixture._gaussian_update import (
    estimate_gaussian_parameters,
    precisions_cholesky,
)
from emfast.mixture._missing import (
    block_stats,
    incomplete_rows,
    kernel_args,
    merge_with_complete,
    sum_missing_stats,
    to_gaussian_stats,
)
from emfast.mixture._weights import nk_offset


class IncompleteRows:
    """Rows of one array with NaN, split once into complete and incomplete rows.

    Parameters
    ----------
    X : ndarray (n_samples, n_features) of float32 or float64
    sample_weight : ndarray (n_samples,) of float64, or None

    Raises
    ------
    ValueError
        For a row with no observed value or with an infinity.
    """

    def __init__(self, X, sample_weight=None):
        self.X = np.ascontiguousarray(X)
        self.dtype = self.X.dtype
        self.rows = incomplete_rows(self.X)
        weights = None if sample_weight is None else np.asarray(sample_weight, float)
        self.sample_weight = weights
        self.all_rows = RowData(self.X, weights)  # weight total and unit only
        complete = np.ones(self.X.shape[0], dtype=bool)
        complete[self.rows] = False
        self.complete = None
        if complete.any():
            self.complete = RowData(
                np.ascontiguousarray(self.X[complete]),
                None if weights is None else weights[complete],
            )

    @property
    def weight_sum(self):
        return self.all_rows.weight_sum

    def e_step(self, params, covariance_type):
        """:class:`GaussianStats` of all rows under ``params`` (``GaussianParams``)."""
        complete = None
        if self.complete is not None:
            complete = gaussian_pass(
                self.complete,
                (log_weights(params.weights), params.means, params.precisions_cholesky),
                covariance_type,
            )
        if self.rows.size == 0:  # no NaN: exactly the complete-data pass
            return complete
        args = kernel_args(params, covariance_type, self.dtype)
        parts = []
        for start, stop in _chunks.iter_blocks(self.X.shape[0]):
            lo, hi = np.searchsorted(self.rows, [start, stop])
            if lo == hi:
                continue
            w_block = (
                None if self.sample_weight is None else self.sample_weight[start:stop]
            )
            rows = self.rows[lo:hi] - start
            parts.append(block_stats(self.X[start:stop], w_block, args, rows))
        missing = sum_missing_stats(parts)
        if complete is None:
            return to_gaussian_stats(
                missing, args.centers, self.weight_sum, covariance_type
            )
        merged = merge_with_complete(complete, missing, covariance_type)
        merged.weight_sum = self.weight_sum
        return merged


class MissingFit(NamedTuple):
    """Result of :func:`fit_missing`.

    ``log_likelihoods[t]`` is the mean log-likelihood of the observed values
    (per unit weight) under the parameters of iteration ``t``, before its
    M-step; ``params`` are those after the last M-step.
    """

    params: GaussianParams
    log_likelihoods: list
    converged: bool


def fit_missing(
    X,
    n_components,
    covariance_type="full",
    *,
    sample_weight=None,
    reg_covar=1e-6,
    max_iter=100,
    tol=1e-3,
    params_init=None,
    random_state=0,
):
    """Fit a Gaussian mixture to rows with NaN by exact incomplete-data EM.

    Parameters
    ----------
    X : ndarray (n_samples, n_features) of float32 or float64
        NaN marks a missing value; each row needs one observed value.
    n_components : int
    covariance_type : {"full", "tied", "diag", "spherical"}
    sample_weight : ndarray (n_samples,), default=None
    reg_covar : float
        Added to the diagonal of the covariances, as in scikit-learn.
    max_iter : int
    tol : float
        Stop when the mean log-likelihood gains less than this.
    params_init : GaussianParams, default=None
        Starting parameters; default from :func:`initial_params_imputed`.
    random_state : int
        Seed of the default initialisation.

    Returns
    -------
    MissingFit
    """
    data = IncompleteRows(X, sample_weight)
    history = []
    converged = False
    with serial_blas():  # idle BLAS threads would take the cores from the kernels
        params = params_init
        if params is None:
            params = initial_params_imputed(
                data.X,
                n_components,
                covariance_type,
                reg_covar,
                random_state,
                data.sample_weight,
            )
        offset = nk_offset(data.all_rows)
        for _ in range(max_iter):
            stats = data.e_step(params, covariance_type)
            history.append(stats.log_norm / stats.weight_sum)
            params = m_step(stats, covariance_type, reg_covar, data.dtype, offset)
            if len(history) > 1 and abs(history[-1] - history[-2]) < tol:
                converged = True
                break
    return MissingFit(params, history, converged)


def initial_params_imputed(
    X, n_components, covariance_type, reg_covar, random_state, sample_weight=None
):
    """Starting parameters: k-means labels of the column-mean-imputed rows.

    Weights, means and covariances are those of the hard labels on the imputed
    rows (which shrink the covariances; EM corrects them).
    """
    from sklearn.cluster import KMeans

    X64 = np.asarray(X, dtype=np.float64)
    weights = np.ones(len(X64)) if sample_weight is None else sample_weight
    observed = ~np.isnan(X64)
    column_means = (np.where(observed, X64, 0.0) * weights[:, None]).sum(0) / (
        observed * weights[:, None]
    ).sum(0)
    filled = np.where(observed, X64, column_means)
    labels = KMeans(n_components, n_init=1, random_state=random_state).fit_predict(
        filled, sample_weight=sample_weight
    )
    resp = np.eye(n_components)[labels] * weights[:, None]
    nk = resp.sum(axis=0)
    centers = (resp.T @ filled) / np.maximum(nk, 1e-300)[:, None]
    diff = filled[:, None, :] - centers  # (n, K, D), small test data only
    s1 = np.einsum("nk,nkd->kd", resp, diff)
    if covariance_type in ("full", "tied"):
        s2 = np.einsum("nk,nkd,nke->kde", resp, diff, diff)
    else:
        s2 = np.einsum("nk,nkd->kd", resp, diff**2)
    stats = GaussianStats(centers, np.nan, weights.sum(), nk, s1, s2)
    if covariance_type == "tied":
        stats.deficit = np.zeros((X64.shape[1], X64.shape[1]))
    nk, means, covariances = estimate_gaussian_parameters(
        stats, reg_covar, covariance_type
    )
    return GaussianParams(
        nk / nk.sum(),
        means,
        covariances,
        precisions_cholesky(covariances, covariance_type, X.dtype),
    )
