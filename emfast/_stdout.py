"""Standard output for the command line: closed, full or broken, never a traceback.

A command's report goes through :func:`out`; :func:`flush` runs before the
command returns, so that a failed write is seen while it can still be reported
(not in the interpreter's final flush, which would print "Exception ignored").
After a failure :func:`silence` points the descriptor at /dev/null, as Python's
documentation recommends for a broken pipe.
"""

import os
import sys

from emfast._errors import CliError


class StdoutError(CliError):
    """Standard output failed (full disk, closed descriptor)."""


def out(text, required=False):
    """Write ``text`` to standard output.

    A closed standard output (``>&-``) is skipped for messages, as ``print``
    does, and an error when the output is the command's result (``required``).
    """
    if sys.stdout is None:
        if required:
            raise StdoutError("cannot write to standard output: it is closed")
        return
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise
    except OSError as err:
        raise StdoutError(
            f"cannot write to standard output: {err.strerror or err}"
        ) from None


def flush():
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        raise StdoutError(
            f"cannot write to standard output: {err.strerror or err}"
        ) from None


def silence():
    """Point standard output at /dev/null so that the exit flush cannot fail."""
    if sys.stdout is None:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def err(text):
    """Write one line to standard error, if there is one.

    ``print(file=sys.stderr)`` with standard error closed (``2>&-``) would write
    to standard output, into the command's result.
    """
    if sys.stderr is None:
        return
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError):
        pass
