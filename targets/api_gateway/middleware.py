"""The gateway middleware on the clock: arrival stamps, limiter decisions and deadlines all on one Clock.

The plan's ``backend/api_gateway/api_clock_middleware.py``. The request flow is the shared
``core.api_gateway.middleware.GatewayCore``; this build gives it the Clock (stamps), GCRA limiters
(through Redis when a client is given, so every worker shares each limit) and budgets on the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from core.api_gateway.middleware import GatewayCore, GatewayRecord
from core.api_gateway.policy import GatewayConfig
from core.api_gateway.protocols import RateLimiter
from targets.clock import Clock

from .rate_limiter import LocalRateLimiter, RedisRateLimiter
from .timeouts import TimeoutManager


def make_limiters(config: GatewayConfig, *, clock: Clock, redis: Redis | None = None,
                  prefix: str = "clockbench:gateway:") -> dict[str, RateLimiter]:  # fmt: skip
    """One limiter per rate-limited route policy: shared through Redis when given, else in process."""
    out: dict[str, RateLimiter] = {}
    for p in config.policies():
        if p.rate is not None:
            out[p.name] = (RedisRateLimiter(p.rate, redis, clock=clock, prefix=prefix) if redis is not None
                           else LocalRateLimiter(p.rate, clock=clock))  # fmt: skip
    return out


class GatewayMiddleware(GatewayCore):
    def __init__(
        self,
        app: Any,
        *,
        config: GatewayConfig,
        clock: Clock,
        redis: Redis | None = None,
        prefix: str = "clockbench:gateway:",
        sink: Callable[[GatewayRecord], None] | None = None,
    ) -> None:
        super().__init__(app, config=config, limiters=make_limiters(config, clock=clock, redis=redis, prefix=prefix),
                         timeouts=TimeoutManager(clock=clock), sink=sink)  # fmt: skip
