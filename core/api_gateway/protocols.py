"""The gateway family's Protocols: what the middleware and the service rely on, in both builds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar, runtime_checkable

from .rates import Decision, Rate

T = TypeVar("T")


@runtime_checkable
class RateLimiter(Protocol):
    """Decides whether one request of ``key`` fits its rate now. In process or shared through Redis."""

    rate: Rate

    async def check(self, key: str, cost: int = 1) -> Decision: ...


@runtime_checkable
class RequestBudget(Protocol):
    """One request's time budget, handed down to every await below the handler.

    ``call`` bounds a downstream call (database, Redis) by the budget; ``commit`` runs a write that
    must not be cut half-way: it starts only with ``reserve_ns`` of budget left, and once started it
    finishes and is acknowledged (never "written but answered 504")."""

    received_ns: int
    budget_ns: int
    commit_reserve_ns: int  # the route's reserve, used when ``commit`` is given none

    def remaining_ns(self) -> int: ...
    async def call(self, awaitable: Awaitable[T]) -> T: ...
    async def commit(self, write: Callable[[], Awaitable[T]], reserve_ns: int | None = None) -> T: ...
    def scope(self) -> Any: ...  # async context manager around the whole handler


@runtime_checkable
class TimeoutManager(Protocol):
    """Opens a request's budget at its arrival (the plan's clock_timeout_manager)."""

    def open(self, budget_ns: int, received_ns: int | None = None, commit_reserve_ns: int = 0) -> RequestBudget: ...
    def now_ns(self) -> int: ...


# The budget of the request being served, for code below the handler (persistence, caches) that is
# not handed it explicitly. None outside a gateway-managed request.
current_budget: ContextVar[RequestBudget | None] = ContextVar("clockbench_request_budget", default=None)


async def within_budget(awaitable: Awaitable[T]) -> T:
    """Await a downstream call under the current request's budget (or plainly, outside a request)."""
    budget = current_budget.get()
    if budget is None:
        return await awaitable
    return await budget.call(awaitable)


async def commit_within_budget(write: Callable[[], Awaitable[T]], reserve_ns: int | None = None) -> T:
    """Run a write as the current request's commit (see ``RequestBudget.commit``; ``None``: the
    route's reserve), or plainly outside a gateway-managed request."""
    budget = current_budget.get()
    if budget is None:
        return await write()
    return await budget.commit(write, reserve_ns)
