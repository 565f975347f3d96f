"""``clockbench load``: one Locust run (headless) against a stack started for it or ``--target``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.builds import BUILDS
from harness.errors import UsageError
from harness.load import records
from harness.load.signals import interruptible
from harness.load.runner import MAX_ERROR_RATE, PROFILES, SHAPES, LoadError, LoadSpec, headline, run, spawn_rate_for
from harness.load.target import target
from harness.results import save
from harness.rundir import new_run_dir


def add_load_args(p: argparse.ArgumentParser, *, duration: float = 30.0, users: int = 10) -> None:
    """Options every load command shares (what load to make and where)."""
    p.add_argument("--profile", choices=PROFILES, default="orders", help="Locust profile (default: orders)")
    p.add_argument("--users", type=int, default=users, help=f"concurrent users (default {users}); in --rate mode, the pool of senders")
    p.add_argument("--spawn-rate", type=float, default=None, help="users started per second (default: all within the warm-up)")
    p.add_argument("--duration", type=float, default=duration, help=f"seconds of load per run (default {duration:g})")
    p.add_argument("--warmup", type=float, default=None, help="seconds at the start not measured (default: a fifth of --duration, at most 10)")
    p.add_argument("--rate", type=float, default=0.0, help="open mode: R arrivals per second on a fixed schedule (latency corrected for coordinated omission)")
    p.add_argument("--think", default="", help="closed mode think time MIN-MAX in ms, e.g. 0 or 500-1500 (default: the profile's)")
    p.add_argument("--workers", type=int, default=0, help="distributed: a Locust master and N local worker processes")
    p.add_argument("--expect-workers", type=int, default=0, metavar="N",
                   help="distributed: N more workers from other machines; the master waits for them and splits --rate over all")
    p.add_argument("--master-bind-host", default="127.0.0.1",
                   help="address the master listens on for workers (default 127.0.0.1; 0.0.0.0 for remote workers)")
    p.add_argument("--master-port", type=int, default=0, help="the master's port for workers (default: a free one)")
    p.add_argument("--worker-wait", type=float, default=None,
                   help="seconds the master waits for every worker (default 30, 120 with --expect-workers)")
    p.add_argument("--max-error-rate", type=float, default=MAX_ERROR_RATE, metavar="FRACTION",
                   help=f"a run with more failed requests than this is INVALID (default {MAX_ERROR_RATE:g}, i.e. "
                        f"{MAX_ERROR_RATE * 100:g}%%; 1 turns the rule off)")
    p.add_argument("--stack-workers", type=int, default=2, help="uvicorn workers of a stack started for the run (default 2)")
    p.add_argument("--no-nginx", dest="nginx", action="store_false", help="a started stack without nginx in front")
    p.add_argument("--out", type=Path, help="run directory (default: reports/runs/<timestamp>-<commit>-<command>)")


def spec_from(args: argparse.Namespace, **over: object) -> LoadSpec:
    warm = args.warmup if args.warmup is not None else min(10.0, args.duration / 5)
    users = over.get("users", args.users)
    # every user starts inside the warm-up (runner.spawn_rate_for): a spawn rate capped at one second's
    # ramp let a short warm-up's users start in the measured window (10 users, 0.5 s: 1 s of ramp)
    spawn = args.spawn_rate if args.spawn_rate else spawn_rate_for(users, warm)  # type: ignore[arg-type]
    spec = LoadSpec(
        profile=args.profile, users=users, spawn_rate=spawn, duration_s=args.duration,  # type: ignore[arg-type]
        warmup_s=warm, shape=getattr(args, "shape", None), rate=args.rate, workers=args.workers, think=args.think,
        max_error_rate=over.get("max_error_rate", args.max_error_rate),  # type: ignore[arg-type]
        **distributed_from(args),
    )
    try:
        spec.check()
    except LoadError as exc:
        raise UsageError(str(exc)) from None
    return spec


def distributed_from(args: argparse.Namespace) -> dict:
    """The LoadSpec fields for distributed mode (remote workers) from the shared options."""
    remote = getattr(args, "expect_workers", 0) or 0
    host = getattr(args, "master_bind_host", "127.0.0.1") or "127.0.0.1"
    if remote and host in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(f"--expect-workers {remote}: workers on other machines cannot reach a master bound to "
                         f"{host}; add --master-bind-host 0.0.0.0 (or this machine's address)")
    wait = getattr(args, "worker_wait", None)
    return {
        "expect_workers": remote, "master_bind_host": host, "master_port": getattr(args, "master_port", 0) or 0,
        "worker_wait_s": wait if wait is not None else (120.0 if remote else 30.0),
    }


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load", help="one load test with Locust (headless), results as JSON and CSV",
        description=(
            "Runs a Locust profile headless against a stack started for the run (--build, --component) "
            "or a running one (--target URL). Latency is recorded per request in HdrHistograms (integer ns) "
            "merged over Locust processes; --rate R runs an open constant-arrival-rate load and reports the "
            "corrected and uncorrected figures. A run whose generator saturated (a Locust process above 90% "
            "CPU) or fell short of its rate is INVALID, with the reason."
        ),
    )
    add_load_args(p)
    p.add_argument("--shape", choices=SHAPES, help="a load shape over --duration up to --users (closed mode)")
    p.add_argument("--build", choices=BUILDS, default="clocked", help="every component's build")
    p.add_argument("--component", action="append", default=[], metavar="NAME=BUILD", help="override one component (repeatable)")
    p.add_argument("--target", help="URL of a running stack (nothing is started)")
    p.set_defaults(func=cmd)


@interruptible
def cmd(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    out = args.out or new_run_dir("load")
    try:
        with target(args.target, build=args.build, components=args.component,
                    workers=args.stack_workers, nginx=args.nginx) as t:
            print(f"load: {spec.profile} ({spec.mode}{', shape ' + spec.shape if spec.shape else ''}) on {t.url} "
                  f"[{t.build}], {spec.users} users{f', {spec.rate:g}/s' if spec.rate else ''}, {spec.duration_s:g}s "
                  f"(warm-up {spec.warmup_s:g}s) -> {out}", flush=True)
            s = run(spec, t.url, out / "run", label={"build": t.build, "build_map": t.build_map, "round": 0, "label": "load"},
                    progress=lambda line: print(line, flush=True), watch=t.dead)
    except LoadError as exc:
        raise UsageError(str(exc)) from None
    (out / "summary.json").write_text(json.dumps(s, indent=1))
    (out / "summary.csv").write_text((out / "run" / "summary.csv").read_text())
    save(records.records_for_rounds(spec.profile, s.get("build", "unknown"), [s], str(out / "summary.json")), out)
    print(headline(s))
    for name, st in s.get("streams", {}).items():
        age = st["age_ns"] or {}
        neg = f", {st['negative_ages']} negative (clock offset error)" if st["negative_ages"] else ""
        print(f"  {name}: {st['received']} received, p50 {age.get('p50', 0) / 1e6:.2f}ms p99 {age.get('p99', 0) / 1e6:.2f}ms{neg}")
    print(f"results: {out / 'summary.json'} (CSV: summary.csv, records: metrics.json)")
    return 0 if s["validity"]["valid"] else 1
