"""Typed constants and tile accumulators shared by the loop kernels.

Per-row sums are kept in the data dtype for ``TILE_ROWS`` rows, then added into
the chunk's float64 sums: float32 data get float32 arithmetic in the inner
loops (no float64 conversions per multiply-add) and float64 accumulation beyond
a tile, whose float32 partial sums carry at most 16 rounding errors each.

A Python float literal is a float64 in numba and would promote every float32
expression it touches; :func:`cast_like` gives the constant in the data dtype.
"""

from numba.extending import overload

from emfast._numba import jit

TILE_ROWS = 16


def cast_like(value, like):
    """``value`` in the dtype of array ``like`` (numba); ``value`` in Python."""
    return value


@overload(cast_like, inline="always")
def _cast_like_overload(value, like):
    dtype = like.dtype

    def cast(value, like):
        return dtype(value)

    return cast


@jit
def flush(tile, total):
    """``total += tile`` (float64 += data dtype), then zero the tile."""
    tile_flat = tile.ravel()
    total_flat = total.ravel()
    for i in range(tile_flat.shape[0]):
        total_flat[i] += tile_flat[i]
        tile_flat[i] = 0.0
