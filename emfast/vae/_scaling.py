"""Per-feature standardisation of the Gaussian VAE's data.

The network sees ``(x - mean) / scale``: an encoder fed raw features of size
1e3 or more overflows in its first layers, whatever the learning rate. The
scaling is learned once (on the first training rows), kept with the model and
undone on every output in data units. Densities of the original data follow
from those of the standardised data by the change of variables
``log p(x) = log p((x - mean) / scale) - sum_j log scale_j``.

Every statistic is computed in float64 on rows divided by a per-feature power
of two (``unit``, between half the largest magnitude and the largest), so
neither the data's offset nor values near the float64 range lose digits or
overflow.
"""

from dataclasses import dataclass

import numpy as np

# rows per block of the float64 passes (bounds their temporary memory)
BLOCK_ROWS = 4096


@dataclass(frozen=True)
class FeatureScaling:
    """``x -> (x / unit - offset) / scale`` per feature (all float64 arrays).

    In data units the mean is ``unit * offset`` and the scale ``unit * scale``.
    """

    unit: np.ndarray
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X):
        """Mean and standard deviation of the columns of a finite 2-D array.

        A feature whose spread is within the rounding error of its mean (a
        constant feature) gets scale 1, as in scikit-learn's ``StandardScaler``.
        """
        n_samples = X.shape[0]
        magnitude = np.maximum(
            np.abs(X.min(axis=0).astype(np.float64)),
            np.abs(X.max(axis=0).astype(np.float64)),
        )
        # a power of two in (magnitude / 2, magnitude] divides exactly and stays
        # finite up to the largest float; 1 for all-zero columns
        exponent = np.frexp(np.where(magnitude > 0, magnitude, 1.0))[1]
        unit = np.ldexp(1.0, exponent - 1)
        total = np.zeros(X.shape[1])
        for block in _blocks(X, unit):
            total += block.sum(axis=0)
        offset = total / n_samples
        squares = np.zeros(X.shape[1])
        for block in _blocks(X, unit):
            block -= offset
            squares += np.einsum("ij,ij->j", block, block)
        variance = squares / n_samples
        eps = np.finfo(np.float64).eps
        rounding = n_samples * eps * variance + (n_samples * offset * eps) ** 2
        constant = variance <= rounding
        scale = np.where(constant, 1.0 / unit, np.sqrt(variance))
        return cls(unit, offset, scale)

    @property
    def mean(self):
        return self.unit * self.offset

    @property
    def std(self):
        return self.unit * self.scale

    @property
    def log_scale_sum(self):
        """``sum_j log scale_j`` in data units: the log-Jacobian of the scaling."""
        return float(np.sum(np.log(self.unit)) + np.sum(np.log(self.scale)))

    def standardize(self, X, dtype):
        """``(X - mean) / scale`` as a C-contiguous array of ``dtype``."""
        out = np.empty(X.shape, dtype=dtype)
        start = 0
        for block in _blocks(X, self.unit):
            block -= self.offset
            block /= self.scale
            # rows beyond the float32 range become inf; the inference methods
            # report the non-finite results they lead to
            with np.errstate(over="ignore"):
                out[start : start + block.shape[0]] = block
            start += block.shape[0]
        return out

    def restore(self, values):
        """Standardised ``values`` back in data units (float64)."""
        out = np.asarray(values, dtype=np.float64) * self.scale
        out += self.offset
        out *= self.unit
        return out


def _blocks(X, unit):
    """Float64 copies of blocks of rows of ``X``, divided by ``unit``."""
    for start in range(0, X.shape[0], BLOCK_ROWS):
        block = X[start : start + BLOCK_ROWS].astype(np.float64)
        block /= unit
        yield block
