"""Producers for the API gateway family (``clockbench run``), and the limiter comparison on its own.

``limiter_comparison``: every rate limiter, on real time, in one run: the clocked GCRA and the
baseline sliding log (in process and through Redis) and the anchors, ``limits`` (moving and fixed
window, in memory and on Redis) and ``aiolimiter`` (leaky bucket, in process only). All are set to
the same contract, 20 requests per second with bursts of 20, and per limiter it measures:

- ``gateway.limit.<where>.accepted_error`` (count): a client sends at three times the limit on a
  fixed schedule; |accepted - envelope|, where the envelope is what the contract allows over the span
  the client actually sent in (the burst plus one per 1/20 s elapsed; the signed figure is kept);
- ``gateway.limit.<where>.retry_after_error`` (ns): after the burst, the first refusal's hint of when
  to come back (``X-Retry-After-Ns`` for the builds; ``limits``' window reset; ``aiolimiter`` has
  none, its record says so); the client comes back 2 ms early, on time, then every ms: the error is
  how much later than the hint it was first let through (0 on time; the 2 ms probe passing means the
  hint was at least 2 ms pessimistic, recorded as 2 ms). A probe that wakes more than 0.5 ms late
  (a busy machine) tests nothing: that trial is run again, and the misses are counted;
- ``gateway.limit.<where>.decision_cost`` (ns): wall time of each decision in those runs.

Real time on a busy machine: the figures carry its scheduling noise; the TestClock exactness of the
clocked build is tested, not measured, in tests/api_gateway.

``gateway_load``: the gateway Locust profile (bursts above the limit, tight budgets) against three
stacks in rounds, baseline / clocked / baseline again (A/A) at once (the profile loads the machine
lightly: 12-13% with all three arms in a quick run, 22% in a full one; arms run together share its
state, as the monitoring rounds do), the arms differing only in ``--component gateway=...``;
``load.gateway.within_budget`` (ppm per round) and ``load.gateway.timeout_error`` (ns, pooled) from
the profile's own client-side classification.

``python -m harness.measure.api_gateway [--quick] [--out DIR]`` runs the comparison alone and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import builds
from harness.builds import BUILDS
from harness.measure import Context, StartFailed, Unavailable, enter_all
from harness.results import MetricRecord, invalid

Log = Callable[[str], None]
LIMIT = 20
PERIOD_NS = 1_000_000_000
SEND_FACTOR = 3
QUICK = {"span_s": 1.5, "retry_trials": 3}
FULL = {"span_s": 5.0, "retry_trials": 10}
SOURCE = "gateway-limiters.json"

# key -> (allowed, when the limiter says to come back, on time.perf_counter_ns(), or None)
Decide = Callable[[str], Awaitable[tuple[bool, int | None]]]

# Each limiter's own contract, replayed exactly on the recorded send times (see ``ideal_count``).
CONTRACT = {"clocked": "gcra", "aiolimiter": "gcra", "baseline": "sliding", "limits_moving": "sliding",
            "limits_fixed": "fixed"}  # fmt: skip


def _builds(check: Any) -> Decide:
    async def decide(key: str) -> tuple[bool, int | None]:
        t = time.perf_counter_ns()  # the builds read their time at the start of the decision
        d = await check(key)
        return d.allowed, (None if d.allowed else t + d.retry_after_ns)

    return decide


def ideal_count(contract: str, mono_ns: list[int]) -> int:
    """How many of these sends an exact limiter of ``contract`` (LIMIT per PERIOD_NS, bursts of LIMIT)
    accepts (pure): "gcra" (token/leaky bucket), "sliding" (at most LIMIT in any PERIOD), "fixed"
    (at most LIMIT per window, a window opening at the first hit after the last one closed: ``limits``
    keys a fixed window by a counter that expires PERIOD after its first hit)."""
    from core.api_gateway.rates import Rate, decide

    if contract == "gcra":
        rate, tat, n = Rate(LIMIT, PERIOD_NS), 0, 0
        for t in mono_ns:
            ok, after = decide(max(0, tat - t * LIMIT), rate)
            if ok:
                tat, n = t * LIMIT + after, n + 1
        return n
    if contract == "sliding":
        return _sliding_total(mono_ns)
    n, opened, used = 0, None, 0
    for t in mono_ns:
        if opened is None or t >= opened + PERIOD_NS:
            opened, used = t, 0
        if used < LIMIT:
            n += 1
        used += 1  # a refused hit is counted too (the counter is incremented before the comparison)
    return n


def _sliding_total(mono_ns: list[int]) -> int:
    from collections import deque

    log: deque[int] = deque()
    n = 0
    for t in mono_ns:
        while log and log[0] <= t - PERIOD_NS:
            log.popleft()
        if len(log) < LIMIT:
            log.append(t)
            n += 1
    return n


def candidates(where: str, redis: Any, url: str, prefix: str) -> dict[str, Decide]:
    """Every limiter of the comparison, set to LIMIT per second with bursts of LIMIT."""
    from core.api_gateway.rates import Rate
    from targets.clock import LiveClock

    rate = Rate(LIMIT, PERIOD_NS)
    out: dict[str, Decide] = {}
    for build in BUILDS:
        clock = builds.clock_for(build, LiveClock())
        if where == "local":
            lim = builds.make("local_rate_limiter", build, clock=clock, rate=rate)
        else:
            lim = builds.make("rate_limiter", build, clock=clock, rate=rate, redis=redis, prefix=f"{prefix}{build}:")
        out[build] = _builds(lim.check)
    from limits import RateLimitItemPerSecond
    from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

    item = RateLimitItemPerSecond(LIMIT)
    for name, cls in (("limits_moving", MovingWindowRateLimiter), ("limits_fixed", FixedWindowRateLimiter)):
        if where == "local":
            from limits.aio.storage import MemoryStorage

            storage: Any = MemoryStorage()
        else:
            from limits.aio.storage import RedisStorage

            storage = RedisStorage(url.replace("redis://", "async+redis://", 1), implementation="redispy",
                                   key_prefix=f"{prefix}{name}")  # fmt: skip
        strat = cls(storage)

        async def decide(key: str, strat: Any = strat) -> tuple[bool, int | None]:
            if await strat.hit(item, key):
                return True, None
            stats = await strat.get_window_stats(item, key)
            return False, time.perf_counter_ns() + max(0, int(stats.reset_time * 1e9) - time.time_ns())

        out[name] = decide
    if where == "local":
        from aiolimiter import AsyncLimiter

        limiters: dict[str, AsyncLimiter] = {}

        async def leaky(key: str) -> tuple[bool, int | None]:
            al = limiters.get(key)
            if al is None:
                al = limiters[key] = AsyncLimiter(LIMIT, PERIOD_NS / 1e9)
            if not al.has_capacity():  # a gateway refuses; it does not queue the request
                return False, None
            await al.acquire()
            return True, None

        out["aiolimiter"] = leaky
    return out


async def accuracy_trial(decide: Decide, span_s: float) -> tuple[int, list[int], list[int]]:
    """(accepted, send times on perf_counter, per-decision cost ns) for a client
    sending at SEND_FACTOR x the limit on a fixed schedule."""
    key = uuid.uuid4().hex
    interval = PERIOD_NS // (LIMIT * SEND_FACTOR)
    n = int(span_s * 1e9) // interval + 1
    t0 = time.perf_counter_ns()
    accepted, costs, sent_at = 0, [], []
    for i in range(n):
        wait = t0 + i * interval - time.perf_counter_ns()
        if wait > 0:
            await asyncio.sleep(wait / 1e9)
        a = time.perf_counter_ns()
        ok, _ = await decide(key)
        costs.append(time.perf_counter_ns() - a)
        sent_at.append(a)
        accepted += ok
    return accepted, sent_at, costs


MISSED = object()  # the probe woke too late to test the hint (a busy machine): the trial is run again


async def retry_trial(decide: Decide) -> Any:
    """How much later than its own hint a refused client was first let through (ns); None: the limiter
    gives no hint; MISSED: the early probe could not be made in time, so the trial says nothing."""
    key = uuid.uuid4().hex
    for _ in range(LIMIT * 3):
        ok, due = await decide(key)
        if not ok:
            break
    else:
        raise RuntimeError("the limiter never refused a burst three times its limit")
    if due is None:
        return None

    async def at(t: int) -> tuple[bool, int]:
        """Decide at ``t``: sleep to 2 ms before it, then spin (a sleep alone wakes up to a few ms late)."""
        wait = t - 2_000_000 - time.perf_counter_ns()
        if wait > 0:
            await asyncio.sleep(wait / 1e9)
        while time.perf_counter_ns() < t:
            pass
        sent = time.perf_counter_ns()
        return (await decide(key))[0], sent

    early = due - 2_000_000
    ok, sent = await at(early)
    if sent > early + 500_000:
        return MISSED
    if ok:
        return -2_000_000
    if (await at(due))[0]:
        return 0
    while time.perf_counter_ns() < due + 3 * PERIOD_NS:
        if (await at(time.perf_counter_ns() + 1_000_000))[0]:
            return time.perf_counter_ns() - due
    raise RuntimeError("still refused three periods after the hint")


async def retry_trials(decide: Decide, n: int) -> tuple[list[Any], int]:
    """``n`` trials that said something (each missed one run again, up to 3n attempts); (results, missed)."""
    out: list[Any] = []
    missed = 0
    while len(out) < n and missed < 3 * n:
        r = await retry_trial(decide)
        if r is MISSED:
            missed += 1
        else:
            out.append(r)
    return out, missed


def limiter_comparison(quick: bool, log: Log = print, redis_url: str | None = None) -> list[MetricRecord]:
    plan = QUICK if quick else FULL
    url = redis_url or os.environ.get("CLOCKBENCH_REDIS_URL") or "redis://127.0.0.1:6379/0"

    async def main() -> list[MetricRecord]:
        from redis.asyncio import Redis

        prefix = f"clockbench:measure:gateway:{uuid.uuid4().hex[:8]}:"
        redis = Redis.from_url(url)
        out: list[MetricRecord] = []
        try:
            try:
                await redis.ping()
                places: tuple[str, ...] = ("local", "redis")
            except Exception as exc:  # noqa: BLE001 - reported as invalid records, with the reason
                places = ("local",)
                for m in ("accepted_error", "retry_after_error", "decision_cost"):
                    for b in ("clocked", "baseline", "limits_moving", "limits_fixed"):
                        out.append(invalid(f"gateway.limit.redis.{m}", b, "count" if m == "accepted_error" else "ns",
                                           f"Redis at {url} did not answer: {exc}", SOURCE))  # fmt: skip
            for where in places:
                for name, decide in candidates(where, redis, url, prefix).items():
                    accepted, mono, costs = await accuracy_trial(decide, plan["span_s"])
                    retries, missed = await retry_trials(decide, plan["retry_trials"])
                    ideal = ideal_count(CONTRACT[name], mono)
                    signed = accepted - ideal
                    envelope = LIMIT + ((mono[-1] - mono[0]) * LIMIT) // PERIOD_NS
                    out.append(MetricRecord(f"gateway.limit.{where}.accepted_error", name, "count", [abs(signed)],
                                            source=SOURCE, extra={"accepted": accepted, "ideal": ideal,
                                                                  "contract": CONTRACT[name], "signed_error": signed,
                                                                  "rate_envelope": envelope, "sends": len(mono),
                                                                  "span_s": plan["span_s"]}))  # fmt: skip
                    out.append(MetricRecord(f"gateway.limit.{where}.decision_cost", name, "ns", costs, source=SOURCE))
                    if not retries:
                        out.append(invalid(f"gateway.limit.{where}.retry_after_error", name, "ns",
                                           f"every probe woke too late to test the hint ({missed} tries)", SOURCE))  # fmt: skip
                    elif any(r is None for r in retries):
                        out.append(invalid(f"gateway.limit.{where}.retry_after_error", name, "ns",
                                           "this limiter gives no retry hint (it only says yes or no)", SOURCE))  # fmt: skip
                    else:
                        out.append(MetricRecord(f"gateway.limit.{where}.retry_after_error", name, "ns",
                                                [abs(r) for r in retries], source=SOURCE,
                                                extra={"signed_ns": retries, "missed_probes": missed}))  # fmt: skip
                    cost = sorted(costs)[len(costs) // 2]
                    hints = ("no hint" if any(r is None for r in retries)
                             else ", ".join(f"{r / 1e6:+.1f}" for r in retries) + f" ms ({missed} probe(s) woke too late)")  # fmt: skip
                    log(f"  limiter {where:<5} {name:<14} accepted {accepted:>3} of {len(mono)}, its exact {CONTRACT[name]} "
                        f"contract {ideal:>3} ({signed:+d}; rate envelope {envelope}), let through after its hint: "
                        f"{hints}, median decision {cost / 1e3:.1f} µs")  # fmt: skip
        finally:
            keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
        return out

    return asyncio.run(main())


# --- the gateway load A/B -----------------------------------------------------------------------

# quick: 3 rounds (a paired interval's fewest) of 1.5 measured seconds per arm. Every gateway criterion
# is INCONCLUSIVE in a quick run whatever its length (EI-API-GATEWAY's p99 needs 500 timeouts, the
# reliability shares ~1,000 requests per build against ~130 per round), so its rounds are as short as
# still gives each arm a figure: 3 s rounds took the step from 41 to 34 s (2026-11-30); rounds of 2 s
# with 0.5 s of warm-up (1.5 s measured, the test stopping on time: runner.Session) 9 s less; the
# three arms at once instead of one after the other, 12 s less again (2026-12-01).
LOAD_QUICK = {"rounds": 3, "duration_s": 2.0, "warmup_s": 0.5, "users": 6}
LOAD_FULL = {"rounds": 6, "duration_s": 30.0, "warmup_s": 5.0, "users": 12}
ARMS = ("baseline", "clocked", "aa")  # each arm's gateway build: harness.load.abtest.ARM_BUILDS
BUDGET_MS = "20-200"


def gateway_records(per_arm: dict[str, list[dict]], source: str) -> list[MetricRecord]:
    """Records from each round's gateway.json (pure): within_budget per round (ppm), timeout error pooled."""
    from harness.load import hdr
    from harness.load.abtest import rounds_in_every_arm

    out: list[MetricRecord] = []
    # The shares are paired by round position, so a round counts only where every arm has requests in it:
    # dropping each arm's empty rounds on its own paired clocked round 2 with baseline round 1 (a quick
    # run of 03dccf4 had aa's round 1 and baseline's round 3 empty).
    def has_requests(r: dict) -> bool:
        return bool(r and r.get("total"))

    keep = rounds_in_every_arm(per_arm, has_requests)
    for arm, rounds in per_arm.items():
        usable = [r for r in rounds if has_requests(r)]
        paired = [rounds[i] for i in keep]
        if len(paired) < 2:
            out.append(invalid("load.gateway.within_budget", arm, "ppm",
                               f"only {len(paired)} round(s) with requests in every arm; a CI needs two", source))  # fmt: skip
        else:
            out.append(MetricRecord("load.gateway.within_budget", arm, "ppm",
                                    [r["reliable"] * 1_000_000 // r["total"] for r in paired], kind="rounds",
                                    lower_is_better=False, source=source,
                                    extra={"requests": [r["total"] for r in paired], "used_rounds": keep,
                                           "statuses": [r["statuses"] for r in paired]}))  # fmt: skip
        hists = [hdr.decode(r["timeout_error"]) for r in usable if r.get("timeout_error")]
        merged = hdr.merge(hists) if hists else None
        values: list[int] = []
        if merged is not None and merged.get_total_count():
            for item in merged.get_recorded_iterator():
                values += [int(item.value_iterated_to)] * int(item.count_at_value_iterated_to)
        if len(values) < 2:
            out.append(invalid("load.gateway.timeout_error", arm, "ns",
                               f"{len(values)} request(s) outlived their budget: nothing to measure the timeouts on",
                               source))  # fmt: skip
        else:
            out.append(MetricRecord("load.gateway.timeout_error", arm, "ns", values, source=source,
                                    extra={"resolution": "HdrHistogram, 3 significant digits"}))  # fmt: skip
    return out


def produce_gateway(ctx: Context) -> list[MetricRecord]:
    """``clockbench run``'s gateway producer: the gateway load A/B; in full runs the limiter comparison too."""
    if not any(m.startswith("load.gateway.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs the gateway load run")
    if ctx.targets:
        raise Unavailable("the gateway A/B starts its own stacks, which differ only in --component gateway; "
                          "--target-* deployments cannot be switched that way")  # fmt: skip
    out: list[MetricRecord] = []
    if ctx.quick:
        ctx.log("  gateway: limiter comparison skipped in --quick (python -m harness.measure.api_gateway runs it)")
    else:
        out += limiter_comparison(False, ctx.log)
    ctx.build_flags["gateway"] = ("three stacks, every component baseline except --component gateway=baseline, "
                                  "clocked, and baseline again (A/A)" + ("" if ctx.nginx else "; no nginx: one worker each"))
    return out + gateway_load(ctx.out / "gateway", ctx.quick, ctx.log, nginx=ctx.nginx)


def gateway_load(out: Path, quick: bool, log: Log = print, nginx: bool = True) -> list[MetricRecord]:
    from harness.load import abtest
    from harness.load.runner import LoadSpec, Session, headline, spawn_rate_for, start_sessions, terminate_sessions
    from harness.stack import StackError, running

    plan = LOAD_QUICK if quick else LOAD_FULL
    out.mkdir(parents=True, exist_ok=True)
    spec = LoadSpec(profile="gateway", users=plan["users"], spawn_rate=spawn_rate_for(plan["users"], plan["warmup_s"]),
                    duration_s=plan["duration_s"], warmup_s=plan["warmup_s"],
                    extra_args=["--cb-budget-ms", BUDGET_MS])  # fmt: skip
    per_arm: dict[str, list[dict]] = {a: [] for a in ARMS}
    with contextlib.ExitStack() as es:
        # one Locust process per arm for all its rounds (harness/load/runner.Session), starting with the stacks
        sessions = start_sessions(es, {arm: Session(spec, None, out / f"locust-{arm}") for arm in ARMS})
        try:  # the arms' stacks all at once (the health wait allows for them starting together)
            stacks = enter_all(es, {arm: functools.partial(
                running, build="baseline", components=[f"gateway={abtest.ARM_BUILDS[arm]}"],
                workers=2 if nginx else 1, nginx=nginx, write_pointer=False, run_dir=out / f"stack-{arm}",
                health_timeout_s=30.0 * len(ARMS)) for arm in ARMS})  # fmt: skip
        except StartFailed as exc:
            if isinstance(exc.error, StackError):
                raise RuntimeError(f"could not start the {exc.key} stack: {exc.error}") from None
            raise exc.error from None
        for arm in ARMS:
            log(f"  gateway load: {arm} stack at {stacks[arm].url} [gateway={abtest.ARM_BUILDS[arm]}, the rest baseline]")
            sessions[arm].url = stacks[arm].url
        es.callback(terminate_sessions, sessions)  # at the end, first: Locust quits while the stacks stop
        for sess in sessions.values():
            sess.wait()

        def one(arm: str, r: int) -> tuple[dict, dict]:
            d = out / f"round{r:02d}-{arm}"
            s = sessions[arm].run(spec, d, label={"label": arm, "build": arm, "round": r})
            return s, json.loads((d / "gateway.json").read_text()) if (d / "gateway.json").exists() else {}

        # the arms of a round at once (each its own Locust process and stack), as the monitoring rounds run
        pool = es.enter_context(ThreadPoolExecutor(max_workers=len(ARMS), thread_name_prefix="gateway-round"))
        for r in range(plan["rounds"]):
            done = {arm: pool.submit(one, arm, r) for arm in ARMS}
            results = {arm: f.result() for arm, f in done.items()}
            for arm in ARMS:
                s, g = results[arm]
                per_arm[arm].append(g)
                share = g["reliable"] / g["total"] if g.get("total") else float("nan")
                log(f"  round {r + 1}/{plan['rounds']} {arm:<8} {headline(s)}; reliable {share:.4f} of "
                    f"{g.get('total', 0)}, statuses {g.get('statuses')}")  # fmt: skip
    (out / "gateway-ab.json").write_text(json.dumps({"plan": plan, "budget_ms": BUDGET_MS, "rounds": per_arm}, indent=1))
    return gateway_records(per_arm, str((out / "gateway-ab.json").relative_to(out.parent)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.measure.api_gateway",
        description="Compare the rate limiters (both builds, limits, aiolimiter) on real time: accuracy of the "
        "accepted count and of the retry hint against the configured rate, and the cost of a decision, in one run.",
    )
    ap.add_argument("--quick", action="store_true", help="shorter runs (about 30 s instead of about 2 min)")
    ap.add_argument("--redis-url", default=None,
                    help="Redis for the shared limiters (default: CLOCKBENCH_REDIS_URL, else 127.0.0.1:6379)")
    ap.add_argument("--out", type=Path, default=None, help="write gateway-limiters.json and .csv into this folder")
    args = ap.parse_args(argv)
    recs = limiter_comparison(args.quick, redis_url=args.redis_url)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / SOURCE).write_text(json.dumps([r.__dict__ for r in recs], indent=1))
        lines = ["metric,build,valid,n,median,reason"]
        for r in recs:
            med = sorted(r.values)[len(r.values) // 2] if r.values else ""
            lines.append(f"{r.metric},{r.build},{r.valid},{r.n},{med},{json.dumps(r.reason)}")
        (args.out / "gateway-limiters.csv").write_text("\n".join(lines) + "\n")
        print(f"written: {args.out / SOURCE}, {args.out / 'gateway-limiters.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
