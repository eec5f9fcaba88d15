"""Command line: ``python -m emfast {demo,fit,predict}`` (see :mod:`emfast._cli`)."""

import sys

from emfast._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
