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
from harness import builds

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
        return make_limiter(self.build, rate, redis, prefix, self.clock)

    def timeouts(self) -> Any:
        return builds.make("request_timeouts", self.build, clock=self.clock)


class BaselineDriver:
    build = "baseline"
    exact = False

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        return asyncio.run(main())

    async def wait(self, ns: int) -> None:
        await asyncio.sleep(ns / 1e9)

    def limiter(self, rate: Rate, redis: Redis | None, prefix: str = "") -> Any:
        return make_limiter(self.build, rate, redis, prefix, None)

    def timeouts(self) -> Any:
        return builds.make("request_timeouts", self.build)


def make_limiter(build: str, rate: Rate, redis: Redis | None, prefix: str, clock: Any) -> Any:
    """The build's in-process limiter (``redis`` None) or shared one, through the switchboard."""
    if redis is None:
        return builds.make("local_rate_limiter", build, clock=clock, rate=rate)
    return builds.make("rate_limiter", build, clock=clock, rate=rate, redis=redis, prefix=prefix or key_prefix())


def driver(build: str) -> Any:
    return ClockedDriver() if build == "clocked" else BaselineDriver()


async def drop_prefix(redis: Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await redis.delete(*keys)


# --- the exactness scenario, also run in separate processes for the determinism digest --------------

EXACT_RATE = Rate(7, 1_000_000_000, 3)  # 7 per second (an emission interval of 142857142.857... ns), burst 3
EXACT_INTERVAL_NS = 50_000_000  # the client sends 20 per second, well above the limit
EXACT_REQUESTS = 200


async def exact_sequence(clock: Any, limiter: Any, schedule: list[int]) -> list[tuple[int, int, int, int, int]]:
    """Send one request at each offset of ``schedule`` (ns from the clock's start); every decision's figures."""
    start = clock.timestamp_ns()
    out = []
    for offset in schedule:
        clock.advance_time(start + offset)
        d = await limiter.check("client")
        out.append((d.now_ns - start, int(d.allowed), d.remaining, d.reset_ns, d.retry_after_ns))
    return out


def steady_schedule() -> list[int]:
    return [i * EXACT_INTERVAL_NS for i in range(EXACT_REQUESTS)]


def irregular_schedule(seed: int, n: int = 300) -> list[int]:
    import random

    rng = random.Random(seed)
    t, out = 0, []
    for _ in range(n):
        t += rng.choice((0, 1, 999_999, rng.randrange(1, 400_000_000)))
        out.append(t)
    return out


def digest_of(seq: list[tuple[int, ...]]) -> str:
    import hashlib

    return hashlib.sha256(repr(seq).encode()).hexdigest()


def exactness_run(redis_url: str | None, schedule: str = "steady") -> tuple[int, str]:
    """(accepted count, sha256 of every decision) of the clocked limiter on a TestClock."""
    from targets.clock import TestClock

    sched = steady_schedule() if schedule == "steady" else irregular_schedule(int(schedule))

    async def main() -> list[tuple[int, int, int, int, int]]:
        clock = TestClock(START_NS)
        if redis_url is None:
            return await exact_sequence(clock, make_limiter("clocked", EXACT_RATE, None, "", clock), sched)
        redis = Redis.from_url(redis_url)
        prefix = key_prefix()
        try:
            return await exact_sequence(clock, make_limiter("clocked", EXACT_RATE, redis, prefix, clock), sched)
        finally:
            await drop_prefix(redis, prefix)
            await redis.aclose()

    seq = asyncio.run(main())
    return sum(s[1] for s in seq), digest_of(seq)


def live_worker(build: str, redis_url: str, prefix: str, requests: int, rate: str) -> list[list[int]]:
    """One worker process of the shared-limit test: connects, prints "ready", waits for a line on stdin
    (the common start), then sends ``requests`` decisions as fast as it can on the live clock;
    returns [now_ns, allowed] per decision."""
    import sys as _sys

    async def main() -> list[list[int]]:
        redis = Redis.from_url(redis_url)
        try:
            from targets.clock import LiveClock

            lim = make_limiter(build, Rate.parse(rate), redis, prefix, builds.clock_for(build, LiveClock()))
            await redis.ping()
            print("ready", flush=True)
            _sys.stdin.readline()
            out = []
            for _ in range(requests):
                d = await lim.check("shared-client")
                out.append([d.now_ns, int(d.allowed)])
            return out
        finally:
            await redis.aclose()

    return asyncio.run(main())
