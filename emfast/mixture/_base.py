"""What the mixtures share: inference methods, training input, Dask inference.

Every mixture scores rows through the same four public methods. The two
Gaussian mixtures (GaussianMixture and BayesianGaussianMixture) differ only in
how they turn statistics into parameters and in the additive log term of each
component; reading the training rows (arrays, memory maps, chunk sources, Dask
arrays) and scoring new rows is the same code for both.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from emfast._numba import serial_blas
from emfast._validation import check_n_samples, check_sample_weight, validate_rows
from emfast.mixture._data import ChunkedRows, RowData, is_chunk_source, is_dask_array
from emfast.mixture._gaussian_pass import gaussian_score


class MixtureInference:
    """Mixin: the public inference methods of a fitted mixture.

    A subclass defines ``_validated(X)`` (checked rows of a fitted model) and
    ``_score(X, want_resp)``, which returns ``(log-density, labels, resp or
    None)``; the methods below share them.
    """

    def _infer(self, X, what):
        """``score`` / ``labels`` / ``proba`` of the rows X."""
        log_norm, labels, resp = self._score(self._validated(X), what == "proba")
        return {"score": log_norm, "labels": labels, "proba": resp}[what]

    def score_samples(self, X):
        """Log-density of each sample under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score. The Gaussian mixtures also take a Dask array and
            then return a lazy Dask array.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._infer(X, "score")

    def score(self, X, y=None, sample_weight=None):
        """Mean log-density of the samples in X (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score (the Gaussian mixtures also take a Dask array).
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        log_likelihood : float
        """
        log_prob = np.asarray(self.score_samples(X))  # computes a Dask result
        weights = check_sample_weight(sample_weight, log_prob.shape[0])
        return float(np.average(log_prob, weights=weights))

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score. The Gaussian mixtures also take a Dask array and
            then return a lazy Dask array.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._infer(X, "labels")

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score. The Gaussian mixtures also take a Dask array and
            then return a lazy Dask array.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._infer(X, "proba")


class GaussianMixtureBase(MixtureInference):
    """Mixin: training rows and inference of a fitted Gaussian mixture.

    A subclass defines ``_scoring_params()``, the ``(log_term, means,
    precisions_cholesky)`` triple the kernels score rows with.
    """

    # ------------------------------------------------------------ training
    def _training_rows(self, X, sample_weight, reset):
        """Validated training rows as a :class:`~emfast.mixture._data.Rows`."""
        if is_dask_array(X):
            from emfast.dask import DaskRows

            data = DaskRows(X, sample_weight, type(self).__name__)
            check_n_samples(data.n_samples, 2)
            self._check_chunked_features(data.n_features, reset)
            return data
        if not is_chunk_source(X):
            X = validate_rows(self, X, reset=reset, ensure_min_samples=2)
            return RowData(X, check_sample_weight(sample_weight, X.shape[0]))
        if sample_weight is not None:
            raise ValueError(
                "With chunked input, give the sample weights inside the chunks as "
                "(rows, sample_weight) pairs."
            )
        data = ChunkedRows(X, type(self).__name__)
        check_n_samples(data.n_samples, 2)  # scikit-learn's ensure_min_samples=2
        self._check_chunked_features(data.n_features, reset)
        return data

    def _check_chunked_features(self, n_features, reset):
        """``validate_data``'s feature-count bookkeeping, for chunked input."""
        if reset:
            self.n_features_in_ = n_features
            self.__dict__.pop("feature_names_in_", None)
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )

    def _training_labels(self, X, data):
        """``fit_predict``'s labels of the rows just fitted (``data``)."""
        if getattr(data, "distributed", False):
            return self.predict(X)
        if data.X is not None:
            return self._score(data.X)[1]
        return np.concatenate([self._score(X_block)[1] for X_block, _ in data.blocks()])

    # ----------------------------------------------------------- inference
    def _score(self, X, want_resp=False):
        """``(log-density, labels, resp or None)`` of validated rows X."""
        with serial_blas():
            return gaussian_score(
                X, self._scoring_params(), self.covariance_type, want_resp=want_resp
            )

    def _validated(self, X):
        check_is_fitted(self)
        return validate_rows(self, X, reset=False)

    def _infer(self, X, what):
        """``score`` / ``labels`` / ``proba`` of X (lazily for a Dask array)."""
        if is_dask_array(X):
            from emfast.dask import score_lazily

            check_is_fitted(self)
            self._check_chunked_features(X.shape[1], reset=False)
            return score_lazily(
                X, self._scoring_params(), self.covariance_type, what, self.n_components
            )
        return super()._infer(X, what)
