"""Type aliases shared by the annotations of emfast's public API.

The aliases are evaluated at import (not only under ``TYPE_CHECKING``) so that
``typing.get_type_hints`` resolves every public signature at run time.
"""

from collections.abc import Callable, Iterable
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ArrayLike",
    "Chunk",
    "ChunkSource",
    "CovarianceType",
    "InitParams",
    "RandomStateLike",
    "TrainingData",
]

#: What scikit-learn's ``check_random_state`` accepts.
RandomStateLike: TypeAlias = int | np.random.RandomState | None

#: A piece of a chunk source: a 2-D block of rows, or ``(rows, sample_weight)``.
Chunk: TypeAlias = ArrayLike | tuple[ArrayLike, ArrayLike]

#: Rows read piece by piece: a callable returning an iterable of chunks, or a
#: re-iterable (a list) or iterator of chunks.
ChunkSource: TypeAlias = Callable[[], Iterable[Chunk]] | Iterable[Chunk]

#: What ``fit`` and ``partial_fit`` take: an array (a ``numpy.memmap`` and a
#: Dask array, which has ``__array__``, included) or a chunk source.
TrainingData: TypeAlias = ArrayLike | ChunkSource

#: The covariance structures of the Gaussian mixtures.
CovarianceType: TypeAlias = Literal["full", "tied", "diag", "spherical"]

#: How the Gaussian, Poisson, Bernoulli and custom mixtures draw their
#: initial responsibilities.
InitParams: TypeAlias = Literal["kmeans", "k-means++", "random", "random_from_data"]
