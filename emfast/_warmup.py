"""Compile (or load from the on-disk cache) every kernel ahead of use."""

import time
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike


def warmup(dtypes: Sequence[DTypeLike] = (np.float64, np.float32)) -> float:
    """Compile emfast's kernels for ``dtypes`` now instead of at first use.

    The first call in a fresh environment compiles (tens of seconds); later
    processes load the machine code from numba's cache in well under a second.

    Parameters
    ----------
    dtypes : sequence of numpy dtypes, default=(float64, float32)

    Returns
    -------
    seconds : float
        Time spent.

    Examples
    --------
    >>> import emfast
    >>> seconds = emfast.warmup()
    """
    from sklearn.exceptions import ConvergenceWarning

    from emfast.mixture.gaussian import GaussianMixture
    from emfast.mixture.gaussian._kernels import GEMM_MIN_FEATURES
    from emfast.mixture.poisson import PoissonMixture
    from emfast.vae import VAE

    start = time.perf_counter()
    X = np.random.RandomState(0).normal(size=(40, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
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
            # full covariances with many features run the GEMM kernel
            wide = np.random.RandomState(0).normal(size=(40, GEMM_MIN_FEATURES))
            GaussianMixture(2, init_params="random", max_iter=1, random_state=0).fit(
                wide.astype(dtype)
            ).predict_proba(wide.astype(dtype))
        counts = np.random.RandomState(0).poisson(3.0, size=(40, 2))
        for dtype in dtypes:
            model = PoissonMixture(2, init_params="random", max_iter=1, random_state=0)
            model.fit(counts.astype(dtype)).predict_proba(counts.astype(dtype))
        binary = (np.random.RandomState(0).uniform(size=(40, 16)) < 0.3).astype(float)
        for dtype in dtypes:
            vae = VAE(hidden_layer_sizes=(8,), n_latent=2, batch_size=20,
                      verbose=False, dtype=dtype)
            vae.partial_fit(binary).score(binary)
    return time.perf_counter() - start
