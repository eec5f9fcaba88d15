"""Training rows as the EM driver sees them: blocks of rows with their weights.

The driver never touches ``X`` directly: kernels run block by block through
:meth:`RowData.sum_chunks`. Today the rows are one in-memory (or memory-mapped)
C-contiguous array; other sources only need ``n_samples``, ``n_features``,
``dtype``, ``weight_sum`` and ``blocks()``.
"""

import numpy as np

from emfast import _chunks
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
        if self.weighted:
            return float(self.sample_weight.sum())
        return float(self.n_samples)

    def blocks(self):
        """Yield ``(X_block, weight_block)`` (``weight_block`` empty if unweighted)."""
        for start, stop in _chunks.iter_blocks(self.n_samples):
            weights = self.sample_weight[start:stop] if self.weighted else _NO_WEIGHTS
            yield self.X[start:stop], weights

    def sum_chunks(self, run_kernel, shapes):
        """Run ``run_kernel(X_block, w_block, *buffers)`` on every block; sum buffers.

        ``shapes`` are the per-chunk shapes of the kernel's float64 outputs. Chunk
        results are added in chunk order, so the sums do not depend on the
        number of threads.
        """
        totals = [np.zeros(shape) for shape in shapes]
        buffers = None
        for X_block, w_block in self.blocks():
            count = _chunks.n_chunks(X_block.shape[0])
            if buffers is None:  # the first block is the largest
                buffers = [np.empty((count, *shape)) for shape in shapes]
            views = [buffer[:count] for buffer in buffers]
            run_kernel(X_block, w_block, *views)
            for total, view in zip(totals, views):
                total += view.sum(axis=0)
        return totals

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
            n_features = self.n_features

            def run(X_block, w_block, weight_sums, out):
                moments.scatter(
                    X_block, w_block, mean, _chunks.CHUNK_ROWS, weight_sums, out
                )

            _, scatter = self.sum_chunks(run, [(), (n_features, n_features)])
            self._scatter = symmetrise_upper(scatter)
        return self.mean(), self._scatter


def symmetrise_upper(matrices):
    """Copy the upper triangle of the last two axes onto the lower one."""
    return np.triu(matrices) + np.swapaxes(np.triu(matrices, 1), -1, -2)
