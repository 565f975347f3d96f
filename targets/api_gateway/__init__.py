"""API gateway on the clock: GCRA rate limiters (in process and shared through Redis), request budgets
as absolute deadlines on the clock, and the timing middleware (the plan's backend/api_gateway)."""

from core.api_gateway.protocols import RateLimiter, RequestBudget, TimeoutManager as TimeoutManagerProtocol

from .middleware import GatewayMiddleware, make_limiters
from .rate_limiter import LocalRateLimiter, RedisRateLimiter
from .timeouts import TimeoutManager

__all__ = [
    "GatewayMiddleware",
    "LocalRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "RequestBudget",
    "TimeoutManager",
    "TimeoutManagerProtocol",
    "make_limiters",
]
