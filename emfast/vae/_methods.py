"""The inference methods of :class:`emfast.vae.VAE` (a mixin, to keep modules small).

They validate their input, standardise it as the model's training data were
(Gaussian decoder), call the drivers in :mod:`emfast.vae._inference` and return
results in the units of the data. A result that overflowed raises
``ValueError`` rather than coming back as NaN or infinity.
"""

import numpy as np
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from emfast.vae import _inference
from emfast.vae._checks import check_finite_rows, positive_int


class InferenceMixin:
    """transform, decode, reconstruct, sample, score_samples, score, log_likelihood."""

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

    def transform(self, X):
        """Posterior means ``E[z | x]`` (the encoder's ``mu``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite rows (in [0, 1] for the Bernoulli decoder).

        Returns
        -------
        Z : ndarray of shape (n_samples, n_latent)

        Raises
        ------
        ValueError
            Invalid rows, or rows on which the encoder overflows (rows far
            outside the training data).
        """
        return self._posterior_means(X, "transform")

    def _posterior_means(self, X, method):
        X = self._check_fitted_data(X, method)
        Z = _inference.encode(self, X)[:, : self.layout_.n_latent].copy()
        return self._check_result(Z, method, "posterior mean")

    def decode(self, Z):
        """Decoder means ``E[x | z]`` (Bernoulli: probabilities), in data units.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_latent)

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

    def reconstruct(self, X):
        """``decode(transform(X))``: decoder means at the posterior means."""
        return self.decode(self._posterior_means(X, "reconstruct"))

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
            Expected values (Bernoulli: pixel probabilities), not draws; dtype
            as in :meth:`decode`.
        """
        check_is_fitted(self, "_state")
        n_samples = positive_int(n_samples, "n_samples")
        generator = (
            self._random_state
            if random_state is None
            else check_random_state(random_state)
        )
        Z = generator.standard_normal((n_samples, self.layout_.n_latent))
        return self.decode(Z)

    def score_samples(self, X):
        """Per-row ELBO (one reparameterised sample, fixed noise), in nats.

        A lower bound on ``log p(x)`` of the rows in the units of the data: for
        a standardised Gaussian model it includes ``-sum(log(scale_))``, so
        scores of models fitted to differently scaled data are comparable.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite rows (in [0, 1] for the Bernoulli decoder).

        Returns
        -------
        elbo : ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            Invalid rows, or rows whose ELBO is not finite (the network
            overflows on rows far outside the training data).
        """
        X = self._check_fitted_data(X, "score_samples")
        elbo = -_inference.negative_elbo(self, X) - self._log_scale_sum()
        return self._check_result(elbo, "score_samples", "ELBO")

    def score(self, X, y=None):
        """Mean per-row ELBO of ``X`` (higher is better); see :meth:`score_samples`."""
        return float(np.mean(self.score_samples(X)))

    def log_likelihood(self, X, n_importance=5000):
        """Importance-weighted estimates of ``log p(x)`` per row (Burda et al.).

        ``log (1/K) sum_k p(x, z_k) / q(z_k | x)`` with ``K = n_importance``
        samples of ``q(z | x)``; a lower bound that tightens as ``K`` grows.
        Costs ``K`` decoder passes per row. In the units of the data, as
        :meth:`score_samples`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_importance : int, default=5000

        Returns
        -------
        log_px : ndarray of shape (n_samples,)

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
