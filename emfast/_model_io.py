"""Save fitted models as JSON and load them back: plain data, never code.

A model file is one JSON object::

    {"format": "emfast-model", "format_version": 1,
     "estimator": "GaussianMixture", "emfast_version": "0.1.0",
     "params": {constructor parameters},
     "fitted": {fitted attributes}}

Arrays are ``{"type": "ndarray", "dtype": "float64", "shape": [...], "data":
[nested lists]}``; a float that is not finite is written as the string
``"nan"``, ``"inf"`` or ``"-inf"`` (the file is strict JSON). Numbers are written
with all their digits, so a loaded model equals the saved one bit for bit.
A ``numpy.random.RandomState`` given as ``random_state`` is stored as its state.

Loading only parses JSON and checks every field (names, types, dtypes, shapes,
finite values) before building the estimator: it never runs code from the file
(no pickle), and a malformed or foreign file raises ``ValueError``.
"""

import contextlib
import json
import os
import secrets
from numbers import Integral, Real

import numpy as np

FORMAT = "emfast-model"
FORMAT_VERSION = 1

_FLOAT_DTYPES = ("float32", "float64")
_NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")
_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init")
_FLOAT_PARAMS = ("tol", "reg_covar")


class _FormatError(ValueError):
    """A model file that does not follow the format (message without the path)."""


def save_model(model, path):
    """Write a fitted :class:`~emfast.GaussianMixture` to a JSON file.

    The file holds the format name and version, the constructor parameters and
    the fitted arrays with their dtype; :func:`load_model` rebuilds an identical
    model. The file is written to a temporary name and renamed, so ``path`` is
    either the complete new file or untouched.

    Parameters
    ----------
    model : emfast.GaussianMixture
        A fitted model.
    path : str or os.PathLike
        Where to write (conventionally ``*.json``).

    Raises
    ------
    TypeError
        If ``model`` is not an ``emfast.GaussianMixture`` or holds a parameter
        that cannot be stored.
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


def load_model(path):
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path : str or os.PathLike
        A model file.

    Returns
    -------
    model : emfast.GaussianMixture
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
    with open(path, encoding="utf-8") as file:
        try:
            text = file.read()
        except UnicodeDecodeError:
            raise ValueError(
                f"cannot load model from {path!r}: not a text (JSON) file"
            ) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise ValueError(
            f"cannot load model from {path!r}: not valid JSON ({err})"
        ) from None
    try:
        return _from_document(document)
    except _FormatError as err:
        raise ValueError(f"cannot load model from {path!r}: {err}") from None


def write_atomic(path, text):
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename.

    Readers see either the old file or the complete new one; if anything fails,
    the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
    text : str
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    # os.open with mode 0o666 gives the permissions a plain open() would (umask).
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


# ---------------------------------------------------------------- writing
def _to_document(model):
    from sklearn.utils.validation import check_is_fitted

    from emfast.mixture.gaussian import GaussianMixture

    if type(model) is not GaussianMixture:
        raise TypeError(
            "save_model() writes emfast.GaussianMixture models, got "
            f"{type(model).__module__}.{type(model).__qualname__}"
        )
    check_is_fitted(model)
    from emfast import __version__

    params = {
        name: _encode_param(name, value) for name, value in model.get_params().items()
    }
    fitted = {"n_features_in_": int(model.n_features_in_)}
    for name in _ARRAYS:
        fitted[name] = _encode_array(getattr(model, name))
    fitted["converged_"] = bool(model.converged_)
    fitted["n_iter_"] = int(model.n_iter_)
    fitted["lower_bound_"] = _encode_float(model.lower_bound_)
    fitted["lower_bounds_"] = [_encode_float(v) for v in model.lower_bounds_]
    if hasattr(model, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in model.feature_names_in_]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": "GaussianMixture",
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
    if array.dtype.name not in _FLOAT_DTYPES:
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
    if name in _ARRAY_PARAMS:
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


# ---------------------------------------------------------------- reading
def _from_document(document):
    from emfast.mixture.gaussian import GaussianMixture

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _FormatError(
            f"not an emfast model file (expected a JSON object with "
            f'"format": "{FORMAT}")'
        )
    version = document.get("format_version")
    if not _is_int(version) or version < 1:
        raise _FormatError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _FormatError(
            f"the file has format version {version}, this emfast reads up to "
            f"{FORMAT_VERSION}; upgrade emfast"
        )
    estimator = document.get("estimator")
    if estimator != "GaussianMixture":
        raise _FormatError(
            f"the file holds a {estimator!r} model; this emfast loads GaussianMixture"
        )
    params = _decode_params(_field(document, "params", dict), GaussianMixture)
    model = GaussianMixture(**params)
    try:
        model._validate_params()
    except ValueError as err:
        raise _FormatError(f"invalid parameter: {err}") from None
    fitted = _decode_fitted(_field(document, "fitted", dict), model)
    for name, value in fitted.items():
        setattr(model, name, value)
    return model


def _field(mapping, name, kind, where=""):
    if name not in mapping:
        raise _FormatError(f"missing field {where}{name!r}")
    value = mapping[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _FormatError(f"field {where}{name!r} must be a {kind.__name__}")
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_params(stored, estimator_class):
    """Constructor parameters; a parameter missing from the file keeps its default."""
    known = estimator_class().get_params()
    unknown = sorted(set(stored) - set(known))
    if unknown:
        raise _FormatError(f"unknown parameter(s): {', '.join(unknown)}")
    params = {}
    for name, value in stored.items():
        where = f"params.{name}"
        if name in _FLOAT_PARAMS:
            value = _decode_float(value, where)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind == "ndarray" and name in _ARRAY_PARAMS:
                value = _decode_array(value, where)
            elif kind == "RandomState" and name == "random_state":
                value = _decode_random_state(value, where)
            else:
                raise _FormatError(f"{where}: unexpected object of type {kind!r}")
        elif isinstance(value, list):
            raise _FormatError(f"{where}: unexpected list")
        params[name] = value
    return params


def _decode_fitted(stored, model):
    """Fitted attributes, checked against the parameters (shapes, dtypes, values)."""
    expected = {*_ARRAYS, "n_features_in_", "converged_", "n_iter_"}
    expected |= {"lower_bound_", "lower_bounds_"}
    missing = sorted(expected - set(stored))
    unknown = sorted(set(stored) - expected - {"feature_names_in_"})
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else ""
        if unknown:
            problem += ("; " if problem else "") + f"unknown {', '.join(unknown)}"
        raise _FormatError(f"fitted attributes: {problem}")
    n_features = _field(stored, "n_features_in_", int, "fitted.")
    if n_features < 1:
        raise _FormatError("fitted.n_features_in_ must be >= 1")
    shapes = _shapes(model.n_components, n_features, model.covariance_type)
    fitted = {"n_features_in_": n_features}
    dtypes = set()
    for name in _ARRAYS:
        array = _decode_array(stored[name], f"fitted.{name}")
        if array.shape != shapes[name]:
            raise _FormatError(
                f"fitted.{name} has shape {array.shape}, expected {shapes[name]} "
                f"for {model.n_components} {model.covariance_type!r} components "
                f"of {n_features} features"
            )
        if not np.isfinite(array).all():
            raise _FormatError(f"fitted.{name} holds non-finite values")
        dtypes.add(array.dtype)
        fitted[name] = array
    if len(dtypes) > 1:
        raise _FormatError("the fitted arrays have different dtypes")
    fitted["converged_"] = _field(stored, "converged_", bool, "fitted.")
    fitted["n_iter_"] = _field(stored, "n_iter_", int, "fitted.")
    if fitted["n_iter_"] < 0:
        raise _FormatError("fitted.n_iter_ must be >= 0")
    fitted["lower_bound_"] = _decode_float(stored["lower_bound_"], "lower_bound_")
    bounds = _field(stored, "lower_bounds_", list, "fitted.")
    fitted["lower_bounds_"] = [_decode_float(v, "lower_bounds_") for v in bounds]
    if "feature_names_in_" in stored:
        names = stored["feature_names_in_"]
        if (
            not isinstance(names, list)
            or len(names) != n_features
            or not all(isinstance(n, str) for n in names)
        ):
            raise _FormatError(
                f"fitted.feature_names_in_ must be a list of {n_features} strings"
            )
        fitted["feature_names_in_"] = np.asarray(names, dtype=object)
    return fitted


def _shapes(n_components, n_features, covariance_type):
    k, d = n_components, n_features
    covariance = {
        "full": (k, d, d),
        "tied": (d, d),
        "diag": (k, d),
        "spherical": (k,),
    }[covariance_type]
    return {
        "weights_": (k,),
        "means_": (k, d),
        "covariances_": covariance,
        "precisions_cholesky_": covariance,
        "precisions_": covariance,
    }


def _decode_float(value, where):
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _FormatError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, str):
        if value not in _NONFINITE:
            raise _FormatError(f"{where}: expected a number, got {value!r}")
        return _NONFINITE[value]
    return float(value)


def _decode_array(stored, where):
    if not isinstance(stored, dict) or stored.get("type") != "ndarray":
        raise _FormatError(f"{where}: expected an array object")
    if set(stored) != {"type", "dtype", "shape", "data"}:
        raise _FormatError(f"{where}: an array has the fields type, dtype, shape, data")
    dtype = stored["dtype"]
    if dtype not in _FLOAT_DTYPES:
        raise _FormatError(f"{where}: dtype must be float32 or float64, got {dtype!r}")
    shape = stored["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) > 3
        or not all(_is_int(n) and n >= 0 for n in shape)
    ):
        raise _FormatError(f"{where}: invalid shape {shape!r}")
    flat = []
    _flatten(stored["data"], shape, flat, where)
    values = [_decode_float(v, where) for v in flat]
    # float64 holds every float32 exactly, so the final cast is exact.
    return np.array(values, dtype=np.float64).reshape(shape).astype(dtype)


def _flatten(data, shape, out, where):
    if not shape:
        out.append(data)
        return
    if not isinstance(data, list) or len(data) != shape[0]:
        raise _FormatError(f"{where}: the data do not match the shape")
    for item in data:
        _flatten(item, shape[1:], out, where)


def _decode_random_state(stored, where):
    keys = stored.get("keys")
    try:
        if set(stored) != {
            "type",
            "bit_generator",
            "keys",
            "pos",
            "has_gauss",
            "cached_gaussian",
        } or not (isinstance(keys, list) and all(_is_int(k) for k in keys)):
            raise ValueError("unexpected fields")
        # numpy does not range-check ``pos``: an invalid one would read out of
        # bounds, so every field is checked here.
        if stored["bit_generator"] != "MT19937" or len(keys) != 624:
            raise ValueError("expected an MT19937 state of 624 keys")
        if not all(0 <= k < 2**32 for k in keys):
            raise ValueError("keys out of range")
        position, has_gauss = stored["pos"], stored["has_gauss"]
        if not (_is_int(position) and 0 <= position <= 624):
            raise ValueError("pos must be an integer in [0, 624]")
        if has_gauss not in (0, 1) or isinstance(has_gauss, bool | float):
            raise ValueError("has_gauss must be 0 or 1")
        random_state = np.random.RandomState()
        random_state.set_state(
            (
                stored["bit_generator"],
                np.array(keys, dtype=np.uint32),
                position,
                has_gauss,
                _decode_float(stored["cached_gaussian"], where),
            )
        )
    except (ValueError, TypeError) as err:
        raise _FormatError(f"{where}: invalid RandomState ({err})") from None
    return random_state
