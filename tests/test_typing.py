"""Type hints of the public API: complete, resolvable, and true to the checks.

Every public name of :mod:`emfast` (and the public classes and functions its
results and documentation expose) has annotated parameters and return values,
and ``typing.get_type_hints`` resolves them at run time (no forward reference
to a name that is imported only for type checkers). A public method added
without hints fails here. The ``Literal`` options of the string parameters are
compared with the options the estimators validate, and the hints leave
scikit-learn's ``get_params`` and ``clone`` as they were.
"""

import inspect
import typing

import pytest
from sklearn.base import clone

import emfast
from emfast import datasets
from emfast.mixture.selection import SelectionResult, SelectionTable
from emfast.vae import DivergenceError
from tests.custom_families import EXPONENTIAL

_EXPORTED = [getattr(emfast, name) for name in emfast.__all__ if name != "__version__"]

# public classes reached through emfast's results and API reference
PUBLIC_CLASSES = [
    *(obj for obj in _EXPORTED if inspect.isclass(obj)),
    SelectionResult,
    SelectionTable,
    DivergenceError,
]
PUBLIC_FUNCTIONS = [
    *(obj for obj in _EXPORTED if not inspect.isclass(obj)),
    datasets.load_mnist,
    datasets.load_wine_tutorial,
]
ESTIMATORS = [
    cls for cls in PUBLIC_CLASSES if hasattr(cls, "fit") and hasattr(cls, "get_params")
]

# constructor arguments of the estimators that need one
REQUIRED_ARGUMENTS = {emfast.CustomMixture: {"family": EXPONENTIAL}}


def _own_callables(cls):
    """``{name: function}`` of the public methods and properties emfast defines.

    Public means ``__init__`` or a name without a leading underscore; methods
    inherited from scikit-learn or Python (``get_params``, the metadata-routing
    requests) are documented and typed there. A property stands for its getter.
    Other class attributes (``__slots__`` members, constants) are not callables.
    """
    found = {}
    for name in dir(cls):
        if name.startswith("_") and name != "__init__":
            continue
        owner = next(klass for klass in cls.__mro__ if name in vars(klass))
        if not owner.__module__.startswith("emfast"):
            continue
        member = vars(owner)[name]
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        if isinstance(member, property):
            member = member.fget
        if inspect.isfunction(member):
            found[name] = member
    return found


def _public_callables():
    """``(label, function)`` of every public function and method."""
    pairs = [(function.__name__, function) for function in PUBLIC_FUNCTIONS]
    for cls in PUBLIC_CLASSES:
        for name, function in _own_callables(cls).items():
            pairs.append((f"{cls.__name__}.{name}", function))
    return pairs


def _unannotated(function):
    """Names of the parameters (and ``return``) of ``function`` without a hint."""
    signature = inspect.signature(function)  # follows decorators' __wrapped__
    parameters = list(signature.parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    missing = [p.name for p in parameters if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_every_exported_name_is_a_class_or_a_function():
    # so that the lists above cover all of __all__
    for obj in _EXPORTED:
        assert inspect.isclass(obj) or inspect.isfunction(obj), obj


def test_the_collection_finds_the_estimator_methods():
    # the checks below would pass vacuously if nothing were collected
    expected = {
        "__init__",
        "fit",
        "fit_predict",
        "partial_fit",
        "predict",
        "predict_proba",
        "score",
        "score_samples",
        "sample",
        "bic",
        "aic",
    }
    for cls in ESTIMATORS:
        if cls is not emfast.VAE:
            assert expected <= set(_own_callables(cls)), cls.__name__
    assert {"impute"} <= set(_own_callables(emfast.GaussianMixture))
    assert {"sample_posterior", "predict_proba_interval"} <= set(
        _own_callables(emfast.BayesianGaussianMixture)
    )
    vae = {"__init__", "fit", "partial_fit", "transform", "decode", "reconstruct"}
    vae |= {"sample", "score", "score_samples", "log_likelihood", "coefs_"}
    assert vae <= set(_own_callables(emfast.VAE))
    assert {"statistics_size", "free_parameters"} <= set(
        _own_callables(emfast.ComponentFamily)
    )
    assert {"plot", "to_frame", "rows"} <= set(
        _own_callables(SelectionResult) | _own_callables(SelectionTable)
    )
    assert len(ESTIMATORS) == 7


CALLABLES = _public_callables()


@pytest.mark.parametrize("label, function", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_public_signatures_are_annotated_and_resolve(label, function):
    assert _unannotated(function) == [], f"{label} lacks hints"
    hints = typing.get_type_hints(function)  # raises on a broken forward reference
    names = set(inspect.signature(function).parameters) - {"self", "cls"}
    assert names | {"return"} == set(hints), label


def test_constructors_return_none():
    for cls in ESTIMATORS + [emfast.ComponentFamily, SelectionResult, SelectionTable]:
        assert typing.get_type_hints(cls.__init__)["return"] is type(None), cls


def test_methods_that_return_the_estimator_say_self():
    for cls in ESTIMATORS:
        for name in ("fit", "partial_fit"):
            hint = typing.get_type_hints(getattr(cls, name))["return"]
            assert hint is typing.Self, f"{cls.__name__}.{name}"


def _string_options(constraints):
    """The options of the ``StrOptions`` among a parameter's constraints."""
    if not isinstance(constraints, list):
        return None
    for constraint in constraints:
        if type(constraint).__name__ == "StrOptions":
            return set(constraint.options)
    return None


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_literal_options_are_the_validated_options(cls):
    # a string parameter with a fixed set of options is typed as a Literal of
    # exactly the options scikit-learn's parameter validation accepts
    hints = typing.get_type_hints(cls.__init__)
    checked = 0
    for name, constraints in cls._parameter_constraints.items():
        options = _string_options(constraints)
        if options is None:
            continue
        hint = hints[name]
        assert typing.get_origin(hint) is typing.Literal, f"{cls.__name__}.{name}"
        assert set(typing.get_args(hint)) == options, f"{cls.__name__}.{name}"
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_get_params_and_clone_see_every_constructor_argument(cls):
    estimator = cls(**REQUIRED_ARGUMENTS.get(cls, {}))
    params = estimator.get_params()
    arguments = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert set(params) == arguments
    copy = clone(estimator)
    assert type(copy) is cls
    assert copy.get_params() == params
