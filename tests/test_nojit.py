"""Run the kernel tests again as plain Python (``NUMBA_DISABLE_JIT=1``).

The kernels are ordinary Python functions under numba's decorator; running them
uncompiled checks that they stay valid Python and lets coverage see their bodies.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already running without JIT"
)
def test_kernel_tests_pass_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(HERE / "test_kernels.py"),
            str(HERE / "test_tile_kernels.py"),
            str(HERE / "test_poisson.py"),
            str(HERE / "test_nn_kernels.py"),
            str(HERE / "test_vae_step.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE.parent,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
