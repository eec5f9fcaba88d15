"""The inference methods of :class:`emfast.vae.VAE` (a mixin, to keep modules small).

They validate their input, standardise it as the model's training data were
(Gaussian decoder), call the drivers in :mod:`emfast.vae._inference` and return
results in the units of the data. A result that overflowed raises
``ValueError`` rather than coming back as NaN or infinity.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from emfast.vae import _inference
from emfast.vae._checks import check_finite_rows, positive_int


class InferenceMixin:
    """decode, reconstruct, sample, score_samples, score, log_likelihood.

    (``transform`` is defined on the estimator's class itself, where
    scikit-learn's ``set_output`` finds and wraps it.)
    """

    def _check_fitted_data(self, X, method):
        """Rows as the network reads them, refusing rows its dtype cannot hold."""
        check_is_fitted(self, "_state")
        X = self._check_data(X, reset=False)
        X_net = self._network_input(X)
        if self._scaling is not None or X_net.dtype != X.dtype:
            how = " once standardised" if self._scaling is not None else ""
            check_finite_rows(
                X_net,
                f"VAE.{method}: the values",
                f"overflow the model's {X_net.dtype.name}{how}",
            )
        return X_net

    def _check_result(self, values, method, what):
        dtype = np.dtype(self._fitted_dtype()).name
        return check_finite_rows(
            values,
            f"VAE.{method}: the {what}",
            f"is not finite: the network overflows {dtype} on them",
        )

    def _posterior_means(self, X, method):
        X = self._check_fitted_data(X, method)
        Z = _inference.encode(self, X)[:, : self.layout_.n_latent].copy()
        return self._check_result(Z, method, "posterior mean")

    def decode(self, Z: ArrayLike) -> np.ndarray:
        """Decoder means ``E[x | z]`` (Bernoulli: probabilities), in data units.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_latent)
            Points of the latent space.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            In the model's dtype, except for a Gaussian decoder on standardised
            data (``scale_`` is not None): float64, because the standardisation
            is undone in float64 (float32 would lose the digits of data far
            from the origin).

        Raises
        ------
        ValueError
            Invalid ``Z``, or rows on which the decoder overflows.
        """
        check_is_fitted(self, "_state")
        Z = check_array(Z, dtype=[np.float64, np.float32], estimator=self)
        if Z.shape[1] != self.layout_.n_latent:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but the model has n_latent="
                f"{self.layout_.n_latent}"
            )
        with np.errstate(over="ignore"):  # inf in float32: reported below
            Z_net = np.ascontiguousarray(Z, dtype=self._fitted_dtype())
        if Z_net.dtype != Z.dtype:
            check_finite_rows(
                Z_net, "VAE.decode: Z", f"overflows the model's {Z_net.dtype.name}"
            )
        Z = Z_net
        decoded = _inference.decode(self, Z)
        if self._scaling is not None:
            decoded = self._scaling.restore(decoded)
        return self._check_result(decoded, "decode", "decoder mean")

    def reconstruct(self, X: ArrayLike) -> np.ndarray:
        """``decode(transform(X))``: decoder means at the posterior means.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite rows (in [0, 1] for the Bernoulli decoder).

        Returns
        -------
        X_reconstructed : ndarray of shape (n_samples, n_features)
            In data units; dtype as in :meth:`decode`.

        Raises
        ------
        ValueError
            As in :meth:`transform` and :meth:`decode`.
        """
        return self.decode(self._posterior_means(X, "reconstruct"))

    def sample(
        self,
        n_samples: int = 1,
        *,
        mean: bool = False,
        random_state: int | np.random.RandomState | None = None,
    ) -> np.ndarray:
        """Draw from the model: ``z ~ N(0, I)``, then ``x ~ p(x | z)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.
        mean : bool, default=False
            Return the decoder means ``E[x | z]`` (Bernoulli: probabilities)
            instead of draws from ``p(x | z)``.
        random_state : int, RandomState instance or None, default=None
            Draws ``z`` (and the draws from ``p(x | z)``); ``None`` uses (and
            advances) the model's generator.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Bernoulli: binary draws (0 or 1) in the model's dtype, or with
            ``mean=True`` the probabilities. Gaussian: ``mean + sqrt(variance_)
            * noise`` in data units (the decoder variances do not depend on
            ``z``; draws are not clipped to [0, 1] for sigmoid means), or with
            ``mean=True`` the means; dtype as in :meth:`decode`.
        """
        check_is_fitted(self, "_state")
        n_samples = positive_int(n_samples, "n_samples")
        generator = (
            self._random_state
            if random_state is None
            else check_random_state(random_state)
        )
        Z = generator.standard_normal((n_samples, self.layout_.n_latent))
        means = self.decode(Z)
        if mean:
            return means
        if self.layout_.likelihood == "bernoulli":
            draws = generator.random_sample(means.shape) < means
        else:
            noise = generator.standard_normal(means.shape)
            draws = means + np.sqrt(self.variance_) * noise
        return draws.astype(means.dtype, copy=False)

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Per-row ELBO (one reparameterised sample, fixed noise), in nats.

        A lower bound on ``log p(x)`` of the rows in the units of the data: for
        a standardised Gaussian model it includes ``-sum(log(scale_))``, so
        scores of models fitted to differently scaled data are comparable.

        A row's noise is drawn from a stream keyed by the row's values (as the
        network reads them) and the model's seed, so a row gets the same score
        whichever rows are scored with it and in whatever order; distinct rows
        get independent noise, and rows that differ only by rounding may get
        different noise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite rows (in [0, 1] for the Bernoulli decoder).

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            One ELBO estimate per row (float64).

        Raises
        ------
        ValueError
            Invalid rows, or rows whose ELBO is not finite (the network
            overflows on rows far outside the training data).
        """
        X = self._check_fitted_data(X, "score_samples")
        elbo = -_inference.negative_elbo(self, X) - self._log_scale_sum()
        return self._check_result(elbo, "score_samples", "ELBO")

    def score(self, X: ArrayLike, y: object = None) -> float:
        """Mean per-row ELBO of ``X`` (higher is better); see :meth:`score_samples`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite rows (in [0, 1] for the Bernoulli decoder).
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        score : float
            The mean of :meth:`score_samples`, in nats per row.
        """
        return float(np.mean(self.score_samples(X)))

    def log_likelihood(self, X: ArrayLike, n_importance: int = 5000) -> np.ndarray:
        """Importance-weighted estimates of ``log p(x)`` per row (Burda et al.).

        ``log (1/K) sum_k p(x, z_k) / q(z_k | x)`` with ``K = n_importance``
        samples of ``q(z | x)``; a lower bound that tightens as ``K`` grows.
        Costs ``K`` decoder passes per row. In the units of the data, as
        :meth:`score_samples`; a row's samples are keyed by its values, as
        there.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite rows (in [0, 1] for the Bernoulli decoder).
        n_importance : int, default=5000
            Number ``K`` of importance samples per row.

        Returns
        -------
        log_px : ndarray of shape (n_samples,)
            One estimate per row (float64).

        Raises
        ------
        ValueError
            Invalid rows or ``n_importance``, or non-finite estimates (as in
            :meth:`score_samples`).
        """
        n_importance = positive_int(n_importance, "n_importance")
        X = self._check_fitted_data(X, "log_likelihood")
        log_px = _inference.importance_log_likelihood(self, X, n_importance)
        log_px -= self._log_scale_sum()
        return self._check_result(log_px, "log_likelihood", "estimate")
