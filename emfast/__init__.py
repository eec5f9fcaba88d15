"""emfast: fast EM and variational inference for latent-variable models.

``from emfast import GaussianMixture`` (and ``BayesianGaussianMixture``) is a
drop-in replacement for scikit-learn's estimator of the same name whose
iterations run as one fused, parallel numba pass over the data.

Importing this package is cheap: it imports nothing heavy and compiles nothing.
The public names below are loaded on first access, and the numba kernels are
compiled on first use (and cached on disk); call :func:`emfast.warmup` to pay the
compilation up front.
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "GaussianMixture": "emfast.mixture.gaussian",
    "BayesianGaussianMixture": "emfast.mixture.bayesian",
    "PoissonMixture": "emfast.mixture.poisson",
    "VAE": "emfast.vae",
    "select_n_components": "emfast.mixture.selection",
    "save_model": "emfast._model_io",
    "load_model": "emfast._model_io",
    "num_threads": "emfast._numba",
    "warmup": "emfast._warmup",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'emfast' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
