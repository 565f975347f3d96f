"""The gateway middleware on a small ASGI app, both builds: 429 with its headers, 400 for a bad budget,
504 at the budget, Server-Timing on every answer, records for the metrics; and, against the real
PostgreSQL, that a timeout never leaves an order written but unacknowledged."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import httpx
import pytest
from gwkit import START_NS
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.api_gateway.middleware import GatewayRecord
from core.api_gateway.policy import GatewayConfig, PolicyError
from core.api_gateway.protocols import commit_within_budget, within_budget

POLICY = {
    "default": {"budget": "1s"},
    "routes": {
        "GET /limited": {"rate": "3/1s"},
        "GET /slow": {"budget": "50ms"},
        "POST /orders": {"budget": "60ms", "commit_reserve": "20ms"},
    },
}


def make_app(build: str, sink: list, clock=None, write=None):  # type: ignore[no-untyped-def]
    async def limited(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def slow(request: Request) -> JSONResponse:
        await within_budget(asyncio.sleep(5))
        return JSONResponse({"ok": True})

    async def orders(request: Request) -> JSONResponse:
        wait_ms = int(request.query_params.get("think_ms", "0"))
        if wait_ms:
            await within_budget(asyncio.sleep(wait_ms / 1000))
        order_id = request.query_params["id"]
        await commit_within_budget(lambda: write(order_id))  # the route's reserve: 20 ms
        return JSONResponse({"order_id": order_id}, status_code=201)

    routes = [Route("/limited", limited), Route("/slow", slow), Route("/orders", orders, methods=["POST"])]
    config = GatewayConfig.from_mapping(POLICY)
    # Installed as the app's middleware (inside Starlette's last-resort 500 handler, outside the routes),
    # where the service installs it: an unhandled DeadlineExceeded from a handler reaches it first.
    if build == "clocked":
        from targets.api_gateway import GatewayMiddleware
        from targets.clock import LiveClock

        mw = Middleware(GatewayMiddleware, config=config, clock=clock or LiveClock(), sink=sink.append)
    else:
        from baselines.api_gateway import GatewayMiddleware as BaselineMiddleware

        mw = Middleware(BaselineMiddleware, config=config, sink=sink.append)
    return Starlette(routes=routes, middleware=[mw])


def client(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_over_the_limit_is_429_with_retry_after_and_the_ratelimit_headers(build) -> None:
    records: list[GatewayRecord] = []

    async def main():  # type: ignore[no-untyped-def]
        async with client(make_app(build, records)) as c:
            return [await c.get("/limited", headers={"X-Client-Id": "alice"}) for _ in range(4)] + [
                await c.get("/limited", headers={"X-Client-Id": "bob"})
            ]

    rs = asyncio.run(main())
    assert [r.status_code for r in rs] == [200, 200, 200, 429, 200]
    refused = rs[3]
    assert refused.headers["retry-after"] == "1" and 0 < int(refused.headers["x-retry-after-ns"]) <= 1_000_000_000
    assert refused.headers["ratelimit-limit"] == "3" and refused.headers["ratelimit-remaining"] == "0"
    assert refused.json()["errors"][0]["field"] == "rate"
    assert [r.headers["ratelimit-remaining"] for r in rs[:3]] == ["2", "1", "0"]
    for r in rs:
        stages = dict(part.strip().split(";dur=") for part in r.headers["server-timing"].split(","))
        assert set(stages) == {"limit", "app", "total", "budget"} and float(stages["budget"]) == 1000.0
        assert int(r.headers["x-request-received-ns"]) > 0
    assert [rec.outcome for rec in records] == ["ok", "ok", "ok", "limited", "ok"]
    assert all(rec.total_ns >= rec.limit_ns >= 0 for rec in records)


@pytest.mark.parametrize("build", ["clocked", "baseline"])
@pytest.mark.parametrize("value", ["abc", "0", "-5", "20000", "0.0000001"])
def test_an_unusable_budget_header_is_400_naming_it(build, value) -> None:
    async def main():  # type: ignore[no-untyped-def]
        async with client(make_app(build, [])) as c:
            return await c.get("/limited", headers={"X-Request-Budget-Ms": value})

    r = asyncio.run(main())
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "X-Request-Budget-Ms"


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_a_request_outliving_its_budget_is_504(build) -> None:
    records: list[GatewayRecord] = []

    async def main():  # type: ignore[no-untyped-def]
        async with client(make_app(build, records)) as c:
            return await c.get("/slow"), await c.get("/slow", headers={"X-Request-Budget-Ms": "20"})

    default, short = asyncio.run(main())
    assert default.status_code == short.status_code == 504
    assert "safe to retry" in default.json()["errors"][0]["reason"]
    assert [r.outcome for r in records] == ["timeout", "timeout"]
    assert [r.budget_ns for r in records] == [50_000_000, 20_000_000]
    assert all(r.total_ns >= r.budget_ns and r.late for r in records)


def test_the_clocked_middleware_on_a_test_clock_is_exact() -> None:
    from targets.clock import TestClock, run_virtual

    clock = TestClock(START_NS)
    records: list[GatewayRecord] = []

    async def main():  # type: ignore[no-untyped-def]
        async with client(make_app("clocked", records, clock=clock)) as c:
            rs = [await c.get("/limited") for _ in range(4)]
            clock.advance_time(START_NS + 100_000_000)
            return rs + [await c.get("/limited")]

    rs = run_virtual(main(), clock)
    assert [r.status_code for r in rs] == [200, 200, 200, 429, 429]
    assert [r.headers["x-retry-after-ns"] for r in rs[3:]] == ["333333334", "233333334"]
    assert {r.headers["x-request-received-ns"] for r in rs[:4]} == {str(START_NS)}
    assert all(r.total_ns == 0 for r in records)  # no virtual time passes inside a request


def test_policy_files_are_checked_and_name_the_problem() -> None:
    with pytest.raises(PolicyError, match="unknown field"):
        GatewayConfig.from_mapping({"routes": {"GET /x": {"rte": "1/1s"}}})
    with pytest.raises(PolicyError, match="METHOD /path"):
        GatewayConfig.from_mapping({"routes": {"/x": {}}})
    with pytest.raises(PolicyError, match="budget"):
        GatewayConfig.from_mapping({"routes": {"GET /x": {"budget": "fast"}}})
    cfg = GatewayConfig.from_mapping(POLICY)
    assert cfg.match("GET", "/limited/7").name == "GET /limited" and cfg.match("GET", "/limitedx").name == "default"
    assert cfg.match("POST", "/orders").commit_reserve_ns == 20_000_000


# --- nothing half-done, against the real PostgreSQL --------------------------------------------------


async def _table(postgres_url: str):  # type: ignore[no-untyped-def]
    name = f"clockbench_test_gw_orders_{os.getpid()}"
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=4)
    await pool.execute(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (order_id text PRIMARY KEY)")

    async def write(order_id: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"INSERT INTO {name} VALUES ($1)", order_id)
            await conn.execute("SELECT pg_sleep(0.12)")  # the write outlives the 60 ms budget

    async def rows() -> list[str]:
        return [r[0] for r in await pool.fetch(f"SELECT order_id FROM {name} ORDER BY 1")]

    async def close() -> None:
        await pool.execute(f"DROP TABLE IF EXISTS {name}")
        await pool.close()

    return write, rows, close


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_a_write_outliving_the_budget_is_committed_and_acknowledged(build, postgres_url) -> None:
    records: list[GatewayRecord] = []

    async def main():  # type: ignore[no-untyped-def]
        write, rows, close = await _table(postgres_url)
        try:
            async with client(make_app(build, records, write=write)) as c:
                r = await c.post("/orders", params={"id": "o-1"})
            return r, await rows()
        finally:
            await close()

    r, rows = asyncio.run(main())
    assert r.status_code == 201 and rows == ["o-1"]  # written AND acknowledged, never one without the other
    assert records[0].late and records[0].outcome == "ok"


def test_a_write_without_its_reserve_left_is_not_started(postgres_url) -> None:
    records: list[GatewayRecord] = []

    async def main():  # type: ignore[no-untyped-def]
        write, rows, close = await _table(postgres_url)
        try:
            async with client(make_app("clocked", records, write=write)) as c:
                r = await c.post("/orders", params={"id": "o-2", "think_ms": "50"})  # 10 ms left < 20 ms reserve
            return r, await rows()
        finally:
            await close()

    r, rows = asyncio.run(main())
    assert r.status_code == 504 and rows == []  # refused before anything was written
    assert "admission" in r.json()["errors"][0]["reason"]


def test_the_service_default_policy_builds_on_both_builds() -> None:
    from baselines.api_gateway import make_limiters as baseline_limiters
    from core.api_gateway.policy import DEFAULT_POLICY
    from targets.api_gateway import make_limiters
    from targets.clock import LiveClock

    cfg = GatewayConfig.from_mapping(DEFAULT_POLICY)
    assert set(make_limiters(cfg, clock=LiveClock())) == set(baseline_limiters(cfg)) == {
        "POST /api/v1/orders", "GET /api/v1/clock"}


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_moving_a_test_clock_past_the_request_deadline_still_answers(build) -> None:
    """/clock/advance by a minute fires this very request's 10 s deadline inside advance_time: as the
    request's commit, time moves and the answer is 200, never a 504 after the fact."""
    from harness.app.app import create_app
    from harness.app.config import ServiceConfig
    from harness.builds import build_map

    app = create_app(ServiceConfig(clock="test", start_time_ns=START_NS, build_map=build_map("baseline", [f"gateway={build}"])))

    async def main():  # type: ignore[no-untyped-def]
        async with client(app) as c:  # no lifespan: the clock routes need no database
            return await c.post("/api/v1/clock/advance", json={"by_ns": 60_000_000_000})

    r = asyncio.run(main())
    assert r.status_code == 200, r.text
    assert r.json()["to_ns"] == START_NS + 60_000_000_000
