"""One conformance suite for both builds of the container family (health checker, lifecycle,
supervisor), against the test doubles of dockerkit (the real engine: test_docker_engine.py).

The clocked build runs on a TestClock in virtual time; the baseline on a normal event loop in real
time with short intervals, so its assertions are about behaviour (order, outcome), never about a
real-time figure. The TestClock-exact tests at the end hold for the clocked build only: they pin
its schedule to the nanosecond, which a sleep loop on real time cannot promise.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest

from core.docker.records import NS_PER_MS, HealthTracker, backoff_ns, detection, on_time, seeded_faults
from core.docker import Check, ContainerSupervisor, Transition
from core.docker.protocols import ContainerLifecycle, HealthChecker
from targets.clock import TestClock, run_virtual

from dockerkit import FakeEngine, ScriptedProbe, loop_ns, make_checker, make_lifecycle

BUILDS = ["clocked", "baseline"]
T0 = 1_700_000_000_000_000_000


def run(build: str, body: Callable[[TestClock | None], Awaitable[object]]) -> object:
    if build == "clocked":
        clock = TestClock(T0)
        return run_virtual(body(clock), clock)
    return asyncio.run(body(None))


async def sleep_ms(ms: float) -> None:
    await asyncio.sleep(ms / 1000)


async def until(cond: Callable[[], bool], limit_ms: float = 10_000) -> None:
    """Wait for a condition (real time for the baseline, virtual for the clocked build): a busy
    machine may delay a sleep loop's checks, never change what they report."""
    waited = 0.0
    while not cond():
        assert waited < limit_ms, "condition not reached"
        await sleep_ms(5)
        waited += 5


# --- health checker -------------------------------------------------------------------------------

@pytest.mark.parametrize("build", BUILDS)
def test_reports_unhealthy_then_healthy_again(build: str) -> None:
    probe = ScriptedProbe(latency_ns=NS_PER_MS)

    async def body(clock: TestClock | None) -> HealthChecker:
        checker = make_checker(build, probe, clock, interval_ns=20 * NS_PER_MS, timeout_ns=15 * NS_PER_MS)
        checker.add("a")
        checker.add("b", offset_ns=5 * NS_PER_MS)
        await sleep_ms(150)
        await until(lambda: checker.status("a") is True and checker.status("b") is True)
        probe.down.add("a")
        await sleep_ms(150)
        await until(lambda: checker.status("a") is False)
        probe.down.discard("a")
        await sleep_ms(150)
        await until(lambda: checker.status("a") is True)
        await checker.stop()
        return checker

    checker = run(build, body)
    assert isinstance(checker, HealthChecker)
    a = [(t.healthy, t.via) for t in checker.transitions if t.container == "a"]
    b = [(t.healthy, t.via) for t in checker.transitions if t.container == "b"]
    assert a == [(True, "check"), (False, "check"), (True, "check")]
    assert b == [(True, "check")]
    assert all(c.answered for c in checker.checks)
    assert {c.container for c in checker.checks} == {"a", "b"}
    assert len([c for c in checker.checks if c.container == "a"]) >= 3
    starts = [c.start_ns for c in checker.checks if c.container == "a"]
    assert starts == sorted(starts)
    assert all(c.end_ns >= c.start_ns for c in checker.checks)


@pytest.mark.parametrize("build", BUILDS)
def test_a_hanging_or_refusing_probe_is_not_answered_and_unhealthy(build: str) -> None:
    probe = ScriptedProbe()
    probe.hang.add("slow")
    probe.refuse.add("dead")

    async def body(clock: TestClock | None) -> HealthChecker:
        checker = make_checker(build, probe, clock, interval_ns=30 * NS_PER_MS, timeout_ns=10 * NS_PER_MS)
        for cid in ("slow", "dead", "fine"):
            checker.add(cid)
        await sleep_ms(200)
        await until(lambda: all(checker.status(c) is not None for c in ("slow", "dead", "fine")))
        await checker.stop()
        return checker

    checker = run(build, body)
    for cid in ("slow", "dead"):
        mine = [c for c in checker.checks if c.container == cid]
        assert mine and not any(c.answered or c.healthy for c in mine)
        assert checker.status(cid) is False
        assert [t.healthy for t in checker.transitions if t.container == cid] == [False]
    slow = [c for c in checker.checks if c.container == "slow"]
    assert all(c.end_ns - c.start_ns >= 10 * NS_PER_MS for c in slow)  # the timeout, not earlier
    assert checker.status("fine") is True


@pytest.mark.parametrize("build", BUILDS)
def test_unhealthy_after_consecutive_failures_only(build: str) -> None:
    probe = ScriptedProbe()

    async def body(clock: TestClock | None) -> HealthChecker:
        checker = make_checker(build, probe, clock, interval_ns=20 * NS_PER_MS, timeout_ns=10 * NS_PER_MS,
                               unhealthy_after=3)
        checker.add("a")
        await sleep_ms(100)
        await until(lambda: checker.status("a") is True)
        probe.script["a"] = [False, False]  # two failed checks in a row, then healthy again
        while probe.script["a"]:
            await sleep_ms(5)
        await sleep_ms(60)
        probe.script["a"] = [False, False, False]  # three: unhealthy
        while probe.script["a"]:
            await sleep_ms(5)
        probe.down.add("a")
        await sleep_ms(60)
        await checker.stop()
        return checker

    checker = run(build, body)
    assert [t.healthy for t in checker.transitions] == [True, False]


@pytest.mark.parametrize("build", BUILDS)
def test_remove_stops_one_container_and_bad_arguments_are_refused(build: str) -> None:
    probe = ScriptedProbe()

    async def body(clock: TestClock | None) -> tuple[HealthChecker, int, int]:
        with pytest.raises(ValueError, match="interval_ns"):
            make_checker(build, probe, clock, interval_ns=0, timeout_ns=1)
        with pytest.raises(ValueError, match="timeout_ns"):
            make_checker(build, probe, clock, interval_ns=10, timeout_ns=1.5)
        checker = make_checker(build, probe, clock, interval_ns=20 * NS_PER_MS, timeout_ns=10 * NS_PER_MS)
        checker.add("a")
        checker.add("b")
        with pytest.raises(ValueError, match="already"):
            checker.add("a")
        with pytest.raises(ValueError, match="offset_ns"):
            checker.add("c", offset_ns=-1)
        await sleep_ms(100)
        await until(lambda: any(c.container == "b" for c in checker.checks))
        checker.remove("b")
        checker.remove("zzz")  # unknown: nothing to do
        n_b = len([c for c in checker.checks if c.container == "b"])
        await sleep_ms(100)
        assert checker.containers() == ["a"]
        await checker.stop()
        return checker, n_b, len([c for c in checker.checks if c.container == "b"])

    checker, before, after = run(build, body)
    assert before >= 1 and after == before
    assert checker.containers() == []


@pytest.mark.parametrize("build", BUILDS)
def test_engine_events_are_recorded_and_tracked_apart(build: str) -> None:
    probe = ScriptedProbe()

    async def body(clock: TestClock | None) -> HealthChecker:
        checker = make_checker(build, probe, clock, interval_ns=50 * NS_PER_MS, timeout_ns=10 * NS_PER_MS)
        checker.add("a")
        checker.engine_event("a", "starting")
        checker.engine_event("a", "healthy")
        checker.engine_event("a", "healthy")
        checker.engine_event("a", "unhealthy")
        await until(lambda: bool(checker.checks))
        await checker.stop()
        return checker

    checker = run(build, body)
    assert [e.status for e in checker.engine_events] == ["starting", "healthy", "healthy", "unhealthy"]
    engine = [(t.healthy, t.via) for t in checker.transitions if t.via == "engine"]
    assert engine == [(True, "engine"), (False, "engine")]
    assert checker.status("a") is True  # the checker's own probes decide its status


# --- lifecycle ------------------------------------------------------------------------------------

LC = dict(ready_timeout_ns=300 * NS_PER_MS, ready_poll_ns=10 * NS_PER_MS, stop_grace_ns=50 * NS_PER_MS,
          backoff_base_ns=20 * NS_PER_MS, backoff_cap_ns=50 * NS_PER_MS, max_attempts=4)


@pytest.mark.parametrize("build", BUILDS)
def test_start_waits_for_healthy_and_gives_up_at_the_deadline(build: str) -> None:
    engine = FakeEngine()
    engine.add("ok", ready_after_ns=40 * NS_PER_MS)
    engine.add("never", ready_after_ns=10 * 1000 * NS_PER_MS)

    async def body(clock: TestClock | None) -> tuple:
        lc = make_lifecycle(build, engine, clock, **LC)
        assert isinstance(lc, ContainerLifecycle)
        return await lc.start("ok"), await lc.start("never")

    ok, never = run(build, body)
    assert ok.ready and ok.ready_ns - ok.started_ns >= 40 * NS_PER_MS and ok.polls >= 2
    assert not never.ready and never.polls >= 2


@pytest.mark.parametrize("build", BUILDS)
def test_stop_is_graceful_within_the_deadline_else_kills(build: str) -> None:
    engine = FakeEngine()
    engine.add("polite", term_exit_ns=10 * NS_PER_MS)
    engine.add("stubborn", term_exit_ns=None)

    async def body(clock: TestClock | None) -> tuple:
        lc = make_lifecycle(build, engine, clock, **LC)
        await engine.start("polite")
        await engine.start("stubborn")
        return await lc.stop("polite"), await lc.stop("stubborn")

    polite, stubborn = run(build, body)
    assert polite.graceful and engine.containers["polite"].log == ["start", "SIGTERM", "exit"]
    assert not stubborn.graceful and engine.containers["stubborn"].log == ["start", "SIGTERM", "killed"]
    assert stubborn.exited_ns - stubborn.requested_ns >= 50 * NS_PER_MS


@pytest.mark.parametrize("build", BUILDS)
def test_restart_backs_off_until_healthy(build: str) -> None:
    engine = FakeEngine()
    engine.add("flaky", ready_after_ns=5 * NS_PER_MS, bad_starts=2,
               term_exit_ns=5 * NS_PER_MS)
    engine.add("broken", ready_after_ns=5 * NS_PER_MS, bad_starts=99, term_exit_ns=5 * NS_PER_MS)
    small = {**LC, "ready_timeout_ns": 30 * NS_PER_MS}

    async def body(clock: TestClock | None) -> tuple:
        lc = make_lifecycle(build, engine, clock, **small)
        await engine.start("flaky")
        await engine.start("broken")
        return await lc.restart("flaky"), await lc.restart("broken")

    flaky, broken = run(build, body)
    # the restart's first start is the container's 2nd: it and the next fail, the 4th start is healthy
    assert flaky.ok and flaky.attempts == 2 and flaky.delays_ns == (20 * NS_PER_MS,)
    assert not broken.ok and broken.attempts == 4
    assert broken.delays_ns == (20 * NS_PER_MS, 40 * NS_PER_MS, 50 * NS_PER_MS)  # doubling, capped
    assert engine.containers["broken"].starts == 5


@pytest.mark.parametrize("build", BUILDS)
def test_supervisor_gates_members_and_replaces_an_unhealthy_container(build: str) -> None:
    engine = FakeEngine()
    probe = ScriptedProbe()

    class LinkedProbe:
        """Healthy while the fake container runs and is not marked down."""

        async def check(self, cid: str) -> bool:
            c = engine.containers[cid]
            return c.running and await probe.check(cid)

    async def body(clock: TestClock | None) -> tuple:
        for cid in ("w1", "w2"):
            engine.add(cid, ready_after_ns=10 * NS_PER_MS, term_exit_ns=5 * NS_PER_MS)
            await engine.start(cid)
        checker = make_checker(build, LinkedProbe(), clock, interval_ns=20 * NS_PER_MS, timeout_ns=10 * NS_PER_MS)
        lc = make_lifecycle(build, engine, clock, **LC)
        seen: list[frozenset[str]] = []
        sup = ContainerSupervisor(checker, lc, on_members=seen.append)
        checker.add("w1")
        checker.add("w2", offset_ns=7 * NS_PER_MS)
        await sleep_ms(100)
        await until(lambda: sup.members == {"w1", "w2"})
        probe.down.add("w2")  # its endpoint dies until the restart clears it
        await sleep_ms(60)
        await until(lambda: "w2" not in sup.members)
        probe.down.discard("w2")
        await sleep_ms(300)
        await until(lambda: bool(sup.replacements) and sup.members == {"w1", "w2"})
        await sup.stop()
        return sup, seen

    sup, seen = run(build, body)
    assert seen[:2] == [frozenset({"w1"}), frozenset({"w1", "w2"})] or seen[:2] == [frozenset({"w2"}), frozenset({"w1", "w2"})]
    assert frozenset({"w1"}) in seen[2:]  # w2 left the members
    assert seen[-1] == frozenset({"w1", "w2"})  # and came back after its restart
    assert len(sup.replacements) == 1 and sup.replacements[0].container == "w2"
    assert sup.replacements[0].result is not None and sup.replacements[0].result.ok
    assert engine.containers["w2"].log[:4] == ["start", "SIGTERM", "exit", "start"]


# --- TestClock-exact (clocked only) ---------------------------------------------------------------

def test_clocked_checks_start_exactly_on_schedule_and_never_drift() -> None:
    probe = ScriptedProbe(latency_ns=3 * NS_PER_MS)
    interval = 100 * NS_PER_MS

    async def body(clock: TestClock | None) -> HealthChecker:
        checker = make_checker("clocked", probe, clock, interval_ns=interval, timeout_ns=50 * NS_PER_MS)
        checker.add("a", offset_ns=7)
        await clock.sleep(1000 * interval + 7 + 4 * NS_PER_MS)
        await checker.stop()
        return checker

    checker = run("clocked", body)
    origin = checker.origins["a"]
    assert origin == T0 + 7
    assert [c.due_ns for c in checker.checks] == [origin + k * interval for k in range(1, 1001)]
    assert all(c.start_ns == c.due_ns and c.end_ns == c.start_ns + 3 * NS_PER_MS for c in checker.checks)
    ot = on_time(checker.checks, origin, interval, origin + 1000 * interval)
    assert (ot.on_time, ot.scheduled) == (1000, 1000)


def test_clocked_detection_time_and_timeout_are_exact() -> None:
    probe = ScriptedProbe(latency_ns=2 * NS_PER_MS)
    probe.hang.add("h")
    interval, timeout = 100 * NS_PER_MS, 30 * NS_PER_MS
    down, up = T0 + 450 * NS_PER_MS, T0 + 950 * NS_PER_MS

    async def body(clock: TestClock | None) -> HealthChecker:
        checker = make_checker("clocked", probe, clock, interval_ns=interval, timeout_ns=timeout)
        assert loop_ns() == 0  # the virtual loop's time counts from its creation, at T0
        probe.faults["a"] = [(down - T0, up - T0)]
        checker.add("a")
        checker.add("h")
        await clock.sleep(20 * interval)
        await checker.stop()
        return checker

    checker = run("clocked", body)
    a = [t for t in checker.transitions if t.container == "a"]
    # checks of "a" start at T0 + k*100 ms and end 2 ms later: unhealthy seen by the 500 ms check
    assert [(t.healthy, t.at_ns - T0) for t in a] == [
        (True, 102 * NS_PER_MS), (False, 502 * NS_PER_MS), (True, 1002 * NS_PER_MS)]
    det = detection(a, [(down, up)], interval)
    assert det.latencies_ns == [52 * NS_PER_MS] and det.missed == 0 and det.false_unhealthy == 0
    assert det.recovery_ns == [52 * NS_PER_MS]
    h = [c for c in checker.checks if c.container == "h"]
    assert all(c.end_ns == c.start_ns + timeout and not c.answered for c in h)


def test_clocked_checker_skips_a_slot_while_a_check_is_in_flight() -> None:
    probe = ScriptedProbe(latency_ns=250 * NS_PER_MS)
    interval = 100 * NS_PER_MS

    async def body(clock: TestClock | None) -> HealthChecker:
        checker = make_checker("clocked", probe, clock, interval_ns=interval, timeout_ns=400 * NS_PER_MS)
        checker.add("a")
        await clock.sleep(1260 * NS_PER_MS)
        await checker.stop()
        return checker

    checker = run("clocked", body)
    # checks at 100, 400, 700, 1000 ms (each takes 250 ms; the two slots in between are skipped)
    assert [c.start_ns - T0 for c in checker.checks] == [k * NS_PER_MS for k in (100, 400, 700, 1000)]
    assert [c.due_ns for c in checker.checks] == [c.start_ns for c in checker.checks]
    assert checker.skipped == 8


def test_clocked_lifecycle_times_are_exact() -> None:
    engine = FakeEngine()
    engine.add("a", ready_after_ns=35 * NS_PER_MS, term_exit_ns=None)

    async def body(clock: TestClock | None) -> tuple:
        lc = make_lifecycle("clocked", engine, clock, **LC)
        start = await lc.start("a")
        stop = await lc.stop("a")
        return start, stop

    start, stop = run("clocked", body)
    assert start.started_ns == T0 and start.ready_ns == T0 + 40 * NS_PER_MS and start.polls == 5
    assert stop.requested_ns == start.ready_ns and stop.exited_ns == stop.requested_ns + 50 * NS_PER_MS


# --- shared pure logic ----------------------------------------------------------------------------

def test_tracker_backoff_and_analysis() -> None:
    tr = HealthTracker(2)
    assert tr.observe("a", False, 1) is None  # unknown stays unknown after one failure
    assert tr.observe("a", False, 2) == Transition("a", False, 2)
    assert tr.observe("a", True, 3) == Transition("a", True, 3)
    with pytest.raises(ValueError):
        HealthTracker(0)
    assert [backoff_ns(k, 10, 70) for k in range(5)] == [10, 20, 40, 70, 70]
    # a sleep loop drifting 3 ms per 100 ms round: on time until it is 10 ms behind, slots then missed
    checks, t = [], 100
    for _ in range(20):
        checks.append(Check("a", None, t, t + 3, True, True))
        t += 103
    ot = on_time(checks, 0, 100, 2000)
    assert ot.scheduled == 20 and ot.on_time == 4  # late by 0, 3, 6, 9; 12 is over the 10 % tolerance
    det = detection([Transition("a", False, 50), Transition("a", True, 90), Transition("a", False, 500)],
                    [(40, 80), (300, 400)], 5)
    assert det.latencies_ns == [10] and det.missed == 1 and det.false_unhealthy == 1
    faults = seeded_faults(7, 0, 10_000, 100, 5)
    assert faults == seeded_faults(7, 0, 10_000, 100, 5) and len(faults) == 5
    assert all(b - a == 100 for a, b in faults) and all(faults[i][1] < faults[i + 1][0] for i in range(4))


def test_simulation_digest_is_the_same_in_another_process() -> None:
    from targets.docker.simulation import simulate_checks

    here = simulate_checks(seed=3, containers=10, duration_ns=60 * 10**9)
    code = ("import json; from targets.docker.simulation import simulate_checks; "
            "print(json.dumps(simulate_checks(seed=3, containers=10, duration_ns=60 * 10**9)))")
    there = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True, timeout=120).stdout)
    assert here == there
    assert here["checks"] > 500 and here["transitions"] >= 10 * 7 and len(here["digest"]) == 64
    assert here["on_time"] == here["scheduled"]  # in virtual time the clocked schedule is exact
    other = simulate_checks(seed=4, containers=10, duration_ns=60 * 10**9)
    assert other["digest"] != here["digest"]
