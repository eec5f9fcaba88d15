"""What every fitted mixture does with rows: score, predict, sample, AIC/BIC.

The methods run the family's scoring kernel (``Family.score_block``) through
:func:`~emfast.rows.inference_rows`: at once on an array or a memory map, in
the model's precision, and lazily on a Dask array, block by block.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from emfast._typing import ArrayLike, RandomStateLike
from emfast._validation import check_sample_weight
from emfast.mixture._engine.family import Family
from emfast.rows import Pieces, inference_rows, is_chunk_source


class MixtureInference:
    """Mixin: the public inference methods of a fitted mixture.

    The class using it defines ``_family()`` (see
    :class:`~emfast.mixture._engine.estimator.MixtureEstimator`).
    """

    # what the class using the mixin provides (declared for type checkers)
    random_state: RandomStateLike
    _family: Callable[[], Family]
    _n_parameters: Callable[[], int]

    def _fitted_dtype(self):
        """The precision of the fitted arrays."""
        return getattr(self, self._family().fitted_attribute).dtype

    def _infer(self, X, what):
        """``score`` / ``labels`` / ``proba`` of X (lazily for a Dask array)."""
        check_is_fitted(self)
        family = self._family()
        rows = inference_rows(
            X,
            self,
            self._fitted_dtype(),
            family.check_values,
            allow_nan=family.allow_nan,
        )
        return rows.map_rows(
            score_rows,
            family.score_block,
            family.scoring_args(self),
            what,
            n_columns=self.weights_.shape[0] if what == "proba" else None,
            out_dtype=np.intp if what == "labels" else None,
        )

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log-density of each sample under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or Dask array
            Rows to score (a Dask array gives a lazy Dask array).

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._infer(X, "score")

    def score(
        self, X: ArrayLike, y: object = None, sample_weight: ArrayLike | None = None
    ) -> float:
        """Mean log-density of the samples in X (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or Dask array
            Rows to score.
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

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or Dask array
            Rows to score (a Dask array gives a lazy Dask array).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._infer(X, "labels")

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or Dask array
            Rows to score (a Dask array gives a lazy Dask array).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._infer(X, "proba")

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows, grouped by component.
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % n_samples
            )
        rng = check_random_state(self.random_state)
        return self._family().sample(self, n_samples, rng)

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n_samples = _num_samples(X)
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(
            n_samples
        )

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion of the model on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * _num_samples(X) + 2 * self._n_parameters()


def score_rows(X, score_block, args, what):
    """``score`` / ``labels`` / ``proba`` of validated rows, by ``score_block``."""
    log_norm, labels, resp = score_block(
        X, *args, want_resp=what == "proba", want_log_norm=what != "labels"
    )
    return {"score": log_norm, "labels": labels, "proba": resp}[what]


def training_labels(estimator, X, rows):
    """``fit_predict``'s labels of the rows just fitted.

    An array is scored as it is; a chunk source is read once more, block by
    block; anything else (a Dask array) goes to ``predict``.
    """
    family = estimator._family()
    args = (family.score_block, family.scoring_args(estimator), "labels")
    array = rows.in_memory()
    if array is not None:
        return score_rows(array[0], *args)
    if is_chunk_source(X):
        (labels,) = rows.reduce(_labels_block, *args)
        return labels.concatenate()
    return estimator.predict(X)


def _labels_block(X_block, w_block, score_block, args, what):
    return (Pieces(score_rows(X_block, score_block, args, what)),)
