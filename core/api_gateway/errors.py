"""The gateway's errors: each names the problem, and maps to one HTTP status (see ``responses``)."""

from __future__ import annotations


class DeadlineExceeded(TimeoutError):
    """A request's budget ran out. Answered 504 (see ``responses.DEADLINE_STATUS`` for why not 408).

    ``stage`` says where: "admission" (nothing was started), "call" (a downstream call was cut),
    "request" (the handler was cut at the deadline).
    """

    def __init__(self, budget_ns: int, stage: str, detail: str = "") -> None:
        self.budget_ns = budget_ns
        self.stage = stage
        super().__init__(detail or f"the request's budget of {budget_ns} ns ran out ({stage})")


class BudgetHeaderError(ValueError):
    """A client's budget header is not a usable budget (answered 400 naming the header)."""

    def __init__(self, header: str, reason: str) -> None:
        self.header = header
        self.reason = reason
        super().__init__(f"{header}: {reason}")


class PolicyError(ValueError):
    """A gateway configuration (route limits and budgets) that cannot be honoured; names the entry."""


class LimiterUnavailable(RuntimeError):
    """The shared limiter (Redis) did not answer: the request is refused with 503, never let through
    unmetered and never a 500."""
