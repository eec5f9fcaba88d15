"""Fitting and predicting on Dask arrays: one task per block, statistics summed.

``GaussianMixture().fit(X)`` with ``X`` a ``dask.array.Array`` (rows split in
blocks along axis 0) runs exact full-batch EM: each iteration the small
parameters go to the workers once (``Client.scatter(..., broadcast=True)``),
every block computes its sufficient statistics with the same numba kernel as an
in-memory fit, the client sums them in block order and runs the K x D x D
M-step. The blocks are computed once and kept on the workers for the whole fit
(Dask recomputes a block lost with a worker from its graph, so a fit survives a
worker dying).

Without a ``distributed.Client`` the tasks run on Dask's local scheduler.
Supported inits: ``random_from_data`` and user-given ``*_init``;
``kmeans``/``k-means++`` need all rows in one process and ``random`` draws one
number per row and component in row order, so they raise.

This module imports Dask; emfast itself does not need it.
"""

import time

import numpy as np

from emfast._numba import serial_blas
from emfast._validation import validate_chunk
from emfast.mixture._data import RowData, is_dask_array, symmetrise_upper  # noqa: F401
from emfast.mixture._gaussian_pass import (
    gaussian_pass,
    gaussian_score,
    resp_pass,
    sum_stats,
)
from emfast.mixture._init import AssignedResp


# ------------------------------------------------------------ worker functions
def _block_moments(X_block, w_block, name):
    """``(weight sum, weighted mean, scatter about it, n_rows)`` of one block."""
    X_block = np.ascontiguousarray(validate_chunk(X_block, None, name))
    data = RowData(X_block, w_block)
    mean, scatter = data.centred_scatter()
    return data.weight_sum, mean, scatter, X_block.shape[0], X_block.dtype


def _block_pass(X_block, w_block, dtype, params, covariance_type, with_entropy, shift):
    with serial_blas():
        return gaussian_pass(
            RowData(np.ascontiguousarray(X_block, dtype=dtype), w_block),
            params,
            covariance_type,
            with_entropy=with_entropy,
            shift=shift,
        )


def _block_resp_pass(
    X_block, w_block, dtype, rows, cols, n_components, centers, covariance_type
):
    X_block = np.ascontiguousarray(X_block, dtype=dtype)
    resp = AssignedResp(rows, cols, X_block.shape[0], n_components, dtype)
    with serial_blas():
        return resp_pass(RowData(X_block, w_block), resp, centers, covariance_type)


def _block_score(X_block, params, covariance_type, what):
    X_block = np.ascontiguousarray(X_block, dtype=params[1].dtype)
    with serial_blas():
        log_norm, labels, resp = gaussian_score(
            X_block, params, covariance_type, want_resp=what == "proba"
        )
    return {"score": log_norm, "labels": labels, "proba": resp}[what]


def _combine_moments(parts):
    """Total weight, mean and scatter of blocks from their own moments."""
    weight = sum(p[0] for p in parts)
    mean = sum(p[0] * p[1] for p in parts) / weight
    scatter = sum(p[2] + p[0] * np.outer(p[1] - mean, p[1] - mean) for p in parts)
    return weight, mean, symmetrise_upper(np.triu(scatter))


# ------------------------------------------------------------------ the rows
class DaskRows:
    """A Dask array's row blocks, seen by the model functions as training rows.

    :func:`~emfast.mixture._gaussian_pass.gaussian_pass` and
    :func:`~emfast.mixture._gaussian_pass.resp_pass` hand their work to
    :meth:`gaussian_pass` and :meth:`resp_pass` (``distributed = True``).
    """

    distributed = True
    X = None  # no k-means initialisation on distributed rows

    def __init__(self, X, sample_weight=None, estimator_name="estimator"):
        import dask
        import dask.array as da

        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got {X.ndim}D dask array instead.")
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        X = X.rechunk({1: -1})
        if sample_weight is not None:
            sample_weight = da.asarray(sample_weight).rechunk((X.chunks[0],))
            if sample_weight.shape != (X.shape[0],):
                raise ValueError(
                    f"sample_weight.shape == {sample_weight.shape}, expected "
                    f"({X.shape[0]},)!"
                )
        self.name = estimator_name
        self.client = _client()
        x_blocks = list(X.to_delayed().ravel())
        w_blocks = (
            list(sample_weight.to_delayed().ravel())
            if sample_weight is not None
            else [None] * len(x_blocks)
        )
        if self.client is not None:  # computed once, kept on the workers
            self.x_blocks = self.client.compute(x_blocks)
            self.w_blocks = (
                self.client.compute(w_blocks) if sample_weight is not None else w_blocks
            )
        else:
            self.x_blocks, self.w_blocks = x_blocks, w_blocks
        self._dask = dask
        self.weighted = sample_weight is not None
        self.sample_weight = np.empty(0)
        self.n_samples, self.n_features = X.shape
        self.block_rows = list(X.chunks[0])
        moments = self._map(_block_moments, self.x_blocks, self.w_blocks, self.name)
        if sample_weight is not None:
            for weight_sum, *_ in moments:
                if not np.isfinite(weight_sum) or weight_sum < 0:
                    raise ValueError(
                        "Negative values in data passed to `sample_weight`"
                    )
        self.dtype = (
            np.dtype(np.float32)
            if all(m[4] == np.float32 for m in moments)
            else np.dtype(np.float64)
        )
        self.weight_sum, self._mean, self._scatter = _combine_moments(moments)
        if not self.weight_sum > 0:
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )

    # the parts of the Rows interface the model functions use
    def mean(self):
        return self._mean

    def centred_scatter(self):
        return self._mean, self._scatter

    def centred_squares(self):
        return self._mean, np.diagonal(self._scatter).copy()

    def weight_blocks(self):
        for block in self.w_blocks:
            yield np.asarray(self._get(block))

    def gaussian_pass(self, params, covariance_type, with_entropy=False):
        """Sum of the blocks' :class:`GaussianStats` (parameters broadcast once)."""

        def run():
            shared = self._broadcast(params)
            return self._map(
                _block_pass,
                self.x_blocks,
                self.w_blocks,
                self.dtype,
                shared,
                covariance_type,
                with_entropy,
                self._mean,
            )

        total = sum_stats(self._retrying(run))
        if covariance_type == "tied":
            total.shift, total.scatter = self._mean, self._scatter
        return total

    def resp_pass(self, resp, centers, covariance_type):
        """Statistics of one-hot initial responsibilities, block by block."""
        if not isinstance(resp, AssignedResp):
            raise ValueError(
                "init_params='random' draws one number per row and component in "
                "row order and is not supported on Dask arrays; use "
                "init_params='random_from_data' or give weights_init, means_init "
                "and precisions_init."
            )
        edges = np.cumsum([0, *self.block_rows])
        pieces = []
        for start, stop in zip(edges[:-1], edges[1:]):
            inside = (resp.rows >= start) & (resp.rows < stop)
            pieces.append((resp.rows[inside] - start, resp.cols[inside]))
        tasks = []
        for (rows, cols), X_block, w_block in zip(pieces, self.x_blocks, self.w_blocks):
            tasks.append(
                (
                    X_block,
                    w_block,
                    self.dtype,
                    rows,
                    cols,
                    resp.n_components,
                    centers,
                    covariance_type,
                )
            )
        return sum_stats(
            self._retrying(lambda: self._map_each(_block_resp_pass, tasks))
        )

    # execution on a distributed client or on the local Dask scheduler
    def _retrying(self, run, attempts=4):
        """``run()``, again if a worker died under it (a pass has no side effects).

        Blocks lost with a worker are recomputed by Dask from their graph;
        parameters scattered to it are sent again by the next attempt.
        """
        for attempt in range(attempts):
            try:
                return run()
            except (ValueError, TypeError, MemoryError):
                raise  # the data or the model, not the cluster
            except Exception:
                if self.client is None or attempt == attempts - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def _broadcast(self, value):
        if self.client is None:
            return value
        return self.client.scatter(value, broadcast=True, hash=False)

    def _map(self, function, x_blocks, w_blocks, *args):
        return self._map_each(
            function, [(x, w, *args) for x, w in zip(x_blocks, w_blocks)]
        )

    def _map_each(self, function, task_args):
        if self.client is not None:
            futures = [
                self.client.submit(function, *args, pure=False) for args in task_args
            ]
            return self.client.gather(futures)
        delayed = self._dask.delayed(function, pure=True)
        return list(self._dask.compute(*[delayed(*args) for args in task_args]))

    def _get(self, block):
        if block is None:
            return None
        if self.client is not None:
            return block.result()
        return block.compute()


def _client():
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client running
        return None


def score_lazily(X, params, covariance_type, what, n_components):
    """``score`` / ``labels`` / ``proba`` of a Dask array, as a lazy Dask array."""
    X = X.rechunk({1: -1})
    if what == "proba":
        return X.map_blocks(
            _block_score,
            params,
            covariance_type,
            what,
            dtype=X.dtype,
            chunks=(X.chunks[0], (n_components,)),
        )
    dtype = X.dtype if what == "score" else np.intp
    return X.map_blocks(
        _block_score, params, covariance_type, what, dtype=dtype, drop_axis=1
    )
