"""SIGTERM as Ctrl-C for the load commands, so a terminated run still stops what it started.

Python's default SIGTERM ends the process at once, skipping every ``finally``: the Locust processes
and the stack a run started (nginx and uvicorn run in sessions of their own, out of reach of the
terminal's signals) would be left behind. Raising KeyboardInterrupt instead unwinds through the
runner's and the stack's cleanup, exactly as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


def _raise_interrupt(signum: int, _frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one unwind: a second TERM must not cut the cleanup short
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interruptible(func: Any) -> Any:
    """Decorate a command's ``func`` so SIGTERM unwinds it like Ctrl-C."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with terminate_as_interrupt():
            return func(*args, **kwargs)

    return wrapper
