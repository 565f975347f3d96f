"""Progress lines of long commands (run, calibrate): the time so far, then the message."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def timed_log(t0: float) -> Callable[[str], None]:
    """``[  12.3s] message`` lines, ``t0`` a ``time.monotonic()`` start, each written in one piece:
    the websocket step logs from a thread per build, and ``print``'s separate write of the newline
    let two builds' lines run together."""

    def log(s: str) -> None:
        sys.stdout.write(f"[{time.monotonic() - t0:6.1f}s] {s}\n")
        sys.stdout.flush()

    return log
