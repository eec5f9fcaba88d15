"""Fixed-size row chunks: the unit of parallel work and of reduction order.

A kernel processes one *block* of rows at a time; inside the block it runs a
``prange`` over *chunks* of ``CHUNK_ROWS`` rows, each chunk writing its own
statistics. The caller then adds the chunk statistics in chunk order. Because
chunk boundaries depend only on the row index (never on the thread count), a fit
gives bit-identical results on 1 or 2 threads.

The sizes are read at call time, so tests can shrink them to exercise many
chunks and blocks on small data.
"""

CHUNK_ROWS = 1024  # rows per chunk: one task of a prange, one set of partial sums
CHUNKS_PER_BLOCK = 32  # chunks per kernel call; bounds the per-chunk buffers


def n_chunks(n_rows):
    """Number of chunks that cover ``n_rows`` rows."""
    return -(-n_rows // CHUNK_ROWS)


def iter_blocks(n_rows):
    """Yield ``(start, stop)`` of consecutive row blocks covering ``n_rows``."""
    block_rows = CHUNK_ROWS * CHUNKS_PER_BLOCK
    for start in range(0, n_rows, block_rows):
        yield start, min(start + block_rows, n_rows)
