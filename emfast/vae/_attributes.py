"""The fitted attributes of :class:`emfast.vae.VAE`, read from its training state.

A mixin, to keep the estimator's module small: parameters live in one flat
vector (``_state.theta``), which ``layout_`` splits into layers.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted


class FittedAttributesMixin:
    """n_epochs_, t_, coefs_, intercepts_, variance_, mean_, scale_; old pickles."""

    @property
    def n_epochs_(self):
        check_is_fitted(self, "_state")
        return self._state.epochs

    @property
    def t_(self):
        check_is_fitted(self, "_state")
        return self._state.opt_step

    @property
    def coefs_(self):
        check_is_fitted(self, "_state")
        return [w for w, _ in self.layout_.split(self._state.theta)]

    @property
    def intercepts_(self):
        check_is_fitted(self, "_state")
        return [b for _, b in self.layout_.split(self._state.theta)]

    @property
    def variance_(self):
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
    def mean_(self):
        check_is_fitted(self, "_state")
        return None if self._scaling is None else self._scaling.mean

    @property
    def scale_(self):
        check_is_fitted(self, "_state")
        return None if self._scaling is None else self._scaling.std

    def __setstate__(self, state):
        # models pickled before standardisation and optimizer_ existed
        if "_state" in state:
            state.setdefault("_scaling", None)
            state.setdefault("optimizer_", state.get("optimizer"))
        super().__setstate__(state)
