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
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # the lazy names below, for type checkers and IDEs
    from emfast._model_io import load_model, save_model
    from emfast._numba import num_threads
    from emfast._warmup import warmup
    from emfast.mixture.bayesian import BayesianGaussianMixture
    from emfast.mixture.bernoulli import BernoulliMixture
    from emfast.mixture.categorical import CategoricalMixture
    from emfast.mixture.custom import ComponentFamily, CustomMixture
    from emfast.mixture.gaussian import GaussianMixture
    from emfast.mixture.poisson import PoissonMixture
    from emfast.mixture.selection import select_n_components
    from emfast.vae import VAE

# public name -> module that defines it
_LAZY = {
    "GaussianMixture": "emfast.mixture.gaussian",
    "BayesianGaussianMixture": "emfast.mixture.bayesian",
    "PoissonMixture": "emfast.mixture.poisson",
    "BernoulliMixture": "emfast.mixture.bernoulli",
    "CategoricalMixture": "emfast.mixture.categorical",
    "CustomMixture": "emfast.mixture.custom",
    "ComponentFamily": "emfast.mixture.custom",
    "VAE": "emfast.vae",
    "select_n_components": "emfast.mixture.selection",
    "save_model": "emfast._model_io",
    "load_model": "emfast._model_io",
    "num_threads": "emfast._numba",
    "warmup": "emfast._warmup",
}

# spelled out (not built from _LAZY) so that type checkers can read it
__all__ = [
    "BayesianGaussianMixture",
    "BernoulliMixture",
    "CategoricalMixture",
    "ComponentFamily",
    "CustomMixture",
    "GaussianMixture",
    "PoissonMixture",
    "VAE",
    "load_model",
    "num_threads",
    "save_model",
    "select_n_components",
    "warmup",
    "__version__",
]


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'emfast' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
