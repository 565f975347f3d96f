"""The gateway middleware as teams write it before the plan: ``time.time_ns()`` stamps, sliding-log
limiters stamped with system time, ``asyncio.wait_for`` per downstream call.

The plan's ``api_clock_middleware.py``, before the plan. Same request flow as the clocked build
(``core.api_gateway.middleware.GatewayCore``), other parts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from core.api_gateway.middleware import GatewayCore, GatewayRecord
from core.api_gateway.policy import GatewayConfig
from core.api_gateway.protocols import RateLimiter

from .rate_limiter import LocalRateLimiter, RedisRateLimiter
from .timeouts import TimeoutManager


def make_limiters(config: GatewayConfig, *, redis: Redis | None = None,
                  prefix: str = "clockbench:gateway:") -> dict[str, RateLimiter]:  # fmt: skip
    out: dict[str, RateLimiter] = {}
    for p in config.policies():
        if p.rate is not None:
            out[p.name] = RedisRateLimiter(p.rate, redis, prefix=prefix) if redis is not None else LocalRateLimiter(p.rate)
    return out


class GatewayMiddleware(GatewayCore):
    def __init__(
        self,
        app: Any,
        *,
        config: GatewayConfig,
        redis: Redis | None = None,
        prefix: str = "clockbench:gateway:",
        sink: Callable[[GatewayRecord], None] | None = None,
    ) -> None:
        super().__init__(app, config=config, limiters=make_limiters(config, redis=redis, prefix=prefix),
                         timeouts=TimeoutManager(), sink=sink)  # fmt: skip
