"""Every scikit-learn private name emfast relies on, imported in one place.

emfast promises scikit-learn's exact parameter validation, error messages and
initial-parameter checks, so it reuses scikit-learn's own helpers instead of
rewriting them. They are private API: if a scikit-learn release moves one, this is
the only module to update (``setup.py`` pins the tested range).

The mixture helpers are imported on first use: ``sklearn.mixture`` pulls in
``sklearn.cluster`` and ``scipy.stats``, which ``import emfast`` should not pay for.
"""

import importlib

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

_MIXTURE_HELPERS = {
    "_check_means",
    "_check_precisions",
    "_check_weights",
    "_compute_precision_cholesky",
    "_compute_precision_cholesky_from_precisions",
}

__all__ = [
    "Interval",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    *sorted(_MIXTURE_HELPERS),
]


def __getattr__(name):
    if name not in _MIXTURE_HELPERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module("sklearn.mixture._gaussian_mixture")
    value = getattr(module, name)
    globals()[name] = value
    return value
