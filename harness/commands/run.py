"""``clockbench run``: measure what the selected criteria need, judge them, render the report.

Producers (each optional; one that is unavailable or fails leaves its criteria NOT MEASURED or
INVALID with the reason, and the rest still runs and renders):
  microbench  tests/benchmarks through pytest-benchmark (as ``clockbench bench``), both builds
  static      a parse of targets/ for system-time calls
  replay      ``clockbench simulate orders`` twice in separate processes, digests compared
  sims        EMS slice lateness, connection tracker, heartbeats on real time (harness/report/sims.py)
  load        an interleaved A/B load run with an A/A pair (harness/report/load_ab.py, over harness.load)
  capacity    ``clockbench capacity`` on both builds (closed loop, no think time), trials alternating
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness import results
from harness.cli import COMMAND_MODULES, UsageError
from harness.commands.bench import BENCH_DIR
from harness.report import criteria as crit
from harness.report import environment
from harness.report import terminal
from harness.report.render import RUN_FILE, render, judge_run
from harness.rundir import ROOT, new_run_dir, runs_root


class Unavailable(Exception):
    """A producer that cannot run on this machine or in this checkout (the message says why)."""


@dataclass
class Context:
    out: Path
    quick: bool
    phase: str
    metrics: set[str]  # metric ids the selected criteria need
    log: Callable[[str], None] = print
    build_flags: dict = field(default_factory=dict)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="measure the plan's criteria, judge each one, and render the report",
        description=(
            "Runs what the selected criteria need (microbenchmarks, A/B load, capacity, replays), "
            "writes everything to reports/runs/<timestamp>-<commit>/, then renders report.html and "
            "report.json there: each criterion PASS / FAIL / INCONCLUSIVE from its 95% CI, or "
            "INVALID / NOT MEASURED with the reason."
        ),
    )
    p.add_argument("--phase", default="all", choices=["1", "2", "3", "all"], help="which phase's criteria (default: all; phases 2 and 3 show NOT MEASURED until their components land)")
    p.add_argument("--quick", action="store_true", help="fewer rounds: the same criteria, wider intervals, a few minutes")
    p.add_argument("--out", type=Path, help="run directory (default: reports/runs/<timestamp>-<commit>-run)")
    p.add_argument("--skip", action="append", default=[], metavar="PRODUCER",
                   help="do not run this producer (static, replay, sims, microbench, load, capacity); repeatable")
    p.add_argument("--criteria", type=Path, default=crit.CRITERIA_FILE, help="criteria file (default reports/criteria.toml)")
    p.add_argument("--postgres-url", help="PostgreSQL to use (else CLOCKBENCH_POSTGRES_URL, the local port, an embedded one)")
    p.add_argument("--redis-url", help="Redis to use (else CLOCKBENCH_REDIS_URL, the local port, an embedded one)")
    p.add_argument("--no-embedded", action="store_true",
                   help="never start an embedded PostgreSQL/Redis: what needs a missing one is NOT MEASURED")
    p.set_defaults(func=run)


# --- producers --------------------------------------------------------------------------------


# Benchmarks the criteria do not need, or that other producers measure better: the heartbeats
# (harness/report/sims.py repeats them), the stack through nginx (the A/B load run), and the
# third-party ceilings (pgbench, redis-benchmark, NautilusTrader; `clockbench bench` shows them).
MICROBENCH_DESELECT = ("not heartbeats and not through_nginx and not pgbench and not redis_benchmark and not nautilus"
                       " and not pure and not 100000")  # the clock's pure-Python A/B and 100k sizes: `clockbench bench`
MICROBENCH_REPEATS = {True: 3, False: 5}


def produce_microbench(ctx: Context) -> list[results.MetricRecord]:
    """pytest-benchmark, repeated in separate processes; one value per repeat (its median).

    One run's rounds are not independent (a busy neighbour slows a whole stretch of them), so a
    CI over them is too narrow and verdicts flip between runs on a loaded machine. Each repeat is a
    fresh process running every pair with its two builds side by side; a record's values are the
    per-repeat medians, and the judge bootstraps over those. The raw rounds of every repeat, pooled,
    are kept as ``<metric>.rounds`` (the spread criteria use them)."""
    if not any(m.startswith("bench.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs a microbenchmark")
    files = sorted(BENCH_DIR.glob("test_*.py")) if BENCH_DIR.exists() else []
    if not files:
        raise Unavailable(f"no benchmarks in {BENCH_DIR.relative_to(ROOT)} yet")
    repeats = MICROBENCH_REPEATS[ctx.quick]
    per_run: list[list[results.MetricRecord]] = []
    for i in range(repeats):
        json_path = ctx.out / f"microbench-{i}.json"
        cmd = [sys.executable, "-m", "pytest", str(BENCH_DIR), "-q", "-p", "no:cacheprovider",
               "--benchmark-enable", "--benchmark-only", f"--benchmark-json={json_path}",
               "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name", "-k", MICROBENCH_DESELECT]
        cmd += (["--benchmark-max-time=0.1", "--benchmark-min-rounds=5"] if ctx.quick
                else ["--benchmark-max-time=1.0", "--benchmark-min-rounds=15"])
        ctx.log(f"  microbench: repeat {i + 1}/{repeats} ({'quick' if ctx.quick else 'full'}) -> {json_path.name}")
        with open(ctx.out / f"microbench-{i}.log", "w") as logf:
            rc = subprocess.call(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
        if not json_path.exists():
            raise RuntimeError(f"pytest-benchmark wrote no results (exit {rc}); see microbench-{i}.log")
        if rc != 0:
            ctx.log(f"  microbench: pytest exited {rc} (some benchmarks failed or skipped; see microbench-{i}.log)")
        per_run.append(results.from_pytest_benchmark(json_path))
    return combine_repeats(per_run)


def combine_repeats(per_run: list[list[results.MetricRecord]]) -> list[results.MetricRecord]:
    """Per (metric, build): the median of each repeat as the values, the pooled rounds as
    ``<metric>.rounds``; invalid in any repeat -> invalid. Pure."""
    import statistics

    keys: dict[tuple[str, str], list[results.MetricRecord]] = {}
    for run_recs in per_run:
        for r in run_recs:
            keys.setdefault((r.metric, r.build), []).append(r)
    out = []
    for (metric, build), rs in keys.items():
        first = rs[0]
        bad = [r for r in rs if not r.valid]
        extra = dict(first.extra, repeats=len(rs), rounds_per_repeat=[r.n for r in rs])
        if bad:
            out.append(results.invalid(metric, build, first.unit, bad[0].reason, first.source, **extra))
            continue
        if len(rs) < len(per_run):
            extra["missing_in_repeats"] = len(per_run) - len(rs)
        medians = [max(1, round(statistics.median(r.values))) for r in rs]
        out.append(results.MetricRecord(metric, build, first.unit, medians, lower_is_better=first.lower_is_better,
                                        source="microbench-*.json", extra=extra))
        out.append(results.MetricRecord(metric + ".rounds", build, first.unit, [v for r in rs for v in r.values],
                                        lower_is_better=first.lower_is_better, source="microbench-*.json",
                                        extra={"repeats": len(rs)}))
    return out


def produce_sims(ctx: Context) -> list[results.MetricRecord]:
    """EMS slice lateness, the connection tracker and the heartbeats, on real time (harness/report/sims.py)."""
    from harness.report import sims

    jobs = [("sim.ems", sims.ems_slice_lateness), ("bench.lb.connection_tracker", sims.connection_tracker),
            ("sim.lb", sims.connection_tracker), ("sim.heartbeats", sims.heartbeats)]
    out: list[results.MetricRecord] = []
    done = set()
    for prefix, fn in jobs:
        if fn in done or not any(m == prefix or m.startswith(prefix + ".") for m in ctx.metrics):
            continue
        done.add(fn)
        out += fn(ctx.quick, ctx.log)
    if not done:
        raise Unavailable("no selected criterion needs a real-time simulation")
    return out


SYSTEM_TIME_CALLS = {("time", "time"), ("time", "time_ns"), ("datetime", "now"), ("datetime", "utcnow"),
                     ("asyncio", "sleep"), ("time", "sleep"), ("time", "monotonic"), ("time", "monotonic_ns"),
                     ("time", "perf_counter"), ("time", "perf_counter_ns")}


def scan_system_time(root: Path) -> list[str]:
    """Call sites of system-time reads or sleeps (``mod.func(...)``) under ``root``, except targets/clock."""
    hits = []
    for path in sorted(root.rglob("*.py")):
        if "clock" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                base = node.func.value
                name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
                if (name, node.func.attr) in SYSTEM_TIME_CALLS:
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.func.attr}()")
    return hits


def produce_static(ctx: Context) -> list[results.MetricRecord]:
    hits = scan_system_time(ROOT / "targets")
    (ctx.out / "static_system_time_calls.txt").write_text("\n".join(hits) + ("\n" if hits else ""))
    ctx.log(f"  static: {len(hits)} system-time call(s) under targets/ (outside targets/clock)")
    return [results.MetricRecord("static.targets.system_time_calls", "clocked", "count", [len(hits)],
                                 source="static_system_time_calls.txt", extra={"sites": hits[:50]})]


DIGEST = re.compile(r"digest\s+(?:sha256:)?([0-9a-fA-F]{16,})")


def produce_replay(ctx: Context) -> list[results.MetricRecord]:
    if "harness.commands.simulate" not in COMMAND_MODULES:
        raise Unavailable("`clockbench simulate` is not registered yet")
    n = 200 if ctx.quick else 2000
    digests = []
    for i in range(3):
        out = subprocess.run([sys.executable, "-m", "harness", "simulate", "orders", "--seed", "7", "--orders", str(n)],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        (ctx.out / f"replay_{i}.txt").write_text(out.stdout + out.stderr)
        m = DIGEST.search(out.stdout)
        if out.returncode != 0 or not m:
            raise RuntimeError(f"clockbench simulate orders failed or printed no digest (exit {out.returncode}); see replay_{i}.txt")
        digests.append(m.group(1))
    mismatches = sum(d != digests[0] for d in digests[1:])
    ctx.log(f"  replay: 3 processes, digests {'identical' if not mismatches else 'DIFFER'}")
    return [results.MetricRecord("sim.orders.replay_mismatch", "clocked", "count", [mismatches],
                                 source="replay_*.txt", extra={"digests": digests, "orders": n, "seed": 7})]


def produce_load(ctx: Context) -> list[results.MetricRecord]:
    """The interleaved A/B load run with its A/A pair (harness/report/load_ab.py over harness.load)."""
    need = [m for m in ctx.metrics if m.startswith("load.")]
    if not need:
        raise Unavailable("no selected criterion needs a load run")
    from harness.report import load_ab

    try:
        from harness.stack import running  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"the stack (harness/stack) is not importable: {exc}") from None
    ctx.build_flags["load"] = "three stacks: baseline (every component baseline), clocked (every component clocked), aa (a second baseline)"
    return load_ab.produce(ctx.out / "load", ctx.quick, ctx.log)


# The capacity search run by ``clockbench run``: closed-loop users with no think time, so a step's
# concurrency is its load and the search ends well inside what two cores can generate. Absolute
# user counts depend on the machine; the criterion judges the clocked/baseline ratio over trials.
CAPACITY_SEARCH = {
    True: ["--trials", "2", "--duration", "6", "--warmup", "2", "--resolution", "0.25"],  # --quick
    False: ["--trials", "3", "--duration", "15", "--warmup", "4", "--resolution", "0.1"],
}


def produce_capacity(ctx: Context) -> list[results.MetricRecord]:
    """``clockbench capacity`` (both builds, trials alternating which goes first) under the default SLO."""
    if not any(m.startswith("capacity.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs a capacity search")
    out = ctx.out / "capacity"
    cmd = [sys.executable, "-m", "harness", "capacity", "--profile", "orders", "--think", "0",
           "--start-users", "4", "--max-users", "512", "--stack-workers", "1", "--out", str(out),
           *CAPACITY_SEARCH[ctx.quick]]  # fmt: skip
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


PRODUCERS: list[tuple[str, tuple[str, ...], Callable[[Context], list[results.MetricRecord]]]] = [
    ("static", ("static",), produce_static),
    ("replay", ("sim.orders",), produce_replay),
    ("sims", ("sim.ems", "sim.lb", "sim.heartbeats", "bench.lb"), produce_sims),
    ("microbench", ("bench",), produce_microbench),
    ("load", ("load",), produce_load),
    ("capacity", ("capacity",), produce_capacity),
]


# --- the command ------------------------------------------------------------------------------


def earlier_timings(quick: bool, phase: str) -> dict[str, float]:
    """Seconds each producer took in the latest earlier run of the same kind on this machine (the
    progress estimate; empty when there is none)."""
    for meta_path in sorted(runs_root().glob("*-run/" + RUN_FILE), reverse=True):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("quick") == quick and meta.get("phase") == phase:
            return {p["name"]: float(p.get("seconds", 0)) for p in meta.get("producers", []) if p.get("status") == "ok"}
    return {}


def _eta(expected: dict[str, float], remaining: list, skip: list[str]) -> str:
    names = [name for name, _, _ in remaining if name not in skip]
    if not expected or any(n not in expected for n in names):
        return ""
    return f" (about {sum(expected[n] for n in names) / 60:.1f} min left, by the last such run on this machine)"


FOUND_HOW: dict[str, str] = {}  # service name -> how `run` found it (explicit, local port, embedded)


def run(args: argparse.Namespace) -> int:
    """Find (or start embedded) PostgreSQL and Redis for the whole run, then measure and render."""
    from harness import services

    try:
        provided = services.provide(args.postgres_url, args.redis_url, allow_embedded=not args.no_embedded)
        with provided as svc:
            for found in svc:
                status = f"{services.redact(found.url)} ({found.how})" if found.ok else f"MISSING: {found.reason}"
                print(f"{found.name}: {status}", flush=True)
                FOUND_HOW[found.name] = found.how  # the report says how the run found it, not how doctor sees the URL it was handed
            # Every producer's child process (pytest, the stack's workers, Locust) inherits these.
            saved = {k: os.environ.get(k) for k in svc.env()}
            os.environ.update(svc.env())
            try:
                return _run(args)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
    except services.BadServiceURL as exc:
        raise UsageError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    unknown = set(args.skip) - {name for name, _, _ in PRODUCERS}
    if unknown:
        raise UsageError(f"--skip: unknown producer(s) {', '.join(sorted(unknown))}; known: {', '.join(n for n, _, _ in PRODUCERS)}")
    try:
        chosen = crit.select(crit.load(args.criteria), args.phase)
    except crit.CriteriaError as exc:
        raise UsageError(str(exc)) from None
    out = args.out or new_run_dir("run")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    log = lambda s: print(f"[{time.monotonic() - t0:6.1f}s] {s}", flush=True)  # noqa: E731
    metrics = {m for c in chosen if not c.not_measurable and not c.missing_components() for m in c.metrics}
    log(f"clockbench run: phase {args.phase}, {len(chosen)} criteria, {'quick' if args.quick else 'full'} -> {out}")
    ctx = Context(out, args.quick, args.phase, metrics, log)
    records: list[results.MetricRecord] = []
    producers = []
    expected = earlier_timings(args.quick, args.phase)
    for step, (name, prefixes, fn) in enumerate(PRODUCERS, 1):
        start = time.monotonic()
        if name in args.skip:
            status, detail, got = "unavailable", "skipped with --skip", []
        else:
            log(f"step {step}/{len(PRODUCERS)} {name}: starting{_eta(expected, PRODUCERS[step - 1:], args.skip)}")
            try:
                got = fn(ctx)
                status, detail = "ok", f"{len(got)} record(s)"
            except Unavailable as exc:
                got, status, detail = [], "unavailable", f"{name} not available: {exc}"
            except Exception as exc:  # a failed producer must not take the report down with it
                (out / f"{name}.error.txt").write_text(traceback.format_exc())
                got, status, detail = [], "failed", f"{name} failed: {type(exc).__name__}: {exc} (see {name}.error.txt)"
        log(f"{name}: {status}: {detail}")
        records.extend(got)
        results.save(records, out)
        for prefix in prefixes:
            producers.append({"name": name, "prefix": prefix, "status": status, "detail": detail,
                              "seconds": round(time.monotonic() - start, 1)})
    log("environment: collecting (clockbench doctor --json)")
    meta = {"phase": args.phase, "quick": args.quick, "resamples": 1000 if args.quick else 4000,
            "producers": producers, "environment": environment.collect(found_how=FOUND_HOW), "build_flags": ctx.build_flags or
            {"microbench": "both builds in one process per benchmark pair"}}
    (out / RUN_FILE).write_text(json.dumps(meta, indent=1))
    results.save(records, out)
    log("judging and rendering")
    js, recs, meta = judge_run(out, args.phase, args.criteria, resamples=meta["resamples"])
    html, js_path = render(out, js, recs, meta)
    print()
    print("\n".join(terminal.summary(js)))
    print(f"report: {html} (every criterion's reason and definition)\ndata:   {js_path}")
    return 0
