"""Input and parameter checks shared by emfast's estimators.

Parameter types and ranges are checked by scikit-learn's own machinery (each
estimator's ``_parameter_constraints`` with ``_fit_context``), arrays by
``validate_data``/``check_array``; this module adds the checks scikit-learn makes
inside its mixture code, with the same messages.

Rows reach an estimator as an array or list, a memory map, a chunk source read
once per pass, or a Dask array whose blocks are computed by workers. Whatever
the form, each role has one check with scikit-learn's messages:

- rows (for training or inference): :func:`validate_rows` on a whole array; a
  source read block by block gets :func:`check_rows_layout` for its shape and
  dtype (known without reading it) and :func:`check_rows_block` on every block
  each time the block is read;
- sample weights: :func:`check_sample_weight` on a whole vector or on one block,
  :func:`check_weight_layout` for the shape of a lazy vector and
  :func:`check_weight_total` for the total of blocks;
- the precision rows are scored in: :func:`scoring_dtype`.

Rows may hold NaN (missing values) only where a model marginalises them out
(``allow_nan=True``, passed down to the row checks of every form); infinities
are refused either way, and the model's own value check (``check_values``)
refuses rows with no observed value.
"""

import math
from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from emfast import _sklearn

FLOAT_DTYPES = (np.float64, np.float32)

# scikit-learn's message for all-zero weights (its _check_sample_weight), for a
# total that is only known as a sum of blocks
_ALL_ZERO_WEIGHTS = "Sample weights must contain at least one non-zero number."


# ----------------------------------------------------------------------- rows
def validate_rows(estimator, X, *, reset, ensure_min_samples=1, allow_nan=False):
    """``X`` as a C-contiguous float32/float64 array (other numbers become float64).

    Raises the scikit-learn errors for NaN (unless ``allow_nan``) and inf,
    complex or non-numeric data, wrong dimensionality, empty input and (with
    ``reset=False``) a different number of features than seen in ``fit``. A
    memory map is not copied.
    """
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=list(FLOAT_DTYPES),
        ensure_min_samples=ensure_min_samples,
        ensure_all_finite=_finite(allow_nan),
    )
    return np.ascontiguousarray(X)


def check_rows_layout(estimator, shape, dtype, *, reset, ensure_min_samples=1):
    """Check rows known by their shape and dtype only (a Dask array, a chunk source).

    Raises the errors :func:`validate_rows` raises for the dimensionality, a
    complex dtype, too few samples and the number of features (and, with
    ``reset=True``, records ``n_features_in_`` as it does). The values are
    checked block by block with :func:`check_rows_block`.

    Parameters
    ----------
    estimator : estimator
    shape : tuple
        The shape of the rows (a row count may be NaN: unknown).
    dtype : numpy dtype
    reset : bool
        True in ``fit``, False for a fitted model.
    ensure_min_samples : int, default=1

    Returns
    -------
    dtype : numpy dtype
        The dtype the rows have once validated (float32 or float64).
    """
    # scikit-learn's own checks on a stand-in of the same dtype and dimensionality:
    # no rows, unless the real row count is an error (then the stand-in is as
    # small as the real array) or there are no features (then it has no bytes)
    stand_in_shape, min_samples = (0,) * len(shape), 0
    if len(shape) == 2:
        n_rows, n_features = shape
        if not math.isnan(n_rows) and (n_rows < ensure_min_samples or n_features == 0):
            stand_in_shape, min_samples = shape, ensure_min_samples
        else:
            stand_in_shape = (0, n_features)
    checked = validate_data(
        estimator,
        np.zeros(stand_in_shape, dtype=dtype),
        reset=reset,
        dtype=list(FLOAT_DTYPES),
        ensure_min_samples=min_samples,
    )
    return checked.dtype


def check_rows_block(X_block, n_features, estimator_name, *, allow_nan=False):
    """One block (or chunk) of rows, checked as :func:`validate_rows` checks X.

    Runs on every read of a block, so values that only a later read gives still
    get scikit-learn's errors (NaN unless ``allow_nan``, inf, complex or
    non-numeric data, not 2-D).

    Parameters
    ----------
    X_block : array-like
    n_features : int or None
        The width every block must have (None: any).
    estimator_name : str
        For the messages.
    allow_nan : bool, default=False
        Let NaN through (missing values of a model that marginalises them).

    Returns
    -------
    X_block : C-contiguous ndarray of float32 or float64
    """
    X_block = check_array(
        X_block,
        dtype=list(FLOAT_DTYPES),
        ensure_min_samples=0,
        ensure_all_finite=_finite(allow_nan),
        estimator=estimator_name,
        input_name="X",
    )
    if n_features is not None and X_block.shape[1] != n_features:
        raise ValueError(
            f"A chunk has {X_block.shape[1]} features but the previous chunks had "
            f"{n_features}."
        )
    return np.ascontiguousarray(X_block)


def _finite(allow_nan):
    """scikit-learn's ``ensure_all_finite``: NaN allowed or not, inf never."""
    return "allow-nan" if allow_nan else True


def scoring_dtype(rows_dtype, model_dtype):
    """The precision validated rows are scored in: the model's, or the rows' if higher.

    float32 rows given to a float64 model are scored in float64 (scikit-learn
    converts them too); float32 rows on a float32 model stay float32.
    """
    return np.result_type(rows_dtype, model_dtype)


# ------------------------------------------------------------ sample weights
def check_sample_weight(sample_weight, n_samples, *, allow_all_zero=False):
    """Non-negative, finite float64 weights of the right length, not all zero.

    scikit-learn's checks and messages. ``allow_all_zero`` is for one block of
    a longer vector, whose total :func:`check_weight_total` checks.
    """
    if sample_weight is None:
        return None
    sample_weight = _sklearn._check_sample_weight(
        sample_weight,
        np.empty((n_samples, 0)),
        dtype=np.float64,
        ensure_non_negative=True,
        allow_all_zero_weights=allow_all_zero,
    )
    return np.ascontiguousarray(sample_weight)


def check_weight_layout(shape, dtype, n_samples):
    """Check weights known by their shape and dtype only (a Dask array).

    Raises the errors :func:`check_sample_weight` raises for the dimensionality,
    the length and a complex dtype; the values are checked block by block.
    """
    if len(shape) == 1 and shape[0] not in (0, n_samples):
        # scikit-learn's message; a stand-in of this length would cost its memory
        raise ValueError(f"sample_weight.shape == {shape}, expected {(n_samples,)}!")
    if len(shape) == 1 and shape[0] == 0:
        stand_in, n_rows = np.ones(0, dtype=dtype), n_samples
    else:
        stand_in, n_rows = np.ones((1,) * len(shape), dtype=dtype), 1
    check_sample_weight(stand_in, n_rows, allow_all_zero=True)


def check_weight_total(total):
    """scikit-learn's error for all-zero weights, from their (non-negative) total."""
    if not total > 0:
        raise ValueError(_ALL_ZERO_WEIGHTS)


# ---------------------------------------------------------------- parameters
def check_n_samples(n_samples, n_components):
    """scikit-learn's "fewer samples than components" error."""
    if n_samples < n_components:
        raise ValueError(
            "Expected n_samples >= n_components "
            f"but got n_components = {n_components}, "
            f"n_samples = {n_samples}"
        )


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
