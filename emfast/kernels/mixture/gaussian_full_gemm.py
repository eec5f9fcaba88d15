"""Full-covariance kernels built on BLAS GEMM, for many features (or few components).

Per chunk of rows (``xs = X[chunk] - shift``):

- Mahalanobis terms for every component in two products,
  ``Y = xs @ U_all`` with ``U_all[l, j * K + k] = U_k[l, j]``, split at
  ``h = D // 2``: the columns ``j < h`` only meet rows ``l < h`` of the upper
  triangular factors, so ``Y_lo = xs[:, :h] @ U_all[:h, :h K]`` and
  ``Y_hi = xs @ U_all[:, h K:]`` (3/4 of the full product's work); then
  ``maha[k] = sum_j (Y[:, j K + k] - V[j, k])^2`` with
  ``V[j, k] = ((mu_k - shift) U_k)[j]``
  (the component axis innermost, so that loop vectorises);
- responsibilities per row as in the small-D kernels;
- first moments ``R^T xs`` (one GEMM), and for each component the centred
  scatter ``Z_k^T Z_k`` with ``Z_k = sqrt(r_k) * (xs - (mu_k - shift))`` over the
  rows whose responsibility is not exactly zero, as its three distinct blocks
  (upper-left, upper-right, lower-right; 3/4 of the work of the full product; a
  BLAS SYRK through ctypes saved only 10-20 % at D = 32 and lost at D = 8).

BLAS must run single-threaded inside the ``prange`` (see
:func:`emfast._numba.serial_blas`). Statistics leave each chunk in float64.
"""

import numpy as np

from emfast._numba import jit, prange
from emfast.kernels.mixture.accumulate import cast_like
from emfast.kernels.mixture.logsumexp import argmax, posterior_row, resp_log_resp

# rows per GEMM tile of the Mahalanobis step: keeps Y (tile x K*D) near 256 KiB
_TILE_VALUES = 32768


@jit
def _tile_rows(n_features, n_components, n_rows):
    return max(8, min(n_rows, _TILE_VALUES // (n_features * n_components)))


@jit
def _centred_rows(X, start, stop, shift, out, out_lo):
    """``out[t] = X[start + t] - shift`` and its first columns in ``out_lo``."""
    n_lo = out_lo.shape[1]
    for t in range(stop - start):
        for l in range(X.shape[1]):
            out[t, l] = X[start + t, l] - shift[l]
        for l in range(n_lo):
            out_lo[t, l] = out[t, l]


@jit
def _log_prob_tile(
    xs, xs_lo, t0, t1, prec_lo, prec_hi, Y_lo, Y_hi, const, offsets_t, log_prob
):
    """``log_prob[t, k] = const[k] - |(x_t - s) U_k - V[:, k]|^2 / 2`` for a tile."""
    n_features, n_components = offsets_t.shape
    n_lo = xs_lo.shape[1]
    rows = t1 - t0
    if n_lo > 0:
        np.dot(xs_lo[t0:t1], prec_lo, Y_lo[:rows])
    np.dot(xs[t0:t1], prec_hi, Y_hi[:rows])
    half = cast_like(0.5, log_prob)
    for t in range(rows):
        for k in range(n_components):
            log_prob[t, k] = 0.0
        for j in range(n_features):
            for k in range(n_components):
                if j < n_lo:
                    v = Y_lo[t, j * n_components + k] - offsets_t[j, k]
                else:
                    v = Y_hi[t, (j - n_lo) * n_components + k] - offsets_t[j, k]
                log_prob[t, k] += v * v
        for k in range(n_components):
            log_prob[t, k] = const[k] - half * log_prob[t, k]


@jit
def _workspace(rows, n_features, n_lo, n_components, dtype):
    tile = _tile_rows(n_features, n_components, rows)
    xs = np.empty((rows, n_features), dtype=dtype)
    xs_lo = np.empty((rows, n_lo), dtype=dtype)
    Y_lo = np.empty((tile, n_lo * n_components), dtype=dtype)
    Y_hi = np.empty((tile, (n_features - n_lo) * n_components), dtype=dtype)
    log_prob = np.empty((tile, n_components), dtype=dtype)
    return tile, xs, xs_lo, Y_lo, Y_hi, log_prob


@jit
def _scatter_blocks(roots_lo, roots_hi, used, blocks, out):
    """``out = Z^T Z`` for ``Z = [roots_lo | roots_hi][:used]``, by blocks."""
    block_ll, block_lh, block_hh = blocks
    n_lo = roots_lo.shape[1]
    n_features = n_lo + roots_hi.shape[1]
    np.dot(roots_hi[:used].T, roots_hi[:used], block_hh)
    if n_lo > 0:
        np.dot(roots_lo[:used].T, roots_lo[:used], block_ll)
        np.dot(roots_lo[:used].T, roots_hi[:used], block_lh)
    for l in range(n_features):
        for j in range(n_features):
            if l < n_lo and j < n_lo:
                out[l, j] = block_ll[l, j]
            elif l < n_lo:
                out[l, j] = block_lh[l, j - n_lo]
            elif j < n_lo:
                out[l, j] = block_lh[j, l - n_lo]
            else:
                out[l, j] = block_hh[l - n_lo, j - n_lo]


@jit(parallel=True)
def stats(
    X,
    sample_weight,
    shift,
    const,
    prec_lo,
    prec_hi,
    offsets_t,
    centers_t,
    chunk_rows,
    with_entropy,
    ll,
    ent,
    nk,
    s1,
    s2,
):
    """E-step fused with ``nk``, ``s1`` (centred on the means) and full ``s2``.

    ``s1[c]`` is (n_features, n_components) and ``s2[c]`` is
    (n_components, n_features, n_features) here (whole matrices, not triangles).
    ``centers_t[l, k] = mu_lk - shift_l``.
    """
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    n_lo = prec_lo.shape[0]
    weighted = sample_weight.shape[0] > 0
    dtype = X.dtype
    for c in prange(ll.shape[0]):
        start = c * chunk_rows
        stop = min(start + chunk_rows, n_samples)
        rows = stop - start
        tile, xs, xs_lo, Y_lo, Y_hi, log_prob = _workspace(
            rows, n_features, n_lo, n_components, dtype
        )
        _centred_rows(X, start, stop, shift, xs, xs_lo)
        resp = np.zeros((rows, n_components), dtype=dtype)
        ll_c = 0.0
        ent_c = 0.0
        for t0 in range(0, rows, tile):
            t1 = min(t0 + tile, rows)
            _log_prob_tile(
                xs,
                xs_lo,
                t0,
                t1,
                prec_lo,
                prec_hi,
                Y_lo,
                Y_hi,
                const,
                offsets_t,
                log_prob,
            )
            for t in range(t1 - t0):
                weight = sample_weight[start + t0 + t] if weighted else 1.0
                if weight == 0.0:
                    continue
                log_norm = posterior_row(log_prob[t], weight, resp[t0 + t])
                ll_c += weight * log_norm
                if with_entropy:
                    ent_c += resp_log_resp(resp[t0 + t], log_prob[t], log_norm)
        ll[c] = ll_c
        ent[c] = ent_c

        nk_c = nk[c]
        s1_c = s1[c]
        s2_c = s2[c]
        nk_c[:] = 0.0
        for t in range(rows):
            for k in range(n_components):
                nk_c[k] += resp[t, k]
        # first moments about the shift, then about each component's mean
        first = np.dot(resp.T, xs)
        for l in range(n_features):
            for k in range(n_components):
                s1_c[l, k] = first[k, l] - nk_c[k] * centers_t[l, k]
        roots_lo = np.empty((rows, n_lo), dtype=dtype)
        roots_hi = np.empty((rows, n_features - n_lo), dtype=dtype)
        blocks = (
            np.empty((n_lo, n_lo), dtype=dtype),
            np.empty((n_lo, n_features - n_lo), dtype=dtype),
            np.empty((n_features - n_lo, n_features - n_lo), dtype=dtype),
        )
        for k in range(n_components):
            used = 0
            for t in range(rows):
                r = resp[t, k]
                if r == 0.0:
                    continue
                root = np.sqrt(r)
                for l in range(n_lo):
                    roots_lo[used, l] = root * (xs[t, l] - centers_t[l, k])
                for l in range(n_lo, n_features):
                    roots_hi[used, l - n_lo] = root * (xs[t, l] - centers_t[l, k])
                used += 1
            if used == 0:
                s2_c[k][:] = 0.0
                continue
            _scatter_blocks(roots_lo, roots_hi, used, blocks, s2_c[k])


@jit(parallel=True)
def score(
    X, shift, const, prec_lo, prec_hi, offsets_t, chunk_rows, log_norm, labels, resp
):
    """Per-row ``log p(x)``, most probable component and optional posteriors."""
    n_samples, n_features = X.shape
    n_components = const.shape[0]
    n_lo = prec_lo.shape[0]
    want_resp = resp.shape[0] > 0
    dtype = X.dtype
    for c in prange((n_samples + chunk_rows - 1) // chunk_rows):
        start = c * chunk_rows
        stop = min(start + chunk_rows, n_samples)
        rows = stop - start
        tile, xs, xs_lo, Y_lo, Y_hi, log_prob = _workspace(
            rows, n_features, n_lo, n_components, dtype
        )
        _centred_rows(X, start, stop, shift, xs, xs_lo)
        resp_row = np.empty(n_components, dtype=dtype)
        for t0 in range(0, rows, tile):
            t1 = min(t0 + tile, rows)
            _log_prob_tile(
                xs,
                xs_lo,
                t0,
                t1,
                prec_lo,
                prec_hi,
                Y_lo,
                Y_hi,
                const,
                offsets_t,
                log_prob,
            )
            for t in range(t1 - t0):
                i = start + t0 + t
                log_norm[i] = posterior_row(log_prob[t], 1.0, resp_row)
                labels[i] = argmax(log_prob[t])
                if want_resp:
                    resp[i] = resp_row
