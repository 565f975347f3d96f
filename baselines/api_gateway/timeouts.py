"""Request timeouts as teams write them before the plan: ``asyncio.wait_for`` around each call.

The plan's ``clock_timeout_manager.py``, before the plan. The route's timeout is applied to every
downstream call separately, each with a fresh full timeout, so a handler making three calls may take
up to three times its budget; nothing bounds the handler as a whole. Writes are not wrapped in a
timeout (cancelling a half-sent write is the well-known way to lose one), so they always finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from core.api_gateway.errors import DeadlineExceeded

T = TypeVar("T")


class RequestBudget:
    __slots__ = ("received_ns", "budget_ns", "commit_reserve_ns", "_start", "_timeout_s", "committed", "late_commit",
                 "expired")  # fmt: skip

    def __init__(self, received_ns: int, budget_ns: int, commit_reserve_ns: int = 0) -> None:
        self.received_ns = received_ns
        self.budget_ns = budget_ns
        self.commit_reserve_ns = commit_reserve_ns  # kept for the interface; the baseline checks no reserve
        self._start = time.monotonic()
        self._timeout_s = budget_ns / 1e9
        self.committed = False
        self.late_commit = False
        self.expired = False

    def remaining_ns(self) -> int:
        return max(0, self.budget_ns - int((time.monotonic() - self._start) * 1e9))

    def scope(self) -> Any:
        return contextlib.nullcontext()  # async-capable: the handler as a whole is not bounded

    async def call(self, awaitable: Awaitable[T]) -> T:
        if self.committed:
            return await awaitable  # after a write the answer must go out: no timeout can undo it
        try:
            return await asyncio.wait_for(awaitable, self._timeout_s)
        except TimeoutError:
            self.expired = True
            raise DeadlineExceeded(self.budget_ns, "call") from None

    async def commit(self, write: Callable[[], Awaitable[T]], reserve_ns: int | None = None) -> T:
        result = await write()
        self.committed = True
        self.late_commit = time.monotonic() - self._start > self._timeout_s
        return result


class TimeoutManager:
    def now_ns(self) -> int:
        return time.time_ns()

    def open(self, budget_ns: int, received_ns: int | None = None, commit_reserve_ns: int = 0) -> RequestBudget:
        return RequestBudget(time.time_ns() if received_ns is None else received_ns, budget_ns, commit_reserve_ns)
