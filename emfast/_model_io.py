"""Save fitted models as JSON and load them back: plain data, never code.

A model file is one JSON object::

    {"format": "emfast-model", "format_version": 1,
     "estimator": "GaussianMixture", "emfast_version": "0.1.0",
     "params": {constructor parameters},
     "fitted": {fitted attributes}}

Arrays are ``{"type": "ndarray", "dtype": "float64", "shape": [...], "data":
[nested lists]}``, and a list of arrays (one per column, as a categorical
mixture's ``probabilities_``) is a JSON list of such objects; a float that is
not finite is written as the string ``"nan"``, ``"inf"`` or ``"-inf"`` (the
file is strict JSON). Numbers are written with all their digits, so a loaded
model equals the saved one bit for bit.
A ``numpy.random.RandomState`` given as ``random_state`` is stored as its state.

Every mixture of emfast can be saved: ``"estimator"`` names its class, and its
family lists the fitted arrays (``Family.file_arrays``).

Loading only parses JSON and checks every field before building the estimator:
names, types, dtypes, shapes, finite values, and values a fit can produce
(``Family.check_file_values``: weights that are >= 0 and sum to 1, an
upper-triangular ``precisions_cholesky_`` with a positive diagonal,
``covariances_`` and ``precisions_`` that agree with it, a variational
posterior consistent with its priors, Poisson rates at or above the fit's
floor, categorical probabilities that are >= 0 and sum to 1 per row). It
never runs code from the file (no pickle),
and a malformed or foreign file raises ``ValueError`` naming the field. The
file is read in blocks and refused at the first sign that it is not a JSON text
(a NUL byte, invalid UTF-8, a first character other than ``{``); a UTF-8 byte
order mark is accepted.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from numbers import Integral, Real

import numpy as np

from emfast._model_decode import (
    ARRAY_PARAMS,
    ESTIMATORS,
    FLOAT_DTYPES,
    FORMAT,
    FORMAT_VERSION,
    FormatError,
    estimator_class,
    model_from_document,
)
from emfast.mixture._engine.estimator import MixtureEstimator


def save_model(model: MixtureEstimator, path: str | os.PathLike[str]) -> None:
    """Write a fitted mixture of emfast to a JSON file.

    The file holds the format name and version, the constructor parameters and
    the fitted arrays with their dtype; :func:`load_model` rebuilds an identical
    model. The file is written to a temporary name and renamed, so ``path`` is
    either the complete new file or untouched.

    Parameters
    ----------
    model : emfast.GaussianMixture, emfast.BayesianGaussianMixture or \
            emfast.PoissonMixture
        A fitted model.
    path : str or os.PathLike
        Where to write (conventionally ``*.json``).

    Raises
    ------
    TypeError
        If ``model`` is not one of emfast's mixtures or holds a parameter that
        cannot be stored.
    sklearn.exceptions.NotFittedError
        If ``model`` is not fitted.
    OSError
        If the file cannot be written.

    See Also
    --------
    load_model

    Examples
    --------
    >>> import numpy as np
    >>> from emfast import GaussianMixture
    >>> from emfast._model_io import load_model, save_model
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> model = GaussianMixture(2, random_state=0).fit(X)
    >>> save_model(model, "model.json")  # doctest: +SKIP
    >>> same = load_model("model.json")  # doctest: +SKIP
    >>> bool((same.predict_proba(X) == model.predict_proba(X)).all())  # doctest: +SKIP
    True
    """
    text = json.dumps(_to_document(model), allow_nan=False) + "\n"
    write_atomic(path, text)


def load_model(path: str | os.PathLike[str]) -> MixtureEstimator:
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path : str or os.PathLike
        A model file.

    Returns
    -------
    model : emfast.GaussianMixture, emfast.BayesianGaussianMixture or \
            emfast.PoissonMixture
        The fitted model, equal to the saved one: same parameters, same fitted
        arrays (values and dtype), hence the same predictions.

    Raises
    ------
    OSError
        If the file cannot be read (``FileNotFoundError`` when missing).
    ValueError
        If the file is not valid JSON, not an emfast model file, written by a
        newer format version, or inconsistent (wrong shapes, dtypes, values).

    See Also
    --------
    save_model

    Examples
    --------
    >>> from emfast._model_io import load_model
    >>> model = load_model("model.json")  # doctest: +SKIP
    >>> labels = model.predict(X)  # doctest: +SKIP
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = _read_json_text(file)
        try:
            document = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as err:
            raise FormatError(f"not valid JSON ({err})") from None
        return model_from_document(document)
    except FormatError as err:
        raise ValueError(f"cannot load model from {path!r}: {err}") from None


def _read_json_text(file, block=1 << 20):
    """The text of a JSON object, read in blocks and refused early if it is not.

    A binary file, a device such as /dev/zero or a CSV given as a model fails
    in the first block instead of being read whole.
    """
    blocks, started = [], False
    while True:
        try:
            text = file.read(block)
        except UnicodeDecodeError:
            raise FormatError("not a text (JSON) file") from None
        if not text:
            break
        if "\0" in text:
            raise FormatError("not a text (JSON) file (it holds NUL bytes)")
        start = text.lstrip()
        if not started and start:
            started = True
            if not start.startswith("{"):
                raise FormatError(
                    "not valid JSON for a model: a model file is a JSON object "
                    f"({{...}}), this one starts with {start[:20]!r}"
                )
        blocks.append(text)
    return "".join(blocks)


def write_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename.

    Readers see either the old file or the complete new one; if anything fails,
    the temporary file is removed and ``path`` is left as it was. A symbolic
    link is followed (the file it points to is replaced, the link is kept), an
    existing file keeps its permissions, and a path that exists but is not a
    regular file (``/dev/stdout``, a named pipe) is written in place: renaming
    over it would replace the device or pipe itself.

    Parameters
    ----------
    path : str or os.PathLike
    text : str
    """
    path = os.fspath(path)
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with open(path, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        return
    path = os.path.realpath(path)  # replace the file a link points to, not the link
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    # os.open with mode 0o666 gives the permissions a plain open() would (umask).
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            if existing is not None:
                os.chmod(file.fileno(), stat.S_IMODE(existing.st_mode))
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def _sync_directory(directory):
    """Make the rename durable (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


# ---------------------------------------------------------------- writing
def _to_document(model):
    from sklearn.utils.validation import check_is_fitted

    name = type(model).__name__
    if estimator_class(name) is not type(model):
        known = ", ".join(f"emfast.{known}" for known in ESTIMATORS)
        note = ""
        if hasattr(model, "family"):  # a CustomMixture: its family is user code
            note = (
                "; its family's functions are code, which a model file never "
                "holds: pickle the model instead"
            )
        raise TypeError(
            f"save_model() writes emfast's mixtures ({known}), got "
            f"{type(model).__module__}.{type(model).__qualname__}{note}"
        )
    check_is_fitted(model)
    from emfast import __version__

    params = {
        name: _encode_param(name, value) for name, value in model.get_params().items()
    }
    n_features = int(model.n_features_in_)
    fitted = {"n_features_in_": n_features}
    for array_name, shape in model._family().file_arrays(model, n_features).items():
        value = getattr(model, array_name)
        if isinstance(shape, list):  # a list of arrays
            fitted[array_name] = [_encode_array(array) for array in value]
        else:
            fitted[array_name] = _encode_array(value)
    fitted["converged_"] = bool(model.converged_)
    fitted["n_iter_"] = int(model.n_iter_)
    fitted["lower_bound_"] = _encode_float(model.lower_bound_)
    fitted["lower_bounds_"] = [_encode_float(v) for v in model.lower_bounds_]
    if hasattr(model, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in model.feature_names_in_]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": name,
        "emfast_version": __version__,
        "params": params,
        "fitted": fitted,
    }


def _encode_float(value):
    value = float(value)
    if np.isfinite(value):
        return value
    return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")


def _encode_array(array):
    array = np.asarray(array)
    if array.dtype.name not in FLOAT_DTYPES:
        array = array.astype(np.float64)
    data = array.tolist()  # Python floats: exact for float32 and float64
    if not np.isfinite(array).all():
        data = _map_nested(data, _encode_float)
    return {
        "type": "ndarray",
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "data": data,
    }


def _map_nested(data, function):
    if isinstance(data, list):
        return [_map_nested(item, function) for item in data]
    return function(data)


def _encode_param(name, value):
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return _encode_float(value)
    if isinstance(value, np.random.RandomState):
        return _encode_random_state(value)
    if name in ARRAY_PARAMS:
        return _encode_array(value)
    raise TypeError(f"cannot save parameter {name}={value!r} in a model file")


def _encode_random_state(random_state):
    name, keys, position, has_gauss, cached = random_state.get_state(legacy=True)
    return {
        "type": "RandomState",
        "bit_generator": name,
        "keys": keys.tolist(),
        "pos": int(position),
        "has_gauss": int(has_gauss),
        "cached_gaussian": _encode_float(cached),
    }
