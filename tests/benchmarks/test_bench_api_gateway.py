"""API gateway microbenchmarks: what one rate-limit decision and one request budget cost, both builds
and the anchors (``limits``, ``aiolimiter``: rate limiters with no injectable clock) in the same run.

Each round runs ``OPS`` decisions for a handful of keys on one event loop (``extra_info["ops"]``):
in process (``gateway.limit.local``) and through the real Redis (``gateway.limit.redis``; the
anchors there: ``limits``' moving window and fixed window on redis-py). ``gateway.deadline`` is the
per-request overhead of a budget: open it, enter its scope, make one downstream call through it (the
call itself does nothing); its reference is the bare call. Accuracy (accepted counts and Retry-After
against the configured rate) is measured by ``harness/measure/api_gateway.py`` in the same run of
``clockbench run``; these are the costs.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest
import redis.asyncio as aioredis

from core.api_gateway.rates import Rate

OPS = 200
KEYS = [f"client-{i}" for i in range(8)]
RATE = Rate(100_000, 1_000_000_000)  # high enough that decisions accept however fast rounds run: the common path
BUILDS = ("clocked", "baseline", "limits_moving", "limits_fixed", "aiolimiter")


@pytest.fixture(scope="module")
def loop():  # type: ignore[no-untyped-def]
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


def run(benchmark, loop, group: str, build: str, make_round) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = group
    benchmark.extra_info["build"] = build
    benchmark.extra_info["ops"] = OPS
    counts = []
    benchmark(lambda: counts.append(loop.run_until_complete(make_round())))
    # the postcondition: every round made OPS decisions and accepted some (fails if nothing ran)
    assert counts and all(0 < c <= OPS for c in counts)


def local_limiter(build: str):  # type: ignore[no-untyped-def]
    """An object with ``async decide(key) -> bool``."""
    if build == "clocked":
        from targets.api_gateway import LocalRateLimiter
        from targets.clock import LiveClock

        lim = LocalRateLimiter(RATE, clock=LiveClock())
        return lambda key: lim.check(key)
    if build == "baseline":
        from baselines.api_gateway import LocalRateLimiter as BaselineLocal

        blim = BaselineLocal(RATE)
        return lambda key: blim.check(key)
    if build in ("limits_moving", "limits_fixed"):
        from limits import RateLimitItemPerSecond
        from limits.aio.storage import MemoryStorage
        from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

        item = RateLimitItemPerSecond(RATE.limit)
        strat = (MovingWindowRateLimiter if build == "limits_moving" else FixedWindowRateLimiter)(MemoryStorage())
        return lambda key: strat.hit(item, key)
    from aiolimiter import AsyncLimiter

    limiters: dict[str, AsyncLimiter] = {}

    async def decide(key: str) -> bool:
        al = limiters.get(key)
        if al is None:
            al = limiters[key] = AsyncLimiter(RATE.limit, RATE.period_ns / 1e9)
        if not al.has_capacity():  # a gateway refuses rather than queueing the request
            return False
        await al.acquire()
        return True

    return decide


def _allowed(result: object) -> bool:
    return bool(getattr(result, "allowed", result))


@pytest.mark.parametrize("build", BUILDS)
def test_limit_local(benchmark, loop, build) -> None:
    decide = local_limiter(build)
    keys = itertools.cycle(KEYS)

    async def one_round() -> int:
        n = 0
        for _ in range(OPS):
            n += _allowed(await decide(next(keys)))
        return n

    run(benchmark, loop, "gateway.limit.local", build, one_round)


@pytest.fixture(scope="module")
def redis_env(loop, redis_url):  # type: ignore[no-untyped-def]
    prefix = f"clockbench:bench:gateway:{uuid.uuid4().hex[:8]}:"
    client = aioredis.Redis.from_url(redis_url)
    yield client, prefix, redis_url

    async def clean() -> None:
        keys = [k async for k in client.scan_iter(match=prefix + "*")] + [
            k async for k in client.scan_iter(match="LIMITS" + prefix + "*")
        ]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    loop.run_until_complete(clean())


@pytest.mark.parametrize("build", ("clocked", "baseline", "limits_moving", "limits_fixed"))
def test_limit_redis(benchmark, loop, redis_env, build) -> None:
    client, prefix, url = redis_env
    if build == "clocked":
        from targets.api_gateway import RedisRateLimiter
        from targets.clock import LiveClock

        lim = RedisRateLimiter(RATE, client, clock=LiveClock(), prefix=prefix + "c:")
        decide = lim.check
    elif build == "baseline":
        from baselines.api_gateway import RedisRateLimiter as BaselineRedis

        decide = BaselineRedis(RATE, client, prefix=prefix + "b:").check
    else:
        from limits import RateLimitItemPerSecond
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

        storage = RedisStorage(url.replace("redis://", "async+redis://", 1), implementation="redispy",
                               key_prefix=f"LIMITS{prefix}{build}:")  # fmt: skip
        item = RateLimitItemPerSecond(RATE.limit)
        strat = (MovingWindowRateLimiter if build == "limits_moving" else FixedWindowRateLimiter)(storage)

        async def decide(key: str) -> bool:
            return await strat.hit(item, key)

    keys = itertools.cycle(KEYS)

    async def one_round() -> int:
        n = 0
        for _ in range(OPS):
            n += _allowed(await decide(next(keys)))
        return n

    run(benchmark, loop, "gateway.limit.redis", build, one_round)


@pytest.mark.parametrize("build", ("clocked", "baseline", "reference"))
def test_deadline_overhead(benchmark, loop, build) -> None:
    async def work() -> int:
        return 1

    if build == "clocked":
        from targets.api_gateway import TimeoutManager
        from targets.clock import LiveClock

        tm = TimeoutManager(clock=LiveClock())
    elif build == "baseline":
        from baselines.api_gateway import TimeoutManager as BaselineTimeouts

        tm = BaselineTimeouts()

    async def one_round() -> int:
        n = 0
        for _ in range(OPS):
            if build == "reference":
                n += await work()
                continue
            budget = tm.open(1_000_000_000)
            async with budget.scope():
                n += await budget.call(work())
        return n

    run(benchmark, loop, "gateway.deadline", build, one_round)
