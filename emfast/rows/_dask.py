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

import math
import time

import numpy as np

from emfast._numba import serial_blas
from emfast._validation import (
    check_rows_block,
    check_rows_layout,
    check_sample_weight,
    check_weight_layout,
    check_weight_total,
)
from emfast.mixture._engine.init import AssignedResp
from emfast.mixture.gaussian._pass import (
    gaussian_pass,
    gaussian_score,
    resp_pass,
    sum_stats,
)
from emfast.rows._local import RowData, is_dask_array, symmetrise_upper


# ------------------------------------------------------------ worker functions
# Every block reaches these functions through check_rows_block (and its weights
# through check_sample_weight): the checks are part of the block's graph, so a
# block recomputed after a worker died, or on each pass of the local scheduler,
# is checked again.
def _block_moments(X_block, w_block):
    """``(weight sum, weighted mean, scatter about it)`` of one checked block."""
    data = RowData(X_block, w_block)
    if not data.weight_sum > 0:  # no rows or zero weights: no mean to centre on
        n_features = X_block.shape[1]
        return 0.0, np.zeros(n_features), np.zeros((n_features, n_features))
    mean, scatter = data.centred_scatter()
    return data.weight_sum, mean, scatter


def _block_pass(X_block, w_block, params, covariance_type, with_entropy, shift):
    with serial_blas():
        return gaussian_pass(
            RowData(X_block, w_block),
            params,
            covariance_type,
            with_entropy=with_entropy,
            shift=shift,
        )


def _block_resp_pass(X_block, w_block, rows, cols, n_components, centers, cov_type):
    resp = AssignedResp(rows, cols, X_block.shape[0], n_components, X_block.dtype)
    with serial_blas():
        return resp_pass(RowData(X_block, w_block), resp, centers, cov_type)


def _block_score(X_block, params, covariance_type, what, dtype, estimator_name):
    """Score one block of inference rows, checked as numpy input is."""
    X_block = check_rows_block(X_block, None, estimator_name).astype(dtype, copy=False)
    with serial_blas():
        log_norm, labels, resp = gaussian_score(
            X_block, params, covariance_type, want_resp=what == "proba"
        )
    return {"score": log_norm, "labels": labels, "proba": resp}[what]


def _combine_moments(parts):
    """Total weight, mean and scatter of blocks from their own moments.

    Blocks of zero total weight are left out (their mean is undefined).
    """
    parts = [p for p in parts if p[0] > 0]
    weight = sum(p[0] for p in parts)
    mean = sum(p[0] * p[1] for p in parts) / weight
    scatter = sum(p[2] + p[0] * np.outer(p[1] - mean, p[1] - mean) for p in parts)
    return weight, mean, symmetrise_upper(np.triu(scatter))


def with_known_shape(X, rows=True):
    """``X`` with its block sizes computed if Dask does not know them.

    ``rows=False``: only the width (axis 1) must be known, as for scoring,
    which maps blocks of any length.
    """
    axes = X.chunks if rows else X.chunks[1:2]
    if any(math.isnan(size) for sizes in axes for size in sizes):
        return X.compute_chunk_sizes()
    return X


def _weights_like(sample_weight, X):
    """``sample_weight`` as a Dask vector cut like X's rows, its layout checked.

    Weights given as a numpy array, a list or a number are checked whole, as
    for numpy rows; the values of Dask weights are checked block by block.
    """
    import dask.array as da

    n_samples = X.shape[0]
    if not is_dask_array(sample_weight):
        sample_weight = check_sample_weight(sample_weight, n_samples)
        return da.from_array(sample_weight, chunks=(X.chunks[0],))
    sample_weight = with_known_shape(sample_weight)
    check_weight_layout(sample_weight.shape, sample_weight.dtype, n_samples)
    return sample_weight.rechunk((X.chunks[0],))


# ------------------------------------------------------------------ the rows
class DaskRows:
    """A Dask array's row blocks, seen by the model functions as training rows.

    :func:`~emfast.mixture.gaussian._pass.gaussian_pass` and
    :func:`~emfast.mixture.gaussian._pass.resp_pass` hand their work to
    :meth:`gaussian_pass` and :meth:`resp_pass` (``distributed = True``).

    The shape and dtype are checked on construction as ``validate_data`` checks
    an array (``n_features_in_`` set when ``reset``); the values of every block
    and of its weights each time the block is computed, with the same messages.
    """

    distributed = True
    X = None  # no k-means initialisation on distributed rows

    def __init__(self, X, sample_weight, estimator, reset=True):
        import dask

        self.name = type(estimator).__name__
        if X.ndim == 2:
            X = with_known_shape(X)
        self.dtype = check_rows_layout(
            estimator, X.shape, X.dtype, reset=reset, ensure_min_samples=2
        )
        X = X.rechunk({1: -1})
        self.n_samples, self.n_features = X.shape
        self.block_rows = list(X.chunks[0])
        self.weighted = sample_weight is not None
        self.sample_weight = np.empty(0)
        check = dask.delayed(check_rows_block, pure=True)
        x_blocks = [check(block, None, self.name) for block in X.to_delayed().ravel()]
        w_blocks = [None] * len(x_blocks)
        if self.weighted:
            check_weights = dask.delayed(check_sample_weight, pure=True)
            w_blocks = [
                check_weights(block, n_rows, allow_all_zero=True)
                for block, n_rows in zip(
                    _weights_like(sample_weight, X).to_delayed().ravel(),
                    self.block_rows,
                )
            ]
        self._dask = dask
        self.client = _client()
        if self.client is not None:  # computed once, kept on the workers
            x_blocks = self.client.compute(x_blocks)
            if self.weighted:
                w_blocks = self.client.compute(w_blocks)
        self.x_blocks, self.w_blocks = x_blocks, w_blocks
        moments = self._map(_block_moments, self.x_blocks, self.w_blocks)
        check_weight_total(sum(weight for weight, *_ in moments))
        self.weight_sum, self._mean, self._scatter = _combine_moments(moments)

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


def score_lazily(X, params, covariance_type, what, dtype, estimator_name):
    """``score`` / ``labels`` / ``proba`` of a Dask array, as a lazy Dask array.

    X's layout has been checked (:func:`~emfast._validation.check_rows_layout`);
    each block's values are checked when it is computed, and scored in
    ``dtype`` (:func:`~emfast._validation.scoring_dtype`), which is also the
    declared dtype of log-densities and posteriors (labels are ``intp``).
    """
    X = X.rechunk({1: -1})
    args = (params, covariance_type, what, dtype, estimator_name)
    if what == "proba":
        n_components = params[1].shape[0]
        return X.map_blocks(
            _block_score,
            *args,
            chunks=(X.chunks[0], (n_components,)),
            meta=np.empty((0, 0), dtype=dtype),
        )
    out_dtype = np.dtype(dtype if what == "score" else np.intp)
    return X.map_blocks(
        _block_score, *args, drop_axis=1, meta=np.empty((0,), dtype=out_dtype)
    )
