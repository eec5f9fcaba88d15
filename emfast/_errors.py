"""Exceptions shared by the command-line modules."""


class CliError(Exception):
    """An expected failure of a command, reported as one line on stderr."""
