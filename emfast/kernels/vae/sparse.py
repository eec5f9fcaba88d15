"""The VAE's first layer on sparse minibatches (binarised images are ~87 % zeros).

``x @ W1`` and ``x.T @ dPre`` with a dense ``x`` of 100 x 784 cost a full GEMM
each, although on binarised MNIST only ~13 % of the pixels are on. With the
nonzeros of the minibatch listed per row (CSR) and per column (CSC), the forward
product adds ``x[i, p] * W1[p]`` over the ~100 nonzero pixels of each row, and
the weight gradient writes each row ``dW1[p] = sum_i x[i, p] dPre[i]`` once
(rows of pixels that are off in the whole minibatch are zero). Each term is a
vectorised AXPY over the layer width (four at a time, so that the target row
is loaded and stored once per four), so the cost scales with the number of
nonzeros; summation order is fixed (rows and columns ascending).

:data:`MAX_DENSITY` decides: minibatches denser than that use BLAS.
"""

from emfast._numba import jit
from emfast.kernels.vae.nn import bias_activation

# above this fraction of nonzeros, sgemm beats the AXPY loops (on a 2-core
# x86-64 machine, at 13 % nonzeros the sparse forward + weight gradient take
# about a third of the time of the two sgemm calls)
MAX_DENSITY = 0.3
# multiply-adds may be fused (FMA); no reordering of the sums
_CONTRACT = {"contract"}


@jit
def sparse_structure(x, row_ptr, row_index, col_ptr, col_index):
    """List the nonzeros of ``x`` per row (CSR) and per column (CSC).

    Returns the number of nonzeros. ``row_ptr`` has ``n_rows + 1`` entries,
    ``col_ptr`` ``n_cols + 1``; the index arrays need room for every nonzero.
    """
    n_rows, n_cols = x.shape
    zero = x.dtype.type(0)
    for p in range(n_cols + 1):
        col_ptr[p] = 0
    nnz = 0
    row_ptr[0] = 0
    for i in range(n_rows):
        for p in range(n_cols):
            # branch-free: a zero is written and then overwritten
            nonzero = x[i, p] != zero
            row_index[nnz] = p
            nnz += nonzero
            col_ptr[p + 1] += nonzero
        row_ptr[i + 1] = nnz
    for p in range(n_cols):
        col_ptr[p + 1] += col_ptr[p]
    # fill the columns in row order, using row_ptr's pass again
    for i in range(n_rows):
        for k in range(row_ptr[i], row_ptr[i + 1]):
            p = row_index[k]
            col_index[col_ptr[p]] = i
            col_ptr[p] += 1
    # col_ptr[p] now holds the end of column p: shift back to starts
    for p in range(n_cols, 0, -1):
        col_ptr[p] = col_ptr[p - 1]
    col_ptr[0] = 0
    return nnz


@jit(fastmath=_CONTRACT)
def _add_scaled_rows(target, source, indices, scales, scale_row, first, end):
    """``target += sum_k scales[scale_row, indices[k]] * source[indices[k]]``
    over ``k`` in ``[first, end)``, four source rows per pass over ``target``
    (one load and one store of ``target`` per four multiply-adds)."""
    n = target.shape[0]
    k = first
    while k + 4 <= end:
        p0, p1, p2, p3 = indices[k], indices[k + 1], indices[k + 2], indices[k + 3]
        v0, v1 = scales[scale_row, p0], scales[scale_row, p1]
        v2, v3 = scales[scale_row, p2], scales[scale_row, p3]
        s0, s1, s2, s3 = source[p0], source[p1], source[p2], source[p3]
        for j in range(n):
            target[j] += (v0 * s0[j] + v1 * s1[j]) + (v2 * s2[j] + v3 * s3[j])
        k += 4
    while k < end:
        p = indices[k]
        value = scales[scale_row, p]
        row = source[p]
        for j in range(n):
            target[j] += value * row[j]
        k += 1


@jit
def sparse_forward(x, row_ptr, row_index, weights, bias, out, activation):
    """``out = act(x @ weights + bias)`` from the CSR lists of ``x``."""
    zero = out.dtype.type(0)
    for i in range(x.shape[0]):
        row = out[i]
        for j in range(row.shape[0]):
            row[j] = zero
        _add_scaled_rows(row, weights, row_index, x, i, row_ptr[i], row_ptr[i + 1])
    bias_activation(out, bias, activation)


@jit
def sparse_weight_grad(x, col_ptr, col_index, grad_pre, grad_weights):
    """``grad_weights = x.T @ grad_pre`` from the CSC lists of ``x``.

    ``x.T`` is read through ``x_t = x.T`` (a view), so that the scale of row
    ``i`` of ``grad_pre`` in output row ``p`` is ``x_t[p, i] = x[i, p]``.
    """
    zero = grad_weights.dtype.type(0)
    x_t = x.T
    for p in range(x.shape[1]):
        row = grad_weights[p]
        for j in range(row.shape[0]):
            row[j] = zero
        _add_scaled_rows(row, grad_pre, col_index, x_t, p, col_ptr[p], col_ptr[p + 1])
