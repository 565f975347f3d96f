"""Drivers that run the gateway conformance suite on either build.

The clocked build runs on a ``TestClock`` inside ``run_virtual`` (time jumps when every task waits,
so waits are exact and instant); the baseline reads system time, so it runs on a real event loop
and waits really pass (its tests use short periods and assert only what real time allows).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from core.api_gateway.rates import Rate

START_NS = 1_764_000_000_123_456_789  # an arbitrary epoch time with every digit in use
_prefixes = itertools.count()


def key_prefix() -> str:
    """A Redis key prefix of this test process only, so parallel helpers and runs never share keys."""
    return f"clockbench:test:gateway:{os.getpid()}:{next(_prefixes)}:"


class ClockedDriver:
    build = "clocked"
    exact = True

    def __init__(self) -> None:
        from targets.clock import TestClock

        self.clock = TestClock(START_NS)

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        from targets.clock import run_virtual

        async def wrapped() -> Any:
            return await main()

        return run_virtual(wrapped(), self.clock)

    async def wait(self, ns: int) -> None:
        await self.clock.sleep(ns)

    def limiter(self, rate: Rate, redis: Redis | None, prefix: str = "") -> Any:
        from targets.api_gateway import LocalRateLimiter, RedisRateLimiter

        if redis is None:
            return LocalRateLimiter(rate, clock=self.clock)
        return RedisRateLimiter(rate, redis, clock=self.clock, prefix=prefix or key_prefix())

    def timeouts(self) -> Any:
        from targets.api_gateway import TimeoutManager

        return TimeoutManager(clock=self.clock)


class BaselineDriver:
    build = "baseline"
    exact = False

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        return asyncio.run(main())

    async def wait(self, ns: int) -> None:
        await asyncio.sleep(ns / 1e9)

    def limiter(self, rate: Rate, redis: Redis | None, prefix: str = "") -> Any:
        from baselines.api_gateway import LocalRateLimiter, RedisRateLimiter

        if redis is None:
            return LocalRateLimiter(rate)
        return RedisRateLimiter(rate, redis, prefix=prefix or key_prefix())

    def timeouts(self) -> Any:
        from baselines.api_gateway import TimeoutManager

        return TimeoutManager()


def driver(build: str) -> Any:
    return ClockedDriver() if build == "clocked" else BaselineDriver()


async def drop_prefix(redis: Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await redis.delete(*keys)
