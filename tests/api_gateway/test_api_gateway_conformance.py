"""One conformance suite for both builds of the API gateway: the limiter's and the budget's semantics.

Each test runs on the clocked build (TestClock, exact) and on the baseline (real time, short
periods); the in-process and the Redis limiter alike. What differs by design (the GCRA's exact
Retry-After, the budget handed down) is tested in test_api_gateway_clocked.py.
"""

from __future__ import annotations

import asyncio

import pytest
from gwkit import drop_prefix, key_prefix
from redis.asyncio import Redis

from core.api_gateway.errors import DeadlineExceeded, LimiterUnavailable
from core.api_gateway.http import ratelimit_headers
from core.api_gateway.protocols import RateLimiter, RequestBudget, TimeoutManager
from core.api_gateway.rates import Rate

MS = 1_000_000


def with_limiter(drv, store, rate, body):  # type: ignore[no-untyped-def]
    """Run ``body(limiter)`` on a fresh limiter of the driver's build (Redis keys removed afterwards)."""

    async def main():  # type: ignore[no-untyped-def]
        redis = Redis.from_url(store) if store else None
        prefix = key_prefix()
        try:
            limiter = drv.limiter(rate, redis, prefix)
            assert isinstance(limiter, RateLimiter)
            return await body(limiter)
        finally:
            if redis is not None:
                await drop_prefix(redis, prefix)
                await redis.aclose()

    return drv.run(main)


def test_a_burst_is_accepted_then_refused_with_a_retry_after(drv, store) -> None:
    rate = Rate(5, 400 * MS)

    async def body(lim):  # type: ignore[no-untyped-def]
        return [await lim.check("client-a") for _ in range(7)]

    ds = with_limiter(drv, store, rate, body)
    assert [d.allowed for d in ds] == [True] * 5 + [False] * 2
    assert [d.remaining for d in ds[:5]] == [4, 3, 2, 1, 0]
    assert all(d.limit == 5 for d in ds)
    refused = ds[5]
    assert 0 < refused.retry_after_ns <= rate.period_ns
    headers = dict(ratelimit_headers(refused))
    assert headers[b"retry-after"] == b"1"  # whole seconds, rounded up, at least 1
    assert int(headers[b"x-retry-after-ns"]) == refused.retry_after_ns
    assert headers[b"ratelimit-remaining"] == b"0" and headers[b"ratelimit-limit"] == b"5"


def test_waiting_the_retry_after_lets_the_next_request_through(drv, store) -> None:
    rate = Rate(3, 300 * MS)

    async def body(lim):  # type: ignore[no-untyped-def]
        for _ in range(3):
            assert (await lim.check("k")).allowed
        refused = await lim.check("k")
        assert not refused.allowed
        # the clocked build is exact; the baseline's real time gets a few ms of slack
        await drv.wait(refused.retry_after_ns + (0 if drv.exact else 5 * MS))
        return await lim.check("k")

    assert with_limiter(drv, store, rate, body).allowed


def test_keys_are_limited_independently(drv, store) -> None:
    async def body(lim):  # type: ignore[no-untyped-def]
        a = [(await lim.check("a")).allowed for _ in range(3)]
        b = [(await lim.check("b")).allowed for _ in range(3)]
        return a, b

    a, b = with_limiter(drv, store, Rate(2, 10_000 * MS), body)
    assert a == b == [True, True, False]


def test_a_cost_the_limit_can_never_pass_is_refused_as_an_error(drv, store) -> None:
    async def body(lim):  # type: ignore[no-untyped-def]
        with pytest.raises(ValueError, match="exceeds the burst"):
            await lim.check("k", cost=3)
        with pytest.raises(ValueError, match="cost must be an int > 0"):
            await lim.check("k", cost=0)
        return await lim.check("k", cost=2)

    assert with_limiter(drv, store, Rate(2, 1000 * MS), body).remaining == 0


def test_a_shared_limiter_that_cannot_reach_redis_says_so(drv) -> None:
    async def main():  # type: ignore[no-untyped-def]
        redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
        try:
            with pytest.raises(LimiterUnavailable, match="Redis"):
                await drv.limiter(Rate(2, 1000 * MS), redis).check("k")
        finally:
            await redis.aclose()

    drv.run(main)


# --- budgets ---------------------------------------------------------------------------------


def test_a_call_within_its_budget_returns_its_result(drv) -> None:
    async def main():  # type: ignore[no-untyped-def]
        tm = drv.timeouts()
        assert isinstance(tm, TimeoutManager)
        budget = tm.open(200 * MS)
        assert isinstance(budget, RequestBudget)
        assert 0 < budget.remaining_ns() <= 200 * MS

        async def quick() -> str:
            await drv.wait(10 * MS)
            return "done"

        async with budget.scope():
            return await budget.call(quick())

    assert drv.run(main) == "done"


def test_a_call_outliving_the_budget_is_cut_with_deadline_exceeded(drv) -> None:
    async def main():  # type: ignore[no-untyped-def]
        budget = drv.timeouts().open(50 * MS)
        with pytest.raises(DeadlineExceeded):
            async with budget.scope():
                await budget.call(drv.wait(5_000 * MS))
        return budget

    assert drv.run(main).expired


def test_a_started_write_always_completes_and_is_answered(drv) -> None:
    """Nothing half-done: a write that outlives the budget is neither cut nor answered as a timeout."""
    written: list[str] = []

    async def main():  # type: ignore[no-untyped-def]
        budget = drv.timeouts().open(30 * MS)

        async def write() -> str:
            await drv.wait(80 * MS)
            written.append("order-1")
            return "order-1"

        async with budget.scope():
            result = await budget.commit(write)
            await asyncio.sleep(0)  # a later await in the handler is not cut either
        return result, budget

    result, budget = drv.run(main)
    assert result == "order-1" and written == ["order-1"]
    assert budget.committed and budget.late_commit
