"""``python -m harness.app --port P --build clocked ...``: one uvicorn worker of the service."""

from __future__ import annotations

import argparse
import sys

from harness.builds import BUILDS, BuildMapError, build_map

from core.units import NS_PER_MS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.app", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--build", default="clocked", help=f"every component: {' or '.join(BUILDS)}")
    p.add_argument("--component", action="append", default=[], metavar="NAME=BUILD", help="override one component")
    p.add_argument("--clock", default="live", choices=("live", "test"))
    p.add_argument("--start-time", type=int, default=None, metavar="NS", help="the TestClock's start (ns)")
    p.add_argument("--postgres-url", required=True)
    p.add_argument("--redis-url", required=True)
    p.add_argument("--worker-id", type=int, default=0)
    p.add_argument("--db-schema", default="clockbench_service")
    p.add_argument("--redis-prefix", default="clockbench:service:")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--heartbeat-ms", type=int, default=5000)
    p.add_argument("--quote-ms", type=int, default=500)
    p.add_argument("--idle-timeout-ms", type=int, default=80_000)
    p.add_argument("--ws-peer-timeout-ms", type=int, default=90_000,
                   help="close a WebSocket whose peer sent nothing (not even a heartbeat ack) for this long")
    p.add_argument("--ws-idle-timeout-ms", type=int, default=120_000,
                   help="close a WebSocket with no application message (subscribe, ping) for this long")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--limit-concurrency", type=int, default=2000, metavar="N",
                   help="connections + tasks a worker serves at once; past it new requests get a 503")
    p.add_argument("--request-read-timeout", type=float, default=10.0, metavar="S",
                   help="seconds a request's headers and body may take to arrive (slowloris guard)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        bmap = build_map(args.build, args.component)
        from .config import ServiceConfig

        config = ServiceConfig(
            clock=args.clock, start_time_ns=args.start_time, build_map=bmap,
            postgres_url=args.postgres_url, redis_url=args.redis_url, worker_id=args.worker_id,
            db_schema=args.db_schema, redis_prefix=args.redis_prefix, seed=args.seed,
            heartbeat_interval_ns=args.heartbeat_ms * NS_PER_MS, quote_interval_ns=args.quote_ms * NS_PER_MS,
            idle_timeout_ns=args.idle_timeout_ms * NS_PER_MS,
            ws_peer_timeout_ns=args.ws_peer_timeout_ms * NS_PER_MS, ws_idle_timeout_ns=args.ws_idle_timeout_ms * NS_PER_MS,
        )  # fmt: skip
    except (BuildMapError, ValueError) as exc:
        print(f"harness.app: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .app import create_app
    from . import protocol
    from .protocol import TrackedH11Protocol

    protocol.REQUEST_READ_TIMEOUT_S = args.request_read_timeout

    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        http=TrackedH11Protocol,  # keep-alive deadlines owned by the connection tracker
        # asyncio's own loop, always: uvicorn's default ("auto") picks uvloop whenever it is installed,
        # and the optional nautilus extra brings it in, which would move both builds' workers onto
        # another event loop without the run saying so (the clock's wheel is measured on asyncio's)
        loop="asyncio",
        ws="wsproto",
        timeout_keep_alive=3600,  # not used: the tracker closes idle connections
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        limit_concurrency=args.limit_concurrency,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
