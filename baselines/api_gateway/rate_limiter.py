"""Rate limiters as teams write them before the plan: a sliding log stamped with system time.

The plan's ``rate_limiter_clock.py``, before the plan. ``LocalRateLimiter`` keeps, per key, a
deque of the accepted requests' ``time.monotonic()`` stamps; ``RedisRateLimiter`` keeps them in a
Redis sorted set scored by ``time.time()``: in one MULTI/EXEC it drops the entries older than the
window, adds this request, counts, and reads the oldest; over the limit, it removes its entry again.
The set is in Redis, so the limit is *shared* by every worker (a per-worker log would let N workers
accept N times the limit, which is why teams put it in Redis). Each worker stamps with its own
``time.time()``, so workers whose clocks differ disagree on the window's edge.

A sliding log allows ``limit`` requests in any window of ``period``; it has no separate burst, so a
``Rate`` whose burst differs from its limit is refused (ValueError) rather than silently changed.
``Retry-After`` is when the oldest entry leaves the window.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.api_gateway.errors import LimiterUnavailable
from core.api_gateway.rates import Decision, Rate, check_cost


def _sliding(rate: Rate) -> Rate:
    if rate.burst != rate.limit:
        raise ValueError(f"a sliding log has no separate burst: rate {rate.describe()} needs burst == limit")
    return rate


class LocalRateLimiter:
    """Sliding log per key in this process (a deque of ``time.monotonic()`` stamps)."""

    def __init__(self, rate: Rate, *, max_keys: int = 100_000) -> None:
        self.rate = _sliding(rate)
        self._window = rate.period_ns / 1e9
        self._logs: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def check_now(self, key: str, cost: int = 1) -> Decision:
        if cost != 1:
            check_cost(self.rate, cost)
        now = time.monotonic()
        limit, window = self.rate.limit, self._window
        log = self._logs.get(key)
        if log is None:
            if len(self._logs) >= self._max_keys:
                self._logs = {k: v for k, v in self._logs.items() if v and v[-1] > now - window}
            log = self._logs[key] = deque()
        while log and log[0] <= now - window:
            log.popleft()
        allowed = len(log) + cost <= limit
        if allowed:
            log.extend([now] * cost)
        retry = 0.0 if allowed else log[len(log) + cost - limit - 1] + window - now
        reset = (log[-1] + window - now) if log else 0.0
        return Decision(allowed, limit, max(0, limit - len(log)), max(0, int(reset * 1e9)),
                        max(0, int(retry * 1e9)), int(now * 1e9))  # fmt: skip

    async def check(self, key: str, cost: int = 1) -> Decision:
        return self.check_now(key, cost)


class RedisRateLimiter:
    """Sliding log shared through a Redis sorted set scored by ``time.time()``."""

    def __init__(self, rate: Rate, redis: Redis, *, prefix: str = "clockbench:gateway:") -> None:
        self.rate = _sliding(rate)
        self._redis = redis
        self.prefix = prefix
        self._window = rate.period_ns / 1e9
        self._window_ms = -(-rate.period_ns // 1_000_000)
        self._ids = itertools.count()
        self._tag = f"{os.getpid()}-{id(self):x}"

    async def check(self, key: str, cost: int = 1) -> Decision:
        if cost != 1:
            check_cost(self.rate, cost)
        k = self.prefix + key
        now = time.time()
        members = {f"{now:.6f}-{self._tag}-{next(self._ids)}": now for _ in range(cost)}
        limit, window = self.rate.limit, self._window
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(k, 0, now - window)
                pipe.zadd(k, members)
                pipe.zcard(k)
                pipe.zrange(k, 0, 0, withscores=True)
                pipe.pexpire(k, self._window_ms)
                _, _, count, oldest, _ = await pipe.execute()
            allowed = count <= limit
            if not allowed:
                await self._redis.zrem(k, *members)
        except RedisError as exc:
            raise LimiterUnavailable(f"the shared rate limiter (Redis) failed: {type(exc).__name__}: {exc}") from exc
        retry = 0.0 if allowed else max(0.0, (oldest[0][1] if oldest else now) + window - now)
        used = min(count, limit) if allowed else limit
        # Reset: the newest entry (this one, or the last accepted) leaves the window about one period on.
        return Decision(allowed, limit, max(0, limit - used), self.rate.period_ns, int(retry * 1e9), int(now * 1e9))
