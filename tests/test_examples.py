"""Every example script runs (small sizes, Agg backend) and writes its figures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))

pytest.importorskip("matplotlib")


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_writes_its_figures(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLES,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(tmp_path.glob("*.png"))
    assert written, result.stdout
    for path in written:
        assert path.stat().st_size > 10_000, path  # a real picture, not empty
        assert f"wrote {path}" in result.stdout
