"""Training rows as the EM driver sees them: blocks of rows with their weights.

The driver never touches ``X`` directly; it asks for blocks. Today the rows are
one in-memory (or memory-mapped) C-contiguous array; other sources (iterators,
Dask) only need to provide the same three things: ``n_features``, ``dtype`` and
``blocks()``.
"""

import numpy as np

from emfast._chunks import CHUNK_ROWS, iter_blocks, n_chunks
from emfast.kernels import moments

_NO_WEIGHTS = np.empty(0)


class RowData:
    """Rows of ``X`` (n_samples, n_features) with optional sample weights.

    Parameters
    ----------
    X : ndarray of float32 or float64, C-contiguous
    sample_weight : ndarray of float64 of shape (n_samples,) or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = _NO_WEIGHTS if sample_weight is None else sample_weight
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self._mean = None
        self._scatter = None

    @property
    def weighted(self):
        return self.sample_weight.shape[0] > 0

    @property
    def weight_sum(self):
        return float(self.sample_weight.sum()) if self.weighted else float(self.n_samples)

    def blocks(self):
        """Yield ``(X_block, weight_block)``; ``weight_block`` is empty if unweighted."""
        for start, stop in iter_blocks(self.n_samples):
            weights = self.sample_weight[start:stop] if self.weighted else _NO_WEIGHTS
            yield self.X[start:stop], weights

    def mean(self):
        """Weighted mean of the rows (float64), computed once."""
        if self._mean is None:
            total = np.zeros(self.n_features)
            for X_block, w_block in self.blocks():
                if w_block.shape[0]:
                    total += w_block @ X_block.astype(np.float64, copy=False)
                else:
                    total += X_block.sum(axis=0, dtype=np.float64)
            self._mean = total / self.weight_sum
        return self._mean

    def centred_scatter(self):
        """``(mean, scatter)`` with ``scatter = sum w (x - mean)(x - mean)^T``.

        Computed once and kept: tied covariances need it every iteration.
        """
        if self._scatter is None:
            mean = self.mean()
            scatter = np.zeros((self.n_features, self.n_features))
            buffers = None
            for X_block, w_block in self.blocks():
                count = n_chunks(X_block.shape[0])
                if buffers is None:
                    shape = (count, self.n_features, self.n_features)
                    buffers = (np.empty(count), np.empty(shape))
                weight_sums, out = (buffer[:count] for buffer in buffers)
                moments.scatter(X_block, w_block, mean, CHUNK_ROWS, weight_sums, out)
                scatter += out.sum(axis=0)
            self._scatter = symmetrise_upper(scatter)
        return self.mean(), self._scatter


def symmetrise_upper(matrices):
    """Copy the upper triangle of the last two axes onto the lower one."""
    upper = np.triu(matrices)
    return upper + np.swapaxes(np.triu(matrices, 1), -1, -2)
