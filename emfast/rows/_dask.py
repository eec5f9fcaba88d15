"""Rows of a Dask array: each block reduced on a worker, the results added here.

Loaded only by the factories of :mod:`emfast.rows` when they are given a Dask
array; this is the only module that imports Dask.

A training pass (:meth:`DaskRows.reduce`) sends its constant arguments to the
workers once (``Client.scatter(..., broadcast=True)``) and runs one task per
Dask block, in which :class:`~emfast.rows.ArrayRows` reduces the block over the
same fixed blocks as an in-memory fit (bounded memory); the client adds the
results in block order. The blocks are computed once and kept on the workers
for the whole fit (Dask recomputes a block lost with a worker from its graph,
and the pass is run again). Without a ``distributed.Client`` the tasks run on
Dask's local scheduler, which computes the blocks again on every pass.

Each task runs the numba kernels on as many threads as its worker has
(``threads_per_worker``; one on the local scheduler, which runs tasks side by
side on its own threads), so that the workers do not oversubscribe the cores.
"""

import math
import time

import numpy as np

from emfast._numba import num_threads, serial_blas
from emfast._validation import (
    check_rows_block,
    check_rows_layout,
    check_sample_weight,
    check_weight_layout,
    check_weight_total,
    scoring_dtype,
)
from emfast.rows._base import RowAligned, Rows, fold
from emfast.rows._local import ArrayRows


# ------------------------------------------------------------ worker functions
# Every block reaches the kernels through _checked_block (and its weights
# through check_sample_weight): the checks are part of the block's graph, so a
# block recomputed after a worker died, or on each pass of the local scheduler,
# is checked again.
def _checked_block(X_block, name, dtype, check_values, first_row, allow_nan=False):
    """One block of rows checked as numpy input is, in ``dtype``."""
    X_block = check_rows_block(X_block, None, name, allow_nan=allow_nan)
    if check_values is not None:
        check_values(X_block, first_row)
    return np.ascontiguousarray(X_block, dtype=dtype)


def _reduce_block(X_block, w_block, block_fn, constants, pieces):
    """One task of a pass: the block reduced over fixed blocks, on the worker."""
    args = [c if p is None else p for c, p in zip(constants, pieces)]
    with num_threads(_task_threads()), serial_blas():
        return ArrayRows(X_block, w_block).reduce(block_fn, *args)


def _reduce_blocks(tasks):
    """Several tasks of a pass in one (the blocks a worker holds)."""
    return [_reduce_block(*task) for task in tasks]


def _map_block(X_block, name, dtype, check_values, allow_nan, block_fn, *args):
    """One task of lazy inference: ``block_fn`` of the checked block."""
    X_block = _checked_block(X_block, name, dtype, check_values, None, allow_nan)
    with num_threads(_task_threads()), serial_blas():
        return block_fn(X_block, *args)


def _task_threads():
    """Kernel threads of one task: its worker's, 1 on the local scheduler."""
    try:
        from distributed import get_worker

        return get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        return 1


def _with_known_shape(X, rows=True):
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
    if not hasattr(sample_weight, "to_delayed"):
        sample_weight = check_sample_weight(sample_weight, n_samples)
        return da.from_array(sample_weight, chunks=(X.chunks[0],))
    sample_weight = _with_known_shape(sample_weight)
    check_weight_layout(sample_weight.shape, sample_weight.dtype, n_samples)
    return sample_weight.rechunk((X.chunks[0],))


def _spread(client, x_blocks, w_blocks):
    """Compute the checked blocks (and weights) spread over the workers.

    Block ``i`` and its weights go to worker ``i mod n_workers`` (another
    worker if that one is gone): each pass then runs where the rows are. Left
    to itself the scheduler may put every block on one worker (copies are
    cheap tasks), and then each pass ships half the data between workers.
    """
    workers = sorted(client.scheduler_info()["workers"])

    def compute(block, index):
        if block is None or not workers:
            return block if block is None else client.compute(block)
        where = workers[index % len(workers)]
        return client.compute(block, workers=[where], allow_other_workers=True)

    x_blocks = [compute(block, i) for i, block in enumerate(x_blocks)]
    w_blocks = [compute(block, i) for i, block in enumerate(w_blocks)]
    return x_blocks, w_blocks


def _client():
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client running
        return None


# ------------------------------------------------------------- training rows
class DaskRows(Rows):
    """A Dask array's row blocks (and weights) as training rows.

    The shape and dtype are checked on construction as ``validate_data`` checks
    an array (``n_features_in_`` set when ``reset``); the values of every block
    and of its weights each time the block is computed, with the same messages.
    The arguments are those of :class:`~emfast.rows.ChunkedRows`.
    """

    def __init__(
        self,
        X,
        sample_weight,
        estimator,
        reset=True,
        *,
        ensure_min_samples=2,
        min_dtype=None,
        check_values=None,
        allow_nan=False,
    ):
        import dask

        name = type(estimator).__name__
        if X.ndim == 2:
            X = _with_known_shape(X)
        dtype = check_rows_layout(
            estimator,
            X.shape,
            X.dtype,
            reset=reset,
            ensure_min_samples=ensure_min_samples,
        )
        self.dtype = dtype if min_dtype is None else np.result_type(dtype, min_dtype)
        X = X.rechunk({1: -1})
        self.n_samples, self.n_features = X.shape
        edges = np.cumsum([0, *X.chunks[0]]).tolist()
        self.bounds = list(zip(edges[:-1], edges[1:]))
        self.weighted = sample_weight is not None
        check = dask.delayed(_checked_block, pure=True)
        x_blocks = [
            check(block, name, self.dtype, check_values, start, allow_nan)
            for block, (start, _) in zip(X.to_delayed().ravel(), self.bounds)
        ]
        w_blocks = [None] * len(x_blocks)
        if self.weighted:
            check_weights = dask.delayed(check_sample_weight, pure=True)
            w_blocks = [
                check_weights(block, stop - start, allow_all_zero=True)
                for block, (start, stop) in zip(
                    _weights_like(sample_weight, X).to_delayed().ravel(), self.bounds
                )
            ]
        self._dask = dask
        self.client = _client()
        if self.client is not None:  # computed once, kept on the workers
            x_blocks, w_blocks = _spread(self.client, x_blocks, w_blocks)
        self.x_blocks, self.w_blocks = x_blocks, w_blocks
        if self.weighted:
            check_weight_total(self.weight_sum)

    def reduce(self, block_fn, *args):
        """As :meth:`Rows.reduce`, with one task per Dask block (see the module)."""
        # Row-aligned arguments are cut on the client, once and in block order:
        # a source of random numbers draws them in row order, and a pass run
        # again after a worker died gets the same numbers.
        pieces = [
            [
                a.restrict(start, stop) if isinstance(a, RowAligned) else None
                for a in args
            ]
            for start, stop in self.bounds
        ]
        constants = tuple(None if isinstance(a, RowAligned) else a for a in args)

        def run():
            shared = self._broadcast(constants)
            return fold(
                self._map(
                    (x_block, w_block, block_fn, shared, piece)
                    for x_block, w_block, piece in zip(
                        self.x_blocks, self.w_blocks, pieces
                    )
                )
            )

        return self._retrying(run)

    def _retrying(self, run, attempts=4):
        """``run()``, again if a worker died under it (a pass has no side effects).

        Blocks lost with a worker are recomputed by Dask from their graph;
        arguments scattered to it are sent again by the next attempt.
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

    def _broadcast(self, constants):
        """The constants on every worker, once per pass (a future), or as given."""
        if self.client is None:
            return constants
        [future] = self.client.scatter([constants], broadcast=True, hash=False)
        return future

    def _map(self, tasks):
        if self.client is not None:
            return self._map_by_worker(list(tasks))
        delayed = self._dask.delayed(_reduce_block, pure=True)
        return list(self._dask.compute(*[delayed(*task) for task in tasks]))

    def _map_by_worker(self, tasks):
        """The tasks' results in order, run as one task per worker.

        Each worker reduces the blocks it holds in one task: a pass then costs
        one round trip to the scheduler per worker, not one per block (with a
        thread per worker, the scheduler sends a worker its next task only
        when the last one is done). The results stay per block and are added
        in block order, so the sums are those of one task per block.
        """
        from distributed import wait

        blocks = [task[0] for task in tasks]
        wait(blocks)  # where a block is is known once it has been computed
        holders = self.client.who_has(blocks)
        groups = {}
        for index, task in enumerate(tasks):
            where = holders.get(task[0].key) or (None,)
            groups.setdefault(where[0], []).append(index)
        futures = [
            self.client.submit(
                _reduce_blocks,
                [tasks[index] for index in indices],
                pure=False,
                **({} if worker is None else {"workers": [worker]}),
                allow_other_workers=worker is not None,
            )
            for worker, indices in groups.items()
        ]
        results = [None] * len(tasks)
        for indices, group_results in zip(groups.values(), self.client.gather(futures)):
            for index, result in zip(indices, group_results):
                results[index] = result
        return results


# ------------------------------------------------------------- inference rows
class DaskInput:
    """A Dask array of rows to score with a fitted model: lazy per-row results.

    The layout is checked now (``check_rows_layout``: dimensionality, complex
    dtype, the number of features), the values of each block when it is
    computed, as numpy rows are.

    Parameters
    ----------
    X : dask.array.Array
    estimator : estimator
        The fitted model (for ``n_features_in_`` and the messages).
    model_dtype : numpy dtype
    check_values : callable or None
        As for :class:`~emfast.rows.ChunkedRows`.
    allow_nan : bool, default=False
        Let NaN (missing values) through the checks.
    """

    def __init__(self, X, estimator, model_dtype, check_values=None, allow_nan=False):
        if X.ndim == 2:
            X = _with_known_shape(X, rows=False)
        rows_dtype = check_rows_layout(estimator, X.shape, X.dtype, reset=False)
        self.X = X.rechunk({1: -1})
        self.dtype = scoring_dtype(rows_dtype, model_dtype)
        self.name = type(estimator).__name__
        self.check_values = check_values
        self.allow_nan = allow_nan

    def map_rows(self, block_fn, *args, n_columns=None, out_dtype=None):
        """``block_fn(rows, *args)`` of each block, as a lazy Dask array.

        ``n_columns`` is the width of a 2-D result (None: one value per row);
        ``out_dtype`` its dtype (default: the scoring dtype).
        """
        out_dtype = np.dtype(self.dtype if out_dtype is None else out_dtype)
        head = (self.name, self.dtype, self.check_values, self.allow_nan, block_fn)
        if n_columns is not None:
            return self.X.map_blocks(
                _map_block,
                *head,
                *args,
                chunks=(self.X.chunks[0], (n_columns,)),
                meta=np.empty((0, 0), dtype=out_dtype),
            )
        return self.X.map_blocks(
            _map_block, *head, *args, drop_axis=1, meta=np.empty((0,), out_dtype)
        )
