"""The four covariance types of the Gaussian mixtures, one object each.

What depends on the covariance type outside the kernels and the M-step algebra
lives here: the shapes of the covariance arrays, the number of free
parameters, precisions from their Cholesky factors and covariances from
precisions, sampling, the Mahalanobis factor of far rows, the statistics of
the initialisation and the statistics per unit weight that give back fitted
covariances. :func:`covariance` looks one up by name. The kernel a covariance
type runs is decided in one place, :func:`emfast.mixture.gaussian._kernels.plan`.
"""

import numpy as np

from emfast.kernels.mixture import moments


class CovarianceType:
    """A covariance type: ``name``, whether its arrays are matrices, and the
    moments the initialisation needs (a :mod:`~emfast.kernels.mixture.moments`
    mode)."""

    name: str
    matrix: bool  # covariances are (..., D, D) matrices (full, tied)
    resp_mode: int

    def shape(self, n_components, n_features):
        """Shape of ``covariances_``, ``precisions_`` and their factors."""
        raise NotImplementedError

    def n_parameters(self, n_components, n_features):
        """Free parameters of the covariances."""
        raise NotImplementedError

    def prior_shape(self, n_features):
        """Shape of one covariance (a Wishart prior's ``covariance_prior``)."""
        return self.shape(1, n_features)[1:]

    def precisions(self, chol):
        """``precisions_`` from ``precisions_cholesky_`` (as scikit-learn sets it)."""
        return chol**2

    def covariances(self, precisions):
        """Covariances from user-given precisions (the inverse, in float64)."""
        return 1.0 / np.asarray(precisions, dtype=np.float64)

    def draw(self, rng, means, covariances, counts):
        """``counts[k]`` rows of each component, as scikit-learn draws them."""
        n_features = means.shape[1]
        return [
            m + rng.standard_normal(size=(n, n_features)) * np.sqrt(c)
            for m, c, n in zip(means, covariances, counts)
        ]

    def whiten(self, diff, chol):
        """``diff[r, k] @ U_k`` for offsets ``diff`` of shape (rows, K, D)."""
        return diff * chol

    def scatter_statistics(self, weights, means, covariances, reg_covar):
        """``{field: value}`` of statistics per unit weight, centred on the
        means, whose M-step gives back ``covariances`` (``reg_covar`` is
        added back there)."""
        return {"s2": weights[:, None] * (covariances - reg_covar)}


class _Full(CovarianceType):
    name, matrix, resp_mode = "full", True, moments.FULL

    def shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def n_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) / 2.0

    def precisions(self, chol):
        return chol @ chol.transpose(0, 2, 1)

    def covariances(self, precisions):
        return np.linalg.inv(np.asarray(precisions, dtype=np.float64))

    def draw(self, rng, means, covariances, counts):
        return [
            rng.multivariate_normal(m, c, int(n))
            for m, c, n in zip(means, covariances, counts)
        ]

    def whiten(self, diff, chol):
        return np.einsum("rkl,klj->rkj", diff, chol)

    def scatter_statistics(self, weights, means, covariances, reg_covar):
        within = covariances - reg_covar * np.eye(means.shape[1])
        return {"s2": weights[:, None, None] * within}


class _Tied(CovarianceType):
    name, matrix, resp_mode = "tied", True, moments.FULL_AND_DEFICIT

    def shape(self, n_components, n_features):
        return (n_features, n_features)

    def n_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) / 2.0

    def precisions(self, chol):
        return chol @ chol.T

    def covariances(self, precisions):
        return np.linalg.inv(np.asarray(precisions, dtype=np.float64))

    def prior_shape(self, n_features):
        return (n_features, n_features)

    def draw(self, rng, means, covariances, counts):
        return [
            rng.multivariate_normal(m, covariances, int(n))
            for m, n in zip(means, counts)
        ]

    def whiten(self, diff, chol):
        return diff @ chol

    def scatter_statistics(self, weights, means, covariances, reg_covar):
        # the total scatter about the weighted mean of the means: the pooled
        # within-component part plus the between-component part
        shift = weights @ means
        between = (means - shift).T @ (weights[:, None] * (means - shift))
        within = covariances - reg_covar * np.eye(means.shape[1])
        return {"shift": shift, "scatter": within + between}


class _Diag(CovarianceType):
    name, matrix, resp_mode = "diag", False, moments.DIAG

    def shape(self, n_components, n_features):
        return (n_components, n_features)

    def n_parameters(self, n_components, n_features):
        return n_components * n_features


class _Spherical(CovarianceType):
    name, matrix, resp_mode = "spherical", False, moments.DIAG

    def shape(self, n_components, n_features):
        return (n_components,)

    def n_parameters(self, n_components, n_features):
        return n_components

    def whiten(self, diff, chol):
        return diff * chol[:, None]

    def scatter_statistics(self, weights, means, covariances, reg_covar):
        variances = np.broadcast_to(covariances[:, None], means.shape)
        return {"s2": weights[:, None] * (variances - reg_covar)}


COVARIANCE_TYPES = {c.name: c for c in (_Full(), _Tied(), _Diag(), _Spherical())}


def covariance(covariance_type):
    """The :class:`CovarianceType` named ``covariance_type``."""
    return COVARIANCE_TYPES[covariance_type]
