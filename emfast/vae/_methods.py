"""The inference methods of :class:`emfast.vae.VAE` (a mixin, to keep modules small).

They validate their input and call the drivers in :mod:`emfast.vae._inference`.
"""

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from emfast.vae import _inference


class InferenceMixin:
    """transform, decode, reconstruct, sample, score_samples, score, log_likelihood."""

    def _check_fitted_data(self, X, check_range=True):
        check_is_fitted(self, "_state")
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        X = np.ascontiguousarray(X, dtype=self._dtype())
        if (
            check_range
            and self.likelihood == "bernoulli"
            and X.size
            and (X.min() < 0 or X.max() > 1)
        ):
            raise ValueError(
                "The Bernoulli decoder needs data in [0, 1]; got values in "
                f"[{X.min()}, {X.max()}]"
            )
        return X

    def transform(self, X):
        """Posterior means ``E[z | x]`` (the encoder's ``mu``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_latent)
        """
        X = self._check_fitted_data(X, check_range=False)
        return _inference.encode(self, X)[:, : self.layout_.n_latent].copy()

    def decode(self, Z):
        """Decoder means ``E[x | z]`` (Bernoulli: probabilities).

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_latent)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "_state")
        Z = check_array(Z, dtype=[np.float32, np.float64])
        if Z.shape[1] != self.layout_.n_latent:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but the model has n_latent="
                f"{self.layout_.n_latent}"
            )
        return _inference.decode(self, np.ascontiguousarray(Z, dtype=self._dtype()))

    def reconstruct(self, X):
        """``decode(transform(X))``: decoder means at the posterior means."""
        return self.decode(self.transform(X))

    def sample(self, n_samples=1, random_state=None):
        """Decoder means at ``z ~ N(0, I)``.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            Draws ``z``; ``None`` uses (and advances) the model's generator.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Expected values (Bernoulli: pixel probabilities), not draws.
        """
        check_is_fitted(self, "_state")
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        generator = (
            self._random_state
            if random_state is None
            else check_random_state(random_state)
        )
        Z = generator.standard_normal((n_samples, self.layout_.n_latent))
        return self.decode(Z)

    def score_samples(self, X):
        """Per-row ELBO (one reparameterised sample, fixed noise), in nats.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
        """
        X = self._check_fitted_data(X)
        return -_inference.negative_elbo(self, X)

    def score(self, X, y=None):
        """Mean per-row ELBO of ``X`` (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def log_likelihood(self, X, n_importance=5000):
        """Importance-weighted estimates of ``log p(x)`` per row (Burda et al.).

        ``log (1/K) sum_k p(x, z_k) / q(z_k | x)`` with ``K = n_importance``
        samples of ``q(z | x)``; a lower bound that tightens as ``K`` grows.
        Costs ``K`` decoder passes per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_importance : int, default=5000

        Returns
        -------
        log_px : ndarray of shape (n_samples,)
        """
        X = self._check_fitted_data(X)
        if int(n_importance) < 1:
            raise ValueError(f"n_importance must be >= 1, got {n_importance}")
        return _inference.importance_log_likelihood(self, X, int(n_importance))
