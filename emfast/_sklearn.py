"""Every scikit-learn private name emfast relies on, imported in one place.

emfast promises scikit-learn's exact parameter validation, error messages and
initial-parameter checks, so it reuses scikit-learn's own helpers instead of
rewriting them. They are private API: if a scikit-learn release moves one, this is
the only module to update (``setup.py`` pins the tested range).

The mixture helpers are imported on first use: ``sklearn.mixture`` pulls in
``sklearn.cluster`` and ``scipy.stats``, which ``import emfast`` should not pay for.
"""

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight

if TYPE_CHECKING:
    # scikit-learn ships no type information: declared here, the decorator keeps
    # the signatures of the methods it wraps visible to type checkers
    _Method = TypeVar("_Method", bound=Callable[..., Any])

    def _fit_context(
        *, prefer_skip_nested_validation: bool
    ) -> Callable[[_Method], _Method]: ...

else:
    from sklearn.base import _fit_context

# name -> module, imported on first use
_MIXTURE_HELPERS = {
    "_check_means": "sklearn.mixture._gaussian_mixture",
    "_check_precisions": "sklearn.mixture._gaussian_mixture",
    "_check_precision_matrix": "sklearn.mixture._gaussian_mixture",
    "_check_precision_positivity": "sklearn.mixture._gaussian_mixture",
    "_check_weights": "sklearn.mixture._gaussian_mixture",
    "_compute_precision_cholesky": "sklearn.mixture._gaussian_mixture",
    "_compute_precision_cholesky_from_precisions": "sklearn.mixture._gaussian_mixture",
    "_check_shape": "sklearn.mixture._base",
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
    value = getattr(importlib.import_module(_MIXTURE_HELPERS[name]), name)
    globals()[name] = value
    return value


def bayesian_parameter_constraints():
    """A copy of ``BayesianGaussianMixture._parameter_constraints`` (private).

    Reused as is: the same constraint objects print their options in the same
    order, so invalid parameters get scikit-learn's exact messages.
    """
    from sklearn.mixture import BayesianGaussianMixture

    return dict(BayesianGaussianMixture._parameter_constraints)
