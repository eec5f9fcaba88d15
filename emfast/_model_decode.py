"""Decoding a parsed model file (see :mod:`emfast._model_io` for the format).

Every field is checked before the estimator is built: names, types, dtypes,
shapes, finite values, then the values themselves (each family's
``check_file_values``) and the constructor parameters, as scikit-learn's
validation and a fit would.
"""

import importlib

import numpy as np

FORMAT = "emfast-model"
FORMAT_VERSION = 1

FLOAT_DTYPES = ("float32", "float64")
NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
# estimator name -> module; every mixture of emfast has model files
ESTIMATORS = {
    "GaussianMixture": "emfast.mixture.gaussian",
    "BayesianGaussianMixture": "emfast.mixture.bayesian",
    "PoissonMixture": "emfast.mixture.poisson",
    "BernoulliMixture": "emfast.mixture.bernoulli",
    "CategoricalMixture": "emfast.mixture.categorical",
}
# constructor parameters that may be arrays, and those that are floats
ARRAY_PARAMS = (
    "weights_init",
    "means_init",
    "precisions_init",
    "mean_prior",
    "covariance_prior",
    "n_levels",
)
_FLOAT_PARAMS = (
    "tol",
    "reg_covar",
    "weight_concentration_prior",
    "mean_precision_prior",
    "degrees_of_freedom_prior",
    "covariance_prior",
)


def estimator_class(name):
    """The emfast estimator class called ``name`` (None if there is none)."""
    if name not in ESTIMATORS:
        return None
    return getattr(importlib.import_module(ESTIMATORS[name]), name)


class FormatError(ValueError):
    """A model file that does not follow the format (message without the path)."""


def model_from_document(document):
    """The estimator a parsed model file describes (FormatError if invalid)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise FormatError(
            f"not an emfast model file (expected a JSON object with "
            f'"format": "{FORMAT}")'
        )
    version = document.get("format_version")
    if not _is_int(version) or version < 1:
        raise FormatError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"the file has format version {version}, this emfast reads up to "
            f"{FORMAT_VERSION}; upgrade emfast"
        )
    estimator = document.get("estimator")
    cls = estimator_class(estimator) if isinstance(estimator, str) else None
    if cls is None:
        raise FormatError(
            f"the file holds a {estimator!r} model; this emfast loads "
            f"{', '.join(ESTIMATORS)}"
        )
    params = _decode_params(_field(document, "params", dict), cls)
    model = cls(**params)
    try:
        model._validate_params()
    except ValueError as err:
        raise FormatError(f"invalid parameter: {err}") from None
    family = model._family()
    fitted = _decode_fitted(_field(document, "fitted", dict), model, family)
    try:  # initial values and priors as a fit checks them
        family.check_file_params(model, fitted["n_features_in_"])
    except ValueError as err:
        raise FormatError(f"invalid parameter: {err}") from None
    for name, value in family.from_file(fitted).items():
        setattr(model, name, value)
    return model


def _field(mapping, name, kind, where=""):
    if name not in mapping:
        raise FormatError(f"missing field {where}{name!r}")
    value = mapping[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FormatError(f"field {where}{name!r} must be a {kind.__name__}")
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_params(stored, estimator_class):
    """Constructor parameters; a parameter missing from the file keeps its default."""
    known = estimator_class().get_params()
    unknown = sorted(set(stored) - set(known))
    if unknown:
        raise FormatError(f"unknown parameter(s): {', '.join(unknown)}")
    params = {}
    for name, value in stored.items():
        where = f"params.{name}"
        if name in _FLOAT_PARAMS and not isinstance(value, dict | None):
            value = _decode_float(value, where)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind == "ndarray" and name in ARRAY_PARAMS:
                value = _decode_array(value, where)
            elif kind == "RandomState" and name == "random_state":
                value = _decode_random_state(value, where)
            else:
                raise FormatError(f"{where}: unexpected object of type {kind!r}")
        elif isinstance(value, list):
            raise FormatError(f"{where}: unexpected list")
        params[name] = value
    return params


def _decode_fitted(stored, model, family):
    """Fitted attributes, checked against the parameters (shapes, dtypes, values).

    Arrays whose names end in ``prior_`` (a variational model's priors) may
    have their own dtype; the others must share one.
    """
    n_features = _field(stored, "n_features_in_", int, "fitted.")
    if n_features < 1:
        raise FormatError("fitted.n_features_in_ must be >= 1")
    shapes = family.file_arrays(model, n_features)
    expected = {*shapes, "n_features_in_", "converged_", "n_iter_"}
    expected |= {"lower_bound_", "lower_bounds_"}
    missing = sorted(expected - set(stored))
    unknown = sorted(set(stored) - expected - {"feature_names_in_"})
    if missing or unknown:
        problem = f"missing {', '.join(missing)}" if missing else ""
        if unknown:
            problem += ("; " if problem else "") + f"unknown {', '.join(unknown)}"
        raise FormatError(f"fitted attributes: {problem}")
    fitted = {"n_features_in_": n_features}
    dtypes = set()
    for name, shape in shapes.items():
        if isinstance(shape, list):  # a list of arrays, one shape each
            arrays = _decode_list(
                stored[name], shape, f"fitted.{name}", model, n_features
            )
            dtypes.update(array.dtype for array in arrays)
            fitted[name] = arrays
            continue
        array = _decode_fitted_array(
            stored[name], shape, f"fitted.{name}", model, n_features
        )
        if not name.endswith("prior_"):
            dtypes.add(array.dtype)
        fitted[name] = array if array.shape else array[()]  # a scalar as a fit has
    if len(dtypes) > 1:
        raise FormatError("the fitted arrays have different dtypes")
    fitted["converged_"] = _field(stored, "converged_", bool, "fitted.")
    fitted["n_iter_"] = _field(stored, "n_iter_", int, "fitted.")
    if fitted["n_iter_"] < 0:
        raise FormatError("fitted.n_iter_ must be >= 0")
    try:
        family.check_file_values(fitted, model)
    except ValueError as err:
        raise FormatError(str(err)) from None
    fitted["lower_bound_"] = _decode_bound(stored["lower_bound_"], "lower_bound_")
    bounds = _field(stored, "lower_bounds_", list, "fitted.")
    fitted["lower_bounds_"] = [_decode_bound(v, "lower_bounds_") for v in bounds]
    if "feature_names_in_" in stored:
        names = stored["feature_names_in_"]
        if (
            not isinstance(names, list)
            or len(names) != n_features
            or not all(isinstance(n, str) for n in names)
        ):
            raise FormatError(
                f"fitted.feature_names_in_ must be a list of {n_features} strings"
            )
        fitted["feature_names_in_"] = np.asarray(names, dtype=object)
    return fitted


def _decode_fitted_array(stored, shape, where, model, n_features):
    """A finite array of the expected shape (``None`` in ``shape``: any length)."""
    array = _decode_array(stored, where)
    if len(array.shape) != len(shape) or any(
        n is not None and n != m for n, m in zip(shape, array.shape)
    ):
        expected = tuple("any" if n is None else n for n in shape)
        raise FormatError(
            f"{where} has shape {array.shape}, expected {expected} "
            f"for {model.n_components} components of {n_features} features"
            + _covariance_words(model)
        )
    if not np.isfinite(array).all():
        raise FormatError(f"{where} holds non-finite values")
    return array


def _decode_list(stored, shapes, where, model, n_features):
    """A list of arrays, one per entry of ``shapes``."""
    if not isinstance(stored, list) or len(stored) != len(shapes):
        raise FormatError(f"{where} must be a list of {len(shapes)} arrays")
    return [
        _decode_fitted_array(item, shape, f"{where}[{i}]", model, n_features)
        for i, (item, shape) in enumerate(zip(stored, shapes))
    ]


def _covariance_words(model):
    covariance_type = getattr(model, "covariance_type", None)
    return f" ({covariance_type!r} covariances)" if covariance_type else ""


def _decode_bound(value, where):
    """A lower bound: finite, or -inf before the first iteration (max_iter=0)."""
    value = _decode_float(value, f"fitted.{where}")
    if np.isnan(value) or value == np.inf:
        raise FormatError(f"fitted.{where} must be a number or -inf, got {value}")
    return value


def _decode_float(value, where):
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FormatError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, str):
        if value not in NONFINITE:
            raise FormatError(f"{where}: expected a number, got {value!r}")
        return NONFINITE[value]
    return float(value)


def _decode_array(stored, where):
    if not isinstance(stored, dict) or stored.get("type") != "ndarray":
        raise FormatError(f"{where}: expected an array object")
    if set(stored) != {"type", "dtype", "shape", "data"}:
        raise FormatError(f"{where}: an array has the fields type, dtype, shape, data")
    dtype = stored["dtype"]
    if dtype not in FLOAT_DTYPES:
        raise FormatError(f"{where}: dtype must be float32 or float64, got {dtype!r}")
    shape = stored["shape"]
    if (
        not isinstance(shape, list)
        or len(shape) > 3
        or not all(_is_int(n) and n >= 0 for n in shape)
    ):
        raise FormatError(f"{where}: invalid shape {shape!r}")
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
        raise FormatError(f"{where}: the data do not match the shape")
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
        raise FormatError(f"{where}: invalid RandomState ({err})") from None
    return random_state
