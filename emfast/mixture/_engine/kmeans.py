"""k-means for rows that are not one array: k-means|| seeding, then Lloyd passes.

scikit-learn's ``KMeans`` and ``kmeans_plusplus`` need every row in memory.
For chunk sources and Dask arrays, :func:`kmeans_centers` (``init_params=
'kmeans'``) and :func:`plusplus_rows` (``'k-means++'``) work in passes over the
blocks, each one :meth:`~emfast.rows.Rows.reduce` around the kernel
:func:`emfast.kernels.mixture.kmeans.assign`:

1. **Candidates, by k-means|| (Bahmani et al., 2012).** One pass draws a first
   candidate row with probability proportional to its weight. Each of
   ``ROUNDS`` passes then gives every row its squared distance ``d2`` to the
   candidates so far and the cost ``phi = sum w d2``, and keeps each row with
   probability ``min(1, l w d2 / phi)``, ``l = OVERSAMPLING * n_clusters``:
   about ``l`` new candidates per round. ``phi`` is only known at the end of
   the pass, so the pass keeps the ``4 l + 32`` rows with the largest keys
   ``l w d2 / u`` (``u`` the row's uniform number), and the rows whose key
   exceeds ``phi`` (exactly those with ``u < l w d2 / phi``) join the
   candidates: one pass per round. (More than ``4 l + 32`` rows pass only
   with negligible probability: their number has mean at most ``l``.) A last
   pass weighs each candidate by the weight of the rows nearest to it: with
   ``ROUNDS = 2``, four passes in all and about ``4 n_clusters + 1``
   candidates.
2. **Seeds.** Greedy k-means++ (``2 + log k`` trials per step, as many as
   scikit-learn's) on the weighted candidates, starting from the first candidate,
   so that the first seed is drawn in proportion to weight among all rows as
   k-means++ draws it. The seeds are rows: those of ``'k-means++'``.
3. **Lloyd iterations** (``'kmeans'``): first on the weighted candidates in
   memory, which brings the centres close at no cost, then one pass over the
   rows each, until the squared shifts of the centres sum to at most ``TOL``
   times the mean variance of the features, or ``MAX_ITER`` passes
   (scikit-learn's ``KMeans`` defaults). The variance is the weighted one
   (scikit-learn's ``KMeans`` takes the unweighted variance), read off the
   first pass. A centre left without rows moves to the candidate farthest
   from the centres.

Random numbers: one seed per pass from ``random_state``, and the uniform of a
row from that seed and the row's index (:func:`~emfast.kernels.mixture.
kmeans.row_uniforms`), so the same ``random_state`` gives the same centres
however the rows are cut into chunks or Dask blocks; the k-means++ trials
draw from ``random_state`` itself. Sums are per fixed chunk and added in
chunk order, so results depend neither on the thread count nor on the
chunking, within the equality guarantees of :mod:`emfast.rows`.

Weights enter through the kernel (divided by the power of two
:func:`~emfast.mixture._engine.weights.weight_scale`, which changes no
result); rows of zero weight are never candidates. Candidates that repeat
one another's values are merged, so the seeds are distinct rows; if fewer
than ``n_clusters`` distinct rows of positive weight exist (``phi`` reaches 0
before enough candidates are found), a ``ValueError`` says so.
"""

import dataclasses

import numpy as np

from emfast import _chunks
from emfast.kernels.mixture import kmeans as kernels
from emfast.mixture._engine.weights import kernel_weights, weight_scale
from emfast.rows import ArrayRows, RowOffset, chunk_sums

OVERSAMPLING = 2  # candidates per round, per cluster (Bahmani et al.'s l = 2k)
# k-means|| rounds (one pass each) when enough distinct rows turn up. Two, not
# the paper's five: on 16 unequal blobs (D = 8) the mixtures fitted from either
# were as good, and the rounds' passes, whose cost grows with the candidates,
# cost a third.
ROUNDS = 2
EXTRA_ROUNDS = 50  # further rounds allowed to find n_clusters distinct rows
MAX_ITER = 300  # Lloyd passes at most (scikit-learn's KMeans default)
TOL = 1e-4  # relative to the mean feature variance (scikit-learn's default)


@dataclasses.dataclass
class Candidates:
    """Distinct rows drawn by k-means||: indices, float64 values, weights."""

    rows: np.ndarray
    values: np.ndarray
    weights: np.ndarray = None


def kmeans_centers(data, n_clusters, random_state, what="k-means"):
    """Centres of k-means on ``data`` (a :class:`~emfast.rows.Rows`).

    Parameters
    ----------
    data : Rows
    n_clusters : int
    random_state : numpy.random.RandomState
    what : str
        How the error for too few distinct rows names the caller.

    Returns
    -------
    ndarray (n_clusters, n_features) of float64
    """
    candidates = draw_candidates(data, n_clusters, random_state, what)
    seeds = plusplus(candidates, n_clusters, random_state)
    on_candidates = ArrayRows(candidates.values, candidates.weights)
    centers = lloyd(on_candidates, candidates.values[seeds], candidates.values)
    return lloyd(data, centers, candidates.values)


def plusplus_rows(data, n_clusters, random_state, what="k-means++"):
    """Indices of ``n_clusters`` distinct rows seeded as k-means++ seeds them."""
    candidates = draw_candidates(data, n_clusters, random_state, what)
    return candidates.rows[plusplus(candidates, n_clusters, random_state)]


# ------------------------------------------------------------------ k-means||
def draw_candidates(data, n_clusters, random_state, what):
    """Weighted :class:`Candidates` of k-means|| (step 1 of the module)."""
    scale = weight_scale(data)
    (first,) = data.reduce(_first_block, RowOffset(), scale, _pass_seed(random_state))
    candidates = Candidates(first.rows, first.values.astype(np.float64) + 0.0)
    oversampling = OVERSAMPLING * n_clusters
    rounds = ROUNDS if n_clusters > 1 else 0  # one cluster: its seed is drawn
    passes, cost = 0, np.inf
    while passes < rounds or candidates.rows.shape[0] < n_clusters:
        if passes == rounds + EXTRA_ROUNDS:
            break
        cost, top = data.reduce(
            _oversample_block,
            RowOffset(),
            _transposed(candidates.values),
            scale,
            _pass_seed(random_state),
            float(oversampling),
            4 * oversampling + 32,
        )
        passes += 1
        if not cost > 0.0:  # every row of positive weight is a candidate
            break
        passed = top.keys > cost
        candidates = _with_distinct(candidates, top.rows[passed], top.values[passed])
    n_distinct = candidates.rows.shape[0]
    if n_distinct < n_clusters:
        weight = " with a positive sample weight" if data.weighted else ""
        found = (
            f"only {n_distinct}"
            if not cost > 0.0
            else f"{n_distinct} after {passes} passes of k-means||"
        )
        raise ValueError(
            f"{what} needs at least n_components={n_clusters} distinct rows"
            f"{weight}, one per component; found {found}."
        )
    counts, _, _ = data.reduce(
        _assign_block, _transposed(candidates.values), scale, False
    )
    candidates.weights = counts
    return candidates


def _with_distinct(candidates, rows, values):
    """``candidates`` and the new rows (in row order) with repeated values merged.

    A new row never repeats an old candidate (its distance to them is
    positive), but two rows drawn in one round may repeat each other: the
    first row of each value is kept.
    """
    order = np.argsort(rows, kind="stable")
    all_rows = np.concatenate([candidates.rows, rows[order]])
    all_values = np.concatenate([candidates.values, values[order] + 0.0])  # -0 to 0
    _, first = np.unique(all_values, axis=0, return_index=True)
    keep = np.sort(first)
    return Candidates(all_rows[keep], all_values[keep])


class TopRows:
    """The ``size`` rows with the largest keys seen, with their values.

    Ties go to the lower row, so merging blocks with ``+`` in any grouping
    keeps the rows of one stable sort of all keys.
    """

    def __init__(self, keys, rows, values, size):
        order = np.lexsort((rows, -keys))[:size]
        self.keys, self.rows, self.values = keys[order], rows[order], values[order]
        self.size = size

    @classmethod
    def of_block(cls, keys, first_row, X_block, size):
        """The rows of one block with the largest keys (none of key -inf)."""
        index = np.flatnonzero(keys > -np.inf)
        if index.shape[0] > size:  # a cheap preselection, ties kept
            kth = np.partition(keys[index], index.shape[0] - size)[-size]
            index = index[keys[index] >= kth]
        return cls(keys[index], first_row + index, X_block[index], size)

    def __add__(self, other):
        return TopRows(
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.values, other.values]),
            self.size,
        )


def _pass_seed(random_state):
    """A seed for one pass's per-row uniforms."""
    return int(random_state.randint(np.iinfo(np.int64).max, dtype=np.int64))


def _transposed(centers):
    return np.ascontiguousarray(np.asarray(centers, dtype=np.float64).T)


def _uniforms(seed, first_row, n_rows):
    out = np.empty(n_rows)
    kernels.row_uniforms(seed, first_row, out)
    return out


def _first_block(X_block, w_block, first_row, scale, seed):
    """The block's row with the largest ``log(u) / w``: drawn in proportion to
    ``w`` over all blocks (Efraimidis and Spirakis); zero weights never."""
    keys = np.log(_uniforms(seed, first_row, X_block.shape[0]))
    if w_block.shape[0]:
        positive = w_block > 0
        weights = np.where(positive, kernel_weights(w_block, scale), 1.0)
        keys = np.where(positive, keys / weights, -np.inf)
    return (TopRows.of_block(keys, first_row, X_block, 1),)


def _oversample_block(
    X_block, w_block, first_row, centers_t, scale, seed, oversampling, size
):
    """One k-means|| round on a block: its cost and its rows of largest key."""
    weights = kernel_weights(w_block, scale)
    sq_dist = np.empty(X_block.shape[0])
    _, cost = chunk_sums(
        lambda counts, inertia: kernels.assign(
            X_block,
            weights,
            centers_t,
            _chunks.CHUNK_ROWS,
            np.empty(0, dtype=np.int64),
            sq_dist,
            counts,
            np.empty((counts.shape[0], 0, 0)),
            inertia,
        ),
        X_block.shape[0],
        [(centers_t.shape[1],), ()],
    )
    mass = sq_dist * weights if weights.shape[0] else sq_dist
    keys = oversampling * mass / _uniforms(seed, first_row, X_block.shape[0])
    keys[mass == 0.0] = -np.inf  # rows on a candidate, or of zero weight
    return float(cost), TopRows.of_block(keys, first_row, X_block, size)


def _assign_block(X_block, w_block, centers_t, scale, with_sums):
    """Per-centre weighted counts (and sums) of the nearest rows, and inertia."""
    n_features, n_centers = centers_t.shape
    weights = kernel_weights(w_block, scale)

    def fill(counts, sums, inertia):
        kernels.assign(
            X_block,
            weights,
            centers_t,
            _chunks.CHUNK_ROWS,
            np.empty(0, dtype=np.int64),
            np.empty(0),
            counts,
            sums,
            inertia,
        )

    shapes = [(n_centers,), (n_centers, n_features) if with_sums else (0, 0), ()]
    counts, sums, inertia = chunk_sums(fill, X_block.shape[0], shapes)
    return counts, sums, float(inertia)


# ------------------------------------------------------------------- seeds
def plusplus(candidates, n_seeds, random_state):
    """Greedy k-means++ on weighted candidates, from candidate 0 (step 2).

    Each step draws ``2 + log(n_seeds)`` candidates with probability
    proportional to weight times squared distance to the nearest seed, and
    keeps the one that leaves the smallest weighted cost.

    Returns
    -------
    ndarray of int: indices into ``candidates``.
    """
    points, weights = candidates.values, candidates.weights
    n_trials = 2 + int(np.log(n_seeds))
    seeds = np.zeros(n_seeds, dtype=np.intp)
    closest = _sq_distances(points, points[0])
    for step in range(1, n_seeds):
        mass = weights * closest
        cumulative = np.cumsum(mass)
        draws = random_state.uniform(size=n_trials) * cumulative[-1]
        last = np.flatnonzero(mass > 0)[-1]  # k-means|| leaves enough
        trials = np.minimum(np.searchsorted(cumulative, draws, side="right"), last)
        trial_closest = np.array(
            [np.minimum(closest, _sq_distances(points, points[t])) for t in trials]
        )
        best = int(np.argmin(trial_closest @ weights))
        seeds[step] = trials[best]
        closest = trial_closest[best]
    return seeds


def _sq_distances(points, center):
    diff = points - center
    return np.einsum("ij,ij->i", diff, diff)


# ------------------------------------------------------------------- Lloyd
def lloyd(data, centers, spare):
    """Lloyd iterations from ``centers`` over ``data`` (step 3).

    ``spare`` (float64 rows) supplies new places for centres left without
    rows. Returns the float64 centres.
    """
    scale = weight_scale(data)
    tol = None
    for _ in range(MAX_ITER):
        counts, sums, inertia = data.reduce(
            _assign_block, _transposed(centers), scale, True
        )
        if tol is None:
            tol = TOL * mean_variance(centers, counts, sums, inertia)
        new_centers = _update(centers, counts, sums, spare)
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        if shift <= tol:
            break
    return centers


def mean_variance(centers, counts, sums, inertia):
    """The rows' weighted variance, averaged over features, from one pass.

    With ``m`` the weighted mean, the scatter of the rows nearest centre k
    about ``m`` is their inertia plus ``2 (c_k - m) . sum w (x - c_k)`` plus
    ``n_k |c_k - m|^2``: every term of it is in the pass's statistics.
    """
    weight_sum = counts.sum()
    offsets = centers - sums.sum(axis=0) / weight_sum
    residuals = sums - counts[:, np.newaxis] * centers
    scatter = (
        inertia
        + float(counts @ (offsets**2).sum(axis=1))
        + 2.0 * float((offsets * residuals).sum())
    )
    return max(scatter, 0.0) / (weight_sum * centers.shape[1])


def _update(centers, counts, sums, spare):
    """Means of the rows nearest each centre; empty ones move to the spare
    rows farthest from the others."""
    new_centers = centers.copy()
    filled = counts > 0
    new_centers[filled] = sums[filled] / counts[filled, np.newaxis]
    empty = np.flatnonzero(~filled)
    if empty.shape[0]:
        distance = np.full(spare.shape[0], np.inf)
        for center in new_centers[filled]:
            np.minimum(distance, _sq_distances(spare, center), out=distance)
        farthest = np.argsort(-distance, kind="stable")[: empty.shape[0]]
        new_centers[empty[: farthest.shape[0]]] = spare[farthest]
    return new_centers
