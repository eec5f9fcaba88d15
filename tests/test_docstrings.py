"""The examples in the public docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "emfast._numba",
    "emfast._tabular_io",
    "emfast._model_io",
    "emfast.datasets",
    "emfast.mixture.gaussian",
    "emfast.mixture.bayesian",
    "emfast.mixture.poisson",
    "emfast.mixture.custom",
    "emfast.mixture.custom._component",
    "emfast.vae.estimator",
    "emfast.mixture.selection",
    "emfast.mixture._selection_results",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
