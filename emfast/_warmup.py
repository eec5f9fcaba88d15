"""Compile (or load from the on-disk cache) every kernel ahead of use."""

import time
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike


def warmup(
    dtypes: Sequence[DTypeLike] = (np.float64, np.float32),
    n_features: Sequence[int] = (2,),
) -> float:
    """Compile emfast's kernels for ``dtypes`` now instead of at first use.

    Gaussian mixtures with up to
    :data:`~emfast.mixture.gaussian._kernels.TILE_MAX_FEATURES` features run
    tile kernels compiled for each number of features; with more, kernels
    compiled once for all shapes (GEMM for full covariances, loops for the
    others). ``n_features`` lists the numbers of features to prepare for. The
    Poisson and VAE kernels are compiled too.

    The first call in a fresh environment compiles (several seconds per dtype,
    covariance type and number of features, more for many features); later
    processes load the machine code from numba's cache in well under a second.

    Parameters
    ----------
    dtypes : sequence of numpy dtypes, default=(float64, float32)
    n_features : sequence of int, default=(2,)

    Returns
    -------
    seconds : float
        Time spent.

    Examples
    --------
    >>> import emfast
    >>> seconds = emfast.warmup(n_features=[2])
    """
    from sklearn.exceptions import ConvergenceWarning

    from emfast.mixture.gaussian import GaussianMixture
    from emfast.mixture.poisson import PoissonMixture
    from emfast.vae import VAE

    start = time.perf_counter()
    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for D in n_features:
            X = rng.normal(size=(40 + 2 * D, D))
            for dtype in dtypes:
                for covariance_type in ("full", "tied", "diag", "spherical"):
                    model = GaussianMixture(
                        2,
                        covariance_type=covariance_type,
                        init_params="random",
                        max_iter=1,
                        random_state=0,
                    ).fit(X.astype(dtype))
                    model.predict_proba(X.astype(dtype))
        counts = np.random.RandomState(0).poisson(3.0, size=(40, 2))
        for dtype in dtypes:
            model = PoissonMixture(2, init_params="random", max_iter=1, random_state=0)
            model.fit(counts.astype(dtype)).predict_proba(counts.astype(dtype))
        binary = (np.random.RandomState(0).uniform(size=(40, 16)) < 0.3).astype(float)
        for dtype in dtypes:
            vae = VAE(
                hidden_layer_sizes=(8,),
                n_latent=2,
                batch_size=20,
                verbose=False,
                dtype=dtype,
            )
            vae.partial_fit(binary).score(binary)
    return time.perf_counter() - start
