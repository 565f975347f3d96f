"""Errors the command line turns into one clear line instead of a traceback."""


class UsageError(Exception):
    """Bad input from the user: printed as one line naming the problem, exit code 2."""
