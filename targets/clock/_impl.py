"""The one place that decides which implementation of the Clock's hot paths runs.

``_cclock`` (C, built by ``pip install`` when a compiler is there) serves the never-backwards
reads, TestClock's queue and firing loop (``TimerQueue``: a clock keeps the implementation it was
made with), LiveClock's coarse timers (the same queue type, fired by ``fire_live``) and, on Linux,
the timerfd that wakes them (a clock keeps the wake it registered);
``_pure`` and the loops in ``virtual.py``/``live.py`` are the pure-Python twins. Both pass the
same tests (tests/clock runs against each). ``CLOCKBENCH_PURE_CLOCK=1`` forces pure Python.
A built module whose ``SOURCE_HASH`` is not the hash of the ``_cclock.c`` beside it (a stale build
left in place) is refused with a RuntimeWarning: pure Python serves, and ``describe()`` (doctor, each
run's environment) says so with the rebuild command (``_source_hash.py``).

``use("c"|"python")`` switches at run time (tests and A/B benchmarks): the modules that bind the
hot functions register a hook here and are re-bound, so nothing else needs to know.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from . import _pure, _source_hash
from .events import TimeEvent, Timer

ENV_VAR = "CLOCKBENCH_PURE_CLOCK"

_c: ModuleType | None = None  # the C module when built from the source beside it, else None
_c_error: str | None = None  # why the C module is not used
_c_stale = False  # built, but from another _cclock.c (SOURCE_HASH differs): refused, pure Python serves
try:
    from . import _cclock as _built
except ImportError as exc:  # not built: no compiler when installed, or a source checkout
    import importlib.util

    _c_error = (
        "targets/clock/_cclock.c is not compiled (no C compiler when installed?)"
        if importlib.util.find_spec(f"{__package__}._cclock") is None
        else f"it does not load: {exc}"
    )
else:
    _stale_why = _source_hash.mismatch(getattr(_built, "SOURCE_HASH", None))
    if _stale_why is None:
        _c = _built
    else:
        # A stale build runs code that is no longer in the repository (and that no test checked):
        # the pure twin is slower but is the code the tests pass against. Say so, loudly, with the fix.
        _c_stale = True
        _c_error = f"the built {Path(_built.__file__ or '_cclock').name} is stale: {_stale_why}"
        warnings.warn(f"the Clock's C accelerator is not used, pure Python serves: {_c_error}; rebuild: "
                      f"{_source_hash.REBUILD}", RuntimeWarning, stacklevel=2)

name = "python"  # the implementation in use: "c" or "python"
reason = ""  # why, in words
timestamp_ns: Callable[[], int] = _pure.timestamp_ns
utc_now: Callable[[], Any] = _pure.utc_now
set_wall_source: Callable[..., None] = _pure.set_wall_source
new_queue: Callable[[], Any] | None = None  # the C queue and firing loops (TestClock's, LiveClock's coarse timers), or None: the pure ones
# LiveClock's wheel woken by a timerfd (C, Linux), or None: the pure twin uses loop.call_later
wake_fd_new: Callable[[], int] | None = None
wake_fd_arm: Callable[[int, int | None], None] | None = None
_hooks: list[Callable[[], None]] = []


def available() -> list[str]:
    return ["c", "python"] if _c is not None else ["python"]


def _bind_c() -> None:
    assert _c is not None
    from .events import Call

    _c.bind(Timer, Call, Call, TimeEvent)  # both clocks queue the same one-shot Call


def use(which: str) -> None:
    """Switch implementation ("c" or "python"); ValueError if the C one is not built."""
    global name, timestamp_ns, utc_now, set_wall_source, new_queue, wake_fd_new, wake_fd_arm
    if which == "c":
        if _c is None:
            raise ValueError(f"the C clock accelerator is not usable ({_c_error})")
        _bind_c()
        timestamp_ns, utc_now, set_wall_source, new_queue = _c.timestamp_ns, _c.utc_now, _c.set_wall_source, _c.TimerQueue
        wake_fd_new, wake_fd_arm = getattr(_c, "wake_fd_new", None), getattr(_c, "wake_fd_arm", None)
    elif which == "python":
        timestamp_ns, utc_now, set_wall_source, new_queue = _pure.timestamp_ns, _pure.utc_now, _pure.set_wall_source, None
        wake_fd_new = wake_fd_arm = None
    else:
        raise ValueError(f"unknown clock implementation {which!r}: expected 'c' or 'python'")
    name = which
    for hook in _hooks:
        hook()


def on_switch(hook: Callable[[], None]) -> None:
    """Modules that cache a hot function register a re-binding hook (called now and on each switch)."""
    _hooks.append(hook)
    hook()


def describe() -> dict[str, Any]:
    """For ``clockbench doctor`` and each run's environment record."""
    return {
        "implementation": name,
        "reason": reason,
        "c_built": _c is not None or _c_stale,
        "c_stale": _c_stale,
        "c_error": _c_error,
        "fix": _source_hash.REBUILD if _c_stale else "",
        "forced_pure_env": os.environ.get(ENV_VAR, ""),
        # how LiveClock's coarse timers are woken on a selector loop in real time (see live.py)
        "coarse_wake": "timerfd" if wake_fd_arm is not None else "call_later",
    }


def _initial() -> None:
    global reason
    forced = os.environ.get(ENV_VAR, "").strip().lower() not in {"", "0", "false", "no"}
    if forced:
        reason = f"{ENV_VAR}={os.environ[ENV_VAR]} forces pure Python"
    elif _c_stale:
        reason = f"the C accelerator is STALE, not used: {_c_error}"
    elif _c is None:
        reason = f"the C accelerator is not built ({_c_error})"
    else:
        reason = f"the C accelerator is built from this _cclock.c ({_c.SOURCE_HASH})"
    # Deferred until live.py and virtual.py are imported (they call finish_import()).
    _pending[0] = "python" if forced or _c is None else "c"


_pending = ["python"]
_initial()


def finish_import() -> None:
    """Called once by the package __init__ after every module exists: apply the initial choice."""
    use(_pending[0])
