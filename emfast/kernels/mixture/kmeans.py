"""Kernels of k-means: the nearest centre of every row, and counter-based uniforms.

:func:`assign` gives, per chunk of ``chunk_rows`` rows, the weighted count and
sum of the rows nearest each centre and their weighted squared distance to it
(the inertia); on request also each row's label and squared distance. One pass
of it is one Lloyd iteration, or one round of k-means|| seeding.

Distances are ``sum_l (x_l - c_l)**2`` formed directly in float64, the sum
taken over the features in order, so a row's distances and label are exactly
those of a float64 numpy reference summing over the features in the same
order, and ties go to the lowest centre index, as ``numpy.argmin`` breaks
them. (The expansion ``|x|^2 - 2 x.c + |c|^2`` would be faster for many
features but loses digits far from the origin and breaks exact ties.) The
centres come transposed, ``centers_t[l, k]``: the centre axis innermost
vectorises the distances without reordering any sum.

:func:`row_uniforms` draws the uniform number of a row from its global index
and a seed (splitmix64), so the numbers do not depend on how the rows are cut
into blocks, chunks or Dask blocks, and no per-row array has to be shipped.
"""

import numpy as np

from emfast._numba import jit, prange

# splitmix64 constants (Steele, Lea and Flood, 2014)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_UNIT = 2.0**-53
_NO_TIES = np.empty(0, dtype=np.int64)


@jit(parallel=True)
def assign(
    X,
    sample_weight,
    centers_t,
    chunk_rows,
    labels,
    sq_dist,
    counts,
    sums,
    inertia,
    tie_margin=0.0,
    near_ties=_NO_TIES,
):
    """Nearest centre of every row, with per-chunk weighted statistics.

    Parameters
    ----------
    X : ndarray (n_samples, n_features) of float32 or float64
    sample_weight : ndarray (n_samples,) of float64, or empty for unit weights
    centers_t : ndarray (n_features, n_centers) of float64
    chunk_rows : int
    labels : ndarray (n_samples,) of int64, or empty
        Filled with the index of each row's nearest centre if not empty.
    sq_dist : ndarray (n_samples,) of float64, or empty
        Filled with each row's squared distance to its nearest centre if not
        empty.
    counts : ndarray (n_chunks, n_centers) of float64
        ``counts[c, k]``: the weight of the rows of chunk c nearest centre k.
    sums : ndarray (n_chunks, n_centers, n_features) of float64, or with a
        second axis of length 0 to skip them
        ``sums[c, k]``: the weighted sum of those rows.
    inertia : ndarray (n_chunks,) of float64
        ``inertia[c]``: the weighted squared distance of the rows of chunk c
        to their nearest centre.
    tie_margin : float, default=0.0
    near_ties : ndarray (n_chunks,) of int64, or empty (the default) to skip
        ``near_ties[c]``: the rows of chunk c whose second-nearest centre is
        at most ``tie_margin`` farther than the nearest one (labels that
        another rounding of the distances could change).
    """
    n_samples, n_features = X.shape
    n_centers = centers_t.shape[1]
    weighted = sample_weight.shape[0] > 0
    want_labels = labels.shape[0] > 0
    want_dist = sq_dist.shape[0] > 0
    want_sums = sums.shape[1] > 0
    want_ties = near_ties.shape[0] > 0
    for c in prange(counts.shape[0]):
        x = np.empty(n_features)
        dist = np.empty(n_centers)
        counts_c = counts[c]
        counts_c[:] = 0.0
        if want_sums:
            sums[c] = 0.0
        total = 0.0
        ties = 0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            for l in range(n_features):
                x[l] = X[i, l]
            dist[:] = 0.0
            for l in range(n_features):
                x_l = x[l]
                for k in range(n_centers):
                    diff = x_l - centers_t[l, k]
                    dist[k] += diff * diff
            best = 0
            for k in range(1, n_centers):
                if dist[k] < dist[best]:
                    best = k
            if want_ties:
                for k in range(n_centers):
                    if k != best and dist[k] - dist[best] <= tie_margin:
                        ties += 1
                        break
            if want_labels:
                labels[i] = best
            if want_dist:
                sq_dist[i] = dist[best]
            weight = sample_weight[i] if weighted else 1.0
            counts_c[best] += weight
            total += weight * dist[best]
            if want_sums:
                sums_k = sums[c, best]
                for l in range(n_features):
                    sums_k[l] += weight * x[l]
        inertia[c] = total
        if want_ties:
            near_ties[c] = ties


@jit(parallel=True)
def plusplus_trials(
    X, sample_weight, closest_sq, candidates_t, chunk_rows, trial_sq, pots
):
    """One greedy k-means++ step: every candidate seed tried on every row.

    ``trial_sq[t, i] = min(closest_sq[i], |x_i - c_t|^2)`` for the candidates
    ``candidates_t[:, t]`` (float64, transposed), and ``pots[c, t]`` the
    weighted sum of ``trial_sq[t]`` over the rows of chunk ``c``. Distances are
    formed as in :func:`assign`; ``sample_weight`` is empty for unit weights.
    """
    n_samples, n_features = X.shape
    n_trials = candidates_t.shape[1]
    weighted = sample_weight.shape[0] > 0
    for c in prange(pots.shape[0]):
        dist = np.empty(n_trials)
        pots_c = pots[c]
        pots_c[:] = 0.0
        for i in range(c * chunk_rows, min((c + 1) * chunk_rows, n_samples)):
            dist[:] = 0.0
            for l in range(n_features):
                x_l = np.float64(X[i, l])
                for t in range(n_trials):
                    diff = x_l - candidates_t[l, t]
                    dist[t] += diff * diff
            weight = sample_weight[i] if weighted else 1.0
            for t in range(n_trials):
                value = min(closest_sq[i], dist[t])
                trial_sq[t, i] = value
                pots_c[t] += weight * value


@jit
def row_uniforms(seed, first_row, out):
    """``out[i]``: the uniform number in (0, 1] of row ``first_row + i``.

    The splitmix64 output of state ``seed + (row + 1) * golden``; its top 53
    bits plus one, times 2**-53. Never 0, so ``log(u)`` and ``x / u`` are
    finite. Written with uint64 arrays, which wrap around silently both
    compiled and in plain numpy (``NUMBA_DISABLE_JIT``).
    """
    rows = np.arange(first_row + 1, first_row + 1 + out.shape[0])
    z = rows.astype(np.uint64) * _GOLDEN + np.uint64(seed)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    out[:] = ((z >> np.uint64(11)).astype(np.float64) + 1.0) * _UNIT
