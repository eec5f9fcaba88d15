"""Command line: ``python -m emfast {demo,fit,predict}`` (see :mod:`emfast._cli`).

The console script ``emfast`` calls :func:`main` too; run as a module, the
usage lines name the command ``python -m emfast`` (with the interpreter's name
as it was started, e.g. ``python3 -m emfast``).
"""

import os
import sys

from emfast._cli import main

__all__ = ["main"]


def _module_command():
    python = os.path.basename(sys.executable) or "python"
    return f"{python} -m emfast"


if __name__ == "__main__":
    sys.exit(main(prog=_module_command()))
