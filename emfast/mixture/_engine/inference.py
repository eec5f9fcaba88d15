"""What the mixtures share: inference methods, training input, Dask inference.

Every mixture scores rows through the same four public methods. The two
Gaussian mixtures (GaussianMixture and BayesianGaussianMixture) differ only in
how they turn statistics into parameters and in the additive log term of each
component; reading the training rows (arrays, memory maps, chunk sources, Dask
arrays) and scoring new rows is the same code for both.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from emfast import _chunks
from emfast._numba import serial_blas
from emfast._validation import check_sample_weight, scoring_dtype, validate_rows
from emfast.mixture.gaussian._pass import gaussian_score
from emfast.rows import Pieces, inference_rows, is_chunk_source, training_rows


class MixtureInference:
    """Mixin: the public inference methods of a fitted mixture.

    A subclass defines ``_validated(X)`` (checked rows of a fitted model),
    ``_fitted_dtype()`` (the precision of its fitted arrays) and
    ``_score(X, want_resp)``, which returns ``(log-density, labels, resp or
    None)``; the methods below share them.
    """

    def _infer(self, X, what):
        """``score`` / ``labels`` / ``proba`` of the rows X."""
        return self._score_rows(self._validated(X), what)

    def _score_rows(self, X, what):
        """``score`` / ``labels`` / ``proba`` of validated rows, in the model's
        precision (:func:`~emfast._validation.scoring_dtype`).

        Rows of a lower precision are converted one block at a time, so that a
        float32 memory map scored by a float64 model is never copied whole.
        """
        dtype = scoring_dtype(X.dtype, self._fitted_dtype())
        want_resp = what == "proba"
        if X.dtype == dtype:
            log_norm, labels, resp = self._score(X, want_resp)
        else:
            log_norm = labels = resp = None
            for start, stop in _chunks.iter_blocks(X.shape[0]):
                part = self._score(X[start:stop].astype(dtype), want_resp)
                if log_norm is None:
                    log_norm, labels, resp = (
                        None
                        if p is None
                        else np.empty((X.shape[0], *p.shape[1:]), p.dtype)
                        for p in part
                    )
                for out, value in zip((log_norm, labels, resp), part):
                    if out is not None:
                        out[start:stop] = value
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
        """Validated training rows as a :class:`~emfast.rows.Rows`."""
        return training_rows(X, sample_weight, self, reset=reset)

    def _training_labels(self, X, data):
        """``fit_predict``'s labels of the rows just fitted (``data``)."""
        array = data.in_memory()
        if array is not None:
            return self._score(array[0])[1]
        if is_chunk_source(X):
            (labels,) = data.reduce(_labels_block, self)
            return labels.concatenate()
        return self.predict(X)

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

    def _fitted_dtype(self):
        return self.means_.dtype

    def _infer(self, X, what):
        """``score`` / ``labels`` / ``proba`` of X (lazily for a Dask array)."""
        check_is_fitted(self)
        rows = inference_rows(X, self, self._fitted_dtype())
        n_columns = self.n_components if what == "proba" else None
        out_dtype = np.intp if what == "labels" else None
        return rows.map_rows(
            _score_block,
            self._scoring_params(),
            self.covariance_type,
            what,
            n_columns=n_columns,
            out_dtype=out_dtype,
        )


def _score_block(X, params, covariance_type, what):
    with serial_blas():
        log_norm, labels, resp = gaussian_score(
            X, params, covariance_type, want_resp=what == "proba"
        )
    return {"score": log_norm, "labels": labels, "proba": resp}[what]


def _labels_block(X_block, w_block, estimator):
    return (Pieces(estimator._score(X_block)[1]),)
