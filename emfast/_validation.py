"""Input and parameter checks shared by emfast's estimators.

Parameter types and ranges are checked by scikit-learn's own machinery (each
estimator's ``_parameter_constraints`` with ``_fit_context``), arrays by
``validate_data``/``check_array``; this module adds the checks scikit-learn makes
inside its mixture code, with the same messages.
"""

from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from emfast import _sklearn

FLOAT_DTYPES = (np.float64, np.float32)


def validate_rows(estimator, X, *, reset, ensure_min_samples=1):
    """``X`` as a C-contiguous float32/float64 array (other numbers become float64).

    Raises the scikit-learn errors for NaN/inf, complex or non-numeric data,
    wrong dimensionality, empty input and (with ``reset=False``) a different
    number of features than seen in ``fit``.
    """
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=list(FLOAT_DTYPES),
        ensure_min_samples=ensure_min_samples,
    )
    return np.ascontiguousarray(X)


def validate_chunk(X_chunk, n_features, estimator_name):
    """One chunk of rows as a float array, with scikit-learn's checks.

    ``n_features`` is the width of the chunks seen so far (None for the first).
    """
    X_chunk = check_array(
        X_chunk,
        dtype=list(FLOAT_DTYPES),
        ensure_min_samples=0,
        estimator=estimator_name,
    )
    if n_features is not None and X_chunk.shape[1] != n_features:
        raise ValueError(
            f"A chunk has {X_chunk.shape[1]} features but the previous chunks had "
            f"{n_features}."
        )
    return X_chunk


def check_sample_weight(sample_weight, n_samples):
    """Non-negative, finite float64 weights of the right length, not all zero."""
    if sample_weight is None:
        return None
    sample_weight = _sklearn._check_sample_weight(
        sample_weight,
        np.empty((n_samples, 0)),
        dtype=np.float64,
        ensure_non_negative=True,
    )
    return np.ascontiguousarray(sample_weight)


def check_n_samples(n_samples, n_components):
    """scikit-learn's "fewer samples than components" error."""
    if n_samples < n_components:
        raise ValueError(
            "Expected n_samples >= n_components "
            f"but got n_components = {n_components}, "
            f"n_samples = {n_samples}"
        )


def check_gaussian_init(estimator, n_features):
    """Validated ``(weights_init, means_init, precisions_init)`` (None if unset).

    The estimator's attributes are left as the user set them.
    """
    n_components = estimator.n_components
    weights, means, precisions = (
        estimator.weights_init,
        estimator.means_init,
        estimator.precisions_init,
    )
    if weights is not None:
        weights = _sklearn._check_weights(weights, n_components, xp=np)
    if means is not None:
        means = _sklearn._check_means(means, n_components, n_features, xp=np)
    if precisions is not None:
        precisions = _sklearn._check_precisions(
            precisions, estimator.covariance_type, n_components, n_features, xp=np
        )
    return weights, means, precisions


@contextmanager
def restore_on_error(estimator):
    """Leave ``estimator`` exactly as it was if the body raises.

    A fit that fails (invalid input, a collapsed component, an interrupt) must not
    leave a half-updated model behind.
    """
    saved = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        raise
