"""The measurement producers of ``clockbench run``: each turns one kind of measurement into metric records.

``run`` orchestrates them (which producers the selected criteria need, in which order, into
which run directory); ``report`` only judges and renders what they wrote. One module per family
or kind:

- ``static``: a parse of targets/ for system-time calls;
- ``orders``: the replay check (digests of separate processes) and the EMS slice lateness on real time;
- ``load_balancing``: the connection tracker on real time (CPU per connection, idle-close lateness);
- ``websocket``: heartbeats, LiveClock coarse timers against asyncio sleep loops;
- ``sims``: the real-time producer that runs the three above;
- ``microbench``: tests/benchmarks through pytest-benchmark, paired and interleaved (``pairing``);
- ``instructions``: instruction counts of the CPU-bound microbenchmarks under valgrind;
- ``load``: the interleaved A/B load run with its A/A pair, and the capacity search.

A producer is ``fn(ctx: Context) -> list[MetricRecord]``; it raises ``Unavailable`` (with the
reason) when it cannot run here, and anything else is reported as a failed producer.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.builds import BUILDS, needs_clock

Log = Callable[[str], None]


class Unavailable(Exception):
    """A producer that cannot run on this machine or in this checkout (the message says why)."""


@dataclass
class Context:
    out: Path
    quick: bool
    phase: str
    metrics: set[str]  # metric ids the selected criteria need
    log: Callable[[str], None] = print
    build_flags: dict = field(default_factory=dict)
    nginx: bool = True  # False: the load and capacity producers drive the workers directly (no nginx here)
    targets: dict[str, str] = field(default_factory=dict)  # arm -> URL of the user's own deployment (run --target-*)
    bench_select: str = ""  # a pytest -k expression replacing the microbenchmark default (calibrate uses it)
    env: dict[str, str] | None = None  # extra environment of measuring children (calibrate's plant)

    def child_env(self) -> dict[str, str]:
        """The environment of measuring child processes (a calibration's planted slowdown passes here)."""
        import os

        return {**os.environ, **(self.env or {})}


def alternate(rep: int) -> tuple[str, ...]:
    """The builds in the order repeat ``rep`` runs them: the first goes first on even repeats."""
    return BUILDS if rep % 2 == 0 else tuple(reversed(BUILDS))


@contextmanager
def own_heap() -> Iterator[None]:
    """Run one in-process measurement with the objects that exist before it out of the garbage
    collector's reach: collected, then frozen (``gc.freeze``) until it ends.

    Why: the process's CPU time is the measurement (CPU per tracked connection, per heartbeat
    second), and a full collection scans every tracked object of the process. After the
    load-independent steps the harness's own heap made one such collection cost ~53 ms, and it
    fell in whichever repeat crossed the collector's threshold: in three quick runs of one commit
    the clocked connection tracker's second repeat measured 55-63 µs per connection against 25-36
    in its others (the GC callback's time was 56 ms of that repeat), and alone the step never
    showed it. Frozen, a collection inside the measurement scans only what the build itself
    made since it started, and the other build's garbage is collected before, not in it."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def in_repeats(repeats: int, run: Callable[[str, int], Any]) -> tuple[dict[str, list[Any]], list[tuple[str, ...]]]:
    """``run(build, rep)`` for each build in each of ``repeats`` repeats, the order alternating (A B,
    B A, A B, ...: ``alternate``) so drift of the machine falls on both builds of a repeat alike;
    each run on its own heap (``own_heap``). Returns each build's results in repeat order and the
    order each repeat ran in (for the record: a repeat's two results are a pair)."""
    out: dict[str, list[Any]] = {b: [] for b in BUILDS}
    order: list[tuple[str, ...]] = []
    for rep in range(repeats):
        order.append(alternate(rep))
        for b in order[-1]:
            with own_heap():
                out[b].append(run(b, rep))
    return out, order


def live_clock(build: str) -> Any:
    """A fresh LiveClock for the clocked build, none for the baseline (it reads system time)."""
    from targets.clock import LiveClock

    return LiveClock() if needs_clock(build) else None


class StartFailed(Exception):
    """One of the context managers ``enter_all`` entered at once failed to start: ``key`` says which,
    ``error`` is its own exception (the others that started are stopped by the ExitStack)."""

    def __init__(self, key: str, error: BaseException) -> None:
        super().__init__(f"{key}: {error}")
        self.key, self.error = key, error


def enter_all(es: Any, makers: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Enter every context manager ``makers[key]()`` returns, all at once on threads of their own
    (starting the stacks one after the other spent most of its time waiting on each one's processes),
    and push each one entered onto the ExitStack ``es`` in the order of ``makers``, so every one is
    stopped with the block whatever fails. Nothing is measured while they start. Raises StartFailed
    for the first key (in order) that failed, after all have finished starting."""
    from concurrent.futures import ThreadPoolExecutor

    def enter(maker: Callable[[], Any]) -> tuple[Any, Any]:
        cm = maker()
        return cm, cm.__enter__()

    with ThreadPoolExecutor(max_workers=max(1, len(makers)), thread_name_prefix="start") as pool:
        futures = {key: pool.submit(enter, maker) for key, maker in makers.items()}
    entered: dict[str, Any] = {}
    failed: StartFailed | None = None
    for key, fut in futures.items():
        exc = fut.exception()
        if exc is not None:
            failed = failed or StartFailed(key, exc)
            continue
        cm, value = fut.result()
        es.push(cm.__exit__)
        entered[key] = value
    if failed is not None:
        raise failed
    return entered


class OrdersLoad:
    """``clockbench load --profile orders`` against ``url`` (``args``: its rate or users and duration)
    in a process group of its own, so ``stop()`` ends it whole (Locust's processes with it) whenever
    the measure around it is done: the busy machine of the container soaks, the orders load beside
    the WebSocket window."""

    def __init__(self, url: str, args: list[str], out: Path) -> None:
        import subprocess
        import sys

        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "harness", "load", "--profile", "orders", "--target", url, *args,
               "--warmup", "0", "--out", str(out)]
        self.log = (out / "load.log").open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def stop(self, timeout_s: float = 15.0) -> None:
        import os
        import signal
        import subprocess

        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout_s)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=timeout_s)
        self.log.close()

