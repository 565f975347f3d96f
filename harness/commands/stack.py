"""``clockbench stack up|down|status``: the service under test behind the run's own nginx."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stack", help="start, stop or show the service stack (uvicorn workers behind nginx)")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    up = sub.add_parser("up", help="start the stack; prints its URLs once /health is ready")
    up.add_argument("--build", default="clocked", help="every component: clocked or baseline")
    up.add_argument("--component", action="append", default=[], metavar="NAME=BUILD",
                    help="override one component's build (repeatable)")  # fmt: skip
    up.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (1 under --clock test)")
    up.add_argument("--nginx", dest="nginx", action="store_true", default=True, help="front the workers with nginx")
    up.add_argument("--no-nginx", dest="nginx", action="store_false", help="no nginx: clients talk to worker 0")
    up.add_argument("--clock", default="live", choices=("live", "test"))
    up.add_argument("--start-time", type=int, default=None, metavar="NS", help="TestClock start (ns since epoch)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=0, help="nginx's port (0: a free one)")
    up.add_argument("--postgres-url", default=None)
    up.add_argument("--redis-url", default=None)
    up.add_argument("--db-schema", default=None, help="PostgreSQL schema for this stack's tables")
    up.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for /health")
    up.add_argument("--containers", action="store_true",
                    help="run the workers as containers on a private Docker engine, health-gated behind nginx "
                         "(an unhealthy worker leaves the upstream and is restarted) by a supervisor process that "
                         "runs in the background until 'stack down'; the checks and lifecycle follow the "
                         "'containers' component's build (--component containers=baseline)")  # fmt: skip
    up.add_argument("--foreground", action="store_true",
                    help="with --containers: supervise in this process until Ctrl-C or SIGTERM")
    up.add_argument("--run-dir", type=Path, default=None, help=argparse.SUPPRESS)
    up.set_defaults(func=_up)
    down = sub.add_parser("down", help="stop every process 'stack up' started")
    down.set_defaults(func=_down)
    status = sub.add_parser("status", help="what 'stack up' started, and whether it still runs")
    status.set_defaults(func=_status)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _up(args: argparse.Namespace) -> int:
    from harness.stack import StackError, StackSpec, start, status

    current, procs = status()
    if current is not None and any(alive for _, alive in procs):
        raise UsageError(f"a stack already runs at {current.url} (run dir {current.run_dir}); 'clockbench stack down' first")
    extra = ["--db-schema", args.db_schema] if args.db_schema else []
    spec = StackSpec(
        build=args.build, components=args.component, workers=args.workers, nginx=args.nginx, clock=args.clock,
        start_time_ns=args.start_time, host=args.host, port=args.port, postgres_url=args.postgres_url,
        redis_url=args.redis_url, health_timeout_s=args.timeout, service_args=extra,
    )  # fmt: skip
    if args.foreground and not args.containers:
        raise UsageError("--foreground goes with --containers (the normal stack always runs in the background)")
    if args.containers:
        from harness.rundir import new_run_dir
        from harness.stack.containers import ContainerStack, run_background, run_foreground

        if not args.nginx:
            raise UsageError("--containers gates traffic through nginx: drop --no-nginx")
        try:
            if args.foreground:
                return run_foreground(ContainerStack(spec, run_dir=args.run_dir), out=lambda line: print(line, flush=True))
            return run_background(_container_argv(args), args.run_dir or new_run_dir("stack"), args.timeout + 120)
        except StackError as exc:
            raise UsageError(str(exc)) from None
    try:
        s = start(spec)
    except StackError as exc:
        raise UsageError(str(exc)) from None
    for note in s.notes:
        print(f"note: {note}")
    print(f"url        {s.url}")
    if s.nginx_url:
        print(f"nginx      {s.nginx_url}  (access log {s.access_log})")
    for i, u in enumerate(s.worker_urls):
        print(f"worker-{i}   {u}")
    print(f"build      {', '.join(f'{k}={v}' for k, v in s.build_map.items())}")
    print(f"clock      {s.clock}")
    print(f"run dir    {s.run_dir}")
    print("ready      /health answered ready (PostgreSQL and Redis reachable)")
    return 0


def _container_argv(args: argparse.Namespace) -> list[str]:
    """The ``stack up --containers`` command line the background supervisor runs (with --foreground)."""
    argv = ["stack", "up", "--containers", "--build", args.build, "--workers", str(args.workers),
            "--port", str(args.port), "--timeout", f"{args.timeout:g}", "--host", args.host]
    for c in args.component:
        argv += ["--component", c]
    for flag, value in (("--postgres-url", args.postgres_url), ("--redis-url", args.redis_url),
                        ("--db-schema", args.db_schema)):
        if value:
            argv += [flag, value]
    return argv


def _down(args: argparse.Namespace) -> int:
    from harness.stack import stop_recorded

    st, stopped = stop_recorded()
    if st is None:
        print("no stack recorded: nothing to stop")
        return 0
    for s in stopped:
        print(f"stopped {s}")
    if not stopped:
        print(f"the stack recorded in {st.run_dir} had already stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    from harness.stack import status

    st, procs = status()
    if st is None:
        print("no stack running (none recorded)")
        return 0
    alive = sum(1 for _, a in procs if a)
    print(f"stack      {st.url}  ({alive}/{len(procs)} processes running)")
    print(f"build      {', '.join(f'{k}={v}' for k, v in st.build_map.items())}")
    print(f"clock      {st.clock}")
    print(f"run dir    {st.run_dir}")
    for rec, ok in procs:
        print(f"{rec.role:<10} pid {rec.pid:<8} {'running' if ok else 'stopped'}  {rec.url}")
    for note in st.notes:
        print(f"note: {note}")
    return 0 if alive == len(procs) else 1
