"""A planted slowdown, for ``clockbench calibrate`` only: it proves the gate catches what it should.

``CLOCKBENCH_PLANT="oms=10%"`` makes the clocked OMS's ``submit`` spin after each call for 10% of
the time the call itself took, in a measuring child process. It is impossible to leave on by
accident:

- only ``clockbench calibrate`` sets it, for its own child processes, together with a one-time
  token (``CLOCKBENCH_CALIBRATION_TOKEN``); a child that finds the plant without a token refuses
  to start (``install_from_env`` raises), and ``clockbench run`` refuses to run with it set;
- it is installed only by the microbenchmark plugin (harness/measure/pairing.py), never by
  importing the component;
- every result it touches says so: the benchmark JSON and each metric record carry
  ``planted``, and ``gate`` refuses to judge a planted run.

The wrapper times calls with ``time.perf_counter_ns`` here in the harness, and spins a loop of
measured CPU cost: the component's code is not edited. The wrapper's own two clock reads add
about 0.1 µs per call on top of the plant; calibrate reports the change it actually measured.
"""

from __future__ import annotations

import importlib
import os
import re
import time
from collections.abc import Callable
from typing import Any

ENV = "CLOCKBENCH_PLANT"
TOKEN_ENV = "CLOCKBENCH_CALIBRATION_TOKEN"
# component -> (module, class, method) of the clocked build that gets slower
TARGETS = {"oms": ("targets.order_management.oms", "OMS", "submit")}
_SPEC = re.compile(r"^\s*([a-z_]+)\s*=\s*(\d+(?:\.\d+)?)\s*%\s*$")


class PlantError(ValueError):
    """A malformed plant, or one found where it does not belong; the message says which."""


def parse(spec: str) -> tuple[str, float]:
    """``"oms=10%"`` -> ("oms", 0.10)."""
    m = _SPEC.match(spec or "")
    if not m:
        raise PlantError(f"--plant: {spec!r} is not COMPONENT=N% (for example oms=10%)")
    comp, pct = m.group(1), float(m.group(2))
    if comp not in TARGETS:
        raise PlantError(f"--plant: no plantable component {comp!r}; known: {', '.join(sorted(TARGETS))}")
    if not 0 < pct <= 500:
        raise PlantError(f"--plant: {pct:g}% is out of range (0 to 500%)")
    return comp, pct / 100


def active() -> str:
    """The plant in this process's environment ('' when none)."""
    return os.environ.get(ENV, "").strip()


def ns_per_iteration(n: int = 1_000_000) -> float:
    """CPU time of one iteration of the spin loop (measured on this process's own CPU clock, so
    other processes' time slices do not count)."""
    t0 = time.thread_time_ns()
    for _ in range(n):
        pass
    return max(1.0, (time.thread_time_ns() - t0) / n)


def slowed(fn: Callable[..., Any], fraction: float, per_iteration_ns: float | None = None) -> Callable[..., Any]:
    """``fn`` followed by CPU work worth ``fraction`` of its *typical* duration: a running
    average of its wall time that ignores calls slower than 4x the average (a call preempted by
    another process must not plant a 10 ms spin: on a shared machine that made a "10%" plant
    add 20-100%). The spin is a plain loop of a measured cost, no clock read inside it."""
    clock = time.perf_counter_ns
    state = [0.0, per_iteration_ns or ns_per_iteration()]  # typical call, cost of one spin iteration

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        out = fn(*args, **kwargs)
        t1 = clock()
        el = t1 - t0
        typ, per = state
        if typ == 0.0:
            typ = float(el)
        elif el < 4 * typ:
            typ += (el - typ) / 32
        n = int(fraction * typ / per)
        for _ in range(n):
            pass
        if n >= 8:  # the loop's cost is re-measured as it runs, so the spin stays in proportion to
            it = (clock() - t1) / n  # the call in any regime (native, or under valgrind)
            if it < 4 * per:
                per += (it - per) / 8
        state[0], state[1] = typ, per
        return out

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    wrapper.clockbench_planted = fraction  # type: ignore[attr-defined]
    return wrapper


def install_from_env() -> str:
    """Install the environment's plant (if any) and return its spec; refuse one without a token."""
    spec = active()
    if not spec:
        return ""
    if not os.environ.get(TOKEN_ENV):
        raise PlantError(f"{ENV}={spec!r} is set outside `clockbench calibrate`: unset it (a planted slowdown "
                         "would make every measurement of this process wrong)")
    comp, fraction = parse(spec)
    mod, cls, meth = TARGETS[comp]
    klass = getattr(importlib.import_module(mod), cls)
    current = getattr(klass, meth)
    if not hasattr(current, "clockbench_planted"):
        setattr(klass, meth, slowed(current, fraction))
    return spec
