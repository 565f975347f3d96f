"""Request budgets on the clock: one absolute deadline per request, handed down to every await.

The plan's ``backend/api_gateway/clock_timeout_manager.py``. A request's deadline is fixed once, at
its arrival (``received_ns + budget_ns`` on the Clock). Everything below the handler runs against
that same deadline: a database call made after 200 ms of a 250 ms budget gets 50 ms, not a fresh
timeout. The whole handler runs in ``scope()``, which cancels it at the deadline (a clock alert, so
a ``TestClock`` decides exactly when), turned into ``DeadlineExceeded`` (answered 504).

Writes are never cut half-way. ``commit(write, reserve_ns)`` starts the write only while at least
``reserve_ns`` of budget remains (else ``DeadlineExceeded`` at "admission": nothing was done). Once
a write has started, the deadline no longer cancels the request: the write finishes and the request
is answered with its result, late if the deadline fell meanwhile (``late_commit``, which the
middleware reports). A timeout therefore never leaves an order written but unacknowledged.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from core.api_gateway.errors import DeadlineExceeded
from targets.clock import Clock, TimeEvent

T = TypeVar("T")
_names = itertools.count(1)


class RequestBudget:
    """One request's deadline on the clock (see the module docstring)."""

    __slots__ = ("_clock", "_deadlines", "received_ns", "budget_ns", "deadline_ns", "commit_reserve_ns", "_commits",
                 "committed", "_scope_task", "late_commit", "expired")  # fmt: skip

    def __init__(self, clock: Clock, received_ns: int, budget_ns: int, commit_reserve_ns: int = 0,
                 deadlines: Deadlines | None = None) -> None:  # fmt: skip
        self._clock = clock
        self._deadlines = deadlines if deadlines is not None else Deadlines(clock)
        self.received_ns = received_ns
        self.budget_ns = budget_ns
        self.commit_reserve_ns = commit_reserve_ns
        self.deadline_ns = received_ns + budget_ns
        self._commits = 0
        self.committed = False  # a write went through: from here on the request must be answered
        self._scope_task: asyncio.Task | None = None
        self.late_commit = False
        self.expired = False

    def remaining_ns(self) -> int:
        return max(0, self.deadline_ns - self._clock.timestamp_ns())

    def scope(self) -> _DeadlineScope:
        return _DeadlineScope(self)

    async def call(self, awaitable: Awaitable[T]) -> T:
        """A downstream call bounded by what is left of the request's budget."""
        if self.committed:
            return await awaitable  # past the point of no return: the answer must go out
        if self._clock.timestamp_ns() >= self.deadline_ns:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            self.expired = True
            raise DeadlineExceeded(self.budget_ns, "call")
        if self._scope_task is not None and self._scope_task is asyncio.current_task():
            return await awaitable  # the request's scope already cancels at the deadline
        async with _DeadlineScope(self, stage="call"):
            return await awaitable

    async def commit(self, write: Callable[[], Awaitable[T]], reserve_ns: int | None = None) -> T:
        """Start ``write`` only with ``reserve_ns`` (default: the route's; at least 1 ns) of budget left; never cut it."""
        reserve = self.commit_reserve_ns if reserve_ns is None else reserve_ns
        if self.deadline_ns - self._clock.timestamp_ns() < max(1, reserve):
            raise DeadlineExceeded(self.budget_ns, "admission", "not enough budget left to start the write")
        self._commits += 1
        try:
            result = await write()
            self.committed = True
        finally:
            self._commits -= 1
        if self._clock.timestamp_ns() > self.deadline_ns:
            self.late_commit = True  # the deadline passed during the write: answered late, never 504
        return result


class Deadlines:
    """The deadlines of every open scope on one clock, behind a single clock alert at the earliest.

    Why: a clock alert per request, set on arrival and cancelled at the answer, cost every request
    several µs (a named timer placed in the clock's wheel and taken out again) for a deadline that
    almost never falls. Here a scope is a heap entry; closing it only marks it. The alert fires at the
    earliest deadline still in the heap: the scopes due by then are cancelled, the closed ones dropped,
    and it is armed again at the first open scope's deadline. Requests of a route share a budget, so
    deadlines arrive in order and the alert fires about once per budget, not once per request. A
    deadline earlier than the armed one (a shorter budget) re-arms it at once: no scope is cut late.
    """

    __slots__ = ("_clock", "_heap", "_seq", "_name", "_armed_ns")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[int, int, _DeadlineScope]] = []
        self._seq = itertools.count()
        self._name = f"gateway-deadlines-{next(_names)}"
        self._armed_ns: int | None = None

    def add(self, scope: _DeadlineScope, deadline_ns: int) -> None:
        heapq.heappush(self._heap, (deadline_ns, next(self._seq), scope))
        if self._armed_ns is None or deadline_ns < self._armed_ns:
            self._arm(deadline_ns)

    def __len__(self) -> int:
        """Scopes in the heap, closed ones included until the alert passes them (a test reads it)."""
        return len(self._heap)

    def _arm(self, deadline_ns: int) -> None:
        clock = self._clock
        if clock.has_timer(self._name):
            clock.cancel_timer(self._name)
        clock.set_time_alert(self._name, deadline_ns, self._fire, allow_past=True)
        self._armed_ns = deadline_ns

    def _fire(self, event: TimeEvent) -> None:
        self._armed_ns = None
        due_ns = max(event.ts_event, self._clock.timestamp_ns())
        heap = self._heap
        while heap and (heap[0][0] <= due_ns or not heap[0][2].open):
            _, _, scope = heapq.heappop(heap)
            if scope.open:
                scope.expire()
        if heap:
            self._arm(heap[0][0])


class _DeadlineScope:
    """``async with``: cancel the task at the budget's deadline unless a commit is running."""

    __slots__ = ("_b", "_stage", "_task", "_cancelled", "open")

    def __init__(self, budget: RequestBudget, stage: str = "request") -> None:
        self._b = budget
        self._stage = stage
        self._task: asyncio.Task | None = None
        self._cancelled = False
        self.open = False

    def expire(self) -> None:
        """The deadline fell (``Deadlines``): cancel the task, unless a write is running or done."""
        self.open = False
        b = self._b
        if b._commits or b.committed:
            return  # a write is running or done: it must be answered, so the deadline is held back
        b.expired = True
        self._cancelled = True
        assert self._task is not None
        self._task.cancel()

    async def __aenter__(self) -> _DeadlineScope:
        b = self._b
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a request budget's scope must be entered inside an asyncio task")
        if b._clock.timestamp_ns() >= b.deadline_ns:
            b.expired = True
            raise DeadlineExceeded(b.budget_ns, "admission")
        self._task = task
        self.open = True
        b._deadlines.add(self, b.deadline_ns)
        if self._stage == "request":
            b._scope_task = task
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        b = self._b
        self.open = False  # its heap entry is dropped when the alert passes it
        if self._stage == "request":
            b._scope_task = None
        task, self._task = self._task, None  # the entry may outlive the request: hold no task
        if self._cancelled and task is not None:
            if task.uncancel() == 0 and exc_type is asyncio.CancelledError:
                raise DeadlineExceeded(b.budget_ns, self._stage) from exc
        return False


class TimeoutManager:
    """Opens each request's budget at its arrival on the clock."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self.deadlines = Deadlines(clock)  # every request's deadline on one clock alert

    def now_ns(self) -> int:
        return self._clock.timestamp_ns()

    def open(self, budget_ns: int, received_ns: int | None = None, commit_reserve_ns: int = 0) -> RequestBudget:
        received = self._clock.timestamp_ns() if received_ns is None else received_ns
        return RequestBudget(self._clock, received, budget_ns, commit_reserve_ns, self.deadlines)
