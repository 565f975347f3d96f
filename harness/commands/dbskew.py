"""``clockbench db-skew``: how far PostgreSQL's now() and Redis's TIME are from the application's clock.

Runs the database coordinator's skew measurement (both builds by default: the clocked build
reads a LiveClock, the baseline ``time.time_ns()``) against the servers a run would use, and
prints each server's offset (server - application, within +/- the uncertainty).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from dataclasses import asdict

from harness.builds import BUILDS
from harness.errors import UsageError
from harness.backends import BadServiceURL, provide


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "db-skew",
        help="measure the offset of PostgreSQL's and Redis's clocks from the application's clock",
        description=(
            "Brackets PostgreSQL now() and Redis TIME readings between two application clock "
            "readings, keeps the narrowest of --samples brackets per server, and prints "
            "server - application in microseconds with its uncertainty."
        ),
    )
    p.add_argument("--postgres-url", help="PostgreSQL URL (else CLOCKBENCH_POSTGRES_URL, else 127.0.0.1:5432)")
    p.add_argument("--redis-url", help="Redis URL (else CLOCKBENCH_REDIS_URL, else 127.0.0.1:6379)")
    p.add_argument("--samples", type=int, default=20, help="readings per server (default 20)")
    p.add_argument("--build", choices=(*BUILDS, "both"), default="both")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(func=run)


async def measure(build: str, pg_url: str, redis_url: str, samples: int):  # type: ignore[no-untyped-def]
    """One coordinator of ``build`` on a throw-away schema and key prefix; returns its SkewReport."""
    from harness import builds
    from targets.clock import LiveClock

    tag = uuid.uuid4().hex[:10]
    schema, prefix = f"cb_skew_{tag}", f"cb:skew:{tag}:"
    clock = LiveClock() if builds.needs_clock(build) else None
    store = builds.make("postgres", build, clock=clock, dsn=pg_url, schema=schema, pool_size=1)
    cache = builds.make("redis", build, clock=clock, url=redis_url, prefix=prefix)
    await store.start()
    try:
        await cache.start()
        try:
            return await builds.make("coordinator", build, clock=clock, store=store, cache=cache).measure_skew(samples)
        finally:
            await cache.close()
    finally:
        await store.drop_schema()
        await store.close()


def format_report(build: str, report) -> str:  # type: ignore[no-untyped-def]
    def us(ns: int) -> str:
        return f"{ns / 1000:+.1f} us"

    return "\n".join(
        [
            f"{build} build (application clock: {report.app_clock})",
            f"  postgres now() - app: {us(report.postgres.offset_ns)} (+/- {report.postgres.uncertainty_ns / 1000:.1f} us)",
            f"  redis TIME     - app: {us(report.redis.offset_ns)} (+/- {report.redis.uncertainty_ns / 1000:.1f} us)",
            f"  postgres - redis:     {us(report.postgres_minus_redis_ns)}",
        ]
    )


def run(args: argparse.Namespace) -> int:
    if args.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {args.samples}")
    builds = BUILDS if args.build == "both" else (args.build,)
    try:
        with provide(args.postgres_url, args.redis_url) as svc:
            for found in svc:
                if not found.ok:
                    raise UsageError(f"{found.name} is not available: {found.reason}")
            reports = {b: asyncio.run(measure(b, svc.postgres.url, svc.redis.url, args.samples)) for b in builds}
    except BadServiceURL as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps({b: {**asdict(r), "postgres_minus_redis_ns": r.postgres_minus_redis_ns} for b, r in reports.items()}, indent=2))
    else:
        print("\n".join(format_report(b, r) for b, r in reports.items()))
    return 0
