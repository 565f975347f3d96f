"""What only the clocked build promises, exactly, under a TestClock; and the baseline's contrast.

Exactness: a client sending faster than the limit gets exactly the GCRA's count accepted (a closed
form, independent of the implementation), the same decision sequence in every run and process, and
the Redis limiter decides exactly as the in-process one. Budgets: one deadline handed down.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gwkit import (
    EXACT_INTERVAL_NS,
    EXACT_RATE,
    EXACT_REQUESTS,
    START_NS,
    drop_prefix,
    exactness_run,
    key_prefix,
)
from redis.asyncio import Redis

from core.api_gateway.errors import DeadlineExceeded
from core.api_gateway.rates import Rate, expected_accepted
from targets.api_gateway import LocalRateLimiter, RedisRateLimiter, TimeoutManager
from targets.clock import TestClock, run_virtual

MS = 1_000_000
HERE = Path(__file__).parent


@pytest.fixture(params=["local", "redis"])
def url(request):  # type: ignore[no-untyped-def]
    return None if request.param == "local" else request.getfixturevalue("redis_url")


def test_a_client_above_the_limit_gets_exactly_the_allowed_count(url) -> None:
    accepted, digest = exactness_run(url)
    last = (EXACT_REQUESTS - 1) * EXACT_INTERVAL_NS
    assert accepted == expected_accepted(EXACT_RATE, last) == 3 + 69
    assert accepted < EXACT_REQUESTS  # the client really was above the limit
    assert len(digest) == 64


def _in_subprocess(url: str | None, schedule: str) -> str:
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); from gwkit import exactness_run; "
            f"print(*exactness_run({url!r}, {schedule!r}))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip()


def test_the_decision_sequence_is_the_same_in_separate_processes(url) -> None:
    first, second = _in_subprocess(url, "11"), _in_subprocess(url, "11")
    assert first == second and len(first.split()[1]) == 64 and int(first.split()[0]) > 0
    assert _in_subprocess(url, "12") != first  # the digest does see the schedule


def test_the_redis_limiter_decides_exactly_as_the_in_process_one(redis_url) -> None:
    for seed in ("3", "4"):
        assert exactness_run(redis_url, seed) == exactness_run(None, seed)


@pytest.mark.parametrize("start", [START_NS, 4_000_000_000_123_456_789, 999])
def test_retry_after_is_exact_to_the_nanosecond(url, start) -> None:
    rate = Rate(3, 1_000 * MS, 2)  # an emission interval of 333333333.33... ns

    async def main() -> tuple[bool, bool]:
        clock = TestClock(start)
        redis = Redis.from_url(url) if url else None
        prefix = key_prefix()
        try:
            lim = (RedisRateLimiter(rate, redis, clock=clock, prefix=prefix) if redis
                   else LocalRateLimiter(rate, clock=clock))  # fmt: skip
            assert (await lim.check("k")).allowed and (await lim.check("k")).allowed
            refused = await lim.check("k")
            assert not refused.allowed and refused.retry_after_ns == 333_333_334  # ceil(1e9 / 3)
            clock.advance_time(start + refused.retry_after_ns - 1)
            early = (await lim.check("k")).allowed
            clock.advance_time(start + refused.retry_after_ns)
            on_time = await lim.check("k")
            return early, on_time.allowed
        finally:
            if redis:
                await drop_prefix(redis, prefix)
                await redis.aclose()

    assert asyncio.run(main()) == (False, True)


def test_too_large_a_rate_for_exact_arithmetic_is_refused() -> None:
    with pytest.raises(ValueError, match="2\\*\\*53"):
        Rate(10_000_000, 1_000 * MS)
    assert Rate.parse("100/1m burst 20") == Rate(100, 60_000 * MS, 20)
    with pytest.raises(ValueError, match="LIMIT/PERIOD"):
        Rate.parse("100 per minute")


# --- budgets: one deadline, handed down -----------------------------------------------------------


def test_the_remaining_budget_is_handed_down_not_a_fresh_timeout() -> None:
    clock = TestClock(START_NS)

    async def main() -> tuple[int, int]:
        budget = TimeoutManager(clock=clock).open(100 * MS)
        done_at = []
        with pytest.raises(DeadlineExceeded):
            async with budget.scope():
                await budget.call(clock.sleep(60 * MS))
                done_at.append(clock.timestamp_ns())
                assert budget.remaining_ns() == 40 * MS
                await budget.call(clock.sleep(60 * MS))  # only 40 ms are left: cut at the deadline
        return done_at[0], clock.timestamp_ns()

    first, cut = run_virtual(main(), clock)
    assert first == START_NS + 60 * MS and cut == START_NS + 100 * MS


def test_a_write_starts_only_with_its_reserve_left() -> None:
    clock = TestClock(START_NS)
    started: list[int] = []

    async def write() -> str:
        started.append(clock.timestamp_ns())
        return "w"

    async def main() -> str:
        budget = TimeoutManager(clock=clock).open(50 * MS)
        async with budget.scope():
            await clock.sleep(35 * MS)
            with pytest.raises(DeadlineExceeded, match="not enough budget") as exc:
                await budget.commit(write, reserve_ns=20 * MS)  # 15 ms left < 20 ms reserve: nothing done
            assert exc.value.stage == "admission" and started == []
            return await budget.commit(write, reserve_ns=15 * MS)  # exactly enough

    assert run_virtual(main(), clock) == "w" and started == [START_NS + 35 * MS]


def test_a_deadline_falling_during_a_write_is_held_until_it_is_answered() -> None:
    clock = TestClock(START_NS)

    async def main():  # type: ignore[no-untyped-def]
        budget = TimeoutManager(clock=clock).open(50 * MS)
        async with budget.scope():
            result = await budget.commit(lambda: clock.sleep(80 * MS))
            await budget.call(clock.sleep(5 * MS))  # after the commit point the answer must go out
        return result, budget, clock.timestamp_ns()

    result, budget, end = run_virtual(main(), clock)
    assert result is None and budget.late_commit and not budget.expired and end == START_NS + 85 * MS


def test_every_open_scope_shares_one_clock_alert_and_each_is_cut_at_its_own_deadline() -> None:
    """Requests' deadlines sit behind one clock alert (``Deadlines``): many answered requests leave one
    alert, not one each; a shorter budget opened after a longer one is still cut exactly at its own
    deadline, and the longer one at its own; answered requests' entries are dropped when the alert passes."""
    clock = TestClock(START_NS)
    tm = TimeoutManager(clock=clock)

    async def quick() -> None:
        budget = tm.open(100 * MS)
        async with budget.scope():
            await clock.sleep(1 * MS)

    async def cut(budget_ms: int, sleep_ms: int) -> int:
        budget = tm.open(budget_ms * MS)
        with pytest.raises(DeadlineExceeded):
            async with budget.scope():
                await clock.sleep(sleep_ms * MS)
        return clock.timestamp_ns() - START_NS

    async def main() -> tuple[int, int, list[int], int]:
        await asyncio.gather(*(quick() for _ in range(50)))
        alerts_after_answers = clock.timer_count  # the one shared alert, still armed at the first deadline
        ends = await asyncio.gather(cut(300, 1000), cut(40, 1000))  # the 40 ms one re-arms the alert earlier
        await clock.sleep(1000 * MS)  # past every deadline: the answered requests' entries are dropped
        return alerts_after_answers, len(tm.deadlines), list(ends), clock.timer_count

    alerts, left, ends, alerts_at_end = run_virtual(main(), clock)
    assert alerts == 1
    assert ends == [1 * MS + 300 * MS, 1 * MS + 40 * MS]
    assert left == 0 and alerts_at_end == 0


def test_the_baseline_gives_each_call_a_fresh_timeout() -> None:
    """The contrast the EI-API-GATEWAY criterion measures: two calls of 60% of the budget each both
    finish under the baseline, so the request takes 120% of its budget without any timeout."""
    from baselines.api_gateway import TimeoutManager as BaselineTimeouts

    async def main() -> float:
        budget = BaselineTimeouts().open(100 * MS)
        t0 = time.monotonic()
        await budget.call(asyncio.sleep(0.06))
        await budget.call(asyncio.sleep(0.06))
        return time.monotonic() - t0

    assert asyncio.run(main()) >= 0.12


def test_the_baseline_sliding_log_has_no_separate_burst() -> None:
    from baselines.api_gateway import LocalRateLimiter as BaselineLocal

    with pytest.raises(ValueError, match="burst == limit"):
        BaselineLocal(Rate(10, 1_000 * MS, 3))
