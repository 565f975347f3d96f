"""``clockbench ceiling``: how much of the stack's ceiling Locust reaches, against wrk on the same route.

Per route (``GET /api/v1/clock/server-time``, ``POST /api/v1/orders``): wrk with C connections for
D seconds, then Locust's ``ceiling`` profile with C users (no think time) for D seconds, on the same
stack. Both are closed loop, so the throughputs compare directly: Locust's share of wrk's is how
much of what the stack can serve a Python load generator drives. A Locust process at its CPU
limit is expected here (that is its ceiling) and is reported, not held against the run. Loopback
only; every run is bounded by its duration.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.builds import BUILDS
from harness.errors import UsageError
from harness.load import wrk
from harness.load.runner import LoadError, LoadSpec, headline, run
from harness.load.signals import interruptible
from harness.load.target import target
from harness.results import MetricRecord, invalid, save
from harness.rundir import new_run_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ceiling", help="Locust's throughput vs wrk's on the same route of the same stack",
                       description=__doc__)
    p.add_argument("--routes", default="server-time,orders", help=f"comma separated, of {', '.join(wrk.ROUTES)} (default both)")
    p.add_argument("--connections", type=int, default=10, help="wrk connections = Locust users (default 10)")
    p.add_argument("--duration", type=int, default=10, help="whole seconds per tool and route (default 10)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--workers", type=int, default=0, help="Locust worker processes (default 0: one process)")
    p.add_argument("--build", choices=BUILDS, default="clocked", help="build of a stack started for the run")
    p.add_argument("--stack-workers", type=int, default=2, help="uvicorn workers of a started stack (default 2)")
    p.add_argument("--target", help="URL of a running stack on this machine (http://127.0.0.1:PORT)")
    p.add_argument("--out", type=Path, help="run directory (default: reports/runs/<timestamp>-<commit>-ceiling)")
    p.set_defaults(func=cmd)


def _routes(text: str) -> list[str]:
    routes = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in routes if r not in wrk.ROUTES]
    if bad or not routes:
        raise UsageError(f"--routes {text!r}: each must be one of {', '.join(wrk.ROUTES)}")
    return routes


def compare(w: dict, s: dict) -> dict:
    """One route's figures side by side (pure: wrk's parsed result, Locust's run summary)."""
    a = s["aggregate"]
    lat = a["latency_ns"] or {}
    reasons = [r for r in s["validity"]["reasons"] if "saturated" not in r]
    return {
        "wrk": {k: w[k] for k in ("requests", "failed", "error_rate", "throughput_rps", "latency_ns", "errors",
                                  "connections", "threads", "duration_s")},
        "locust": {
            "requests": a["requests"], "failed": a["failed"], "error_rate": a["error_rate"],
            "throughput_rps": a["throughput_rps"], "latency_ns": lat,
            "generator": s["generator"], "saturated": any("saturated" in r for r in s["validity"]["reasons"]),
            "valid": not reasons, "reasons": reasons,
        },
        "locust_share_of_wrk": (a["throughput_rps"] / w["throughput_rps"]) if w["throughput_rps"] else None,
    }


def records_for(route: str, build: str, c: dict, source: str) -> list[MetricRecord]:
    out = []
    for tool in ("wrk", "locust"):
        f = c[tool]
        bad = f["failed"] > 0 or (tool == "locust" and not f["valid"])
        reason = "; ".join(f.get("reasons") or []) or f"{f['failed']} failed requests"
        for stat, unit, value in (("throughput", "ops/s", f["throughput_rps"]),
                                  ("p50", "ns", (f["latency_ns"] or {}).get("p50", 0)),
                                  ("p99", "ns", (f["latency_ns"] or {}).get("p99", 0))):
            metric = f"ceiling.{route}.{tool}.{stat}"
            if bad or not value:
                out.append(invalid(metric, build, unit, reason if bad else "no figure", source))
            else:
                out.append(MetricRecord(metric, build, unit, [int(round(value))], kind="rounds",
                                        lower_is_better=stat != "throughput", source=source))
    return out


@interruptible
def cmd(args: argparse.Namespace) -> int:
    routes = _routes(args.routes)
    if args.connections < 1 or args.duration < 1 or args.threads < 1 or args.workers < 0:
        raise UsageError("--connections, --duration and --threads must be at least 1, --workers at least 0")
    if args.threads > args.connections:
        raise UsageError(f"--threads ({args.threads}) cannot exceed --connections ({args.connections})")
    try:
        wrk.find_wrk()
    except wrk.WrkError as exc:
        raise UsageError(str(exc)) from None
    if args.target and not args.target.startswith(("http://127.0.0.1", "http://localhost")):
        raise UsageError(f"--target {args.target!r}: the ceiling is measured on loopback only (http://127.0.0.1:PORT)")
    out = args.out or new_run_dir("ceiling")
    result: dict = {"routes": {}}
    recs: list[MetricRecord] = []
    try:
        with target(args.target, build=args.build, workers=args.stack_workers, nginx=True) as t:
            result.update(url=t.url, build=t.build, build_map=t.build_map)
            print(f"ceiling: {', '.join(routes)} on {t.url} [{t.build}], {args.connections} connections/users, "
                  f"{args.duration}s each -> {out}", flush=True)
            for route in routes:
                w = wrk.run(t.url, route, out, duration_s=args.duration, connections=args.connections,
                            threads=args.threads, run_id=f"{out.name[-24:]}-{route}".replace(":", "-"))
                print(f"  {route:<12} wrk:    {w['throughput_rps']:9.1f}/s p50 {w['latency_ns']['p50'] / 1e6:6.2f}ms "
                      f"p99 {w['latency_ns']['p99'] / 1e6:6.2f}ms, {w['failed']} failed", flush=True)
                spec = LoadSpec(profile="ceiling", users=args.connections, spawn_rate=max(10.0, args.connections * 2.0),
                                duration_s=float(args.duration) + 2.0, warmup_s=2.0, think="0", workers=args.workers,
                                extra_args=["--cb-route", route])
                s = run(spec, t.url, out / f"locust-{route}", label={"label": "ceiling", "build": t.build, "route": route}, watch=t.dead,
                        progress=lambda _l: None)
                c = compare(w, s)
                result["routes"][route] = c
                recs += records_for(route, t.build, c, str(out / "ceiling.json"))
                share = c["locust_share_of_wrk"]
                print(f"  {route:<12} locust: {headline(s)}", flush=True)
                print(f"  {route:<12} Locust reached {share * 100 if share is not None else float('nan'):.0f}% of wrk's "
                      f"throughput", flush=True)
    except (LoadError, wrk.WrkError) as exc:
        raise UsageError(str(exc)) from None
    (out / "ceiling.json").write_text(json.dumps(result, indent=1, default=str))
    save(recs, out)
    print(f"results: {out / 'ceiling.json'} (wrk: wrk-<route>.json/.txt, Locust: locust-<route>/summary.json, "
          f"records: metrics.json)")
    return 0

