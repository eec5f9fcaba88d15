"""Per-component work on a tile of rows, written out for a fixed number of features.

The tile kernels (:mod:`emfast.kernels.gaussian_tiles`) hold a tile of rows
transposed, ``x_tile[l, t]`` = feature l of row t, and run every per-component
step as a loop over the rows ``t`` with all of the per-row arithmetic inside it,
so that LLVM vectorises across rows whatever the number of components. That
only works when the row loop is the innermost loop: a loop over features nested
inside it keeps it scalar. LLVM unrolls such feature loops itself up to about
D(D+1)/2 = 40 multiply-adds and gives up beyond (measured: D = 8 vectorised,
D = 10 ran 2.5x slower than the old one-row-at-a-time kernel), so the bodies are
written out here for each number of features instead.

Each function below is the plain-Python reference of its arithmetic (it runs
under ``NUMBA_DISABLE_JIT=1``). Compiled code takes the ``@overload`` instead,
which generates the same operations as straight-line source for
``D = len(size)`` (``size`` is any tuple of D items: its length is part of its
type, so each D compiles once) with the per-component parameters read into
locals before the row loop and the sums kept in locals across it.

Flop counts per row and component (multiply-adds counted as two):

- :func:`full_log_prob`: D differences, D(D+1)/2 multiply-adds for ``(x - mu) U``
  and D for the squares, one for the constant: D(D+1) + 3D + 1;
- :func:`full_scatter`: D differences, D products ``r d_l``, D + 1 sums and
  D(D+1)/2 multiply-adds: D(D+1) + 3D + 1 (so a full pass does 2D(D+1) + 6D + 2;
  the benchmarks count the 2D(D+1) + 3D + 1 of the issue's formula);
- :func:`diag_log_prob`: 3D + 1; :func:`diag_scatter`: 5D + 1;
- :func:`tied_log_prob`: 3D + 1 on rows projected once per row (D(D+1) flops);
  :func:`first_moments`: 3D + 1.
"""

import inspect

from numba.extending import overload

from emfast.kernels.mixture.accumulate import cast_like

# The tile sums of full_scatter run as one loop over the rows per block of 4 x 4
# second moments (with the first moments of the diagonal blocks), so that each
# loop's sums and operands fit in the vector registers. Measured per row and
# component on an Intel Xeon (Sapphire Rapids class), one thread, block of 4 /
# one loop for all sums: D = 8 2.0 / 2.8 ns (float64), 1.3 / 1.7 (float32);
# D = 16 6.9 / 8.6 and 4.0 / 9.0; AVX2 code (16 registers): D = 8 3.1 / 3.0,
# D = 16 12.1 / 16.7 (float64).
SUM_BLOCK = 4
_CONTRACT = {"contract"}
# per-tile sums may be reassociated (vectorised across rows); the order is fixed
# at compile time, so results do not depend on the number of threads
_REDUCTION = {"reassoc", "nsz", "contract"}


def full_log_prob(size, x_tile, params, const, lanes, log_prob):
    """``log_prob[t] = const - |(x_t - mu) U|^2 / 2`` for the rows ``t < lanes``.

    ``params`` holds mu (D values), then the upper triangle of U column by
    column: ``U[0, j], ..., U[j, j]`` for ``j = 0, ..., D - 1``.
    """
    n_features = len(size)
    half = cast_like(0.5, log_prob)
    for t in range(lanes):
        distance = cast_like(0.0, log_prob)
        p = n_features
        for j in range(n_features):
            y = cast_like(0.0, log_prob)
            for l in range(j + 1):
                y += (x_tile[l, t] - params[l]) * params[p]
                p += 1
            distance += y * y
        log_prob[t] = const - half * distance


def full_scatter(size, x_tile, means, resp, lanes, sums):
    """Add one tile's ``[sum r, sum r d_l, sum r d_l d_j (l <= j)]`` to ``sums``.

    ``d = x_t - means``; the third block is the upper triangle row by row.
    ``sums`` (float64) gets the tile's partial sums, taken in the data dtype.
    """
    n_features = len(size)
    tile_sums = [cast_like(0.0, resp)] * (1 + n_features * (n_features + 3) // 2)
    for t in range(lanes):
        r = resp[t]
        tile_sums[0] += r
        q = 1 + n_features
        for l in range(n_features):
            rd = r * (x_tile[l, t] - means[l])
            tile_sums[1 + l] += rd
            for j in range(l, n_features):
                tile_sums[q] += rd * (x_tile[j, t] - means[j])
                q += 1
    for q in range(len(tile_sums)):
        sums[q] += tile_sums[q]


def diag_log_prob(size, x_tile, params, const, lanes, log_prob):
    """``log_prob[t] = const - sum_l (x_lt - mu_l)^2 prec_l / 2``.

    ``params`` holds mu (D values) then the precisions (D values).
    """
    n_features = len(size)
    half = cast_like(0.5, log_prob)
    for t in range(lanes):
        distance = cast_like(0.0, log_prob)
        for l in range(n_features):
            d = x_tile[l, t] - params[l]
            distance += d * d * params[n_features + l]
        log_prob[t] = const - half * distance


def diag_scatter(size, x_tile, means, resp, lanes, sums):
    """Add one tile's ``[sum r, sum r d_l, sum r d_l^2]`` to ``sums``."""
    n_features = len(size)
    tile_sums = [cast_like(0.0, resp)] * (1 + 2 * n_features)
    for t in range(lanes):
        r = resp[t]
        tile_sums[0] += r
        for l in range(n_features):
            d = x_tile[l, t] - means[l]
            rd = r * d
            tile_sums[1 + l] += rd
            tile_sums[1 + n_features + l] += rd * d
    for q in range(len(tile_sums)):
        sums[q] += tile_sums[q]


def tied_project(size, x_tile, shift, prec_chol, lanes, out_tile):
    """``out_tile[j, t] = ((x_t - shift) U)[j]`` with U upper triangular.

    ``prec_chol`` holds the upper triangle of U column by column (as in
    :func:`full_log_prob`).
    """
    n_features = len(size)
    for t in range(lanes):
        p = 0
        for j in range(n_features):
            y = cast_like(0.0, out_tile)
            for l in range(j + 1):
                y += (x_tile[l, t] - shift[l]) * prec_chol[p]
                p += 1
            out_tile[j, t] = y


def tied_log_prob(size, x_tile, params, const, lanes, log_prob):
    """``log_prob[t] = const - |x_t - m|^2 / 2`` (unit precisions).

    Tied kernels call it on rows already projected by :func:`tied_project`,
    with ``params`` the projected means.
    """
    n_features = len(size)
    half = cast_like(0.5, log_prob)
    for t in range(lanes):
        distance = cast_like(0.0, log_prob)
        for j in range(n_features):
            d = x_tile[j, t] - params[j]
            distance += d * d
        log_prob[t] = const - half * distance


def first_moments(size, x_tile, means, resp, lanes, sums):
    """Add one tile's ``[sum r, sum r d_l]`` to ``sums``."""
    n_features = len(size)
    tile_sums = [cast_like(0.0, resp)] * (1 + n_features)
    for t in range(lanes):
        r = resp[t]
        tile_sums[0] += r
        for l in range(n_features):
            tile_sums[1 + l] += r * (x_tile[l, t] - means[l])
    for q in range(len(tile_sums)):
        sums[q] += tile_sums[q]


# ---------------------------------------------------------------------------
# generated straight-line versions


class _Source:
    """Lines of Python source with indentation."""

    def __init__(self, signature):
        self.lines = [f"def generated({signature}):"]
        self.signature = signature
        self.depth = 1

    def add(self, line):
        self.lines.append("    " * self.depth + line)

    def compile(self):
        namespace = {"cast_like": cast_like}
        exec("\n".join(self.lines), namespace)  # noqa: S102 (source built here)
        return namespace["generated"]


def _load(src, array, names, start=0):
    for i, name in enumerate(names):
        src.add(f"{name} = {array}[{start + i}]")


def _differences(src, array, features, centre):
    for l in features:
        src.add(f"d{l} = {array}[{l}, t] - {centre}{l}")


def _triangle_terms(n_features):
    """``(l, j)`` of the upper triangle, column by column (the params order)."""
    return [(l, j) for j in range(n_features) for l in range(j + 1)]


def _log_prob_source(kind, n_features):
    src = _Source("size, x_tile, params, const, lanes, log_prob")
    src.add("half = cast_like(0.5, log_prob)")
    features = range(n_features)
    _load(src, "params", [f"m{l}" for l in features])
    if kind != "tied":
        if kind == "full":
            names = [f"u{l}_{j}" for l, j in _triangle_terms(n_features)]
        else:
            names = [f"p{l}" for l in features]
        _load(src, "params", names, start=n_features)
    src.add("for t in range(lanes):")
    src.depth += 1
    _differences(src, "x_tile", features, "m")
    if kind == "full":
        for j in features:
            src.add(f"y = d0 * u0_{j}")
            for l in range(1, j + 1):
                src.add(f"y += d{l} * u{l}_{j}")
            src.add("distance = y * y" if j == 0 else "distance += y * y")
    elif kind == "diag":
        src.add("distance = d0 * d0 * p0")
        for l in range(1, n_features):
            src.add(f"distance += d{l} * d{l} * p{l}")
    else:
        src.add("distance = d0 * d0")
        for l in range(1, n_features):
            src.add(f"distance += d{l} * d{l}")
    src.add("log_prob[t] = const - half * distance")
    return src


def _sums_groups(kind, n_features, block):
    """The tile sums in groups of at most about ``block``-by-``block`` terms.

    A sum is ``("n",)`` (q = 0), ``("a", l)`` (q = 1 + l) or ``("b", l, j)``
    (second moments, q = 1 + D + their index). Each group becomes one loop over
    the rows, so that its sums and operands stay in registers.
    """
    blocks = [range(b, min(b + block, n_features)) for b in range(0, n_features, block)]
    if kind == "full":
        pairs = [(l, j) for l in range(n_features) for j in range(l, n_features)]
    elif kind == "diag":
        pairs = [(l, l) for l in range(n_features)]
    else:
        pairs = []
    index = {pair: 1 + n_features + q for q, pair in enumerate(pairs)}
    groups = []
    for row in blocks:
        for col in blocks:
            pairs_here = [(l, j) for l in row for j in col if (l, j) in index]
            group = [(index[pair], ("b", *pair)) for pair in pairs_here]
            if row == col:
                group = [(1 + l, ("a", l)) for l in row] + group
                if row.start == 0:
                    group = [(0, ("n",))] + group
            if group:
                groups.append(group)
    return groups


def _sums_source(kind, n_features, block=SUM_BLOCK):
    """Tile sums: ``s0 = sum r``, then ``r d_l``, then the second moments."""
    src = _Source("size, x_tile, means, resp, lanes, sums")
    features = range(n_features)
    src.add("zero = cast_like(0.0, resp)")
    _load(src, "means", [f"m{l}" for l in features])
    for group in _sums_groups(kind, n_features, block):
        for q, _ in group:
            src.add(f"s{q} = zero")
        src.add("for t in range(lanes):")
        src.depth += 1
        src.add("r = resp[t]")
        used = sorted({x for _, term in group for x in term[1:]})
        _differences(src, "x_tile", used, "m")
        weighted = sorted({term[1] for _, term in group if term[0] != "n"})
        for l in weighted:
            src.add(f"rd{l} = r * d{l}")
        for q, term in group:
            if term[0] == "n":
                src.add(f"s{q} += r")
            elif term[0] == "a":
                src.add(f"s{q} += rd{term[1]}")
            else:
                src.add(f"s{q} += rd{term[1]} * d{term[2]}")
        src.depth -= 1
        for q, _ in group:
            src.add(f"sums[{q}] += s{q}")
    return src


def _project_source(n_features):
    src = _Source("size, x_tile, shift, prec_chol, lanes, out_tile")
    features = range(n_features)
    _load(src, "shift", [f"m{l}" for l in features])
    _load(src, "prec_chol", [f"u{l}_{j}" for l, j in _triangle_terms(n_features)])
    src.add("for t in range(lanes):")
    src.depth += 1
    _differences(src, "x_tile", features, "m")
    for j in features:
        src.add(f"y = d0 * u0_{j}")
        for l in range(1, j + 1):
            src.add(f"y += d{l} * u{l}_{j}")
        src.add(f"out_tile[{j}, t] = y")
    return src


def _overload(function, make_source, fastmath):
    """Compile ``function`` as the source ``make_source(len(size))`` generates."""
    parameters = list(inspect.signature(function).parameters)

    @overload(function, jit_options={"fastmath": fastmath}, strict=False)
    def generate(size, *args):
        src = make_source(len(size))
        assert src.signature == ", ".join(parameters), src.signature
        return src.compile()

    return generate


_overload(full_log_prob, lambda n: _log_prob_source("full", n), _CONTRACT)
_overload(diag_log_prob, lambda n: _log_prob_source("diag", n), _CONTRACT)
_overload(tied_log_prob, lambda n: _log_prob_source("tied", n), _CONTRACT)
_overload(tied_project, _project_source, _CONTRACT)
_overload(full_scatter, lambda n: _sums_source("full", n), _REDUCTION)
_overload(diag_scatter, lambda n: _sums_source("diag", n), _REDUCTION)
_overload(first_moments, lambda n: _sums_source("first", n), _REDUCTION)
