"""``clockbench run``: measure what the selected criteria need, judge them, render the report.

Orchestrates the producers of harness/measure (each optional; one that is unavailable or fails
leaves its criteria NOT MEASURED or INVALID with the reason, and the rest still runs and renders):
  static      a parse of targets/ for system-time calls (measure/static.py)
  replay      ``clockbench simulate orders`` in separate processes, digests compared (measure/orders.py)
  instructions  instruction counts of the CPU-bound microbenchmarks under valgrind, both builds (measure/instructions.py)
  sims        EMS slice lateness, connection tracker, heartbeats on real time (measure/sims.py)
  heartbeats100k  100,000 heartbeats per build on real time, a full run only (measure/websocket.py)
  microbench  tests/benchmarks through pytest-benchmark (as ``clockbench bench``), both builds (measure/microbench.py)
  load        an interleaved A/B load run with an A/A pair (measure/load.py, over harness.load)
  capacity    ``clockbench capacity`` on both builds (closed loop, no think time), trials alternating (measure/load.py)
  monitoring  a real Prometheus scraping three stacks (clocked, baseline, aa: a second baseline), started at once with it and
              their Locust processes; each round loads the three at once (the Locust mixed profile), every build judged
              over the round's common window; accuracy read back through its API (measure/monitoring.py)
  frontend    the dashboard in headless Chromium: clock sync, stamps, click -> ack, quote -> DOM (measure/frontend.py)
  websocket   real WebSocket clients through nginx on each build, 1,000 in --quick, 10,000 in full (measure/websocket.py)
  containers  health checks of payload containers on a private Docker engine, both builds (measure/docker.py)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Callable

from harness import machine_state, results
from harness.errors import UsageError
from harness.measure import Context, Unavailable
from harness.report import criteria as crit
from harness.report import environment
from harness.report import terminal
from harness.progress import timed_log
from harness.rundir import new_run_dir, runs_root


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
                   help="do not run this producer (one of: " + ", ".join(name for name, _, _ in PRODUCERS) + "); repeatable")
    p.add_argument("--criteria", type=Path, default=crit.CRITERIA_FILE, help="criteria file (default reports/criteria.toml)")
    p.add_argument("--postgres-url", help="PostgreSQL to use (else CLOCKBENCH_POSTGRES_URL, the local port, an embedded one)")
    p.add_argument("--redis-url", help="Redis to use (else CLOCKBENCH_REDIS_URL, the local port, an embedded one)")
    p.add_argument("--calibration-trial", default="", help=argparse.SUPPRESS)  # set by `clockbench calibrate` only
    p.add_argument("--no-embedded", action="store_true",
                   help="never start an embedded PostgreSQL/Redis: what needs a missing one is NOT MEASURED")
    p.add_argument("--target-baseline", metavar="URL", help="judge your own deployments: the load criteria are "
                   "measured against this running baseline (before the plan) instead of a stack started here")
    p.add_argument("--target-clocked", metavar="URL", help="... and this running clocked deployment (both or neither)")
    p.add_argument("--target-aa", metavar="URL", help="a second baseline deployment for the A/A noise floor "
                   "(default: the baseline URL again, which measures the noise of your baseline over time)")
    p.add_argument("--no-nginx", dest="nginx", action="store_false",
                   help="drive the stacks' workers directly, without nginx in front (chosen by itself when nginx is "
                        "not installed): the load and capacity criteria are still judged, the load-balancer ones are "
                        "NOT MEASURED")
    p.set_defaults(func=run)


class Producer:
    """A producer function of harness/measure, imported when the run first calls it (or hashes it).

    Every ``python -m harness ...`` child of a run (the three replays, doctor, capacity) imports this
    module, since the CLI registers every command; importing the producers here made each of them
    import pandas, the monitoring stack and the rest too (1.4 s of CPU per ``--help``, most of it that)."""

    def __init__(self, module: str, attr: str) -> None:
        self.module, self.attr = module, attr

    def resolve(self) -> Callable[[Context], list[results.MetricRecord]]:
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(self.module), self.attr)

    def __call__(self, ctx: Context) -> list[results.MetricRecord]:
        return self.resolve()(ctx)


# The producers (harness/measure), in the order they run: name (for --skip), the metric prefixes it covers.
PRODUCERS: list[tuple[str, tuple[str, ...], Callable[[Context], list[results.MetricRecord]]]] = [
    ("static", ("static",), Producer("harness.measure.static", "produce_static")),
    ("replay", ("sim.orders",), Producer("harness.measure.orders", "produce_replay")),
    ("instructions", ("instr",), Producer("harness.measure.microbench", "produce_instructions")),
    ("sims", ("sim.ems", "sim.lb", "sim.heartbeats", "bench.lb"), Producer("harness.measure.sims", "produce")),
    ("heartbeats100k", ("sim.heartbeats100k",), Producer("harness.measure.websocket", "produce_heartbeats_100k")),
    ("microbench", ("bench",), Producer("harness.measure.microbench", "produce_microbench")),
    ("monitoring", ("sim.monitoring", "load.mixed"), Producer("harness.measure.monitoring", "produce_monitoring")),
    ("load", ("load",), Producer("harness.measure.load", "produce_load")),
    ("gateway", ("load.gateway", "gateway"), Producer("harness.measure.api_gateway", "produce_gateway")),
    ("capacity", ("capacity",), Producer("harness.measure.load", "produce_capacity")),
    ("frontend", ("ui",), Producer("harness.measure.frontend", "produce_frontend")),
    ("websocket", ("ws",), Producer("harness.measure.websocket", "produce")),
    ("containers", ("sim.containers", "bench.containers"), Producer("harness.measure.docker", "produce_containers")),
]


# Producers whose values do not depend on what else the machine runs (a parse, replay digests,
# instruction counts): the run's environment (``clockbench doctor --json`` in a child, ~5 s) is
# collected beside them and is done before any other producer starts, so it never runs during a
# timed measurement. The instruction counts run here, before every timed step, rather than after
# the microbenchmarks: their valgrind processes burn both CPUs, which no timed step may share,
# and the environment's seconds pass beside them instead of being waited for (4 s of a quick run).
LOAD_INDEPENDENT = {"static", "replay", "instructions"}


# The modules whose code defines what each producer's metrics measure: a metric's definition
# version (results.MetricRecord.definition) hashes them with the producer, so editing any of them
# makes compare/gate refuse to compare the metric with runs from before (the microbenchmarks hash
# each benchmark function instead: harness/measure/pairing.py).
DEFINED_BY = {
    "static": ("harness.measure.static",), "replay": ("harness.measure.orders", "harness.commands.simulate"),
    "sims": ("harness.measure.sims", "harness.measure.orders", "harness.measure.load_balancing",
             "harness.measure.websocket", "harness.heartbeats", "harness.measure"),  # in_repeats, own_heap
    "load": ("harness.measure.load", "harness.load.records", "harness.load.runner", "loadtests.orders"),
    "capacity": ("harness.measure.load", "harness.commands.capacity", "harness.load.capacity"),
    "frontend": ("harness.measure.frontend",),
    "monitoring": ("harness.measure.monitoring", "harness.load.runner"), "gateway": ("harness.measure.api_gateway", "loadtests.gateway"),
    "websocket": ("harness.measure.websocket",), "containers": ("harness.measure.docker",),
    "heartbeats100k": ("harness.measure.websocket", "harness.heartbeats", "harness.measure"),
}


def definition_of(name: str, fn: Callable) -> str:
    """The definition hash of a producer's metrics: its function's source and its modules' text.

    The modules are read, never imported: importing ``loadtests.orders`` imports Locust, whose
    gevent ``monkey.patch_all()`` then turned this process's threads into greenlets, and every
    later step that runs asyncio on a thread of its own (the containers' soaks) failed with
    "asyncio.run() cannot be called from a running event loop"."""
    import importlib.util
    import inspect

    texts = [inspect.getsource(fn.resolve() if isinstance(fn, Producer) else fn)]
    for mod in DEFINED_BY.get(name, ()):
        try:
            spec = importlib.util.find_spec(mod)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                raise ImportError(mod)
            texts.append(Path(spec.origin).read_text())
        except (ImportError, OSError, ValueError):
            texts.append(f"<{mod} not importable>")
    return results.definition_hash(name, *texts)


# --- the command ------------------------------------------------------------------------------


def earlier_timings(quick: bool, phase: str) -> dict[str, float]:
    """Seconds each producer took in the latest earlier run of the same kind on this machine in which
    it ran to the end (the progress estimate; a step that failed or was skipped in the latest run is
    taken from an older one, so one failed step does not take the estimate away; empty when none)."""
    from harness.report.render import RUN_FILE  # noqa: PLC0415 - pandas: only the run itself needs it

    found: dict[str, float] = {}
    for meta_path in sorted(runs_root().glob("*-run/" + RUN_FILE), reverse=True)[:50]:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("quick") == quick and meta.get("phase") == phase:
            for p in meta.get("producers", []):
                if p.get("status") == "ok":
                    found.setdefault(p["name"], float(p.get("seconds", 0)))
    return found


def _eta(expected: dict[str, float], remaining: list, skip: list[str]) -> str:
    names = [name for name, _, _ in remaining if name not in skip]
    if not expected or any(n not in expected for n in names):
        return ""
    return f" (about {sum(expected[n] for n in names) / 60:.1f} min left, by the last such run on this machine)"


def own_targets(args: argparse.Namespace) -> dict[str, str]:
    """arm -> URL from --target-baseline/--target-clocked/--target-aa (both main ones or none)."""
    base, clocked = getattr(args, "target_baseline", None), getattr(args, "target_clocked", None)
    if bool(base) != bool(clocked):
        raise UsageError("--target-baseline and --target-clocked go together: the plan is judged by comparing the two")
    if not base:
        if getattr(args, "target_aa", None):
            raise UsageError("--target-aa needs --target-baseline and --target-clocked")
        return {}
    for flag, url in (("--target-baseline", base), ("--target-clocked", clocked), ("--target-aa", args.target_aa)):
        if url and not url.startswith(("http://", "https://")):
            raise UsageError(f"{flag} {url!r}: expected an http:// or https:// URL")
    return {"baseline": base, "clocked": clocked, "aa": args.target_aa or base}


def tool_notices(nginx_wanted: bool = True) -> tuple[list[str], dict[str, str]]:
    """What the run goes without, said once at the top of the terminal and the report, and the missing
    tools with the command that gets each (criteria that need one are NOT MEASURED with it)."""
    from harness.backends.tools import NEEDED_FOR  # noqa: PLC0415

    missing: dict[str, str] = {}
    notices: list[str] = []
    from harness.stack.errors import StackError  # noqa: PLC0415
    from harness.stack.nginx import find_nginx  # noqa: PLC0415 - the same search the stack makes

    try:
        find_nginx()
        have_nginx = True
    except StackError:
        have_nginx = False
    if not have_nginx:
        missing["nginx"] = f"this machine lacks it ({NEEDED_FOR['nginx'][2]}, then run again)"
        notices.append("nginx is not installed: the load and capacity criteria are measured straight against the "
                       "workers (one per stack), and the load-balancer criteria are NOT MEASURED "
                       f"({NEEDED_FOR['nginx'][2]} to include them)")
    elif not nginx_wanted:
        missing["nginx"] = "this run was made with --no-nginx (run without it)"
        notices.append("--no-nginx: the load and capacity criteria are measured straight against the workers "
                       "(one per stack), and the load-balancer criteria are NOT MEASURED")
    return notices, missing


def _loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none): beside every wall time."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _fmt_load(la: list[float] | None) -> str:
    return "?" if not la else "/".join(f"{x:.1f}" for x in la)


COMMAND_START = time.monotonic()  # reset by run(): the embedded services' start-up counts in the total
FOUND_HOW: dict[str, str] = {}  # service name -> how `run` found it (explicit, local port, embedded)


def run(args: argparse.Namespace) -> int:
    """Find (or start embedded) PostgreSQL and Redis for the whole run, then measure and render."""
    global COMMAND_START
    COMMAND_START = time.monotonic()
    from harness import backends  # noqa: PLC0415 - only the run command needs the backends
    from harness import plant

    spec = plant.active()
    if spec and (not args.calibration_trial or args.calibration_trial != os.environ.get(plant.TOKEN_ENV)):
        raise UsageError(f"{plant.ENV}={spec!r} is set: a planted slowdown runs only inside `clockbench calibrate`; "
                         f"unset {plant.ENV} to measure")

    try:
        provided = backends.provide(args.postgres_url, args.redis_url, allow_embedded=not args.no_embedded)
        with provided as svc:
            for found in svc:
                status = f"{backends.redact(found.url)} ({found.how})" if found.ok else f"MISSING: {found.reason}"
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
    except backends.BadServiceURL as exc:
        raise UsageError(str(exc)) from None


def _run_step(ctx: Context, args: argparse.Namespace, out: Path, step: int, name: str, prefixes: tuple[str, ...],
              fn: Callable[[Context], list[results.MetricRecord]], expected: dict[str, float],
              records: list[results.MetricRecord], producers: list[dict], states: dict[str, dict],
              steps: list[dict], log: Callable[[str], None]) -> None:
    """One producer: run it (or say it was skipped), log its time and load average, save its records."""
    start = time.monotonic()
    load_before = _loadavg()
    if name in args.skip:
        status, detail, got = "unavailable", "skipped with --skip", []
    else:
        log(f"step {step}/{len(PRODUCERS)} {name}: starting{_eta(expected, PRODUCERS[step - 1:], args.skip)}")
        try:
            with machine_state.Watch() as watch:
                got = results.stamp(fn(ctx), definition_of(name, fn))
            states[name] = watch.state
            status, detail = "ok", f"{len(got)} record(s)"
        except Unavailable as exc:
            got, status, detail = [], "unavailable", f"{name} not available: {exc}"
        except Exception as exc:  # a failed producer must not take the report down with it
            (out / f"{name}.error.txt").write_text(traceback.format_exc())
            got, status, detail = [], "failed", f"{name} failed: {type(exc).__name__}: {exc} (see {name}.error.txt)"
    took = round(time.monotonic() - start, 1)
    timing = "" if name in args.skip else \
        f" ({took:.1f}s, load average {_fmt_load(load_before)} -> {_fmt_load(_loadavg())})"
    log(f"{name}: {status}: {detail}{timing}")
    records.extend(got)
    results.save(records, out)
    for prefix in prefixes:
        producers.append({"name": name, "prefix": prefix, "status": status, "detail": detail, "seconds": took})
    steps.append({"name": name, "status": status, "seconds": took, "loadavg_start": load_before,
                  "loadavg_end": _loadavg()})


def _run(args: argparse.Namespace) -> int:
    from harness.report.render import RUN_FILE, judge_run, render  # noqa: PLC0415 - see Producer
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
    log = timed_log(t0)
    metrics = {m for c in chosen if not c.not_measurable and not c.missing_components() for m in c.metrics}
    log(f"clockbench run: phase {args.phase}, {len(chosen)} criteria, {'quick' if args.quick else 'full'} -> {out}")
    notices, missing_tools = tool_notices(args.nginx)
    for n in notices:
        log(f"NOTE: {n}")
    targets = own_targets(args)
    if targets:
        notices.append("judged against your own deployments: " + ", ".join(f"{a} {u}" for a, u in targets.items())
                       + " (load criteria); the microbenchmarks and simulations ran on this machine's components")
        log(f"NOTE: {notices[-1]}")
    ctx = Context(out, args.quick, args.phase, metrics, log, nginx=args.nginx and "nginx" not in missing_tools,
                  targets=targets)
    records: list[results.MetricRecord] = []
    producers = []
    states: dict[str, dict] = {}  # producer -> the machine's state while it ran
    expected = earlier_timings(args.quick, args.phase)
    steps: list[dict] = []  # each step once: its wall time and the load average around it (timings below)
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    log("environment: collecting (clockbench doctor --json) beside the load-independent steps")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="environment") as pool:
        env_future = pool.submit(environment.collect, found_how=FOUND_HOW)
        for step, (name, prefixes, fn) in enumerate(PRODUCERS, 1):
            if name not in LOAD_INDEPENDENT and not env_future.done():
                t_wait = time.monotonic()
                env_future.result()
                log(f"environment: collected (waited {time.monotonic() - t_wait:.1f}s for it before {name})")
            _run_step(ctx, args, out, step, name, prefixes, fn, expected, records, producers, states, steps, log)
    env_info = env_future.result()
    from harness import plant

    planted = plant.active()
    if planted:
        for r in records:
            r.extra["planted"] = planted
    busy = machine_state.describe(states)
    seen_rounds: set = set()
    for r in records:  # rounds (microbenchmark pairs, load rounds) run while the machine was busy
        bp = r.extra.get("busy_pairs") or r.extra.get("busy_rounds")
        if bp and r.build == "clocked" and not r.extra.get("pooled"):
            what = "pairs" if r.extra.get("busy_pairs") else "rounds"
            if what == "rounds":  # every metric of a load run shares its rounds: say it once
                if (r.source, tuple(bp)) in seen_rounds:
                    continue
                seen_rounds.add((r.source, tuple(bp)))
            busy.append(f"{r.metric}: {len(bp)} of {r.n} {what} ran while other processes used > "
                        f"{machine_state.BUSY_OTHERS:.0%} of the CPUs")
    if busy:
        log("machine busy: " + "; ".join(busy[:5]) + (f" (+{len(busy) - 5} more)" if len(busy) > 5 else ""))
    timings = {"steps": steps, "measure_s": round(time.monotonic() - t0, 1), "since_command_start_s": None,
               "loadavg_end": _loadavg(), "cpu_count": os.cpu_count()}
    meta = {"planted": planted or None, "timings": timings,
            "machine_state": {"producers": states, "busy": busy, "threshold_others_cpu": machine_state.BUSY_OTHERS},
            "notices": notices, "missing_tools": missing_tools, "phase": args.phase, "quick": args.quick, "resamples": 1000 if args.quick else 4000,
            "producers": producers, "environment": env_info, "build_flags": ctx.build_flags or
            {"microbench": "both builds in one process per benchmark pair"}}
    (out / RUN_FILE).write_text(json.dumps(meta, indent=1))
    results.save(records, out)
    log("judging and rendering")
    t_judge = time.monotonic()
    js, recs, meta = judge_run(out, args.phase, args.criteria, resamples=meta["resamples"])
    meta["timings"].update(judge_s=round(time.monotonic() - t_judge, 1), total_s=round(time.monotonic() - t0, 1),
                           since_command_start_s=round(time.monotonic() - COMMAND_START, 1))
    (out / RUN_FILE).write_text(json.dumps(meta, indent=1))
    html, js_path = render(out, js, recs, meta)
    log(f"run took {meta['timings']['total_s'] / 60:.1f} min ({meta['timings']['since_command_start_s'] / 60:.1f} min "
        f"with finding PostgreSQL/Redis), load average at the end {_fmt_load(_loadavg())}; per step in "
        f"{RUN_FILE} and report.json (timings)")
    print()
    print("\n".join(terminal.summary(js)))
    for n in notices:
        print(f"NOTE: {n}")
    print(f"report: {html} (every criterion's reason and definition)\ndata:   {js_path}")
    return 0
