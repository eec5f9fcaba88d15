"""The fitted attributes of :class:`emfast.vae.VAE`, read from its training state.

A mixin, to keep the estimator's module small: parameters live in one flat
vector (``_state.theta``), which ``layout_`` splits into layers.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted


class FittedAttributesMixin:
    """n_epochs_, t_, coefs_, intercepts_, variance_, mean_, scale_; old pickles."""

    @property
    def n_epochs_(self) -> int:
        """Epochs trained so far (``fit`` and ``partial_fit``)."""
        check_is_fitted(self, "_state")
        return self._state.epochs

    @property
    def t_(self) -> int:
        """Optimiser steps taken so far."""
        check_is_fitted(self, "_state")
        return self._state.opt_step

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights ``(n_in, n_out)`` of every dense layer, encoder first (views)."""
        check_is_fitted(self, "_state")
        return [w for w, _ in self.layout_.split(self._state.theta)]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases of every dense layer, encoder first (views)."""
        check_is_fitted(self, "_state")
        return [b for _, b in self.layout_.split(self._state.theta)]

    @property
    def variance_(self) -> np.ndarray | None:
        """Gaussian decoder variances in data units (None for Bernoulli)."""
        check_is_fitted(self, "_state")
        if self.layout_.likelihood != "gaussian":
            return None
        start = self.layout_.var_offset
        raw = self._state.theta[start : start + self.layout_.n_features]
        variance = np.exp(raw.astype(np.float64)) + self.var_floor_
        if self._scaling is not None:
            variance *= self._scaling.std**2
        return variance

    @property
    def mean_(self) -> np.ndarray | None:
        """Per-feature mean the data are standardised by (or None)."""
        check_is_fitted(self, "_state")
        return None if self._scaling is None else self._scaling.mean

    @property
    def scale_(self) -> np.ndarray | None:
        """Per-feature scale the data are standardised by (or None)."""
        check_is_fitted(self, "_state")
        return None if self._scaling is None else self._scaling.std

    def __setstate__(self, state):
        # models pickled before standardisation, optimizer_ and early stopping
        for name, default in [
            ("early_stopping", False),
            ("n_iter_no_change", 10),
            ("tol", 1e-4),
        ]:
            state.setdefault(name, default)
        if "_state" in state:
            state.setdefault("_scaling", None)
            state.setdefault("optimizer_", state.get("optimizer"))
            state.setdefault("validation_scores_", None)
            state.setdefault("best_validation_score_", None)
        super().__setstate__(state)
