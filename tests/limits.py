"""Run code in a child Python with an address-space limit, for blow-up tests.

A regression that tries to allocate gigabytes then fails with MemoryError in
the child (a failed test) instead of exhausting the machine running the suite.
"""

import os
import resource
import subprocess
import sys
from pathlib import Path

import emfast

# numba, scikit-learn and a small fit fit in well under 1 GB of address space;
# the allocations these tests guard against are tens of gigabytes.
ADDRESS_SPACE_LIMIT = 1536 * 2**20


def _limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_limited(args, *, cwd, stdin=None, timeout=180):
    """``python *args`` under the limit; the CompletedProcess (text output)."""
    env = dict(os.environ, PYTHONPATH=str(Path(emfast.__file__).parent.parent))
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_address_space,
    )
