"""Guards of one worker: a loop-stall probe and a body-size limit.

The probe is harness measurement (it reads ``perf_counter``, as the metrics middleware does): the time
from one poll of the event loop's selector to the next is how long something held the loop, so the
worst figure bounds how long any request could block every other one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
from typing import Any

MAX_BODY_BYTES = 64 * 1024  # an order is < 1 KiB; nginx's client_max_body_size sits in front in a stack


class LoopLagProbe:
    """How long the event loop went without polling for I/O: the worst figure since start.

    The loop polls its selector once per iteration, then runs what became ready (I/O callbacks, due
    timers, tasks' steps) and polls again. The time from a poll's return to the next poll is how long
    the loop was held: no other request could be read or answered meanwhile. It is measured around the
    selector's ``select`` (two clock reads per iteration, no wake-ups of its own). Real time: it includes
    the OS not running the worker on a busy machine, as any stall a client sees does.

    Why not a timer that wakes every 5 ms and reports its lateness (as before): 200 wake-ups a second
    per worker cost ~18 ms of CPU a second each on a loaded machine (the wake, not the Python), about a
    tenth of a worker's CPU at the orders benchmark's load; and it saw a stall only as lateness, up to
    5 ms less than it was. A loop without a ``_selector`` (not asyncio's selector loop) falls back to such
    a timer."""

    FALLBACK_PERIOD_S = 0.005

    def __init__(self) -> None:
        self.max_s = 0.0
        self.samples = 0  # loop iterations seen (timer wakes in the fallback)
        self.over_10ms = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._selector: Any = None
        self._handle: asyncio.TimerHandle | None = None
        self._last = 0.0

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._last = time.perf_counter()
        selector = getattr(loop, "_selector", None)
        if selector is None or not callable(getattr(selector, "select", None)):
            self._arm()
            return
        self._selector = selector
        poll, perf = selector.select, time.perf_counter

        def select(timeout: float | None = None) -> Any:
            self._held(perf() - self._last)
            try:
                return poll(timeout)
            finally:
                self._last = perf()

        selector.select = select  # an instance attribute: the loop calls it in place of the class's method

    def _held(self, held_s: float) -> None:
        self.samples += 1
        if held_s > self.max_s:
            self.max_s = held_s
        if held_s > 0.010:
            self.over_10ms += 1

    def _arm(self) -> None:
        assert self._loop is not None
        self._last = self._loop.time() + self.FALLBACK_PERIOD_S
        self._handle = self._loop.call_at(self._last, self._wake)

    def _wake(self) -> None:
        assert self._loop is not None
        self._held(max(0.0, self._loop.time() - self._last))
        self._arm()

    def reset(self) -> dict[str, Any]:
        out = self.view()
        self.max_s, self.samples, self.over_10ms = 0.0, 0, 0
        return out

    def view(self) -> dict[str, Any]:
        return {"max_lag_s": self.max_s, "samples": self.samples, "over_10ms": self.over_10ms,
                "measure": "timer" if self._selector is None else "select"}  # fmt: skip

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._selector is not None:
            with contextlib.suppress(AttributeError):
                del self._selector.select  # the class's method again
            self._selector = None


class CallbackProbe:
    """The longest single event-loop callback, in real time (``wall``) and in this thread's CPU time (``cpu``).

    The lag probe above sees how late the loop woke, which on a busy machine is mostly the OS not running
    the worker at all; a callback's CPU time is the worker's own blocking. Off by default (it wraps every
    callback the loop runs): ``CLOCKBENCH_CALLBACK_PROBE=1`` in a worker's environment turns it on.
    """

    def __init__(self) -> None:
        self.max_wall_s = 0.0
        self.max_cpu_s = 0.0
        self.max_gc_s = 0.0
        self.worst: str = ""
        self._orig: Any = None

    @staticmethod
    def wanted() -> bool:
        return os.environ.get("CLOCKBENCH_CALLBACK_PROBE", "") == "1"

    def install(self) -> None:
        handle = asyncio.events.Handle
        if self._orig is not None:
            return
        self._orig = orig = handle._run
        probe, perf, cpu = self, time.perf_counter, time.thread_time

        def _run(h: Any) -> None:
            w0, c0 = perf(), cpu()
            orig(h)
            wall, used = perf() - w0, cpu() - c0
            if used > probe.max_cpu_s:
                probe.max_cpu_s = used
                probe.worst = _describe(h)
                if used > 0.005:  # a new longest one: say what it was (rare: only a new maximum is logged)
                    logging.getLogger("harness.app").warning(
                        "longest loop callback so far: %.1f ms CPU, %.1f ms real: %s", used * 1e3, wall * 1e3, probe.worst)
            if wall > probe.max_wall_s:
                probe.max_wall_s = wall

        handle._run = _run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """The collector runs inside whichever callback allocated last: its pauses are told apart here."""
        if phase == "start":
            self._gc_t0 = time.thread_time()
            return
        used = time.thread_time() - getattr(self, "_gc_t0", time.thread_time())
        if used > self.max_gc_s:
            self.max_gc_s = used
            if used > 0.005:
                logging.getLogger("harness.app").warning(
                    "longest garbage collection so far: %.1f ms CPU (generation %s, %s collected)",
                    used * 1e3, info.get("generation"), info.get("collected"))  # fmt: skip

    def uninstall(self) -> None:
        if self._orig is not None:
            asyncio.events.Handle._run = self._orig  # type: ignore[method-assign]
            self._orig = None
            if self._on_gc in gc.callbacks:
                gc.callbacks.remove(self._on_gc)

    def reset(self) -> dict[str, Any]:
        out = self.view()
        self.max_wall_s = self.max_cpu_s = self.max_gc_s = 0.0
        self.worst = ""
        return out

    def view(self) -> dict[str, Any]:
        return {"max_wall_s": self.max_wall_s, "max_cpu_s": self.max_cpu_s, "max_gc_s": self.max_gc_s,
                "worst": self.worst}


def _describe(h: Any) -> str:
    """What a loop callback was: a task's coroutine (and a request's method and path, named by the metrics
    middleware), or the callback itself."""
    task = getattr(getattr(h, "_callback", None), "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return f"task {getattr(coro, '__qualname__', coro)!s} ({task.get_name()})"[:200]
    return repr(h)[:200]


class BodyLimit:
    """Pure ASGI middleware: a body larger than ``max_bytes`` is answered 413 (JSON) without being read
    in full, by its Content-Length when given, else as the chunks arrive."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    break  # not a length: counted as the chunks arrive
                if length > self.max_bytes:
                    await _too_large(send, self.max_bytes)
                    return
                # A valid length within the limit: the HTTP parser delivers exactly that many bytes (h11 refuses
                # more), so there is nothing to count; the wrappers below cost every order request a few µs.
                await self.app(scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    reason = f"the body is larger than {limit} bytes (the limit)"
    body = json.dumps({"error": reason, "errors": [{"field": "body", "reason": reason}]}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
