"""The ``rng`` fixture's seed is in a failure's log, and replays the failure."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FAILING_TEST = """
def test_draws(rng):
    print("draw", rng.integers(2**62))
    assert False
"""


def _run(directory, *args, seed_variable=None):
    env = {"PATH": "", "EMFAST_TEST_SEED": seed_variable or ""}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # the test fails
    return result.stdout


@pytest.fixture
def failing_suite(tmp_path):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_fails.py").write_text(FAILING_TEST)
    return tmp_path


def _seed_and_draw(output):
    seeds = set(re.findall(r"rng seed (\d+); replay with EMFAST_TEST_SEED=\1", output))
    draws = re.findall(r"^draw (\d+)$", output, flags=re.MULTILINE)
    assert len(seeds) == 1 and len(draws) == 1, output
    return int(seeds.pop()), int(draws[0])


def test_failure_report_prints_the_seed_and_the_seed_replays_it(failing_suite):
    seed, draw = _seed_and_draw(_run(failing_suite, "-q"))
    # the seed is also in the terminal summary when tracebacks are off
    assert re.search(
        r"test_fails.py::test_draws: rng seed \d+; replay with EMFAST_TEST_SEED",
        _run(failing_suite, "--tb=no"),
    )
    replayed = _run(failing_suite, seed_variable=str(seed))  # with the header
    assert _seed_and_draw(replayed) == (seed, draw)
    assert f"seed {seed} in every test" in replayed
    by_option = _run(failing_suite, "-q", f"--emfast-seed={seed}")
    assert _seed_and_draw(by_option) == (seed, draw)


def test_the_seed_summary_comes_through_parallel_workers(failing_suite):
    pytest.importorskip("xdist")
    output = _run(failing_suite, "-n", "2", "--tb=no")
    assert re.search(
        r"test_fails.py::test_draws: rng seed \d+; replay with EMFAST_TEST_SEED", output
    ), output


def test_a_bad_seed_is_a_usage_error(failing_suite):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=failing_suite,
        env={"PATH": "", "EMFAST_TEST_SEED": "twelve"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 4  # pytest's usage error
    assert "EMFAST_TEST_SEED must be an integer" in result.stderr
