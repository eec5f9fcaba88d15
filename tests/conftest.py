"""Shared fixtures.

``global_dtype`` and ``global_random_seed`` mirror the fixtures of scikit-learn's
own conftest, which its test modules (run against emfast in
``test_sklearn_gaussian_mixture.py``) expect. Unlike scikit-learn's default, both
float32 and float64 run: float32 is a first-class dtype in emfast.
"""

import os

import numpy as np
import pytest


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def global_dtype(request):
    return request.param


def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        seeds = os.environ.get("EMFAST_TEST_SEEDS", "0,42")
        metafunc.parametrize("global_random_seed", [int(s) for s in seeds.split(",")])


@pytest.fixture
def rng(request):
    """A generator drawn fresh per test (its seed is shown on failure)."""
    seed = np.random.SeedSequence().entropy % (2**32)
    request.node.user_properties.append(("seed", seed))
    return np.random.default_rng(seed)
