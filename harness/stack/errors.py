"""The one error type of the stack manager: a message for the user, never a traceback."""


class StackError(RuntimeError):
    """Something the stack cannot do (port taken, nginx missing, service unreachable), said plainly."""
