"""Shared fixtures.

``global_dtype`` and ``global_random_seed`` mirror the fixtures of scikit-learn's
own conftest, which its test modules (run against emfast in
``test_sklearn_gaussian_mixture.py``) expect. Unlike scikit-learn's default, both
float32 and float64 run: float32 is a first-class dtype in emfast.

Random tests take the ``rng`` fixture: a ``numpy.random.Generator`` seeded
afresh for every test, so that each run tries new data. The seed of a test that
fails is printed in its failure report (a section named "emfast rng seed") and
again in the terminal summary, and is kept in the JUnit properties. To replay a
failure, run the test with that seed::

    EMFAST_TEST_SEED=1234 python -m pytest tests/test_foo.py::test_bar
    python -m pytest tests/test_foo.py::test_bar --emfast-seed=1234

A given seed is used by every test that takes ``rng`` (the option wins over the
variable); the header of the run says which seed is fixed.
"""

import os

import numpy as np
import pytest

SEED_VARIABLE = "EMFAST_TEST_SEED"
SEED_SECTION = "emfast rng seed"
_failed_seeds = []


def pytest_addoption(parser):
    parser.addoption(
        "--emfast-seed",
        type=int,
        default=None,
        help=f"seed of the rng fixture in every test (default: ${SEED_VARIABLE}, "
        "else a fresh seed per test)",
    )


def _fixed_seed(config):
    """The seed the run was asked to use, or None for fresh seeds."""
    seed = config.getoption("--emfast-seed")
    if seed is None and os.environ.get(SEED_VARIABLE, "").strip():
        try:
            seed = int(os.environ[SEED_VARIABLE])
        except ValueError:
            raise pytest.UsageError(
                f"{SEED_VARIABLE} must be an integer, got {os.environ[SEED_VARIABLE]!r}"
            ) from None
    if seed is not None and not 0 <= seed < 2**32:
        raise pytest.UsageError(f"the rng seed must be in [0, 2**32), got {seed}")
    return seed


def pytest_configure(config):
    _fixed_seed(config)  # a bad seed stops the run before any test


def pytest_report_header(config):
    seed = _fixed_seed(config)
    if seed is None:
        return "emfast rng fixture: a fresh seed per test (printed on failure)"
    return f"emfast rng fixture: seed {seed} in every test"


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def global_dtype(request):
    return request.param


def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        seeds = os.environ.get("EMFAST_TEST_SEEDS", "0,42")
        metafunc.parametrize("global_random_seed", [int(s) for s in seeds.split(",")])


@pytest.fixture
def rng(request):
    """A generator seeded per test; the seed is reported if the test fails."""
    seed = _fixed_seed(request.config)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**32))
    request.node.emfast_seed = seed
    request.node.user_properties.append(("seed", seed))
    return np.random.default_rng(seed)


def _replay_hint(seed):
    return (
        f"rng seed {seed}; replay with {SEED_VARIABLE}={seed} (or --emfast-seed={seed})"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Add the rng seed to the report of a failed setup, call or teardown."""
    outcome = yield
    report = outcome.get_result()
    seed = getattr(item, "emfast_seed", None)
    if seed is not None and report.failed:
        report.sections.append((SEED_SECTION, _replay_hint(seed)))


def pytest_runtest_logreport(report):
    """Collect the seeds of failed tests from their reports: with pytest-xdist
    the reports (with their sections) reach the controlling process, which
    writes the summary."""
    if report.failed:
        for title, hint in report.sections:
            if title == SEED_SECTION:
                _failed_seeds.append((report.nodeid, hint))


def pytest_terminal_summary(terminalreporter):
    """List the seeds of the failed tests (also shown with ``--tb=no``)."""
    if not _failed_seeds:
        return
    terminalreporter.section(SEED_SECTION + "s of failed tests")
    for nodeid, hint in _failed_seeds:
        terminalreporter.write_line(f"{nodeid}: {hint}")
