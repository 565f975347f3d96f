"""API gateway as teams write it before the plan: sliding-log rate limiters stamped with system time
(in process, or a Redis sorted set shared by the workers), ``asyncio.wait_for`` per downstream call,
and the same middleware flow with ``time.time_ns()`` stamps."""

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
