"""Load measurements for ``clockbench run``, over the load tooling (harness/load, used read-only):
the A/B load run (``produce_load``) and the capacity search (``produce_capacity``).

An interleaved A/B run of the orders profile, the way ``clockbench ab`` does it: a baseline stack,
a clocked stack and a second baseline stack (A/A, the noise floor), each behind its own nginx,
in alternating order (ABA', A'BA, ...) for ``rounds`` rounds. Besides harness.load's per-round
records (``load.orders.p50`` ... ``throughput``, ``errors``) it writes:

- ``load.orders.post_p50`` / ``post_p99``: the same percentiles for ``POST /api/v1/orders`` alone;
- ``load.orders.nginx_added_p50`` / ``nginx_added_mean``: nginx's own added latency
  (``$request_time - $upstream_response_time``) over the round's access-log lines of that arm's
  stack, parsed by core/load_balancing/load_balancer_timing (the same parser for every arm: it
  is the measuring instrument, not the build under test). nginx logs milliseconds, so most
  differences are 0 or 1 ms; the per-round mean is the usable statistic at that resolution.

Rounds in which any arm's run was invalid (a saturated load generator, a short rate) are left out
of every arm, keeping the pairing; with fewer than two valid rounds the records are invalid, with
the reasons.
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness import results
from harness.results import MetricRecord, invalid
from harness.rundir import ROOT

from . import Context, StartFailed, Unavailable, enter_all

Log = Callable[[str], None]
PROFILE = "orders"
POST = "POST /api/v1/orders"


@dataclass(frozen=True)
class Plan:
    rounds: int
    duration_s: float
    warmup_s: float
    users: int
    # Think time between a user's requests (ms, MIN-MAX): short, so the stack is busy and a round's
    # throughput depends on how fast the build serves, not only on how long its users wait.
    think: str = "0-50"
    # One uvicorn worker per stack: the whole stack is then one process per build, the simplest
    # thing to compare (nginx routes an order's requests to its owning worker when there are more).
    stack_workers: int = 1


# --quick: shorter rounds, one more of them. The rounds are judged by the paired t interval of their
# log ratios, whose quantile falls from 4.30 (3 rounds) to 3.18 (4): 4 rounds of 3 measured seconds
# give an interval about 0.9x as wide as 3 of 8 (if a round's noise goes as 1/sqrt(its length)).
# Each arm's Locust process lives across the rounds (harness/load/runner.Session), so a 4 s run with
# 1 s of warm-up measures ~3 s (a fresh process's start ate ~0.5 s of the run; windows were 4.0-4.2 s
# of 5 s runs at load 2-6), without its ~1.5 s of start/stop. Rounds of 5 s took the step 64 s, of 4 s
# 54 s (2026-11-30); the criteria the quick run decides from it missed their goals by 18-45 points
# (TO-ORDER-LATENCY, PM-LB-ROUTING, SC1-LB-EFFICIENCY), against intervals about 1.1x as wide now.
# The 3 s measured stay; the warm-up is half a second (the users all start in its first 0.4 s,
# runner.spawn_rate_for) and the test stops at 3.5 s itself: Locust's whole-second run time made
# these 4 s, so the rounds took 48 s of the step (42 s now).
QUICK = Plan(rounds=4, duration_s=3.5, warmup_s=0.5, users=10)
FULL = Plan(rounds=6, duration_s=30.0, warmup_s=5.0, users=20)


def nginx_added(log_bytes: bytes, since_ns: int) -> dict | None:
    """nginx's added latency over access-log lines logged at or after ``since_ns`` (pure)."""
    from core.load_balancing.load_balancer_timing import added_latency, parse

    entries, skipped = parse(log_bytes.decode("utf-8", "replace").splitlines())
    entries = [e for e in entries if e.time_ns >= since_ns]
    dist = added_latency(entries)
    if dist is None:
        return None
    return {**dist.as_dict(), "skipped_lines": skipped}


def round_extra(summary: dict, added: dict | None) -> dict[str, int]:
    """Per-round figures beyond harness.load's own: POST-only percentiles, nginx's added latency."""
    out: dict[str, int] = {}
    post = (summary.get("endpoints") or {}).get(POST) or {}
    lat = post.get("latency_ns") or {}
    for k in ("p50", "p99"):
        if k in lat:
            out[f"post_{k}"] = int(lat[k])
    if added:
        out["nginx_added_p50"] = int(added["p50_ns"])
        out["nginx_added_mean"] = int(added["mean_ns"])
    return out


def records_from_rounds(runs: dict[str, list[dict]], extras: dict[str, list[dict[str, int]]],
                        source: str) -> tuple[list[MetricRecord], dict]:
    """Metric records of every arm over the rounds valid in all arms (pure)."""
    from harness.load import records
    from harness.load.abtest import rounds_in_every_arm

    arms = list(runs)
    n = min(len(v) for v in runs.values())
    keep = rounds_in_every_arm(runs, lambda r: r["validity"]["valid"])
    info = {"rounds": n, "used_rounds": keep, "dropped_rounds": [i for i in range(n) if i not in keep]}
    # rounds in which any arm ran while other processes kept the machine busy (harness/machine_state.py)
    info["busy_rounds"] = [i for i in keep if any((runs[a][i].get("machine") or {}).get("busy") for a in arms)]
    out: list[MetricRecord] = []
    for arm in arms:
        build = arm  # "baseline", "clocked" or "aa" (the second baseline: the noise floor)
        if len(keep) < 2:
            out += records.records_for_rounds(PROFILE, build, runs[arm], source)
            for stat in ("post_p50", "post_p99", "nginx_added_p50", "nginx_added_mean"):
                out.append(invalid(f"load.{PROFILE}.{stat}", build, "ns",
                                   f"only {len(keep)} of {n} rounds valid in every arm; a CI needs two", source))
            continue
        for r in records.records_for_rounds(PROFILE, build, [runs[arm][i] for i in keep], source):
            r.extra.update(info)
            out.append(r)
        for stat in ("post_p50", "post_p99", "nginx_added_p50", "nginx_added_mean"):
            if stat.startswith("nginx") and not any(stat in extras[arm][i] for i in keep):
                continue  # no nginx in front (--no-nginx): nothing to record, the criterion says why
            vals = [extras[arm][i].get(stat) for i in keep]
            metric = f"load.{PROFILE}.{stat}"
            if any(v is None for v in vals):
                out.append(invalid(metric, build, "ns", f"{stat} missing in some rounds (no such requests or no access log)", source))
            else:
                out.append(MetricRecord(metric, build, "ns", [int(v) for v in vals], kind="rounds", source=source,
                                        extra=dict(info, resolution_ns=1_000_000 if stat.startswith("nginx") else None)))
    return out, info


def produce(out: Path, quick: bool, log: Log = print, plan: Plan | None = None, nginx: bool = True,
            urls: dict[str, str] | None = None) -> list[MetricRecord]:
    """The A/B rounds. Without nginx each stack is one worker driven directly (a second worker would
    get no traffic) and no nginx figure is recorded. ``urls`` (arm -> URL): the user's own running
    deployments instead of stacks started here (no access log: no nginx figure either)."""
    from harness.load import abtest
    from harness.load.runner import (LoadError, LoadSpec, Session, headline, spawn_rate_for, start_sessions,
                                      terminate_sessions)
    from harness.load.target import target

    plan = plan or (QUICK if quick else FULL)
    out.mkdir(parents=True, exist_ok=True)
    arms = abtest.ARMS
    spec = LoadSpec(profile=PROFILE, users=plan.users, spawn_rate=spawn_rate_for(plan.users, plan.warmup_s),
                    duration_s=plan.duration_s, warmup_s=plan.warmup_s, think=plan.think)
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    extras: dict[str, list[dict[str, int]]] = {a: [] for a in arms}
    with contextlib.ExitStack() as es:
        # one Locust process per arm for all its rounds, starting while the stacks start
        sessions = start_sessions(es, {arm: Session(spec, None, out / f"locust-{arm}") for arm in arms})
        try:  # the arms' stacks all at once (the health wait allows for them starting together)
            stacks = enter_all(es, {arm: functools.partial(
                target, (urls or {}).get(arm), build=abtest.ARM_BUILDS[arm],
                workers=plan.stack_workers if nginx else 1, nginx=nginx, write_pointer=False,
                run_dir=out / f"stack-{arm}", health_timeout_s=30.0 * len(arms)) for arm in arms})
        except StartFailed as exc:
            if isinstance(exc.error, LoadError):
                raise RuntimeError(f"the {exc.key} arm: {exc.error}") from None
            raise exc.error from None
        for arm in arms:
            log(f"  load: {arm} stack at {stacks[arm].url} [{abtest.ARM_BUILDS[arm]}]")
            sessions[arm].url = stacks[arm].url
        es.callback(terminate_sessions, sessions)  # at the end, first: Locust quits while the stacks stop
        for sess in sessions.values():
            sess.wait()
        log(f"  load: {PROFILE}, {plan.users} users, {plan.duration_s:g}s per run (warm-up {plan.warmup_s:g}s), "
            f"{plan.rounds} rounds x {len(arms)} arms")
        for r in range(plan.rounds):
            for arm in abtest.order(r, arms):
                st = stacks[arm]
                logp = st.access_log
                offset = logp.stat().st_size if logp and logp.exists() else 0
                from harness import machine_state

                with machine_state.Watch() as mw:  # the machine's state during this round
                    s = sessions[arm].run(spec, out / f"round{r:02d}-{arm}",
                                          label={"label": arm, "build": arm, "round": r, "build_map": st.build_map},
                                          watch=st.dead)
                s["machine"] = mw.state
                added = None
                if logp and logp.exists():
                    with logp.open("rb") as f:
                        f.seek(offset)
                        chunk = f.read()
                    added = nginx_added(chunk, s["started_ns"] + int(plan.warmup_s * 1e9))
                runs[arm].append(s)
                extras[arm].append(round_extra(s, added))
                nx = f", nginx added mean {added['mean_ns'] / 1e3:.0f} µs" if added else ""
                log(f"  round {r + 1}/{plan.rounds} {arm:<8} {headline(s)}{nx}")
    result = abtest.analyse(runs, seed=0)
    result.update({"profile": PROFILE, "arms": list(arms), "plan": plan.__dict__, "extras": extras})
    (out / "ab.json").write_text(json.dumps(result, indent=1, default=str))
    text = abtest.table(result)
    (out / "ab.txt").write_text(text + "\n")
    for line in text.splitlines():
        log(f"  {line}")
    recs, info = records_from_rounds(runs, extras, str((out / "ab.json").relative_to(out.parent)))
    return recs


# --- the producers -----------------------------------------------------------------------------


def produce_load(ctx: Context) -> list[results.MetricRecord]:
    """The interleaved A/B load run with its A/A pair (``produce`` below, over harness.load)."""
    need = [m for m in ctx.metrics if m.startswith("load.") and not m.startswith("load.gateway.")]  # api_gateway's
    if not need:
        raise Unavailable("no selected criterion needs a load run")
    try:
        from harness.stack import running  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"the stack (harness/stack) is not importable: {exc}") from None
    if ctx.targets:
        ctx.build_flags["load"] = "the user's own deployments: " + ", ".join(f"{a} at {u}" for a, u in ctx.targets.items())
    else:
        ctx.build_flags["load"] = ("three stacks: baseline (every component baseline), clocked (every component clocked), "
                                   "aa (a second baseline)" + ("" if ctx.nginx else "; no nginx: one worker each, driven directly"))
    return produce(ctx.out / "load", ctx.quick, ctx.log, nginx=ctx.nginx, urls=ctx.targets)


# The capacity search run by ``clockbench run``: closed-loop users with no think time, so a step's
# concurrency is its load and the search ends well inside what two cores can generate. Absolute
# user counts depend on the machine; the criterion judges the clocked/baseline ratio over trials.
# Trials are paired (both builds per trial, harness/load/records.capacity_record) and judged by the
# per-trial ratio, whose t interval needs stats.MIN_PAIRS = 3 trials: --quick runs 3 (2 left the
# capacity criteria INCONCLUSIVE for too few values), one more search per build. Its steps run in one
# Locust process per build (harness/load/runner.Session): 3.5 s with 0.5 s of warm-up measure the ~3 s
# that a fresh process's 5 s step with 1.5 s of warm-up measured (windows 3.0-3.1 s at load 2-6).
CAPACITY_SEARCH = {
    # --quick. Steps of 3 s with 0.75 s of warm-up (2026-11-30) took the step from 72 to 59 s, and a
    # p99 over ~1,200 requests moved the searches' answers (clocked 7, 7, 4 users) to the widest
    # interval of five quick runs, [-48%, +159%]; with 4 s steps it was [-21%, +16%] to [-34%, +74%]
    # (FAIL in two runs, INCONCLUSIVE in two: at ~6 users one user more or less moves a trial's ratio
    # by a sixth, and three trials' t interval is wide whenever one of them differs).
    # The first trial doubles from --start-users: 8 spends a step less than 4 where the capacity is
    # above 8 (10-12 users in a quick run of c5fdfbb), and as many where it is below (4-7 users in
    # earlier runs: 8 fails, then the bisection below it). Steps of 3.5 s with 0.5 s of warm-up
    # measure the same 3 s as 4 s with 1 s did (runner.spawn_rate_for).
    True: ["--trials", "3", "--duration", "3.5", "--warmup", "0.5", "--resolution", "0.25", "--start-users", "8"],
    False: ["--trials", "3", "--duration", "15", "--warmup", "4", "--resolution", "0.1", "--start-users", "4"],
}


def produce_capacity(ctx: Context) -> list[results.MetricRecord]:
    """``clockbench capacity`` (both builds, trials alternating which goes first) under the default SLO."""
    if not any(m.startswith("capacity.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs a capacity search")
    if ctx.targets:
        raise Unavailable("the capacity search drives a stack past its SLO, so `run` does not aim it at your own "
                          "deployments; run `clockbench capacity --target URL --builds BUILD` for each when you mean to")
    out = ctx.out / "capacity"
    cmd = [sys.executable, "-m", "harness", "capacity", "--profile", "orders", "--think", "0",
           "--max-users", "512", "--stack-workers", "1", "--out", str(out),
           *CAPACITY_SEARCH[ctx.quick], *([] if ctx.nginx else ["--no-nginx"])]  # fmt: skip
    ctx.log("  capacity: " + " ".join(cmd[3:]))
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the search's own progress, one line per step
        ctx.log("    " + line.rstrip())
    if proc.wait() != 0 or not (out / "metrics.json").exists():
        raise RuntimeError(f"clockbench capacity failed (exit {proc.returncode}); see its lines above and {out}")
    summary = json.loads((out / "capacity.json").read_text())
    records = []
    for r in results.load(out / "metrics.json"):
        trials = summary.get("builds", {}).get(r.build, {}).get("trials", [])
        if r.valid and any(t.get("first_fail") is None for t in trials):
            # never broke the SLO: the figure is only a lower bound set by --max-users
            r = results.invalid(r.metric, r.build, r.unit, "the SLO held up to the search's --max-users: "
                                "capacity is only a lower bound", r.source, **r.extra)
        records.append(r)
    return records
